"""Stopping a command that writes to the registry the way a person stops it."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM (sent by `timeout`, `docker stop`, systemd, Kubernetes) ends the
    work as Ctrl-C does: a KeyboardInterrupt unwinds it, so the MLflow run ends FAILED with the
    reason and a version registered on the way is removed. Python's default for SIGTERM ends the
    process at once, leaving the run RUNNING forever. Only in the main thread (where signals
    are delivered); the previous handler comes back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        if frame is not None and frame.f_code.co_filename.startswith("<frozen importlib"):
            # Inside an import's lock callback Python prints an exception and ignores it: the stop
            # was lost and the run went on to register (seen in CI, 2026-12-03). Asked again in
            # 50 ms (SIGALRM, this same handler), outside the import.
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            return
        raise KeyboardInterrupt("stopped by SIGTERM")

    previous = signal.signal(signal.SIGTERM, stop)
    previous_alarm = signal.signal(signal.SIGALRM, stop)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_alarm)
        signal.signal(signal.SIGTERM, previous)
