"""SIGTERM stops a registering command even when it lands inside an import, where Python
ignores an exception raised by a signal handler (leadscore.jobs.signals)."""

from __future__ import annotations

import signal
import time
from types import SimpleNamespace

import pytest

from leadscore.jobs.signals import sigterm_as_interrupt


def test_a_sigterm_inside_an_import_lock_callback_is_raised_just_after_it():
    inside_import = SimpleNamespace(f_code=SimpleNamespace(co_filename="<frozen importlib._bootstrap>"))
    with pytest.raises(KeyboardInterrupt, match="stopped by SIGTERM"):
        with sigterm_as_interrupt():
            handler = signal.getsignal(signal.SIGTERM)
            try:
                handler(signal.SIGTERM, inside_import)
            except KeyboardInterrupt:
                pytest.fail("raised inside the import, where Python would ignore it")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the stop comes again, in this ordinary frame
                time.sleep(0.01)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL  # the previous handlers are back


def test_a_sigterm_elsewhere_is_raised_at_once():
    with pytest.raises(KeyboardInterrupt, match="stopped by SIGTERM"):
        with sigterm_as_interrupt():
            signal.raise_signal(signal.SIGTERM)
