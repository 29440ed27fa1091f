"""Who may call the service: API keys checked before anything else sees a request (an ASGI
middleware, `KeyGuard`), against the service database's keys as a worker last read them.

While the database holds no key at all, nothing is asked, and the service answers only this
machine: a request from another machine's address (the ASGI scope's `client`, `from_this_machine`)
is refused (403), unless the operator said otherwise explicitly (LEADSCORE_INSECURE_NO_AUTH=true,
which `leadscore serve --insecure-no-auth` sets). This holds however the service was started
(`leadscore serve`, `bentoml serve <bento>` on 0.0.0.0, a container). A reverse proxy on this
machine connects from loopback; uvicorn takes the address it forwards (X-Forwarded-For) as the
client's, but keys are the way to expose the service through one (docs/security.md). Without
keys it also takes only requests whose Host header names this machine (403 otherwise), however
it was started (a Bento on 127.0.0.1 too), unless LEADSCORE_INSECURE_NO_AUTH says otherwise: a
web page that points a name of its own at 127.0.0.1 (DNS
rebinding) would otherwise be same-origin with the service and could send it JSON. Once a key
exists, every route needs a key except OPEN_PATHS: health, readiness, metrics, the OpenAPI
document and its page, the pages' static files and the page where a key is entered. A key is
sent as `Authorization: Bearer <key>`, as `X-API-Key: <key>`, or, by the web pages, in the
HttpOnly, SameSite=Lax cookie KEY_COOKIE set by POST /ui/key (serving.ui.key_page says why Lax).

What each route needs (serving.keys.SCOPES, each scope including the ones before it):
POST /outcomes `outcomes`; everything else `score`. Answers: 401 with `WWW-Authenticate: Bearer`
when no valid key is sent (none, unknown, revoked, malformed), 403 when the key is valid but its
scope too narrow, both in the service's error shape; a page asked for without a key is sent to
the key page instead (303). Unknown and known keys cost the same one hash (serving.keys.KeyRing);
hashing runs in a worker thread, at most HASHING_AT_ONCE at a time, never on the event loop.

Each worker reads the keys when it starts and again every REFRESH_SECONDS in a daemon thread, so
a key created or revoked with `leadscore keys` counts within that time. If the database cannot
be read then, the last keys read stay in force (and a line is logged).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from urllib.parse import quote

import anyio

from serving.keys import KeyRing, Verdict

logger = logging.getLogger("leadscore.auth")

KEY_COOKIE = "leadscore_key"
REFRESH_SECONDS = 5.0
HASHING_AT_ONCE = 2
OPEN_PATHS = ("/livez", "/readyz", "/healthz", "/metrics", "/docs.json", "/", "/ui", "/ui/key")
OPEN_PREFIXES = ("/ui/static/", "/static_content/")
API_ROUTES = ("/score", "/outcomes", "/report", "/stages", "/model")
NEEDS = {("POST", "/outcomes"): "outcomes"}
"""Routes that need more than `score` (method, path)."""
INSECURE_NO_AUTH = "LEADSCORE_INSECURE_NO_AUTH"
"""true: while no key exists, other machines are answered too (`leadscore serve --insecure-no-auth`)."""
KEY_HEADER = ("header", "Authorization")
"""Where a refusal for the key says the problem is (the error's `loc`)."""


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, an IPv4 one written as IPv6,
    localhost), with or without brackets; no port."""
    import ipaddress

    host = host.strip().lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def from_this_machine(client) -> bool:
    """Whether a request's client (the ASGI scope's `client`: the address its connection came from,
    or the one a proxy on this machine forwarded) is this machine: a loopback address, or no
    network address at all (a Unix socket, an in-process caller)."""
    import ipaddress

    if not client or not client[0]:
        return True
    host = str(client[0]).strip()
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return True  # not a network address: nothing reached the service over the network
    return is_loopback(host)


def insecure_no_auth(env=None) -> bool:
    """Whether the operator let other machines in without API keys (INSECURE_NO_AUTH, read as
    ServiceConfig reads a true/false setting; a value that is neither is refused)."""
    from pydantic import TypeAdapter, ValidationError

    from serving.config import ConfigError

    raw = (os.environ if env is None else env).get(INSECURE_NO_AUTH, "").strip()
    if not raw:
        return False
    try:
        return TypeAdapter(bool).validate_python(raw)
    except ValidationError:
        raise ConfigError(f"{INSECURE_NO_AUTH}={raw!r} is not true or false: leave it unset (other machines are "
                          "refused while no API key exists), or set it to true to accept that risk") from None


def host_of(header: str) -> str:
    """The host of a Host header, without its port ("[::1]:3000" -> "[::1]")."""
    header = header.strip()
    if header.startswith("["):
        return header[:header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def needed_scope(method: str, path: str) -> str | None:
    """The scope a request needs, or None for an open path."""
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return None
    return NEEDS.get((method, path), "score")


def presented_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key a request sends (Authorization: Bearer, X-API-Key, else the pages' cookie)."""
    found: dict[bytes, str] = {}
    for name, value in headers:
        if name in (b"authorization", b"x-api-key", b"cookie") and name not in found:
            found[name] = value.decode("latin-1")
    scheme, _, token = found.get(b"authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    if found.get(b"x-api-key", "").strip():
        return found[b"x-api-key"].strip()
    for part in found.get(b"cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == KEY_COOKIE and value:
            return value
    return None


class KeyWatch:
    """A worker's key ring, read from the database at `url` now and every REFRESH_SECONDS."""

    def __init__(self, url: str, refresh_seconds: float = REFRESH_SECONDS):
        from serving.store import make_engine
        from serving.store.api_keys import read_keys

        self._read = read_keys
        self.url = url
        self.engine = make_engine(url)
        self.ring = KeyRing(read_keys(self.engine))
        self.refresh_seconds = refresh_seconds
        self._stop = threading.Event()
        self._hashing = anyio.CapacityLimiter(HASHING_AT_ONCE)
        self._thread = threading.Thread(target=self._run, name="api-key-refresh", daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        try:
            self.ring.replace(self._read(self.engine))
        except Exception as exc:  # noqa: BLE001 - keep the keys last read; never open up on an error
            logger.warning("API keys could not be read again (%s); the keys read before stay in force", exc)

    def _run(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            self.refresh()

    async def verdict(self, token: str | None, needed: str) -> Verdict:
        if token is None:
            return Verdict(401)
        known = self.ring.remembered(token, needed)
        if known is not None:
            return known
        return await anyio.to_thread.run_sync(self.ring.check, token, needed, limiter=self._hashing)

    def stop(self) -> None:
        self._stop.set()
        self.engine.dispose()


_WATCH: KeyWatch | None = None


def start_key_watch(url: str) -> KeyWatch:
    """The worker's KeyWatch on the database at `url` (the service calls this at start; a worker
    serves one database: a service started again in the same process on another replaces it)."""
    global _WATCH
    if _WATCH is not None and _WATCH.url != url:
        _WATCH.stop()
        _WATCH = None
    if _WATCH is None:
        _WATCH = KeyWatch(url)
    return _WATCH


def key_watch() -> KeyWatch | None:
    return _WATCH


PROBLEMS = {
    401: ("no valid API key was sent: send one as `Authorization: Bearer <key>` (create one with "
          "`leadscore keys create --name ... --scope ...`)", "unauthorized"),
    403: ("the API key's scope does not allow this: {needed} is needed; create a key with "
          "`--scope {needed}`", "forbidden"),
}


NOT_FROM_HERE = ("this service has no API keys, so it answers only clients on this machine: create a key "
                 "(`leadscore keys create --name ... --scope ...`) and send it, or, to let every machine that "
                 "reaches the service in without a key, set LEADSCORE_INSECURE_NO_AUTH=true "
                 "(`leadscore serve --insecure-no-auth`)")

NOT_HERE = ("this service has no API keys, so it takes requests only addressed to this machine (Host: "
            "localhost or 127.0.0.1): a web page cannot reach it by pointing a name of its own at this machine "
            "(DNS rebinding). Use http://127.0.0.1:<port>, or create API keys (`leadscore keys create`) to serve "
            "under another name")


class KeyGuard:
    """The ASGI middleware (see the module docstring). While no key exists (or before the
    worker's KeyWatch is started), passes through every request from this machine, and from
    others only with `insecure` (default: INSECURE_NO_AUTH)."""

    def __init__(self, app, insecure: bool | None = None):
        self.app = app
        self.insecure = insecure if insecure is not None else insecure_no_auth()
        self.told = False  # the first request refused for coming from another machine is logged

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method, path = scope.get("method", "GET"), scope.get("path", "")
        needed = needed_scope(method, path)
        if needed is None:
            return await self.app(scope, receive, send)
        watch = _WATCH
        if watch is None or not watch.ring.required:
            if not self.insecure and not from_this_machine(scope.get("client")):
                if not self.told:
                    self.told = True
                    logger.warning("refused a request from %s, another machine: no API key exists, so the service "
                                   "answers only this machine (`leadscore keys create`, or %s=true)",
                                   scope["client"][0], INSECURE_NO_AUTH)
                _count_refusal(path, 403)
                return await _refuse(send, 403, NOT_FROM_HERE, "client_not_allowed", [], ("client",))
            if not self.insecure and not self._addressed_here(scope):
                _count_refusal(path, 403)
                return await _refuse(send, 403, NOT_HERE, "host_not_allowed", [], ("header", "Host"))
            return await self.app(scope, receive, send)
        verdict = await watch.verdict(presented_key(scope.get("headers", [])), needed)
        if verdict.status == 200:
            scope.setdefault("state", {})["api_key"] = verdict.key
            return await self.app(scope, receive, send)
        if method == "GET" and path.startswith("/ui/"):
            query = scope.get("query_string", b"").decode("latin-1")
            target = quote(path + (f"?{query}" if query else ""), safe="")
            return await _send(send, 303, [(b"location", f"/ui/key?next={target}".encode())], b"")
        message, kind = PROBLEMS[verdict.status]
        _count_refusal(path, verdict.status)
        headers = [(b"www-authenticate", b'Bearer realm="leadscore"')] if verdict.status == 401 else []
        await _refuse(send, verdict.status, message.format(needed=needed), kind, headers, KEY_HEADER)

    @staticmethod
    def _addressed_here(scope) -> bool:
        host = next((value for name, value in scope.get("headers", []) if name == b"host"), None)
        return host is not None and is_loopback(host_of(host.decode("latin-1")))


def _count_refusal(path: str, status: int) -> None:
    from serving.guard import refused_requests

    refused_requests.labels(route=path if path in API_ROUTES else "other", status=str(status)).inc()


async def _refuse(send, status: int, message: str, kind: str, headers: list[tuple[bytes, bytes]],
                  loc: tuple[str, ...]) -> None:
    """A refusal in the service's error shape, the problem at `loc` (a header, the client)."""
    from serving.schema import InputError, Problem

    error = InputError([Problem(loc, message, kind)], status=status)
    await _send(send, status, [(b"content-type", b"application/json"), *headers], json.dumps(error.body()).encode())


async def _send(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": headers + [(b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
