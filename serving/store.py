"""The score log and the outcomes sales report back, in a SQL database (SQLAlchemy 2 Core).

Any SQLAlchemy URL works; the default is a SQLite file under data/, opened in WAL mode so
readers never block the writer. Tables are created on start.

The score log is written off the request path: `log_scores` appends rows to an in-memory
buffer and a background thread inserts them in batches every `flush_seconds`. The buffer is
bounded: past `max_buffered` rows the caller is asked to wait (`needs_room`) until the writer
has caught up, so memory stays bounded and no score goes unlogged. `close()` flushes what is
left (the service calls it on shutdown).

Outcomes are one row per lead (won or lost, with the closing time). Recording the same
outcome again changes nothing; a different one replaces it and says so.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import (Column, DateTime, Float, Index, Integer, MetaData, String, Table,
                        create_engine, event, func, select)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError, SQLAlchemyError

from pydantic_core import to_json

from features.errors import LeadscoreError

logger = logging.getLogger("leadscore.store")

ID_LENGTH = 1000
"""Longest lead id the tables hold (the API refuses longer ones)."""
IN_CHUNK = 500
"""Ids per `IN (...)` query: below every database's bound-parameter limit."""

metadata = MetaData()

score_log = Table(
    "score_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lead_id", String(ID_LENGTH), nullable=False),
    Column("scored_at", DateTime, nullable=False, doc="When the score was served (UTC)."),
    Column("probability", Float, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("model_version", String(64), nullable=False),
    Index("ix_score_log_scored_at", "scored_at"),
)
# The log only grows at its end (time order). Looking leads up goes through `scored_leads`,
# one row per lead: an index on the log's lead_id would take a random page write for every
# score of a lead scored again (benchmarks/score_log.py measures both layouts).
scored_leads = Table(
    "scored_leads", metadata,
    Column("lead_id", String(ID_LENGTH), primary_key=True),
    Column("first_scored_at", DateTime, nullable=False),
    Column("last_scored_at", DateTime, nullable=False),
)

outcomes = Table(
    "outcomes", metadata,
    Column("lead_id", String(ID_LENGTH), primary_key=True),
    Column("outcome", String(8), nullable=False, doc="won or lost"),
    Column("closed_at", DateTime, nullable=False, doc="When the deal was closed (UTC)."),
    Column("recorded_at", DateTime, nullable=False, doc="When the outcome was first reported."),
    Column("updated_at", DateTime, nullable=False, doc="When it last changed."),
)

OUTCOME_VALUES = ("won", "lost")
LOG_KEYS = ("lead_id", "scored_at", "probability", "stage", "model_version")
_JSON_FIELD = "json_extract(value, '$[{}]')"
_SQLITE_LOG_JSON = (
    "INSERT INTO score_log (lead_id, scored_at, probability, stage, model_version) SELECT "
    + ", ".join(_JSON_FIELD.format(i) for i in range(5)) + " FROM json_each(?)")
_SQLITE_MARK_SCORED_JSON = (
    "INSERT INTO scored_leads (lead_id, first_scored_at, last_scored_at) SELECT "
    + ", ".join(_JSON_FIELD.format(i) for i in (0, 1, 1)) + " FROM json_each(?) WHERE true "
    "ON CONFLICT (lead_id) DO UPDATE SET last_scored_at = excluded.last_scored_at")


class StoreError(LeadscoreError):
    """The database cannot be used (bad URL, unreachable, not writable)."""


@dataclass(frozen=True)
class Outcome:
    lead_id: str
    outcome: str  # won | lost
    closed_at: datetime  # naive UTC


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, a busy timeout and NORMAL sync."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - exercised via connect
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()
        else:
            engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(f"database URL {_safe(url)!r} cannot be used ({exc}); set "
                         "LEADSCORE_DATABASE_URL to a SQLAlchemy URL such as "
                         "sqlite:////abs/path/leadscore.db or postgresql+psycopg://...") from None
    return engine


def create_tables(engine: Engine, attempts: int = 5) -> None:
    """Create the tables if missing. Several workers may start at once: a race on creation
    is retried."""
    if engine.url.get_backend_name() == "sqlite" and engine.url.database:
        from pathlib import Path

        folder = Path(engine.url.database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder {folder} for the database ({exc.strerror}); "
                             "set LEADSCORE_DATABASE_URL or LEADSCORE_DATA_DIR to a writable place") from None
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            _upgrade(engine)
            return
        except (OperationalError, ProgrammingError, IntegrityError) as exc:
            if "already exists" in str(exc) and attempt < attempts - 1:
                time.sleep(0.05 * (attempt + 1))
                continue
            raise StoreError(f"could not create the tables in {_safe(str(engine.url))!r}: "
                             f"{exc.orig if hasattr(exc, 'orig') else exc}") from None


