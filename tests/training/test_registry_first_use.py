"""Commands started at the same moment on a models folder without a store (two `leadscore
train` in parallel CI jobs) all work, and leave a store every later command can use."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRST_USE = """
import sys, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from training.registry import Registry
import mlflow  # imported before the start line, so the processes reach the store together
folder, start = Path(sys.argv[2]), float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
registry = Registry(f"sqlite:///{folder}/mlflow.db", folder / "artifacts", "leadscore-demo-crm")
print(registry.experiment_id("leadscore"))
"""


def _start_together(folder: Path, processes: int) -> list[subprocess.CompletedProcess]:
    start = time.time() + 12  # after every process has imported MLflow (about 3 s each, 2 cores)
    running = [subprocess.Popen([sys.executable, "-c", FIRST_USE, str(ROOT), str(folder), str(start)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=240), *p.communicate()) for p in running]


def test_processes_opening_a_new_store_at_once_all_succeed_and_leave_it_usable(tmp_path):
    together = _start_together(tmp_path, 3)
    for finished in together:
        assert finished.returncode == 0, finished.stderr[-3000:]
    # one experiment, made by whichever came first and found by the others
    assert len({finished.stdout.strip() for finished in together}) == 1
    later = _start_together(tmp_path, 1)[0]
    assert later.returncode == 0, later.stderr[-3000:]
    assert later.stdout.strip() == together[0].stdout.strip()
