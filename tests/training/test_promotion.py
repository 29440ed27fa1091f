"""The champion rule: every gate, the first promotion included, and the decision."""

from types import SimpleNamespace

import numpy as np
import pytest

from features.leakage import LeakageFinding
from training.config import PromotionRule, TrainingConfig
from training.evaluation import evaluate
from training.promotion import ChampionOnHoldout, check_gates, decide, roc_auc_interval

RULE = PromotionRule(bootstrap_resamples=200)


def model_result(p: np.ndarray, y: np.ndarray, baseline: np.ndarray | None = None, leaks=(), chosen="lightgbm",
                 lead_share=1.0):
    """What check_gates reads of a TrainingResult."""
    leakage = [LeakageFinding(c, 0.97, float("nan"), 1.0, True, False) for c in leaks]
    leakage.append(LeakageFinding("industry", 0.61, float("nan"), 1.0, False, False))
    return SimpleNamespace(metrics=evaluate(y, p), baseline_metrics=evaluate(y, p if baseline is None else baseline),
                           leakage=leakage, config=TrainingConfig(), holdout_label=y, holdout_probability=p,
                           chosen=chosen, lead_share=lead_share)


@pytest.fixture(scope="module")
def calibrated():
    """3,000 leads whose outcomes follow the model's probabilities exactly."""
    rng = np.random.default_rng(3)
    p = rng.beta(1, 5, 3000)
    return p, (rng.random(3000) < p).astype(int)


def gate(gates, name):
    return next(g for g in gates if g.name == name)


def test_a_good_first_model_passes_every_gate(calibrated):
    p, y = calibrated
    gates = check_gates(model_result(p, y, baseline=np.sqrt(p)), RULE, None)
    assert [g.name for g in gates] == ["leakage", "chance", "baseline", "calibration", "champion"]
    assert all(g.passed for g in gates), [g.line() for g in gates]
    decision = decide("auto", gates, None)
    assert decision.promoted and decision.summary.startswith("promoted: first champion")
    low, high = gate(gates, "chance").values.values()
    assert 0.5 < low < evaluate(y, p)["roc_auc"] < high


def test_a_leaking_column_is_named_and_blocks_even_the_first_promotion(calibrated):
    p, y = calibrated
    gates = check_gates(model_result(p, y, leaks=["partner_flag"]), RULE, None)
    leak = gate(gates, "leakage")
    assert not leak.passed and "partner_flag" in leak.line() and "after_contact" in leak.line()
    decision = decide("auto", gates, None)
    assert not decision.promoted and decision.failed == ["leakage"]


def test_a_column_vouched_for_under_allow_leaky_does_not_block(calibrated):
    p, y = calibrated
    result = model_result(p, y)
    result.leakage.append(LeakageFinding("call_duration", 0.96, float("nan"), 1.0, True, False, allowed=True))
    leak = gate(check_gates(result, RULE, None), "leakage")
    assert leak.passed and "allow_leaky: call_duration" in leak.detail


def test_a_model_no_better_than_chance_is_not_promoted():
    rng = np.random.default_rng(5)
    p = rng.random(800)
    y = (rng.random(800) < 0.3).astype(int)  # outcomes unrelated to the scores
    gates = check_gates(model_result(p, y), RULE, None)
    chance = gate(gates, "chance")
    assert not chance.passed and chance.values["holdout_roc_auc_ci_low"] < 0.5
    assert "not clearly better than ranking leads at random" in chance.detail
    assert not decide("auto", gates, None).promoted


def test_below_its_baseline_or_miscalibrated_is_not_promoted(calibrated):
    p, y = calibrated
    noisy = np.clip(p + np.random.default_rng(1).normal(0, 0.15, len(p)), 0.001, 0.999)
    gates = check_gates(model_result(noisy, y, baseline=p), RULE, None)
    assert not gate(gates, "baseline").passed and "logistic baseline" in gate(gates, "baseline").detail
    overconfident = np.clip(p * 1.6, 0, 0.99)
    gates = check_gates(model_result(overconfident, y), RULE, None)
    assert not gate(gates, "calibration").passed and "> 0.03" in gate(gates, "calibration").detail
    assert gate(gates, "chance").passed


def test_a_calibration_gate_failed_on_a_small_holdout_says_chance_comes_near_the_limit(calibrated):
    p, y = calibrated
    small = check_gates(model_result(np.clip(p[:150] * 1.3, 0, 0.99), y[:150]), RULE, None)
    detail = gate(small, "calibration").detail
    assert not gate(small, "calibration").passed
    assert "on a holdout this small chance alone comes near the limit" in detail and "promotion.max_ece" in detail
    assert "max_leads" not in detail  # every lead: no sample to enlarge
    sampled = check_gates(model_result(np.clip(p[:150] * 1.3, 0, 0.99), y[:150], lead_share=0.05), RULE, None)
    assert "more closed deals (or a larger max_leads: the holdout is the sample's)" in gate(sampled, "calibration").detail
    large = check_gates(model_result(np.clip(p * 1.6, 0, 0.99), y), RULE, None)
    assert "this small" not in gate(large, "calibration").detail  # 3,000 leads: the failure is the model's


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "log_loss", "brier"])
def test_the_champion_is_compared_on_the_same_holdout_by_any_metric(calibrated, metric):
    p, y = calibrated
    rule = PromotionRule(metric=metric, bootstrap_resamples=200)
    worse = np.clip(p + np.random.default_rng(2).normal(0, 0.1, len(p)), 0.001, 0.999)
    champion = ChampionOnHoldout(3, evaluate(y, p))
    gates = check_gates(model_result(worse, y, baseline=worse), rule, champion)
    compared = gate(gates, "champion")
    assert not compared.passed and "champion v3" in compared.detail and metric in compared.detail
    assert gate(check_gates(model_result(p, y), rule, ChampionOnHoldout(3, evaluate(y, worse))), "champion").passed


def test_a_champion_that_cannot_score_the_holdout_fails_its_gate_without_a_crash(calibrated):
    p, y = calibrated
    gates = check_gates(model_result(p, y), RULE, ChampionOnHoldout(2, None, "KeyError: 'region'"))
    assert not gate(gates, "champion").passed and "region" in gate(gates, "champion").detail


def test_force_promotes_and_says_which_gates_failed_never_only_registers(calibrated):
    p, y = calibrated
    gates = check_gates(model_result(p, y, leaks=["partner_flag"]), RULE, ChampionOnHoldout(1, evaluate(y, p)))
    forced = decide("force", gates, 1, by="alice")
    assert forced.promoted and forced.by == "alice" and forced.failed == ["leakage"]
    assert "alice" in forced.summary and "no leak" in forced.summary
    assert not decide("never", [g for g in gates if g.passed], 1).promoted


def test_the_bootstrap_interval_matches_resampling_by_hand():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(1)
    p = np.round(rng.random(600), 2)  # many ties
    y = (rng.random(600) < p).astype(int)
    low, high = roc_auc_interval(y, p, resamples=1000, seed=7)
    by_hand = []
    for _ in range(1000):
        i = rng.integers(0, 600, 600)
        by_hand.append(roc_auc_score(y[i], p[i]))
    assert low == pytest.approx(np.quantile(by_hand, 0.025), abs=0.01)
    assert high == pytest.approx(np.quantile(by_hand, 0.975), abs=0.01)
    assert roc_auc_interval(y, p, resamples=1000, seed=7) == (low, high)  # a fixed seed, the same interval
