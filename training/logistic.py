"""Fitting the regularised logistic model on the transform's rows (features.linear scores it).

Categories are one-hot (missing is a category of its own); numbers are filled with their
median, counts and numbers of days read as log(1 + x), standardised, and get a "was missing" indicator when training saw missing values. The
weights minimise the log loss plus an L2 penalty (scikit-learn's formulation, with C), under
the same monotone constraints as LightGBM: more engagement never lowers a score here either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from features.linear import LinearModel, NumericTerm

if TYPE_CHECKING:  # SciPy is imported where a model is fitted, not before a command looks at its input
    from scipy import sparse


def _design(X: np.ndarray, categories: dict[int, int], logged: frozenset[int] = frozenset()
            ) -> tuple[sparse.csr_matrix, list[tuple], dict]:
    """The design matrix of the training rows, what each of its columns is, and the numbers'
    fill values and scales (`logged` columns read as log(1 + x)).

    Every row has the same entries: one per categorical feature (its code's column), one per
    number and one per "was missing" indicator, zeros kept. So the CSR arrays are filled in
    place, one block of columns at a time, and nothing else of that size is made: one
    n-by-1 sparse matrix per block, then stacked, held about three copies of the matrix at
    once (1M demo leads, about 6M examples: the training process reached 18.48 GiB in this
    step, benchmarks/train_model.py). The products are the same: a kept zero adds nothing."""
    from scipy import sparse

    n, m = X.shape
    missing_any = np.isnan(X).any(axis=0)
    blocks = sum(1 + (j not in categories and bool(missing_any[j])) for j in range(m))
    index_type = np.int32 if n * blocks < np.iinfo(np.int32).max else np.int64
    data = np.empty((n, blocks), dtype=np.float64)
    indices = np.empty((n, blocks), dtype=index_type)
    columns, stats = [], {}
    block = 0
    for j in range(m):
        value = X[:, j]
        missing = np.isnan(value)
        if j in categories:
            size = categories[j] + 1  # the transform's codes, then missing
            code = np.where(missing, size - 1, np.clip(np.nan_to_num(value), 0, size - 2)).astype(np.int64)
            indices[:, block] = len(columns) + code
            data[:, block] = 1.0
            block += 1
            columns += [("category", j, c) for c in range(size)]
            continue
        given = value[~missing]
        fill = float(np.median(given)) if len(given) else 0.0
        low, high = (float(given.min()), float(given.max())) if len(given) else (None, None)
        read = NumericTerm(fill, 0.0, 1.0, 0.0, log=j in logged, low=low, high=high)
        plain = read.value(value)
        mean, scale = float(plain.mean()), float(plain.std())
        scale = scale if scale > 0 else 1.0
        stats[j] = (fill, mean, scale, low, high)
        indices[:, block] = len(columns)
        data[:, block] = (plain - mean) / scale
        block += 1
        columns.append(("number", j, None))
        if missing_any[j]:
            indices[:, block] = len(columns)
            data[:, block] = missing
            block += 1
            columns.append(("missing", j, None))
    indptr = np.arange(0, n * blocks + 1, blocks, dtype=index_type)
    design = sparse.csr_matrix((data.reshape(-1), indices.reshape(-1), indptr), shape=(n, len(columns)))
    return design, columns, stats


def fit_logistic(X: np.ndarray, y: np.ndarray, categories: dict[int, int], monotone: list[int],
                 c: float = 1.0, max_iterations: int = 500, logged: frozenset[int] = frozenset()) -> LinearModel:
    """Fit on the rows given (X, y). categories: feature index -> number of codes of a
    categorical feature; monotone[j] = 1 (-1) keeps feature j's weight >= 0 (<= 0) (log(1 + x)
    is increasing, so a logged column keeps its sign); logged: columns read as log(1 + x)."""
    from scipy.optimize import minimize

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    A, columns, stats = _design(X, categories, logged)
    n, k = A.shape
    At = A.T  # a view (CSC), not a copy

    def loss(params: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = params[:k], params[k]
        z = A @ w + b
        value = c * float(np.sum(np.logaddexp(0.0, z) - y * z)) + 0.5 * float(w @ w)
        residual = c * (1.0 / (1.0 + np.exp(-z)) - y)
        return value, np.append(At @ residual + w, residual.sum())

    bounds = []
    for kind, j, _ in columns:
        sign = monotone[j] if kind == "number" else 0
        bounds.append((0.0, None) if sign > 0 else (None, 0.0) if sign < 0 else (None, None))
    bounds.append((None, None))  # the intercept
    start = np.zeros(k + 1)
    start[k] = float(np.log(max(y.mean(), 1e-6) / max(1 - y.mean(), 1e-6)))
    fitted = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds,
                      options={"maxiter": max_iterations})
    w, b = fitted.x[:k], float(fitted.x[k])

    categories: dict[int, list[float]] = {}
    numbers: dict[int, NumericTerm] = {}
    for weight, (kind, j, _) in zip(w, columns):
        if kind == "category":
            categories.setdefault(j, []).append(float(weight))
        elif kind == "number":
            fill, mean, scale, low, high = stats[j]
            numbers[j] = NumericTerm(fill, mean, scale, weight=float(weight), log=j in logged, low=low, high=high)
        else:
            numbers[j].missing_weight = float(weight)
    model = LinearModel(X.shape[1], b, categories, numbers, [0.0] * X.shape[1])
    model.term_means = [float(v) for v in model.terms(X).mean(axis=0)]
    return model
