"""Calibration on held-out data, so that of leads scored 0.7 about 70% buy."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from features.bundle import Calibration

PROBABILITY_FLOOR = 0.002


def fit_calibration(method: str, raw_probability: np.ndarray, label: np.ndarray) -> Calibration:
    p = np.asarray(raw_probability, dtype=np.float64)
    if method == "isotonic":
        # Never exactly 0 or 1: no history of a few thousand leads can promise certainty.
        iso = IsotonicRegression(y_min=PROBABILITY_FLOOR, y_max=1 - PROBABILITY_FLOOR, out_of_bounds="clip",
                                 increasing=True)
        iso.fit(p, label)
        return Calibration("isotonic", tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_)))
    if method == "sigmoid":
        logit = np.log(np.clip(p, 1e-12, 1 - 1e-12) / np.clip(1 - p, 1e-12, 1)).reshape(-1, 1)
        lr = LogisticRegression(C=1e6).fit(logit, label)
        return Calibration("sigmoid", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    raise ValueError(f"unknown calibration method {method!r}")
