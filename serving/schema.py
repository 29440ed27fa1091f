"""What the API accepts and answers: the body shapes as pydantic models (they are also the
OpenAPI documentation), and the checks of POST /outcomes' items.

A lead's own fields depend on the dataset spec of the model being served, so they are checked
by `serving.request_checks.LeadValidator`; a refusal is a `serving.problems.InputError`. Both
are importable from here as before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model
from pydantic_core import from_json

from features import values as V
from features.values import UNPRINTABLE_ID
# The checks live in their own modules; imported here too, where callers have found them.
from serving.problems import MAX_PROBLEMS, InputError, Problem, refuse  # noqa: F401
from serving.request_checks import ACTIVITIES, LeadValidator, check_moment  # noqa: F401

_shown = V.shown


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
