"""The score log and the outcomes sales report back, in a SQL database (SQLAlchemy 2 Core).

SQLite (the default, a file under data/, in WAL mode so readers never block the writer) or
PostgreSQL, by URL. Tables are created on start. The modules, one concern each:

* `tables`: the tables (the schema the code uses);
* `database`: the engine, and the migrations (`migrations/`, Alembic) run on start;
* `inserts`: the one way rows go into every table, on both databases;
* `score_writer`: the score log, durable before a request is answered (a background thread
  commits the requests' rows in groups);
* `score_journal`: the score-log batches waiting in local files while the database cannot take
  them, a folder per database (`journal_folder`);
* `outcome_store`: the outcomes, one row per lead;
* `lead_queue`: each lead's latest score, filtered and paged, and one lead's history;
* `previous_scores`: the leads' kept scores a new score's trend is counted from (serving.trend),
  one query per request;
* `dimensions`: the value a lead has in a dimension the queue filters by (one rule for writing
  and asking); `dimension_index`: which columns those are per spec, their values filled in.

`ScoreStore` puts them together for the service.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Iterable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from serving.store.database import StoreError, create_tables, make_engine, safe_url
from serving.store.dimension_index import index_dimensions
from serving.store.inserts import StoreInserts
from serving.store.lead_queue import (HistoryPoint, QueuePage, QueueQuery, QueueRow, latest_record, lead_history,
                                      queue_page)
from serving.store.outcome_store import Outcome, OutcomeStore
from serving.store.score_journal import ScoreJournal, journal_database, journal_folder, unplaced_journals
from serving.store.score_writer import Receipt, ScoreLog, ScoreLogRefused, ScoreLogUnavailable
from serving.store.tables import (ID_LENGTH, IN_CHUNK, LOG_KEYS, OUTCOME_VALUES, metadata, outcomes,
                                  queue_dimension_columns, queue_dimensions, score_log, scored_inputs, scored_leads)

__all__ = [
    "HistoryPoint", "ID_LENGTH", "IN_CHUNK", "LOG_KEYS", "OUTCOME_VALUES", "Outcome", "OutcomeStore", "QueuePage",
    "QueueQuery", "QueueRow", "Receipt", "ScoreJournal", "ScoreLog", "ScoreLogRefused", "ScoreLogUnavailable",
    "ScoreStore", "StoreError", "StoreInserts", "create_tables", "index_dimensions", "journal_database",
    "journal_folder", "latest_record", "lead_history", "make_engine", "metadata", "outcomes",
    "queue_dimension_columns", "queue_dimensions", "queue_page", "score_log", "scored_inputs", "scored_leads",
]

logger = logging.getLogger("leadscore.store")


class ScoreStore:
    """The score log (durable before a request is answered, serving.store.score_writer) and the
    outcomes, on one database. With `background` (the service), a writer thread commits the
    scores and a journal in `journal_dir` (default `journal_folder(url)`, the database's own)
    keeps them while the database cannot; without, the caller writes them with `flush()` and sees the errors."""

    def __init__(self, url: str, *, flush_seconds: float = 0.25, batch_rows: int = 5_000,
                 max_buffered: int = 100_000, background: bool = True, journal_dir: Path | None = None,
                 stage_watch=None):
        self.url = url
        self.engine = make_engine(url)
        try:
            create_tables(self.engine)
        except SQLAlchemyError as exc:
            raise StoreError(f"database {safe_url(url)!r} is not usable: {exc}") from None
        inserts = StoreInserts(self.engine.dialect)
        folder = (journal_dir or journal_folder(url)) if background else None
        journal = ScoreJournal(folder, max_buffered, database=journal_database(url)) if folder is not None else None
        if background and (unplaced := unplaced_journals(url)):
            logger.error("score log: %d journal files (%s, ...) were left in %s by an earlier version, of a database "
                         "they do not name; nobody replays them: move those of %s into %s", len(unplaced),
                         unplaced[0].name, unplaced[0].parent, journal_database(url), folder)
        self.scores = ScoreLog(self.engine, inserts, flush_seconds=flush_seconds, batch_rows=batch_rows,
                               max_buffered=max_buffered, background=background, journal=journal,
                               stage_watch=stage_watch)
        self.outcomes = OutcomeStore(self.engine, inserts)

    # ------------------------------------------------------------------------- score log
    def log_scores(self, rows: Iterable[tuple[str, float, str, str]], scored_at: datetime, *,
                   spec: str | None = None, as_of: datetime | None = None,
                   inputs: Iterable | None = None, recorder=None, watched: dict | None = None) -> Receipt:
        """Queue (lead_id, probability, stage, model_version) rows for the score log, with the
        leads' records when given; returns their Receipt (ScoreLog.log_scores)."""
        return self.scores.log_scores(rows, scored_at, spec=spec, as_of=as_of, inputs=inputs, recorder=recorder,
                                      watched=watched)

    @property
    def buffered(self) -> int:
        return self.scores.buffered

    @property
    def needs_room(self) -> bool:
        """True when the buffer is over its bound: the caller should `wait_for_room()`."""
        return self.scores.needs_room

    def wait_for_room(self, timeout: float = 30.0) -> None:
        self.scores.wait_for_room(timeout)

    def flush(self) -> int:
        """Make every queued score durable now; returns how many were (ScoreLog.flush)."""
        return self.scores.flush()

    def scores_of(self, lead_id: str) -> list[dict]:
        return self.scores.scores_of(lead_id)

    def count_scores(self) -> int:
        return self.scores.count_scores()

    @property
    def rows_logged(self) -> int:
        return self.scores.rows_logged

    @property
    def last_error(self) -> str | None:
        return self.scores.last_error

    @property
    def healthy(self) -> bool:
        return self.scores.healthy

    def index_dimensions(self, spec: str, columns: Iterable[str]) -> int:
        """Let the lead queue of `spec` filter by `columns` (its report_by): the writer keeps
        their values from now on, and those of the records kept before are filled in here
        (serving.store.dimension_index; quick when they are already). Returns the records read."""
        try:
            return index_dimensions(self.engine, spec, columns)
        except SQLAlchemyError as exc:
            raise StoreError(f"could not index the lead queue's dimensions in {safe_url(self.url)!r}: {exc}") from None

    # ------------------------------------------------------------------------- outcomes
    def known_leads(self, lead_ids: Iterable[str]) -> set[str]:
        """The ids among `lead_ids` that were ever scored (every score answered is in the log,
        ScoreLog.scored_among) or have an outcome."""
        wanted = list(dict.fromkeys(lead_ids))
        return self.scores.scored_among(wanted) | self.outcomes.recorded_among(wanted)

    def record_outcomes(self, items: Sequence[Outcome], now: datetime, attempts: int = 3) -> list[str]:
        return self.outcomes.record_outcomes(items, now, attempts)

    def outcome_of(self, lead_id: str) -> dict | None:
        return self.outcomes.outcome_of(lead_id)

    def close(self) -> None:
        """Stop the score-log writer, write what is left, release the connections."""
        self.scores.close()
        self.engine.dispose()
