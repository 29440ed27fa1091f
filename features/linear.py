"""The regularised logistic model as a model bundle stores it: plain JSON, no pickles.

It reads the rows of the one transform, like the booster: a categorical feature (a code, or
missing) has one weight per code; a number is filled with its training median when missing,
read as log(1 + x) when it is a count or a number of days (`NumericTerm.log`), standardised and
weighted, with one more weight for "was missing" when training saw missing
values. It answers the booster calls the scorer makes (`predict`, with `raw_score` or
`pred_contrib`), so scoring and reasons need no second path: a feature's contribution is its
term minus that term's mean over the training rows, and the bias is the mean log-odds, so the
contributions add up to the log-odds exactly as LightGBM's do.

Training fits it (training.candidates); this module only scores with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = "linear_model.json"


@dataclass
class NumericTerm:
    fill: float  # the training median, for missing values
    mean: float
    scale: float
    weight: float
    missing_weight: float = 0.0
    log: bool = False  # read as log(1 + value) (counts and durations, >= 0 by construction)

    def value(self, x: np.ndarray) -> np.ndarray:
        """The number as the weight reads it: missing filled, log(1 + x) when `log`, standardised."""
        filled = np.where(np.isnan(x), self.fill, x)
        if self.log:
            filled = np.log1p(np.maximum(filled, 0.0))
        return (filled - self.mean) / self.scale


@dataclass
class LinearModel:
    n_features: int
    intercept: float
    categories: dict[int, list[float]]  # feature index -> weight per code; the last is "missing"
    numbers: dict[int, NumericTerm]  # feature index -> how its value becomes a term
    term_means: list[float]  # per feature, its mean term over the training rows

    # ------------------------------------------------------------------------------ scoring
    def terms(self, X: np.ndarray) -> np.ndarray:
        """Each feature's additive term in the log-odds, one row per lead."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        out = np.zeros((len(X), self.n_features))
        for j, weights in self.categories.items():
            table = np.asarray(weights)
            value = X[:, j]
            missing = np.isnan(value)
            code = np.where(missing, -1, value).astype(np.int64)
            known = (code >= 0) & (code < len(table) - 1)  # a code training never had weighs 0
            out[:, j] = np.where(missing, table[-1], np.where(known, table[np.clip(code, 0, len(table) - 2)], 0.0))
        for j, term in self.numbers.items():
            value = X[:, j]
            out[:, j] = term.weight * term.value(value) + term.missing_weight * np.isnan(value)
        return out

    def predict(self, X: np.ndarray, raw_score: bool = False, pred_contrib: bool = False,
                **_: Any) -> np.ndarray:
        """As `lightgbm.Booster.predict`: the probability, the log-odds (raw_score) or the
        per-feature contributions with the bias last (pred_contrib)."""
        terms = self.terms(X)
        if pred_contrib:
            means = np.asarray(self.term_means)
            bias = np.full((len(terms), 1), self.intercept + means.sum())
            return np.hstack([terms - means, bias])
        raw = self.intercept + terms.sum(axis=1)
        return raw if raw_score else 1.0 / (1.0 + np.exp(-raw))

    # ------------------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        return {"kind": "logistic", "n_features": self.n_features, "intercept": self.intercept,
                "categories": {str(j): w for j, w in self.categories.items()},
                "numbers": {str(j): vars(t) for j, t in self.numbers.items()},
                "term_means": self.term_means}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LinearModel":
        return cls(int(data["n_features"]), float(data["intercept"]),
                   {int(j): [float(v) for v in w] for j, w in data["categories"].items()},
                   {int(j): NumericTerm(**t) for j, t in data["numbers"].items()},
                   [float(v) for v in data["term_means"]])

    def save_model(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "LinearModel":
        return cls.from_dict(json.loads(Path(path).read_text()))
