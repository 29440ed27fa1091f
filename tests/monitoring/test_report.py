"""The outcome report's figures on small generated score logs and outcomes: promises kept and
broken, sources with known buy rates, calibration by month, SQLs per week, drift, and the
performance expected before deals close."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.errors import DataError
from features.metrics import roc_auc
from monitoring import (
    NOT_GIVEN,
    build_report,
    calibration_by_month,
    estimated_performance,
    expected_calibration_error,
    expected_roc_auc,
    feature_drift,
    leads_with_outcomes,
    mean_probability_by_week,
    outcomes_by_dimension,
    population_stability_index,
    reliability_table,
    sales_capacity,
    stage_promise_checks,
    wilson_interval,
)

START = pd.Timestamp("2025-03-03")  # a Monday, ISO week 2025-W10

STAGES = {
    "sql": {"name": "SQL", "threshold": 0.6, "conversion": 0.6, "share_of_leads": 0.1, "share_of_buyers": 0.4},
    "mql": {"name": "MQL", "threshold": 0.3, "conversion": 0.45, "share_of_leads": 0.3, "share_of_buyers": 0.8,
            "band_conversion": 0.3},
}


def log(stage, probability, scored_at=None, **dimensions) -> pd.DataFrame:
    """A score log of len(stage) leads, L0, L1, ..., scored an hour apart from START."""
    n = len(stage)
    return pd.DataFrame({
        "lead_id": [f"L{i}" for i in range(n)],
        "scored_at": scored_at if scored_at is not None else START + pd.to_timedelta(np.arange(n), unit="h"),
        "probability": np.broadcast_to(np.asarray(probability, dtype=float), (n,)).copy(),
        "stage": list(stage), "model_version": "1", **dimensions})


def outcomes_of(scores: pd.DataFrame, won, closed=None, days: float = 10.0) -> pd.DataFrame:
    """Outcomes for the leads where `closed` (default all), won where `won`, `days` after scoring."""
    closed = np.ones(len(scores), bool) if closed is None else np.asarray(closed, bool)
    return pd.DataFrame({"lead_id": scores["lead_id"][closed],
                         "outcome": np.where(np.asarray(won, bool), "won", "lost")[closed],
                         "closed_at": scores["scored_at"][closed] + pd.Timedelta(days=days)})


def no_outcomes(scores: pd.DataFrame) -> pd.DataFrame:
    return outcomes_of(scores, np.zeros(len(scores)), np.zeros(len(scores)))


def check(scores, outcomes, stages=STAGES):
    return {c["stage"]: c for c in stage_promise_checks(leads_with_outcomes(scores, outcomes), stages)}


# ------------------------------------------------------------------------------ Wilson
@settings(deadline=None)
@given(n=st.integers(1, 5000), data=st.data(), confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_interval_holds_the_observed_rate_inside_zero_to_one(n, data, confidence):
    won = data.draw(st.integers(0, n))
    low, high = wilson_interval(won, n, confidence)
    assert 0.0 <= low <= won / n <= high <= 1.0
    assert low < high


@settings(deadline=None)
@given(n=st.integers(1, 500), data=st.data(), k=st.integers(2, 20))
def test_wilson_interval_narrows_with_more_closed_leads_at_the_same_rate(n, data, k):
    won = data.draw(st.integers(0, n))
    low, high = wilson_interval(won, n)
    low_k, high_k = wilson_interval(won * k, n * k)
    assert high_k - low_k < high - low


def test_wilson_interval_matches_published_values_and_widens_with_confidence():
    # Newcombe (1998), Statistics in Medicine 17:857, table II, Wilson score method
    for (won, n), expected in {(81, 263): (0.2553, 0.3662), (15, 148): (0.0624, 0.1605),
                               (0, 20): (0.0, 0.1611), (1, 29): (0.0061, 0.1718)}.items():
        assert wilson_interval(won, n) == pytest.approx(expected, abs=5e-5)
    low95, high95 = wilson_interval(30, 100)
    low99, high99 = wilson_interval(30, 100, confidence=0.99)
    assert low99 < low95 and high99 > high95
    with pytest.raises(ValueError):
        wilson_interval(0, 0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


# ------------------------------------------------------------------------------ stage promises
def test_sqls_buying_at_the_promised_rate_keep_the_promise():
    rng = np.random.default_rng(1)
    scores = log(["SQL"] * 300, 0.7)
    sql = check(scores, outcomes_of(scores, rng.random(300) < 0.6))["sql"]
    assert sql["closed"] == 300 and sql["promised_won_rate"] == 0.6
    assert sql["low"] <= sql["observed_won_rate"] <= sql["high"]
    assert sql["low"] <= 0.6 <= sql["high"]
    assert not sql["broken"] and sql["judged"]
    assert sql["verdict"].startswith("SQL promised 60%, observed ")
    assert sql["verdict"].endswith("of 300 closed: within what chance explains")


def test_sqls_buying_at_half_the_promised_rate_break_the_promise():
    rng = np.random.default_rng(2)
    scores = log(["SQL"] * 300, 0.7)
    sql = check(scores, outcomes_of(scores, rng.random(300) < 0.3))["sql"]
    assert sql["broken"]
    assert sql["high"] < 0.6
    assert "the promise is broken" in sql["verdict"]


def test_a_promise_is_broken_only_beyond_what_chance_explains():
    # 45% of closed SQLs bought: the 95% Wilson interval reaches up to 54.8% of 100, 49.9% of 400
    for closed, promised, broken in ((100, 0.54, False), (100, 0.56, True), (400, 0.49, False), (400, 0.51, True)):
        scores = log(["SQL"] * closed, 0.7)
        outcomes = outcomes_of(scores, np.arange(closed) < closed * 0.45)
        sql = check(scores, outcomes, {"sql": {**STAGES["sql"], "conversion": promised}})["sql"]
        assert sql["observed_won_rate"] == 0.45
        assert sql["broken"] is broken


def test_a_recent_period_with_many_open_leads_is_not_called_broken_until_they_close():
    """Lost deals close first: 300 SQLs of which 100 closed, 30 won (30% against 60% promised).
    With 200 still open the stage could yet keep its promise: said, not broken. Once they close
    as lost, it is broken; had they bought, it would have kept it."""
    scores = log(["SQL"] * 300, 0.7)
    closed = np.arange(300) < 100
    early = check(scores, outcomes_of(scores, np.arange(300) < 30, closed))["sql"]
    assert early["observed_won_rate"] == 0.3 and early["high"] < 0.6 and early["open"] == 200
    assert not early["broken"] and early["waiting_on_open"]
    assert "200 of its leads are still open" in early["verdict"]
    lost = check(scores, outcomes_of(scores, np.arange(300) < 30))["sql"]
    assert lost["broken"] and not lost["waiting_on_open"]
    bought = check(scores, outcomes_of(scores, (np.arange(300) < 30) | ~closed))["sql"]
    assert not bought["broken"] and not bought["waiting_on_open"]


def test_the_mql_promise_covers_sqls_too_and_the_band_has_its_own():
    # SQLs buy at 60%, MQLs not yet SQL at 30%, as many of each: MQLs and SQLs together buy
    # at 45%, the MQL definition's conversion. Judged on MQL leads alone (30%) against 45%,
    # the promise would look broken; it is not.
    scores = log(["SQL"] * 200 + ["MQL"] * 200 + ["not yet"] * 100, 0.5)
    won = np.r_[np.arange(200) % 10 < 6, np.arange(200) % 10 < 3, np.zeros(100, bool)]
    checks = check(scores, outcomes_of(scores, won))
    assert checks["mql"]["name"] == "MQL and SQL"
    assert checks["mql"]["closed"] == 400 and checks["mql"]["observed_won_rate"] == pytest.approx(0.45)
    assert not checks["mql"]["broken"]
    assert checks["mql_band"]["closed"] == 200 and checks["mql_band"]["observed_won_rate"] == pytest.approx(0.3)
    assert not checks["mql_band"]["broken"]
    assert checks["sql"]["closed"] == 200 and not checks["sql"]["broken"]


def test_a_stage_with_few_or_no_closed_leads_is_not_judged():
    scores = log(["SQL"] * 20 + ["MQL"] * 5, 0.7)
    checks = check(scores, outcomes_of(scores, np.zeros(25, bool), closed=np.r_[np.ones(20, bool), np.zeros(5, bool)]))
    sql = checks["sql"]
    assert sql["closed"] == 20 and sql["observed_won_rate"] == 0.0
    assert not sql["broken"] and not sql["judged"]
    assert sql["verdict"] == "SQL promised 60%, observed 0% of 20 closed: too few closed leads to judge (fewer than 30)"
    band = checks["mql_band"]
    assert band["closed"] == 0 and band["open"] == 5
    assert band["observed_won_rate"] is None and band["low"] is None and not band["broken"]
    assert band["verdict"] == "MQL not yet SQL promised 30%: no closed leads yet to judge"


def test_a_stage_buying_far_above_its_promise_says_so_without_breaking_it():
    scores = log(["SQL"] * 100, 0.7)
    sql = check(scores, outcomes_of(scores, np.arange(100) < 90))["sql"]
    assert not sql["broken"]
    assert sql["verdict"] == ("SQL promised 60%, observed 90% of 100 closed: "
                              "better than promised, more than chance explains")


def test_without_a_band_conversion_there_is_no_band_check():
    stages = {"sql": STAGES["sql"], "mql": {**STAGES["mql"], "band_conversion": None}}
    scores = log(["SQL"] * 10, 0.7)
    assert set(check(scores, outcomes_of(scores, np.ones(10)), stages)) == {"sql", "mql"}


# ------------------------------------------------------------------------------ calibration
def test_calibration_by_month_shows_the_month_the_score_stopped_meaning_what_it_says():
    rng = np.random.default_rng(3)
    n = 2000
    p = rng.uniform(0.05, 0.95, n)
    times = np.r_[pd.date_range("2025-01-01", periods=n // 2, freq="30min"),
                  pd.date_range("2025-02-01", periods=n // 2, freq="30min")]
    scores = log(["not yet"] * n, p, scored_at=times)
    # January buys as scored; in February leads buy at half their probability
    won = rng.random(n) < np.where(np.arange(n) < n // 2, p, p / 2)
    months = {m["month"]: m for m in calibration_by_month(leads_with_outcomes(scores, outcomes_of(scores, won)))}
    jan, feb = months["2025-01"], months["2025-02"]
    assert jan["closed"] == feb["closed"] == n // 2
    assert jan["ece"] < 0.06
    assert feb["ece"] > 0.15
    assert feb["won_rate"] < feb["mean_probability"] - 0.15
    assert jan["roc_auc"] > 0.7 and feb["roc_auc"] > 0.6  # still ranks, no longer calibrated


def test_a_month_with_one_outcome_or_none_has_no_roc_auc():
    times = pd.to_datetime(["2025-01-05", "2025-01-06", "2025-02-05", "2025-03-05"])
    scores = log(["SQL"] * 4, [0.2, 0.8, 0.5, 0.5], scored_at=times)
    months = calibration_by_month(leads_with_outcomes(scores, outcomes_of(scores, [1, 1, 0, 0], [1, 1, 1, 0])))
    assert [m["month"] for m in months] == ["2025-01", "2025-02", "2025-03"]
    assert months[0]["roc_auc"] is None and months[0]["won_rate"] == 1.0
    assert months[2]["closed"] == 0 and months[2]["leads"] == 1
    assert months[2]["roc_auc"] is None and months[2]["ece"] is None and months[2]["won_rate"] is None


# ------------------------------------------------------------------------------ marketing
def test_by_source_shows_which_sources_bring_leads_that_close():
    rng = np.random.default_rng(4)
    source = np.array(["webinar"] * 400 + ["ads"] * 400 + [None] * 50 + [" "] * 50, dtype=object)
    stage = np.r_[np.where(np.arange(400) < 200, "SQL", "MQL"), np.where(np.arange(400) < 40, "MQL", "not yet"),
                  ["not yet"] * 100]
    p = np.r_[np.full(400, 0.5), np.full(400, 0.1), np.full(100, 0.2)]
    scores = log(stage, p, lead_source=source)
    closed = np.r_[np.arange(400) < 300, np.arange(400) < 300, np.ones(100, bool)]
    won = rng.random(900) < p
    won[:300] = np.arange(300) % 2 == 0  # webinar: exactly half of the closed buy
    days = pd.to_timedelta(np.r_[np.full(400, 10.0), np.full(400, 40.0), np.full(100, 20.0)], unit="D")
    outcomes = outcomes_of(scores, won, closed)
    outcomes["closed_at"] = (scores["scored_at"] + days)[closed]

    rows = {r["value"]: r for r in outcomes_by_dimension(leads_with_outcomes(scores, outcomes), ["lead_source"])
            ["lead_source"]}
    assert set(rows) == {"webinar", "ads", NOT_GIVEN}
    webinar, ads, missing = rows["webinar"], rows["ads"], rows[NOT_GIVEN]
    assert webinar["leads"] == 400 and webinar["closed"] == 300 and webinar["won_rate"] == 0.5
    assert webinar["sql_share"] == 0.5 and webinar["mql_or_better_share"] == 1.0
    assert ads["sql_share"] == 0.0 and ads["mql_or_better_share"] == 0.1
    assert ads["won_rate_high"] < webinar["won_rate_low"]  # ads close less, beyond chance
    assert webinar["open"] == 100 and webinar["expected_wins_open"] == pytest.approx(50.0)
    assert ads["expected_wins_open"] == pytest.approx(10.0)
    assert webinar["median_days_to_close"] == pytest.approx(10.0)
    assert ads["median_days_to_close"] == pytest.approx(40.0)
    assert missing["leads"] == 100 and missing["open"] == 0 and missing["expected_wins_open"] == 0.0


def test_a_source_with_no_closed_lead_has_no_won_rate():
    scores = log(["MQL", "SQL"], 0.4, campaign=["spring", "spring"])
    row = outcomes_by_dimension(leads_with_outcomes(scores, outcomes_of(scores, [0, 0], [0, 0])), ["campaign"])[
        "campaign"][0]
    assert row["closed"] == 0 and row["won_rate"] is None and row["median_days_to_close"] is None
    assert row["expected_wins_open"] == pytest.approx(0.8)


# ------------------------------------------------------------------------------ weeks
def test_sqls_per_week_count_every_week_and_flag_those_over_capacity():
    # week 10: 5 SQLs, week 11: none scored at all, week 12: 2 SQLs and a MQL
    times = [START + pd.Timedelta(days=d) for d in (0, 1, 2, 3, 6.9)] + \
            [START + pd.Timedelta(days=14 + d) for d in (0, 1, 2)]
    scores = log(["SQL"] * 5 + ["SQL", "SQL", "MQL"], 0.7, scored_at=times)
    weeks = sales_capacity(leads_with_outcomes(scores, no_outcomes(scores)), capacity_per_week=3)
    assert [(w["week"], w["week_start"], w["sqls"], w["over_capacity"]) for w in weeks] == [
        ("2025-W10", "2025-03-03", 5, True), ("2025-W11", "2025-03-10", 0, False), ("2025-W12", "2025-03-17", 2, False)]
    assert sales_capacity(leads_with_outcomes(scores, no_outcomes(scores)))[0]["over_capacity"] is None


def test_mean_probability_by_week_follows_weaker_leads_coming_in():
    times = [START + pd.Timedelta(days=d) for d in (0, 1, 14, 15)]
    scores = log(["SQL", "MQL", "not yet", "not yet"], [0.6, 0.4, 0.1, 0.2], scored_at=times)
    weeks = mean_probability_by_week(leads_with_outcomes(scores, no_outcomes(scores)))
    assert [w["week"] for w in weeks] == ["2025-W10", "2025-W11", "2025-W12"]
    assert [w["mean_probability"] for w in weeks] == pytest.approx([0.5, None, 0.15])


# ------------------------------------------------------------------------------ drift
@settings(deadline=None)
@given(st.lists(st.floats(-1e6, 1e6) | st.just(float("nan")), min_size=1, max_size=200))
def test_psi_is_zero_for_the_same_values(values):
    assert population_stability_index(np.array(values), np.array(values)) == 0.0


@settings(deadline=None)
@given(st.lists(st.floats(-100, 100) | st.just(float("nan")), min_size=1, max_size=100),
       st.lists(st.floats(-100, 100) | st.just(float("nan")), min_size=1, max_size=100))
def test_psi_is_never_negative(reference, current):
    assert population_stability_index(np.array(reference), np.array(current)) >= 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_psi_grows_with_a_shift(seed):
    values = np.random.default_rng(seed).normal(size=2000)
    psi = [population_stability_index(values, values + shift) for shift in (0, 0.25, 0.5, 1, 2, 4)]
    assert psi[0] == 0.0
    assert all(a < b for a, b in itertools.pairwise(psi))


def test_a_shifted_feature_is_flagged_and_an_unshifted_one_is_not():
    rng = np.random.default_rng(5)
    days = rng.exponential(20, size=5000)
    drift = {d["feature"]: d for d in feature_drift({
        "engagement": (rng.normal(size=5000), rng.normal(size=2000)),
        "days_since_visit": (days, rng.exponential(40, size=2000)),
        "industry": (rng.choice(["retail", "tech", None], 5000), rng.choice(["retail", "tech", None], 2000)),
        "country": (rng.choice(["IT", "DE"], 5000), rng.choice(["IT", "DE", "FR"], 2000)),
        "company_size": (np.where(rng.random(5000) < 0.05, np.nan, rng.normal(size=5000)),
                         np.where(rng.random(2000) < 0.4, np.nan, rng.normal(size=2000))),
        "has_demo": (np.ones(3000), np.zeros(1000)),
        "no_recent_leads": (rng.normal(size=100), np.array([])),
    })}
    assert not drift["engagement"]["drifted"] and drift["engagement"]["psi"] < 0.05
    assert not drift["industry"]["drifted"]
    assert drift["days_since_visit"]["drifted"]
    assert drift["country"]["drifted"]  # a third of leads from a country training never saw
    assert drift["company_size"]["drifted"]  # now missing for 40% of leads
    assert drift["has_demo"]["drifted"]  # a constant that moved below its only value
    assert drift["no_recent_leads"]["psi"] is None and drift["no_recent_leads"]["drifted"] is None
    assert drift["engagement"]["reference_n"] == 5000 and drift["engagement"]["current_n"] == 2000


# ------------------------------------------------------------------------------ before outcomes
def pairwise_expected_auc(p: np.ndarray) -> float | None:
    num = den = 0.0
    for i, j in itertools.permutations(range(len(p)), 2):
        weight = p[i] * (1 - p[j])
        den += weight
        num += weight * (1.0 if p[i] > p[j] else 0.5 if p[i] == p[j] else 0.0)
    return num / den if den > 1e-12 * len(p) ** 2 else None


@settings(deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.05, 0.3, 0.5, 0.7, 1.0]) | st.floats(0, 1), min_size=0, max_size=25))
def test_expected_roc_auc_is_the_pairwise_definition(probabilities):
    p = np.array(probabilities, dtype=float)
    expected = pairwise_expected_auc(p) if len(p) >= 2 else None
    got = expected_roc_auc(p)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1e-9)


def test_expected_roc_auc_foretells_the_roc_auc_seen_once_deals_close():
    rng = np.random.default_rng(6)
    p = rng.beta(1.5, 4, size=3000)
    estimate = expected_roc_auc(p)
    observed = [roc_auc(rng.random(len(p)) < p, p) for _ in range(5)]
    assert abs(estimate - np.mean(observed)) < 0.01
    assert expected_roc_auc(np.full(100, 0.3)) == pytest.approx(0.5)
    assert expected_roc_auc(np.zeros(10)) is None and expected_roc_auc([0.4]) is None


def test_open_leads_are_expected_to_buy_at_their_mean_probability():
    scores = log(["SQL", "SQL", "MQL", "not yet", "SQL"], [0.8, 0.6, 0.4, 0.1, 0.9])
    closed = [0, 0, 0, 0, 1]
    estimated = estimated_performance(leads_with_outcomes(scores, outcomes_of(scores, closed, closed)), STAGES)
    stages = {s["stage"]: s for s in estimated["stages"]}
    assert estimated["open"] == 4
    assert stages["sql"]["open"] == 2 and stages["sql"]["expected_won_rate"] == pytest.approx(0.7)
    assert stages["sql"]["promised_won_rate"] == 0.6
    assert stages["mql"]["expected_won_rate"] == pytest.approx(0.6)
    assert stages["mql"]["expected_wins"] == pytest.approx(1.8)
    assert stages["mql_band"]["expected_won_rate"] == pytest.approx(0.4)
    assert stages["not_yet"]["expected_won_rate"] == pytest.approx(0.1)
    assert stages["not_yet"]["promised_won_rate"] is None
    assert estimated["expected_roc_auc"] == pytest.approx(pairwise_expected_auc(np.array([0.8, 0.6, 0.4, 0.1])))


# ------------------------------------------------------------------------------ the report
def test_the_report_covers_its_period_and_serialises_without_nan():
    rng = np.random.default_rng(7)
    n = 600
    times = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.uniform(0, 90, n), unit="D")
    p = rng.uniform(0, 1, n)
    stage = np.where(p >= 0.6, "SQL", np.where(p >= 0.3, "MQL", "not yet"))
    scores = log(stage, p, scored_at=times, lead_source=rng.choice(["web", "fair", None], n))
    outcomes = outcomes_of(scores, rng.random(n) < p, rng.random(n) < 0.5)
    report = build_report(scores, outcomes, STAGES, ["lead_source"], since="2025-02-01", until="2025-03-01",
                          capacity_per_week=20, drift_inputs={"age": (rng.normal(size=500), rng.normal(size=200))})
    json.dumps(report, allow_nan=False)
    in_february = (times >= pd.Timestamp("2025-02-01")) & (times < pd.Timestamp("2025-03-01"))
    assert report["period"]["leads"] == int(in_february.sum())
    assert report["period"]["since"] == "2025-02-01T00:00:00"
    assert report["period"]["closed"] + report["period"]["open"] == report["period"]["leads"]
    assert [m["month"] for m in report["calibration_by_month"]] == ["2025-02"]
    assert [s["stage"] for s in report["stages"]] == ["sql", "mql", "mql_band"]
    assert sum(b["n"] for b in report["reliability"]) == report["period"]["closed"]
    assert report["sales_capacity"][0]["week"] == "2025-W05"  # 1 February 2025 is a Saturday
    assert report["drift"][0]["feature"] == "age" and report["drift_threshold"] == 0.2
    assert sum(r["leads"] for r in report["by_dimension"]["lead_source"]) == report["period"]["leads"]
    assert report["estimated"]["open"] == report["period"]["open"]

    empty = build_report(scores, outcomes, None, ["lead_source"], since="2030-01-01")
    json.dumps(empty, allow_nan=False)
    assert empty["period"]["leads"] == 0 and empty["stages"] == [] and empty["estimated"]["expected_roc_auc"] is None


@pytest.mark.parametrize("change, words", [
    (lambda s, o: (pd.concat([s, s.iloc[:1]]), o), "L0"),
    (lambda s, o: (s.assign(stage=["SQL", "hot"]), o), "hot"),
    (lambda s, o: (s.assign(probability=[0.5, 1.5]), o), "L1"),
    (lambda s, o: (s.drop(columns="model_version"), o), "model_version"),
    (lambda s, o: (s, o.assign(outcome=["won", "maybe"])), "maybe"),
    (lambda s, o: (s.assign(scored_at=["2025-01-01", "2025-01-02"]), o), "scored_at"),
])
def test_unusable_input_is_refused_naming_what_is_wrong(change, words):
    scores = log(["SQL", "MQL"], 0.5)
    bad_scores, bad_outcomes = change(scores, outcomes_of(scores, [1, 0]))
    with pytest.raises(DataError, match=words):
        build_report(bad_scores, bad_outcomes, STAGES)


def test_a_score_given_after_the_deal_closed_is_counted_not_judged():
    """Scored after its outcome, a lead's score may have seen what came after the sale: it is
    no forecast, so it stays out of every figure and the period says how many there were."""
    from monitoring.report import build_report

    scores = pd.DataFrame({"lead_id": ["a", "b", "c"], "scored_at": pd.to_datetime(["2026-01-10"] * 3),
                           "probability": [0.9, 0.9, 0.1], "stage": ["SQL", "SQL", "not yet"],
                           "model_version": "1"})
    outcomes = pd.DataFrame({"lead_id": ["a", "b"], "outcome": ["won", "lost"],
                             "closed_at": pd.to_datetime(["2026-01-05", "2026-02-01"])})
    report = build_report(scores, outcomes, {"sql": {"name": "SQL", "threshold": 0.5, "conversion": 0.6},
                                             "mql": {"name": "MQL", "threshold": 0.2, "conversion": 0.4}})
    period = report["period"]
    assert period["scored_after_close"] == 1 and period["leads"] == 2 and period["closed"] == 1
    assert period["won"] == 0  # the won lead was scored after it won


def test_drift_is_not_judged_on_a_handful_of_leads():
    """25 leads drawn from the training population part from it by chance: not judged; 2,000
    of them are judged, and not drifted; 2,000 from elsewhere are."""
    from monitoring.drift import MIN_CURRENT_TO_JUDGE, feature_drift

    rng = np.random.default_rng(0)
    reference = rng.choice(list("abcdefghij"), 5000)
    few, many = rng.choice(list("abcdefghij"), 25), rng.choice(list("abcdefghij"), 2000)
    other = rng.choice(list("abc"), 2000)
    [small, same, moved] = [feature_drift({"source": (reference, current)})[0] for current in (few, many, other)]
    assert small["drifted"] is None and small["current_n"] < MIN_CURRENT_TO_JUDGE and small["psi"] is not None
    assert same["drifted"] is False and moved["drifted"] is True
