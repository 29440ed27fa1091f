"""Has what the model sees moved away from what it was trained on? The population stability
index (PSI) of each model input, training values against recent scored leads' values.

A few lines of numpy rather than a drift library: the one statistic the report needs, with
its binning rules written down here. Evidently was tried first: 0.7.23 needs plotly < 6 and
the report draws with plotly 7.1, so pip refuses the pair (`.venv/bin/python -m pip install
--dry-run -c requirements.lock evidently==0.7.23`: "evidently 0.7.23 depends on plotly<6").

Inputs, per feature: `reference`, a 1-d array of the feature's values in training (one per
training example), and `current`, a 1-d array of its values for recent scored leads. Either may
be numeric (NaN is missing) or categorical (strings; None or NaN is missing).

How the bins are made (numeric): the reference's 10% ... 90% quantiles are the inner edges,
each bin closed on the right ((a, b]), repeated edges merged so that a value held by many
examples (ties; a constant feature) is one bin rather than several empty ones. Values below the
reference's lowest or above its highest value each get a bin of their own (empty in training),
so a constant feature that moves either way, or any feature that leaves the range training saw,
is noticed. Categorical: one bin per category seen in training and one for categories training
never saw. Missing values are their own bin in both cases.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from features.errors import DataError

PSI_BINS = 10
PSI_EPSILON = 1e-4
"""Share put in a bin one side left empty, so that ln(current / reference) stays finite."""
PSI_DRIFT_THRESHOLD = 0.2
"""PSI above which a feature is flagged. A rule of thumb from credit scoring, not a test: below
0.1 is usually read as no change, 0.1 to 0.25 as some, above 0.25 as a real shift (Siddiqi,
Credit Risk Scorecards, 2006); 0.2 is the single cut-off commonly used between them."""


def _is_numeric(values: np.ndarray) -> bool:
    if values.dtype.kind in "iuf":
        return True
    if values.dtype.kind == "O":
        return pd.api.types.infer_dtype(values, skipna=True) in ("integer", "floating", "mixed-integer-float",
                                                                 "decimal", "empty")
    return False


def _numeric_bins(reference: np.ndarray, current: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of every reference and current value: 0 below the reference's range, 1 ... k
    the quantile bins, k + 1 above the range, k + 2 missing."""
    reference, current = reference.astype(np.float64), current.astype(np.float64)
    seen = reference[~np.isnan(reference)]
    if len(seen) == 0:  # training never saw a value: every value is "outside its range"
        low, high, edges = np.inf, -np.inf, np.empty(0)
    else:
        low, high = float(seen.min()), float(seen.max())
        edges = np.unique(np.quantile(seen, np.linspace(0, 1, bins + 1)[1:-1]))
    k = len(edges) + 1
    missing_bin = k + 2

    def index(values: np.ndarray) -> np.ndarray:
        out = 1 + np.searchsorted(edges, values, side="left")  # (a, b] bins, 1 ... k
        out = np.where(values < low, 0, out)
        out = np.where(values > high, k + 1, out)
        return np.where(np.isnan(values), missing_bin, out)

    return index(reference), index(current)


def _category_bins(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin index of every value: one per category seen in reference, then one for categories
    reference never saw, then missing."""
    ref, cur = pd.Series(reference, dtype=object), pd.Series(current, dtype=object)
    categories = pd.Index(pd.unique(ref[ref.notna()].astype(str)))

    def index(values: pd.Series) -> np.ndarray:
        missing = values.isna().to_numpy()
        codes = categories.get_indexer(values.where(~values.isna(), "").astype(str))
        codes = np.where(codes < 0, len(categories), codes)
        return np.where(missing, len(categories) + 1, codes)

    return index(ref), index(cur)


def population_stability_index(reference, current, bins: int = PSI_BINS,
                               epsilon: float = PSI_EPSILON) -> float | None:
    """PSI = sum over bins of (c - r) * ln(c / r), where r and c are the shares of reference
    and current values in the bin (a share of 0 counts as `epsilon`). 0 when both are spread
    alike, growing as they part; never negative. Bins as in the module docstring (`bins`
    quantile bins for a numeric feature).

    reference, current: 1-d array-likes of one feature's values. Returns None when `current`
    is empty (nothing to compare yet). Raises DataError when `reference` is empty.

    The index is sensitive to sample size: two samples of the same distribution give about
    (bins - 1) * (1 / len(reference) + 1 / len(current)) by chance alone, 0.09 with 100
    current values and 10 bins; judge it on a few hundred current values or more."""
    reference = np.asarray(reference).ravel()
    current = np.asarray(current).ravel()
    if len(reference) == 0:
        raise DataError("drift: the reference (training) values are empty; pass the feature's training values")
    if len(current) == 0:
        return None
    if _is_numeric(reference) and _is_numeric(current):
        ref_bin, cur_bin = _numeric_bins(reference, current, bins)
    else:
        ref_bin, cur_bin = _category_bins(reference, current)
    size = int(max(ref_bin.max(), cur_bin.max())) + 1
    r = np.bincount(ref_bin, minlength=size) / len(reference)
    c = np.bincount(cur_bin, minlength=size) / len(current)
    r, c = np.maximum(r, epsilon), np.maximum(c, epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


MIN_CURRENT_TO_JUDGE = 300
"""Fewer current values than this and a feature's drift is not judged. Two samples of one
population part by chance: the demo's own training leads, scored again, gave PSIs above 0.2 on
8 of 11 inputs with 25 leads, 4 with 60, none with 300 (a probe of `leadscore report`)."""


def feature_drift(drift_inputs: Mapping[str, tuple], threshold: float = PSI_DRIFT_THRESHOLD,
                  bins: int = PSI_BINS, min_current: int = MIN_CURRENT_TO_JUDGE) -> list[dict]:
    """PSI of every feature in `drift_inputs` ({feature: (reference values, current values)}),
    in the mapping's order: a list of {"feature": str, "psi": float or None, "drifted": bool
    or None (None when there are fewer than `min_current` current values: not judged),
    "reference_n": int, "current_n": int}. A feature is drifted when its PSI is above
    `threshold`."""
    out = []
    for feature, pair in drift_inputs.items():
        try:
            reference, current = pair
        except (TypeError, ValueError):
            raise DataError(f"drift: feature {feature!r} needs a pair (reference values, current values)") from None
        psi = population_stability_index(reference, current, bins=bins)
        judged = psi is not None and np.size(current) >= min_current
        out.append({"feature": str(feature), "psi": psi, "drifted": psi > threshold if judged else None,
                    "reference_n": int(np.size(reference)), "current_n": int(np.size(current))})
    return out
