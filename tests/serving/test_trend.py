"""Each score's trend since the lead's previous logged score, and cooling intent, as a user of
/score, of `leadscore score` and of the pages would notice them: up after more high-intent
activity, new the first time, the same trend from the API, batch scoring and the lead queue for
any sequence of scores, cooling words after a burst and a quiet month only, and scores still
answered when the log cannot be read."""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from datetime import datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving.conftest import api_leads, running_service

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="leadscore-prom-"))
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")

AS_OF = datetime(2026, 6, 1)
SPEC = "demo-crm"


def iso(moment: datetime) -> str:
    return moment.isoformat() + "Z"


@pytest.fixture(scope="module")
def db_url(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('trend-db') / 'leadscore.db'}"


@pytest.fixture(scope="module")
def client(bundle_dir, db_url):
    with running_service(bundle_dir, db_url) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def keen_leads(demo_crm_dir) -> list[dict]:
    """Demo leads the company can sell to (not the Home Edition), with no activities of their
    own: each test gives them the activities it needs."""
    leads = api_leads(demo_crm_dir, iso(AS_OF), 200)
    fit = [lead for lead in leads if str(lead.get("product_interest", "")).lower() != "home edition"]
    return [{**lead, "activities": []} for lead in fit]


def fresh(lead: dict, activities: list[dict] | None = None) -> dict:
    """`lead` under an id never scored before, with `activities`."""
    return {**lead, "lead_id": f"T-{uuid.uuid4().hex[:12]}", "activities": activities or []}


def did(kind: str, moment: datetime) -> dict:
    return {"occurred_at": iso(moment), "activity_type": kind}


