"""The score log when the database refuses scores for their data, not for being unavailable: the
request refused fails alone (422, never a stall of the log), a journaled batch refused is set
aside in a `.rejected` file and the others are written; and a journal belongs to its database:
a service on another database never replays it."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import DataError, OperationalError

from serving.store import ScoreJournal, ScoreLog, ScoreLogRefused, ScoreStore, journal_folder

NOW = datetime(2026, 6, 1, 12, 0, 0)
POISON = "poison"


def rows(*lead_ids: str) -> list[tuple]:
    return [(lead_id, 0.5, "MQL", "1") for lead_id in lead_ids]


def records(*lead_ids: str) -> list[tuple]:
    return [(f'{{"lead_id": "{lead_id}"}}', None) for lead_id in lead_ids]


class Database:
    """Stands between the writer and the inserts: `down` refuses everything as unavailable;
    else a batch holding the POISON lead is refused for its data, as PostgreSQL refuses a text it
    cannot store."""

    def __init__(self, inserts, monkeypatch):
        self.down = False
        write = inserts.scores

        def scores(conn, score_rows, inputs=()):
            if self.down:
                raise OperationalError("INSERT", {}, Exception("connection refused"))
            if any(row[0] == POISON for row in score_rows):
                raise DataError("INSERT", {}, Exception('unsupported Unicode escape sequence: \\u0000'))
            write(conn, score_rows, inputs)

        monkeypatch.setattr(inserts, "scores", scores)


@pytest.fixture
def store(tmp_path):
    store = ScoreStore(f"sqlite:///{tmp_path / 'leadscore.db'}", background=False)
    yield store
    store.close()


def journaled_log(store: ScoreStore, folder: Path) -> ScoreLog:
    """A writer with a journal, run by the test (flush) rather than a thread."""
    return ScoreLog(store.engine, store.scores.inserts, background=False, retry_seconds=0.0,
                    journal=ScoreJournal(folder, database="sqlite:leadscore.db"))


def test_a_request_the_database_refuses_fails_alone_and_the_others_are_logged(store, tmp_path, monkeypatch):
    log = journaled_log(store, tmp_path / "journal")
    Database(log.inserts, monkeypatch)
    before = log.log_scores(rows("a1", "a2"), NOW, spec="s", inputs=records("a1", "a2"))
    refused = log.log_scores(rows("b1", POISON), NOW, spec="s", inputs=records("b1", POISON))
    after = log.log_scores(rows("c1"), NOW, spec="s", inputs=records("c1"))
    log.flush()  # the three requests in one batch
    before.wait(1)
    after.wait(1)
    with pytest.raises(ScoreLogRefused, match="the database refused these scores: unsupported Unicode"):
        refused.wait(1)
    assert not log.journal.waiting()  # nothing waits behind the refused request
    assert store.count_scores() == 3 and log.healthy
    assert store.scores_of("b1") == []  # a request is logged whole or not at all
    log.log_scores(rows("d1"), NOW)
    log.flush()
    assert store.count_scores() == 4


def test_a_journaled_batch_the_database_refuses_is_set_aside_and_the_others_are_written(store, tmp_path,
                                                                                       monkeypatch, caplog):
    folder = tmp_path / "journal"
    log = journaled_log(store, folder)
    database = Database(log.inserts, monkeypatch)
    database.down = True
    for lead_ids in (("a1",), ("b1", POISON), ("c1",)):  # three batches wait in the journal
        log.log_scores(rows(*lead_ids), NOW, spec="s", inputs=records(*lead_ids))
        log.flush()
    assert log.rows_journaled == 4 and store.count_scores() == 0
    database.down = False
    log.log_scores(rows("d1"), NOW)
    with caplog.at_level(logging.ERROR, logger="leadscore.store"):
        log.flush()  # the journal first, then d1
    assert {lead_id for lead_id in ("a1", "b1", "c1", "d1") if store.scores_of(lead_id)} == {"a1", "b1", "c1", "d1"}
    assert store.count_scores() == 4 and log.healthy
    assert not list(folder.glob("scores-*.jsonl"))  # replayed: nothing stalls behind the refused batch
    rejected = list(folder.glob("*.rejected"))
    assert len(rejected) == 1 and POISON in rejected[0].read_text()  # set aside, never deleted
    assert any(str(rejected[0]) in r.getMessage() and "unsupported Unicode" in r.getMessage() for r in caplog.records)
    log.log_scores(rows("e1"), NOW)
    log.flush()
    assert store.count_scores() == 5 and not log.journal.waiting()


def test_a_journal_folder_is_one_databases():
    a, b = "postgresql+psycopg://u:secret@db:5432/a", "postgresql+psycopg://u:secret@db:5432/b"
    assert journal_folder(a) != journal_folder(b)
    assert journal_folder(a) == journal_folder("postgresql+psycopg://u:other@db:5432/a")  # not by password
    assert "secret" not in str(journal_folder(a))


@pytest.mark.slow
def test_a_refused_value_on_postgresql_fails_its_request_and_never_stalls_the_log(postgres, tmp_path):
    """PostgreSQL refuses a record holding NUL (its text cannot): the request fails alone."""
    store = ScoreStore(postgres.new_database(), background=False)
    try:
        log = ScoreLog(store.engine, store.scores.inserts, background=False,
                       journal=ScoreJournal(tmp_path / "journal", database="test"))
        good = log.log_scores(rows("g1"), NOW, spec="s", inputs=records("g1"))
        bad = log.log_scores(rows("n1"), NOW, spec="s", inputs=[('{"campaign": "x\u0000y"}', None)])
        log.flush()
        good.wait(1)
        with pytest.raises(ScoreLogRefused, match="the database refused these scores"):
            bad.wait(1)
        log.log_scores(rows("g2"), NOW)
        log.flush()
        assert store.count_scores() == 2 and not log.journal.waiting() and log.healthy
        nul = [("n2", NOW, 0.5, "MQL", "1", "s")], [("s", "n2", NOW, NOW, '{"campaign": "\u0000"}', None, 0.5, "MQL",
                                                     "1", None, None)]
        log.journal.append(*nul)  # as if journaled while the database was down
        log.journal.append([("g3", NOW, 0.5, "MQL", "1", "s")], [])
        log.flush()  # the replay
        assert store.count_scores() == 3 and not log.journal.waiting()
        assert len(list((tmp_path / "journal").glob("*.rejected"))) == 1
    finally:
        store.close()


def test_score_answers_422_when_the_database_refuses_the_scores(bundle_dir, tmp_path, monkeypatch):
    """The database refuses one request's scores for their values: that request is answered 422
    with the database's reason (never 500, never 503: sent again, it would be refused again), and
    the next is served."""
    from serving.store.inserts import StoreInserts
    from tests.serving.conftest import running_service
    from tests.serving.test_durability import AS_OF, lead

    write = StoreInserts.scores

    def scores(self, conn, score_rows, inputs=()):
        if any(row[0] == POISON for row in score_rows):
            raise DataError("INSERT", {}, Exception("unsupported Unicode escape sequence"))
        write(self, conn, score_rows, inputs)

    monkeypatch.setattr(StoreInserts, "scores", scores)
    with running_service(bundle_dir, f"sqlite:///{tmp_path / 'leadscore.db'}") as client:
        refused = client.post("/score", json={"leads": [lead("ok-1"), lead(POISON)], "as_of": AS_OF})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["type"] == "score_log_refused"
        assert "unsupported Unicode escape sequence" in refused.json()["error"]
        assert client.post("/score", json={"lead": lead("ok-2"), "as_of": AS_OF}).status_code == 200
        assert client.get("/readyz").status_code == 200


@pytest.mark.slow
def test_a_journal_is_replayed_into_its_own_database_only(postgres, tmp_path, monkeypatch):
    """Two databases, services started in one working directory: B's start leaves A's journal
    alone, A's start replays it."""
    monkeypatch.chdir(tmp_path)  # where PostgreSQL's journals are kept (journal_folder)
    url_a, url_b = postgres.new_database(), postgres.new_database()
    store_a = ScoreStore(url_a, flush_seconds=0.05)
    database = Database(store_a.scores.inserts, monkeypatch)
    database.down = True
    store_a.log_scores(rows("a1", "a2"), NOW).wait(10)  # journaled: A cannot take it
    store_a.close()
    assert store_a.scores.rows_journaled == 2 and store_a.count_scores() == 0
    database.down = False
    store_b = ScoreStore(url_b, flush_seconds=0.05)
    try:
        time.sleep(1.0)  # the writer replays what gone processes left in its first rounds
        assert store_b.count_scores() == 0
    finally:
        store_b.close()
    assert list(Path(journal_folder(url_a)).glob("scores-*.jsonl"))  # still there, for A
    store_a = ScoreStore(url_a, flush_seconds=0.05)
    try:
        deadline = time.monotonic() + 10
        while store_a.count_scores() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store_a.count_scores() == 2
    finally:
        store_a.close()


def test_a_program_limit_is_the_datas_fault_and_a_lost_connection_the_servers():
    """PostgreSQL raises "index row size exceeds btree maximum" (SQLSTATE 54000) as an
    OperationalError: rows that would fail again must not wait in the journal for ever."""
    from sqlalchemy.exc import OperationalError

    from serving.store.database import unavailable

    class Orig(Exception):
        def __init__(self, sqlstate):
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    def error(state):
        return OperationalError("INSERT ...", {}, Orig(state))

    assert not unavailable(error("54000"))
    assert unavailable(error("08006")) and unavailable(error("57P01")) and unavailable(error(None))
