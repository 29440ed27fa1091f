"""The lead object of POST /score as the OpenAPI document shows it, made from the served spec.

The fields are the spec's own lead columns, as the registered MLflow model's signature lists
them (`serving.model_signature.lead_columns`: the id, the created time, the profile and
after-contact columns, numbers typed as numbers), plus `activities` in the spec's activity
columns. The schema documents; it does not validate: BentoML parses a lead as a plain object
and `serving.schema.LeadValidator` checks it (unknown fields, types, times), so the answers
to bad input stay the same whatever the document says.

`score_example` is the request the Swagger page fills in for "Try it out" (the service hands it
to serving.openapi): one lead of the spec with plausible values (the training profile's most
common spellings when the bundle has one) and an activity, scored as of a past moment; sent as
it is, it is answered 200 (tested).
"""

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from serving.model_signature import ACTIVITIES, lead_columns
from serving.schema import ScoreRequest

EXAMPLE_CREATED = "2026-02-16T10:00:00Z"
EXAMPLE_ACTIVITY = "2026-02-20T14:30:00Z"
EXAMPLE_AS_OF = "2026-03-01T09:30:00Z"
EXAMPLE_NUMBER = 50.0
"""A number field's example value, kept within the training profile's range when it has one."""


def _role(spec, column: str) -> str:
    lead = spec.leads
    if column == lead.id:
        return "id"
    if column == lead.created_at:
        return "time"
    for role in ("numeric", "yes_no", "after_contact"):
        if column in getattr(lead, role):
            return role
    return "categorical"


def _field_schema(spec, column: str, kind: str) -> dict[str, Any]:
    role = _role(spec, column)
    lead = spec.leads
    if role == "id":
        return {"anyOf": [{"type": "string"}, {"type": "integer"}],
                "description": "The lead's id (text or an integer), returned with its score."}
    if role == "time":
        return {"type": "string", "format": "date-time", "nullable": True,
                "description": "When the lead was created (ISO 8601; naive times are UTC)."}
    if kind == "double":
        return {"type": "number", "nullable": True, "description": "A number; null when unknown."}
    if role == "yes_no":
        words = ", ".join([*lead.yes_values, *lead.no_values])
        return {"type": "string", "nullable": True, "description": f"Yes or no ({words}); null when unknown."}
    if role == "after_contact":
        return {"type": "string", "nullable": True, "description": "Filled in after sales contact: accepted, "
                "never used by the model."}
    return {"type": "string", "nullable": True, "description": "A category; values the model has not seen "
            "are scored as \"(other)\"."}


def activity_json_schema(spec) -> dict[str, Any] | None:
    """One activity as /score takes it, in the spec's activity columns (None: the spec has none)."""
    act = spec.activities
    if act is None:
        return None
    properties: dict[str, Any] = {
        act.time: {"type": "string", "format": "date-time", "description": "When it happened (ISO 8601)."},
        act.type: {"type": "string", "description": "The activity type, e.g. " + ", ".join(
            (act.high_intent or ["web_visit"])[:3]) + "."}}
    if act.value:
        properties[act.value] = {"type": "number", "nullable": True, "description": "Its value, if any."}
    return {"type": "object", "properties": properties, "required": [act.time, act.type],
            "additionalProperties": False}


def lead_json_schema(spec) -> dict[str, Any]:
    """One lead of `spec` as /score takes it (JSON schema, OpenAPI 3.0 flavour)."""
    properties = {column: _field_schema(spec, column, kind) for column, kind, _ in lead_columns(spec)}
    activity = activity_json_schema(spec)
    if activity is not None:
        properties[ACTIVITIES] = {"type": "array", "items": activity, "nullable": True,
                                  "description": "The lead's activities; only those before `as_of` count."}
    return {"type": "object", "title": "Lead", "properties": properties, "required": [spec.leads.id],
            "additionalProperties": False,
            "description": f"A lead in the raw shape of the dataset spec {spec.name!r}: its own column names."}


def example_lead(spec, profile: dict | None = None) -> dict[str, Any]:
    """A plausible lead of `spec`: every field the model reads (not the after-contact ones)."""
    lead, profile = spec.leads, profile or {}
    categories, spellings = profile.get("categorical", {}), profile.get("spellings", {})
    example: dict[str, Any] = {}
    for column, kind, _ in lead_columns(spec):
        role = _role(spec, column)
        if role == "id":
            example[column] = "L0001"
        elif role == "time":
            example[column] = EXAMPLE_CREATED
        elif role == "after_contact":
            continue
        elif role == "yes_no":
            example[column] = lead.yes_values[0] if lead.yes_values else "yes"
        elif kind == "double":
            bounds = profile.get("numeric", {}).get(column, {})
            low, high = bounds.get("q01", EXAMPLE_NUMBER), bounds.get("q99", EXAMPLE_NUMBER)
            example[column] = float(min(max(EXAMPLE_NUMBER, low), high))
        else:
            seen = categories.get(column) or []
            value = seen[0] if seen else "example"
            example[column] = spellings.get(column, {}).get(value, value)
    act = spec.activities
    if act is not None:
        kinds = act.high_intent or profile.get("activity_types") or ["web_visit"]
        example[ACTIVITIES] = [{act.time: EXAMPLE_ACTIVITY, act.type: kinds[0]}]
    return example


def score_example(spec, profile: dict | None = None) -> dict[str, Any]:
    """The body of POST /score the Swagger page fills in (see the module docstring)."""
    return {"leads": [example_lead(spec, profile)], "as_of": EXAMPLE_AS_OF, "reasons": 3}


def score_request_model(spec) -> type[ScoreRequest]:
    """`serving.schema.ScoreRequest` with `spec`'s lead object in its schema; it parses the
    same bodies."""
    LeadObject = Annotated[dict[str, Any], WithJsonSchema(lead_json_schema(spec))]
    base = ScoreRequest.model_fields

    class SpecScoreRequest(ScoreRequest):
        leads: list[LeadObject] | None = Field(None, description=base["leads"].description)
        lead: LeadObject | None = Field(None, description=base["lead"].description)

    SpecScoreRequest.__name__ = SpecScoreRequest.__qualname__ = "ScoreRequest"
    SpecScoreRequest.__doc__ = ScoreRequest.__doc__
    return SpecScoreRequest