def score(client, lead: dict, as_of: datetime, **headers) -> dict:
    response = client.post("/score", json={"lead": lead, "as_of": iso(as_of)}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["scores"][0]


# =============================================================================== the API
def test_the_same_lead_sent_again_with_more_activity_trends_up(client, keen_leads):
    lead = fresh(keen_leads[0], [did("email_open", AS_OF - timedelta(days=3))])
    first = score(client, lead, AS_OF)
    assert first["trend"] == {"direction": "new", "points": None, "days": None}
    later = AS_OF + timedelta(days=3, hours=12)
    more = [*lead["activities"], did("pricing_view", later - timedelta(hours=30)),
            did("demo_request", later - timedelta(hours=20)), did("form_fill", later - timedelta(hours=2))]
    second = score(client, {**lead, "activities": more}, later)
    assert second["score"] > first["score"], (first, second)
    assert second["trend"] == {"direction": "up", "points": second["score"] - first["score"], "days": 3.5}


def test_a_lead_that_went_quiet_trends_down_or_steady_as_its_score_shown_moved(client, keen_leads):
    busy = [did(kind, AS_OF - timedelta(days=day)) for day, kind in
            ((1, "pricing_view"), (2, "demo_request"), (3, "form_fill"), (4, "pricing_view"))]
    lead = fresh(keen_leads[1], busy)
    first = score(client, lead, AS_OF)
    quiet = AS_OF + timedelta(days=95)  # every one of them out of the activity windows
    second = score(client, lead, quiet)
    points = second["score"] - first["score"]
    assert points < 0, (first, second)  # fading: what it did counts less and less
    assert second["trend"] == {"direction": "down", "points": points, "days": 95.0}
    third = score(client, lead, quiet + timedelta(hours=1))  # an hour later: the score shown is the same
    assert third["score"] == second["score"]
    assert third["trend"] == {"direction": "steady", "points": 0, "days": 0.0}


def test_a_backfill_before_the_latest_score_has_no_trend(client, keen_leads):
    lead = fresh(keen_leads[2])
    score(client, lead, AS_OF)
    assert score(client, lead, AS_OF - timedelta(days=10))["trend"] is None


def test_a_lead_sent_twice_in_one_request_trends_from_its_first(client, keen_leads):
    lead = fresh(keen_leads[3])
    body = client.post("/score", json={"leads": [lead, lead], "as_of": iso(AS_OF)}).json()["scores"]
    assert [answer["trend"]["direction"] for answer in body] == ["new", "new"]  # the same moment: no previous


# =============================================================================== cooling
def burst(end: datetime, kinds=("pricing_view", "demo_request", "form_fill", "pricing_view")) -> list[dict]:
    return [did(kind, end - timedelta(days=i)) for i, kind in enumerate(kinds)]


def test_cooling_is_said_after_a_burst_and_a_quiet_month_and_not_otherwise(client, keen_leads):
    from features.intent import BURST_COUNT, LOOKBACK_DAYS, QUIET_DAYS

    lead = keen_leads[4]
    cooled = score(client, fresh(lead, burst(AS_OF - timedelta(days=40))), AS_OF)
    assert cooled["cooling"] == ("cooling: 4 high-intent activities within 7 days, then none in the last 40 days")
    italian = score(client, fresh(lead, burst(AS_OF - timedelta(days=40))), AS_OF, **{"Accept-Language": "it"})
    assert italian["cooling"].startswith("interesse in calo: 4 azioni di forte interesse in 7 giorni")
    not_cooling = {
        "still active": [*burst(AS_OF - timedelta(days=40)),
                         did("pricing_view", AS_OF - timedelta(days=QUIET_DAYS - 1))],
        "no burst": burst(AS_OF - timedelta(days=40), ("pricing_view",) * (BURST_COUNT - 1)),
        "spread out": [did("pricing_view", AS_OF - timedelta(days=40 + 10 * i)) for i in range(BURST_COUNT)],
        "long cold": burst(AS_OF - timedelta(days=LOOKBACK_DAYS + 1)),
        "only low intent": burst(AS_OF - timedelta(days=40), ("email_open",) * 5),
        "burst still going": burst(AS_OF - timedelta(days=2)),
    }
    for case, activities in not_cooling.items():
        assert score(client, fresh(lead, activities), AS_OF)["cooling"] is None, case


def test_the_lead_page_says_a_lead_is_cooling_in_the_reader_s_language(client, keen_leads):
    lead = fresh(keen_leads[4], burst(AS_OF - timedelta(days=40)))
    assert score(client, lead, AS_OF)["cooling"]
    page = client.get(f"/ui/lead?id={lead['lead_id']}")
    assert page.status_code == 200 and "cooling: 4 high-intent activities within 7 days" in page.text
    assert "interesse in calo: 4 azioni" in client.get(f"/ui/lead?id={lead['lead_id']}&lang=it").text
    active = fresh(keen_leads[4], burst(AS_OF - timedelta(days=2)))
    score(client, active, AS_OF)
    assert "cooling:" not in client.get(f"/ui/lead?id={active['lead_id']}").text


def test_cooling_counts_only_what_happened_before_as_of(client, keen_leads):
    activities = [*burst(AS_OF - timedelta(days=40)), did("demo_request", AS_OF + timedelta(days=1))]
    assert score(client, fresh(keen_leads[4], activities), AS_OF)["cooling"] is not None


def test_batch_and_api_say_the_same_cooling(bundle_dir, keen_leads):
    """score_table (batch) and score_leads (the API) give the same cooling words."""
    import yaml

    from features.load import CRMTables, clean, coerce
    from features.spec import DatasetSpec
    from serving.scorer import LeadScorer

    scorer = LeadScorer.from_bundle_dir(bundle_dir)
    leads = [fresh(keen_leads[i], acts) for i, acts in enumerate(
        [burst(AS_OF - timedelta(days=40)), burst(AS_OF - timedelta(days=3)), [], burst(AS_OF - timedelta(days=35))])]
    api = [a["cooling"] for a in scorer.score_leads(leads, as_of=AS_OF, cooling=True)]
    assert api[0] and api[3] and api[1] is None and api[2] is None
    spec = DatasetSpec.model_validate(yaml.safe_load(scorer.bundle.spec_yaml))
    table = pd.DataFrame([{k: v for k, v in lead.items() if k != "activities"} for lead in leads])
    table["sales_rating"] = None  # after contact: not known when scoring
    acts = pd.DataFrame([{"lead_id": lead["lead_id"], "value": None, **a}
                         for lead in leads for a in lead["activities"]])
    cleaned, _ = clean(spec, CRMTables(leads=table, activities=acts, paths={}))
    canonical = coerce(spec, cleaned)
    batch = scorer.score_table(canonical.leads, canonical.activities, AS_OF, reasons=0)
    assert [None if pd.isna(words) else words for words in batch["cooling"]] == api


# =============================================================================== one rule
@pytest.fixture
def store(store_url):
    """A score log on each database the store runs on (SQLite, PostgreSQL)."""
    from serving.store import ScoreStore

    log = ScoreStore(store_url, background=False)
    yield log
    log.close()


def _batch_log(store, frame: pd.DataFrame, moment: datetime, chunks=None) -> str | None:
    """`leadscore score`'s log of `frame` (lead_id, probability) as of `moment`: its rows in the
    chunks of the given sizes (default one), each lead's record empty; the trend columns added."""
    from leadscore.jobs.batch_log import BatchLog

    frame["stage"], frame["model_version"] = "not yet", "v1"
    batch_log = BatchLog(store, "lead_id", SPEC, lambda: [("{}", None)] * len(frame), moment)
    try:
        start = 0
        for size in chunks or [len(frame)]:
            batch_log.add(frame.iloc[start:start + size])
            start += size
        return batch_log.finish(frame)
    finally:
        batch_log.close()


def _expected(log: list[tuple[float, datetime, bool]], probability: float, moment: datetime):
    """The rule, from the whole log of the lead ((probability, moment, a backfill when logged)):
    None for a score older than the lead's latest (a backfill), new without an earlier score,
    else against the latest score made before it (of those at one moment, the last logged). A
    backfill is never anyone's previous: the lead's record keeps its latest score and the one
    that score replaced (serving.trend), as the lead queue shows it."""
    from serving.trend import NEW, score_trend

    if log and moment < max(t for _, t, _ in log):
        return None
    before = [(p, t) for p, t, backfill in log if t < moment and not backfill]
    if not before:
        return NEW
    latest = max(t for _, t in before)
    previous = [p for p, t in before if t == latest][-1]
    return score_trend(probability, previous, moment, latest)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.floats(0, 1).map(lambda p: round(p, 6)), st.integers(0, 6)), min_size=1, max_size=6))
