"""What the API accepts and answers, and the checks that turn bad input into a clear 4xx.

The body shapes are pydantic models (they are also the OpenAPI documentation). A lead's own
fields depend on the dataset spec of the model being served, so they are checked here, by
`LeadValidator`, built from the model's spec at start-up: unknown fields, a missing id,
wrong types, NaN or infinite numbers, over-long text, unreadable timestamps and yes/no fields
that are neither are refused with the field and the problem named. Unknown category values
are accepted: the model scores them as "(other)".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import islice
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Mapping

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic_core import from_json

from features import values as V
from features.values import UNPRINTABLE_ID

ACTIVITIES = "activities"
MAX_PROBLEMS = 20
"""At most this many problems are listed in one error answer."""
_INT_LIMIT = 2 ** 63
BULK_TIMES = 5_000
"""Requests with more times than this have them parsed together (pandas): faster from a few
thousand on; below that, one by one is faster."""
TIME_CHUNK = 50_000
"""Times are read this many at a time: the memory their reading takes stays bounded however
many a request holds."""


# =============================================================================== bodies
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> "_Body":
        """The body read into Python objects once (`pydantic_core.from_json`), then validated:
        BentoML parses every request body with this. A body of many small objects (leads'
        activities) then takes about 3.5 times its size in memory instead of 6: validating the
        JSON text directly builds each object twice over where a field is `Any`. A body that
        is refused is validated again as JSON text, so that the error speaks of JSON's types
        ("a valid array", "an object"), not Python's."""
        try:
            data = from_json(json_data)
            return cls.model_validate(data, **kwargs)
        except ValueError:  # not JSON, or refused (pydantic's ValidationError is a ValueError)
            data = None
        return super().model_validate_json(json_data, **kwargs)


class ScoreRequest(_Body):
    """POST /score. Send `leads` (a list) or `lead` (one object), not both."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [
        {"title": "leads", "description": "Many leads: `leads`, without `lead` (or with it null).",
         "required": ["leads"], "properties": {"leads": {"type": "array"}, "lead": {"enum": [None]}}},
        {"title": "lead", "description": "One lead: `lead`, without `leads` (or with it null).",
         "required": ["lead"], "properties": {"lead": {"type": "object"}, "leads": {"enum": [None]}}}]})

    leads: list[dict[str, Any]] | None = Field(
        None, description="Leads in the raw shape of the dataset spec: the spec's own column names "
        "(id, created time, profile fields), plus optionally `activities`: a list of "
        "{<time column>: ISO 8601 time, <type column>: activity type, <value column>: number}.",
        examples=[[{"lead_id": "L0001", "industry": "Software", "company_size": "51-200",
                    "activities": [{"occurred_at": "2026-03-01T09:30:00Z", "activity_type": "pricing_view"}]}]])
    lead: dict[str, Any] | None = Field(None, description="One lead, the same shape as an item of `leads`.")
    as_of: str | None = Field(
        None, description="Score as of this moment (ISO 8601 / RFC 3339 such as 2026-03-01T09:30:00Z; "
        "naive times are UTC; default: now). Only activities before it count.",
        examples=["2026-03-01T09:30:00Z"], json_schema_extra={"format": "date-time"})
    reasons: int = Field(5, ge=0, le=5, description="Reasons for and against to return per lead (0-5). "
                         "0 is fastest.")


# ------------------------------------------------------------------ the lead's id in answers
LEAD_ID = "lead_id"
ANSWER_FIELDS = ("probability", "score", "stage", "reasons_for", "reasons_against", "model_version", "cooling", "trend",
                 "grade", "fit", "intent", "fit_grade", "fit_reasons_for", "fit_reasons_against", "intent_grade",
                 "intent_reasons_for", "intent_reasons_against", "segment")
OUTCOME_FIELDS = ("outcome", "closed_at", "status")


def answer_id_key(id_column: str) -> str:
    """The key of a lead's id in every answer (POST /score, POST /outcomes, the batch file):
    the dataset spec's own id column ("Prospect ID"), so that answers join back to the export;
    `lead_id` only when that column is named like another field of the answers."""
    return LEAD_ID if id_column in (*ANSWER_FIELDS, *OUTCOME_FIELDS) else id_column


def _id_field(key: str, description: str, required: bool = True) -> dict[str, Any]:
    """A pydantic field whose JSON key is `key` (which may hold spaces: "Prospect ID")."""
    kind = LeadId if required else LeadId | None
    default = ... if required else None
    if key == LEAD_ID:
        return {key: (kind, Field(default, description=description))}
    return {"spec_lead_id": (kind, Field(default, alias=key, description=description))}


def _id_text(value: Any) -> str:
    """`features.values.lead_id`: the one key of every table (' 101', 101 and '101.0' are '101')."""
    try:
        read = V.lead_id(value)
    except V.Unreadable as exc:
        raise ValueError(exc.message) from None
    return "" if read is None else read


LeadId = Annotated[str, BeforeValidator(_id_text)]


class ScoreTrend(BaseModel):
    """How the score moved since the lead's previous logged score (serving.trend)."""

    direction: Literal["up", "down", "steady", "new"] = Field(
        description="up or down by the points of the score (the whole percent shown); steady when the score "
        "shown is the same; new when the lead has no previous score.")
    points: int | None = Field(description="The change of the score in points (64 after 40: 24); null when new.")
    days: float | None = Field(description="Days since the previous score (one decimal); null when new.")


