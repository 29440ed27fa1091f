"""Stage thresholds do what their policy promises on the holdout, on any base rate; the default
policy always gives valid stages; a refusal names what can be reached and the key to change."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.config import StagePolicy
from features.metrics import percent
from training.stages import PolicyError, plain_threshold, stage_thresholds


def holdout(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.beta(1.2, 6, n)
    return (rng.random(n) < p).astype(int), p


def policy(**kw):
    return StagePolicy.model_validate(kw)


@st.composite
def holdouts(draw, min_rate=0.02, max_rate=0.70):
    """Labels at a base rate of 2% to 70% and scores from several shapes: continuous, few distinct
    values (as isotonic calibration gives), rounded, saying much or nothing about who bought."""
    n = draw(st.integers(100, 3000))
    rate = draw(st.floats(min_rate, max_rate))
    shape = draw(st.sampled_from(["beta", "uniform", "two humps", "steps"]))
    signal = draw(st.sampled_from([0.0, 1.0, 4.0, 12.0]))  # 0: scores unrelated to buying
    decimals = draw(st.sampled_from([None, None, 1, 2, 3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if shape == "beta":
        p = rng.beta(draw(st.floats(0.3, 5)), draw(st.floats(0.3, 8)), n)
    elif shape == "uniform":
        p = rng.random(n)
    elif shape == "two humps":
        p = np.where(rng.random(n) < 0.8, rng.beta(1, 9, n), rng.beta(6, 2, n))
    else:
        p = rng.choice(rng.random(draw(st.integers(1, 12))), n)
    if decimals is not None:
        p = np.round(p, decimals)
    buyers = int(np.clip(round(rate * n), 1, n - 1))
    weights = np.exp(signal * p)
    won = rng.choice(n, buyers, replace=False, p=weights / weights.sum())
    label = np.zeros(n, dtype=int)
    label[won] = 1
    return label, p


WORDS = re.compile(r"(SQL|MQL): probability ([0-9.]+) and above; ([0-9.]+)% of such leads bought; they were "
                   r"([0-9.]+)% of leads and ([0-9.]+)% of buyers")


def close_to_printed(printed: str, value: float) -> bool:
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(float(printed) - value * 100) <= 0.5 * 10**-decimals + 1e-9


def assert_published_as_measured(stage, y, p):
    """Every figure of the definition is what the holdout shows at its threshold, in numbers
    and in words."""
    inside = p >= stage.threshold
    assert stage.leads == inside.sum()
    assert stage.conversion == pytest.approx(y[inside].mean())
    assert stage.share_of_leads == pytest.approx(inside.mean())
    assert stage.share_of_buyers == pytest.approx(y[inside].sum() / y.sum())
    words = WORDS.match(stage.words())
    assert words, stage.words()
    assert float(words[2]) == stage.threshold  # the printed threshold is the one applied
    for printed, value in zip(words.groups()[2:], (stage.conversion, stage.share_of_leads, stage.share_of_buyers)):
        assert close_to_printed(printed, value), (printed, value)


# ------------------------------------------------------------------------------ the default policy
@settings(max_examples=300, deadline=None)
@given(holdouts())
def test_the_default_policy_gives_valid_stages_on_any_base_rate(data):
    y, p = data
    stages = stage_thresholds(StagePolicy(), y, p)
    sql, mql = stages["sql"], stages["mql"]
    assert mql.threshold <= sql.threshold
    assert_published_as_measured(sql, y, p)
    assert_published_as_measured(mql, y, p)
    band = (p >= mql.threshold) & (p < sql.threshold)
    assert mql.band_share_of_leads == pytest.approx(band.mean())
    assert mql.band_conversion == (pytest.approx(y[band].mean()) if band.any() else None)
    assert sql.leads >= 20  # stages.min_stage_leads
    assert mql.share_of_buyers >= 0.8  # MQLs and SQLs hold at least 80% of buyers

    if y.mean() >= 0.5:  # every lead would be an SQL: capacity instead, and the note says why
        assert sql.rule == "sales take the top 20% of leads"
        assert f"{percent(y.mean())} of all holdout leads bought, already at least the 50% asked of SQLs" in sql.note
        assert "stages.sql.capacity_share" in sql.note
    elif sql.rule == "at least 50% of SQLs buy":  # the widest stage that keeps the promise
        assert sql.conversion >= 0.5 and sql.note is None
        lower = p[p < sql.threshold]
        if len(lower):
            wider = p >= lower.max()
            assert y[wider].mean() < 0.5
    else:  # no group of 20 leads converts at 50%: the default gives way, and says so
        assert sql.rule == "sales take the top 20% of leads"
        assert sql.note.startswith("no group of at least 20 holdout leads reaches the 50% asked of SQLs by default")
        if y[p >= sql.threshold].mean() > y.mean() + 0.01:  # a precision above the base rate can be had
            assert re.search(r"to keep a precision rule, set stages.sql.min_precision to [0-9.]+ or lower", sql.note)

    if mql.threshold == sql.threshold:
        assert "MQL is the same as SQL" in mql.note and "stages.mql.min_recall" in mql.note
    else:
        assert mql.note is None and mql.band_share_of_leads > 0
        narrower = p > p[p >= mql.threshold].min()  # one step narrower would break the promise
        assert y[narrower].sum() / y.sum() < 0.8


def test_the_real_data_sets_that_were_refused_now_get_an_mql_equal_to_sql_with_a_note():
    # 37% bought and the scores separate well (as X Education): the 50% SQL stage already holds
    # most buyers, so the 80% MQL rule is met by SQL itself
    rng = np.random.default_rng(3)
    p = np.clip(rng.beta(0.6, 1.0, 4000), 0, 1)
    y = (rng.random(4000) < p).astype(int)
    stages = stage_thresholds(StagePolicy(), y, p)
    sql, mql = stages["sql"], stages["mql"]
    assert sql.share_of_buyers >= 0.8 and mql.threshold == sql.threshold
    assert mql.note == (f"SQLs already hold {percent(sql.share_of_buyers)} of buyers, at least the 80% asked of MQLs "
                        "and SQLs together (stages.mql.min_recall): MQL is the same as SQL")
    assert "MQLs not yet SQL" not in mql.words() and mql.words().endswith(mql.note)


@settings(max_examples=150, deadline=None)
@given(holdouts(min_rate=0.03), st.floats(0.05, 1.0))
def test_a_precision_target_the_base_rate_already_meets_gives_way_to_the_capacity_rule(data, fraction):
    y, p = data
    target = y.mean() * fraction
    sql = stage_thresholds(policy(sql={"min_precision": target}), y, p)["sql"]
    assert sql.rule == "sales take the top 20% of leads"
    assert sql.note.startswith(f"{percent(y.mean())} of all holdout leads bought, already at least the "
                               f"{target * 100:g}% asked of SQLs (stages.sql.min_precision): every lead would be an "
                               "SQL, so the SQL stage is the top 20% of leads instead")
    assert sql.share_of_leads <= 0.2 or "equally scored" in sql.note  # ties may make the smallest stage bigger
    assert_published_as_measured(sql, y, p)


def test_an_unset_precision_target_out_of_reach_gives_way_but_a_set_one_is_refused():
    rng = np.random.default_rng(5)
    p = rng.random(3000)
    y = (rng.random(3000) < 0.03).astype(int)  # 3% bought, and the scores know nothing
    default = stage_thresholds(StagePolicy(), y, p)["sql"]
    assert default.rule == "sales take the top 20% of leads" and default.share_of_leads == pytest.approx(0.2)
    with pytest.raises(PolicyError, match=r"^stages.sql.min_precision: 0.5 cannot be reached"):
        stage_thresholds(policy(sql={"min_precision": 0.5}), y, p)


# ------------------------------------------------------------------------------ refusals
@settings(max_examples=150, deadline=None)
@given(holdouts())
def test_an_unreachable_precision_is_refused_with_the_best_reachable_value_and_that_value_works(data):
    y, p = data
    try:
        sql = stage_thresholds(policy(sql={"min_precision": 1.0}), y, p)["sql"]
    except PolicyError as exc:
        found = re.fullmatch(r"stages.sql.min_precision: 1 cannot be reached: the best precision with at least 20 "
                             r"leads is ([0-9.]+), at probability ([0-9.]+) and above \((\d+) leads\); set "
                             r"stages.sql.min_precision to \1 or lower, or use "
                             r"stages.sql.rule: capacity_share", str(exc))
        assert found, str(exc)
        best, at = float(found[1]), float(found[2])
        group = p >= at
        assert group.sum() == int(found[3]) >= 20 and y[group].mean() >= best  # the named group reaches it
        sql = stage_thresholds(policy(sql={"min_precision": best}), y, p)["sql"]  # and the advice works
        assert sql.conversion >= best or "every lead would be an SQL" in sql.note
    else:
        assert sql.conversion == 1.0


def test_the_other_refusals_name_the_key_and_a_value_that_works():
    y, p = holdout()
    # MQL capacity narrower than SQL
    narrow = {"sql": {"rule": "capacity_share", "capacity_share": 0.5},
              "mql": {"rule": "capacity_share", "capacity_share": 0.05}}
    with pytest.raises(PolicyError, match=r"MQL must be the broader stage: set stages.mql.capacity_share to "
                                          r"([0-9.]+) or more") as refused:
        stage_thresholds(policy(**narrow), y, p)
    enough = float(re.search(r"capacity_share to ([0-9.]+)", str(refused.value))[1])
    stages = stage_thresholds(policy(**{**narrow, "mql": {"rule": "capacity_share", "capacity_share": enough}}), y, p)
    assert stages["mql"].threshold <= stages["sql"].threshold

    # expected value: no 20 leads are worth a contact
    worthless = {"rule": "expected_value", "deal_value": 1000, "contact_cost": 990}
    with pytest.raises(PolicyError, match=r"set stages.sql.contact_cost to ([0-9.]+) or lower, or "
                                          r"stages.sql.deal_value to ([0-9.]+) or higher") as refused:
        stage_thresholds(policy(sql=worthless), y, p)
    cost, value = map(float, re.search(r"contact_cost to ([0-9.]+) .*deal_value to ([0-9.]+)", str(refused.value)).groups())
    assert stage_thresholds(policy(sql={**worthless, "contact_cost": cost}), y, p)["sql"].leads >= 20
    assert stage_thresholds(policy(sql={**worthless, "deal_value": value}), y, p)["sql"].leads >= 20

    # a capacity smaller than the highest group of equally scored leads
    tied = np.where(p > np.quantile(p, 0.7), 0.9, p)  # the top 30% share one score
    with pytest.raises(PolicyError, match=r"^stages.sql.capacity_share: a capacity of 10% .* set "
                                          r"stages.sql.capacity_share to 0.3 or more$"):
        stage_thresholds(policy(sql={"rule": "capacity_share", "capacity_share": 0.1}), y, tied)
    assert stage_thresholds(policy(sql={"rule": "capacity_share", "capacity_share": 0.3}), y, tied)["sql"].threshold == 0.9

    # leads a week on undated leads
    with pytest.raises(PolicyError, match="needs dated leads .* use stages.sql.rule: capacity_share"):
        stage_thresholds(policy(sql={"rule": "capacity_per_week", "leads_per_week": 50}), y, p)


# ------------------------------------------------------------------------------ each rule
def test_min_precision_gives_the_widest_sql_stage_that_still_converts_enough():
    y, p = holdout()
    stages = stage_thresholds(policy(sql={"rule": "min_precision", "min_precision": 0.4}), y, p)
    sql = stages["sql"]
    assert sql.conversion >= 0.4
    looser = p >= np.max(p[p < sql.threshold])  # one step lower would break the promise
    assert y[looser].mean() < 0.4 or looser.sum() == len(p)
    assert sql.share_of_leads == pytest.approx((p >= sql.threshold).mean())
    assert "40% of SQLs buy" in sql.words() and f"{plain_threshold(sql.threshold)} and above" in sql.words()
    assert len(plain_threshold(sql.threshold)) <= 6  # a round threshold, not the score of one lead


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


def test_a_capacity_too_small_to_measure_is_widened_to_the_smallest_stage_and_says_so():
    y, p = holdout()
    asked = policy(sql={"rule": "capacity_share", "capacity_share": 0.002}, mql={"rule": "capacity_share",
                                                                            "capacity_share": 0.3})
    stages = stage_thresholds(asked, y, p)
    assert stages["sql"].leads == asked.min_stage_leads > 0.002 * len(y)
    assert "stages.min_stage_leads" in stages["sql"].note and f"holds {asked.min_stage_leads} leads" in stages["sql"].note
    assert stages["mql"].note is None  # 30% of leads is measurable: as asked


def test_expected_value_contacts_leads_worth_more_than_a_contact():
    y, p = holdout()
    stages = stage_thresholds(policy(sql={"rule": "expected_value", "deal_value": 10_000, "contact_cost": 2_000},
                                     mql={"min_recall": 0.95}), y, p)
    assert stages["sql"].threshold == pytest.approx(0.2)
    assert "cost of a sales contact" in stages["sql"].rule
    third = stage_thresholds(policy(sql={"rule": "expected_value", "deal_value": 3, "contact_cost": 1}), y, p)["sql"]
    assert third.threshold >= 1 / 3 and (p >= third.threshold).sum() == (p >= 1 / 3).sum()  # round, same leads


def test_a_rule_without_its_number_is_refused_by_the_config():
    with pytest.raises(ValueError, match="needs stages.sql.deal_value"):
        policy(sql={"rule": "expected_value", "contact_cost": 10})


def test_a_holdout_too_small_for_a_stage_is_refused_naming_the_key():
    y, p = holdout(n=15)
    y[0] = 1
    with pytest.raises(PolicyError, match=r"holdout has 15 leads.*set stages.min_stage_leads to 15 or lower"):
        stage_thresholds(StagePolicy(), y, p)