def _upgrade(engine: Engine) -> None:
    """A database written before `scored_leads` existed: fill it from the log once, and drop
    the log's old lead_id index (see scored_leads)."""
    try:
        with engine.begin() as conn:
            if conn.execute(select(scored_leads.c.lead_id).limit(1)).first() is not None:
                return
            if conn.execute(select(score_log.c.id).limit(1)).first() is None:
                return
            conn.execute(scored_leads.insert().from_select(
                ["lead_id", "first_scored_at", "last_scored_at"],
                select(score_log.c.lead_id, func.min(score_log.c.scored_at), func.max(score_log.c.scored_at))
                .group_by(score_log.c.lead_id)))
            if engine.dialect.name in ("sqlite", "postgresql"):
                conn.exec_driver_sql("DROP INDEX IF EXISTS ix_score_log_lead_id")
        logger.info("score log: scored_leads filled from the existing log")
    except IntegrityError:  # another worker filled it at the same moment
        return


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparseable URL is shown as given
        return url


class ScoreStore:
    """The score log (buffered, written in the background) and the outcomes."""

    def __init__(self, url: str, *, flush_seconds: float = 0.25, batch_rows: int = 5_000,
                 max_buffered: int = 100_000, background: bool = True):
        self.url = url
        self.engine = make_engine(url)
        try:
            create_tables(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"database {_safe(url)!r} is not usable: {exc}") from None
        self.flush_seconds = flush_seconds
        self.batch_rows = batch_rows
        self.max_buffered = max_buffered
        self._buffer: list[tuple] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._room = threading.Condition(self._lock)
        self._closed = False
        self._flush_lock = threading.Lock()  # one writer at a time
        self.rows_logged = 0
        self.last_error: str | None = None
        self._sqlite_json = False
        self._time_processor = None
        dialect = self.engine.dialect
        if dialect.name == "sqlite":
            self._time_processor = score_log.c.scored_at.type.dialect_impl(dialect).bind_processor(dialect)
            try:
                with self.engine.connect() as conn:
                    self._sqlite_json = conn.exec_driver_sql("SELECT json_extract('[7]', '$[0]')").scalar() == 7
            except SQLAlchemyError:  # a SQLite built without JSON: the portable statements
                self._sqlite_json = False
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="score-log-writer", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------------- score log
    def log_scores(self, rows: Iterable[tuple[str, float, str, str]], scored_at: datetime) -> None:
        """Queue (lead_id, probability, stage, model_version) rows for the score log."""
        batch = [(lead_id, scored_at, probability, stage, version)
                 for lead_id, probability, stage, version in rows]
        with self._lock:
            self._buffer.extend(batch)
            size = len(self._buffer)
        if size >= self.batch_rows:
            self._wake.set()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def needs_room(self) -> bool:
        """True when the buffer is over its bound: the caller should `wait_for_room()`."""
        return len(self._buffer) >= self.max_buffered

    def wait_for_room(self, timeout: float = 30.0) -> None:
        """Block until the buffer is below its bound (flushing it here if no writer runs)."""
        if self._thread is None or not self._thread.is_alive():
            self.flush()
            return
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._room:
            while len(self._buffer) >= self.max_buffered and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._room.wait(left)

    def flush(self) -> int:
        """Write every buffered row now; returns how many were written."""
        written = 0
        with self._flush_lock:
            while True:
                with self._lock:
                    rows, self._buffer = self._buffer[:self.batch_rows], self._buffer[self.batch_rows:]
                if not rows:
                    break
                try:
                    self._insert(rows)
                except SQLAlchemyError as exc:
                    with self._lock:  # put them back: nothing is lost on a transient failure
                        self._buffer[:0] = rows
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    logger.error("score log: could not write %d rows (%s); will retry", len(rows), exc)
                    raise
                written += len(rows)
                self.rows_logged += len(rows)
                self.last_error = None
                with self._room:
                    self._room.notify_all()
        return written

    def _insert(self, rows: Sequence[tuple]) -> None:
        with self.engine.begin() as conn:
            if self._sqlite_json:
                # SQLite: the rows go in as one JSON text that SQLite unpacks itself, in one
                # statement per table. Python's sqlite3 would otherwise bind every row while
                # holding the GIL and release it around every row's write, taking turns with
                # the thread that scores the next request.
                convert = self._time_processor
                stamps: dict[datetime, str] = {}
                params = []
                for lead_id, at, probability, stage, version in rows:
                    text = stamps.get(at)
                    if text is None:
                        text = stamps[at] = convert(at) if convert else str(at)
                    params.append((lead_id, text, probability, stage, version))
                payload = to_json(params).decode()
                conn.exec_driver_sql(_SQLITE_LOG_JSON, (payload,))
                conn.exec_driver_sql(_SQLITE_MARK_SCORED_JSON, (payload,))
            else:
                conn.execute(score_log.insert(), [dict(zip(LOG_KEYS, row)) for row in rows])
                self._mark_scored(conn, rows)

    def _mark_scored(self, conn, rows: Sequence[tuple]) -> None:
        """One row per lead in scored_leads: inserted the first time, its last time moved on."""
        latest: dict[str, datetime] = {}
        first: dict[str, datetime] = {}
        for lead_id, at, *_ in rows:
            first.setdefault(lead_id, at)
            latest[lead_id] = at
        params = [{"lead_id": k, "first_scored_at": first[k], "last_scored_at": v} for k, v in sorted(latest.items())]
        name = self.engine.dialect.name
        if name in ("sqlite", "postgresql"):
            if name == "sqlite":
                from sqlalchemy.dialects.sqlite import insert
            else:
                from sqlalchemy.dialects.postgresql import insert
            statement = insert(scored_leads)
            conn.execute(statement.on_conflict_do_update(
                index_elements=[scored_leads.c.lead_id],
                set_={"last_scored_at": statement.excluded.last_scored_at}), params)
            return
        known: set[str] = set()  # any other database: look up, then insert or update
        ids = [p["lead_id"] for p in params]
        for start in range(0, len(ids), IN_CHUNK):
            known.update(conn.execute(select(scored_leads.c.lead_id)
                                      .where(scored_leads.c.lead_id.in_(ids[start:start + IN_CHUNK]))).scalars())
        fresh = [p for p in params if p["lead_id"] not in known]
        if fresh:
            conn.execute(scored_leads.insert(), fresh)
        seen = [{"b_lead_id": p["lead_id"], "last_scored_at": p["last_scored_at"]} for p in params
                if p["lead_id"] in known]
        if seen:
            from sqlalchemy import bindparam

            conn.execute(scored_leads.update().where(scored_leads.c.lead_id == bindparam("b_lead_id"))
                         .values(last_scored_at=bindparam("last_scored_at")), seen)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            if self._buffer:
                try:
                    self.flush()
                except SQLAlchemyError:
                    time.sleep(min(5.0, self.flush_seconds * 4))
                except Exception as exc:  # noqa: BLE001 - rows no database can take: the writer lives on
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    logger.exception("score log: a batch could not be written and was dropped")

    @property
    def healthy(self) -> bool:
        writer_ok = self._thread is None or self._thread.is_alive() or self._closed
        return writer_ok and self.last_error is None

    def close(self) -> None:
        """Stop the writer and flush what is left."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.flush()
        except SQLAlchemyError:
            logger.error("score log: %d rows could not be written at shutdown", len(self._buffer))
        with self._room:
            self._room.notify_all()
        self.engine.dispose()

    # ------------------------------------------------------------------------- reading
    def scores_of(self, lead_id: str) -> list[dict]:
        """Every logged score of one lead, oldest first (flushes the buffer first)."""
        self.flush()
        with self.engine.connect() as conn:
            rows = conn.execute(select(score_log).where(score_log.c.lead_id == lead_id)
                                .order_by(score_log.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def count_scores(self) -> int:
        self.flush()
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(score_log)).scalar_one())

    def known_leads(self, lead_ids: Iterable[str]) -> set[str]:
        """The ids among `lead_ids` that were ever scored (flushes the buffer first)."""
        self.flush()
        wanted = list(dict.fromkeys(lead_ids))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), IN_CHUNK):
                chunk = wanted[start:start + IN_CHUNK]
                found.update(conn.execute(select(scored_leads.c.lead_id)
                                          .where(scored_leads.c.lead_id.in_(chunk))).scalars())
                found.update(conn.execute(select(outcomes.c.lead_id).where(outcomes.c.lead_id.in_(chunk))).scalars())
        return found

    def outcome_of(self, lead_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(outcomes).where(outcomes.c.lead_id == lead_id)).mappings().first()
        return dict(row) if row else None

    # ------------------------------------------------------------------------- outcomes
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
            inserts: dict[str, dict] = {}
            updates: dict[str, dict] = {}
            for item in items:
                current = existing.get(item.lead_id)
                if current is None:
                    inserts[item.lead_id] = {"lead_id": item.lead_id, "outcome": item.outcome,
                                             "closed_at": item.closed_at, "recorded_at": now, "updated_at": now}
                    existing[item.lead_id] = (item.outcome, item.closed_at)
                    statuses.append("recorded")
                elif current == (item.outcome, item.closed_at):
                    statuses.append("unchanged")
                else:
                    if item.lead_id in inserts:
                        inserts[item.lead_id].update(outcome=item.outcome, closed_at=item.closed_at)
                    else:
                        updates[item.lead_id] = {"b_lead_id": item.lead_id, "outcome": item.outcome,
                                                 "closed_at": item.closed_at, "updated_at": now}
                    existing[item.lead_id] = (item.outcome, item.closed_at)
                    statuses.append("updated")
            if inserts:
                conn.execute(outcomes.insert(), list(inserts.values()))
            if updates:
                from sqlalchemy import bindparam

                conn.execute(outcomes.update().where(outcomes.c.lead_id == bindparam("b_lead_id"))
                             .values(outcome=bindparam("outcome"), closed_at=bindparam("closed_at"),
                                     updated_at=bindparam("updated_at")),
                             list(updates.values()))
        return statuses
