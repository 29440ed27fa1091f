"""The lead queue: the latest score of each logged lead of a spec, filtered and a page at a
time (newest scored first, or most ready to call first), with the lead's record and outcome;
and one lead's score history.

It reads `scored_inputs` (one row per spec and lead: the record and score as last scored, and
the score that one replaced), never the whole log, and never counts the matches: a page walks
the index of its order (newest: ix_scored_inputs_spec_scored_at; ready:
ix_scored_inputs_spec_probability, or ix_scored_inputs_spec_stage_probability within a stage)
until it has its rows plus one (is there a next page?). A filter that has an index of its own
and matches few leads (an id prefix; a score range in the newest order; dimension values,
through `queue_dimensions`) is read through that index and sorted instead. PostgreSQL's
planner makes that choice itself; SQLite's cannot know the counts, so it is told
(SORT_AT_MOST). Pages are numbered (an offset): a deep page walks further
(benchmarks/lead_queue.py: 1,000,000 leads). A record kept before scores were (probability
NULL) is not in the queue.

Matching rules, the same on SQLite and PostgreSQL:

* dimensions: the lead's value in the column (the spec's column name), as
  serving.store.dimensions reads it from its latest record, equals the filter's value read the
  same way (trimmed, case-folded, inner spaces collapsed); a blank value matches no lead. Only
  the columns indexed for the spec (serving.store.dimension_index: the service indexes its
  spec's report_by) can be filtered by; another is a ValueError;
* lead_id: ids starting with the text, case-sensitive, wildcards none (SQLite: a range on the
  primary key; PostgreSQL: LIKE, its wildcards escaped, which an index serves under the C
  collation);
* probabilities: inclusive bounds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, NamedTuple

from pydantic_core import to_json
from sqlalchemy import String, and_, bindparam, func, intersect, literal, or_, select, tuple_
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.sql import ColumnElement, Select, operators
from sqlalchemy.sql.elements import UnaryExpression

from serving.store.dimension_index import indexed_dimensions
from serving.store.dimensions import dimension_key
from serving.store.tables import outcomes, queue_dimensions, score_log, scored_inputs, scored_leads

PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
ORDER_KEYS = {"newest": ("scored_at", "lead_id"), "ready": ("probability", "lead_id")}
"""The queue's orders, every key descending: newest (last scored first) and ready (highest
probability first)."""
ORDERS = tuple(ORDER_KEYS)
HISTORY_LIMIT = 200
OUTCOME_FILTERS = (None, "open", "won", "lost")


@dataclass(frozen=True)
class QueueQuery:
    """One page of the queue of a spec (queue_page checks it: `check`)."""

    spec: str
    stage: str | None = None
    dimensions: Mapping[str, str] = field(default_factory=dict)
    """spec column name -> value the lead's must equal (serving.store.dimensions: trimmed, case
    aside); the columns indexed for the spec only (serving.store.dimension_index)"""
    min_probability: float | None = None
    max_probability: float | None = None
    lead_id: str | None = None
    """ids starting with this text (case-sensitive)"""
    order: str = "newest"
    page: int = 1
    page_size: int = PAGE_SIZE
    outcome: str | None = None
    """"open" (no outcome reported yet), "won", "lost", or None: all"""

    def check(self) -> None:
        """ValueError, saying what to send instead, when a field is out of range."""
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, not {self.order!r}")
        if not _whole(self.page) or self.page < 1:
            raise ValueError(f"page must be a whole number from 1, not {self.page!r}")
        if not _whole(self.page_size) or not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be a whole number from 1 to {MAX_PAGE_SIZE}, not {self.page_size!r}")
        for name in ("min_probability", "max_probability"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or math.isnan(value) or not 0 <= value <= 1):
                raise ValueError(f"{name} must be a number from 0 to 1 (or left out), not {value!r}")
        if (self.min_probability is not None and self.max_probability is not None
                and self.min_probability > self.max_probability):
            raise ValueError(f"min_probability ({self.min_probability}) is above max_probability "
                             f"({self.max_probability})")
        if self.outcome not in OUTCOME_FILTERS:
            raise ValueError(f"outcome must be one of {', '.join(map(str, OUTCOME_FILTERS))}, not {self.outcome!r}")
        for name, value in self.dimensions.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise ValueError(f"dimensions are column name -> text value, not {name!r} -> {value!r}")


@dataclass(frozen=True)
class QueueRow:
    """A lead as last scored under the spec, with its outcome if sales reported one. Times
    naive UTC."""

    lead_id: str
    scored_at: datetime
    as_of: datetime
    probability: float
    stage: str
    model_version: str
    previous_probability: float | None
    previous_scored_at: datetime | None
    lead: dict[str, Any]
    activities: list | None
    outcome: str | None
    closed_at: datetime | None


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    page: int
    page_size: int
    has_next: bool


class HistoryPoint(NamedTuple):
    scored_at: datetime
    probability: float
    stage: str
    model_version: str


def queue_page(engine: Engine, query: QueueQuery) -> QueuePage:
    """The query's page of the queue (the page after the last is empty). ValueError when the
    query is out of range (QueueQuery.check)."""
    if not isinstance(query, QueueQuery):
        raise TypeError(f"queue_page takes a QueueQuery, not {type(query).__name__}")
    query.check()
    keys = {name: dimension_key(value) for name, value in query.dimensions.items()}
    with engine.connect() as conn:
        if keys:
            _check_indexed(conn, query.spec, keys)
        if any(key is None for key in keys.values()):  # a blank value: no lead has it
            return QueuePage(rows=[], page=query.page, page_size=query.page_size, has_next=False)
        access = _sqlite_access(conn, query, keys) if engine.dialect.name == "sqlite" else None
        wanted = (select(*_ROW_COLUMNS)
                  .where(*_conditions(engine.dialect, query, keys, access))
                  .order_by(*_ordered(scored_inputs.c, query.order))
                  .limit(query.page_size + 1).offset((query.page - 1) * query.page_size))
        rows = _rows(conn, wanted, query.order)
    return QueuePage(rows=rows[:query.page_size], page=query.page, page_size=query.page_size,
                     has_next=len(rows) > query.page_size)


def _check_indexed(conn: Connection, spec: str, keys: Mapping[str, str | None]) -> None:
    """ValueError naming a column the queue of `spec` cannot filter by (not indexed)."""
    indexed = indexed_dimensions(conn, spec)
    for name in keys:
        if name not in indexed:
            known = ", ".join(sorted(indexed)) or "none"
            raise ValueError(f"the lead queue of {spec!r} cannot filter by {name!r}: it filters by the columns "
                             f"indexed for the spec ({known}); the service indexes the spec's report_by when it "
                             "starts (serving.store.index_dimensions)")


def latest_record(engine: Engine, spec: str, lead_id: str) -> QueueRow | None:
    """The lead as the queue shows it, or None when it is not in the spec's queue."""
    wanted = select(*_ROW_COLUMNS).where(*_queued(spec), scored_inputs.c.lead_id == lead_id)
    with engine.connect() as conn:
        rows = _rows(conn, wanted)
    return rows[0] if rows else None


