"""The report's fast reading of the score log gives what the plain reading gives, for any input.

The outcome report of a large log (benchmarks/report.py: 1M scores, 600k leads, 200k outcomes)
reads less than all of every record: only the report_by columns of every lead, and every input
of the recent leads only (drift's), each lead's JSON once; it judges dimension values one
distinct value at a time and formats each month once. Each is checked here against the plain
way (kept in this file), and the whole report against the plain composition of its steps."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.load import LEAD_ID
from features.profile import DataProfile, drift_values
from features.spec import load_spec
from monitoring.inputs import (DRIFT_RECENT_DAYS, dimensions_and_drift, drift_inputs, logged_canonical,
                               logged_canonical_of, only_leads, with_dimensions)
from monitoring.report import (_dimension_values, _dimension_values_one_by_one, _ranking_and_calibration, build_report,
                               calibration_by_month)
from tests.conftest import DEMO_SPEC
from tests.features.test_values import TRICKY

SPEC = load_spec(DEMO_SPEC)


# ------------------------------------------------------------------------------ canonical parts
SOURCES = ["Paid Search", " paid  search ", "PAID SEARCH", "Webinar", "N/A", "Select", "", "  ", None, 12, True,
           "unknown", "helthcare", "Référence"]
IDS = ["L1", "L2", "L3", "101", "101.0", " 7", "7", "N/A", "unknown", "None", "x y", "-", "1e3", "L\x00"]


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(TRICKY))


@st.composite
def logged(draw) -> pd.DataFrame:
    """A frame of records as logged_records gives it: distinct lead ids, messy values of the
    kinds a record holds (features.logged: text, numbers, true/false, null)."""
    ids = draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=10, unique=True))
    rows = []
    for i, lead_id in enumerate(ids):
        lead = {"lead_id": lead_id, "created_at": draw(st.sampled_from(["2026-05-01T10:00:00", None, "yesterday"])),
                "industry": draw(st.sampled_from(SOURCES)), "lead_source": draw(st.sampled_from(SOURCES)),
                "campaign": draw(st.sampled_from(SOURCES)), "employee_count": draw(SCALARS),
                "email_opt_in": draw(st.sampled_from([True, False, "Yes", "no", 1.0, None, "maybe"]))}
        acts = draw(st.lists(st.tuples(st.sampled_from(["2026-05-01T10:00:00", "2026-05-03T09:00:00.25"]),
                                       st.sampled_from(["web_visit", "Web_Visit ", "demo_request", "N/A", None]),
                                       st.sampled_from([None, 3, 2.5, "x"])), max_size=4))
        rows.append({"lead_id": lead_id, "scored_at": datetime(2026, 5, 1) + timedelta(days=i),
                     "lead": json.dumps(lead), "activities": json.dumps([list(a) for a in acts]) if acts else None})
    frame = pd.DataFrame(rows)
    frame["activities"] = pd.Series([row["activities"] for row in rows], dtype=object)  # None stays None
    return frame


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logged())
def test_the_report_by_columns_alone_read_as_in_the_whole_reading(records):
    whole = logged_canonical(SPEC, records).leads
    mine = logged_canonical(SPEC, records, columns=SPEC.report_by).leads
    pd.testing.assert_frame_equal(mine.reset_index(drop=True),
                                  whole[[LEAD_ID, *SPEC.report_by]].reset_index(drop=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logged(), st.data())
def test_the_recent_leads_alone_give_the_drift_values_of_the_whole_reading(records, data):
    lead_ids = set(data.draw(st.lists(st.sampled_from([*IDS, "nan"]), max_size=6)))
    whole = only_leads(logged_canonical(SPEC, records), lead_ids)
    for times in (True, False):
        mine = logged_canonical_of(SPEC, records, lead_ids, times=times)
        assert drift_values(SPEC, mine) == drift_values(SPEC, whole)


def missing_as_none(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame's values as Python objects, missing as None: pandas infers a column's dtype from
    its values, so a part of a column may hold None where the whole holds NaN (text) or be
    object where the whole is text."""
    return frame.astype(object).where(frame.notna(), None).reset_index(drop=True)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logged())
def test_the_recent_leads_alone_read_as_in_the_whole_reading_times_too(records):
    lead_ids = set(records["lead_id"].iloc[::2])
    mine, whole = logged_canonical_of(SPEC, records, lead_ids), only_leads(logged_canonical(SPEC, records), lead_ids)
    pd.testing.assert_frame_equal(missing_as_none(mine.leads), missing_as_none(whole.leads))
    pd.testing.assert_frame_equal(missing_as_none(mine.activities), missing_as_none(whole.activities))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(logged(), st.data())
