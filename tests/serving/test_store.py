"""The score log and outcomes store: what is written, when, and what survives a failure; on
SQLite and on PostgreSQL (`store_url`, tests/serving/conftest.py)."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from serving.store import IN_CHUNK, Outcome, ScoreStore, StoreError

NOW = datetime(2026, 6, 1, 12, 0, 0)


@pytest.fixture
def url(tmp_path) -> str:
    """A SQLite file to be, for what only SQLite has (WAL, databases of releases before migrations)."""
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


def test_scores_are_buffered_then_written_with_every_field(store_url):
    store = ScoreStore(store_url, background=False)
    try:
        store.log_scores(rows(3), NOW)
        assert store.buffered == 3
        assert store.flush() == 3 and store.buffered == 0
        (row,) = store.scores_of("L1")
        assert row["lead_id"] == "L1" and row["probability"] == pytest.approx(1 / 3)
        assert row["stage"] == "MQL" and row["model_version"] == "7" and row["scored_at"] == NOW
        if store.engine.dialect.name == "postgresql":  # the moment itself, whatever the server's time zone
            with store.engine.connect() as conn:
                kept = conn.execute(text("select scored_at from score_log where lead_id = 'L1'")).scalar_one()
            assert kept == NOW.replace(tzinfo=timezone.utc)
    finally:
        store.close()


def test_the_background_writer_flushes_on_its_own_and_on_close(store_url):
    store = ScoreStore(store_url, flush_seconds=0.05)
    store.log_scores(rows(10), NOW)
    deadline = time.monotonic() + 5
    while store.buffered and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.buffered == 0
    slow = ScoreStore(store_url, flush_seconds=60)  # would not flush for a minute
    slow.log_scores(rows(25, prefix="S"), NOW)
    slow.close()  # ...but closing writes what is left
    check = ScoreStore(store_url, background=False)
    try:
        assert check.count_scores() == 35
    finally:
        check.close()
        store.close()


def test_the_buffer_is_bounded(store_url):
    store = ScoreStore(store_url, background=False, max_buffered=1_000, batch_rows=400)
    try:
        store.log_scores(rows(999), NOW)
        assert not store.needs_room
        store.log_scores(rows(5, prefix="X"), NOW)
        assert store.needs_room
        store.wait_for_room()
        assert store.buffered == 0 and store.count_scores() == 1_004
    finally:
        store.close()


def test_rows_survive_a_failed_write(store_url):
    store = ScoreStore(store_url, background=False)
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


def test_known_leads_are_the_scored_ones_across_many_ids(store_url):
    store = ScoreStore(store_url, background=False)
    try:
        store.log_scores(rows(IN_CHUNK * 2 + 10), NOW)
        wanted = [f"L{i}" for i in range(0, IN_CHUNK * 2 + 10, 3)] + ["nobody", "L99999"]
        known = store.known_leads(wanted)  # flushes the buffer first
        assert known == set(wanted) - {"nobody", "L99999"}
    finally:
        store.close()


def test_outcomes_are_idempotent_per_lead(store_url):
    store = ScoreStore(store_url, background=False)
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


def test_a_later_outcome_for_the_same_lead_in_one_batch_wins(store_url):
    store = ScoreStore(store_url, background=False)
    try:
        statuses = store.record_outcomes([Outcome("C", "won", NOW), Outcome("C", "lost", NOW),
                                          Outcome("D", "lost", NOW), Outcome("D", "lost", NOW)], NOW)
        assert statuses == ["recorded", "updated", "recorded", "unchanged"]
        assert store.outcome_of("C")["outcome"] == "lost"
    finally:
        store.close()


def test_two_stores_on_one_database(store_url):
    """Two workers: each has its own store on the same database."""
    one, two = ScoreStore(store_url, background=False), ScoreStore(store_url, background=False)
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


def scored_leads_rows(store) -> list[tuple]:
    from serving.store import scored_leads

    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(scored_leads).order_by(scored_leads.c.lead_id))]


def test_each_lead_is_one_row_of_scored_leads_with_its_first_and_last_time(store_url):
    store = ScoreStore(store_url, background=False)
    try:
        store.log_scores(rows(3), NOW)
        store.log_scores(rows(2), NOW + timedelta(hours=1))
        store.flush()
        later = NOW + timedelta(hours=1)
        assert scored_leads_rows(store) == [("L0", NOW, later), ("L1", NOW, later), ("L2", NOW, NOW)]  # L2: once
        assert store.count_scores() == 5  # the log keeps every score
    finally:
        store.close()


def test_a_database_from_before_scored_leads_is_upgraded_on_start(url, tmp_path):
    path = tmp_path / "data" / "leadscore.db"
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:  # the schema an earlier version wrote
        conn.execute("create table score_log (id integer primary key autoincrement, lead_id varchar(1000) "
                     "not null, scored_at datetime not null, probability float not null, stage varchar(16) "
                     "not null, model_version varchar(64) not null)")
        conn.execute("create index ix_score_log_lead_id on score_log (lead_id)")
        conn.executemany("insert into score_log (lead_id, scored_at, probability, stage, model_version) "
                         "values (?, ?, 0.5, 'MQL', '1')",
                         [("old1", "2026-05-01 10:00:00.000000"), ("old1", "2026-05-02 10:00:00.000000"),
                          ("old2", "2026-05-03 10:00:00.000000")])
    store = ScoreStore(url, background=False)
    try:
        assert store.known_leads(["old1", "old2", "never"]) == {"old1", "old2"}  # outcomes still accepted
        with sqlite3.connect(path) as conn:
            indexes = {r[0] for r in conn.execute("select name from sqlite_master where type='index'")}
        assert "ix_score_log_lead_id" not in indexes
    finally:
        store.close()


def test_the_migrations_build_exactly_the_schema_the_code_uses(store_url):
    """A new database, migrated from nothing, has the tables, columns (types included) and
    indexes of serving.store.tables: Alembic's comparison finds no difference."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from serving.store import create_tables, make_engine, metadata

    engine = make_engine(store_url)
    create_tables(engine)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert differences == []