def lead_history(engine: Engine, spec: str, lead_id: str, limit: int = HISTORY_LIMIT) -> list[HistoryPoint]:
    """The lead's last `limit` scores under `spec` (and those logged before specs were kept),
    oldest first, from the score log. The log has no lead_id index (serving.store.tables): the
    scan is bounded by the lead's first and last score (scored_leads) on the log's time index,
    so a lead scored over a long span reads the log of that span."""
    if not _whole(limit) or limit < 1:
        raise ValueError(f"limit must be a whole number from 1, not {limit!r}")
    log = score_log.c
    with engine.connect() as conn:
        span = conn.execute(select(scored_leads.c.first_scored_at, scored_leads.c.last_scored_at)
                            .where(scored_leads.c.lead_id == lead_id)).first()
        if span is None:
            return []
        rows = conn.execute(
            select(log.scored_at, log.probability, log.stage, log.model_version)
            .where(log.scored_at >= span.first_scored_at, log.scored_at <= span.last_scored_at,
                   log.lead_id == lead_id, or_(log.spec == spec, log.spec.is_(None)))
            .order_by(log.scored_at.desc(), log.id.desc()).limit(limit)).all()
    return [HistoryPoint(*row) for row in reversed(rows)]


# ----------------------------------------------------------------------------- the rules
def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _queued(spec: str, columns=scored_inputs.c) -> list[ColumnElement]:
    """The spec's leads in the queue: those with a score."""
    return [columns["spec"] == spec, columns["probability"].is_not(None)]


