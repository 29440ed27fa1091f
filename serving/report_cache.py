"""GET /report's cache: the outcome report of the whole score log, recomputed in the
background so that asking for it never waits for it and never slows scoring."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from pydantic_core import to_json
from sqlalchemy.exc import SQLAlchemyError

from features.errors import LeadscoreError

logger = logging.getLogger("leadscore.service")


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


OUTCOMES_SETTLE_SECONDS = 2.0
"""After outcomes are recorded the report is recomputed this long after the first of them
(so that a burst of posts makes one computation), unless the periodic refresh comes first."""
PENDING_RETRY_SECONDS = 5
"""Retry-After of a 503 while the first report is being computed."""
REPORT_PARAMS = ("since", "until")


@dataclass(frozen=True)
class ReportState:
    """What GET /report can answer now. Replaced whole, never changed in place, so the event
    loop reads it without a lock."""

    body: bytes | None = None
    """The JSON answer of the last computation that succeeded (the report plus computed_at)."""
    error: str | None = None
    """Why the last computation failed; None when it succeeded (or none has finished)."""
    failed_at: str | None = None


def iso_utc(moment: datetime) -> str:
    """A naive UTC time as ISO 8601 with a Z, to the millisecond."""
    return moment.isoformat(timespec="milliseconds") + "Z"


def report_answer(report: dict[str, Any], computed_at: str) -> bytes:
    """GET /report's body: the report's keys as `leadscore report --json` writes them, plus
    `computed_at` (when the computation began: the store's data as of that moment)."""
    return to_json({**report, "computed_at": computed_at})


def failure_reason(exc: BaseException) -> str:
    """One line saying why the report could not be computed (a database error's own message,
    without SQLAlchemy's statement and help link)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = text[0] if text else ""
    reason = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
    return reason[:500]


class ReportCache:
    """The report of the whole score log, recomputed by a daemon thread every
    `refresh_seconds`, and `OUTCOMES_SETTLE_SECONDS` after outcomes are recorded
    (`refresh_soon`). A computation never starts sooner after the previous one ended than that
    one took, so the thread computes at most half of the time however large the log grows.

    `compute(computed_at)` returns the answer's bytes (report_answer); it runs on the thread,
    never on the event loop, and shares no lock with scoring: readers only read `state`. A
    computation that fails is kept as `state.error` (the thread goes on and tries again at the
    next refresh); one that succeeds replaces it."""

    def __init__(self, compute: Callable[[str], bytes], refresh_seconds: float,
                 settle_seconds: float = OUTCOMES_SETTLE_SECONDS):
        self._compute = compute
        self.refresh_seconds = refresh_seconds
        self.settle_seconds = min(settle_seconds, refresh_seconds)
        self.state = ReportState()
        self._outcomes_at: float | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="leadscore-report", daemon=True)
            self._thread.start()

    def refresh_soon(self) -> None:
        """New outcomes were recorded: recompute after OUTCOMES_SETTLE_SECONDS (thread-safe)."""
        if self._outcomes_at is None:
            self._outcomes_at = time.monotonic()
        self._wake.set()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread; a computation under way is left to end on its own (a daemon)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def refresh(self) -> None:
        """Compute the report now, in the calling thread, and keep the result."""
        self._outcomes_at = None
        started = utc_now()
        try:
            body = self._compute(iso_utc(started))
        except Exception as exc:  # noqa: BLE001 - any failure is reported by /report, never fatal
            reason = failure_reason(exc)
            if reason != self.state.error:  # once per new reason, not at every refresh
                expected = isinstance(exc, (SQLAlchemyError, LeadscoreError, OSError))
                logger.warning("report: could not be computed (%s); tried again every %g s", reason,
                               self.refresh_seconds, exc_info=not expected)
            self.state = ReportState(self.state.body, reason, iso_utc(utc_now()))
        else:
            if self.state.error is not None:
                logger.info("report: computed again after the failure (%s)", self.state.error)
            self.state = ReportState(body)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            self.refresh()
            ended = time.monotonic()
            logger.debug("report: computed in %.2f s", ended - began)
            self._wait(ended, ended - began)

    def _wait(self, ended: float, took: float) -> None:
        """Sleep until the next computation is due (see the class docstring), or stop."""
        while True:
            self._wake.clear()
            if self._stop.is_set():
                return
            due = ended + max(self.refresh_seconds, took)
            if self._outcomes_at is not None:
                due = min(due, max(self._outcomes_at + self.settle_seconds, ended + took))
            left = due - time.monotonic()
            if left <= 0:
                return
            self._wake.wait(left)
