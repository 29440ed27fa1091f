"""A real `leadscore serve` for the tests that need the worker process as users run it (its
memory, its OpenAPI document over HTTP): started on a free port, its output written to a file
(a pipe nobody reads would fill up and stop the server), stopped with SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

from tests.serving.test_serve_process import environment, free_port, leadscore_command, wait_until_ready


@contextmanager
def live_service(bundle_dir: Path, tmp_path: Path):
    """(base URL, process) of `leadscore serve --bundle bundle_dir`, ready."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with open(log, "w") as output:
        process = subprocess.Popen([*leadscore_command(), "serve", "--port", str(port), "--bundle", str(bundle_dir)],
                                   env=environment(tmp_path), stdout=output, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
    try:
        wait_until_ready(base, process, log)
        yield base, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
