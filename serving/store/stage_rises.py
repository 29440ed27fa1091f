"""Which scores raise a lead's stage: read by the score-log writer in the transaction that logs
them, from the lead's latest record (`scored_inputs`, one indexed read per batch, by primary key)
after the transaction's first write and before the batch replaces the records, so the previous
stage is the one logged before, whichever worker or process logged it. On SQLite the read is
under the write lock: no other batch commits in between. On PostgreSQL (read committed) two
workers logging a score of the same lead at the same instant may both see the older stage and
both tell: a receiver drops repeats by lead and stage.

A rise is a score whose stage is one of the watched stages (MQL, SQL) and ranks above the
lead's previous logged stage: "not yet" < MQL < SQL. A lead's first score counts as a rise from
nothing when its stage is watched. A score older than the lead's latest record (a backfill
dated before it) is never a rise: it does not change where the lead stands. Several scores of
one lead in one batch are taken in time order, each against the one before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.engine import Connection

from features.bundle import STAGE_MQL, STAGE_NONE, STAGE_SQL
from serving.store.tables import IN_CHUNK, scored_inputs

STAGE_RANK = {STAGE_NONE: 0, STAGE_MQL: 1, STAGE_SQL: 2}
"""How ready each stage says a lead is: a rise goes up this order."""


def stage_rank(stage: str | None) -> int:
    """-1 for no stage at all (never scored), else the stage's place in STAGE_RANK."""
    return -1 if stage is None else STAGE_RANK.get(stage, 0)


def logged_stages(conn: Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str | None, datetime]]:
    """(spec, lead id) -> (stage, scored_at) of each lead's latest record, for those that have one."""
    by_spec: dict[str, list[str]] = {}
    for spec, lead_id in keys:
        by_spec.setdefault(spec, []).append(lead_id)
    out = {}
    t = scored_inputs.c
    for spec, ids in by_spec.items():
        for start in range(0, len(ids), IN_CHUNK):
            query = select(t.lead_id, t.stage, t.scored_at).where(t.spec == spec, t.lead_id.in_(ids[start:start + IN_CHUNK]))
            for lead_id, stage, scored_at in conn.execute(query):
                out[(spec, lead_id)] = (stage, scored_at)
    return out


def stage_rises(conn: Connection, rows: list[tuple], watched: dict[tuple[str, str, datetime], Any],
                stages: frozenset[str] = frozenset((STAGE_MQL, STAGE_SQL))) -> list[tuple[tuple, str | None, Any]]:
    """The rises into one of `stages` among score rows about to be logged (lead_id, scored_at,
    probability, stage, model_version, spec, ...), in time order: (row, previous stage or None,
    what `watched` holds for it). `watched`: (spec, lead id, scored_at) -> what the caller keeps
    for a score in a watched stage (the answer's reasons); the leads of no such score are not read."""
    if not watched:
        return []
    leads = {(spec, lead_id) for spec, lead_id, _ in watched}
    logged = logged_stages(conn, leads)
    # Copies of one lead at one moment (a lead sent twice in a request) are one score to the log,
    # which keeps the last: only that one can be a rise.
    kept = {(r[5], r[0], r[1]): r for r in rows if (r[5], r[0]) in leads}
    out = []
    for row in sorted(kept.values(), key=lambda r: r[1]):
        key = (row[5], row[0])
        before = logged.get(key)
        if before is not None and before[1] is not None and before[1] > row[1]:
            continue  # dated before the lead's latest score: not where it stands now
        previous = before[0] if before is not None else None
        if row[3] in stages and stage_rank(row[3]) > stage_rank(previous):
            out.append((row, previous, watched.get((row[5], row[0], row[1]), {})))
        logged[key] = (row[3], row[1])
    return out