@dataclass(frozen=True)
class _Access:
    """SQLite: how a page reads the queue (`_sqlite_access`)."""

    indexed: frozenset[str]
    """the columns of scored_inputs whose indexes may serve the filters"""
    leads: str | None = None
    """the ids of the only leads that can match (a JSON array), looked up by the primary key"""


def _conditions(dialect: Dialect, query: QueueQuery, keys: Mapping[str, str] | None = None,
                access: _Access | None = None) -> list[ColumnElement]:
    """The query's filters, its dimension values read as `keys` (dimension_key); with
    `access` (SQLite), written so that only the indexes it chose serve them (`_sqlite_access`)."""
    def kept(name: str) -> ColumnElement:
        column = scored_inputs.c[name]
        return column if access is None or name in access.indexed else _unindexed(column)

    conditions = _queued(query.spec, {name: kept(name) for name in ("spec", "probability")})
    if query.stage is not None:
        conditions.append(kept("stage") == query.stage)
    if query.min_probability is not None:
        conditions.append(kept("probability") >= float(query.min_probability))
    if query.max_probability is not None:
        conditions.append(kept("probability") <= float(query.max_probability))
    if query.lead_id:
        conditions.append(id_starts_with(dialect, kept("lead_id"), query.lead_id))
    if query.outcome is not None:  # one primary-key lookup of the outcomes per lead looked at
        reported = select(outcomes.c.lead_id).where(outcomes.c.lead_id == scored_inputs.c.lead_id)
        conditions.append(~reported.exists() if query.outcome == "open"
                          else reported.where(outcomes.c.outcome == query.outcome).exists())
    keys = dict(keys) if keys is not None else {name: dimension_key(v) for name, v in query.dimensions.items()}
    conditions += [_has_value(query.spec, name, key) for name, key in keys.items()]
    if access is not None and access.leads is not None:  # (lead_id, spec): the primary key serves it alone
        ids = func.json_each(bindparam("leads", access.leads, type_=String)).table_valued("value")
        conditions.append(tuple_(scored_inputs.c.lead_id, scored_inputs.c.spec)
                          .in_(select(ids.c.value, literal(query.spec))))
    return conditions


def _has_value(spec: str, name: str, key: str) -> ColumnElement:
    """The lead has the value `key` in the dimension `name` (one index entry)."""
    values = queue_dimensions.alias()
    return (select(values.c.lead_id)
            .where(values.c.spec == spec, values.c.dimension == name, values.c.value == key,
                   values.c.lead_id == scored_inputs.c.lead_id).exists())


def _leads_with(spec: str, keys: Mapping[str, str]) -> Select:
    """The ids of the leads with every dimension value of `keys`, in id order: the values'
    index entries (each in id order) merged (SQLite: INTERSECT with ORDER BY merges)."""
    values = queue_dimensions.c
    each = [select(values.lead_id).where(values.spec == spec, values.dimension == name, values.value == key)
            for name, key in keys.items()]
    return (intersect(*each) if len(each) > 1 else each[0]).order_by(values.lead_id)


def _unindexed(column: ColumnElement) -> ColumnElement:
    """The column as SQLite reads it and no index serves (unary +: the value unchanged)."""
    return UnaryExpression(column, operator=operators.custom_op("+"), type_=column.type)


SORT_AT_MOST = 10_000
"""SQLite: a filter with an index of its own (an id prefix; a score range in the newest order;
dimension values) is read through it, its matches sorted, when they are fewer than this; else
the page walks the index of its order (SQLite knows neither count without asking: it is asked,
up to this, through the filter's index alone). Page 1 of 1,000,000 leads
(benchmarks/lead_queue.py' store): sorting costs about 7 us a match (250 matches 2.6 ms, 3,900
29 ms, 62,000 378 ms); walking about 2 us an entry walked, 50 / share matching (250 matches
24-190 ms, 3,900 6 ms, 62,000 2 ms). Up to 10,000 matches sorted take at most about 70 ms; more
are dense enough to walk to. Dimension values are matched through their index entries, in id
order, merged when there are several (about 0.15 us an entry: two values of 340,000 and
240,000 leads that no lead has both of, 70-110 ms), and the leads found looked up by id."""


