"""The score log, written off the request path.

`log_scores` appends rows to an in-memory buffer and a background thread inserts them in
batches every `flush_seconds` (or as soon as `batch_rows` are waiting). The buffer is
bounded: past `max_buffered` rows the caller is asked to wait (`needs_room`) until the writer
has caught up, so memory stays bounded and no score goes unlogged. A failed write puts the
rows back for the next try. `close()` flushes what is left (the service calls it on shutdown).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Iterable

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from serving.store.inserts import StoreInserts
from serving.store.tables import ids_among, score_log, scored_leads

logger = logging.getLogger("leadscore.store")

LOG_AHEAD = timedelta(minutes=5)
"""How far ahead of now a score may be logged as of (clock differences). The latest score of a
lead is the one the report judges: one dated ahead would stand for every real one made until
then, so the API and `leadscore score` refuse to log scores as of a later moment."""


def _latest_inputs(rows: list[tuple]) -> list[tuple]:
    """The scored_inputs rows (INPUT_KEYS) of buffered rows that carry a record: per spec and
    lead the latest scored (the last queued of equals), with the score it replaced here as its
    previous (a later one replaces and becomes the previous, one at the same time replaces and
    keeps the previous), as the upsert keeps against the table (one upsert may not touch a key
    twice; a backfill queued after a newer score must not replace it). A lead queued as the API
    read it is recorded here (its recorder in place of the activities). Sorted by spec and lead."""
    latest: dict[tuple, tuple] = {}
    for lead_id, scored_at, probability, stage, version, spec, as_of, lead, acts in rows:
        if lead is None:
            continue
        known = latest.get((spec, lead_id))
        if known is None:
            previous = (None, None)
        elif scored_at > known[2]:
            previous = (known[6], known[2])
        elif scored_at == known[2]:
            previous = known[9:]
        else:
            continue
        latest[(spec, lead_id)] = (spec, lead_id, scored_at, as_of, lead, acts, probability, stage, version,
                                   *previous)
    out = []
    for spec, lead_id, scored_at, as_of, lead, acts, *score in latest.values():
        if not isinstance(lead, str):
            try:
                lead, acts = acts.record(lead, int(pd.Timestamp(as_of).value))
            except Exception:  # noqa: BLE001 - the score is logged all the same; only its record is missing
                logger.exception("score log: the record of lead %r could not be made; its score is kept", lead_id)
                continue
        out.append((spec, lead_id, scored_at, as_of, lead, acts, *score))
    # in key order: the order PostgreSQL locks the records in, the one a dimension fill reads
    # them in (serving.store.dimension_index): the two never wait for each other in a circle
    out.sort(key=lambda row: (row[0], row[1]))
    return out


class ScoreLog:
    """Every score served: buffered, written in batches by a background thread."""

    def __init__(self, engine: Engine, inserts: StoreInserts, *, flush_seconds: float = 0.25,
                 batch_rows: int = 5_000, max_buffered: int = 100_000, background: bool = True):
        self.engine = engine
        self.inserts = inserts
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
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="score-log-writer", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------------- writing
    def log_scores(self, rows: Iterable[tuple[str, float, str, str]], scored_at: datetime, *,
                   spec: str | None = None, as_of: datetime | None = None,
                   inputs: Iterable | None = None, recorder=None) -> None:
        """Queue (lead_id, probability, stage, model_version) rows for the score log, scored by
        a model of the dataset spec `spec`. `inputs`, one per row: the lead's record
        (features.logged: lead JSON, activities JSON or None) as scored as of `as_of` (naive
        UTC; default scored_at), kept as its latest in `scored_inputs` (needs `spec`); or,
        with `recorder` (features.logged.LeadRecorder), the leads as the API read them, recorded
        by the writer off the request path (and only the last score of a lead in a batch)."""
        if inputs is None:
            batch = [(lead_id, scored_at, probability, stage, version, spec, None, None, None)
                     for lead_id, probability, stage, version in rows]
        else:
            if spec is None:
                raise ValueError("inputs are kept per dataset spec: pass spec")
            moment = as_of or scored_at
            if recorder is not None:
                batch = [(lead_id, scored_at, probability, stage, version, spec, moment, lead, recorder)
                         for (lead_id, probability, stage, version), lead in zip(rows, inputs, strict=True)]
            else:
                batch = [(lead_id, scored_at, probability, stage, version, spec, moment, lead, acts)
                         for (lead_id, probability, stage, version), (lead, acts) in zip(rows, inputs, strict=True)]
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
                    with self.engine.begin() as conn:
                        self.inserts.scores(conn, [row[:6] for row in rows], _latest_inputs(rows))
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

    def scored_among(self, lead_ids: list[str]) -> set[str]:
        """The ids among `lead_ids` (distinct) that were ever scored (flushes the buffer first)."""
        self.flush()
        return ids_among(self.engine, scored_leads.c.lead_id, lead_ids)
