"""Stage thresholds do what their policy promises on the holdout."""

import numpy as np
import pytest

from training.config import StagePolicy
from training.stages import PolicyError, stage_thresholds


def holdout(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 6, n)
    return (rng.random(n) < p).astype(int), p


def policy(**kw):
    return StagePolicy.model_validate(kw)


def test_min_precision_gives_the_widest_sql_stage_that_still_converts_enough():
    y, p = holdout()
    stages = stage_thresholds(policy(sql={"rule": "min_precision", "min_precision": 0.4}), y, p)
    sql = stages["sql"]
    assert sql.conversion >= 0.4
    looser = p >= np.max(p[p < sql.threshold])  # one step lower would break the promise
    assert y[looser].mean() < 0.4 or looser.sum() == len(p)
    assert sql.share_of_leads == pytest.approx((p >= sql.threshold).mean())
    assert "40% of SQLs buy" in sql.words() and f"{sql.threshold:.2f} and above" in sql.words()


def test_min_recall_mql_holds_the_promised_share_of_buyers_and_is_broader_than_sql():
    y, p = holdout()
    stages = stage_thresholds(policy(sql={"min_precision": 0.4}, mql={"rule": "min_recall", "min_recall": 0.8}), y, p)
    assert stages["mql"].share_of_buyers >= 0.8
    assert stages["mql"].threshold <= stages["sql"].threshold
    assert stages["mql"].share_of_leads >= stages["sql"].share_of_leads


def test_capacity_rules_fill_sales_capacity_without_exceeding_it():
    y, p = holdout()
    stages = stage_thresholds(policy(sql={"rule": "capacity_share", "capacity_share": 0.1},
                                     mql={"rule": "capacity_share", "capacity_share": 0.3}), y, p)
    assert 0.09 <= stages["sql"].share_of_leads <= 0.1
    assert 0.29 <= stages["mql"].share_of_leads <= 0.3
    weekly = np.sort(np.random.default_rng(1).integers(0, 10 * 7 * 86_400, len(p))) * 10**9  # ten weeks
    per_week = stage_thresholds(policy(sql={"rule": "capacity_per_week", "leads_per_week": 50},
                                       mql={"min_recall": 0.5}), y, p, order_ns=weekly)
    assert per_week["sql"].leads <= 50 * 10 * 1.01


def test_expected_value_contacts_leads_worth_more_than_a_contact():
    y, p = holdout()
    stages = stage_thresholds(policy(sql={"rule": "expected_value", "deal_value": 10_000, "contact_cost": 2_000},
                                     mql={"min_recall": 0.95}), y, p)
    assert stages["sql"].threshold == pytest.approx(0.2)
    assert "cost of a sales contact" in stages["sql"].rule


def test_a_policy_no_threshold_can_meet_fails_with_the_best_achievable_value():
    y, p = holdout()
    with pytest.raises(PolicyError, match=r"min_precision 99% cannot be met: the best precision .* is \d+\.\d%"):
        stage_thresholds(policy(sql={"min_precision": 0.99}), y, p)


def test_an_mql_rule_stricter_than_sql_is_refused():
    y, p = holdout()
    with pytest.raises(PolicyError, match="MQL must be the broader stage"):
        stage_thresholds(policy(sql={"rule": "capacity_share", "capacity_share": 0.5},
                                mql={"rule": "capacity_share", "capacity_share": 0.05}), y, p)


def test_a_rule_without_its_number_is_refused_by_the_config():
    with pytest.raises(ValueError, match="needs stages.sql.deal_value"):
        policy(sql={"rule": "expected_value", "contact_cost": 10})
