"""The outcomes sales report back: one row per lead (won or lost, with the closing time).
Recording the same outcome again changes nothing; a different one replaces it and says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from serving.store.inserts import StoreInserts
from serving.store.tables import IN_CHUNK, ids_among, outcomes


@dataclass(frozen=True)
class Outcome:
    lead_id: str
    outcome: str  # won | lost
    closed_at: datetime  # naive UTC


class OutcomeStore:
    """Won or lost, per lead, as sales report it."""

    def __init__(self, engine: Engine, inserts: StoreInserts):
        self.engine = engine
        self.inserts = inserts
        self._update = (outcomes.update().where(outcomes.c.lead_id == bindparam("b_lead_id"))
                        .values(outcome=bindparam("outcome"), closed_at=bindparam("closed_at"),
                                updated_at=bindparam("updated_at")))

    def record_outcomes(self, items: Sequence[Outcome], now: datetime, attempts: int = 3) -> list[str]:
        """Store outcomes, one row per lead; returns per item "recorded" (new), "unchanged"
        (the same outcome and closing time again) or "updated" (a different one replaced it).
        All or nothing: one transaction. A later item for the same lead wins."""
        for attempt in range(attempts):
            try:
                return self._record(items, now)
            except IntegrityError:  # another worker inserted the same lead at the same moment
                if attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def _record(self, items: Sequence[Outcome], now: datetime) -> list[str]:
        statuses: list[str] = []
        with self.engine.begin() as conn:
            existing: dict[str, tuple[str, datetime]] = {}
            ids = list(dict.fromkeys(item.lead_id for item in items))
            for start in range(0, len(ids), IN_CHUNK):
                chunk = ids[start:start + IN_CHUNK]
                for row in conn.execute(select(outcomes.c.lead_id, outcomes.c.outcome, outcomes.c.closed_at)
                                        .where(outcomes.c.lead_id.in_(chunk))):
                    existing[row.lead_id] = (row.outcome, row.closed_at)
            inserts: dict[str, list] = {}
            updates: dict[str, dict] = {}
            for item in items:
                current = existing.get(item.lead_id)
                if current is None:
                    inserts[item.lead_id] = [item.lead_id, item.outcome, item.closed_at, now, now]
                    existing[item.lead_id] = (item.outcome, item.closed_at)
                    statuses.append("recorded")
                elif current == (item.outcome, item.closed_at):
                    statuses.append("unchanged")
                else:
                    if item.lead_id in inserts:
                        inserts[item.lead_id][1:3] = [item.outcome, item.closed_at]
                    else:
                        updates[item.lead_id] = {"b_lead_id": item.lead_id, "outcome": item.outcome,
                                                 "closed_at": item.closed_at, "updated_at": now}
                    existing[item.lead_id] = (item.outcome, item.closed_at)
                    statuses.append("updated")
            if inserts:
                self.inserts.new_outcomes(conn, list(inserts.values()))
            if updates:
                conn.execute(self._update, list(updates.values()))
        return statuses

    def outcome_of(self, lead_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(outcomes).where(outcomes.c.lead_id == lead_id)).mappings().first()
        return dict(row) if row else None

    def recorded_among(self, lead_ids: list[str]) -> set[str]:
        """The ids among `lead_ids` (distinct) that have an outcome."""
        return ids_among(self.engine, outcomes.c.lead_id, lead_ids)
