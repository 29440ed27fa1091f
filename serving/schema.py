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
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Mapping

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from features.activity import timestamp_ns

ACTIVITIES = "activities"
MAX_PROBLEMS = 20
"""At most this many problems are listed in one error answer."""
UNPRINTABLE_ID = ("the lead id has a control character or unprintable text in it (such as \\u0000 or a lone "
                  "surrogate): send the id as plain text")
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
"""Timestamps outside these years are refused (they are typing errors, and beyond 2262 they
no longer fit the nanosecond arithmetic of the features)."""
_INT_LIMIT = 2 ** 63
BULK_TIMES = 5_000
"""Requests with more times than this have them parsed together (pandas): faster from a few
thousand on; below that, one by one is faster."""


# =============================================================================== bodies
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScoreRequest(_Body):
    """POST /score. Send `leads` (a list) or `lead` (one object), not both."""

    leads: list[dict[str, Any]] | None = Field(
        None, description="Leads in the raw shape of the dataset spec: the spec's own column names "
        "(id, created time, profile fields), plus optionally `activities`: a list of "
        "{<time column>: ISO 8601 time, <type column>: activity type, <value column>: number}.",
        examples=[[{"lead_id": "L0001", "industry": "Software", "company_size": "51-200",
                    "activities": [{"occurred_at": "2026-03-01T09:30:00Z", "activity_type": "pricing_view"}]}]])
    lead: dict[str, Any] | None = Field(None, description="One lead, the same shape as an item of `leads`.")
    as_of: datetime | None = Field(
        None, description="Score as of this moment (ISO 8601; default: now, UTC). Only activities "
        "before it count.")
    reasons: int = Field(5, ge=0, le=5, description="Reasons for and against to return per lead (0-5). "
                         "0 is fastest.")


class LeadScore(BaseModel):
    lead_id: str
    probability: float = Field(description="Calibrated probability of buying, 0 to 1.")
    score: int = Field(description="The probability in percent, 0 to 100.")
    stage: Literal["SQL", "MQL", "not yet"]
    reasons_for: list[str]
    reasons_against: list[str]
    model_version: str


class ScoreResponse(BaseModel):
    model_version: str
    as_of: str = Field(description="The moment the leads were scored as of (UTC, ISO 8601).")
    scores: list[LeadScore] = Field(description="One per lead, in the order sent.")


def _id_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"the lead id must be text or an integer, not {_kind(value)}")
    return str(value)


LeadId = Annotated[str, BeforeValidator(_id_text)]


class OutcomeIn(_Body):
    lead_id: LeadId = Field(description="Id of a lead this service has scored (text or an integer).")
    outcome: str = Field(description="won or lost (any case).")
    closed_at: datetime = Field(description="When the deal was closed (ISO 8601; naive times are UTC).")


class OutcomesRequest(_Body):
    """POST /outcomes."""

    outcomes: list[OutcomeIn] = Field(description="Closed deals, one per lead. Sending the same outcome "
                                      "again changes nothing; a different one replaces it.")


class OutcomeStatus(BaseModel):
    lead_id: str
    status: Literal["recorded", "unchanged", "updated"]


class OutcomesResponse(BaseModel):
    recorded: int
    unchanged: int
    updated: int
    outcomes: list[OutcomeStatus]


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
def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return "text"


def to_utc_naive(moment: datetime) -> datetime:
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def check_moment(moment: datetime, loc: tuple[str | int, ...]) -> datetime:
    """A naive UTC datetime within the accepted years, or an InputError."""
    moment = to_utc_naive(moment)
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise refuse(loc, f"the year {moment.year} is out of range ({EARLIEST_YEAR} to {LATEST_YEAR})",
                     "value_error.timestamp_range")
    return moment