class SubScoreAnswer(BaseModel):
    """Fit or intent of a lead (features.sub_scores)."""

    probability: float = Field(description="Calibrated probability of buying from the profile alone (fit) or "
                               "from the recent activity alone (intent), 0 to 1.")
    grade: str | int = Field(description="Fit: A (the top quarter of past leads) to D (the bottom quarter, or a "
                             "lead we cannot sell to). Intent: 1 (the top third of past leads whose activity "
                             "counted) to 4 (no activity that counts). GET /stages says each in words.")
    reasons_for: list[str] = Field(description="Up to 3, the strongest first; a fit reason \"matches our ideal "
                                   "customer: ...\" comes first when the lead does.")
    reasons_against: list[str] = Field(description="Up to 3, the strongest first.")


def score_response_model(id_key: str = LEAD_ID) -> type[BaseModel]:
    """The answer of POST /score, with the lead's id under `id_key` (`answer_id_key`)."""
    lead_score = create_model(
        "LeadScore", **_id_field(id_key, "The lead's id as sent, under the dataset spec's id column name."),
        probability=(float, Field(description="Calibrated probability of buying, 0 to 1.")),
        score=(int, Field(description="The probability in percent, 0 to 100.")),
        stage=(Literal["SQL", "MQL", "not yet"], ...),
        reasons_for=(list[str], Field(description="Why the lead may buy, in words, the strongest first.")),
        reasons_against=(list[str], Field(description="Why it may not, the strongest first.")),
        model_version=(str, ...),
        segment=(str | None, Field(None, description="With segment models (the spec's segment_by): the segment "
                                   "whose own model scored the lead, its cleaned value; null when the global model "
                                   "did (a value without a model of its own, or none). Absent without segment "
                                   "models.")),
        cooling=(str | None, Field(None, description="Words when the lead's intent is cooling: a burst of "
                                   "high-intent activity (the spec's activities.high_intent), then none in the "
                                   "last 30 days; null otherwise (features.intent).")),
        trend=(ScoreTrend | None, Field(None, description="The change since the lead's previous logged score; "
                                        "null when the score log could not be read (the score is served and "
                                        "logged all the same) or the previous score is not known (a backfill "
                                        "as_of before the lead's latest score).")),
        grade=(str | None, Field(None, description="Fit letter and intent number, \"A1\" best to \"D4\" (the "
                                 "letter alone without an activity log); absent for a model trained before "
                                 "sub-scores (features.sub_scores).")),
        fit=(SubScoreAnswer | None, Field(None, description="Who the lead is: the profile's probability of buying.")),
        intent=(SubScoreAnswer | None, Field(None, description="What the lead does now: its recent activity's "
                                             "probability of buying; null without an activity log.")))
    return create_model(
        "ScoreResponse", model_version=(str, ...),
        as_of=(str, Field(description="The moment the leads were scored as of (UTC, ISO 8601).")),
        scores=(list[lead_score], Field(description="One per lead, in the order sent.")))


