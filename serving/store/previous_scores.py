"""Each lead's kept scores (its latest logged score and the one that replaced) for the trend of
a new score (serving.trend): one query for all the leads of a request or of a batch chunk, on
the primary key of `scored_inputs` (spec, lead_id).

The ids go in as one JSON array bound as a single parameter (SQLite: json_each; PostgreSQL:
json_array_elements_text), so a request of 10,000 leads is still one statement, below every
database's bound-parameter limit. SQLite in WAL mode lets it read while the score writer
writes.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from functools import lru_cache
from typing import Iterable

from pydantic_core import to_json
from sqlalchemy import JSON, String, bindparam, cast, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import Select

from serving.store.tables import scored_inputs
from serving.trend import KeptScores, Trend, trends_in_order

logger = logging.getLogger("leadscore.service")


def kept_scores(engine: Engine, spec: str, lead_ids: Iterable[str]) -> dict[str, KeptScores]:
    """lead id -> its kept scores under `spec`, for the leads among `lead_ids` that have a
    record. Raises what the database raises (SQLAlchemyError) when it cannot be read."""
    ids = list(dict.fromkeys(lead_ids))
    if not ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(_query(engine.dialect.name), {"spec": spec, "ids": to_json(ids).decode()}).all()
    return {row.lead_id: KeptScores(row.probability, row.scored_at, row.previous_probability, row.previous_scored_at)
            for row in rows}  # times naive UTC (tables.UtcDateTime)


@lru_cache(maxsize=None)
def _query(dialect: str) -> Select:
    """The query, built once per database kind: building a statement costs more than running
    this one for a lead (about 0.3 ms against 0.05 ms on SQLite)."""
    ids = bindparam("ids", type_=String)
    if dialect == "sqlite":
        wanted = func.json_each(ids).table_valued("value")
    else:
        wanted = func.json_array_elements_text(cast(ids, JSON)).table_valued("value")
    kept = scored_inputs.c
    return (select(kept.lead_id, kept.probability, kept.scored_at, kept.previous_probability,
                   kept.previous_scored_at)
            .where(kept.spec == bindparam("spec", type_=String), kept.lead_id.in_(select(wanted.c.value))))


class TrendReader:
    """The trends of a request's scores (serving.trend.trends_in_order) from the kept scores
    read at /score time, or None when the database cannot be read: the scores are answered
    anyway (trend null), the reason logged. After a failure the database is not asked again
    for PAUSE_SECONDS (the answers go on with trend null meanwhile), so a database that has
    gone away costs each request nothing, not a connection attempt (PostgreSQL: up to its
    connect timeout). Nothing is cached: each read is the database's current state, so several
    workers (each with its own reader) always see the scores the others logged."""

    PAUSE_SECONDS = 5.0

    def __init__(self, engine: Engine, spec: str, clock=time.monotonic):
        self.engine, self.spec = engine, spec
        self._clock = clock
        self._paused_until = 0.0

    def trends(self, lead_ids: list[str], probabilities: list[float], scored_at: datetime
               ) -> list[Trend | None] | None:
        """The trend of each score (made at `scored_at`, naive UTC), in order; None when the
        score log cannot be read now."""
        if self._clock() < self._paused_until:
            return None
        try:
            kept = kept_scores(self.engine, self.spec, lead_ids)
        except (SQLAlchemyError, OSError) as exc:
            self._paused_until = self._clock() + self.PAUSE_SECONDS
            logger.warning(
                "score: answered without trends: the score log could not be read (%s); not asked again for %.0f s",
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__, self.PAUSE_SECONDS)
            return None
        return trends_in_order(lead_ids, probabilities, scored_at, kept)
