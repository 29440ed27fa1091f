"""Process-level tuning of a serving worker: Python's cyclic garbage collector.

Measured on BentoML 1.4 (see benchmarks/serving.py): with Python's default settings a worker
stalls for tens of milliseconds about once a second while the collector walks the whole heap:
the framework, pandas, LightGBM and the model, hundreds of thousands of objects that live as
long as the process. Switching the collector off removes the stalls but lets cyclic garbage
grow without bound. The fix kept here: once start-up is done, collect once and `gc.freeze()`
everything that survived, so later collections never walk it again; and collect the young
generations less often. Cyclic garbage made while serving is still collected (memory stays
bounded); frozen objects are still freed by reference counting.
"""

from __future__ import annotations

import gc
from typing import Any

GC_THRESHOLDS = (20_000, 20, 20)
"""Generation thresholds once the start-up heap is frozen (Python's defaults: 700, 10, 10)."""


GC_MODES = ("tuned", "freeze", "default")


def tune_gc(mode: str = "tuned") -> dict[str, Any]:
    """Apply the tuning. "tuned": freeze the start-up heap and raise the thresholds (the
    service's default); "freeze": freeze only; "default": Python's own settings. The last two
    exist to measure the first against them. Returns what was done."""
    if mode not in GC_MODES:
        raise ValueError(f"unknown garbage-collector mode {mode!r}; use one of {', '.join(GC_MODES)}")
    if mode == "default":
        return {"gc": "default", "thresholds": gc.get_threshold()}
    gc.collect()
    gc.freeze()
    if mode == "tuned":
        gc.set_threshold(*GC_THRESHOLDS)
    return {"gc": mode, "frozen_objects": gc.get_freeze_count(), "thresholds": gc.get_threshold()}


def fix_bentoml_request_timers() -> bool:
    """Make BentoML's request-timeout middleware cancel its timer when a request is done.

    BentoML 1.4.40's `TimeoutMiddleware` calls `loop.call_later(timeout, ...)` for every
    request and never cancels the handle. The handle holds the request's context (its
    OpenTelemetry span, futures, locks: about 20 objects) for `timeout` seconds after the
    answer was sent, so at 600 requests/s with a 60 s timeout some 700,000 dead objects stay
    alive: memory grows with the request rate and every full garbage collection walks them
    (the "80 ms stall about once a second"). The replacement below behaves the same (504
    after `timeout` seconds without a response) and cancels the timer at the end of the
    request. Returns True if the middleware was patched (idempotent)."""
    import asyncio

    from bentoml._internal.server.http import traffic

    middleware = getattr(traffic, "TimeoutMiddleware", None)
    if middleware is None or not hasattr(middleware, "_set_timer_out"):
        return False  # a BentoML version with another design: leave it alone
    if getattr(middleware, "_leadscore_cancels_timers", False):
        return True

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        timer = loop.call_later(self.timeout, self._set_timer_out, waiter)

        async def _send(message):
            if not waiter.done():
                waiter.set_result(None)
            await send(message)

        fut = asyncio.ensure_future(self.app(scope, receive, _send), loop=loop)
        fut.add_done_callback(lambda _: waiter.done() or waiter.set_result(None))
        try:
            await waiter
        except asyncio.TimeoutError:
            if fut.cancel():
                from starlette.responses import JSONResponse

                response = JSONResponse({"error": f"Not able to process the request in {self.timeout} seconds"},
                                        status_code=504)
                await response(scope, receive, send)
        else:
            await fut
        finally:
            timer.cancel()

    middleware.__call__ = __call__
    middleware._leadscore_cancels_timers = True
    return True
