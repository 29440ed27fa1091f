"""The score log and outcomes store: what is written, when, and what survives a failure."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from serving.store import IN_CHUNK, Outcome, ScoreStore, StoreError

NOW = datetime(2026, 6, 1, 12, 0, 0)


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'leadscore.db'}"


def rows(n: int, prefix: str = "L", version: str = "7"):
    return [(f"{prefix}{i}", i / n, "MQL" if i % 2 else "not yet", version) for i in range(n)]


def test_tables_are_created_with_wal_and_the_folder_too(url, tmp_path):
    store = ScoreStore(url, background=False)
    try:
        path = tmp_path / "data" / "leadscore.db"
        assert path.exists()
        with sqlite3.connect(path) as conn:
            tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
            assert {"score_log", "outcomes"} <= tables
            assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()
    ScoreStore(url, background=False).close()  # opening an existing database is fine


def test_scores_are_buffered_then_written_with_every_field(url):
    store = ScoreStore(url, background=False)
    try:
        store.log_scores(rows(3), NOW)
        assert store.buffered == 3
        assert store.flush() == 3 and store.buffered == 0
        (row,) = store.scores_of("L1")
        assert row["lead_id"] == "L1" and row["probability"] == pytest.approx(1 / 3)
        assert row["stage"] == "MQL" and row["model_version"] == "7" and row["scored_at"] == NOW
    finally:
        store.close()


def test_the_background_writer_flushes_on_its_own_and_on_close(url):
    store = ScoreStore(url, flush_seconds=0.05)
    store.log_scores(rows(10), NOW)
    deadline = time.monotonic() + 5
    while store.buffered and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.buffered == 0
    slow = ScoreStore(url, flush_seconds=60)  # would not flush for a minute
    slow.log_scores(rows(25, prefix="S"), NOW)
    slow.close()  # ...but closing writes what is left
    check = ScoreStore(url, background=False)
    try:
        assert check.count_scores() == 35
    finally:
        check.close()
        store.close()


def test_the_buffer_is_bounded(url):
    store = ScoreStore(url, background=False, max_buffered=1_000, batch_rows=400)
    try:
        store.log_scores(rows(999), NOW)
        assert not store.needs_room
        store.log_scores(rows(5, prefix="X"), NOW)
        assert store.needs_room
        store.wait_for_room()
        assert store.buffered == 0 and store.count_scores() == 1_004
    finally:
        store.close()


def test_rows_survive_a_failed_write(url):
    store = ScoreStore(url, background=False)
    try:
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE score_log RENAME TO score_log_away"))
        store.log_scores(rows(4), NOW)
        with pytest.raises(Exception):
            store.flush()
        assert store.buffered == 4 and not store.healthy and "score_log" in store.last_error
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE score_log_away RENAME TO score_log"))
        assert store.flush() == 4 and store.healthy
    finally:
        store.close()


def test_known_leads_are_the_scored_ones_across_many_ids(url):
    store = ScoreStore(url, background=False)
    try:
        store.log_scores(rows(IN_CHUNK * 2 + 10), NOW)
        wanted = [f"L{i}" for i in range(0, IN_CHUNK * 2 + 10, 3)] + ["nobody", "L99999"]
        known = store.known_leads(wanted)  # flushes the buffer first
        assert known == set(wanted) - {"nobody", "L99999"}
    finally:
        store.close()


def test_outcomes_are_idempotent_per_lead(url):
    store = ScoreStore(url, background=False)
    closed = NOW - timedelta(days=3)
    try:
        first = store.record_outcomes([Outcome("A", "won", closed), Outcome("B", "lost", closed)], NOW)
        assert first == ["recorded", "recorded"]
        again = store.record_outcomes([Outcome("A", "won", closed), Outcome("B", "lost", closed)], NOW + timedelta(hours=1))
        assert again == ["unchanged", "unchanged"]
        corrected = store.record_outcomes([Outcome("B", "won", closed + timedelta(days=1))], NOW + timedelta(hours=2))
        assert corrected == ["updated"]
        b = store.outcome_of("B")
        assert b["outcome"] == "won" and b["closed_at"] == closed + timedelta(days=1)
        assert b["recorded_at"] == NOW and b["updated_at"] == NOW + timedelta(hours=2)
        assert store.outcome_of("A")["recorded_at"] == NOW
        with store.engine.connect() as conn:
            assert conn.execute(text("select count(*) from outcomes")).scalar_one() == 2
    finally:
        store.close()


def test_a_later_outcome_for_the_same_lead_in_one_batch_wins(url):
    store = ScoreStore(url, background=False)
    try:
        statuses = store.record_outcomes([Outcome("C", "won", NOW), Outcome("C", "lost", NOW),
                                          Outcome("D", "lost", NOW), Outcome("D", "lost", NOW)], NOW)
        assert statuses == ["recorded", "updated", "recorded", "unchanged"]
        assert store.outcome_of("C")["outcome"] == "lost"
    finally:
        store.close()


def test_two_stores_on_one_database(url):
    """Two workers: each has its own store on the same SQLite file."""
    one, two = ScoreStore(url, background=False), ScoreStore(url, background=False)
    try:
        one.log_scores(rows(100, prefix="one"), NOW)
        two.log_scores(rows(100, prefix="two"), NOW)
        one.flush()
        two.flush()
        assert one.count_scores() == 200
        assert two.known_leads(["one5", "two5"]) == {"one5", "two5"}
    finally:
        one.close()
        two.close()


def test_an_unusable_database_url_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="LEADSCORE_DATABASE_URL"):
        ScoreStore("nosuchdialect://x/y", background=False)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot create the folder"):
        ScoreStore(f"sqlite:///{blocker / 'sub' / 'db.sqlite'}", background=False)
