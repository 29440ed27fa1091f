"""The OpenAPI document the service publishes (GET /docs.json), made to tell the truth.

BentoML writes the document from the body models (serving.schema) and the FastAPI routes, with
its own guesses at the errors: a 400 whose body is `{"error", "detail": str}`, a 404 for every
API, FastAPI's 422 for /report. The service answers otherwise, and says so here, in one place:
every error is `ErrorResponse` (`serving.schema.InputError.body()`); /score and /outcomes
answer 400, 413 (too large a body or too many leads), 415 (not sent as JSON) and 503 (the
worker holds as many bodies as it may, serving.guard), /outcomes also 404 (a lead never
scored); /report 400 and 503; every route but health, readiness and metrics 401 and 403 when
API keys exist (serving.auth).

It also says how to send a key: `components.securitySchemes` names the two ways serving.auth takes
one (`Authorization: Bearer <key>`, `X-API-Key: <key>`), and each operation serving.auth asks a key
for (serving.auth.needed_scope, the one rule) requires either, its description naming the scope,
so that the Swagger page offers "Authorize" and its "Try it out" sends the key. The open paths
require none.

The document is leadscore's: its title, version (the leadscore package's) and description
(`SERVICE_TITLE`, `service_version`, `SERVICE_DESCRIPTION`; BentoML's would be the class
name, "None" and its own contact), and the example body of a request (POST /score's, made
from the served spec by serving.lead_schema and handed over by the service) is the media
type's `example`, which the Swagger page fills in for "Try it out".

The Swagger page (GET /) is leadscore's too: BentoML's template loads a tag-manager script
from the internet; `DOCS_PAGE` uses only the Swagger UI files BentoML serves from this
service (/static_content/), and names the service.

BentoML has no hook for the document or the page, so `PublishedDocument`, an ASGI middleware,
answers GET / with the page and rewrites BentoML's answer to GET /docs.json once per worker
and keeps it.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Mapping

from serving.auth import needed_scope
from serving.schema import ErrorResponse

DOCUMENT_PATH = "/docs.json"
PAGE_PATH = "/"
SERVICE_TITLE = "leadscore scoring API"
SERVICE_DESCRIPTION = (
    "Scores leads with the champion model of a dataset spec: the calibrated probability of buying, "
    "a score 0-100 (the probability in percent), the stage marketing and sales agreed on (SQL, MQL, "
    "not yet), the reasons for and against, in words, the trend since the lead's previous score (up, "
    "down, steady or new, in points, and the days since) and whether its intent is cooling. Records won and lost deals (POST /outcomes) "
    "and reports whether each stage keeps its promise (GET /report). The stage definitions are at "
    "GET /stages, the model card at GET /model, the pages for sales and marketing at /ui.")
REF = "#/components/schemas/{model}"
ERROR = "ErrorResponse"

RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before sending the request again.",
                               "schema": {"type": "integer", "minimum": 1}}}
KEYS = {
    "401": "When API keys exist: no valid key was sent (none, unknown, revoked); send one as "
           "`Authorization: Bearer <key>` or `X-API-Key: <key>`.",
    "403": "When API keys exist: the key is valid but its scope does not allow this route. While none "
           "exists: the request came from another machine (and LEADSCORE_INSECURE_NO_AUTH is not true), or, "
           "the service listening on this machine only, was not addressed to it (Host).",
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
SECURITY_SCHEMES = {
    "bearerKey": {"type": "http", "scheme": "bearer", "bearerFormat": "lsk_<id>_<secret>",
                  "description": "An API key (`leadscore keys create`) as `Authorization: Bearer <key>`."},
    "headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                  "description": "An API key (`leadscore keys create`) as `X-API-Key: <key>`."},
}
"""The ways serving.auth takes a key (the pages' cookie is for the pages, not the API)."""
KEY_REQUIRED = [{name: []} for name in SECURITY_SCHEMES]
"""Either scheme (OpenAPI 3.0: scopes are for OAuth only, so each operation's description names its own)."""


def key_note(scope: str) -> str:
    """What an operation's description says about its key."""
    from serving.keys import SCOPES

    wider = SCOPES[SCOPES.index(scope) + 1:]
    also = f" (or {' or '.join(f'`{s}`' for s in wider)})" if wider else ""
    return (f"Needs an API key of scope `{scope}`{also} once API keys exist; while none exists, only requests "
            "from the service's own machine are answered.")


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


def service_version() -> str:
    """The leadscore package's version: installed, else read from the pyproject.toml beside the
    code (a Bento carries it), else "unknown"."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("leadscore")
    except PackageNotFoundError:
        pass
    try:
        import tomllib

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"


def _add_examples(document: dict[str, Any], examples: Mapping[tuple[str, str], Any]) -> None:
    """Each example body, by (method, path), as its JSON media type's `example`: where Swagger UI
    and clients look for it first (and in the order of its keys, which a schema would sort)."""
    for (method, path), example in examples.items():
        operation = document.get("paths", {}).get(path, {}).get(method)
        media = (operation or {}).get("requestBody", {}).get("content", {}).get("application/json")
        if media is not None:
            media["example"] = example


def published(document: dict[str, Any], examples: Mapping[tuple[str, str], Any] | None = None) -> dict[str, Any]:
    """BentoML's document with the service's real answers (see the module docstring) and the
    `examples` of request bodies, by (method, path)."""
    document = copy.deepcopy(document)
    document["info"] = {"title": SERVICE_TITLE, "version": service_version(), "description": SERVICE_DESCRIPTION}
    _add_examples(document, examples or {})
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(error_schemas())
    document["components"]["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    for name in ("InvalidArgument", "NotFound", "HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)  # BentoML's and FastAPI's error bodies, never answered
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            errors = ROUTE_ERRORS.get((method, path))
            scope = needed_scope(method.upper(), path)  # what serving.auth asks a key of, if anything
            keyed = scope is not None
            if errors is not None or keyed:
                for status in REPLACED:
                    responses.pop(status, None)
            for status, description in (errors or {}).items():
                responses[status] = error_response(description, status)
            if keyed:
                for status, description in KEYS.items():
                    responses[status] = error_response(description, status)
                note = key_note(scope)
                operation["security"] = copy.deepcopy(KEY_REQUIRED)
                operation["description"] = f"{operation['description']}\n\n{note}" if operation.get(
                    "description") else note
            operation["responses"] = dict(sorted(responses.items()))
    return document


DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <title>{title}</title>
    <link rel="stylesheet" type="text/css" href="./static_content/swagger-ui.css" />
    <link rel="stylesheet" type="text/css" href="./static_content/index.css" />
    <link rel="icon" type="image/png" href="./static_content/favicon-light-32x32.png" sizes="32x32" />
  </head>
  <body>
    <div id="swagger-ui"></div>
    <script src="./static_content/swagger-ui-bundle.js" charset="UTF-8"></script>
    <script src="./static_content/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
    <script>
      window.onload = function () {{
        window.ui = SwaggerUIBundle({{
          url: "./docs.json", dom_id: "#swagger-ui", deepLinking: true,
          presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
          layout: "BaseLayout",
        }});
      }};
    </script>
  </body>
</html>
""".format(title=SERVICE_TITLE).encode()
"""The Swagger page: Swagger UI from BentoML's own copy (served at /static_content/), nothing
from the internet."""


class PublishedDocument:
    """Answers GET / with DOCS_PAGE and GET /docs.json with `published(BentoML's document,
    examples)`, made once per worker."""

    def __init__(self, app, examples: Mapping[tuple[str, str], Any] | None = None):
        self.app = app
        self.examples = dict(examples or {})
        self.body: bytes | None = None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        if scope.get("path") == PAGE_PATH:
            return await _send(send, 200, DOCS_PAGE, scope.get("method") == "HEAD", b"text/html; charset=utf-8")
        if scope.get("path") != DOCUMENT_PATH:
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
            self.body = json.dumps(published(json.loads(b"".join(chunks)), self.examples)).encode()
        await _send(send, 200, self.body, scope.get("method") == "HEAD")


async def _send(send, status: int, body: bytes, head: bool = False, kind: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": b"" if head else body})
