"""Real servers for the tests that need the process as users run it: `leadscore serve` (its
memory, its OpenAPI document over HTTP), `bentoml serve` of a Bento, `mlflow models serve`.
Each is started on a free port with its output written to a file (a pipe nobody reads would
fill up and stop the server), waited for, and stopped with SIGTERM to its process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping

from tests.serving.test_serve_process import environment, free_port, leadscore_command, wait_until_ready


@contextmanager
def server_process(command: list[str], env: Mapping[str, str], log: Path, base: str, ready_path: str = "/readyz",
                   cwd: Path | None = None) -> Iterator[subprocess.Popen]:
    """The process running `command` (a server that will answer `base` + `ready_path` with 200),
    ready; its output in `log`. Stopped, with every process it started, on leaving."""
    with open(log, "w") as output:
        process = subprocess.Popen(command, env=dict(env), stdout=output, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True, cwd=cwd)
    try:
        wait_until_ready(base, process, log, path=ready_path)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def live_service(bundle_dir: Path, tmp_path: Path):
    """(base URL, process) of `leadscore serve --bundle bundle_dir`, ready."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with server_process([*leadscore_command(), "serve", "--port", str(port), "--bundle", str(bundle_dir)],
                        environment(tmp_path), tmp_path / "serve.log", base) as process:
        yield base, process
