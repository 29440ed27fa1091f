"""Run a command and measure its whole process tree: wall time and the peak of the summed
resident memory of the command and every process it starts (Dask's scheduler, nanny and
worker processes included), sampled with psutil. A tree above `limit_gib` is stopped and
reported as out of memory, so that a size too big for the machine never takes it down.

Why sampling: ru_maxrss (benchmarks/_child.py) is one process's own peak; the peak of a sum
over processes that start and stop needs the sum at the same moments. Sampled every 0.2 s, a
peak shorter than that can be missed (a lower bound)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass

SAMPLE_S = 0.2


@dataclass
class TreeRun:
    command: list[str]
    exit_code: int | None  # None: stopped above the memory limit
    seconds: float
    peak_gib: float
    processes: int  # the most processes alive at once
    output: str  # stdout and stderr, the last 6,000 characters

    @property
    def out_of_memory(self) -> bool:
        return self.exit_code is None


def tree_rss(root) -> tuple[int, int]:
    """(bytes resident in `root` and all its descendants, how many processes)."""
    import psutil

    total, count = 0, 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
            count += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total, count


def run_tree(command: list[str], env: dict | None = None, limit_gib: float = 20.0) -> TreeRun:
    """Run `command` (its own process group) to its end, or until its tree holds more than
    `limit_gib` GiB (then the whole group is killed)."""
    import tempfile

    import psutil

    with tempfile.TemporaryFile("w+") as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True,
                                 env={**os.environ, **(env or {})}, start_new_session=True)
        root = psutil.Process(child.pid)
        peak, most, stopped = 0, 0, False
        try:
            while child.poll() is None:
                rss, count = tree_rss(root)
                peak, most = max(peak, rss), max(most, count)
                if rss > limit_gib * 2**30:
                    os.killpg(child.pid, signal.SIGKILL)
                    stopped = True
                    break
                time.sleep(SAMPLE_S)
        except BaseException:  # interrupted (Ctrl-C, or SIGTERM through stop_on_sigterm): no orphans
            os.killpg(child.pid, signal.SIGKILL)
            raise
        child.wait()
        seconds = time.perf_counter() - started
        output.seek(0)
        text = output.read()
    return TreeRun(command, None if stopped else child.returncode, seconds, peak / 2**30, most, text[-6000:])


def stop_on_sigterm() -> None:
    """SIGTERM (`timeout`, a scheduler) ends the benchmark as Ctrl-C does, so the command it runs
    (in its own process group) is stopped with it rather than left running."""
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} cores"