def test_a_database_of_the_previous_release_gains_specs_and_records_and_keeps_its_rows(store_url, tmp_path):
    from sqlalchemy import text

    from serving.store import create_tables, make_engine
    from serving.store.database import migrate

    (tmp_path / "data").mkdir()
    engine = make_engine(store_url)
    migrate(engine, "0001")  # the schema before specs and records were logged
    with engine.begin() as conn:
        conn.execute(text("insert into score_log (lead_id, scored_at, probability, stage, model_version) "
                          "values ('old', '2026-05-01 10:00:00.000000', 0.4, 'MQL', '3')"))
        conn.execute(text("insert into scored_leads values ('old', '2026-05-01 10:00:00.000000', "
                          "'2026-05-01 10:00:00.000000')"))
    engine.dispose()
    store = ScoreStore(store_url, background=False)
    try:
        assert store.known_leads(["old"]) == {"old"}
        store.log_scores([("new", 0.7, "SQL", "4")], NOW, spec="demo-crm", inputs=[('{"lead_id": "new"}', None)])
        store.flush()
        with store.engine.connect() as conn:
            log = conn.execute(text("select lead_id, spec from score_log order by id")).all()
            kept = conn.execute(text("select spec, lead_id, lead, probability, stage, model_version "
                                     "from scored_inputs")).all()
        assert log == [("old", None), ("new", "demo-crm")]
        assert kept == [("demo-crm", "new", '{"lead_id": "new"}', 0.7, "SQL", "4")]
    finally:
        store.close()
    create_tables(make_engine(store_url))  # again: nothing to do, nothing lost


