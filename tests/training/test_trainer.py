"""A trained model: time split, calibration, quality against the truth, and its behaviour."""

import numpy as np
import pandas as pd
import pytest

from serving.scorer import LeadScorer
from features.metrics import expected_calibration_error
from training.evaluation import evaluate
from training.trainer import best_achievable

AS_OF = "2026-11-01T00:00:00"


def test_the_holdout_is_the_most_recent_leads_and_never_trained_on(trained):
    _, _, examples, result = trained
    split = result.split
    ids = examples.leads["lead_id"].to_numpy()
    fit, validation, holdout = (set(ids[rows]) for rows in (split.fit, split.validation, split.holdout_snapshots))
    assert not holdout & fit and not holdout & validation and not fit & validation  # split by lead
    order = examples.order
    assert order[split.fit].max() <= order[split.validation].min()
    assert order[split.validation].max() <= order[split.holdout_snapshots].min()
    n_leads = len(set(ids))
    assert abs(len(holdout) / n_leads - 0.2) < 0.01
    # holdout figures count each lead once, at its snapshot of 30 days (all leads are open then)
    assert len(split.holdout) == len(holdout) == len(set(ids[split.holdout]))
    assert (examples.age_days[split.holdout] == 30).all() and not examples.drawn[split.holdout].any()
    fit = split.fit
    assert set(examples.age_days[fit][~examples.drawn[fit]]) == {0, 1, 7, 30}  # training sees every age...
    drawn = examples.age_days[fit][examples.drawn[fit]]
    assert (drawn < 90).all() and np.histogram(drawn, bins=[0, 7, 30, 60, 90])[0].min() > 100  # ...in between too


def test_the_holdout_is_calibrated_at_every_age(trained):
    _, _, _, result = trained
    ages = {a["age_days"]: a for a in result.holdout_by_age}
    assert set(ages) == {0, 1, 7, 30, None}  # None: the ages drawn at random
    assert all(a["ece"] < 0.06 for a in ages.values())  # small data (about 1,000 holdout leads)
    assert ages[30]["roc_auc"] > ages[0]["roc_auc"]  # a month of activity says more than the profile alone
    assert sum(b["n"] for b in result.reliability) == len(result.holdout_label)
    assert "out-of-fold" in result.calibrated_on


def test_the_model_ranks_close_to_the_truth_and_is_calibrated(trained, demo_crm_dir):
    _, _, _, result = trained
    truth = pd.read_parquet(demo_crm_dir / "truth.parquet")
    best = best_achievable(truth, result.holdout_ids, result.holdout_label)
    assert 0.6 < result.metrics["roc_auc"] <= best + 0.02
    assert best - result.metrics["roc_auc"] < 0.05  # small data (6,000 leads): a loose bar
    assert result.metrics["ece"] < 0.05
    assert result.metrics["captured_top20"] > 0.2 * 1.5  # far better than contacting at random