def test_both_readings_at_once_are_each_reading_alone(records, data):
    lead_ids = data.draw(st.one_of(st.none(), st.sets(st.sampled_from(IDS), max_size=6)))
    dimensions, drift = dimensions_and_drift(SPEC, records, lead_ids)
    alone = logged_canonical(SPEC, records, columns=SPEC.report_by).leads
    pd.testing.assert_frame_equal(missing_as_none(dimensions.leads), missing_as_none(alone))
    if lead_ids is None:
        assert drift is None
    else:
        assert drift_values(SPEC, drift) == drift_values(SPEC, only_leads(logged_canonical(SPEC, records), lead_ids))


# ------------------------------------------------------------------------------ report sections
DIMENSION_VALUES = st.one_of(st.none(), st.just(np.nan), st.sampled_from(["", "  ", "Webinar", "webinar", " x "]),
                             st.text(max_size=4), st.integers(-2, 2), st.floats(allow_nan=False), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(DIMENSION_VALUES, max_size=30), st.sampled_from([object, "str"]))
def test_dimension_values_judged_once_each_are_those_judged_one_by_one(values, dtype):
    column = pd.Series(values, dtype=object)
    if dtype == "str":
        column = column.map(lambda v: v if v is None or isinstance(v, str) or v != v else str(v)).astype("str")
    plain = _dimension_values_one_by_one(column.astype(object).where(column.notna(), None))
    pd.testing.assert_series_equal(_dimension_values(column), plain)


def months_by_strftime(leads: pd.DataFrame) -> list[dict]:
    month = leads["scored_at"].dt.strftime("%Y-%m")
    return [{"month": str(key), "leads": int(len(group)), **_ranking_and_calibration(group[group["closed"]])}
            for key, group in leads.groupby(month, sort=True)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.datetimes(datetime(1700, 1, 1), datetime(2200, 12, 31))),
                          st.floats(0, 1), st.booleans(), st.booleans()), max_size=40),
       st.sampled_from(["ns", "us"]))
def test_months_grouped_as_numbers_are_the_months_strftime_gives(rows, unit):
    leads = pd.DataFrame({"scored_at": pd.to_datetime(pd.Series([r[0] for r in rows], dtype=object))
                          .astype(f"datetime64[{unit}]"),
                          "probability": [r[1] for r in rows], "closed": [r[2] for r in rows],
                          "won": [r[2] and r[3] for r in rows], "days_to_close": 1.0},
                         index=np.arange(len(rows))[::-1])
    assert json.dumps(calibration_by_month(leads)) == json.dumps(months_by_strftime(leads))


# ------------------------------------------------------------------------------ the whole report
def report_the_plain_way(engine, scorer) -> dict:
    """serving.report.report_from_store as first written: every record read whole, and the
    store read through pandas' own handling of SQLAlchemy rows."""
    from sqlalchemy import or_, select

    from serving.store.tables import outcomes, score_log, scored_inputs, scored_leads

    spec = scorer.spec
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(select(score_log.c.lead_id, score_log.c.scored_at, score_log.c.probability,
                                                 score_log.c.stage, score_log.c.model_version, score_log.c.id)
                                          .where(or_(score_log.c.spec == spec.name, score_log.c.spec.is_(None)))).all(),
                             columns=["lead_id", "scored_at", "probability", "stage", "model_version", "id"])
        first = pd.DataFrame(conn.execute(select(scored_leads.c.lead_id, scored_leads.c.first_scored_at)).all(),
                             columns=["lead_id", "first_scored_at"])
        closed = pd.DataFrame(conn.execute(select(outcomes.c.lead_id, outcomes.c.outcome, outcomes.c.closed_at)).all(),
                              columns=["lead_id", "outcome", "closed_at"])
        records = pd.DataFrame(conn.execute(select(scored_inputs.c.lead_id, scored_inputs.c.scored_at,
                                                   scored_inputs.c.as_of, scored_inputs.c.lead,
                                                   scored_inputs.c.activities)
                                            .where(scored_inputs.c.spec == spec.name)).all(),
                               columns=["lead_id", "scored_at", "as_of", "lead", "activities"])
    frame["scored_at"] = pd.to_datetime(frame["scored_at"]).astype("datetime64[ns]")
    frame = frame.sort_values(["scored_at", "id"], kind="stable").drop_duplicates("lead_id", keep="last")
    scores = frame.drop(columns="id").reset_index(drop=True)
    first["first_scored_at"] = pd.to_datetime(first["first_scored_at"]).astype("datetime64[ns]")
    scores["first_scored_at"] = scores["lead_id"].map(first.set_index("lead_id")["first_scored_at"])
    scores["first_scored_at"] = scores["first_scored_at"].fillna(scores["scored_at"]).astype("datetime64[ns]")
    closed["closed_at"] = pd.to_datetime(closed["closed_at"]).astype("datetime64[ns]")
    for column in ("scored_at", "as_of"):
        records[column] = pd.to_datetime(records[column]).astype("datetime64[ns]")
    reference = DataProfile.model_validate(scorer.bundle.profile).drift_reference
    last = scores["scored_at"].max()
    records = records[records["scored_at"] >= scores["scored_at"].min()]
    records = records[records["lead_id"].isin(set(scores["lead_id"].astype(str)))]
    canonical = logged_canonical(spec, records)
    recent_ids = set(records.loc[records["scored_at"] >= last - timedelta(days=DRIFT_RECENT_DAYS), "lead_id"]
                     .astype(str))
    drift = drift_inputs(spec, reference, only_leads(canonical, recent_ids))
    stages = scorer.stage_definitions()
    report = build_report(with_dimensions(scores, spec, canonical), closed, stages, dimensions=spec.report_by,
                          capacity_per_week=(stages.get("sql") or {}).get("leads_per_week"), drift_inputs=drift)
    return report


