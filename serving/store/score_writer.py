"""The score log: every score served, durable before its request is answered.

`log_scores` queues a request's rows and returns a `Receipt`; a background thread writes what
is queued in one transaction and settles the receipts of the rows it held. The service answers
a request only once its receipt is settled (`Receipt.durable`), so every score a client was
answered is in the log. A group commit: the requests that arrive while a transaction runs share
the next one, so the cost per request falls as the load grows. Durable means against a kill of
the process: a committed transaction (SQLite in WAL mode, PostgreSQL) or a completed write() to
a file is in the OS page cache and survives it. Power loss is out of scope (SQLite runs with
synchronous=NORMAL; the journal is not fsync'ed).

Both the score rows and the leads' records (`scored_inputs`, made from `inputs`/`recorder` by
the writer: `_latest_inputs`) are durable: the records are made before the transaction and go
into it, or into the journal, with their scores, so that the lead queue never shows a record
other than the one of the score a client was answered. The price: a request waits for its
records to be made (0.1-0.2 ms per lead with 20 activities), which used to happen after the
answer (docs/api.md, "No lost scores", has the figures).

When the database cannot take a batch (down, unreachable, locked past its timeout:
`serving.store.database.unavailable`, and only then), the writer appends it to a local journal
(serving.store.score_journal) and settles the receipts all the same: the scores are the
service's product and need no database, only their log does, so an outage of the database does
not stop scoring. While the journal holds batches, new ones join it without waiting on the
database, which is tried again (the journal replayed first, so the log keeps its order) every
`retry_seconds`; the next start replays what a killed process left. The journal is bounded
(`max_buffered` rows per process): past it, or when it cannot be written, or when the rows are
not durable within DURABLE_WAIT_SECONDS, the receipt fails with `ScoreLogUnavailable` and the
service answers 503 with Retry-After (the scores may still be logged: a retried request logs
its scores again).

When the database refuses a batch for another reason (its data: a value it cannot store, such
as a text PostgreSQL cannot hold), the batch is not journaled, where it would stall every batch
behind it: the writer writes its requests one at a time, each in its own transaction, so that
one request never costs the others their scores (one that becomes unavailable meanwhile sends
the rest to the journal). A request refused alone for its values (a DataError or
IntegrityError) fails with `ScoreLogRefused`: the service answers 422 with the database's
reason, as the same leads sent again would be refused again. One refused for anything else (a
table or a permission missing: the database's set-up, every request's) fails with
ScoreLogUnavailable (503, and /readyz 503 until a batch is committed). A request is logged
whole or not at all. The journal's replay sets aside what the database refuses alike
(serving.store.score_journal).

Without a journal (`journal=None`: the synchronous callers, `leadscore score` and the tools, run
with `background=False` and call `flush()`), a failed write puts the rows back and `flush()`
raises: the caller sees the error. `close()` writes what is left.

With a stage watch (serving.webhook, when a webhook is configured), the writer also finds the
scores that raise a lead's stage: for the leads a request marked (`watched`: scored into a watched
stage), one read of their latest records by primary key in the transaction that logs the batch,
before the batch replaces them (serving.store.stage_rises); once committed and its receipts
settled, the rises go to the watch, which queues them for its sender thread. Batches that go to
the journal are not compared (their leads' previous stages cannot be read): the watch counts them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Iterable

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from serving.store.database import unavailable
from serving.store.inserts import StoreInserts
from serving.store.score_journal import ScoreJournal, refusal_reason
from serving.store.tables import ids_among, score_log, scored_leads

logger = logging.getLogger("leadscore.store")

LOG_AHEAD = timedelta(minutes=5)
"""How far ahead of now a score may be logged as of (clock differences). The latest score of a
lead is the one the report judges: one dated ahead would stand for every real one made until
then, so the API and `leadscore score` refuse to log scores as of a later moment."""

DURABLE_WAIT_SECONDS = 60.0
"""How long a request waits for its scores to be durable before it is refused (503). Longer
than SQLite's busy timeout (30 s), after which a locked database sends the batch to the journal."""


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


