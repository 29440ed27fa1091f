"""Figures of a training run: ROC, precision-recall, calibration, gains and feature importance."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402


def roc_figure(label, probability, baseline=None):
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, p in (("chosen model (calibrated)", probability), ("logistic baseline", baseline)):
        if p is not None:
            fpr, tpr, _ = roc_curve(label, p)
            ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC on the time holdout")
    ax.legend(loc="lower right")
    return fig


def pr_figure(label, probability):
    fig, ax = plt.subplots(figsize=(5, 5))
    precision, recall, _ = precision_recall_curve(label, probability)
    ax.plot(recall, precision)
    ax.axhline(np.mean(label), ls=":", color="grey", label="won rate")
    ax.set(xlabel="recall (share of buyers)", ylabel="precision (share who bought)", title="Precision-recall")
    ax.legend()
    return fig


def calibration_figure(label, probability, bins: int = 10):
    order = np.argsort(probability)
    chunks = [c for c in np.array_split(order, bins) if len(c)]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([probability[c].mean() for c in chunks], [label[c].mean() for c in chunks], "o-", label="model")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect")
    ax.set(xlabel="mean predicted probability", ylabel="observed won rate", title="Calibration (equal-count bins)")
    ax.legend()
    return fig


def gains_figure(label, probability):
    order = np.argsort(-probability)
    captured = np.cumsum(label[order]) / max(label.sum(), 1)
    share = np.arange(1, len(order) + 1) / len(order)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(share, captured, label="model")
    ax.plot([0, 1], [0, 1], ":", color="grey", label="random")
    ax.set(xlabel="share of leads contacted (best first)", ylabel="share of buyers captured", title="Gains")
    ax.legend()
    return fig


def importance_figure(importance: dict[str, float], top: int = 20):
    from training.trainer import IMPORTANCE_ROWS

    items = list(importance.items())[:top][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.3 * len(items) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set(xlabel="importance (LightGBM: total gain; logistic or blend: mean |log-odds contribution|\n"
                  f"over up to {IMPORTANCE_ROWS:,} training examples)",
           title="Feature importance")
    fig.tight_layout()
    return fig


def all_figures(label, probability, baseline, importance) -> dict[str, object]:
    return {"roc.png": roc_figure(label, probability, baseline), "pr.png": pr_figure(label, probability),
            "calibration.png": calibration_figure(label, probability), "gains.png": gains_figure(label, probability),
            "importance.png": importance_figure(importance)}


def close(figures: dict[str, object]) -> None:
    for fig in figures.values():
        plt.close(fig)
