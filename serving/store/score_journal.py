"""Score-log batches waiting for the database, in local append-only files.

When the database cannot take a batch (down, unreachable, locked past its timeout:
`serving.store.database.unavailable`), the writer (serving.store.score_writer) appends it here
before the scores' requests are answered, and replays it into the database as soon as it can,
and the next process replays what a killed one left. One file per process,
`scores-<pid>-<ns>.jsonl` in the journal folder: a first line naming the database
(`{"database": "postgresql://user@host:5432/name"}`, `journal_database`, no password), then a
line per batch, `{"scores": [LOG_KEYS rows], "inputs": [INPUT_KEYS rows]}` (times ISO 8601,
naive UTC), written with one write() on a file opened for appending. Durable against a process
kill (the write is in the OS page cache); power loss is out of scope (no fsync).

A journal belongs to one database (`journal_folder`): a SQLite database's is the folder beside
its file (`leadscore.db` -> `leadscore-score-journal/`); a PostgreSQL database's is
`data/score-journal/<digest>/` under the working directory, the digest (16 hex digits of
SHA-256) of `journal_database(url)`: user, host, port and database name, so that services on
other databases started in the same place never share it (the same database spelled with
another host name gets another folder: its journal waits for a service given that spelling).
A replay also reads each file's first line and leaves a file written for another database where
it is (logged once). A file without that line (written before it existed, moved in by hand) is
taken as the folder's. Files left in `data/score-journal/` itself by an earlier version are
replayed by no one: the service logs an error naming them at start (move each into its
database's folder).

A process holds an exclusive `flock` on its own file while it lives; a file whose lock can be
taken belongs to a process that is gone, and whoever takes it replays it (after checking the
name still holds the locked file: another process may have replayed and removed it a moment
ago). A replay commits its files' batches in one transaction and then removes the files: a
kill between the two logs those batches twice (at least once, never lost). A torn last line
(a kill in the middle of the write) was never acknowledged and is skipped.

A batch the database refuses for a reason other than being unavailable (a value it cannot
store: its data, not its state) must not stall the batches behind it: when the one transaction
fails so, the batches are written one at a time, each in its own transaction, and a batch
refused alone lead by lead; the leads' rows refused alone are set aside in
`scores-<pid>-<ns>.jsonl.rejected` (its lines as the journal's, each with the database's
`reason`), with an error logged naming the file and the reason, and the rest is written. They
were answered 200 and are kept, never deleted: once the cause is fixed, rename the file to end
in `.jsonl` and the next replay writes them. When the database becomes unavailable in the
middle of that, the files stay and are replayed again later (the batches written meanwhile are
written twice: at least once).

`max_rows` bounds this process's file: past it, `append` raises `JournalFull` and the writer
refuses the batch (the service answers 503 with Retry-After) rather than fill the disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Callable, Sequence

from pydantic_core import to_json
from sqlalchemy.exc import SQLAlchemyError

from serving.store.database import unavailable

logger = logging.getLogger("leadscore.store")

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux or macOS: each process replays only its own file
    fcntl = None

LOG_TIMES = (1,)
"""The positions of times in a LOG_KEYS row (scored_at)."""
INPUT_TIMES = (2, 3, 10)
"""The positions of times in an INPUT_KEYS row (scored_at, as_of, previous_scored_at)."""


class JournalFull(OSError):
    """This process's journal holds `max_rows` rows already."""


def journal_database(url: str) -> str:
    """The database a journal belongs to, as its files' first line names it: for SQLite its
    file's name (the folder is beside the file, and moves with it), else
    `<backend>://<user>@<host>:<port>/<name>` (no password, driver or options)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return f"sqlite:{Path(parsed.database or '').name}"
    port = parsed.port or (5432 if backend == "postgresql" else "")
    return f"{backend}://{parsed.username or ''}@{parsed.host or ''}:{port}/{parsed.database or ''}"


def journal_folder(url: str) -> Path | None:
    """Where the score log's batches wait while the database of `url` cannot take them: beside
    a SQLite file (`leadscore.db` -> `leadscore-score-journal/`), else
    `data/score-journal/<digest of journal_database(url)>` in the working directory (where the
    default database is); None for an in-memory SQLite (nothing there outlives the process)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file::memory:"):
            return None
        path = Path(database)
        return path.parent / f"{path.stem}-score-journal"
    digest = hashlib.sha256(journal_database(url).encode()).hexdigest()[:16]
    return Path("data").resolve() / "score-journal" / digest


