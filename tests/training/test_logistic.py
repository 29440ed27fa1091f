"""The regularised logistic model (training.logistic fits it, features.linear scores it)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from training.logistic import fit_logistic


def _model():
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.integers(0, 3, 400).astype(float), rng.uniform(10, 200, 400), rng.poisson(3, 400)])
    X[rng.random(400) < 0.1, 1] = np.nan
    y = (rng.random(400) < 1 / (1 + np.exp(-(X[:, 2] - 3 - 0.01 * np.nan_to_num(X[:, 1]))))).astype(int)
    return fit_logistic(X, y, {0: 3}, [0, 0, 1], logged=frozenset({2})), X


MODEL, X = _model()


@settings(max_examples=300, deadline=None)
@given(st.floats(-1e9, 1e9), st.floats(0, 1e9))
def test_a_number_beyond_what_training_saw_reads_as_the_end_of_its_range(employees, count):
    """A straight line has no end: without the range, a company ten times the largest seen
    took a probability to nothing. Beyond the range, the score is the one at its end."""
    row = np.array([[1.0, employees, count]])
    low, high = np.nanmin(X[:, 1]), np.nanmax(X[:, 1])
    held = np.array([[1.0, min(max(employees, low), high), min(max(count, X[:, 2].min()), X[:, 2].max())]])
    assert MODEL.predict(row)[0] == MODEL.predict(held)[0]


def test_inside_the_range_every_column_reads_as_its_own_term():
    rows = np.vstack([X[:50], [[np.nan, np.nan, np.nan], [7.0, 15.0, 0.0]]])  # missing, an unseen code
    terms = MODEL.terms(rows)
    for j, term in MODEL.numbers.items():
        np.testing.assert_array_equal(terms[:, j], term.weight * term.value(rows[:, j])
                                      + term.missing_weight * np.isnan(rows[:, j]))
    weights = np.asarray(MODEL.categories[0])
    expected = [weights[-1] if np.isnan(v) else weights[int(v)] if v < len(weights) - 1 else 0.0 for v in rows[:, 0]]
    np.testing.assert_array_equal(terms[:, 0], expected)
