"""The holdout predictions kept with a version give back the same stages, lead dates included."""

import numpy as np
import pandas as pd

from training.config import StagePolicy
from training.holdout import HoldoutPredictions
from training.stages import stage_thresholds


def test_stored_predictions_give_the_same_stages_as_the_arrays_they_came_from(tmp_path):
    rng = np.random.default_rng(2)
    n = 2000
    p = rng.beta(1.5, 5, n)
    y = (rng.random(n) < p).astype(np.int8)
    created = np.sort(rng.integers(1.6e18, 1.6e18 + 12 * 7 * 86_400e9, n)).astype(np.float64)  # twelve weeks
    kept = HoldoutPredictions(np.array([f"L{i}" for i in range(n)]), y, p, p * 0.9, created)
    path = tmp_path / "holdout.parquet"
    kept.frame().to_parquet(path, index=False)
    back = HoldoutPredictions.from_frame(pd.read_parquet(path), "test")
    assert np.array_equal(back.probability, p) and np.array_equal(back.label, y)
    assert np.allclose(back.order_ns, created, rtol=0, atol=1e3)

    weekly = StagePolicy.model_validate({"sql": {"rule": "capacity_per_week", "leads_per_week": 20},
                                         "mql": {"rule": "capacity_per_week", "leads_per_week": 60}})
    assert stage_thresholds(weekly, back.label, back.probability, back.order_ns) == \
        stage_thresholds(weekly, y, p, created)

    undated = HoldoutPredictions(kept.lead_id, y, p, p, None).frame()
    assert HoldoutPredictions.from_frame(undated, "test").order_ns is None


def test_a_sampled_holdout_plans_weekly_capacity_on_the_leads_that_arrive_and_keeps_its_share(tmp_path):
    """Training on a sample of a tenth of the leads leaves a tenth of each week's leads in the
    holdout: 50 leads a week must still be about 50 of every week's leads (5% of 1,000 a week),
    not 50 of the sample's 100 (half of them), and `leadscore stages` must re-plan the same."""
    rng = np.random.default_rng(4)
    n, weeks = 20_000, 20
    p = rng.beta(1.5, 5, n)
    y = (rng.random(n) < p).astype(np.int8)
    created = np.sort(rng.integers(1.6e18, 1.6e18 + weeks * 7 * 86_400e9, n)).astype(np.float64)
    weekly = StagePolicy.model_validate({"sql": {"rule": "capacity_per_week", "leads_per_week": 50},
                                         "mql": {"rule": "capacity_per_week", "leads_per_week": 150}})
    every_lead = stage_thresholds(weekly, y, p, created)["sql"].share_of_leads
    tenth = np.sort(rng.choice(n, n // 10, replace=False))
    sampled = stage_thresholds(weekly, y[tenth], p[tenth], created[tenth], lead_share=0.1)["sql"].share_of_leads
    assert 0.045 <= every_lead <= 0.05 and 0.04 <= sampled <= 0.055
    as_if_all = stage_thresholds(weekly, y[tenth], p[tenth], created[tenth])["sql"].share_of_leads
    assert as_if_all > 0.4  # what the sample alone would say: 50 of its 100 leads a week

    kept = HoldoutPredictions(np.array([f"L{i}" for i in tenth]), y[tenth], p[tenth], p[tenth], created[tenth], 0.1)
    kept.frame().to_parquet(tmp_path / "holdout.parquet", index=False)
    back = HoldoutPredictions.from_frame(pd.read_parquet(tmp_path / "holdout.parquet"), "test")
    assert back.lead_share == 0.1
    assert stage_thresholds(weekly, back.label, back.probability, back.order_ns, back.lead_share) == \
        stage_thresholds(weekly, y[tenth], p[tenth], created[tenth], lead_share=0.1)
    before = kept.frame().drop(columns="lead_share")  # stored before training sampled: every lead
    assert HoldoutPredictions.from_frame(before, "test").lead_share == 1.0
