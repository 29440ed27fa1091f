"""The framework's floor for benchmarks/serving.py: a BentoML service whose POST /score reads
the same body as the real one (pydantic parses it) and answers a constant, with the same
BentoML settings and the same garbage-collector tuning (LEADSCORE_GC) as serving.service; LEADSCORE_GC=off
(collector disabled) is offered here only, as a reference.

    bentoml serve benchmarks.noop_service:NoopService --port 3999   (from the project root)
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import bentoml
from pydantic import BaseModel, ConfigDict

from serving.runtime import fix_bentoml_request_timers, tune_gc


class ScoreRequest(BaseModel):  # the shape of serving.schema.ScoreRequest, without its imports
    model_config = ConfigDict(extra="forbid")

    leads: list[dict[str, Any]] | None = None
    lead: dict[str, Any] | None = None
    as_of: datetime | None = None
    reasons: int = 5


ANSWER = {"model_version": "noop", "as_of": "2026-01-01T00:00:00Z", "scores": []}


@bentoml.service(workers=1, traffic={"timeout": 300}, http={"cors": {"enabled": False}})
class NoopService:
    def __init__(self) -> None:
        mode = os.environ.get("LEADSCORE_GC", "tuned")
        if mode == "off":  # reference only: no cyclic collection at all (memory is not bounded)
            import gc

            gc.disable()
            self.gc = {"gc": "off"}
        else:
            self.gc = tune_gc(mode)

    @bentoml.api(route="/score", input_spec=ScoreRequest)
    async def score(self, **request: Any) -> dict:
        return ANSWER


if os.environ.get("LEADSCORE_BENTOML_TIMERS", "fixed") == "fixed":  # "stock": BentoML as shipped
    fix_bentoml_request_timers()