@pytest.fixture
def logged_store(tmp_path, trained, bundle_dir):
    """A store with the demo leads scored over six weeks (some twice, some by hand with odd ids
    and spellings), and outcomes for a third of them; (engine, scorer)."""
    from features.logged import records_from_tables
    from serving.scorer import LeadScorer
    from serving.store import Outcome, ScoreStore

    spec, tables, _, _ = trained
    scorer = LeadScorer.from_bundle_dir(bundle_dir)
    store = ScoreStore(f"sqlite:///{tmp_path / 'leadscore.db'}", background=False)
    leads, acts = tables.leads.iloc[:1500].reset_index(drop=True), tables.activities
    start = datetime(2026, 4, 6)
    for week in range(6):
        part = leads.iloc[week * 250:(week + 2) * 250]  # each lead in two weeks running
        at = start + timedelta(days=7 * week, hours=week)
        scores = scorer.score_table(part, acts, at, reasons=0)
        store.log_scores(zip(scores[scorer.id_key].astype(str), scores["probability"], scores["stage"],
                             scores["model_version"]), at, spec=spec.name, as_of=at,
                         inputs=records_from_tables(spec, part, acts, at))
    odd = [("101.0", {"lead_id": 101, "lead_source": " Paid  SEARCH", "campaign": "N/A"}),
           ("101", {"lead_id": "101", "lead_source": "webinar", "campaign": None, "email_opt_in": "yes"}),
           ("N/A", {"lead_id": "N/A", "lead_source": "Select", "employee_count": "12"}),
           (" 7", {"lead_id": " 7", "lead_source": "", "industry": "helthcare"})]
    at = start + timedelta(days=40)
    store.log_scores([(lead_id, 0.4, "MQL", scorer.version) for lead_id, _ in odd], at, spec=spec.name, as_of=at,
                     inputs=[(json.dumps(lead), json.dumps([[at.isoformat(), "web_visit", None]] * 2))
                             for _, lead in odd])
    store.flush()
    rng = np.random.default_rng(5)
    ids = leads["lead_id"].astype(str).to_numpy()[::3]
    store.record_outcomes([Outcome(i, "won" if rng.random() < 0.3 else "lost", start + timedelta(days=60))
                           for i in ids] + [Outcome("101.0", "won", start + timedelta(days=61))],
                          start + timedelta(days=62))
    yield store.engine, scorer
    store.close()


def test_the_report_from_the_store_is_the_report_of_the_plain_reading(logged_store):
    from serving.report import report_from_store

    engine, scorer = logged_store
    report = report_from_store(engine, scorer)
    assert report["period"]["leads"] == 1504 and report["drift"] and report["by_dimension"]["lead_source"]
    model = report.pop("model")
    assert report["period"].pop("records_replaced") == 0  # the whole log: every record is of its lead's latest score
    assert model["spec"] == scorer.spec.name and model["champion_version"] == scorer.version
    assert json.dumps(report, sort_keys=True) == json.dumps(report_the_plain_way(engine, scorer), sort_keys=True)


def test_store_reads_give_the_frames_of_pandas_on_sqlalchemy_rows(logged_store):
    from sqlalchemy import select

    from serving.store.report_inputs import _frame, logged_records
    from serving.store.tables import outcomes, score_log, scored_leads

    engine, _ = logged_store
    with engine.connect() as conn:
        for table in (score_log, scored_leads, outcomes):
            query = select(*table.c)
            columns = [c.name for c in table.c]
            pd.testing.assert_frame_equal(_frame(conn, query, columns),
                                          pd.DataFrame(conn.execute(query).all(), columns=columns))
    records = logged_records(engine, "demo-crm")
    assert records["lead"].map(type).eq(str).all() and len(records) == 1504
    assert records.loc[records["lead_id"] == "N/A", "activities"].map(json.loads).iloc[0][0][1] == "web_visit"
