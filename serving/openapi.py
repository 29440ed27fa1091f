"""The OpenAPI document the service publishes (GET /docs.json), made to tell the truth.

BentoML writes the document from the body models (serving.schema) and the FastAPI routes, with
its own guesses at the errors: a 400 whose body is `{"error", "detail": str}`, a 404 for every
API, FastAPI's 422 for /report. The service answers otherwise, and says so here, in one place:
every error is `ErrorResponse` (`serving.schema.InputError.body()`); /score and /outcomes
answer 400, 413 (too large a body or too many leads), 415 (not sent as JSON) and 503 (the
worker holds as many bodies as it may, serving.guard), /outcomes also 404 (a lead never
scored); /report 400 and 503; every route but health, readiness and metrics 401 and 403 when
API keys exist (serving.auth).

BentoML has no hook for the document, so `PublishedDocument`, an ASGI middleware, rewrites
BentoML's answer to GET /docs.json once per worker and keeps it.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from serving.auth import needed_scope
from serving.schema import ErrorResponse

DOCUMENT_PATH = "/docs.json"
REF = "#/components/schemas/{model}"
ERROR = "ErrorResponse"

RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before sending the request again.",
                               "schema": {"type": "integer", "minimum": 1}}}
KEYS = {
    "401": "When API keys exist: no valid key was sent (none, unknown, revoked); send one as "
           "`Authorization: Bearer <key>` or `X-API-Key: <key>`.",
    "403": "When API keys exist: the key is valid but its scope does not allow this route. While none "
           "exists, a service listening on this machine only refuses a request not addressed to it (Host).",
}
BODY_ERRORS = {
    "400": "The body or a field is wrong: `detail` names each field (`loc`) and its problem.",
    "413": "Too large a body (LEADSCORE_MAX_BODY_BYTES) or too many leads or outcomes in one request "
           "(LEADSCORE_MAX_LEADS): send fewer per request.",
    "415": "The body was not sent with `Content-Type: application/json`.",
    "503": "The request cannot be taken now: this worker holds as many request bodies as it may "
           "(LEADSCORE_MAX_BYTES_IN_FLIGHT), or the database cannot be reached; nothing was stored. Send it "
           "again after Retry-After seconds.",
}
ROUTE_ERRORS: dict[tuple[str, str], dict[str, str]] = {
    ("post", "/score"): {**BODY_ERRORS, "422": "The database refused to log these scores for their values (its "
                                               "reason is in `error`); nothing was logged, and sending them again "
                                               "would fail again."},
    ("post", "/outcomes"): {**BODY_ERRORS, "404": "A lead of the outcomes was never scored by this service: "
                                                  "nothing was recorded."},
    ("get", "/report"): {"400": "`since` or `until` is not a time, the period is empty, or a parameter is "
                                "unknown.",
                         "503": "The report is being computed, or could not be: ask again after Retry-After "
                                "seconds."},
}
REPLACED = ("400", "404", "422")
"""BentoML's and FastAPI's own guesses at client errors, replaced by ROUTE_ERRORS."""


def error_response(description: str, status: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {"application/json": {"schema": {"$ref": REF.format(model=ERROR)}}}}
    if status == "503":
        response["headers"] = RETRY_AFTER
    return response


def error_schemas() -> dict[str, Any]:
    """ErrorResponse and the models it uses, as components."""
    schema = ErrorResponse.model_json_schema(ref_template=REF)
    defs = schema.pop("$defs", {})
    return {ERROR: schema, **defs}


def published(document: dict[str, Any]) -> dict[str, Any]:
    """BentoML's document with the service's real answers (see the module docstring)."""
    document = copy.deepcopy(document)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(error_schemas())
    for name in ("InvalidArgument", "NotFound", "HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)  # BentoML's and FastAPI's error bodies, never answered
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            errors = ROUTE_ERRORS.get((method, path))
            keyed = needed_scope(method.upper(), path) is not None  # the routes serving.auth asks a key for
            if errors is not None or keyed:
                for status in REPLACED:
                    responses.pop(status, None)
            for status, description in (errors or {}).items():
                responses[status] = error_response(description, status)
            if keyed:
                for status, description in KEYS.items():
                    responses[status] = error_response(description, status)
            operation["responses"] = dict(sorted(responses.items()))
    return document


class PublishedDocument:
    """Answers GET /docs.json with `published(BentoML's document)`, made once per worker."""

    def __init__(self, app):
        self.app = app
        self.body: bytes | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("path") != DOCUMENT_PATH or scope.get("method") not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        if self.body is None:
            start, chunks = {}, []

            async def keep(message):
                if message["type"] == "http.response.start":
                    start.update(message)
                elif message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))

            await self.app(scope, receive, keep)
            if start.get("status") != 200:  # BentoML could not write it: its own answer, as it was
                return await _send(send, start.get("status", 500), b"".join(chunks))
            self.body = json.dumps(published(json.loads(b"".join(chunks)))).encode()
        await _send(send, 200, self.body, scope.get("method") == "HEAD")


async def _send(send, status: int, body: bytes, head: bool = False) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": b"" if head else body})