def outcome_models(id_key: str = LEAD_ID) -> tuple[type[BaseModel], type[BaseModel]]:
    """(request, answer) of POST /outcomes, with the lead's id under `id_key`; `lead_id` is
    also accepted (the name it had before answers used the spec's)."""
    about = "Id of a lead this service has scored (text or an integer)."
    fields = _id_field(id_key, about, required=id_key == LEAD_ID)
    if id_key != LEAD_ID:
        fields |= _id_field(LEAD_ID, f"The same id, under its former name; send one of `{id_key}` and `lead_id`.",
                            required=False)
    outcome_in = create_model(
        "OutcomeIn", __base__=_Body, **fields,
        outcome=(str, Field(description="won or lost (any case).")),
        closed_at=(str, Field(description="When the deal was closed (ISO 8601 / RFC 3339 such as "
                              "2026-03-01T09:30:00Z; naive times are UTC).", examples=["2026-03-01T09:30:00Z"],
                              json_schema_extra={"format": "date-time"})))
    request = create_model(
        "OutcomesRequest", __base__=_Body, __doc__="POST /outcomes.",
        outcomes=(list[outcome_in], Field(description="Closed deals, one per lead. Sending the same outcome "
                                          "again changes nothing; a different one replaces it.")))
    status = create_model("OutcomeStatus", **_id_field(id_key, "The lead's id."),
                          status=(Literal["recorded", "unchanged", "updated"], ...))
    answer = create_model("OutcomesResponse", recorded=(int, ...), unchanged=(int, ...), updated=(int, ...),
                          outcomes=(list[status], ...))
    return request, answer


ScoreResponse = score_response_model()
OutcomesRequest, OutcomesResponse = outcome_models()


class ErrorDetail(BaseModel):
    loc: list[str | int] = Field(description="Where the problem is: the path of the field in the body.")
    msg: str
    type: str


class ErrorResponse(BaseModel):
    error: str = Field(description="The first problem in words, naming the field.")
    detail: list[ErrorDetail]


# =============================================================================== problems
@dataclass(frozen=True)
class Problem:
    loc: tuple[str | int, ...]
    msg: str
    type: str

    def where(self) -> str:
        out = ""
        for part in self.loc:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "body"

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class InputError(Exception):
    """Input the API refuses; `status` is the HTTP status to answer with."""

    def __init__(self, problems: list[Problem], status: int = 400, total: int | None = None):
        self.problems = problems[:MAX_PROBLEMS]
        self.status = status
        self.total = total if total is not None else len(problems)
        super().__init__(self.message())

    def message(self) -> str:
        first = self.problems[0]
        more = self.total - 1
        tail = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        return f"{first.where()}: {first.msg}{tail}"

    def body(self) -> dict[str, Any]:
        return {"error": self.message(), "detail": [p.as_dict() for p in self.problems]}


def refuse(loc: tuple[str | int, ...], msg: str, kind: str, status: int = 400) -> InputError:
    return InputError([Problem(loc, msg, kind)], status=status)


# =============================================================================== values
_shown = V.shown
_kind = V.kind_of


