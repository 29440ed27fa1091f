"""The booster's score and its exact per-feature contributions, in one pass over the trees.

LightGBM's `pred_contrib` runs the TreeSHAP algorithm for every lead: on the demo model, one
thread, about 12,000 leads/s against 80,000 for the score alone (benchmarks/serving.py), so
reasons would cost seven times the score. For the small trees a lead scorer uses, the same
numbers can be looked up instead: score and contributions together, about 150,000 leads/s.

In a tree with `m` split nodes, a lead's (path-dependent) SHAP values depend on nothing but which
way it goes at each of those nodes: `2**m` patterns. For each tree we enumerate the patterns once
and store, per pattern, the leaf value and the exact Shapley value of each feature the tree uses
(the definition, summed over all subsets of those features, with LightGBM's own node counts as
the cover). Scoring a lead is then, per tree: `m` comparisons, one leaf value and a few
additions. The tables are checked against `pred_contrib` and the booster's raw score when they
are built (see `verify`); a model whose trees are too large for tables, or that fails the check,
keeps LightGBM's own `pred_contrib`, so answers never depend on this module being right.

The splits follow LightGBM's prediction rules (include/LightGBM/tree.h, 4.x): numerical splits go
left when `value <= threshold`, with NaN and zero handled by the node's missing type and default
direction; categorical splits go left when the integer code is in the node's set, right for NaN
or a negative code.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

import numba

MAX_SPLITS = 8  # per tree: 2**8 patterns; larger trees keep LightGBM's pred_contrib
ZERO = float(np.float32(1e-35))  # LightGBM's kZeroThreshold (a float: 1.0000000180025095e-35)
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2
_MISSING = {"None": MISSING_NONE, "Zero": MISSING_ZERO, "NaN": MISSING_NAN}
PARALLEL_ROWS = 1_000  # from this many leads on, the work is split over the cores
_THREADS = max(1, min(os.cpu_count() or 1, 8))
_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(_THREADS, thread_name_prefix="leadscore-trees")
    return _POOL
BLOCK = 256  # leads scored together, tree by tree


def _jit(fn):
    return numba.njit(cache=True, nogil=True)(fn)


# ================================================================================ kernels
@_jit
def _go_right(value, kind, missing, default_left, threshold, cat_start, cat_len, cat_left):
    if kind == 1:  # categorical
        if value != value:
            return True
        code = int(value)
        if code < 0 or code >= cat_len:
            return True
        return not cat_left[cat_start + code]
    if value != value and missing != MISSING_NAN:
        value = 0.0
    if (missing == MISSING_ZERO and -ZERO <= value <= ZERO) or (missing == MISSING_NAN and value != value):
        return not default_left
    return not value <= threshold


@_jit
def _score(XT, out_raw, out_groups_t, group_of, node_start, feature, kind, missing, default_left, threshold,
           cat_start, cat_len, cat_left, leaf_start, leaf_value, used_start, used_feature, table_start, table):
    """Leads in blocks, and within a block tree by tree. XT is the model matrix transposed
    (one row per input), out_groups_t one row per group; with no group rows, only the raw
    score is computed. Each lead's raw score is summed in tree order, as LightGBM sums it, so
    the two agree to the last bit."""
    n_trees = len(node_start) - 1
    pattern = np.zeros(BLOCK, np.int64)
    with_groups = out_groups_t.shape[0] > 0
    for start in range(0, XT.shape[1], BLOCK):
        m = min(BLOCK, XT.shape[1] - start)
        for r in range(m):
            out_raw[start + r] = 0.0
        for t in range(n_trees):
            first = node_start[t]
            for r in range(m):
                pattern[r] = 0
            for i in range(first, node_start[t + 1]):
                f, threshold_i, shift = feature[i], threshold[i], i - first
                if kind[i] == 0 and missing[i] == MISSING_NAN:  # the common split, branch-free
                    nan_right = np.int64(0 if default_left[i] else 1)
                    for r in range(m):
                        value = XT[f, start + r]
                        pattern[r] |= (np.int64(value > threshold_i) | (np.int64(value != value) & nan_right)) << shift
                else:
                    for r in range(m):
                        if _go_right(XT[f, start + r], kind[i], missing[i], default_left[i], threshold_i,
                                     cat_start[i], cat_len[i], cat_left):
                            pattern[r] |= 1 << shift
            leaves = leaf_start[t]
            for r in range(m):
                out_raw[start + r] += leaf_value[leaves + pattern[r]]
            if with_groups:
                first_used, base = used_start[t], table_start[t]
                k = used_start[t + 1] - first_used
                for j in range(k):
                    g = group_of[used_feature[first_used + j]]
                    for r in range(m):
                        out_groups_t[g, start + r] += table[base + pattern[r] * k + j]


@_jit
def _tree_tables(n_splits, local_feature, left, right, internal_cover, leaf_val, leaf_cover, k, leaf_out, phi_out):
    """All patterns of one tree: the leaf value reached, and each used feature's Shapley value.

    Children are >= 0 for split nodes (preorder, so a child's index is above its parent's) and
    ~leaf for leaves. v(S) is the path-dependent expectation: follow the lead at splits on
    features in S, average the branches by their training counts elsewhere."""
    n_subsets = 1 << k
    weight = np.zeros(k)
    for s in range(k):  # s! (k - s - 1)! / k!
        weight[s] = math.exp(math.lgamma(s + 1) + math.lgamma(k - s) - math.lgamma(k + 1))
    expect = np.zeros(max(n_splits, 1))
    v = np.zeros(n_subsets)
    for pattern in range(1 << n_splits):
        node = 0
        if n_splits == 0:
            leaf_out[pattern] = leaf_val[0]
        else:
            while True:
                child = right[node] if (pattern >> node) & 1 else left[node]
                if child < 0:
                    leaf_out[pattern] = leaf_val[~child]
                    break
                node = child
        for subset in range(n_subsets):
            if n_splits == 0:
                v[subset] = leaf_val[0]
                continue
            for i in range(n_splits - 1, -1, -1):
                lc, rc = left[i], right[i]
                lv = leaf_val[~lc] if lc < 0 else expect[lc]
                rv = leaf_val[~rc] if rc < 0 else expect[rc]
                if (subset >> local_feature[i]) & 1:
                    expect[i] = rv if (pattern >> i) & 1 else lv
                else:
                    # each branch weighted by its share of the node's count, as LightGBM's
                    # TreeSHAP weighs it (the shares need not add up to one after a refit)
                    lw = leaf_cover[~lc] if lc < 0 else internal_cover[lc]
                    rw = leaf_cover[~rc] if rc < 0 else internal_cover[rc]
                    total = internal_cover[i]
                    expect[i] = (lw * lv + rw * rv) / total if total > 0 else 0.5 * (lv + rv)
            v[subset] = expect[0]
        for j in range(k):
            bit = 1 << j
            total = 0.0
            for subset in range(n_subsets):
                if subset & bit:
                    continue
                size = 0
                rest = subset
                while rest:
                    size += rest & 1
                    rest >>= 1
                total += weight[size] * (v[subset | bit] - v[subset])
            phi_out[pattern * k + j] = total
    return v[0]


# ================================================================================ the tables
@dataclass
class TreeTables:
    n_features: int
    sigmoid: float
    expected_value: float  # the sum of the trees' expectations: pred_contrib's last column
    arrays: tuple[np.ndarray, ...]

    @classmethod
    def from_booster(cls, booster: Any, max_splits: int = MAX_SPLITS) -> "TreeTables | None":
        """Tables for a binary LightGBM booster, or None when they do not apply (another
        objective, linear trees, or trees with more than `max_splits` splits)."""
        model = booster.dump_model()
        text = booster.model_to_string()
        if "is_linear=1" in text:  # leaves are linear models: no tables
            return None
        exact = _text_thresholds(text)  # the dump shows thresholds beyond 1e300 as 1e300
        objective = str(model.get("objective", ""))
        if not objective.startswith("binary") or model.get("num_tree_per_iteration", 1) != 1 \
                or model.get("average_output"):
            return None
        sigmoid = 1.0
        for part in objective.split()[1:]:
            if part.startswith("sigmoid:"):
                sigmoid = float(part.split(":", 1)[1])
        nodes: dict[str, list] = {k: [] for k in ("feature", "kind", "missing", "default_left", "threshold",
                                                   "cat_start", "cat_len")}
        cat_left: list[bool] = []
        node_start, leaf_start, used_start, table_start = [0], [0], [0], [0]
        leaf_values: list[np.ndarray] = []
        used: list[int] = []
        tables: list[np.ndarray] = []
        expected = 0.0
        if len(exact) != len(model["tree_info"]):
            return None
        for tree, tree_thresholds in zip(model["tree_info"], exact):
            if tree.get("is_linear"):
                return None
            flat = _flatten(tree["tree_structure"])
            if flat is None or flat["n_splits"] > max_splits:
                return None
            m = flat["n_splits"]
            features = sorted(set(flat["split_feature"]))
            local = np.array([features.index(f) for f in flat["split_feature"]], dtype=np.int64)
            k = len(features)
            leaf_out = np.zeros(1 << m)
            phi = np.zeros((1 << m) * k)
            expected += _tree_tables(m, local, flat["left"], flat["right"], flat["internal_cover"],
                                     flat["leaf_value"], flat["leaf_cover"], k, leaf_out, phi)
            for node in flat["splits"]:
                nodes["feature"].append(node["split_feature"])
                missing = _MISSING.get(str(node.get("missing_type", "None")), MISSING_NONE)
                nodes["missing"].append(missing)
                nodes["default_left"].append(bool(node.get("default_left", True)))
                if node["decision_type"] == "==":
                    codes = [int(c) for c in str(node["threshold"]).split("||") if c != ""]
                    size = max(codes) + 1 if codes else 0
                    nodes["kind"].append(1)
                    nodes["threshold"].append(0.0)
                    nodes["cat_start"].append(len(cat_left))
                    nodes["cat_len"].append(size)
                    member = [False] * size
                    for c in codes:
                        member[c] = True
                    cat_left.extend(member)
                elif node["decision_type"] == "<=":
                    nodes["kind"].append(0)
                    nodes["threshold"].append(tree_thresholds[int(node["split_index"])])
                    nodes["cat_start"].append(0)
                    nodes["cat_len"].append(0)
                else:
                    return None
            node_start.append(node_start[-1] + m)
            leaf_values.append(leaf_out)
            leaf_start.append(leaf_start[-1] + len(leaf_out))
            used.extend(features)
            used_start.append(len(used))
            tables.append(phi)
            table_start.append(table_start[-1] + len(phi))
        arrays = (
            np.array(node_start, dtype=np.int64),
            np.array(nodes["feature"], dtype=np.int64),
            np.array(nodes["kind"], dtype=np.int8),
            np.array(nodes["missing"], dtype=np.int8),
            np.array(nodes["default_left"], dtype=np.bool_),
            np.array(nodes["threshold"], dtype=np.float64),
            np.array(nodes["cat_start"], dtype=np.int64),
            np.array(nodes["cat_len"], dtype=np.int64),
            np.array(cat_left or [False], dtype=np.bool_),
            np.array(leaf_start, dtype=np.int64),
            np.concatenate(leaf_values) if leaf_values else np.zeros(1),
            np.array(used_start, dtype=np.int64),
            np.array(used or [0], dtype=np.int64),
            np.array(table_start, dtype=np.int64),
            np.concatenate(tables) if tables else np.zeros(1),
        )
        return cls(n_features=int(model["max_feature_idx"]) + 1, sigmoid=sigmoid,
                   expected_value=float(expected), arrays=arrays)

    # ------------------------------------------------------------------------------ scoring
    def raw_and_groups(self, X: np.ndarray, group_of: np.ndarray | None, n_groups: int = 0,
                       threads: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """The raw score (log-odds) of each row and, unless `group_of` is None, its
        contributions summed into `n_groups` groups (`group_of[f]`: the group of input f).

        Many rows are split over threads (the loops release the GIL)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.shape[1] != self.n_features:
            raise ValueError(f"the model takes {self.n_features} inputs, the rows have {X.shape[1]}")
        n = len(X)
        width = n_groups if group_of is not None else 0
        group_of = np.ascontiguousarray(group_of if group_of is not None else np.zeros(0), dtype=np.int64)

        def run(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            raw, groups_t = np.empty(len(rows)), np.zeros((width, len(rows)))
            # As LightGBM reads a row: values within +-kZeroThreshold are zero.
            XT = np.array(rows.T, order="C")
            XT[np.abs(XT) <= ZERO] = 0.0
            _score(XT, raw, groups_t, group_of, *self.arrays)
            return raw, groups_t

        threads = threads or (_THREADS if n >= PARALLEL_ROWS else 1)
        if threads <= 1:
            raw, groups_t = run(X)
        else:
            cuts = np.linspace(0, n, threads + 1).astype(int)
            parts = list(_pool().map(run, [X[cuts[i]:cuts[i + 1]] for i in range(threads)]))
            raw = np.concatenate([p[0] for p in parts])
            groups_t = np.concatenate([p[1] for p in parts], axis=1)
        return raw, (groups_t.T if width else None)

    def probability(self, raw: np.ndarray) -> np.ndarray:
        """The booster's probability (before calibration) from its raw score."""
        return 1.0 / (1.0 + np.exp(-self.sigmoid * raw))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """The same matrix as LightGBM's pred_contrib: one column per input, then the bias."""
        raw, phi = self.raw_and_groups(X, np.arange(self.n_features), self.n_features)
        return np.column_stack([phi, np.full(len(phi), self.expected_value)])

    # ------------------------------------------------------------------------------ checking
    def verify(self, booster: Any, X: np.ndarray, tolerance: float = 1e-9) -> str | None:
        """Compare with LightGBM on rows X: None when the raw scores and every contribution
        agree within `tolerance`, else what differs."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        raw, phi = self.raw_and_groups(X, np.arange(self.n_features), self.n_features, threads=1)
        theirs_raw = booster.predict(X, raw_score=True, num_threads=1)
        theirs = booster.predict(X, pred_contrib=True, num_threads=1)
        worst_raw = float(np.max(np.abs(raw - theirs_raw))) if len(X) else 0.0
        worst_phi = float(np.max(np.abs(phi - theirs[:, :-1]))) if len(X) else 0.0
        bias = abs(self.expected_value - float(theirs[0, -1])) if len(X) else 0.0
        if max(worst_raw, worst_phi, bias) > tolerance:
            return (f"tables differ from LightGBM: raw score by {worst_raw:.3g}, contributions by "
                    f"{worst_phi:.3g}, bias by {bias:.3g}")
        return None

    def probe_rows(self, n: int = 2_000, seed: int = 0) -> np.ndarray:
        """Rows that exercise every split: each input takes values at, just above and just below
        the thresholds the trees use on it, category codes in and out of the sets, zero, a
        negative number and NaN."""
        (_, feature, kind, _, _, threshold, cat_start, cat_len, *_rest) = self.arrays
        extremes = {0.0, -1.0, math.nan, 1e308, -1e308, math.inf, -math.inf, ZERO, -ZERO}
        candidates: list[set[float]] = [set(extremes) for _ in range(self.n_features)]
        for f, kd, thr, length in zip(feature, kind, threshold, cat_len):
            if kd == 1:
                candidates[f].update(float(c) for c in range(int(length) + 1))
            else:
                candidates[f].update((thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf), thr + 1.0))
        rng = np.random.default_rng(seed)
        X = np.empty((n, self.n_features))
        for f, values in enumerate(candidates):
            X[:, f] = rng.choice(np.array(sorted(values, key=lambda v: (math.isnan(v), v))), size=n)
        return X


def _flatten(root: dict) -> dict | None:
    """One dumped tree as arrays: split nodes in preorder, children >= 0 for splits, ~leaf for
    leaves."""
    splits: list[dict] = []
    leaves: list[dict] = []

    def visit(node: dict) -> int:
        if "split_index" not in node:
            leaves.append(node)
            return ~(len(leaves) - 1)
        index = len(splits)
        splits.append(node)
        node["_left"] = visit(node["left_child"])
        node["_right"] = visit(node["right_child"])
        return index

    visit(root)
    m = len(splits)
    return {
        "n_splits": m,
        "splits": splits,
        "split_feature": [int(s["split_feature"]) for s in splits],
        "left": np.array([s.pop("_left") for s in splits] or [0], dtype=np.int64),
        "right": np.array([s.pop("_right") for s in splits] or [0], dtype=np.int64),
        "internal_cover": np.array([float(s.get("internal_count", 0)) for s in splits] or [0.0]),
        "leaf_value": np.array([float(leaf.get("leaf_value", 0.0)) for leaf in leaves]),
        "leaf_cover": np.array([float(leaf.get("leaf_count", 0)) for leaf in leaves]),
    }


def compile_booster(booster: Any) -> TreeTables | None:
    """Tables for `booster` that agree with LightGBM on rows exercising every split, or None
    (the caller then uses LightGBM's own predict and pred_contrib)."""
    import logging

    log = logging.getLogger("leadscore")
    try:
        tables = TreeTables.from_booster(booster)
    except Exception as exc:  # a model dump this module does not understand: LightGBM still scores
        log.warning("scoring with LightGBM's pred_contrib: the trees could not be tabulated (%s)", exc)
        return None
    if tables is None:
        return None
    try:
        problem = tables.verify(booster, tables.probe_rows())
    except Exception as exc:  # LightGBM cannot explain this model itself (e.g. linear trees)
        problem = f"LightGBM's pred_contrib failed on it ({exc})"
    if problem:
        log.warning("scoring with LightGBM's pred_contrib: %s", problem)
        return None
    return tables


def _text_thresholds(text: str) -> list[list[float]]:
    """Per tree, the split thresholds as the model text stores them (full precision), by
    split index."""
    out: list[list[float]] = []
    for line in text.splitlines():
        if line.startswith("Tree="):
            out.append([])
        elif line.startswith("threshold=") and out:
            out[-1] = [float(v) for v in line.split("=", 1)[1].split()]
        elif line.startswith("end of trees"):
            break
    return out