class ScoreLogUnavailable(Exception):
    """A request's scores could not be made durable (the journal is full or cannot be written,
    the writer did not confirm in time, or the service is stopping): the service answers 503,
    with Retry-After `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float = 5.0):
        super().__init__(message)
        self.retry_after = retry_after


class ScoreLogRefused(Exception):
    """The database refused a request's scores for a reason other than being unavailable (its
    data, e.g. a text it cannot store): they are not logged, and would be refused again; the
    service answers 422 with the database's reason."""


def _resolve(future: asyncio.Future) -> None:
    if not future.done():  # a request that timed out or was cancelled has stopped waiting
        future.set_result(None)


class Receipt:
    """The promise `ScoreLog.log_scores` gives for a request's rows: settled by the writer
    once they are durable (committed, or in the journal), or with `error` once they cannot be."""

    __slots__ = ("_lock", "_settled", "_event", "_futures", "error", "watched")

    def __init__(self, watched: dict[str, object] | None = None) -> None:
        self.watched = watched  # lead id -> what a stage rise is told with (serving.webhook), or None
        self._lock = threading.Lock()
        self._settled = False
        self._event: threading.Event | None = None
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []
        self.error: ScoreLogUnavailable | ScoreLogRefused | None = None

    def settle(self, error: ScoreLogUnavailable | ScoreLogRefused | None = None) -> None:
        """Wake whoever waits (the first call counts)."""
        with self._lock:
            if self._settled:
                return
            self._settled, self.error = True, error
            event, futures, self._futures = self._event, self._futures, []
        if event is not None:
            event.set()
        for loop, future in futures:
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # its loop is closed: nobody waits any more
                pass

    def _outcome(self) -> None:
        if isinstance(self.error, ScoreLogRefused):
            raise ScoreLogRefused(str(self.error))
        if self.error is not None:
            raise ScoreLogUnavailable(str(self.error), self.error.retry_after)

    async def durable(self, timeout: float = DURABLE_WAIT_SECONDS) -> None:
        """Wait on the event loop, without blocking it or a thread, until the rows are durable.
        Raises ScoreLogUnavailable when they cannot be now, or are not within `timeout` seconds;
        ScoreLogRefused when the database refused them."""
        with self._lock:
            future = None
            if not self._settled:
                loop = asyncio.get_running_loop()
                future = loop.create_future()
                self._futures.append((loop, future))
        if future is not None:
            try:
                await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                raise ScoreLogUnavailable(f"the score log did not confirm the scores within {timeout:g} s") from None
        self._outcome()

    def wait(self, timeout: float = DURABLE_WAIT_SECONDS) -> None:
        """`durable` for a thread: block until settled; the same errors."""
        with self._lock:
            if not self._settled and self._event is None:
                self._event = threading.Event()
            event = self._event if not self._settled else None
        if event is not None and not event.wait(timeout):
            raise ScoreLogUnavailable(f"the score log did not confirm the scores within {timeout:g} s")
        self._outcome()