def _sqlite_access(conn: Connection, query: QueueQuery, keys: Mapping[str, str]) -> _Access:
    """How a page reads the queue on SQLite: through the index of its order (spec; the stage
    and the probability in the ready order), or through the index of the filter that matches
    fewest leads when they are fewer than SORT_AT_MOST."""
    order = frozenset({"spec", "stage", "probability"} if query.order == "ready" else {"spec"})
    narrow = []
    if query.lead_id:
        narrow.append(frozenset({"spec", "lead_id"}))
    if query.order == "newest" and (query.min_probability is not None or query.max_probability is not None):
        narrow.append(frozenset({"spec", "stage", "probability"}))
    best, fewest = _Access(order), SORT_AT_MOST
    for columns in narrow:
        probe = _conditions(conn.dialect, _only(query, columns), {}, _Access(columns))
        found = conn.execute(select(func.count()).select_from(
            select(scored_inputs.c.spec).where(*probe).limit(SORT_AT_MOST).subquery())).scalar_one()
        if found < fewest:
            best, fewest = _Access(columns), found
    if keys:
        leads = conn.execute(_leads_with(query.spec, keys).limit(SORT_AT_MOST)).scalars().all()
        if len(leads) < fewest:
            best = _Access(frozenset(), to_json(leads).decode())
    return best


def _only(query: QueueQuery, columns: frozenset[str]) -> QueueQuery:
    """The query's filters on `columns` alone."""
    probability = "probability" in columns
    return QueueQuery(spec=query.spec, stage=query.stage if "stage" in columns else None,
                      lead_id=query.lead_id if "lead_id" in columns else None,
                      min_probability=query.min_probability if probability else None,
                      max_probability=query.max_probability if probability else None)


def id_starts_with(dialect: Dialect, column: ColumnElement, prefix: str) -> ColumnElement:
    """`column` starts with `prefix`, case-sensitive, in a form the column's index serves."""
    if dialect.name == "sqlite":  # text compares by its UTF-8 bytes: code point order
        upper = _after_prefix(prefix)
        return column >= prefix if upper is None else and_(column >= prefix, column < upper)
    return column.startswith(prefix, autoescape=True)


def _after_prefix(prefix: str) -> str | None:
    """The least text above every text starting with `prefix` (None: there is none)."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if 0xD800 <= last <= 0xDFFF:  # surrogates are not text
            last = 0xE000
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


# ----------------------------------------------------------------------------- reading rows
_ROW_COLUMNS = [scored_inputs.c[name] for name in (
    "lead_id", "scored_at", "as_of", "probability", "stage", "model_version", "previous_probability",
    "previous_scored_at", "lead", "activities")]


def _ordered(columns, order: str | None) -> list[ColumnElement]:
    """ORDER BY terms of the queue's `order` (every key descending) over `columns`."""
    return [columns[key].desc() for key in ORDER_KEYS[order]] if order else []


def _rows(conn: Connection, wanted: Select, order: str | None = None) -> list[QueueRow]:
    """The rows of `wanted` (the queue's columns, in `order`) with their outcomes, joined to
    the page only (not to every row a page walks past)."""
    page = wanted.subquery("page")
    joined = (select(page, outcomes.c.outcome, outcomes.c.closed_at)
              .select_from(page.outerjoin(outcomes, outcomes.c.lead_id == page.c.lead_id))
              .order_by(*_ordered(page.c, order)))
    found = conn.execute(joined).all()
    return [QueueRow(lead_id=r.lead_id, scored_at=r.scored_at, as_of=r.as_of, probability=r.probability,
                     stage=r.stage, model_version=r.model_version, previous_probability=r.previous_probability,
                     previous_scored_at=r.previous_scored_at, lead=json.loads(r.lead),
                     activities=None if r.activities is None else json.loads(r.activities),
                     outcome=r.outcome, closed_at=r.closed_at) for r in found]
