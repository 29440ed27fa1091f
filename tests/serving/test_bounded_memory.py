"""A worker's memory stays bounded when several large requests arrive at once: the bodies it
takes together are limited (LEADSCORE_MAX_BYTES_IN_FLIGHT, serving.guard); the others are
answered 503 with Retry-After, and the worker keeps serving. Against a real `leadscore serve`
worker process, its peak memory read from the kernel (VmHWM)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import httpx
import psutil
import pytest

from tests.serving.live_service import live_service

LEADS = 10_000
ACTIVITIES = 70
CONCURRENT = 4
MAX_WORKER_MEMORY = 1024 ** 3


def large_body() -> bytes:
    """About 50 MB of valid JSON: 10,000 leads (the most one request may hold) with 70
    activities each, every time different."""
    leads = [{"lead_id": f"big-{i}", "industry": "Software", "company_size": "51-200",
              "activities": [{"occurred_at": f"2026-03-{1 + j % 28:02d}T{j % 24:02d}:{i % 60:02d}:{i // 60 % 60:02d}Z",
                              "activity_type": "pricing_view"} for j in range(ACTIVITIES)]}
             for i in range(LEADS)]
    return json.dumps({"leads": leads, "as_of": "2026-04-01T00:00:00Z"}).encode()


def peak_memory(pid: int) -> int:
    """The most resident memory the process has had, in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


@pytest.mark.slow
def test_four_concurrent_50_mb_bodies_keep_a_worker_under_1_gib(bundle_dir, tmp_path):
    body = large_body()
    assert 45e6 < len(body) < 64 * 1024 * 1024, len(body)  # under the default body limit: all may be taken
    with live_service(bundle_dir, tmp_path) as (base, process):
        workers = [p for p in psutil.Process(process.pid).children(recursive=True)
                   if "_bentoml_impl.worker.service" in p.cmdline()]
        assert len(workers) == 1, workers
        answers: list[httpx.Response | Exception] = []

        def post() -> None:
            try:
                answers.append(httpx.post(f"{base}/score", content=body, timeout=300,
                                          headers={"content-type": "application/json"}))
            except httpx.HTTPError as exc:
                answers.append(exc)

        threads = [threading.Thread(target=post) for _ in range(CONCURRENT)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        peak = peak_memory(workers[0].pid)

        statuses = [a.status_code if isinstance(a, httpx.Response) else repr(a) for a in answers]
        print(f"answers {statuses}; the worker's memory peaked at {peak / 2**20:,.0f} MiB")
        assert set(statuses) <= {200, 413, 503} and 200 in statuses, statuses
        for answer in answers:
            if answer.status_code == 503:
                assert int(answer.headers["retry-after"]) >= 1
                assert "LEADSCORE_MAX_BYTES_IN_FLIGHT" in answer.json()["error"]
        assert peak < MAX_WORKER_MEMORY, f"the worker's memory peaked at {peak / 2**20:,.0f} MiB"
        # The bytes were given back: the worker takes a large body again, and answers the rest.
        again = httpx.post(f"{base}/score", content=body, timeout=300, headers={"content-type": "application/json"})
        assert again.status_code == 200, again.text[:300]
        assert len(again.json()["scores"]) == LEADS
        assert httpx.get(f"{base}/livez", timeout=10).status_code == 200