def test_evaluation_metrics_mean_what_they_say():
    y = np.array([0, 0, 1, 1])
    perfect = evaluate(y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert perfect["roc_auc"] == 1.0 and perfect["captured_top20"] == 0.5
    rng = np.random.default_rng(0)
    p = rng.random(20000)
    assert expected_calibration_error((rng.random(20000) < p).astype(int), p) < 0.02
    assert expected_calibration_error((rng.random(20000) < p / 2).astype(int), p) > 0.2


def test_leakage_report_flags_the_sales_rating_column(trained):
    _, _, _, result = trained
    report = {f.column: f for f in result.leakage}
    assert report["sales_rating"].after_contact
    assert report["sales_rating"].auc > max(f.auc for f in result.leakage if not f.after_contact)


# --------------------------------------------------------------------------- behaviour
@pytest.fixture(scope="module")
def scorer(bundle_dir):
    return LeadScorer.from_bundle_dir(bundle_dir)


@pytest.fixture(scope="module")
def logistic_scorer(trained, tmp_path_factory):
    """The logistic candidate of the same training run, saved and read back as a bundle."""
    spec, _, _, result = trained
    bundle = result.candidates["logistic"].bundle
    bundle.stages, bundle.card = result.bundle.stages, {"version": "logistic", "spec": spec.name}
    bundle.spec_yaml = result.bundle.spec_yaml
    return LeadScorer.from_bundle_dir(bundle.save(tmp_path_factory.mktemp("logistic") / "bundle"))


@pytest.fixture(scope="module")
def holdout_leads(trained):
    _, tables, examples, result = trained
    leads = examples.leads.iloc[result.split.holdout[:300]]
    records = leads.drop(columns=["created_at"]).astype(object).where(leads.notna(), None).to_dict("records")
    return records


@pytest.mark.parametrize("model", ["scorer", "logistic_scorer"])
def test_more_high_intent_activity_never_lowers_the_probability(model, holdout_leads, request):
    scorer = request.getfixturevalue(model)
    base = [dict(lead, activities=[]) for lead in holdout_leads]
    before = np.array([a["probability"] for a in scorer.score_leads(base, as_of=AS_OF, reasons=0)])
    for kind in ("pricing_view", "demo_request", "form_fill"):
        for n in (1, 3, 8):
            more = [dict(lead, activities=[{"occurred_at": f"2026-10-{28 + k % 3}T09:00:00", "activity_type": kind}
                                            for k in range(n)]) for lead in holdout_leads]
            after = np.array([a["probability"] for a in scorer.score_leads(more, as_of=AS_OF, reasons=0)])
            assert (after >= before - 1e-12).all(), f"{n} x {kind} lowered a score"
            before_n = after
        assert before_n.mean() > before.mean()


_DAY_S = 86_400
_TYPES = ["pricing_view", "demo_request", "form_fill", "web_visit", "email_open", "email_click", "unsubscribe"]


@pytest.mark.parametrize("model", ["scorer", "logistic_scorer"])
def test_one_more_high_intent_activity_at_any_age_never_lowers_the_probability(model, holdout_leads, request):
    """Over random leads (profile from the holdout), random histories, lead ages and the age of
    the one new activity (0 to 365 days), through the API's own path."""
    from hypothesis import given, settings, strategies as st

    scorer = request.getfixturevalue(model)
    as_of = pd.Timestamp(AS_OF)

    def when(seconds: int) -> str:
        return (as_of - pd.Timedelta(seconds=seconds)).isoformat()

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(st.integers(0, len(holdout_leads) - 1), st.integers(0, 365 * _DAY_S),
           st.lists(st.tuples(st.integers(1, 400 * _DAY_S), st.sampled_from(_TYPES)), max_size=20),
           st.integers(1, 365 * _DAY_S), st.sampled_from(["pricing_view", "demo_request", "form_fill"]))
    def check(which, lead_age_s, history, new_age_s, kind):
        lead = dict(holdout_leads[which], created_at=when(lead_age_s))
        activities = [{"occurred_at": when(s), "activity_type": t} for s, t in history]
        more = [*activities, {"occurred_at": when(new_age_s), "activity_type": kind}]
        [before, after] = scorer.score_leads([dict(lead, activities=activities), dict(lead, activities=more)],
                                             as_of=as_of.to_pydatetime(), reasons=0)
        assert after["probability"] >= before["probability"] - 1e-12

    check()


@pytest.mark.parametrize("model", ["lightgbm", "logistic"])
def test_interest_in_a_product_line_we_dont_sell_scores_low_however_engaged(trained, model):
    """The most engaged recent leads, as they are and as if they wanted the Home Edition."""
    _, tables, examples, result = trained
    bundle = result.candidates[model].bundle
    holdout = result.split.holdout
    leads = examples.leads.iloc[holdout]
    X = bundle.transform.transform_frame(leads, tables.activities, examples.as_of[holdout])
    engagement = X[:, bundle.transform.names.index("n_engagements_30d")]
    top = leads.iloc[np.argsort(-engagement)[: max(50, len(holdout) // 10)]]  # the most engaged tenth
    as_of = examples.as_of[holdout][np.argsort(-engagement)[: len(top)]]
    sold = bundle.transform.transform_frame(top.assign(product_interest="analytics suite"), tables.activities, as_of)
    home = bundle.transform.transform_frame(top.assign(product_interest="home edition"), tables.activities, as_of)
    p_sold, p_home = bundle.predict_proba(sold), bundle.predict_proba(home)
    mql = bundle.mql_threshold
    assert np.median(p_home) < mql < np.median(p_sold)
    assert np.median(p_home) < np.median(p_sold) / 3
    assert (p_home < mql).mean() >= 0.9  # nine in ten stay out of the MQL stage however engaged


def test_scores_ignore_spelling_and_the_lead_id(scorer, holdout_leads):
    lead = holdout_leads[0]
    variants = [dict(lead, lead_id="other"),
                {k: (v.upper() + "  " if isinstance(v, str) and k != "lead_id" else v) for k, v in lead.items()}]
    p = [scorer.score_leads([v], as_of=AS_OF, reasons=0)[0]["probability"] for v in [lead, *variants]]
    assert p[0] == p[1] == p[2]


def test_a_referred_engaged_director_outscores_a_cold_intern_from_a_purchased_list(scorer):
    warm = {"seniority": "Director", "lead_source": "Referral", "company_size": "201-1000", "product_interest": "Analytics Suite",
            "activities": [{"occurred_at": "2026-10-30T10:00:00", "activity_type": "demo_request"},
                           {"occurred_at": "2026-10-29T10:00:00", "activity_type": "pricing_view"}]}
    cold = {"seniority": "Intern", "lead_source": "Purchased List", "company_size": "1-10", "product_interest": "Analytics Suite",
            "activities": [{"occurred_at": "2026-10-05T10:00:00", "activity_type": "unsubscribe"}]}
    [a, b] = scorer.score_leads([dict(warm, lead_id="w"), dict(cold, lead_id="c")], as_of=AS_OF, reasons=0)
    assert a["probability"] > 3 * b["probability"]
    assert a["stage"] in {"SQL", "MQL"} and b["stage"] == "not yet"


# --------------------------------------------------------------------------- tuning
def test_tuning_keeps_the_settings_of_the_trial_best_on_validation():
    """A stand-in for LightGBM whose validation predictions get noisier with the learning rate:
    the configured rate (0.1, the top of the sampled range) is the worst, so the trial kept must
    be a sampled one, the one with the lowest rate, with every one of its settings."""
    from types import SimpleNamespace

    from training.config import TrainingConfig
    from training.tuning import tune

    rng = np.random.default_rng(3)
    y = (rng.random(2000) < 0.3).astype(int)
    noise = rng.normal(size=2000)
    split = SimpleNamespace(validation=np.arange(1000, 2000))

    def fit(X, y_, split_, transform, config):
        rate = config.model.learning_rate
        p = 1 / (1 + np.exp(-(4 * (y - 0.5) + 50 * rate * noise)))
        return SimpleNamespace(booster_=SimpleNamespace(predict=lambda rows, num_iteration=None: p[1000:]),
                               best_iteration_=7, n_estimators=300)

    config = TrainingConfig.model_validate({"model": {"learning_rate": 0.1, "num_leaves": 7}})
    tuned, trials = tune(np.zeros((2000, 1)), y, split, None, config, 4, fit=fit)
    assert [t.number for t in trials] == [1, 2, 3, 4]
    assert trials[0].params["learning_rate"] == 0.1 and len({t.params["learning_rate"] for t in trials}) == 4
    best = min(trials, key=lambda t: t.params["learning_rate"])
    assert best.number != 1 and best == max(trials, key=lambda t: t.validation_roc_auc)
    for key, value in best.params.items():
        assert getattr(tuned.model, key) == value, key
    assert [t.trees for t in trials] == [7] * 4


# --------------------------------------------------------------------------- two candidates
def test_both_candidates_are_evaluated_on_the_holdout_and_the_better_on_validation_wins(trained):
    from training.config import TrainingConfig
    from training.trainer import choose_candidate

    _, _, _, result = trained
    lightgbm, logistic = result.candidates["lightgbm"], result.candidates["logistic"]
    assert result.baseline_metrics == logistic.holdout_metrics  # the baseline is the logistic candidate
    assert result.chosen == "lightgbm" and result.metrics == lightgbm.holdout_metrics  # the only eligible one
    assert set(result.candidates) == {"lightgbm", "logistic", "blend"}  # all fitted and reported
    better = max(result.candidates, key=lambda n: result.candidates[n].validation_score)
    assert choose_candidate(result.candidates, ["lightgbm", "logistic", "blend"], "roc_auc") == better
    worse = min(result.candidates, key=lambda n: result.candidates[n].validation_score)
    assert choose_candidate(result.candidates, [worse], "roc_auc") == worse  # only the eligible compete
    assert TrainingConfig().candidates == ["lightgbm", "logistic", "blend"]


def test_the_blend_averages_the_two_models_log_odds_and_explains_itself(trained, tmp_path):
    """The blend's raw score is w * LightGBM's + (1 - w) * the logistic model's, its
    contributions add up to it, it survives a save and load, and the scorer (tree tables for its
    LightGBM part) gives the same answers one lead at a time and in a batch."""
    spec, tables, examples, result = trained
    blend = result.candidates["blend"].bundle
    parts = blend.booster
    X = blend.transform.model_input(blend.transform.transform_frame(
        examples.leads.iloc[result.split.holdout[:200]], tables.activities, examples.as_of[result.split.holdout[:200]]))
    expected = parts.weight * parts.booster.predict(X, raw_score=True) + (1 - parts.weight) * parts.linear.predict(
        X, raw_score=True)
    assert parts.weight in (0.25, 0.5, 0.75)
    np.testing.assert_allclose(parts.predict(X, raw_score=True), expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(blend.contributions(X).sum(axis=1), expected, rtol=0, atol=1e-9)
    blend.stages, blend.card, blend.spec_yaml = result.bundle.stages, {"version": "b", "spec": spec.name}, \
        result.bundle.spec_yaml
    scorer = LeadScorer.from_bundle_dir(blend.save(tmp_path / "blend"))
    assert scorer.bundle.model_kind == "blend" and scorer.tables is not None
    np.testing.assert_allclose(scorer.bundle.predict_proba(X), blend.predict_proba(X), rtol=0, atol=1e-12)
    leads = examples.leads.iloc[result.split.holdout[:20]].drop(columns=["created_at"])
    records = leads.astype(object).where(leads.notna(), None).to_dict("records")
    batch = scorer.score_leads(records, as_of=AS_OF, reasons=3)
    assert batch == [scorer.score_leads([lead], as_of=AS_OF, reasons=3)[0] for lead in records]
    tabled = scorer.probability_and_reasons(X)[0]  # the tables' path, against LightGBM's own predict
    np.testing.assert_allclose(tabled, blend.predict_proba(X), rtol=0, atol=1e-9)


def test_the_logistic_model_explains_its_scores_and_scores_one_lead_as_in_a_batch(logistic_scorer, holdout_leads):
    bundle = logistic_scorer.bundle
    assert bundle.model_kind == "logistic" and logistic_scorer.tables is None
    X = bundle.transform.transform_records(holdout_leads, [[] for _ in holdout_leads], AS_OF)
    contributions = bundle.contributions(X)
    raw = bundle.booster.predict(bundle.transform.model_input(X), raw_score=True)  # what the model reads
    assert np.allclose(contributions.sum(axis=1), raw, atol=1e-9)  # they add up to the log-odds
    batch = logistic_scorer.score_leads(holdout_leads[:20], as_of=AS_OF, reasons=3)
    alone = [logistic_scorer.score_leads([lead], as_of=AS_OF, reasons=3)[0] for lead in holdout_leads[:20]]
    assert batch == alone
    assert all(a["reasons_for"] or a["reasons_against"] for a in batch)


def test_a_seasonal_won_rate_is_learnt_from_the_time_of_year_and_calibrated_over_the_whole_window(tmp_path_factory):
    """The won rate swings with the month of creation (1 in log-odds) and the holdout falls in
    a good season. With the time of year as an input and calibration over the whole window the
    scores keep their word; without that input the season is averaged away (the holdout is
    promised too little); calibrated on the last training slice, they follow that slice."""
    from features.examples import build_examples
    from features.load import load_clean
    from features.spec import load_spec
    from leadscore.jobs.generate import run_generate
    from tests.conftest import DEMO_SPEC, FAST_CONFIG
    from training.config import TrainingConfig
    from training.trainer import train_model

    folder = run_generate(tmp_path_factory.mktemp("seasonal"), 5000, seed=4, show_progress=False,
                          print_summary=False, seasonality=1.0).out
    spec = load_spec(DEMO_SPEC)
    figures = {}
    for season, window in ((True, "out_of_fold"), (False, "out_of_fold"), (True, "last_slice")):
        changed = spec.model_copy(update={"features": spec.features.model_copy(
            update={"random_snapshots": 0, "season": season})})
        _, tables, _ = load_clean(changed, folder)
        examples = build_examples(changed, tables)
        config = TrainingConfig.model_validate({**FAST_CONFIG, "candidates": ["lightgbm"], "calibration_window": window})
        result = train_model(changed, examples, tables.activities, config)
        assert ("created_season_sin" in result.bundle.transform.names) == season
        promised = result.holdout_probability.mean() - result.holdout_label.mean()
        figures[season, window] = result.metrics["ece"], promised
    ece, promised = figures[True, "out_of_fold"]
    assert ece < 0.04 and abs(promised) < 0.015  # small data (about 700 holdout leads)
    assert figures[False, "out_of_fold"][1] < -0.03  # the good season averaged away
    assert figures[True, "last_slice"][0] > ece + 0.01

def test_fields_left_blank_at_random_are_no_reason_for_buying(trained, scorer):
    """The demo CRM leaves answers blank at random (leadscore.synthetic.dirt), so being blank
    predicts nothing: counted once per lead (not once per snapshot, which made chance
    differences look significant), no field is listed as one whose missing value meant buying,
    and a lead sent with its id alone gets no "not given" reason for buying."""
    _, _, _, result = trained
    assert result.bundle.transform.missing_buys == []
    [answer] = scorer.score_leads([{"lead_id": "only-an-id"}], as_of=AS_OF)
    assert not [r for r in answer["reasons_for"] if "not given" in r or "not answered" in r]


def test_the_importance_sample_is_spread_over_every_example_and_the_same_each_run():
    """The blend's importance is averaged over at most IMPORTANCE_ROWS examples: a fixed, evenly
    spaced subset of the training rows (first and last included), the same on every run; all
    of them when there are fewer."""
    from hypothesis import given, settings, strategies as st

    from training.trainer import importance_rows

    @settings(max_examples=200, deadline=None)
    @given(st.integers(1, 5_000), st.integers(2, 400), st.integers(0, 10**6))
    def check(n, most, start):
        rows = np.arange(start, start + 3 * n, 3)  # training rows: any increasing indices
        picked = importance_rows(rows, most)
        assert len(picked) == min(n, most) and set(picked) <= set(rows)
        assert np.all(np.diff(picked) > 0) and picked[0] == rows[0] and picked[-1] == rows[-1]
        assert np.array_equal(picked, importance_rows(rows.copy(), most))
        if n > most:  # evenly spread: consecutive picks at most one row further apart than the mean gap
            gaps = np.diff(np.searchsorted(rows, picked))
            assert gaps.max() <= (n - 1) / (most - 1) + 1

    check()
