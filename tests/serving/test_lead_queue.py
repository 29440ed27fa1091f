"""The lead queue (serving.store.lead_queue): each lead's latest score, filtered, ordered and
paged exactly as a plain Python filter over what was logged says; its trend, history and
outcome. Dimension filters go through the index of values (serving.store.dimension_index),
however and whenever it was filled. On SQLite and on PostgreSQL (tests/serving/conftest.py)."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.store import Outcome, ScoreStore, index_dimensions
from serving.store import lead_queue
from serving.store.dimensions import dimension_key
from serving.store.lead_queue import QueueQuery, latest_record, lead_history, queue_page
from serving.store.tables import outcomes
from tests.serving.conftest import STORE_DATABASES, new_database_url

NOW = datetime(2026, 6, 1, 12, 0, 0)
SOURCE = "Lead Source"
QUOTED = 'it\'s "tier"'
"""A column name JSON paths cannot simply quote (SQLite reads it through json_each)."""


@pytest.fixture
def store(store_url):
    store = ScoreStore(store_url, background=False)
    yield store
    store.close()


def log(store, lead_id: str, probability: float, at: datetime, record: dict | None = None, *,
        stage: str = "MQL", spec: str = "s", version: str = "1", activities: list | None = None) -> None:
    record = {"lead_id": lead_id} if record is None else record
    store.log_scores([(lead_id, probability, stage, version)], at, spec=spec,
                     inputs=[(json.dumps(record), None if activities is None else json.dumps(activities))])
    store.flush()


def every_page(engine, query: QueueQuery) -> list:
    rows = []
    for number in itertools.count(1):
        page = queue_page(engine, QueueQuery(**{**query.__dict__, "page": number}))
        rows += page.rows
        assert page.page == number and len(page.rows) <= query.page_size
        if not page.has_next:
            assert len(page.rows) < query.page_size or queue_page(
                engine, QueueQuery(**{**query.__dict__, "page": number + 1})).rows == []
            return rows
        assert len(page.rows) == query.page_size


# ----------------------------------------------------------------------------- the property
@dataclass
class Kept:
    """What the queue should hold for a lead: its record as last scored, and the one before."""
    lead_id: str
    scored_at: datetime
    probability: float
    stage: str
    lead: dict
    previous_probability: float | None = None
    previous_scored_at: datetime | None = None


def expected_rows(events) -> dict[str, Kept]:
    """Scores applied one at a time: a later one replaces the record (the replaced score its
    previous), one at the same time replaces it keeping the previous, an older one nothing."""
    kept: dict[str, Kept] = {}
    for lead_id, at, probability, stage, record, _flush in events:
        old = kept.get(lead_id)
        if old is None or at > old.scored_at:
            kept[lead_id] = Kept(lead_id, at, probability, stage, record,
                                 *((None, None) if old is None else (old.probability, old.scored_at)))
        elif at == old.scored_at:
            kept[lead_id] = Kept(lead_id, at, probability, stage, record, old.previous_probability,
                                 old.previous_scored_at)
    return kept


def matches(row: Kept, query: QueueQuery, reported: dict[str, str]) -> bool:
    if query.stage is not None and row.stage != query.stage:
        return False
    if query.outcome is not None and reported.get(row.lead_id, "open") != query.outcome:
        return False
    if query.min_probability is not None and row.probability < query.min_probability:
        return False
    if query.max_probability is not None and row.probability > query.max_probability:
        return False
    if query.lead_id and not row.lead_id.startswith(query.lead_id):
        return False
    return all(dimension_key(row.lead.get(name)) == dimension_key(value) is not None
               for name, value in query.dimensions.items())


def python_queue(kept: dict[str, Kept], query: QueueQuery, reported: dict[str, str] | None = None) -> list[Kept]:
    key = (lambda r: (r.scored_at, r.lead_id)) if query.order == "newest" else (lambda r: (r.probability, r.lead_id))
    return sorted((row for row in kept.values() if matches(row, query, reported or {})), key=key, reverse=True)


IDS = st.sampled_from(["a", "b", "b%"]) | st.text(alphabet="ab%_A", min_size=1, max_size=3)  # some often
SPELLINGS = st.sampled_from(["Web", "web", " WEB ", "Ads", "ads  ", "Email", "e  mail", "E MAIL", "Straße",
                             "STRASSE", "École", " école", "  ", ""])
FIELDS = SPELLINGS | st.sampled_from([None, 7, 7.0, True, ["Web"], {"x": "Web"}])  # as records may hold them
PROBABILITIES = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0])
STAGES = st.sampled_from(["SQL", "MQL", "not yet"])
RECORDS = st.fixed_dictionaries({}, optional={SOURCE: FIELDS, QUOTED: FIELDS})
DIMENSIONS = [SOURCE, QUOTED, "missing"]
EVENTS = st.lists(st.tuples(IDS, st.integers(0, 4).map(lambda h: NOW + timedelta(hours=h)), PROBABILITIES,
                            STAGES, RECORDS, st.booleans()), max_size=30)
FILTERS = {
    "stage": STAGES,
    "dimensions": st.dictionaries(st.sampled_from(DIMENSIONS), SPELLINGS | st.just("7"), min_size=1, max_size=2),
    "min_probability": PROBABILITIES, "max_probability": PROBABILITIES,
    "lead_id": st.sampled_from(["a", "b"]) | st.text(alphabet="ab%_A", max_size=2),
    "outcome": st.sampled_from(["open", "won", "lost"]),
}
OUTCOMES = st.dictionaries(IDS, st.sampled_from(["won", "lost"]), max_size=6)
"""Outcomes sales reported, by lead (some for leads never scored)."""


@st.composite
def queries(draw) -> QueueQuery:
    """A query with up to two filters (more would mostly match nothing)."""
    chosen = draw(st.lists(st.sampled_from(sorted(FILTERS)), max_size=2, unique=True))
    return QueueQuery(spec="", **{name: draw(FILTERS[name]) for name in chosen},
                      order=draw(st.sampled_from(["newest", "ready"])), page_size=draw(st.integers(1, 4)))


@pytest.fixture(scope="module", params=STORE_DATABASES)
def shared(request, tmp_path_factory):
    """One database of each kind for every example: each example logs under a spec of its own."""
    store = ScoreStore(new_database_url(request, request.param, tmp_path_factory.mktemp("queue")), background=False)
    yield store, itertools.count()
    store.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS, queries=st.lists(queries(), min_size=1, max_size=3),
       sort_at_most=st.sampled_from([0, 2, 10_000]), indexed_after=st.integers(0, 30),
       fill_batch=st.sampled_from([1, 3, 20_000]), reported=OUTCOMES)
def test_every_page_together_is_the_filtered_sorted_latest_scores(shared, events, queries, sort_at_most,
                                                                  indexed_after, fill_batch, reported):
    """For any scores logged (flushed at random points, one batch or many; leads rescored with
    other values, older backfills) and any query, the pages one after another are the latest
    score of each matching lead in the query's order, with the score it replaced; whichever
    index SQLite is steered to (SORT_AT_MOST), and whether the dimensions were indexed before
    the scores, after them (filled in batches) or between."""
    store, counter = shared
    spec = f"spec{next(counter)}"
    for number, (lead_id, at, probability, stage, record, flush) in enumerate(events):
        if number == indexed_after:
            store.flush()
            index_dimensions(store.engine, spec, DIMENSIONS, batch=fill_batch)
        store.log_scores([(lead_id, probability, stage, "1")], at, spec=spec, inputs=[(json.dumps(record), None)])
        if flush:
            store.flush()
    store.flush()
    if indexed_after >= len(events):
        index_dimensions(store.engine, spec, DIMENSIONS, batch=fill_batch)
    with store.engine.begin() as conn:  # outcomes are kept by lead id for every spec: this example's only
        conn.execute(outcomes.delete())
    if reported:
        store.record_outcomes([Outcome(lead_id, outcome, NOW) for lead_id, outcome in reported.items()], NOW)
    kept = expected_rows(events)
    with mock.patch.object(lead_queue, "SORT_AT_MOST", sort_at_most):
        for query in queries:
            query = QueueQuery(**{**query.__dict__, "spec": spec})
            if (query.min_probability or 0) > (1 if query.max_probability is None else query.max_probability):
                with pytest.raises(ValueError, match="above max_probability"):
                    queue_page(store.engine, query)
                continue
            got = [(r.lead_id, r.scored_at, r.probability, r.stage, r.lead, r.previous_probability,
                    r.previous_scored_at) for r in every_page(store.engine, query)]
            want = [(r.lead_id, r.scored_at, r.probability, r.stage, r.lead, r.previous_probability,
                     r.previous_scored_at) for r in python_queue(kept, query, reported)]
            assert got == want


# ----------------------------------------------------------------------------- each rule
def test_filters_each_return_exactly_their_leads(store):
    store.index_dimensions("s", [SOURCE, "campaign", "nobody"])
    leads = {"A1": (0.9, "SQL", {SOURCE: "Web", "campaign": "spring"}),
             "A2": (0.45, "MQL", {SOURCE: " web ", "campaign": "Autumn"}),
             "B1": (0.2, "MQL", {SOURCE: "Ads", "campaign": "spring"}),
             "B2": (0.05, "not yet", {SOURCE: "WEB", "campaign": "autumn"})}
    for hour, (lead_id, (p, stage, record)) in enumerate(leads.items()):
        log(store, lead_id, p, NOW + timedelta(hours=hour), record, stage=stage)

    def ids(**fields) -> list[str]:
        return [row.lead_id for row in queue_page(store.engine, QueueQuery(**{"spec": "s", **fields})).rows]

    assert ids() == ["B2", "B1", "A2", "A1"]
    assert ids(order="ready") == ["A1", "A2", "B1", "B2"]
    assert ids(stage="MQL") == ["B1", "A2"]
    assert ids(dimensions={SOURCE: "WEB"}) == ["B2", "A2", "A1"]
    assert ids(dimensions={SOURCE: "web", "campaign": " AUTUMN"}) == ["B2", "A2"]
    assert ids(dimensions={"campaign": "summer"}) == [] and ids(dimensions={"nobody": "x"}) == []
    assert ids(min_probability=0.2, max_probability=0.45) == ["B1", "A2"]  # both bounds included
    assert ids(min_probability=0.9) == ["A1"] and ids(max_probability=0.05) == ["B2"]
    assert ids(lead_id="A") == ["A2", "A1"] and ids(lead_id="a") == []  # case-sensitive
    assert ids(lead_id="B", stage="MQL", order="ready") == ["B1"]
    assert ids(spec="other") == []
    assert ids(page_size=3) == ["B2", "B1", "A2"] and ids(page_size=3, page=2) == ["A1"]
    assert ids(page_size=3, page=3) == []


def test_a_rescore_keeps_the_score_it_replaced_and_a_backfill_changes_nothing(store):
    log(store, "L1", 0.3, NOW, {"v": "first"}, stage="MQL", version="1")
    row = latest_record(store.engine, "s", "L1")
    assert row.probability == 0.3 and row.previous_probability is None and row.previous_scored_at is None
    log(store, "L1", 0.6, NOW + timedelta(days=2), {"v": "second"}, stage="SQL", version="2")
    row = latest_record(store.engine, "s", "L1")
    assert (row.probability, row.stage, row.model_version, row.lead) == (0.6, "SQL", "2", {"v": "second"})
    assert (row.previous_probability, row.previous_scored_at) == (0.3, NOW)
    log(store, "L1", 0.65, NOW + timedelta(days=2), {"v": "again"}, stage="SQL")  # the same moment
    row = latest_record(store.engine, "s", "L1")
    assert (row.probability, row.lead) == (0.65, {"v": "again"})
    assert (row.previous_probability, row.previous_scored_at) == (0.3, NOW)
    log(store, "L1", 0.1, NOW - timedelta(days=30), {"v": "backfill"}, stage="not yet")  # older: kept out
    row = latest_record(store.engine, "s", "L1")
    assert (row.probability, row.lead, row.previous_probability) == (0.65, {"v": "again"}, 0.3)
    (page_row,) = queue_page(store.engine, QueueQuery(spec="s")).rows
    assert page_row == row


def test_two_scores_of_a_lead_written_in_one_batch_keep_the_first_as_previous(store):
    for p, at in ((0.2, NOW), (0.7, NOW + timedelta(hours=1)), (0.1, NOW - timedelta(days=1))):
        store.log_scores([("L1", p, "MQL", "1")], at, spec="s", inputs=[("{}", None)])
    store.flush()
    row = latest_record(store.engine, "s", "L1")
    assert (row.probability, row.previous_probability, row.previous_scored_at) == (0.7, 0.2, NOW)


def test_the_history_is_the_leads_scores_oldest_first(store):
    times = [NOW + timedelta(days=d) for d in range(6)]
    for i, at in enumerate(times):
        log(store, "L1", i / 10, at, stage="MQL", version=str(i))
        log(store, "other", 0.5, at + timedelta(minutes=1))
    store.log_scores([("L1", 0.99, "SQL", "x")], NOW + timedelta(days=1, hours=1), spec="another")
    store.log_scores([("L1", 0.55, "SQL", "old")], NOW + timedelta(days=1, hours=2))  # before specs were kept
    store.flush()
    log(store, "L1", 0.05, NOW - timedelta(days=3))  # a backfill, logged last

    history = lead_history(store.engine, "s", "L1")
    assert [h.scored_at for h in history] == sorted(h.scored_at for h in history)
    assert [h.probability for h in history] == [0.05, 0.0, 0.1, 0.55, 0.2, 0.3, 0.4, 0.5]
    assert history[1] == (times[0], 0.0, "MQL", "0")
    assert [h.probability for h in lead_history(store.engine, "s", "L1", limit=3)] == [0.3, 0.4, 0.5]
    assert lead_history(store.engine, "s", "nobody") == []
    with pytest.raises(ValueError, match="limit"):
        lead_history(store.engine, "s", "L1", limit=0)


@pytest.mark.parametrize("sort_at_most", [0, 10_000], ids=["walking the order", "reading the id range"])
def test_the_id_search_takes_wildcards_literally(store, sort_at_most):
    for i, lead_id in enumerate(["a%b", "a_b", "axb", "a%%", "A%b", "ab", "a\\b", "a", "b", "a&"]):
        log(store, lead_id, 0.5, NOW + timedelta(minutes=i))

    def found(prefix: str) -> set[str]:
        with mock.patch.object(lead_queue, "SORT_AT_MOST", sort_at_most):
            return {row.lead_id for row in queue_page(store.engine, QueueQuery(spec="s", lead_id=prefix)).rows}

    assert found("a%") == {"a%b", "a%%"}
    assert found("a_") == {"a_b"}
    assert found("a\\") == {"a\\b"}
    assert found("a") == {"a%b", "a_b", "axb", "a%%", "ab", "a\\b", "a", "a&"}
    assert found("%") == set() and found("_") == set() and found("b") == {"b"}
    assert found("\U0010ffff") == set()


def test_a_column_name_with_a_space_and_a_quote_filters_like_any(store):
    store.index_dimensions("s", [SOURCE, QUOTED, "a.b", "a\\b", '"', "$"])
    log(store, "L1", 0.5, NOW, {SOURCE: "Web", QUOTED: "Gold ", "a.b": "x", "a\\b": "y"})
    log(store, "L2", 0.5, NOW, {SOURCE: "Ads", QUOTED: "silver", "a.b": "z", "a\\b": "w"})

    def ids(dimensions) -> list[str]:
        return [row.lead_id for row in queue_page(store.engine, QueueQuery(spec="s", dimensions=dimensions)).rows]

    assert ids({QUOTED: "gold"}) == ["L1"]
    assert ids({SOURCE: "ads", QUOTED: "SILVER"}) == ["L2"]
    assert ids({"a.b": "x"}) == ["L1"] and ids({"a\\b": "w"}) == ["L2"]
    assert ids({'"': "x"}) == [] and ids({"$": "x"}) == []


def test_rows_carry_the_record_activities_and_outcome(store):
    log(store, "won", 0.8, NOW, {"x": 1}, stage="SQL", activities=[[1, "webinar", None]])
    log(store, "lost", 0.4, NOW)
    log(store, "open", 0.3, NOW)
    closed = NOW + timedelta(days=3)
    store.record_outcomes([Outcome("won", "won", closed), Outcome("lost", "lost", closed),
                           Outcome("never scored", "won", closed)], NOW + timedelta(days=4))
    rows = {row.lead_id: row for row in queue_page(store.engine, QueueQuery(spec="s")).rows}
    assert set(rows) == {"won", "lost", "open"}
    assert (rows["won"].outcome, rows["won"].closed_at, rows["lost"].outcome) == ("won", closed, "lost")
    assert rows["open"].outcome is None and rows["open"].closed_at is None
    assert rows["won"].lead == {"x": 1} and rows["won"].activities == [[1, "webinar", None]]
    assert rows["won"].as_of == NOW and rows["open"].activities is None
    assert latest_record(store.engine, "s", "won") == rows["won"]
    assert latest_record(store.engine, "s", "nobody") is None and latest_record(store.engine, "t", "won") is None


@pytest.mark.parametrize("fields, message", [
    ({"page": 0}, "page must"), ({"page": 1.5}, "page must"), ({"page": True}, "page must"),
    ({"page_size": 0}, "page_size must"), ({"page_size": 201}, "page_size must"),
    ({"min_probability": -0.1}, "min_probability must"), ({"max_probability": 1.5}, "max_probability must"),
    ({"min_probability": float("nan")}, "min_probability must"), ({"max_probability": "0.5"}, "max_probability"),
    ({"min_probability": 0.6, "max_probability": 0.5}, "above max_probability"),
    ({"order": "oldest"}, "order must be one of newest, ready"),
    ({"dimensions": {"campaign": 3}}, "dimensions"),
])
def test_a_query_out_of_range_is_a_value_error_saying_what_to_send(store, fields, message):
    with pytest.raises(ValueError, match=message):
        queue_page(store.engine, QueueQuery(spec="s", **fields))


def test_a_record_kept_before_scores_were_is_not_in_the_queue(store):
    from sqlalchemy import text

    log(store, "L1", 0.5, NOW)
    log(store, "L2", 0.5, NOW)
    with store.engine.begin() as conn:
        conn.execute(text("update scored_inputs set probability = null, stage = null, model_version = null "
                          "where lead_id = 'L2'"))
    assert [row.lead_id for row in queue_page(store.engine, QueueQuery(spec="s")).rows] == ["L1"]
    assert latest_record(store.engine, "s", "L2") is None


def test_the_statements_render_for_postgresql():
    """PostgreSQL finds a dimension value through the index of values, the key bound as the
    rule reads it, and searches ids with LIKE, escaped."""
    from sqlalchemy import select
    from sqlalchemy.dialects import postgresql

    from serving.store.tables import scored_inputs

    dialect = postgresql.dialect()
    query = QueueQuery(spec="s", dimensions={QUOTED: " Gold  Card "}, lead_id="a%_")
    sql = str(select(scored_inputs.c.lead_id).where(*lead_queue._conditions(dialect, query))
              .compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    assert "EXISTS (SELECT queue_dimensions_1.lead_id" in sql
    assert "queue_dimensions_1.dimension = 'it''s \"tier\"'" in sql and "queue_dimensions_1.value = 'gold card'" in sql
    assert "queue_dimensions_1.lead_id = scored_inputs.lead_id" in sql
    assert "LIKE 'a/%%/_' || '%%' ESCAPE '/'" in sql  # % doubled: the driver's paramstyle


# ----------------------------------------------------------------------------- the dimensions' index
@pytest.mark.parametrize("written, asked", [
    ("Web", " WEB "), ("e  mail", "E MAIL"), ("Straße", "STRASSE"), ("École", "école"), ("ΣΊΣΥΦΟΣ", "σίσυφος"),
    (7, "7"), (7.0, "7"), (True, "TRUE"), ("x" * 300, "X" * 300),
])
def test_a_dimension_value_is_read_as_the_model_reads_a_category(written, asked):
    """Trimmed, case-folded beyond ASCII, inner spaces collapsed; numbers and yes/no as text."""
    assert dimension_key(written) == dimension_key(asked) is not None


def test_values_no_filter_matches_and_long_values():
    assert dimension_key(None) is None and dimension_key("  ") is None and dimension_key(float("nan")) is None
    assert dimension_key(["Web"]) is None and dimension_key({"x": 1}) is None
    long, other = "a" * 200 + "b", "a" * 200 + "c"
    assert dimension_key(long) != dimension_key(other)
    assert len(dimension_key(long)) == len(dimension_key(other)) == 121  # never equal to a short one
    assert dimension_key("a" * 120) == "a" * 120
    assert len(dimension_key("\ud800x")) == 121  # a lone surrogate (JSON allows one): kept by its digest


def test_a_rescore_moves_the_lead_to_its_new_value_and_a_backfill_does_not(store):
    store.index_dimensions("s", ["source"])

    def ids(value: str) -> list[str]:
        query = QueueQuery(spec="s", dimensions={"source": value})
        return [row.lead_id for row in queue_page(store.engine, query).rows]

    log(store, "L1", 0.3, NOW, {"source": "Web"})
    log(store, "L2", 0.3, NOW, {"source": "Web"})
    assert ids("web") == ["L2", "L1"]
    log(store, "L1", 0.4, NOW + timedelta(days=1), {"source": "Ads"})
    assert ids("web") == ["L2"] and ids("ads") == ["L1"]
    log(store, "L1", 0.1, NOW - timedelta(days=1), {"source": "Email"})  # a backfill: changes nothing
    assert ids("email") == [] and ids("ads") == ["L1"]
    log(store, "L1", 0.5, NOW + timedelta(days=1), {"source": "Email"})  # the same moment: replaces
    assert ids("email") == ["L1"] and ids("ads") == []
    log(store, "L1", 0.5, NOW + timedelta(days=2), {})  # no value any more
    assert ids("email") == [] and ids("ads") == [] and ids("web") == ["L2"]
    log(store, "L2", 0.5, NOW + timedelta(days=2), {"source": "Web"}, spec="other")  # another spec's record
    assert ids("web") == ["L2"]


def test_only_indexed_columns_filter_and_indexing_fills_the_records_kept_before(store):
    for i in range(7):
        log(store, f"L{i}", 0.5, NOW + timedelta(minutes=i), {"source": "Web" if i % 2 else "Ads", "tier": str(i % 3)})
    with pytest.raises(ValueError, match="cannot filter by 'source'.*none.*report_by"):
        queue_page(store.engine, QueueQuery(spec="s", dimensions={"source": "web"}))
    assert store.index_dimensions("s", ["source"]) == 7
    assert store.index_dimensions("s", ["source"]) == 0  # ready: nothing to do
    page = queue_page(store.engine, QueueQuery(spec="s", dimensions={"source": "web"}))
    assert [row.lead_id for row in page.rows] == ["L5", "L3", "L1"]
    with pytest.raises(ValueError, match="cannot filter by 'tier'.*\\(source\\)"):
        queue_page(store.engine, QueueQuery(spec="s", dimensions={"tier": "1"}))
    with pytest.raises(ValueError, match="cannot filter by 'source'"):
        queue_page(store.engine, QueueQuery(spec="t", dimensions={"source": "web"}))
    assert index_dimensions(store.engine, "s", ["tier", "source"], batch=2) == 7  # only tier is filled
    page = queue_page(store.engine, QueueQuery(spec="s", dimensions={"tier": "1", "source": "WEB"}))
    assert [row.lead_id for row in page.rows] == ["L1"]
    with pytest.raises(ValueError, match="column name"):
        store.index_dimensions("s", [""])


def test_a_fill_cut_short_is_taken_up_again(store):
    from sqlalchemy import insert, text

    from serving.store.tables import queue_dimension_columns

    for i in range(5):
        log(store, f"L{i}", 0.5, NOW + timedelta(minutes=i), {"source": "Web"})
    with store.engine.begin() as conn:  # listed, two records given their values, then the process stopped
        conn.execute(insert(queue_dimension_columns).values(spec="s", dimension="source", ready=False))
        conn.execute(text("insert into queue_dimensions values ('s', 'L0', 'source', 'web'), "
                          "('s', 'L1', 'source', 'web')"))
    log(store, "L9", 0.5, NOW + timedelta(hours=1), {"source": "WEB"})  # the writer keeps listed columns at once
    with pytest.raises(ValueError, match="cannot filter by 'source'"):
        queue_page(store.engine, QueueQuery(spec="s", dimensions={"source": "web"}))
    assert store.index_dimensions("s", ["source"]) == 6
    page = queue_page(store.engine, QueueQuery(spec="s", dimensions={"source": "web"}))
    assert [row.lead_id for row in page.rows] == ["L9", "L4", "L3", "L2", "L1", "L0"]


def test_long_and_odd_values_filter_like_any(store):
    store.index_dimensions("s", ["note"])
    long = "Référence " * 40
    log(store, "L1", 0.5, NOW, {"note": long})
    log(store, "L2", 0.5, NOW, {"note": long + "x"})
    log(store, "L3", 0.5, NOW, {"note": "\ud800 odd"})
    log(store, "L4", 0.5, NOW, {"note": "web\u0000"})  # PostgreSQL's text refuses NUL: kept by digest

    def ids(value: str) -> list[str]:
        return [row.lead_id for row in queue_page(store.engine, QueueQuery(spec="s", dimensions={"note": value})).rows]

    assert ids(long.upper()) == ["L1"] and ids(long + "X") == ["L2"] and ids("\ud800  ODD") == ["L3"]
    assert ids("WEB\u0000") == ["L4"] and ids("web") == []
    assert ids("   ") == []


@pytest.mark.parametrize("sort_at_most", [0, 10_000], ids=["walking the order", "reading the values' index"])
def test_two_dimensions_combine(store, sort_at_most):
    store.index_dimensions("s", ["source", "campaign"])
    for i in range(40):
        log(store, f"L{i:02d}", i / 40, NOW + timedelta(minutes=i),
            {"source": "Web" if i % 2 else "Ads", "campaign": "rare" if i % 10 == 3 else "common"})

    def ids(**fields) -> list[str]:
        with mock.patch.object(lead_queue, "SORT_AT_MOST", sort_at_most):
            return [row.lead_id for row in every_page(store.engine, QueueQuery(spec="s", page_size=3, **fields))]

    assert ids(dimensions={"source": "web", "campaign": "rare"}) == ["L33", "L23", "L13", "L03"]
    assert ids(dimensions={"source": "ads", "campaign": "rare"}) == []
    assert ids(dimensions={"source": "web", "campaign": "rare"}, order="ready", lead_id="L1") == ["L13"]
    assert ids(dimensions={"source": "web", "campaign": "rare"}, min_probability=0.5) == ["L33", "L23"]