def test_api_batch_and_queue_give_the_same_trend_for_any_sequence_of_scores(store, scores):
    from serving.store.lead_queue import latest_record
    from serving.store.previous_scores import TrendReader
    from serving.ui.display import trend as queue_trend

    lead_id = f"P-{uuid.uuid4().hex[:12]}"
    reader = TrendReader(store.engine, SPEC)
    log: list[tuple[float, datetime, bool]] = []
    for probability, day in scores:
        moment = AS_OF + timedelta(days=day)
        (api,) = reader.trends([lead_id], [probability], moment)
        frame = pd.DataFrame({"lead_id": [lead_id], "probability": [probability]})
        assert _batch_log(store, frame, moment) is None  # counted, then logged
        batch = frame.iloc[0]
        assert api == _expected(log, probability, moment)
        if api is None:
            assert pd.isna(batch["trend"]) and pd.isna(batch["trend_points"]) and pd.isna(batch["trend_days"])
        else:
            assert (batch["trend"], _na(batch["trend_points"]), _na(batch["trend_days"])) == (
                api.direction, api.points, api.days)
        log.append((probability, moment, api is None))
        if api is not None:  # the queue's arrow for the score just logged: the same rule, the same previous
            row = latest_record(store.engine, SPEC, lead_id)
            shown = queue_trend(row.probability, row.previous_probability)
            assert shown == (None if api.direction == "new" else {**api.as_dict(), "days": None})


def _na(value):
    return None if pd.isna(value) else value


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 2), st.floats(0, 1).map(lambda p: round(p, 6))), min_size=1, max_size=12),
       st.lists(st.integers(1, 5), min_size=1, max_size=12), st.booleans())
def test_a_file_s_trends_do_not_depend_on_how_it_is_chunked(store, picks, sizes, earlier):
    """A file naming some leads several times, logged in chunks of any sizes (each chunk's kept
    scores read after the chunks before it are logged), gives every row the trend the API's
    rule gives the whole file in order (trends_in_order over the kept scores before it), and
    leaves the log as one chunk would."""
    from serving.store.lead_queue import latest_record
    from serving.store.previous_scores import kept_scores
    from serving.trend import trends_in_order

    ids = [f"C-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    moment = AS_OF + timedelta(days=20)
    if earlier:  # every lead scored once before, so the trends are not all new
        _batch_log(store, pd.DataFrame({"lead_id": ids, "probability": [0.2, 0.5, 0.8]}), AS_OF)
    frame = pd.DataFrame({"lead_id": [ids[i] for i, _ in picks], "probability": [p for _, p in picks]})
    expected = trends_in_order(frame["lead_id"].tolist(), frame["probability"].tolist(), moment,
                               kept_scores(store.engine, SPEC, ids))
    chunks = []
    while sum(chunks) < len(frame):
        chunks.append(min(sizes[len(chunks) % len(sizes)], len(frame) - sum(chunks)))
    assert _batch_log(store, frame, moment, chunks) is None
    for (_, row), trend in zip(frame.iterrows(), expected):
        if trend is None:
            assert pd.isna(row["trend"])
        else:
            assert (row["trend"], _na(row["trend_points"]), _na(row["trend_days"])) == (
                trend.direction, trend.points, trend.days)
    last = {lead_id: p for lead_id, p in zip(frame["lead_id"], frame["probability"])}
    for lead_id, probability in last.items():
        assert latest_record(store.engine, SPEC, lead_id).probability == probability


# =============================================================================== the log unreadable
def test_an_unreadable_log_gives_no_trend_says_why_and_is_not_asked_again_at_once(tmp_path, caplog):
    from sqlalchemy import create_engine

    from serving.store.previous_scores import TrendReader

    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    now = [0.0]
    reader = TrendReader(create_engine(f"sqlite:///{broken}"), SPEC, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="leadscore.service"):
        assert reader.trends(["L1"], [0.5], AS_OF) is None
    assert "could not be read" in caplog.text
    caplog.clear()
    now[0] = reader.PAUSE_SECONDS / 2
    assert reader.trends(["L1"], [0.5], AS_OF) is None and not caplog.text  # paused: not asked
    now[0] = reader.PAUSE_SECONDS + 1
    with caplog.at_level(logging.WARNING, logger="leadscore.service"):
        assert reader.trends(["L1"], [0.5], AS_OF) is None
    assert "could not be read" in caplog.text  # asked again, still unreadable


def test_scores_are_answered_with_trend_null_while_the_log_cannot_be_read(client, keen_leads, monkeypatch):
    from serving.store import previous_scores

    def unreadable(*args, **kwargs):
        from sqlalchemy.exc import OperationalError

        raise OperationalError("SELECT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(previous_scores, "kept_scores", unreadable)  # the last test of the module: the
    answer = score(client, fresh(keen_leads[5]), AS_OF)  # reader then pauses (TrendReader.PAUSE_SECONDS)
    assert answer["trend"] is None and 0 <= answer["probability"] <= 1
