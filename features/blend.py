"""The blend: LightGBM and the logistic model, their log-odds averaged with a fixed weight.

    raw(x) = w * raw_lightgbm(x) + (1 - w) * raw_logistic(x)

It answers the booster calls the scorer makes (`predict`, with `raw_score` or `pred_contrib`),
so scoring and reasons need no second path: each part's contributions add up to its own
log-odds, so their weighted sum adds up to the blend's. Both parts keep their monotone
constraints and the weights are positive, so more engagement never lowers a blended score
either.

Why a third candidate: on the 20,000-lead demo CRM (seeds 7, 8, 9) the two models err in
different places (trees split counts into steps, the logistic model reads them on a log scale),
and the average of their log-odds ranked the holdout better than either in each case
(benchmarks/train_model.py --leads 20000 --seeds 7 8 9). Training picks it only when it scores
best out of fold; its weight (of three) is chosen on the same out-of-fold predictions, a slight
optimism in its favour (`leadscore train` prints all three on the holdout).
Training fits it (training.trainer); this module only scores with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from features.linear import LinearModel


@dataclass
class BlendModel:
    booster: Any  # lightgbm.Booster
    linear: LinearModel
    weight: float  # of the LightGBM part, in (0, 1)

    def predict(self, X: np.ndarray, raw_score: bool = False, pred_contrib: bool = False,
                num_threads: int = 0, **_: Any) -> np.ndarray:
        """As `lightgbm.Booster.predict`: the probability, the log-odds (raw_score) or the
        per-feature contributions with the bias last (pred_contrib), for rows X (n, features)."""
        w = self.weight
        if pred_contrib:
            return (w * self.booster.predict(X, pred_contrib=True, num_threads=num_threads)
                    + (1 - w) * self.linear.predict(X, pred_contrib=True))
        raw = self.combine(self.booster.predict(X, raw_score=True, num_threads=num_threads),
                           self.linear.predict(X, raw_score=True))
        return raw if raw_score else probability(raw)

    def combine(self, lightgbm: np.ndarray, logistic: np.ndarray) -> np.ndarray:
        """The blend of the two parts' log-odds, or of their contributions (same shapes)."""
        return combine(self.weight, lightgbm, logistic)


def combine(weight: float, lightgbm: np.ndarray, logistic: np.ndarray) -> np.ndarray:
    """w * LightGBM + (1 - w) * logistic, of log-odds or contributions: the blend's one formula."""
    return weight * lightgbm + (1 - weight) * logistic


def probability(raw: np.ndarray) -> np.ndarray:
    """The probability of a log-odds (the blend's output before calibration)."""
    return 1.0 / (1.0 + np.exp(-raw))


def blend_probabilities(lightgbm: np.ndarray, logistic: np.ndarray, weight: float) -> np.ndarray:
    """The blend's probability from its parts' probabilities (n,), for predictions made before
    the blend exists (out of fold, in training)."""
    def logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
        return np.log(p) - np.log1p(-p)

    return probability(combine(weight, logit(lightgbm), logit(logistic)))
