"""The regularised logistic model as a model bundle stores it: plain JSON, no pickles.

It reads the rows of the one transform, like the booster: a categorical feature (a code, or
missing) has one weight per code; a number is filled with its training median when missing,
held within the range training saw (a straight line has no end: a lead of 2.1 million
employees, ten times the largest the test CRM had, took the logistic model's probability to
0.0004; trees stay flat beyond their last split), read as log(1 + x) when it is a count or a
number of days (`NumericTerm.log`), standardised and weighted, with one more weight for "was missing" when training saw missing
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
    low: float | None = None  # the training values' range: a value beyond it reads as its end
    high: float | None = None

    def value(self, x: np.ndarray) -> np.ndarray:
        """The number as the weight reads it: missing filled, held within the training range,
        log(1 + x) when `log`, standardised."""
        filled = np.where(np.isnan(x), self.fill, x)
        if self.low is not None:
            filled = np.clip(filled, self.low, self.high)
        if self.log:
            filled = np.log1p(np.maximum(filled, 0.0))
        return (filled - self.mean) / self.scale


@dataclass(frozen=True)
class _Tables:
    """A LinearModel's weights as arrays: the categorical columns' weights end to end (each
    column's codes, then its "missing" weight) and the numeric columns' terms side by side."""

    category_columns: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray
    flat: np.ndarray
    number_columns: np.ndarray
    fill: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray
    missing_weight: np.ndarray
    logged: np.ndarray
    low: np.ndarray  # -inf / inf where a term has no range (models trained before ranges were kept)
    high: np.ndarray

    @classmethod
    def of(cls, model: "LinearModel") -> "_Tables":
        columns = list(model.categories)
        sizes = np.array([len(model.categories[j]) for j in columns], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if len(sizes) else sizes
        flat = np.array([w for j in columns for w in model.categories[j]], dtype=np.float64)
        numbers = list(model.numbers)
        terms = [model.numbers[j] for j in numbers]

        def field(name: str, kind=np.float64) -> np.ndarray:
            return np.array([getattr(t, name) for t in terms], dtype=kind)

        return cls(np.array(columns, dtype=np.int64), offsets, sizes, flat, np.array(numbers, dtype=np.int64),
                   field("fill"), field("mean"), field("scale"), field("weight"), field("missing_weight"),
                   field("log", bool), np.array([-np.inf if t.low is None else t.low for t in terms]),
                   np.array([np.inf if t.high is None else t.high for t in terms]))


@dataclass
class LinearModel:
    n_features: int
    intercept: float
    categories: dict[int, list[float]]  # feature index -> weight per code; the last is "missing"
    numbers: dict[int, NumericTerm]  # feature index -> how its value becomes a term
    term_means: list[float]  # per feature, its mean term over the training rows

    # ------------------------------------------------------------------------------ scoring
    def terms(self, X: np.ndarray) -> np.ndarray:
        """Each feature's additive term in the log-odds, one row per lead: (n, n_features).

        Every categorical and every numeric column in one vectorised step each (`_Tables`): the
        same element-wise operations as a column at a time, so the same bits, but about a
        tenth of the fixed cost for one lead (measured with benchmarks/grades.py: the
        sub-scores' two models read one lead in 0.6 ms column by column)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        t = self._tables()
        out = np.zeros((len(X), self.n_features))
        if len(t.category_columns):
            value = X[:, t.category_columns]
            missing = np.isnan(value)
            code = np.where(missing, -1, value).astype(np.int64)
            known = (code >= 0) & (code < t.sizes - 1)  # a code training never had weighs 0
            weight = t.flat[t.offsets + np.clip(code, 0, t.sizes - 2)]
            out[:, t.category_columns] = np.where(missing, t.flat[t.offsets + t.sizes - 1],
                                                  np.where(known, weight, 0.0))
        if len(t.number_columns):
            value = X[:, t.number_columns]
            missing = np.isnan(value)
            filled = np.clip(np.where(missing, t.fill, value), t.low, t.high)
            if t.logged.any():
                filled[:, t.logged] = np.log1p(np.maximum(filled[:, t.logged], 0.0))
            out[:, t.number_columns] = t.weight * ((filled - t.mean) / t.scale) + t.missing_weight * missing
        return out

    def _tables(self) -> "_Tables":
        """The weights as arrays, made once per set of weights."""
        key = (id(self.categories), id(self.numbers))
        cached = self.__dict__.get("_cached_tables")
        if cached is None or cached[0] != key:
            cached = self.__dict__["_cached_tables"] = (key, _Tables.of(self))
        return cached[1]

    def predict(self, X: np.ndarray, raw_score: bool = False, pred_contrib: bool = False,
                **_: Any) -> np.ndarray:
        """As `lightgbm.Booster.predict`: the probability, the log-odds (raw_score) or the
        per-feature contributions with the bias last (pred_contrib)."""
        terms = self.terms(X)
        if pred_contrib:
            return self._contributions(terms)
        raw = self.intercept + terms.sum(axis=1)
        return raw if raw_score else 1.0 / (1.0 + np.exp(-raw))

    def raw_and_contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`predict(X, raw_score=True)` and `predict(X, pred_contrib=True)` from one reading of X."""
        terms = self.terms(X)
        return self.intercept + terms.sum(axis=1), self._contributions(terms)

    def _contributions(self, terms: np.ndarray) -> np.ndarray:
        means = np.asarray(self.term_means)
        bias = np.full((len(terms), 1), self.intercept + means.sum())
        return np.hstack([terms - means, bias])

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
