"""/metrics stays small however many different paths are requested: BentoML's request metrics
are labelled by the route that answered, and every unknown path shares one label
(serving.metrics_labels). In-process: `to_asgi()` is the app each worker serves, with the same
middlewares (BentoML's metrics middleware outermost)."""

from __future__ import annotations

import random
import re

from tests.serving.conftest import running_service

RANDOM_PATHS = 1_000  # /metrics is 22 kB for the few routes here; a label per path would add a request
# count and histogram per path (3.4 kB for /stages: 3.4 MB in all) and put digits in labels (checked below)
MAX_METRICS_BYTES = 1_000_000


def _endpoints(metrics: str) -> set[str]:
    return set(re.findall(r'bentoml_service_request_total\{[^}]*endpoint="([^"]*)"', metrics))


def test_metrics_stay_small_after_a_thousand_random_paths(bundle_dir, tmp_path):
    rng = random.Random(13)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_"
    with running_service(bundle_dir, f"sqlite:///{tmp_path / 'leadscore.db'}") as client:
        assert client.get("/stages").status_code == 200
        assert client.get("/ui/static/plotly.min.js").status_code == 200
        for i in range(RANDOM_PATHS):
            word = "".join(rng.choices(alphabet, k=rng.randint(1, 24)))
            path = rng.choice([f"/{word}", f"/ui/{word}", f"/ui/static/{word}", f"/{word}/{i}", f"/score/{word}"])
            assert client.get(path).status_code < 500, path
        metrics = client.get("/metrics").text

    print(f"/metrics is {len(metrics.encode()):,} bytes after {RANDOM_PATHS:,} random paths")
    assert len(metrics.encode()) < MAX_METRICS_BYTES, f"/metrics is {len(metrics.encode()):,} bytes"
    endpoints = _endpoints(metrics)
    assert {"/stages", "/ui/static/{path}", "<unknown>"} <= endpoints, endpoints
    assert not any(re.search(r"\d", endpoint) for endpoint in endpoints), endpoints  # no random path as a label
