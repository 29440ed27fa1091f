"""Bounded labels for BentoML's request metrics: a route the service has, else one label.

BentoML 1.4.40 counts every request in `bentoml_service_request_total`,
`..._request_duration_seconds` and `..._request_in_progress`, labelled `endpoint` = the raw
request path (`RunnerTrafficMetricsMiddleware`, the outermost middleware of the app). Every new
path is a new series, kept for the life of the process and, in Prometheus' multiprocess mode, in
its files: 10,000 requests to random unknown paths made /metrics 240 MB. Here the label is the
route that answers the request instead: its template (`/score`, `/ui/leads`, `/ui/static/{path}`
for any static file), or `UNKNOWN_ROUTE` for every path no route takes (the 404s).

The middleware is left as it is: `bound_request_metric_labels` wraps its `__call__` so that it
sees the route label as the path, and gives the real path back to the app inside it.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from starlette.routing import Match, Mount

logger = logging.getLogger("leadscore.service")

UNKNOWN_ROUTE = "<unknown>"
"""The `endpoint` label of every request to a path that no route of the service takes."""
_REAL_PATH = "leadscore.path"
_EXACT_ROUTES: dict[str, str] = {}
"""path -> label for paths that are a route's own path (a bounded set: no templates)."""


def route_label(scope: dict[str, Any]) -> str:
    """The label of the route of the app (`scope["app"]`, set by Starlette) that takes this
    request: the route's path template, a mount's `<path>/{path}` for a mounted app without
    routes (static files), `UNKNOWN_ROUTE` when none takes it. A route that takes the path but
    not the method still names it (the answer is a 405)."""
    path = scope.get("path", "")
    known = _EXACT_ROUTES.get(path)
    if known is not None:
        return known
    routes = getattr(getattr(scope.get("app"), "router", None), "routes", None)
    if not routes:
        return UNKNOWN_ROUTE
    label = _match(routes, {**scope, "root_path": scope.get("root_path", "")}, "") or UNKNOWN_ROUTE
    if label == path:
        _EXACT_ROUTES[path] = label
    return label


def _match(routes: list, scope: dict[str, Any], prefix: str) -> str | None:
    partial = None
    for route in routes:
        try:
            match, child = route.matches(scope)
        except Exception:  # noqa: BLE001 - a route that cannot judge this path does not take it
            continue
        if match == Match.NONE:
            continue
        if isinstance(route, Mount):
            inner = getattr(route.app, "routes", None)
            base = prefix + route.path
            label = _match(inner, {**scope, **child}, base) if inner else f"{base}/{{path}}"
        elif isinstance(getattr(route, "path", None), str):
            label = prefix + route.path
        else:  # a router included in another (FastAPI's include_router): its own routes
            inner = getattr(getattr(route, "original_router", route), "routes", None)
            label = _match(inner, {**scope, **child}, prefix) if inner else None
        if label is None:
            continue
        if match == Match.FULL:
            return label
        partial = partial or label
    return partial


class _RealPath:
    """Inside the metrics middleware: the app sees the request's real path again."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        real = scope.get(_REAL_PATH)
        if real is not None:
            scope = {key: value for key, value in scope.items() if key != _REAL_PATH}
            scope["path"] = real
        await self.app(scope, receive, send)


def bound_request_metric_labels() -> bool:
    """Label BentoML's request metrics by route (see the module docstring). Returns True if
    BentoML's metrics middlewares were wrapped (idempotent); False, with a log line, when
    this BentoML labels them some other way (nothing is changed then)."""
    try:
        from bentoml._internal.server.http import instruments
    except ImportError:
        instruments = None
    classes = [getattr(instruments, name, None) for name in
               ("RunnerTrafficMetricsMiddleware", "HTTPTrafficMetricsMiddleware")]
    classes = [cls for cls in classes if cls is not None]
    try:
        designed = bool(classes) and all('endpoint = scope["path"]' in inspect.getsource(cls.__call__)
                                         for cls in classes)
    except (OSError, TypeError):
        designed = False
    if not designed:
        logger.warning("BentoML's request metrics are not labelled by `scope[\"path\"]` in this version: "
                       "their `endpoint` label is left as BentoML sets it (serving.metrics_labels)")
        return False
    for cls in classes:
        if getattr(cls, "_leadscore_bounded_labels", False):
            continue
        original = cls.__call__

        async def __call__(self, scope, receive, send, _original=original):
            if scope.get("type") not in ("http", "websocket"):
                return await _original(self, scope, receive, send)
            if not isinstance(self.app, _RealPath):
                self.app = _RealPath(self.app)
            label = route_label(scope)
            if label != scope.get("path"):
                scope = {**scope, "path": label, _REAL_PATH: scope["path"]}
            return await _original(self, scope, receive, send)

        cls.__call__ = __call__
        cls._leadscore_bounded_labels = True
    return True
