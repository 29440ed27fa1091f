"""The score log of `leadscore score`: each chunk of scores logged, with its trend, while the
next chunk is scored.

The scorer hands over its chunks in the leads' order (`serving.scorer.LeadScorer.score_table`,
`on_chunk`); one thread takes them in turn: it reads the kept scores of the chunk's leads
(serving.store.previous_scores), counts each score's trend from them (serving.trend, the API's
rule), then logs the chunk with the leads' records (features.logged.records_from_tables, built
once for the whole file as the first thing the thread does) through the store's one insert path
and commits it. A lead met again in a later chunk so finds its earlier score of this file
already logged, as one request after another would; a lead twice in one chunk is counted in
order by `trends_in_order`.

Why a thread: the log is the largest step of the command (1,000,000 demo leads with 20M
activities: 75 s of 165 s, records 22 s and SQLite's writes 42 s of it, in a py-spy profile)
and most of it runs outside Python's GIL (Arrow's kernels, SQLite), so beside the scoring it
costs little more than its Python parts; the figures are in `benchmarks/batch_score.py`'s
table.

What a failure leaves: the chunks committed before it stay logged (each chunk is its own
transactions, as before, so a service writing to the same database is never locked out for
the whole file); the scores file is written only after every chunk is logged, so a failed run
writes no file, and a rerun counts its trends from the scores the failed one logged.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Callable

import pandas as pd

from features.errors import DataError
from leadscore.settings import Settings

def open_log(settings: Settings, moment: datetime):
    """The score log (serving.store.ScoreStore, written by the caller), opened before anything
    is scored. A moment in the future is refused (DataError): the latest score of a lead is the
    one the report judges, and a score dated ahead would stand for every real one made until
    then."""
    from serving.store import ScoreStore
    from serving.store.score_writer import LOG_AHEAD

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if moment > now + LOG_AHEAD:
        raise DataError(f"--as-of {moment:%Y-%m-%d %H:%M} is in the future: scores as of then would be logged as "
                        "the leads' latest; score as of now or earlier, or pass --no-log")
    return ScoreStore(settings.resolved_database_url, background=False)


class BatchLog:
    """Logs a file's scores chunk by chunk on one thread of its own (see the module's docstring).

    `store`: an open ScoreStore (background=False); `id_key`: the scores' id column; `spec`: the
    dataset spec's name; `records()`: the leads' records (features.logged), one per lead in
    the order the chunks will come; `moment`: the as-of time, naive UTC, the scores are
    logged at. Use `add` per chunk, then `finish`, and `close` in any case."""

    def __init__(self, store, id_key: str, spec: str, records: Callable[[], list], moment: datetime):
        self.store, self.id_key, self.spec, self.moment = store, id_key, spec, moment
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="score-log")
        self._records: Future = self._pool.submit(records)
        self._chunks: list[Future] = []
        self._next = 0
        self._unread: str | None = None

    def add(self, scores: pd.DataFrame) -> None:
        """Queue the next chunk of scores (columns id_key, probability, stage, model_version)
        to be logged. Raises the error of an earlier chunk (the database refused it), so that
        the scoring stops at once."""
        for done in self._chunks:
            if done.done() and done.exception() is not None:
                done.result()
        start, self._next = self._next, self._next + len(scores)
        columns = scores[[self.id_key, "probability", "stage", "model_version"]]
        self._chunks.append(self._pool.submit(self._log, columns, start))

    def _log(self, scores: pd.DataFrame, start: int) -> list:
        from sqlalchemy.exc import SQLAlchemyError

        from serving.store.previous_scores import kept_scores
        from serving.trend import trends_in_order

        ids = scores[self.id_key].astype(str).tolist()
        probabilities = scores["probability"].tolist()
        trends: list = [None] * len(ids)
        if self._unread is None:
            try:
                trends = trends_in_order(ids, probabilities, self.moment, kept_scores(self.store.engine, self.spec, ids))
            except SQLAlchemyError as exc:
                self._unread = f"no trends: the score log could not be read ({str(exc).splitlines()[0]})"
        records = self._records.result()[start:start + len(ids)]
        rows = zip(ids, probabilities, scores["stage"].tolist(), scores["model_version"].astype(str).tolist())
        self.store.log_scores(rows, self.moment, spec=self.spec, as_of=self.moment, inputs=records)
        self.store.flush()
        return trends

    def finish(self, scores: pd.DataFrame) -> str | None:
        """Wait until every chunk is logged and add the trend columns (trend: up, down, steady or
        new; trend_points: the change in points; trend_days: the days since the previous score; empty where
        the previous score is not known) to `scores`, the chunks' rows in order. Returns a note
        when the kept scores could not be read (the columns are then empty). Raises a chunk's
        error."""
        trends = [trend for chunk in self._chunks for trend in chunk.result()]
        if self._unread is not None:
            trends = [None] * len(trends)
        if len(trends) != len(scores):
            raise AssertionError(f"{len(trends):,} trends logged for {len(scores):,} scores")
        scores["trend"] = [t.direction if t is not None else None for t in trends]
        scores["trend_points"] = pd.array([t.points if t is not None else None for t in trends], dtype="Int64")
        scores["trend_days"] = pd.array([t.days if t is not None else None for t in trends], dtype="Float64")
        return self._unread

    def close(self) -> None:
        """Stop: chunks not yet started are dropped, the one being written is finished."""
        self._pool.shutdown(wait=True, cancel_futures=True)
