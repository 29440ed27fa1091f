"""The lookup tables give LightGBM's own scores and pred_contrib for every tree shape a lead
scorer is trained with, and the scorer falls back to LightGBM, saying why, where they do not
apply."""

import logging
from unittest import mock

import lightgbm as lgb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving import treeshap
from serving.scorer import LeadScorer
from serving.treeshap import TreeTables, compile_booster, tabulate

AS_OF = "2026-11-01T00:00:00"


def _as_served(booster):
    """The booster as the service has it: read back from its text form. (LightGBM writes split
    thresholds to 17 digits, so a freshly trained booster can send a lead sitting exactly on a
    threshold the other way than its saved copy does.)"""
    return lgb.Booster(model_str=booster.model_to_string())


def _agrees_with_lightgbm(tables: TreeTables, booster, X: np.ndarray) -> None:
    raw, phi = tables.raw_and_groups(X, np.arange(tables.n_features), tables.n_features, threads=1)
    np.testing.assert_array_equal(raw, booster.predict(X, raw_score=True))  # the same bits
    theirs = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(phi, theirs[:, :-1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(tables.contributions(X)[:, -1], theirs[:, -1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(tables.probability(raw), booster.predict(X), rtol=0, atol=1e-12)


def test_the_trained_model_scores_and_explains_exactly_as_lightgbm(trained):
    _, tables_, examples, result = trained
    booster = _as_served(result.bundle.booster)
    tables = TreeTables.from_booster(booster)
    assert tables is not None
    X = result.bundle.transform.transform_frame(examples.leads, tables_.activities, examples.as_of)
    _agrees_with_lightgbm(tables, booster, X[:3000])
    _agrees_with_lightgbm(tables, booster, tables.probe_rows(3000))


@pytest.mark.parametrize("params", [
    {"use_missing": False},                     # NaN read as zero
    {"zero_as_missing": True},                  # zero read as missing
    {"min_data_per_group": 5, "cat_smooth": 1},  # categorical splits
])
def test_every_kind_of_split_follows_lightgbm(params):
    rng = np.random.default_rng(3)
    n = 4000
    X = np.column_stack([rng.integers(0, 12, n).astype(float), rng.normal(size=n), rng.poisson(1.0, n).astype(float),
                         rng.normal(size=n)])
    X[rng.random(n) < 0.15, 1] = np.nan
    X[rng.random(n) < 0.10, 0] = np.nan
    logit = (np.isin(X[:, 0], [2, 5, 7]) * 1.5 + np.nan_to_num(X[:, 1]) + 0.6 * X[:, 2] - (X[:, 2] == 0) * 1.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    data = lgb.Dataset(X, y, categorical_feature=[0], params={"verbose": -1, **params})
    booster = lgb.train({"objective": "binary", "num_leaves": 6, "learning_rate": 0.2, "verbose": -1,
                         "min_data_in_leaf": 20, **params}, data, num_boost_round=40)
    booster = _as_served(booster)
    tables = TreeTables.from_booster(booster)
    assert tables is not None
    kinds = set(tables.arrays[2].tolist())
    if "min_data_per_group" in params:
        assert 1 in kinds  # the model did use a categorical split
    test = np.vstack([X[:1000], tables.probe_rows(2000), [[np.nan, 0.0, 0.0, -0.0], [-3, 1e-40, 1, 0]]])
    _agrees_with_lightgbm(tables, booster, test)
    assert tables.verify(booster, test) is None


def _mixed_data(seed: int, n: int, missing: float):
    """Four inputs: a category code, two numbers with NaN, a count with many zeros."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.integers(0, 12, n).astype(float), rng.normal(size=n), rng.poisson(1.0, n).astype(float),
                         rng.normal(size=n)])
    X[rng.random(n) < missing, 1] = np.nan
    X[rng.random(n) < missing / 2, 0] = np.nan
    X[rng.random(n) < missing / 2, 3] = np.nan
    logit = (np.isin(X[:, 0], [2, 5, 7]) * 1.5 + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 3])
             + 0.6 * X[:, 2] - (X[:, 2] == 0) * 1.0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.mark.parametrize("max_depth", [-1, 4, 8])
@pytest.mark.parametrize("num_leaves", [2, 4, 7, 15, 31, 63])
def test_every_tree_shape_is_tabulated_and_exact(num_leaves, max_depth):
    # the default (15 leaves), the tuned ones (4 to 31) and 63, deep or depth-limited
    X, y = _mixed_data(num_leaves, 3000, 0.15)
    params = {"objective": "binary", "num_leaves": num_leaves, "max_depth": max_depth, "learning_rate": 0.2,
              "min_data_in_leaf": 5, "min_data_per_group": 5, "cat_smooth": 1, "verbose": -1}
    booster = _as_served(lgb.train(params, lgb.Dataset(X, y, categorical_feature=[0], params=params),
                                   num_boost_round=15))
    made = tabulate(booster)
    assert made.tables is not None, made.why_not
    assert made.path == "tables"
    test = np.vstack([X[:500], made.tables.probe_rows(1000)])
    _agrees_with_lightgbm(made.tables, booster, test)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), num_leaves=st.integers(2, 63), max_depth=st.sampled_from([-1, 3, 6, 12]),
       missing=st.sampled_from([0.0, 0.1, 0.5]), zero_as_missing=st.booleans(), rounds=st.integers(1, 8),
       table_features=st.sampled_from([0, 2, treeshap.TABLE_FEATURES]))
def test_tables_equal_pred_contrib_for_any_shape(seed, num_leaves, max_depth, missing, zero_as_missing, rounds,
                                                 table_features):
    # table_features: leaves with longer paths compute their numbers per lead (0: all of them)
    X, y = _mixed_data(seed, 600, missing)
    params = {"objective": "binary", "num_leaves": num_leaves, "max_depth": max_depth, "min_data_in_leaf": 3,
              "min_data_per_group": 3, "cat_smooth": 1, "zero_as_missing": zero_as_missing, "verbose": -1}
    booster = _as_served(lgb.train(params, lgb.Dataset(X, y, categorical_feature=[0], params=params),
                                   num_boost_round=rounds))
    with mock.patch.object(treeshap, "TABLE_FEATURES", table_features):
        made = tabulate(booster)
    assert made.tables is not None, made.why_not
    _agrees_with_lightgbm(made.tables, booster, np.vstack([X[:200], made.tables.probe_rows(300, seed=seed)]))


def test_paths_on_many_inputs_are_exact_too():
    # 63 leaves on 20 inputs: some leaves' paths split on more inputs than TABLE_FEATURES, and
    # their numbers are computed per lead with the same formula
    rng = np.random.default_rng(5)
    X = rng.normal(size=(4000, 20))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = (np.nansum(X[:, :10] * X[:, 10:], axis=1) + rng.normal(size=4000) > 0).astype(int)
    booster = _as_served(lgb.train({"objective": "binary", "num_leaves": 63, "min_data_in_leaf": 3,
                                    "verbose": -1}, lgb.Dataset(X, y), num_boost_round=10))
    made = tabulate(booster)
    assert made.tables is not None, made.why_not
    assert made.tables.longest_path > treeshap.TABLE_FEATURES
    _agrees_with_lightgbm(made.tables, booster, np.vstack([X[:500], made.tables.probe_rows(500)]))


def test_models_the_tables_do_not_fit_keep_lightgbm_and_say_why(caplog, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 5))
    y = (X[:, 0] * X[:, 1] + rng.normal(size=3000) > 0).astype(int)
    many = lgb.train({"objective": "binary", "num_leaves": 80, "min_data_in_leaf": 5, "verbose": -1},
                     lgb.Dataset(X, y), num_boost_round=3)
    with caplog.at_level(logging.WARNING, logger="leadscore"):
        made = tabulate(many)
    assert made.tables is None and compile_booster(many) is None
    assert "split nodes, more than the 63" in made.why_not
    assert made.path.startswith("LightGBM pred_contrib (the trees were not tabulated: tree 0 has 79 split nodes")
    assert "scoring with LightGBM's pred_contrib" in caplog.text and "79 split nodes" in caplog.text

    deep = _as_served(lgb.train({"objective": "binary", "num_leaves": 31, "min_data_in_leaf": 5, "verbose": -1},
                                lgb.Dataset(X, y), num_boost_round=3))
    monkeypatch.setattr(treeshap, "TABLE_MIB", 0)  # no room for tables: every leaf computed per lead, still exact
    made = tabulate(deep)
    assert made.tables is not None, made.why_not
    _agrees_with_lightgbm(made.tables, deep, np.vstack([X[:300], made.tables.probe_rows(300)]))

    regression = lgb.train({"objective": "regression", "num_leaves": 4, "verbose": -1},
                           lgb.Dataset(X, X[:, 0]), num_boost_round=5)
    assert TreeTables.from_booster(regression) is None  # only a probability of buying is tabulated
    assert "objective is 'regression'" in tabulate(regression).why_not


def test_many_threads_give_the_same_numbers_as_one(trained):
    _, _, _, result = trained
    tables = TreeTables.from_booster(_as_served(result.bundle.booster))
    X = tables.probe_rows(5000, seed=4)
    groups = np.arange(tables.n_features) % 5
    raw1, g1 = tables.raw_and_groups(X, groups, 5, threads=1)
    raw2, g2 = tables.raw_and_groups(X, groups, 5, threads=2)
    np.testing.assert_array_equal(raw1, raw2)
    np.testing.assert_array_equal(g1, g2)


def test_answers_are_the_same_with_tables_or_with_lightgbm(bundle_dir):
    fast = LeadScorer.from_bundle_dir(bundle_dir)
    slow = LeadScorer.from_bundle_dir(bundle_dir)
    assert fast.tables is not None
    slow.tables = None  # LightGBM's predict and pred_contrib
    rng = np.random.default_rng(8)
    types = ["pricing_view", "email_open", "webinar", "demo_request", "web_visit", "unsubscribe"]
    leads = [{"lead_id": f"L{i}", "industry": rng.choice(["Software", "Retail", "Space Mining", None]),
              "seniority": rng.choice(["Director", "Intern", "VP"]), "employee_count": int(rng.integers(1, 5000)),
              "product_interest": rng.choice(["Analytics Suite", "Home Edition"]),
              "activities": [{"occurred_at": f"2026-10-{int(d):02d}T10:00:00Z", "activity_type": str(rng.choice(types))}
                             for d in rng.integers(1, 31, rng.integers(0, 12))]}
             for i in range(300)]
    a = fast.score_leads(leads, as_of=AS_OF)
    b = slow.score_leads(leads, as_of=AS_OF)
    assert [x["reasons_for"] for x in a] == [x["reasons_for"] for x in b]
    assert [x["reasons_against"] for x in a] == [x["reasons_against"] for x in b]
    np.testing.assert_allclose([x["probability"] for x in a], [x["probability"] for x in b], atol=1e-6)
    assert [x["stage"] for x in a] == [x["stage"] for x in b]


def test_thresholds_beyond_1e300_are_read_from_the_model_text():
    # The model dump shows such a threshold as 1e300; leads above it must still go right.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(3000, 3))
    X[rng.random(3000) < 0.2, 1] = 1e305
    y = (X[:, 1] > 1e200).astype(int) ^ (rng.random(3000) < 0.1)
    booster = _as_served(lgb.train({"objective": "binary", "num_leaves": 2, "verbose": -1, "min_data_in_leaf": 5},
                                   lgb.Dataset(X, y), 1))
    tables = TreeTables.from_booster(booster)
    rows = np.array([[0, v, 0] for v in [1e305, 1e301, 1e300, np.inf, -np.inf, 0.0, np.nan]])
    _agrees_with_lightgbm(tables, booster, rows)


def test_linear_trees_keep_lightgbm_and_still_load():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 3))
    y = (X[:, 0] + rng.normal(size=2000) > 0).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 4, "linear_tree": True, "verbose": -1},
                        lgb.Dataset(X, y), num_boost_round=5)
    assert TreeTables.from_booster(_as_served(booster)) is None
    assert compile_booster(_as_served(booster)) is None


def test_a_model_that_keeps_pred_contrib_says_so_on_its_card(bundle_dir, monkeypatch, caplog):
    monkeypatch.setattr(treeshap, "MAX_SPLITS", 1)
    with caplog.at_level(logging.WARNING, logger="leadscore"):
        scorer = LeadScorer.from_bundle_dir(bundle_dir)
    assert scorer.tables is None
    why = scorer.model_card()["contributions"]
    assert why.startswith("LightGBM pred_contrib (the trees were not tabulated: tree ")
    assert "split nodes, more than the 1 a table pattern holds" in why
    assert "scoring with LightGBM's pred_contrib" in caplog.text
    assert scorer.score_leads([{"lead_id": "L1", "industry": "Software"}], as_of=AS_OF)[0]["reasons_for"] \
        == LeadScorer.from_bundle_dir(bundle_dir).score_leads([{"lead_id": "L1", "industry": "Software"}],
                                                              as_of=AS_OF)[0]["reasons_for"]
