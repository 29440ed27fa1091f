"""How good a probability is: the one ROC-AUC every package uses (leakage report, evaluation,
tuning, the generator's best achievable AUC, the outcome report), the one reliability table
and expected calibration error (the promotion gate's and the outcome report's), and the one
way a share is written in percent."""

from __future__ import annotations

import numpy as np


def roc_auc(label, score, sample_weight=None) -> float:
    """ROC-AUC of `score` against `label` (true or 1 for won): scikit-learn's `roc_auc_score`,
    ties counted half, rows weighted by `sample_weight` if given. NaN when `label` holds only
    one class among the rows that count, or none (where sklearn would warn or refuse).

    sklearn rather than an own rank sum. Callers with many rows and few distinct scores pass
    the distinct values with their counts as `sample_weight` (the leakage report does: 3.4 s on
    681,046 rows of the 1M-lead demo CRM)."""
    from sklearn.metrics import roc_auc_score  # imported here: heavy, and not every caller needs it

    label = np.asarray(label).astype(bool)
    counted = label if sample_weight is None else label[np.asarray(sample_weight) > 0]
    won = int(counted.sum())
    if won == 0 or won == len(counted):
        return float("nan")
    return float(roc_auc_score(label, score, sample_weight=sample_weight))


CALIBRATION_BINS = 10


def reliability_table(label, probability, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Equal-count bins of leads by probability, lowest first: {"n", "mean_probability",
    "won_rate"} of each (empty bins left out). label: 1-d, true or 1 for won; probability: 1-d
    floats 0-1, the same length."""
    label = np.asarray(label)
    probability = np.asarray(probability, dtype=np.float64)
    order = np.argsort(probability, kind="stable")
    return [{"n": int(len(c)), "mean_probability": float(probability[c].mean()), "won_rate": float(label[c].mean())}
            for c in np.array_split(order, bins) if len(c)]


def expected_calibration_error(label, probability, bins: int = CALIBRATION_BINS) -> float:
    """Mean |observed won rate - mean probability| over `bins` equal-count bins, weighted by
    size (0: perfectly calibrated). Same inputs as reliability_table, at least one lead."""
    table = reliability_table(label, probability, bins)
    n = sum(b["n"] for b in table)
    return float(sum(b["n"] / n * abs(b["won_rate"] - b["mean_probability"]) for b in table))


def percent(share: float) -> str:
    """A share in percent, whole unless that would show 0% or 100% for a share that is neither
    (0.004 -> "0.4%", 0.9996 -> "99.96%")."""
    for decimals in range(4):
        text = f"{share * 100:.{decimals}f}"
        if (float(text) == 0) == (share == 0) and (float(text) == 100) == (share == 1):
            return text + "%"
    return f"{share * 100:g}%"
