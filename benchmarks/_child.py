"""Run a piece of Python in a fresh child process; return its wall time, its own peak memory
and its last line of output (JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(code: str, *args: str, env: dict | None = None, live_stderr: bool = False) -> dict:
    """live_stderr: the child's standard error goes straight to this process's (lines it prints
    as it goes, e.g. each step as it finishes, show on a long run even if it is stopped)."""
    with tempfile.TemporaryDirectory(prefix="leadscore-bench-") as workdir:
        work = Path(workdir)
        argv = [sys.executable, "-c", code, *args]
        with open(work / "stdout", "w+") as stdout, open(work / "stderr", "w+") as stderr:
            started = time.perf_counter()
            child = subprocess.Popen(argv, stdout=stdout, stderr=None if live_stderr else stderr,
                                     env={**os.environ, **(env or {})})
            # wait4 reaps this child and returns its own rusage (RUSAGE_CHILDREN would give the
            # maximum over every child so far).
            try:
                _, status, usage = os.wait4(child.pid, 0)
            except BaseException:  # Ctrl-C, or SIGTERM through _tree.stop_on_sigterm: no orphan
                child.kill()  # (a stopped train_model.py left its training child running 55 min)
                child.wait()
                raise
            seconds = time.perf_counter() - started
            code_ = os.waitstatus_to_exitcode(status)
            stdout.seek(0)
            stderr.seek(0)
            output, errors = stdout.read(), stderr.read()
    if code_ != 0:
        sys.exit(f"benchmark child failed (exit {code_})" + ("" if live_stderr else f":\n{errors[-4000:]}"))
    result = json.loads(output.strip().splitlines()[-1])
    result["seconds"] = seconds
    result["peak_gib"] = usage.ru_maxrss * 1024 / 2**30  # ru_maxrss is in KiB on Linux
    return result


def demo_crm(folder: Path, n_leads: int, seed: int = 7, seasonality: float = 0.0) -> Path:
    """A generated demo CRM of n_leads, reused when it is already there."""
    if not (folder / "summary.json").exists():
        from leadscore.jobs.generate import run_generate

        run_generate(folder, n_leads, seed=seed, show_progress=False, print_summary=False, seasonality=seasonality)
    return folder