def test_records_of_the_previous_release_gain_their_scores_from_the_log(store_url, tmp_path):
    """0003: each kept record gets the score logged with it (same spec, lead and time); one the
    log has no score for stays out of the lead queue until scored again."""
    from sqlalchemy import text

    from serving.store import make_engine
    from serving.store.database import migrate
    from serving.store.lead_queue import QueueQuery, latest_record, queue_page

    (tmp_path / "data").mkdir()
    engine = make_engine(store_url)
    migrate(engine, "0002")  # records kept, without their scores
    at, earlier = "2026-05-01 10:00:00.000000", "2026-04-01 10:00:00.000000"
    with engine.begin() as conn:
        conn.execute(text("insert into score_log (lead_id, scored_at, probability, stage, model_version, spec) "
                          "values ('kept', :earlier, 0.1, 'not yet', '1', 's'), ('kept', :at, 0.4, 'MQL', '2', 's'), "
                          "('kept', :at, 0.4, 'MQL', '2', 'other'), ('lost', :earlier, 0.9, 'SQL', '2', 's')"),
                     {"at": at, "earlier": earlier})
        conn.execute(text("insert into scored_inputs (spec, lead_id, scored_at, as_of, lead, activities) values "
                          "('s', 'kept', :at, :at, '{\"v\": 1}', null), ('s', 'lost', :at, :at, '{}', null)"),
                     {"at": at})
    engine.dispose()
    store = ScoreStore(store_url, background=False)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(text("select lead_id, probability, stage, model_version, previous_probability, "
                                     "previous_scored_at, lead from scored_inputs order by lead_id")).all()
        assert rows == [("kept", 0.4, "MQL", "2", None, None, '{"v": 1}'), ("lost", None, None, None, None, None, "{}")]
        assert [row.lead_id for row in queue_page(store.engine, QueueQuery(spec="s")).rows] == ["kept"]
        assert latest_record(store.engine, "s", "lost") is None
        store.log_scores([("kept", 0.8, "SQL", "3"), ("lost", 0.2, "MQL", "3")], NOW, spec="s",
                         inputs=[("{}", None), ("{}", None)])
        store.flush()
        kept, lost = latest_record(store.engine, "s", "kept"), latest_record(store.engine, "s", "lost")
        assert (kept.probability, kept.previous_probability, str(kept.previous_scored_at)) == (0.8, 0.4, at[:19])
        assert (lost.probability, lost.previous_probability, str(lost.previous_scored_at)) == (0.2, None, at[:19])
    finally:
        store.close()


def test_records_of_the_previous_release_are_indexed_when_the_service_lists_its_dimensions(store_url, tmp_path):
    """0004 adds the lead queue's index of dimension values, empty: the spec's report_by is
    the service's to say. Listed, the records kept before get their values; later scores keep
    them, whichever process writes them."""
    from sqlalchemy import text

    from serving.store import make_engine
    from serving.store.database import migrate
    from serving.store.lead_queue import QueueQuery, queue_page

    (tmp_path / "data").mkdir()
    engine = make_engine(store_url)
    migrate(engine, "0003")
    at = "2026-05-01 10:00:00.000000"
    with engine.begin() as conn:
        conn.execute(text("insert into scored_inputs (spec, lead_id, scored_at, as_of, lead, probability, stage, "
                          "model_version) values ('s', 'A', :at, :at, '{\"source\": \" Web\"}', 0.4, 'MQL', '1'), "
                          "('s', 'B', :at, :at, '{\"source\": \"ads\"}', 0.6, 'SQL', '1'), "
                          "('s', 'C', :at, :at, '{}', 0.2, 'MQL', '1'), "
                          "('t', 'A', :at, :at, '{\"source\": \"web\"}', 0.4, 'MQL', '1')"), {"at": at})
    engine.dispose()

    def ids(store, value: str) -> list[str]:
        query = QueueQuery(spec="s", dimensions={"source": value}, order="ready")
        return [row.lead_id for row in queue_page(store.engine, query).rows]

    store, other = ScoreStore(store_url, background=False), ScoreStore(store_url, background=False)  # two workers
    try:
        with pytest.raises(ValueError, match="cannot filter by 'source'"):
            ids(store, "web")
        assert store.index_dimensions("s", ["source"]) == 3
        assert ids(store, "WEB") == ["A"] and ids(store, "ads") == ["B"]
        other.log_scores([("C", 0.9, "SQL", "2"), ("D", 0.1, "not yet", "2")], NOW, spec="s",
                         inputs=[('{"source": "web"}', None), ('{"source": "Ads "}', None)])
        other.flush()  # a process that never listed the column keeps it all the same
        assert ids(store, "web") == ["C", "A"] and ids(other, "ads") == ["B", "D"]
        with store.engine.connect() as conn:
            assert conn.execute(text("select count(*) from queue_dimensions where spec = 't'")).scalar_one() == 0
    finally:
        store.close()
        other.close()


