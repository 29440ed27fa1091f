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
    fill values and scales (`logged` columns read as log(1 + x))."""
    from scipy import sparse

    n, m = X.shape
    blocks, columns, stats = [], [], {}
    for j in range(m):
        value = X[:, j]
        missing = np.isnan(value)
        if j in categories:
            size = categories[j] + 1  # the transform's codes, then missing
            code = np.where(missing, size - 1, np.clip(np.nan_to_num(value), 0, size - 2)).astype(np.int64)
            blocks.append(sparse.csr_matrix((np.ones(n), (np.arange(n), code)), shape=(n, size)))
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
        blocks.append(sparse.csr_matrix(((plain - mean) / scale).reshape(n, 1)))
        columns.append(("number", j, None))
        if missing.any():
            blocks.append(sparse.csr_matrix(missing.astype(np.float64).reshape(n, 1)))
            columns.append(("missing", j, None))
    return sparse.hstack(blocks, format="csr"), columns, stats


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
    At = A.T.tocsr()

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