def unplaced_journals(url: str) -> list[Path]:
    """Journal files an earlier version left in `data/score-journal/` itself, where no
    database's replay looks (PostgreSQL only: a SQLite journal was its database's already)."""
    folder = journal_folder(url)
    if folder is None or url.startswith("sqlite"):
        return []
    try:
        return sorted(folder.parent.glob("scores-*.jsonl"))
    except OSError:
        return []


def _times(rows: list, positions: tuple[int, ...]) -> list[tuple]:
    out = []
    for row in rows:
        row = list(row)
        for i in positions:
            if row[i] is not None:
                row[i] = datetime.fromisoformat(row[i])
        out.append(tuple(row))
    return out


class ScoreJournal:
    """This process's journal file in `folder` (created when first needed), and the files of
    processes that are gone, for the database `database` (journal_database)."""

    def __init__(self, folder: Path, max_rows: int = 100_000, *, database: str):
        self.folder = Path(folder)
        self.max_rows = max_rows
        self.database = database
        self.rows = 0  # rows in this process's file
        self._fd: int | None = None
        self._path: Path | None = None
        self._elsewhere: set[Path] = set()  # files of another database's, left alone

    # ------------------------------------------------------------------------- writing
    def append(self, scores: Sequence[tuple], inputs: Sequence[tuple]) -> None:
        """Append one batch (LOG_KEYS rows, INPUT_KEYS rows) with one write(). Raises
        JournalFull past `max_rows`, OSError when the file cannot be written."""
        if self.rows + len(scores) > self.max_rows:
            raise JournalFull(f"{self.rows:,} scores already wait for the database in {self.folder} "
                              f"(at most {self.max_rows:,})")
        _write_all(self._own(), to_json({"scores": list(scores), "inputs": list(inputs)}) + b"\n", self._path)
        self.rows += len(scores)

    def _own(self) -> int:
        if self._fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f"scores-{os.getpid()}-{time.time_ns()}.jsonl"
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # ours while this process lives
            try:
                _write_all(fd, self._header(), path)
            except OSError:
                os.close(fd)
                path.unlink(missing_ok=True)
                raise
            self._fd, self._path = fd, path
            logger.warning("score log: the database cannot take scores; they wait in %s", path)
        return self._fd

    def _header(self) -> bytes:
        return to_json({"database": self.database}) + b"\n"

    # ------------------------------------------------------------------------- replaying
    def waiting(self, others: bool = True) -> bool:
        """True when this process's file holds batches, or (`others`) another process's file
        is there (a gone process's, or a live one's: `replay` skips those)."""
        return self.rows > 0 or (others and bool(self._others()))

    def _others(self) -> list[Path]:
        try:
            return sorted(p for p in self.folder.glob("scores-*.jsonl") if p != self._path and p not in self._elsewhere)
        except OSError:
            return []

    def replay(self, begin, write: Callable[[object, list, list], None]) -> int:
        """Write every batch waiting (this process's and gone processes') in one transaction
        (`begin()`: a context manager giving a connection; `write(conn, scores, inputs)` per
        batch), then remove their files; what the database refuses other than for being
        unavailable is set aside (see the module docstring). Returns the scores written; an
        error of an unavailable database propagates and the files stay."""
        taken: list[tuple[Path, int]] = []
        try:
            for path in self._others():
                fd = self._take(path)
                if fd is not None:
                    taken.append((path, fd))
            batches = []
            for path, fd in list(taken):
                database, found = self._read(path)
                if database is not None and database != self.database:
                    self._elsewhere.add(path)
                    taken.remove((path, fd))
                    os.close(fd)
                    logger.error("score journal %s holds scores of the database %s, not of %s: left where it is "
                                 "(a service on that database replays it)", path, database, self.database)
                    continue
                batches += found
            if self.rows:
                batches += self._read(self._path)[1]
            replayed = self._write(begin, write, batches) if batches else 0
            for path, _ in taken:
                path.unlink(missing_ok=True)
            if self.rows:
                self._close_own(remove=True)
            if replayed:
                logger.warning("score log: %d scores that waited in %s are in the database now", replayed, self.folder)
            return replayed
        finally:
            for _, fd in taken:
                os.close(fd)

    def _write(self, begin, write, batches: list[tuple[list, list]]) -> int:
        """Write `batches` in one transaction; when the database refuses it other than for
        being unavailable, one batch at a time, and a batch refused lead by lead, setting the
        leads refused aside. Returns the scores written."""
        try:
            with begin() as conn:
                for scores, inputs in batches:
                    write(conn, scores, inputs)
            return sum(len(scores) for scores, _ in batches)
        except SQLAlchemyError as exc:
            if unavailable(exc):
                raise
            logger.error("score log: the database refused the journal's batches (%s); writing them one by one",
                         refusal_reason(exc))
        written, refused = 0, []
        for scores, inputs in batches:
            if _refusal(begin, write, scores, inputs) is None:
                written += len(scores)
                continue
            for lead_scores, lead_inputs in _by_lead(scores, inputs):  # the batch alone is refused: which leads?
                reason = _refusal(begin, write, lead_scores, lead_inputs)
                if reason is None:
                    written += len(lead_scores)
                else:
                    refused.append((lead_scores, lead_inputs, reason))
        if refused:
            self._set_aside(refused)
        return written

    def _set_aside(self, refused: list[tuple[list, list, str]]) -> None:
        """Keep the rows the database refused in a `.rejected` file (OSError when it cannot be
        written: the journal's files stay)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"scores-{os.getpid()}-{time.time_ns()}.jsonl.rejected"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, self._header() + b"".join(
                to_json({"scores": scores, "inputs": inputs, "reason": reason}) + b"\n"
                for scores, inputs, reason in refused), path)
        finally:
            os.close(fd)
        reasons = sorted({reason for _, _, reason in refused})
        logger.error("score log: the database refused %d journaled scores (leads %s) for their data: %s; they are "
                     "kept in %s (rename it to end in .jsonl to write them once the cause is fixed)",
                     sum(len(scores) for scores, _, _ in refused),
                     ", ".join(sorted({row[0] for scores, _, _ in refused for row in scores}))[:500],
                     "; ".join(reasons)[:1000], path)

    def _take(self, path: Path) -> int | None:
        """An open, locked descriptor of a gone process's file, or None (alive, or gone already)."""
        if fcntl is None:
            return None
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except OSError:  # locked: its process lives; or replayed and removed meanwhile
            pass
        os.close(fd)
        return None

    @staticmethod
    def _read(path: Path) -> tuple[str | None, list[tuple[list, list]]]:
        """The database a file names (None: it names none), and its batches."""
        database, batches = None, []
        lines = path.read_bytes().split(b"\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                batch = json.loads(line)
            except ValueError:
                # only the last line can be torn (a kill during its write): never acknowledged
                level = logging.WARNING if number == len(lines) else logging.ERROR
                logger.log(level, "score journal %s: line %d is not a whole batch; skipped", path, number)
                continue
            if "database" in batch and "scores" not in batch:
                database = batch["database"]
                continue
            batches.append((_times(batch["scores"], LOG_TIMES), _times(batch["inputs"], INPUT_TIMES)))
        return database, batches

    def _close_own(self, remove: bool) -> None:
        if self._fd is not None:
            if remove and self._path is not None:
                self._path.unlink(missing_ok=True)
            os.close(self._fd)
        self._fd, self._path, self.rows = None, None, 0

    def close(self) -> None:
        """Release this process's file (kept when it holds batches: the next start replays it)."""
        if self._fd is not None:
            self._close_own(remove=self.rows == 0)


def _write_all(fd: int, data: bytes, path: Path | None) -> None:
    written = os.write(fd, data)
    while written < len(data):  # a regular file takes it whole unless the disk is full
        more = os.write(fd, data[written:])
        if more == 0:
            raise OSError(f"could not write the score journal {path}")
        written += more


def _refusal(begin, write, scores: list, inputs: list) -> str | None:
    """Write one batch in its own transaction: None when written, else why the database refused
    it (an error of an unavailable database propagates)."""
    try:
        with begin() as conn:
            write(conn, scores, inputs)
    except SQLAlchemyError as exc:
        if unavailable(exc):
            raise
        return refusal_reason(exc)
    return None


def _by_lead(scores: list, inputs: list) -> list[tuple[list, list]]:
    """A batch's rows, lead by lead (LOG_KEYS rows by lead_id, INPUT_KEYS rows by theirs)."""
    leads: dict[str, tuple[list, list]] = {}
    for row in scores:
        leads.setdefault(row[0], ([], []))[0].append(row)
    for row in inputs:
        leads.setdefault(row[1], ([], []))[1].append(row)
    return list(leads.values())


def refusal_reason(exc: BaseException) -> str:
    """The database's words for an error: its first line."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
