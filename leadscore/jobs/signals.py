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
        raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
