"""The outermost checks of a request to the scoring service, before BentoML parses it
(an ASGI middleware): JSON-only POST bodies (415), the body size limit (413), the bytes of
bodies one worker holds at once (503 with Retry-After), the language of the answer
(Accept-Language), and BentoML's own 400 bodies reworded in the service's error shape.
"""

from __future__ import annotations

import contextvars
import json
import os
from typing import Any

import bentoml

from features.i18n import DEFAULT_LANGUAGE, LanguageError, choose_language, configured_language
from serving.config import ServiceConfig
from serving.schema import InputError, Problem

JSON_ROUTES = ("/score", "/outcomes")
BUSY_RETRY_SECONDS = 1
"""Retry-After of a 503 for a worker that holds as many body bytes as it may."""
ANSWER_LANGUAGE: contextvars.ContextVar[str] = contextvars.ContextVar("answer_language", default=DEFAULT_LANGUAGE)
"""The language /score writes reasons in: the request's Accept-Language, else LEADSCORE_LANGUAGE
(set by RequestGuard for each request; anyio carries it into worker threads)."""


refused_requests = bentoml.metrics.Counter(
    name="leadscore_refused_requests", documentation="Requests refused for bad input, by route and status.",
    labelnames=["route", "status"])


class RequestGuard:
    """Before BentoML sees a request to a JSON route: a body that is not sent as
    `Content-Type: application/json` is refused with 415 (a web page on another site can post
    text, form or multipart bodies to any address without the service's consent, but not JSON:
    a browser asks first, and the service, with CORS off, never agrees; so a page a salesperson
    happens to open cannot record outcomes), and a body over `max_bytes` is refused with 413,
    by Content-Length or while streaming. The bodies of the requests this worker is answering
    may hold `max_in_flight` bytes together, counted by Content-Length (else as they stream in)
    from the start of a request to its answer: a body that does not fit is answered 503 with
    Retry-After, so that a worker's memory stays bounded however many large requests arrive at
    once (parsed and checked, a JSON body takes about ten times its size). Sets the language of
    /score's reasons (ANSWER_LANGUAGE) from Accept-Language."""

    def __init__(self, app, max_bytes: int | None = None, max_in_flight: int | None = None):
        self.app = app
        self.max_bytes = _setting("max_body_bytes") if max_bytes is None else max_bytes
        self.max_in_flight = max(self.max_bytes, _setting("max_bytes_in_flight") if max_in_flight is None
                                 else max_in_flight)
        self.in_flight = 0
        """Body bytes of the requests this worker is answering now (one event loop: no lock)."""
        try:
            self.default_language = configured_language()
        except LanguageError:  # the service refuses to start with it (ServiceConfig)
            self.default_language = DEFAULT_LANGUAGE

    async def _send_413(self, send, size: int | None = None) -> None:
        got = f"{size:,} bytes" if size is not None else f"more than {self.max_bytes:,} bytes"
        await self._send_error(send, 413, InputError([Problem(
            (), f"the request body is {got}; at most {self.max_bytes:,} are allowed (LEADSCORE_MAX_BODY_BYTES): "
            "send fewer leads per request", "payload_too_large")], status=413))

    async def _send_busy(self, send, route: str) -> None:
        refused_requests.labels(route=route, status="503").inc()
        await self._send_error(send, 503, InputError([Problem(
            (), f"this worker is busy with {self.in_flight:,} bytes of other requests' bodies; it takes "
            f"{self.max_in_flight:,} at once (LEADSCORE_MAX_BYTES_IN_FLIGHT): send it again in a moment "
            "(Retry-After), or send fewer leads per request", "busy")], status=503),
            [(b"retry-after", str(BUSY_RETRY_SECONDS).encode())])

    @staticmethod
    async def _send_error(send, status: int, error: InputError, headers: list | None = None) -> None:
        data = json.dumps(error.body()).encode()
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(headers or ())]})
        await send({"type": "http.response.body", "body": data})

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in JSON_ROUTES:
            return await self.app(scope, receive, send)
        accepted = next((value for key, value in scope.get("headers", []) if key == b"accept-language"), None)
        ANSWER_LANGUAGE.set(choose_language(None, accepted.decode("latin-1") if accepted else None,
                                            self.default_language))
        content_type = next((value for key, value in scope.get("headers", []) if key == b"content-type"), b"")
        if content_type.split(b";")[0].strip().lower() != b"application/json":
            refused_requests.labels(route=scope["path"], status="415").inc()
            return await self._send_error(send, 415, InputError([Problem((), (
                f"the body is sent as {content_type.decode('latin-1')!r}" if content_type else
                "the body is sent without a Content-Type") + ": send it as JSON with the header Content-Type: "
                "application/json (other types are refused so that a web page on another site cannot post here)",
                "unsupported_media_type")], status=415))
        headers, size = [], None
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    size = int(value)
                except ValueError:
                    size = None
                if size is not None and size > self.max_bytes:
                    refused_requests.labels(route=scope["path"], status="413").inc()
                    return await self._send_413(send, size)
            headers.append((key, value))
        if size is not None and size > 0 and self.in_flight + size > self.max_in_flight:
            return await self._send_busy(send, scope["path"])
        scope = dict(scope, headers=headers)
        seen, too_large, busy, replied = 0, False, False, False
        reserved = max(size or 0, 0)
        self.in_flight += reserved

        async def limited_receive():
            nonlocal seen, too_large, busy, reserved
            if too_large or busy:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_large = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                if seen > reserved:  # no Content-Length, or more than it said
                    if self.in_flight + seen - reserved > self.max_in_flight:
                        busy = True
                        return {"type": "http.request", "body": b"", "more_body": False}
                    self.in_flight += seen - reserved
                    reserved = seen
            return message

        held: dict[str, Any] = {}

        async def guarded_send(message):
            nonlocal replied
            if too_large or busy:
                if not replied:
                    replied = True
                    if busy:
                        await self._send_busy(send, scope["path"])
                    else:
                        refused_requests.labels(route=scope["path"], status="413").inc()
                        await self._send_413(send)
                return
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                refused_requests.labels(route=scope["path"], status=str(message["status"])).inc()
                if message["status"] == 400:  # hold it: BentoML's own 400 bodies are reworded
                    held["start"], held["body"] = message, []
                    return
            if "start" in held and message["type"] == "http.response.body":
                held["body"].append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = reword_validation_error(b"".join(held["body"]))
                start = held.pop("start")
                headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
                headers.append((b"content-length", str(len(body)).encode()))
                await send({**start, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        finally:
            self.in_flight -= reserved


def _setting(name: str) -> int:
    """A size setting of ServiceConfig from its LEADSCORE_ variable, else its default (the
    service refuses to start with a value it cannot use)."""
    try:
        return int(os.environ.get(f"LEADSCORE_{name.upper()}") or ServiceConfig.model_fields[name].default)
    except ValueError:
        return ServiceConfig.model_fields[name].default


def reword_validation_error(body: bytes) -> bytes:
    """BentoML answers a body pydantic refuses with {"error": "1 validation error for
    ScoreRequestIODescriptor", "detail": [pydantic errors]}. Reword it in the service's own
    shape: `error` names the first field and its problem; `detail` keeps loc, msg, type."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if not (isinstance(data, dict) and isinstance(data.get("detail"), list)
            and "validation error for" in str(data.get("error", ""))):
        return body
    problems = []
    for item in data["detail"]:
        if not isinstance(item, dict):
            continue
        loc = tuple(part for part in item.get("loc", ()) if isinstance(part, (str, int)))
        msg = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
        problems.append(Problem(loc, msg, str(item.get("type", "value_error"))))
    if not problems:
        return body
    return json.dumps(InputError(problems).body()).encode()