def check_moment(text: Any, loc: tuple[str | int, ...]) -> datetime:
    """An ISO 8601 time (`features.values.iso_time_ns`) as a naive UTC datetime (microseconds),
    or an InputError naming `loc`."""
    try:
        ns = V.iso_time_ns(text)
    except V.Unreadable as exc:
        raise refuse(loc, exc.message, exc.kind) from None
    return _EPOCH + timedelta(microseconds=ns // 1000)


_EPOCH = datetime(1970, 1, 1)


class LeadValidator:
    """Checks raw leads against the served model's dataset spec (see the module docstring)."""

    def __init__(self, *, id_field: str, created_at: str | None, categorical: list[str],
                 numeric: list[str], yes_no: list[str], after_contact: list[str],
                 yes_values: list[str], no_values: list[str], missing_values: list[str],
                 activity_fields: Mapping[str, str], max_field_chars: int = 1000,
                 max_activities: int = 10_000):
        self.id_field = id_field
        self.roles: dict[str, str] = {id_field: "id"}
        if created_at:
            self.roles[created_at] = "time"
        for column in [*categorical, *after_contact]:
            self.roles[column] = "category"
        for column in numeric:
            self.roles[column] = "number"
        for column in yes_no:
            self.roles[column] = "yes_no"
        self.has_activities = bool(activity_fields)
        self.activity_time = activity_fields.get("time")
        self.activity_type = activity_fields.get("type")
        self.activity_value = activity_fields.get("value")
        self.activity_keys = {v for v in (self.activity_time, self.activity_type, self.activity_value) if v}
        self.missing = V.placeholders(missing_values)
        self.yes_words, self.no_words = V.words(yes_values), V.words(no_values)
        self.max_chars = max_field_chars
        self.max_activities = max_activities
        self.fields = list(self.roles) + ([ACTIVITIES] if self.has_activities else [])

    @classmethod
    def for_scorer(cls, scorer: Any, max_field_chars: int = 1000, max_activities: int = 10_000) -> "LeadValidator":
        spec = scorer.spec
        lead = spec.leads
        return cls(id_field=scorer.id_field, created_at=lead.created_at, categorical=list(lead.categorical),
                   numeric=list(lead.numeric), yes_no=list(lead.yes_no), after_contact=list(lead.after_contact),
                   yes_values=list(lead.yes_values), no_values=list(lead.no_values),
                   missing_values=list(spec.missing_values), activity_fields=dict(scorer.activity_fields),
                   max_field_chars=max_field_chars, max_activities=max_activities)

    # ---------------------------------------------------------------------------------
    def check_leads(self, leads: list[dict[str, Any]], single: bool = False) -> list[dict[str, Any]]:
        """The leads ready for the scorer, or an InputError listing the problems.

        Integer ids become text, and activity times are parsed once, here, for the whole
        request (ISO 8601 text -> nanoseconds since the epoch, UTC, the form the features
        read without parsing again). `single`: the body's `lead` rather than `leads`."""
        problems: list[Problem] = []
        times: list[tuple] = []  # (lead, its time key, where) or (activities, None, where): times to read
        count = 0
        for i, lead in enumerate(leads):
            found = self._check_lead(lead, ("lead",) if single else ("leads", i), times)
            if found:
                count += len(found)
                if len(problems) < MAX_PROBLEMS:
                    problems.extend(found)
        if times:
            found = self._parse_times(times)
            count += len(found)
            problems.extend(found[:max(0, MAX_PROBLEMS - len(problems))])
        if problems:
            raise InputError(problems, total=count)
        return leads

    def _check_lead(self, lead: dict[str, Any], where: tuple, times: list) -> list[Problem]:
        problems: list[Problem] = []
        roles = self.roles
        if self.id_field not in lead:
            problems.append(Problem((*where, self.id_field), f"missing: every lead needs its id in "
                                    f"`{self.id_field}`", "missing"))
        max_chars, isfinite = self.max_chars, math.isfinite
        for key, value in lead.items():
            role = roles.get(key)
            kind = type(value)
            # The common cases, checked inline:
            if role == "category":
                if kind is str and len(value) <= max_chars:
                    continue
            elif role == "number":
                if (kind is float and isfinite(value)) or (kind is int and -_INT_LIMIT < value < _INT_LIMIT):
                    continue
            elif role == "time":
                if kind is str and len(value) <= max_chars and not V.is_missing(value, self.missing):
                    times.append((lead, key, where))  # parsed with the others, kept as ns
                    continue
            if role is None:
                if key == ACTIVITIES and self.has_activities:
                    if value is not None:
                        problems.extend(self._check_activities(value, (*where, key), times))
                    continue
                problems.append(Problem((*where, key), self._unknown(key), "extra_forbidden"))
                continue
            problem = self._check_value(role, key, value, where)
            if problem is not None:
                problems.append(problem)
            elif role == "id":
                lead[key] = V.lead_id(value)  # the one key: ' 101', 101 and '101.0' are '101'
        return problems

    def _unknown(self, key: str) -> str:
        shown = key if len(key) <= 60 else key[:60] + "..."
        return f"unknown field {shown!r}; a lead may carry: {', '.join(self.fields)}"

    def _check_value(self, role: str, key: str, value: Any, where: tuple) -> Problem | None:
        """A field's value read by the one parser of its kind (`features.values`): None when it
        reads, else the problem in the parser's words."""
        loc = (*where, key)
        kind = type(value)
        if kind is str and len(value) > self.max_chars:
            return Problem(loc, f"text of {len(value):,} characters; at most {self.max_chars:,} are allowed",
                           "string_too_long")
        if kind is dict or kind is list:
            return Problem(loc, f"must be text, a number, true/false or null, not {_kind(value)}", "type_error")
        if kind is float and value != value:  # NaN is not JSON; a file's empty cell is null here
            return Problem(loc, "NaN is not a finite number: send a number, or null when unknown", "finite_number")
        try:
            if role == "category":
                V.category(value, self.missing)
            elif role == "id":
                if V.lead_id(value) is None or V.is_missing(value, self.missing):
                    return Problem(loc, "missing: the lead id cannot be null" if value is None
                                   else "missing: the lead id is empty", "missing")
            elif role == "number":
                V.number(value, self.missing)
            elif role == "yes_no":
                V.yes_no(value, self.yes_words, self.no_words, self.missing)
            elif role == "time" and not V.is_missing(value, self.missing):
                V.iso_time_ns(value)
        except V.Unreadable as exc:
            return Problem(loc, exc.message, exc.kind)
        return None

    def _check_activities(self, activities: Any, where: tuple, times: list) -> list[Problem]:
        if type(activities) is not list:
            return [Problem(where, f"must be a list of activities, not {_kind(activities)}", "type_error")]
        if len(activities) > self.max_activities:
            return [Problem(where, f"{len(activities):,} activities; at most {self.max_activities:,} per lead "
                            "are allowed (send the most recent ones)", "too_long")]
        problems: list[Problem] = []
        time_key, type_key, value_key = self.activity_time, self.activity_type, self.activity_value
        allowed, max_chars, isfinite = self.activity_keys, self.max_chars, math.isfinite
        times.append((activities, None, where))  # the times that are text, read with the others
        for j, activity in enumerate(activities):
            if type(activity) is not dict:
                problems.append(Problem((*where, j), f"an activity must be an object, not {_kind(activity)}",
                                        "type_error"))
                continue
            if not allowed.issuperset(activity):
                for key in activity.keys() - allowed:
                    shown = key if len(key) <= 60 else key[:60] + "..."
                    problems.append(Problem((*where, j, key), f"unknown field {shown!r}; an activity may carry: "
                                            f"{', '.join(sorted(allowed))}", "extra_forbidden"))
            when = activity.get(time_key)
            if type(when) is not str or len(when) > max_chars:
                problems.append(self._time_problem(when, (*where, j, time_key)))
            what = activity.get(type_key)
            if type(what) is not str or not what or len(what) > max_chars or what.isspace():
                problems.append(self._type_problem(what, (*where, j, type_key)))
            if value_key is not None:
                value = activity.get(value_key)
                if value is not None:
                    kind = type(value)
                    if (kind is float and not isfinite(value)) or (kind is not float and kind is not int):
                        problem = self._check_value("number", value_key, value, (*where, j))
                        if problem:
                            problems.append(problem)
            if len(problems) >= MAX_PROBLEMS:
                break
        return problems

    def _time_problem(self, when: Any, loc: tuple) -> Problem:
        if when is None:
            return Problem(loc, "missing: every activity needs its time", "missing")
        if type(when) is str:
            return Problem(loc, f"text of {len(when):,} characters; at most {self.max_chars:,} are allowed",
                           "string_too_long")
        return Problem(loc, f"must be an ISO 8601 time, not {_kind(when)}", "type_error")

    def _type_problem(self, what: Any, loc: tuple) -> Problem:
        if type(what) is str and len(what) > self.max_chars:
            return Problem(loc, f"text of {len(what):,} characters; at most {self.max_chars:,} are allowed",
                           "string_too_long")
        if what is None or type(what) is str:
            return Problem(loc, "missing: every activity needs its type", "missing")
        return Problem(loc, f"must be text, not {_kind(what)}", "type_error")

    def _time_slots(self, times: list[tuple]):
        """(object, key, where, activity index or None) of each time `times` names, in order:
        a lead's created time, or each activity time that is text (the others are problems
        already)."""
        time_key, max_chars = self.activity_time, self.max_chars
        for owner, key, where in times:
            if key is not None:
                yield owner, key, where, None
                continue
            for j, activity in enumerate(owner):
                if type(activity) is dict:
                    when = activity.get(time_key)
                    if type(when) is str and len(when) <= max_chars:
                        yield activity, time_key, where, j

    def _parse_times(self, times: list[tuple]) -> list[Problem]:
        """Read every collected time with `features.values.iso_time_ns` (ISO 8601 only).
        Activity times and the lead's created time (its age is a model input) are stored back
        as nanoseconds since the epoch, UTC. TIME_CHUNK at a time; a chunk of more than
        BULK_TIMES is read together by `iso_times_ns`, its column form."""
        problems: list[Problem] = []
        slots = self._time_slots(times)
        while chunk := list(islice(slots, TIME_CHUNK)):
            texts = [owner[key] for owner, key, _, _ in chunk]
            if len(texts) > BULK_TIMES:
                import pandas as pd

                values = V.iso_times_ns(pd.Series(texts, dtype=object)).tolist()
            else:
                values = []
                for text in texts:
                    try:
                        values.append(V.iso_time_ns(text))
                    except V.Unreadable:
                        values.append(V.NAT)
            for (owner, key, where, j), text, ns in zip(chunk, texts, values):
                if ns != V.NAT:
                    owner[key] = ns
                    continue
                loc = (*where, key) if j is None else (*where, j, key)
                try:
                    V.iso_time_ns(text)
                    problems.append(Problem(loc, f"not a time: {_shown(text)}", "datetime_parsing"))
                except V.Unreadable as exc:
                    problems.append(Problem(loc, exc.message, exc.kind))
        return problems


# =============================================================================== outcomes
def check_outcomes(items: list[BaseModel], max_chars: int, now: datetime, id_key: str = LEAD_ID
                   ) -> tuple[list[tuple[str, str, datetime]], list[str]]:
    """((lead id, won|lost, closed_at as naive UTC) per item, the key each id came under), or
    an InputError. Items are `outcome_models(id_key)` requests' items: the id under `id_key`
    or, as before, `lead_id`."""
    problems: list[Problem] = []
    out, keys = [], []
    for i, item in enumerate(items):
        loc = ("outcomes", i)
        sent = [(k, v) for k, v in item.model_dump(by_alias=True).items()
                if k in (id_key, LEAD_ID) and v is not None]
        key, lead_id = sent[0] if sent else (id_key, None)
        keys.append(key)
        if len(sent) > 1:
            problems.append(Problem((*loc, id_key), f"the id is sent twice: send it in `{id_key}` only",
                                    "value_error"))
        elif lead_id is None:
            problems.append(Problem((*loc, id_key), f"missing: every outcome needs the lead's id in `{id_key}`",
                                    "missing"))
        elif not lead_id:
            problems.append(Problem((*loc, key), "missing: the lead id is empty", "missing"))
        elif len(lead_id) > max_chars:
            problems.append(Problem((*loc, key), f"text of {len(lead_id):,} characters; at most "
                                    f"{max_chars:,} are allowed", "string_too_long"))
        elif not lead_id.isprintable():
            problems.append(Problem((*loc, key), UNPRINTABLE_ID, "value_error"))
        outcome = item.outcome.strip().casefold()
        if outcome not in ("won", "lost"):
            problems.append(Problem((*loc, "outcome"), f"{_shown(item.outcome)} is not an outcome: use won or lost",
                                    "outcome"))
        try:
            closed = check_moment(item.closed_at, (*loc, "closed_at"))
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        if (closed - now).total_seconds() > 24 * 3600:
            problems.append(Problem((*loc, "closed_at"), f"{closed.isoformat()}Z is in the future: a deal is "
                                    "reported once it has closed", "value_error.future"))
        out.append((lead_id, outcome, closed))
    if problems:
        raise InputError(problems)
    return out, keys