_MIN_NS = int((datetime(EARLIEST_YEAR, 1, 1) - datetime(1970, 1, 1)).total_seconds()) * 10**9
_MAX_NS = int((datetime(LATEST_YEAR, 12, 31) - datetime(1970, 1, 1)).total_seconds()) * 10**9


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
        self.missing = {v.strip() for v in missing_values}
        self.yes_no_words = {v.casefold() for v in [*yes_values, *no_values]}
        self.yes_no_listed = ", ".join(dict.fromkeys(v.casefold() for v in [*yes_values, *no_values]))
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
        times: list[tuple] = []  # (object, key, where, index, store as ns?) of times still to parse
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
                if kind is str and len(value) <= max_chars and value.strip() not in self.missing:
                    times.append((lead, key, where, None, False))  # parsed with the others, kept as text
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
            elif role == "id" and type(value) is int:
                lead[key] = str(value)
        return problems

    def _unknown(self, key: str) -> str:
        shown = key if len(key) <= 60 else key[:60] + "..."
        return f"unknown field {shown!r}; a lead may carry: {', '.join(self.fields)}"

    def _check_value(self, role: str, key: str, value: Any, where: tuple) -> Problem | None:
        kind = type(value)
        if kind is str:
            if len(value) > self.max_chars:
                return Problem((*where, key), f"text of {len(value):,} characters; at most "
                               f"{self.max_chars:,} are allowed", "string_too_long")
        elif value is None:
            if role == "id":
                return Problem((*where, key), "missing: the lead id cannot be null", "missing")
            return None
        elif kind is float:
            if not math.isfinite(value):
                return Problem((*where, key), f"{value} is not a number this API accepts: send a finite "
                               "number, or null when unknown", "finite_number")
        elif kind is int:
            if not -_INT_LIMIT < value < _INT_LIMIT:
                return Problem((*where, key), "number out of range", "number_too_large")
        elif kind is not bool:
            return Problem((*where, key), f"must be text, a number, true/false or null, not {_kind(value)}",
                           "type_error")

        if role == "category":
            return None
        if role == "id":
            if kind is str:
                if not value.strip():
                    return Problem((*where, key), "missing: the lead id is empty", "missing")
                if not value.isprintable():
                    return Problem((*where, key), UNPRINTABLE_ID, "value_error")
                return None
            if kind is int:
                return None
            return Problem((*where, key), f"the lead id must be text or an integer, not {_kind(value)}",
                           "type_error")
        if role == "number":
            if kind is float or kind is int:
                return None
            if kind is bool:
                return Problem((*where, key), "must be a number, not true/false", "type_error")
            text = value.strip()
            if text in self.missing:
                return None
            try:
                number = float(text)
            except ValueError:
                return Problem((*where, key), f"not a number: {_shown(value)}", "number_parsing")
            if not math.isfinite(number):
                return Problem((*where, key), f"{_shown(value)} is not a finite number", "finite_number")
            return None
        if role == "yes_no":
            if kind is bool:
                return None
            if kind is int or kind is float:
                if value in (0, 1):
                    return None
            elif value.strip() in self.missing or value.strip().casefold() in self.yes_no_words:
                return None
            return Problem((*where, key), f"{_shown(value)} is neither yes nor no: use one of "
                           f"{self.yes_no_listed}, true/false, or null", "yes_no")
        if role == "time":
            if kind is str:
                if value.strip() in self.missing:
                    return None
                return self._check_time(value, (*where, key))
            return Problem((*where, key), f"must be an ISO 8601 time such as 2026-03-01T09:30:00Z, "
                           f"not {_kind(value)}", "type_error")
        return None

    @staticmethod
    def _check_time(value: str, loc: tuple) -> Problem | None:
        ns = _time_ns(value)
        if ns is None:
            return Problem(loc, f"not a time: {_shown(value)}; use ISO 8601 such as 2026-03-01T09:30:00Z",
                           "datetime_parsing")
        if not _MIN_NS <= ns <= _MAX_NS:
            return Problem(loc, f"{_shown(value)} is out of range ({EARLIEST_YEAR} to {LATEST_YEAR})",
                           "value_error.timestamp_range")
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
            if type(when) is str and len(when) <= max_chars:
                times.append((activity, time_key, where, j, True))
            else:
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

    def _parse_times(self, times: list[tuple]) -> list[Problem]:
        """Parse every collected time (text). Activity times are stored back as nanoseconds
        since the epoch, UTC; lead times are only checked. Many at once are parsed with pandas
        (ISO 8601, vectorised), the rest, and whatever pandas cannot read, one by one with the
        features' own `timestamp_ns`; both give the same nanoseconds (microsecond precision,
        naive times read as UTC)."""
        texts = [owner[key] for owner, key, _, _, _ in times]
        values: list[int | None]
        if len(texts) > BULK_TIMES:
            import pandas as pd

            parsed = pd.to_datetime(pd.Series(texts, dtype=object), utc=True, format="ISO8601", errors="coerce")
            parsed = parsed.dt.tz_localize(None).dt.floor("us")
            missing = parsed.isna().to_numpy().tolist()
            numbers = parsed.astype("datetime64[ns]").to_numpy().view("int64").tolist()
            values = [(_time_ns(text) if gap else number) for text, gap, number in zip(texts, missing, numbers)]
        else:
            values = [_time_ns(text) for text in texts]
        problems = []
        for (owner, key, where, j, store), text, ns in zip(times, texts, values):
            if ns is not None and _MIN_NS <= ns <= _MAX_NS:
                if store:
                    owner[key] = ns
                continue
            loc = (*where, key) if j is None else (*where, j, key)
            if ns is None:
                problems.append(Problem(loc, f"not a time: {_shown(text)}; use ISO 8601 such as "
                                        "2026-03-01T09:30:00Z", "datetime_parsing"))
            else:
                problems.append(Problem(loc, f"{_shown(text)} is out of range ({EARLIEST_YEAR} to {LATEST_YEAR})",
                                        "value_error.timestamp_range"))
        return problems