def test_the_report_reads_an_empty_log_as_no_leads(store_url):
    from serving.store.report_inputs import latest_scores, logged_records, outcome_frame

    store = ScoreStore(store_url, background=False)
    try:
        scores = latest_scores(store.engine, "demo-crm")
        assert len(scores) == 0 and {"lead_id", "scored_at", "first_scored_at"} <= set(scores.columns)
        assert len(outcome_frame(store.engine)) == 0 and len(logged_records(store.engine, "demo-crm")) == 0
    finally:
        store.close()


def test_first_and_last_scored_follow_time_whatever_order_scores_arrive_in(store_url):
    """A backfill logs scores as of an earlier moment after later ones: the lead's first score
    is the earliest, its last the latest (days to close count from the first)."""
    store = ScoreStore(store_url, background=False)
    try:
        store.log_scores([("L1", 0.5, "MQL", "1")], NOW)
        store.flush()
        store.log_scores([("L1", 0.4, "MQL", "1")], NOW - timedelta(days=30))
        store.flush()
        assert scored_leads_rows(store) == [("L1", NOW - timedelta(days=30), NOW)]
    finally:
        store.close()


def test_a_backfill_queued_after_a_newer_score_keeps_the_newer_record(store_url):
    store = ScoreStore(store_url, background=False)
    try:
        store.log_scores([("L1", 0.5, "MQL", "1")], NOW, spec="s", inputs=[('{"v": "new"}', None)])
        store.log_scores([("L1", 0.4, "MQL", "1")], NOW - timedelta(days=30), spec="s",
                         inputs=[('{"v": "old"}', None)])
        store.flush()  # both in one batch
        from serving.store.report_inputs import logged_records

        assert logged_records(store.engine, "s")["lead"].tolist() == ['{"v": "new"}']
    finally:
        store.close()


def test_a_batch_too_large_for_one_statement_is_written_whole(store_url, monkeypatch):
    """`leadscore score` logs every lead of a file in one transaction: 1,000,000 demo leads'
    records once made one 1.3-billion-character text that SQLite refused ("string or blob too
    big"). The rows go in texts of bounded size (here made small, and SQLite's own limit with
    them), all in that transaction."""
    from serving.store import inserts
    from serving.store.report_inputs import logged_records

    monkeypatch.setattr(inserts, "ROWS_PER_TEXT", 1_000)
    monkeypatch.setattr(inserts, "TEXT_CHARS", 20_000)  # about 200 records of this size: halved until they fit
    n = 2_500
    records = [(f'{{"lead_id": "L{i}", "note": "{"x" * (i % 150)}"}}',
                f'[{{"type": "email_open", "at": "2026-05-0{1 + i % 9}"}}]' if i % 3 else None) for i in range(n)]
    records[7] = ('{"lead_id": "L7", "note": "' + "y" * 30_000 + '"}', None)  # one record longer than a text
    store = ScoreStore(store_url, background=False)
    try:
        if store.engine.dialect.name == "sqlite":  # SQLite's limit, made small: the rule it enforces
            from sqlalchemy import event

            event.listen(store.engine, "connect",
                         lambda conn, _: conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100_000))
            store.engine.dispose()
        store.log_scores(rows(n), NOW, spec="s", inputs=records)
        assert store.flush() == n
        assert store.count_scores() == n and len(scored_leads_rows(store)) == n
        kept = logged_records(store.engine, "s").set_index("lead_id")
        assert len(kept) == n
        for i in (0, 7, 1_499, n - 1):
            assert kept.loc[f"L{i}", "lead"] == records[i][0]
            assert (kept.loc[f"L{i}", "activities"] or None) == records[i][1]
    finally:
        store.close()
