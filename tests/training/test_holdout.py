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
