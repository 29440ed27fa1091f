"""Process-level tuning of a serving worker: Python's cyclic garbage collector, BentoML's
request timers, and the worker's exit when the server's main process dies (`exit_with_parent`).

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
import logging
import os
import signal
import sys
import threading
from typing import Any

logger = logging.getLogger("leadscore.service")

SERVER_PID = "LEADSCORE_SERVER_PID"
"""The environment variable that names the server's main process to its workers (`mark_server`)."""
STARTED_BY = os.getppid()
"""The process that started this one, as it was when this module was first imported (the
server, unless it died before)."""
PARENT_POLL_SECONDS = 0.5

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


def import_lightgbm_for_scoring() -> bool:
    """Import LightGBM without its scikit-learn interface, in a process that only scores: a
    BentoML worker (the service module calls this when `exit_with_parent` says it is one) and
    `leadscore serve`'s check of the bundle (leadscore.jobs.serve_check), never a process that
    may train.

    LightGBM's package imports scikit-learn (and through it SciPy's statistics) whenever it is
    installed, for its estimator classes (LGBMClassifier...); scoring uses only `Booster`. That
    import was 0.78 of LightGBM's 1.06 s in a worker's start (`python -X importtime`, 2026-12)
    and 1.6 s of a worker's 4.0 s import-and-load (median of 5 fresh processes). Here
    scikit-learn is hidden while LightGBM is imported, so LightGBM takes it as absent (its own
    documented fallback) and then unhidden: scikit-learn still imports normally later (the
    report's ROC-AUC). LightGBM's estimator classes then refuse to fit in this process, which
    never trains. Returns True when LightGBM was imported this way; False, doing nothing, when
    LightGBM or scikit-learn were imported already, and False with a log line when the import
    failed this way (LightGBM is then imported as usual)."""
    if "lightgbm" in sys.modules or "sklearn" in sys.modules:
        return False
    sys.modules["sklearn"] = None  # `import sklearn` raises ImportError while this is here
    try:
        import lightgbm  # noqa: F401
        return True
    except Exception as exc:  # a LightGBM that needs scikit-learn to import: the usual way
        for name in [m for m in sys.modules if m == "lightgbm" or m.startswith("lightgbm.")]:
            del sys.modules[name]
        logger.info("LightGBM imported with scikit-learn after all (%s: %s)", type(exc).__name__, exc)
    finally:
        if sys.modules.get("sklearn", ...) is None:
            del sys.modules["sklearn"]
    import lightgbm  # noqa: F401, F811
    return False


def mark_server() -> None:
    """Name this process, in the environment its workers inherit, as their server: called in
    the server's main process before it starts them (the service's on_deployment hook)."""
    os.environ[SERVER_PID] = str(os.getpid())


def exit_with_parent(parent: int | None = None) -> str | None:
    """Make this process, a BentoML worker, stop when `parent` (default: the process
    `mark_server` named, else the one that started this one) dies, however it dies (a SIGKILL
    included): it gets SIGTERM, which ends it at once while it is still starting (call this
    first thing: the service module does when a worker imports it) and, once uvicorn serves,
    shuts it down as on Ctrl-C (the score log is written, serving.store.score_writer); either
    way the port is free for the next start. Without it BentoML's workers outlive a killed
    main process and go on serving with no supervisor.

    Linux: the kernel sends the signal (prctl PR_SET_PDEATHSIG); elsewhere a daemon thread
    polls the parent every PARENT_POLL_SECONDS (logged). If `parent` is gone already (it died
    while this process started), the signal is sent at once. Returns "prctl" or "polling"; None,
    doing nothing, outside a BentoML worker (a service run in a test's process)."""
    from bentoml._internal.context import server_context

    if server_context.worker_index is None:
        return None
    if parent is None:
        parent = int(os.environ.get(SERVER_PID) or STARTED_BY)
    how = "polling"
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            PR_SET_PDEATHSIG = 1
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0:
                how = "prctl"
        except (OSError, AttributeError):
            pass
    if how == "polling":
        logger.info("this worker watches its parent (pid %d) every %g s to exit with it (no prctl here)",
                    parent, PARENT_POLL_SECONDS)
        threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()
    if os.getppid() != parent:  # it died before the kernel was asked to tell
        os.kill(os.getpid(), signal.SIGTERM)
    return how


def _watch_parent(parent: int) -> None:
    import time

    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