def _time_ns(value: str) -> int | None:
    """The features' reading of a time (text) in nanoseconds since the epoch, UTC, or None."""
    try:
        return timestamp_ns(value)
    except (ValueError, OverflowError, TypeError):
        return None


# =============================================================================== outcomes
def check_outcomes(items: list[OutcomeIn], max_chars: int, now: datetime) -> list[tuple[str, str, datetime]]:
    """(lead_id, won|lost, closed_at as naive UTC) per item, or an InputError."""
    problems: list[Problem] = []
    out = []
    for i, item in enumerate(items):
        loc = ("outcomes", i)
        lead_id = item.lead_id
        if not lead_id.strip():
            problems.append(Problem((*loc, "lead_id"), "missing: the lead id is empty", "missing"))
        elif len(lead_id) > max_chars:
            problems.append(Problem((*loc, "lead_id"), f"text of {len(lead_id):,} characters; at most "
                                    f"{max_chars:,} are allowed", "string_too_long"))
        elif not lead_id.isprintable():
            problems.append(Problem((*loc, "lead_id"), UNPRINTABLE_ID, "value_error"))
        outcome = item.outcome.strip().casefold()
        if outcome not in ("won", "lost"):
            problems.append(Problem((*loc, "outcome"), f"{_shown(item.outcome)} is not an outcome: use won or lost",
                                    "outcome"))
        closed = to_utc_naive(item.closed_at)
        if not EARLIEST_YEAR <= closed.year <= LATEST_YEAR:
            problems.append(Problem((*loc, "closed_at"), f"the year {closed.year} is out of range", "value_error.timestamp_range"))
        elif (closed - now).total_seconds() > 24 * 3600:
            problems.append(Problem((*loc, "closed_at"), f"{closed.isoformat()}Z is in the future: a deal is "
                                    "reported once it has closed", "value_error.future"))
        out.append((lead_id, outcome, closed))
    if problems:
        raise InputError(problems)
    return out
