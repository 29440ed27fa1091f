"""The one way rows go into the store, on both databases it runs on (SQLite, PostgreSQL).

A batch travels as JSON text, an array of rows in the table's column order, that the
database unpacks itself (SQLite `json_each`, PostgreSQL `json_array_elements`): one
`INSERT ... SELECT` per table and text, a text of up to ROWS_PER_TEXT rows (`json_texts`). `scored_leads` is
filled from the same text by the upsert both databases share (`ON CONFLICT (lead_id) DO
UPDATE`), grouped by lead first: PostgreSQL refuses to upsert one key twice in a statement,
and in id order the upsert walks the index in order (SQLite, 1,000 new random ids into
300,000 known leads: 11 ms against 22 ms in arrival order; the same 1,000 leads again: 2.3 ms
against 1.4 ms). The upgrade of an old database fills `scored_leads` through the same upsert.
The lead queue's dimension values (`queue_dimensions`) are written with the records, in the same
transaction, by the same rule as scored_inputs: see `StoreInserts.scores`.

Why one JSON text rather than a row at a time (`executemany`): Python's sqlite3 binds every
row while holding the GIL and releases it around every row's write, so the writer thread and
the thread scoring the next request take turns thousands of times per flush. Measured on
SQLite with `benchmarks/score_log.py --only batches` (2 CPUs, other work running): 5,000 rows
take 24-27 ms as JSON against 70-73 ms through SQLAlchemy's executemany; beside a busy Python
thread 65 ms against 163-170 ms, that thread's longest stall 5-7 ms against 12 ms. For the
leads' records the unpacking is not what costs: 30,000 records of the batch benchmark's CRM
(1,155 characters each, `scored_inputs` upserted into a fresh database) took 1.38 s of CPU as
JSON, 1.25 s through sqlite3's executemany and 1.53 s through SQLAlchemy's (2026-12-03, beside
other work); writing the rows and their four indexes is the cost, on SQLite 3.40.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable, Iterator, Sequence

from pydantic_core import to_json
from sqlalchemy import (JSON, Column, DateTime, String, and_, bindparam, case, cast, delete, func, insert,
                        literal_column, select, true, tuple_)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import FromClause, Select

from serving.store.dimensions import record_dimensions
from serving.store.tables import (INPUT_KEYS, LOG_KEYS, OUTCOME_KEYS, UtcDateTime, outcomes,
                                  queue_dimension_columns, queue_dimensions, score_log, scored_inputs, scored_leads)

DATABASES = ("sqlite", "postgresql")
"""The databases the store runs on: both unpack JSON and share the upsert."""
ROWS_PER_TEXT = 10_000
"""Most rows one statement's JSON text carries; a larger batch takes several statements, in the
same transaction."""
TEXT_CHARS = 200_000_000
"""Most characters of one JSON text (at most 800 MB of UTF-8). Both databases refuse a longer
parameter: SQLite's SQLITE_MAX_LENGTH is 1,000,000,000 bytes, PostgreSQL's text 1 GB. Measured:
`leadscore score` on 1,000,000 demo leads with their activities made a 1,343,963,950-character
text of their records, and SQLite answered "string or blob too big" (benchmarks/batch_score.py)."""


def json_texts(as_json: Callable[[Sequence], str], rows: Sequence) -> Iterator[str]:
    """`rows` as consecutive JSON texts (`as_json`, e.g. a RowsAsJson) of at most ROWS_PER_TEXT
    rows and TEXT_CHARS characters each: a slice whose text is longer is halved until it fits
    (or holds one row, which goes as it is and is the database's to refuse)."""
    rows = rows if isinstance(rows, (list, tuple)) else list(rows)
    for start in range(0, len(rows), ROWS_PER_TEXT):
        yield from _fitting(as_json, rows[start:start + ROWS_PER_TEXT])


def _fitting(as_json: Callable[[Sequence], str], rows: Sequence) -> Iterator[str]:
    text = as_json(rows)
    if len(text) <= TEXT_CHARS or len(rows) <= 1:
        yield text
        return
    half = len(rows) // 2
    yield from _fitting(as_json, rows[:half])
    yield from _fitting(as_json, rows[half:])


def json_rows(dialect: Dialect, columns: Sequence[Column]) -> Select:
    """The rows of the JSON parameter `rows` (an array of arrays), one field per column of
    `columns` in order, named and typed like them."""
    payload = bindparam("rows", type_=String())
    if dialect.name == "sqlite":  # the text as SQLAlchemy stores it; the column's affinity does the rest
        each = func.json_each(payload).table_valued("value")
        fields = [func.json_extract(each.c.value, literal_column(f"'$[{i}]'")).label(column.name)
                  for i, column in enumerate(columns)]
    else:
        each = func.json_array_elements(cast(payload, JSON)).table_valued("value")
        texts = [each.c.value.op("->>")(literal_column(str(i))) for i in range(len(columns))]
        fields = [(text if isinstance(column.type, String) else cast(text, column.type)).label(column.name)
                  for text, column in zip(texts, columns)]  # text stays text: too long is refused, not cut
    return select(*fields).select_from(each)


def dialect_insert(dialect: Dialect):
    """The database's INSERT construct (it has ON CONFLICT)."""
    if dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert


def upsert_scored_inputs(dialect: Dialect, rows: FromClause):
    """`scored_inputs` from rows of INPUT_KEYS (one per spec and lead): a lead's record and
    score are replaced by ones scored at the same time or later, never by older ones (a
    backfill). A later score keeps the one it replaces as previous_probability and
    previous_scored_at; one at the same time keeps the row's previous.

    A batch brings the latest of its scores per lead (serving.store.score_writer), with the
    one that replaced within the batch as its previous: that previous stands when it is as
    recent as the row (which the scores in between would have replaced one at a time), else the
    row is the one replaced."""
    statement = dialect_insert(dialect)(scored_inputs).from_select(
        list(INPUT_KEYS), select(*[rows.c[key] for key in INPUT_KEYS]).where(true()))
    excluded, kept = statement.excluded, scored_inputs.c  # in SET, `kept` is the row replaced
    later = excluded.scored_at > kept.scored_at
    batch_previous = and_(later, excluded.previous_scored_at >= kept.scored_at)
    return statement.on_conflict_do_update(
        index_elements=[kept.spec, kept.lead_id],
        set_={**{key: excluded[key] for key in INPUT_KEYS[2:] if not key.startswith("previous_")},
              "previous_probability": case((batch_previous, excluded.previous_probability),
                                           (later, kept.probability), else_=kept.previous_probability),
              "previous_scored_at": case((batch_previous, excluded.previous_scored_at),
                                         (later, kept.scored_at), else_=kept.previous_scored_at)},
        where=excluded.scored_at >= kept.scored_at)


def upsert_scored_leads(dialect: Dialect, scores: FromClause):
    """`scored_leads` from rows with a lead_id and a scored_at: a new lead gets its first and
    last time, a known one the earlier first and the later last of its own and the new ones."""
    upsert = dialect_insert(dialect)
    per_lead = (select(scores.c.lead_id, func.min(scores.c.scored_at), func.max(scores.c.scored_at))
                .where(true())  # SQLite: without a WHERE, ON CONFLICT would parse as a join's ON
                .group_by(scores.c.lead_id))
    statement = upsert(scored_leads).from_select(["lead_id", "first_scored_at", "last_scored_at"], per_lead)
    new = statement.excluded
    return statement.on_conflict_do_update(index_elements=[scored_leads.c.lead_id], set_={
        # scores may arrive out of time order (a backfill --as-of an earlier moment)
        "first_scored_at": case((new.first_scored_at < scored_leads.c.first_scored_at, new.first_scored_at),
                                else_=scored_leads.c.first_scored_at),
        "last_scored_at": case((new.last_scored_at > scored_leads.c.last_scored_at, new.last_scored_at),
                               else_=scored_leads.c.last_scored_at)})


def dimension_statements(dialect: Dialect) -> tuple:
    """(forget, keep) for rows (lead_id, its record's scored_at, dimension, value) of one spec
    (bound as `spec`): a lead's value in each listed dimension, None when its record has none.
    For each lead whose record in scored_inputs is now the row's (the same scored_at: the upsert
    took it), `forget` deletes the values its record has not, `keep` inserts the others or
    changes those that differ (an unchanged value is not written again). A record the upsert
    refused (a backfill older than the kept one) changes nothing."""
    columns = [scored_inputs.c.lead_id, scored_inputs.c.scored_at, queue_dimensions.c.dimension,
               queue_dimensions.c.value]
    rows = json_rows(dialect, columns).subquery("dimension_rows")
    spec = bindparam("spec", type_=String())
    kept, values = scored_inputs.c, queue_dimensions.c
    current = (select(kept.lead_id)
               .where(kept.spec == spec, kept.lead_id == rows.c.lead_id, kept.scored_at == rows.c.scored_at).exists())
    forget = delete(queue_dimensions).where(
        values.spec == spec,
        tuple_(values.lead_id, values.dimension).in_(
            select(rows.c.lead_id, rows.c.dimension).where(rows.c.value.is_(None), current)))
    statement = dialect_insert(dialect)(queue_dimensions).from_select(
        ["spec", "lead_id", "dimension", "value"],
        select(spec, rows.c.lead_id, rows.c.dimension, rows.c.value).where(rows.c.value.is_not(None), current))
    keep = statement.on_conflict_do_update(index_elements=[values.spec, values.lead_id, values.dimension],
                                           set_={"value": statement.excluded.value},
                                           where=values.value != statement.excluded.value)
    return forget, keep


def fill_dimensions(dialect: Dialect):
    """Insert rows of (lead_id, dimension, value) of one spec (bound as `spec`) that
    queue_dimensions lacks (serving.store.dimension_index: values of records kept before their
    column was listed; a value the writer wrote meanwhile is the same and stays)."""
    columns = [queue_dimensions.c.lead_id, queue_dimensions.c.dimension, queue_dimensions.c.value]
    rows = json_rows(dialect, columns).subquery("dimension_rows")
    return dialect_insert(dialect)(queue_dimensions).from_select(
        ["spec", "lead_id", "dimension", "value"],
        select(bindparam("spec", type_=String()), rows.c.lead_id, rows.c.dimension, rows.c.value)
        .where(true())).on_conflict_do_nothing()


class RowsAsJson:
    """Rows for some columns as the one JSON text `json_rows` unpacks. Times are written as
    the database reads them back: on SQLite in SQLAlchemy's storage format (converted once per
    distinct time: a request's rows share theirs), elsewhere in ISO 8601 with their zone, UTC."""

    def __init__(self, dialect: Dialect, columns: Sequence[Column]):
        self.times = [(i, convert) for i, column in enumerate(columns)
                      if isinstance(column.type, (DateTime, UtcDateTime))
                      and (convert := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None]

    def __call__(self, rows: Iterable[Sequence]) -> str:
        if not self.times:
            return to_json(list(rows)).decode()
        texts: dict[datetime, str] = {}
        converted = []
        for row in rows:
            row = list(row)
            for i, convert in self.times:
                at = row[i]
                text = texts.get(at)
                if text is None:
                    text = texts[at] = convert(at)
                row[i] = text
            converted.append(row)
        return to_json(converted).decode()


class StoreInserts:
    """The store's insert statements for one database, built once: the score log (with
    `scored_leads` from the same rows) and the outcomes."""

    def __init__(self, dialect: Dialect):
        if dialect.name not in DATABASES:
            raise ValueError(f"the store runs on SQLite or PostgreSQL, not {dialect.name}")
        log_columns = [score_log.c[key] for key in LOG_KEYS]
        self.score_rows = RowsAsJson(dialect, log_columns)
        self.log = insert(score_log).from_select(LOG_KEYS, json_rows(dialect, log_columns))
        self.mark_scored = upsert_scored_leads(dialect, json_rows(dialect, log_columns[:2]).subquery("scores"))
        input_columns = [scored_inputs.c[key] for key in INPUT_KEYS]
        self.input_rows = RowsAsJson(dialect, input_columns)
        self.inputs = upsert_scored_inputs(dialect, json_rows(dialect, input_columns).subquery("inputs"))
        self.dimension_rows = RowsAsJson(dialect, [scored_inputs.c.lead_id, scored_inputs.c.scored_at,
                                                   queue_dimensions.c.dimension, queue_dimensions.c.value])
        self.forget_dimensions, self.keep_dimensions = dimension_statements(dialect)
        outcome_columns = [outcomes.c[key] for key in OUTCOME_KEYS]
        self.outcome_rows = RowsAsJson(dialect, outcome_columns)
        self.outcomes = insert(outcomes).from_select(OUTCOME_KEYS, json_rows(dialect, outcome_columns))

    def scores(self, conn: Connection, rows: Sequence[tuple], inputs: Sequence[tuple] = (),
               before_records: Callable[[Connection], None] | None = None) -> None:
        """Log rows of LOG_KEYS (lead_id, scored_at, probability, stage, model_version, spec),
        mark their leads scored, and keep `inputs` (rows of INPUT_KEYS: spec, lead_id, scored_at,
        as_of, lead, activities, probability, stage, model_version, previous_probability,
        previous_scored_at; at most one per spec and lead) as the leads' latest records and
        scores (upsert_scored_inputs), with their values in the lead queue's dimensions
        (`dimensions`). `before_records(conn)` reads what it needs of the records before they
        are replaced, after the transaction's first write (on SQLite, under its write lock, so
        that no other process's batch commits between the read and the upsert)."""
        for text in json_texts(self.score_rows, rows):
            conn.execute(self.log, {"rows": text})
            conn.execute(self.mark_scored, {"rows": text})
        if before_records is not None:
            before_records(conn)
        if inputs:
            for text in json_texts(self.input_rows, inputs):
                conn.execute(self.inputs, {"rows": text})
            self.dimensions(conn, inputs)

    def dimensions(self, conn: Connection, inputs: Sequence[tuple]) -> None:
        """The dimension values (serving.store.dimensions) of `inputs` just upserted, in the
        columns listed for their specs, replacing those of the records they replaced
        (dimension_statements). The columns are read here, inside the transaction (after its
        first write, so on SQLite under its write lock): a column listed by another process
        (serving.store.dimension_index) is either seen here or filled there after this
        commits."""
        listed: dict[str, list[str]] = {}
        columns = queue_dimension_columns.c
        specs = sorted({row[0] for row in inputs})
        for spec, dimension in conn.execute(select(columns.spec, columns.dimension).where(columns.spec.in_(specs))):
            listed.setdefault(spec, []).append(dimension)
        for spec, dimensions in listed.items():
            rows = [(row[1], row[2], dimension, key) for row in inputs if row[0] == spec
                    for dimension, key in zip(dimensions, record_dimensions(row[4], dimensions))]
            for text in json_texts(self.dimension_rows, rows):
                payload = {"rows": text, "spec": spec}
                conn.execute(self.forget_dimensions, payload)
                conn.execute(self.keep_dimensions, payload)

    def new_outcomes(self, conn: Connection, rows: Sequence[tuple]) -> None:
        """Insert (lead_id, outcome, closed_at, recorded_at, updated_at) rows."""
        for text in json_texts(self.outcome_rows, rows):
            conn.execute(self.outcomes, {"rows": text})
