"""RequestGuard's limit on the body bytes one worker holds at once: a request whose body does not
fit beside the others is answered 503 with Retry-After and the service's error body, whether
its size is announced (Content-Length) or only seen as it streams in; the bytes are given back
when a request is answered, refused or fails."""

from __future__ import annotations

import asyncio
import json

import pytest

from serving.guard import RequestGuard

LIMIT = 1_000
IN_FLIGHT = 1_500


class HeldApp:
    """Reads the whole body; answers a body of x or z 200 once `release` is set, any other at
    once with 400 (as the service answers a body cut short)."""

    def __init__(self):
        self.release = asyncio.Event()
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send):
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if body[:1] not in (b"x", b"z"):
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        self.bodies.append(body)
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def call(guard, body: bytes, announce: bool = True, chunk: int = 100) -> dict:
    headers = [(b"content-type", b"application/json")]
    if announce:
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "method": "POST", "path": "/score", "headers": headers}
    pieces = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]

    async def receive():
        if pieces:
            piece = pieces.pop(0)
            await asyncio.sleep(0)
            return {"type": "http.request", "body": piece, "more_body": bool(pieces)}
        await asyncio.sleep(3600)

    answer: dict = {"body": b""}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], dict(message["headers"])
        else:
            answer["body"] += message.get("body", b"")

    await guard(scope, receive, send)
    return answer


def assert_busy(answer: dict) -> None:
    assert answer["status"] == 503, answer
    assert int(answer["headers"][b"retry-after"]) >= 1
    error = json.loads(answer["body"])
    assert "LEADSCORE_MAX_BYTES_IN_FLIGHT" in error["error"] and error["detail"][0]["type"] == "busy"


@pytest.mark.parametrize("announce", [True, False], ids=["content-length", "streamed"])
def test_a_body_that_does_not_fit_beside_the_others_waits_its_turn(announce):
    async def scenario():
        app = HeldApp()
        guard = RequestGuard(app, max_bytes=LIMIT, max_in_flight=IN_FLIGHT)
        first = asyncio.create_task(call(guard, b"x" * 900, announce))
        while not app.bodies:
            await asyncio.sleep(0)
        assert guard.in_flight == 900
        assert_busy(await call(guard, b"y" * 700, announce))  # 900 + 700 > 1,500
        assert guard.in_flight == 900  # the refused request holds nothing
        small = asyncio.create_task(call(guard, b"z" * 500, announce))  # 900 + 500 fits
        while len(app.bodies) < 2:
            await asyncio.sleep(0)
        app.release.set()
        assert (await first)["status"] == 200 and (await small)["status"] == 200
        assert guard.in_flight == 0
        assert (await call(guard, b"z" * 1_000, announce))["status"] == 200  # the largest body, alone, is taken
        assert app.bodies[-1] == b"z" * 1_000

    asyncio.run(scenario())


def test_the_limit_is_never_below_the_largest_body():
    guard = RequestGuard(HeldApp(), max_bytes=LIMIT, max_in_flight=10)
    assert guard.max_in_flight == LIMIT
