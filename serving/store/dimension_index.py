"""Which columns the lead queue filters by, per spec, and the index of their values kept whole.

`index_dimensions(engine, spec, columns)` lists columns (the service lists its spec's
`report_by` when it starts) in `queue_dimension_columns`. From then on the score-log writer
keeps every listed column's values with each record it writes (serving.store.inserts), and
this fills in those of the records kept before, in batches of lead ids, then marks the
columns ready: the lead queue filters only by ready columns (serving.store.lead_queue).

Why here and not in the migration that made the table (0004): a database does not know which
columns a spec reports by; the service does, when it starts. A column once listed stays listed
(never dropped): workers of two releases may run side by side, and the older one's filters
must keep working; a column no longer reported by costs the writer one row per lead scored.

Safe beside the writer and other workers listing the same columns: each batch takes the
write lock first on SQLite (a no-op update of the columns' rows) and reads its records after,
so no record changes between reading it and writing its values; on PostgreSQL it reads them
FOR SHARE, waiting for a writer holding one to commit. A record replaced after its batch gets
its values from the writer, which sees the column listed. Values the writer already wrote are
the same and stay (ON CONFLICT DO NOTHING); a fill cut short is taken up again at the next
start. 1,000,000 records, 2 columns: 16.5 s (benchmarks/lead_queue.py); when every column is
ready, a few milliseconds.
"""

from __future__ import annotations

import logging
import time
from typing import Iterable

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from serving.store.dimensions import record_dimensions
from serving.store.inserts import RowsAsJson, dialect_insert, fill_dimensions
from serving.store.tables import DIMENSION_LENGTH, queue_dimension_columns, scored_inputs

logger = logging.getLogger("leadscore.store")

FILL_BATCH = 20_000
"""Records read and given their values per transaction."""


def index_dimensions(engine: Engine, spec: str, columns: Iterable[str], batch: int = FILL_BATCH) -> int:
    """List `columns` (spec column names) as dimensions of `spec`'s lead queue and give every
    record kept their values; returns how many records were read (0: every column was ready).
    ValueError for a name that is not text of 1 to DIMENSION_LENGTH characters."""
    columns = list(dict.fromkeys(columns))
    for column in columns:
        if not isinstance(column, str) or not 1 <= len(column) <= DIMENSION_LENGTH:
            raise ValueError(f"a dimension is a column name of 1 to {DIMENSION_LENGTH} characters, not {column!r}")
    if not columns:
        return 0
    listed = queue_dimension_columns.c
    with engine.begin() as conn:
        ready = dict(conn.execute(select(listed.dimension, listed.ready).where(listed.spec == spec)).all())
        new = [{"spec": spec, "dimension": column, "ready": False} for column in columns if column not in ready]
        if new:  # another worker may list them at the same moment
            conn.execute(dialect_insert(engine.dialect)(queue_dimension_columns).on_conflict_do_nothing(), new)
    filling = [column for column in columns if not ready.get(column)]
    if not filling:
        return 0
    started = time.perf_counter()
    fill, rows_as_json = fill_dimensions(engine.dialect), RowsAsJson(engine.dialect, [])
    after, read = None, 0
    while True:
        with engine.begin() as conn:
            records = _next_records(conn, spec, filling, after, batch)
            values = [(lead_id, column, key) for lead_id, lead in records
                      for column, key in zip(filling, record_dimensions(lead, filling)) if key is not None]
            if values:
                conn.execute(fill, {"rows": rows_as_json(values), "spec": spec})
        read += len(records)
        if len(records) < batch:
            break
        after = records[-1][0]
    with engine.begin() as conn:
        conn.execute(update(queue_dimension_columns)
                     .where(listed.spec == spec, listed.dimension.in_(filling)).values(ready=True))
    logger.info("store: the lead queue of %r filters by %s: %s records read in %.1f s", spec, ", ".join(filling),
                f"{read:,}", time.perf_counter() - started)
    return read


def _next_records(conn: Connection, spec: str, filling: list[str], after: str | None, batch: int) -> list[tuple]:
    """(lead_id, lead) of the next `batch` records of `spec` after the lead id `after`, read
    so that none changes before the transaction ends (the module's docstring)."""
    listed = queue_dimension_columns.c
    conn.execute(update(queue_dimension_columns)  # SQLite: the write lock, before reading
                 .where(listed.spec == spec, listed.dimension.in_(filling)).values(ready=listed.ready))
    kept = scored_inputs.c
    wanted = select(kept.lead_id, kept.lead).where(kept.spec == spec).order_by(kept.lead_id).limit(batch)
    if after is not None:
        wanted = wanted.where(kept.lead_id > after)
    return [tuple(row) for row in conn.execute(wanted.with_for_update(read=True))]


def indexed_dimensions(conn: Connection, spec: str) -> set[str]:
    """The columns the lead queue of `spec` filters by (listed and ready)."""
    listed = queue_dimension_columns.c
    return set(conn.execute(select(listed.dimension).where(listed.spec == spec, listed.ready.is_(True))).scalars())

