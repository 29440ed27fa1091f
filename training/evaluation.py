"""How good a probability is, measured on the time holdout."""

from __future__ import annotations

import numpy as np

from features.metrics import expected_calibration_error, roc_auc


LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece"})


def shortfall(metric: str, value: float, reference: float) -> float:
    """How much worse `value` is than `reference` on `metric` (negative: better), whichever
    way the metric points."""
    return value - reference if metric in LOWER_IS_BETTER else reference - value


def figures_by_age(label: np.ndarray, probability: np.ndarray, groups: list[tuple[float | None, np.ndarray]]
                   ) -> list[dict]:
    """Per group of snapshots (age, positions in label and probability; age None: the ages
    drawn at random): leads, won rate, mean probability, ROC-AUC (None with one class) and
    expected calibration error."""
    out = []
    for age, at in groups:
        y, p = np.asarray(label)[at].astype(int), np.asarray(probability)[at]
        if not len(y):
            continue
        both = 0 < y.sum() < len(y)
        out.append({"age_days": age, "n": int(len(y)), "won_rate": float(y.mean()),
                    "mean_probability": float(p.mean()), "roc_auc": roc_auc(y, p) if both else None,
                    "ece": expected_calibration_error(y, p)})
    return out


def top_share(label: np.ndarray, probability: np.ndarray, share: float) -> tuple[float, float]:
    """(lift, share of buyers captured) among the top `share` of leads by probability."""
    k = max(1, int(round(len(probability) * share)))
    top = np.argsort(-probability, kind="stable")[:k]
    base = label.mean()
    rate = label[top].mean()
    captured = label[top].sum() / max(label.sum(), 1)
    return float(rate / base) if base > 0 else float("nan"), float(captured)


def evaluate(label: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    # imported here: scikit-learn (with SciPy) takes about a second to import, which `leadscore
    # train` and `stages` would pay before looking at their input (benchmarks/startup.py)
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss

    label = np.asarray(label).astype(int)
    probability = np.clip(np.asarray(probability, dtype=np.float64), 1e-6, 1 - 1e-6)
    lift10, capture10 = top_share(label, probability, 0.10)
    lift20, capture20 = top_share(label, probability, 0.20)
    return {
        "roc_auc": roc_auc(label, probability),
        "pr_auc": float(average_precision_score(label, probability)),
        "log_loss": float(log_loss(label, probability, labels=[0, 1])),
        "brier": float(brier_score_loss(label, probability)),
        "ece": expected_calibration_error(label, probability),
        "lift_top10": lift10,
        "captured_top10": capture10,
        "lift_top20": lift20,
        "captured_top20": capture20,
        "won_rate": float(label.mean()),
        "n": int(len(label)),
    }
