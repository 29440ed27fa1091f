"""Calibration on held-out data, so that of leads scored 0.7 about 70% buy.

The held-out data are out-of-fold predictions over the whole training window by default
(`out_of_fold`; the folds are consecutive blocks of leads in time, see training.trainer): a
won rate that swings with the seasons then averages out instead of being copied from whichever
season the last slice of training happened to be.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from features.bundle import Calibration

PROBABILITY_FLOOR = 0.002


def fit_calibration(method: str, raw_probability: np.ndarray, label: np.ndarray) -> Calibration:
    p = np.asarray(raw_probability, dtype=np.float64)
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression  # here: scikit-learn (with SciPy) is a second to import

        # Never exactly 0 or 1: no history of a few thousand leads can promise certainty.
        iso = IsotonicRegression(y_min=PROBABILITY_FLOOR, y_max=1 - PROBABILITY_FLOOR, out_of_bounds="clip",
                                 increasing=True)
        iso.fit(p, label)
        return Calibration("isotonic", tuple(map(float, iso.X_thresholds_)), tuple(map(float, iso.y_thresholds_)))
    if method == "sigmoid":
        from sklearn.linear_model import LogisticRegression

        logit = np.log(np.clip(p, 1e-12, 1 - 1e-12) / np.clip(1 - p, 1e-12, 1)).reshape(-1, 1)
        lr = LogisticRegression(C=1e6).fit(logit, label)
        return Calibration("sigmoid", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))
    raise ValueError(f"unknown calibration method {method!r}")


def out_of_fold(folds: np.ndarray, fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """A prediction for every row from a model that never saw it. folds: the fold of each row;
    fit_predict(train, held): fit on the rows where `train` is True, predict those where `held` is."""
    out = np.empty(len(folds), dtype=np.float64)
    for fold in np.unique(folds):
        held = folds == fold
        out[held] = fit_predict(~held, held)
    return out
