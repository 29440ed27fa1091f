"""The one ROC-AUC (features.metrics.roc_auc, roc_aucs) gives scikit-learn's number for any
input: labels, scores with many ties, weights with zeros (a bootstrap resample), one class."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from features.metrics import roc_auc, roc_aucs

rows = st.lists(st.tuples(st.booleans(), st.integers(0, 6), st.integers(0, 3)), min_size=1, max_size=60)


def sklearn_auc(label, score, weight=None) -> float:
    counted = label if weight is None else label[weight > 0]
    if counted.all() or not counted.any():
        return float("nan")  # sklearn refuses one class; ours says NaN
    return float(roc_auc_score(label, score, sample_weight=weight))


def same(ours: float, theirs: float) -> bool:
    return (np.isnan(ours) and np.isnan(theirs)) or abs(ours - theirs) < 1e-12


@settings(max_examples=300, deadline=None)
@given(rows, st.integers(1, 4))
def test_every_resample_gets_scikit_learns_roc_auc(drawn, resamples):
    label = np.array([r[0] for r in drawn])
    score = np.array([r[1] / 6 for r in drawn])  # few distinct values: many ties
    rng = np.random.default_rng(len(drawn) * 7 + resamples)
    weights = np.vstack([np.array([r[2] for r in drawn]), rng.integers(0, 3, size=(resamples, len(drawn)))])
    ours = roc_aucs(label, score, weights)
    assert ours.shape == (resamples + 1,)
    for row, value in zip(weights, ours):
        assert same(value, sklearn_auc(label, score, row)), (label, score, row)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=80))
def test_unweighted_roc_auc_is_scikit_learns(drawn):
    label = np.array([r[0] for r in drawn])
    score = np.array([r[1] for r in drawn])
    assert same(roc_auc(label, score), sklearn_auc(label, score))
    assert same(roc_auc(label.astype(int), list(score)), sklearn_auc(label, score))  # 0/1 and lists too


def test_one_class_empty_and_nan_scores():
    assert np.isnan(roc_auc([True, True], [0.1, 0.2]))
    assert np.isnan(roc_auc([], []))
    assert np.isnan(roc_auc([True, False], [0.1, 0.2], sample_weight=[1, 0]))  # the lost lead weighs nothing
    assert roc_auc([True, False], [0.9, 0.2]) == 1.0 and roc_auc([True, False], [0.5, 0.5]) == 0.5
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([True, False], [np.nan, 0.2])
