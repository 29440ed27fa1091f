"""How good a probability is: the one ROC-AUC every package uses (leakage report, evaluation,
tuning, the promotion gate's bootstrap, the generator's best achievable AUC, the outcome report), the one reliability table
and expected calibration error (the promotion gate's and the outcome report's), and the one
way a share is written in percent."""

from __future__ import annotations

import numpy as np


def roc_auc(label, score, sample_weight=None) -> float:
    """ROC-AUC of `score` against `label` (true or 1 for won), ties counted half, rows weighted
    by `sample_weight` if given: `roc_aucs` with one row of weights. label, score (and
    sample_weight): 1-d, the same length. NaN when `label` holds only one class among the rows
    that count, or none. ValueError when a score is NaN."""
    label = np.asarray(label)
    weights = np.ones(len(label)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return float(roc_aucs(label, score, weights[None, :])[0])


def roc_aucs(label, score, weights) -> np.ndarray:
    """ROC-AUC of `score` against `label` under each row of `weights`, shape (b, n): row i
    weighs lead j by weights[i, j] (a bootstrap resample: how often it was drawn). Shape (b,):
    the probability that a won lead outscores a lost one, ties counted half (Mann-Whitney U over
    won x lost weight), NaN for a row that weighs only one class; all rows at once from one
    ranking of the scores. The same number as scikit-learn's `roc_auc_score` with
    `sample_weight` (the trapezoid under its ROC curve), checked on random input with ties and
    zero weights in tests/features/test_metrics.py.

    Written here rather than calling scikit-learn, for measured reasons (benchmarks/roc_auc.py,
    2026-12-03): scikit-learn checks its inputs many times per call, 4.3 ms even for the 40
    weighted values of one column of the leakage report, which calls it for every column (ours:
    0.08 ms); `leadscore train` on the tests' 6,000-lead CRM took 37.7 and 35.7 s with
    scikit-learn's, 27.5 and 26.6 s with this, the same figures printed. And the promotion
    gate's bootstrap scores 500 resamples of the holdout: on 170,000 leads 7.2 s at once here,
    about 32 s in 500 calls of scikit-learn's."""
    label = np.asarray(label).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[1] != len(label) or len(score) != len(label):
        raise ValueError(f"roc_aucs: label {label.shape}, score {score.shape} and weights {weights.shape} "
                         "do not match (weights: one row of n per resample)")
    if np.isnan(score).any():
        raise ValueError("roc_auc: a score is NaN; score every lead first")
    if len(label) == 0:
        return np.full(len(weights), np.nan)
    order = np.argsort(score, kind="stable")
    label, score, weights = label[order], score[order], weights[:, order]
    new_group = np.r_[True, score[1:] != score[:-1]]
    starts = np.flatnonzero(new_group)  # first lead of each tied group
    group = np.cumsum(new_group) - 1
    won = weights * label
    lost = weights * ~label
    lost_group = np.add.reduceat(lost, starts, axis=1)  # lost weight per tied group
    below = np.cumsum(lost_group, axis=1) - lost_group  # lost weight strictly below each group
    beaten = below[:, group] + 0.5 * lost_group[:, group]
    n_won, n_lost = won.sum(axis=1), lost.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (won * beaten).sum(axis=1) / (n_won * n_lost)
    auc[(n_won <= 0) | (n_lost <= 0)] = np.nan
    return auc


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
