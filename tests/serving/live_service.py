"""A real `leadscore serve` for the tests that need the worker process as users run it (its
memory, its OpenAPI document over HTTP): started on a free port, its output written to a file
(a pipe nobody reads would fill up and stop the server), stopped with SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.serving.test_serve_process import STARTUP_SECONDS, environment, free_port, leadscore_command


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
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"leadscore serve did not become ready:\n{log.read_text()[-5000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        yield base, process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