class ScoreLog:
    """Every score served, durable before it is answered (see the module docstring).

    `flush_seconds`: how often an idle writer looks for a journal to replay (one a killed
    process left); `retry_seconds`: how long after a failure the database is tried again (the
    batches in between go to the journal); `batch_rows`: the most rows per transaction (a
    request's rows are never split); `max_buffered`: the bound of a synchronous caller's buffer
    (`needs_room`); `journal`: where batches wait when the database cannot take them (None:
    `flush()` raises instead; its own bound, ScoreJournal.max_rows)."""

    def __init__(self, engine: Engine, inserts: StoreInserts, *, flush_seconds: float = 0.25,
                 batch_rows: int = 5_000, max_buffered: int = 100_000, background: bool = True,
                 journal: ScoreJournal | None = None, retry_seconds: float = 2.0, stage_watch=None):
        self.engine = engine
        self.stage_watch = stage_watch  # serving.webhook.StageWatch: told of the stage rises committed
        self._rises: list = []
        self.inserts = inserts
        self.flush_seconds = flush_seconds
        self.retry_seconds = retry_seconds
        self.batch_rows = batch_rows
        self.max_buffered = max_buffered
        self.journal = journal
        self._buffer: list[tuple[list[tuple], Receipt]] = []  # (a request's rows, its receipt)
        self._rows = 0  # rows in the buffer
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._room = threading.Condition(self._lock)
        self._closed = False
        self._flush_lock = threading.Lock()  # one writer at a time
        self._retry_at = 0.0  # monotonic: the database failed; not before then again
        self.rows_logged = 0
        self.rows_journaled = 0
        self.rows_refused = 0
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name="score-log-writer", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------------- writing
    def log_scores(self, rows: Iterable[tuple[str, float, str, str]], scored_at: datetime, *,
                   spec: str | None = None, as_of: datetime | None = None,
                   inputs: Iterable | None = None, recorder=None, watched: dict | None = None) -> Receipt:
        """Queue (lead_id, probability, stage, model_version) rows for the score log, scored by
        a model of the dataset spec `spec`. `inputs`, one per row: the lead's record
        (features.logged: lead JSON, activities JSON or None) as scored as of `as_of` (naive
        UTC; default scored_at), kept as its latest in `scored_inputs` (needs `spec`); or,
        with `recorder` (features.logged.LeadRecorder), the leads as the API read them, recorded
        by the writer off the request path (and only the last score of a lead in a batch).
        Returns the rows' Receipt: answer the request once it is settled (`Receipt.durable`).
        `watched`: lead id -> what to tell the stage watch if the lead's score raises its stage
        (leads scored into a watched stage only; serving.store.stage_rises)."""
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
        receipt = Receipt(watched or None)
        if self._closed and self._thread is not None:
            receipt.settle(ScoreLogUnavailable("the service is stopping: send the request again"))
            return receipt
        with self._lock:
            self._buffer.append((batch, receipt))
            self._rows += len(batch)
        if self._thread is not None:
            self._wake.set()
        return receipt

    @property
    def buffered(self) -> int:
        """Rows queued and not yet durable."""
        return self._rows

    @property
    def needs_room(self) -> bool:
        """True when the buffer is over its bound: the caller should `wait_for_room()`."""
        return self._rows >= self.max_buffered

    def wait_for_room(self, timeout: float = 30.0) -> None:
        """Block until the buffer is below its bound (flushing it here if no writer runs)."""
        if self._thread is None or not self._thread.is_alive():
            self.flush()
            return
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._room:
            while self._rows >= self.max_buffered and not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._room.wait(left)

    def flush(self) -> int:
        """Make every queued row durable now and settle its receipt; returns how many rows
        were (committed, or journaled). Without a journal, a database error puts the rows back
        and propagates."""
        done = 0
        with self._flush_lock:
            self._replay_journal()
            while True:
                with self._lock:
                    entries, taken = [], 0
                    while self._buffer and (not entries or taken + len(self._buffer[0][0]) <= self.batch_rows):
                        entries.append(self._buffer.pop(0))
                        taken += len(entries[-1][0])
                    self._rows -= taken
                if not entries:
                    break
                done += self._write(entries)
                with self._room:
                    self._room.notify_all()
        return done

    def _write(self, entries: list[tuple[list[tuple], Receipt]]) -> int:
        """Commit one batch, else journal it (the database is unavailable) or write its requests
        one by one (it refused the batch); settle its receipts. Returns the rows made durable."""
        rows = [row for batch, _ in entries for row in batch]
        scores, inputs = [row[:6] for row in rows], _latest_inputs(rows)
        if self.journal is None or (not self.journal.rows and time.monotonic() >= self._retry_at):
            error = self._commit(scores, inputs, entries)
            if error is None:
                self._logged(entries, len(rows))
                return len(rows)
            if self.journal is None:
                self._failed(error, len(rows))
                with self._lock:  # put them back: the caller sees the error, nothing is lost
                    self._buffer[:0] = entries
                    self._rows += len(rows)
                raise error
            if not unavailable(error):
                return self._write_apart(entries, error)
            self._failed(error, len(rows))
        return self._journal(entries, scores, inputs)

    def _commit(self, scores: list[tuple], inputs: list[tuple], entries=()) -> SQLAlchemyError | None:
        """Write rows in one transaction: None when committed, else the database's error. With a
        stage watch and leads it watches among `entries`, their previous stages are read in the
        same transaction, after its first write and before the rows replace the leads' records
        (serving.store.stage_rises; StoreInserts.scores)."""
        self._rises = []
        watched = self._watched(entries)

        def read_rises(conn) -> None:
            self._rises = self._find_rises(conn, scores, watched)

        try:
            with self.engine.begin() as conn:
                if watched:
                    self.inserts.scores(conn, scores, inputs, before_records=read_rises)
                else:
                    self.inserts.scores(conn, scores, inputs)
        except SQLAlchemyError as exc:
            self._rises = []
            return exc
        return None

    def _watched(self, entries) -> dict[tuple[str, str], object]:
        if self.stage_watch is None:
            return {}
        watched = {}
        for batch, receipt in entries:
            if receipt.watched:
                spec, scored_at = (batch[0][5], batch[0][1]) if batch else (None, None)
                watched.update(((spec, lead_id, scored_at), told) for lead_id, told in receipt.watched.items())
        return watched

    def _find_rises(self, conn, scores: list[tuple], watched: dict) -> list:
        from serving.store.stage_rises import stage_rises

        try:
            return stage_rises(conn, scores, watched, self.stage_watch.stages)
        except SQLAlchemyError:
            raise  # the transaction's: the batch fails as it would have
        except Exception:  # noqa: BLE001 - a bug here costs the notifications, never the scores
            logger.exception("score log: the stage rises of a batch could not be found; nobody is told of them")
            return []

    def _logged(self, entries, rows: int) -> None:
        self.rows_logged += rows
        self.last_error = None
        self._settle(entries)
        if self._rises:  # after the answers are released: told off the request path
            rises, self._rises = self._rises, []
            try:
                self.stage_watch.rose(rises)
            except Exception:  # noqa: BLE001 - the score log goes on whatever the notifier does
                logger.exception("score log: the stage watch failed on %d rises", len(rises))

    def _write_apart(self, entries: list[tuple[list[tuple], Receipt]], error: SQLAlchemyError) -> int:
        """The database refused a batch, not for being unavailable: its requests one at a time
        (module docstring). Returns the rows made durable."""
        logger.warning("score log: the database refused a batch of %d requests (%s); writing them one by one",
                       len(entries), refusal_reason(error))
        done = 0
        for i, (batch, receipt) in enumerate(entries):
            scores, inputs = [row[:6] for row in batch], _latest_inputs(batch)
            if len(entries) > 1:
                error = self._commit(scores, inputs, [(batch, receipt)])
            if error is None:
                self._logged([(batch, receipt)], len(batch))
                done += len(batch)
            elif unavailable(error):  # gone meanwhile: the rest waits in the journal
                self._failed(error, sum(len(b) for b, _ in entries[i:]))
                rest = entries[i:]
                rest_rows = [row for b, _ in rest for row in b]
                return done + self._journal(rest, [row[:6] for row in rest_rows], _latest_inputs(rest_rows))
            else:
                reason = refusal_reason(error)
                self.rows_refused += len(batch)
                logger.error("score log: the database refused the %d scores of a request (leads %s): %s; the "
                             "request is refused", len(batch), ", ".join(row[0] for row in batch)[:500], reason)
                if isinstance(error, (DataError, IntegrityError)):  # these rows' values
                    receipt.settle(ScoreLogRefused(f"the database refused these scores: {reason}"))
                else:  # a schema or permission the database lacks: every request's, until it is fixed
                    self.last_error = f"{type(error).__name__}: {error}"
                    receipt.settle(ScoreLogUnavailable(f"the database refuses the score log: {reason}",
                                                       max(self.retry_seconds, 1.0)))
        return done

    def _journal(self, entries, scores: list[tuple], inputs: list[tuple]) -> int:
        """Append a batch to the journal and settle its receipts (refused when it cannot be)."""
        rows = len(scores)
        try:
            self.journal.append(scores, inputs)
        except OSError as exc:
            logger.error("score log: %d scores could not be journaled either (%s); their requests are refused",
                         rows, exc)
            self._settle(entries, ScoreLogUnavailable(f"the score log cannot be written: {exc}",
                                                      max(self.retry_seconds, 1.0)))
            return 0
        self.rows_journaled += rows
        self._settle(entries)
        if self.stage_watch is not None:  # the previous stages cannot be read now: nobody is told
            skipped = sum(len(r.watched) for _, r in entries if r.watched)
            if skipped:
                self.stage_watch.not_checked(skipped)
        return rows

    @staticmethod
    def _settle(entries, error: ScoreLogUnavailable | None = None) -> None:
        for _, receipt in entries:
            receipt.settle(error)

    def _failed(self, exc: Exception, rows: int) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._retry_at = time.monotonic() + self.retry_seconds
        logger.error("score log: could not write %d rows (%s); %s", rows, exc,
                     "they wait in the journal" if self.journal is not None else "will retry")

    def _replay_journal(self, others: bool = False) -> None:
        """Replay what waits in this process's journal (and, with `others`, what gone processes
        left) when the database may take it (flush lock held)."""
        if self.journal is None or time.monotonic() < self._retry_at or not self.journal.waiting(others):
            return
        try:
            self.rows_logged += self.journal.replay(self.engine.begin, self.inserts.scores)
            self.last_error = None
        except SQLAlchemyError as exc:
            self._failed(exc, self.journal.rows)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # a journal that cannot be read
            self.last_error = f"score journal: {type(exc).__name__}: {exc}"
            self._retry_at = time.monotonic() + self.retry_seconds
            logger.exception("score log: the journal in %s could not be replayed", self.journal.folder)

    def _run(self) -> None:
        idle = True  # the first round replays what a killed process left
        while True:
            try:
                if idle:
                    with self._flush_lock:
                        self._replay_journal(others=True)
                self.flush()
            except Exception as exc:  # noqa: BLE001 - a bug: refuse the batch, the writer lives on
                self.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("score log: a batch could not be written")
                with self._lock:
                    entries, self._buffer, self._rows = self._buffer, [], 0
                self._settle(entries, ScoreLogUnavailable(f"the score log failed: {exc}"))
            if self._closed:
                return
            idle = not self._wake.wait(self.flush_seconds)
            self._wake.clear()

    @property
    def healthy(self) -> bool:
        writer_ok = self._thread is None or self._thread.is_alive() or self._closed
        return writer_ok and self.last_error is None

    def close(self) -> None:
        """Stop the writer and write what is left (to the journal if the database cannot take it)."""
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.flush()
        except SQLAlchemyError:
            logger.error("score log: %d rows could not be written at shutdown", self._rows)
        with self._lock:
            entries, self._buffer, self._rows = self._buffer, [], 0
        self._settle(entries, ScoreLogUnavailable("the service is stopping: send the request again"))
        if self.journal is not None:
            self.journal.close()
        with self._room:
            self._room.notify_all()

    # ------------------------------------------------------------------------- reading
    def _flush_unanswered(self) -> None:
        """Before reading: a synchronous caller's rows are written first. With a writer there is
        nothing to do: every score a request was answered for is durable already (and one in
        the journal is not in the database until the writer can replay it)."""
        if self._thread is None:
            self.flush()

    def scores_of(self, lead_id: str) -> list[dict]:
        """Every logged score of one lead, oldest first."""
        self._flush_unanswered()
        with self.engine.connect() as conn:
            rows = conn.execute(select(score_log).where(score_log.c.lead_id == lead_id)
                                .order_by(score_log.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def count_scores(self) -> int:
        self._flush_unanswered()
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(score_log)).scalar_one())

    def scored_among(self, lead_ids: list[str]) -> set[str]:
        """The ids among `lead_ids` (distinct) that were ever scored."""
        self._flush_unanswered()
        return ids_among(self.engine, scored_leads.c.lead_id, lead_ids)
