"""The booster's score and its exact per-feature contributions, in one pass over the trees.

LightGBM's `pred_contrib` runs the TreeSHAP algorithm for every lead: on the demo model, one
thread, about 12,000 leads/s against 80,000 for the score alone (benchmarks/serving.py), so
reasons would cost seven times the score. The same numbers can be looked up instead, from
tables made once when the model loads (the "Fast TreeSHAP v2" idea: Yang, "Fast TreeSHAP",
arXiv:2109.09847, 2021).

A tree's path-dependent SHAP values are a sum over its leaves. Leaf `l` contributes to the
features on its path only, and only through one bit per such feature: whether the lead meets
every condition on that feature along the path (with `d` distinct features on the path, `2**d`
patterns). Per leaf and pattern we store the exact Shapley value of each of those features for
the leaf's game `v(S) = value * prod(bit_j, j in S) * prod(cover share_j, j not in S)` (the
share: the product of the path's child/parent training counts on that feature, LightGBM's
`zero_fraction`; a split on a feature met twice on the path is combined as LightGBM's TreeSHAP
combines it). Scoring a lead is then, per tree: one comparison per split node, the leaf it
reaches for the score, and per leaf `d` bit tests and `d` additions for the contributions.

A tree of at most PATTERN_SPLITS splits also gets one table by its whole pattern (which way
the lead goes at each split: `2**m` cases), summed from its leaves' numbers: one lookup per tree,
as fast as the per-tree tables this module used before (which covered only such trees).
A leaf whose path splits on more than TABLE_FEATURES inputs keeps no table, nor do the leaves
with the longest paths once the tables would pass TABLE_MIB: the same formula (`_leaf_phi`,
O(d**2)) runs for each lead instead, so memory stays bounded for deep trees and many of them.
So every tree shape is covered (the default `num_leaves: 15`, the tuned ones, 63 leaves) as long
as a tree has at most MAX_SPLITS split nodes (the bits of one integer). The tables are checked
against `pred_contrib` and the booster's raw score when they are built (`verify`); a model
whose trees do not fit, or that fails the check, keeps LightGBM's own `pred_contrib` and
`tabulate` says why, so answers never depend on this module being right.

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

MAX_SPLITS = 63  # per tree: one bit per split node in an int64 pattern
TABLE_MIB = 64  # the leaves' tables together; past it, leaves with the longest paths are computed per lead
VERIFY_WORK = 400_000_000  # see verify_rows
PATTERN_SPLITS = 8  # a tree with at most this many splits also gets one table by its whole pattern
TABLE_FEATURES = 10  # a leaf whose path splits on more inputs has its numbers computed per lead
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


class NotTabulated(Exception):
    """Why a booster keeps LightGBM's pred_contrib (the message says it in words)."""


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
           cat_start, cat_len, cat_left, left, right, leaf_start, leaf_value, path_start, path_feature, path_mask,
           path_want, share, table_start, table, weight, pattern_start, pattern_leaf, used_start, used_feature,
           tree_table_start, tree_table):
    """Leads in blocks, and within a block tree by tree. XT is the model matrix transposed
    (one row per input), out_groups_t one row per group; with no group rows, only the raw
    score is computed. Each lead's raw score is summed in tree order, as LightGBM sums it, so
    the two agree to the last bit."""
    n_trees = len(node_start) - 1
    pattern = np.zeros(BLOCK, np.int64)  # bit i: the lead goes right at the tree's split i
    index = np.zeros(BLOCK, np.int64)  # per leaf: which of its path's features the lead meets
    e, q, phi = np.zeros(weight.shape[0] + 1), np.zeros(weight.shape[0] + 1), np.zeros(weight.shape[0] + 1)
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
                            pattern[r] |= np.int64(1) << shift
            leaves = leaf_start[t]
            if pattern_start[t + 1] > pattern_start[t]:  # a small tree: everything by its pattern
                at = pattern_start[t]
                for r in range(m):
                    out_raw[start + r] += leaf_value[leaves + pattern_leaf[at + pattern[r]]]
                if with_groups:
                    first_used, base = used_start[t], tree_table_start[t]
                    k = used_start[t + 1] - first_used
                    for j in range(k):
                        g = group_of[used_feature[first_used + j]]
                        for r in range(m):
                            out_groups_t[g, start + r] += tree_table[base + pattern[r] * k + j]
                continue
            if node_start[t + 1] == first:  # a tree of one leaf
                for r in range(m):
                    out_raw[start + r] += leaf_value[leaves]
            else:
                for r in range(m):
                    node, bits = 0, pattern[r]
                    while True:
                        child = right[first + node] if (bits >> node) & 1 else left[first + node]
                        if child < 0:
                            out_raw[start + r] += leaf_value[leaves + ~child]
                            break
                        node = child
            if not with_groups:
                continue
            for leaf in range(leaves, leaf_start[t + 1]):
                first_path = path_start[leaf]
                d = path_start[leaf + 1] - first_path
                if d == 0:
                    continue
                for r in range(m):
                    index[r] = 0
                for j in range(d):
                    mask, want = path_mask[first_path + j], path_want[first_path + j]
                    for r in range(m):
                        index[r] |= np.int64((pattern[r] & mask) == want) << j
                base = table_start[leaf]
                if table_start[leaf + 1] > base:  # looked up
                    for j in range(d):
                        g = group_of[path_feature[first_path + j]]
                        for r in range(m):
                            out_groups_t[g, start + r] += table[base + index[r] * d + j]
                else:  # a long path: the same numbers computed for each lead
                    value = leaf_value[leaf]
                    for r in range(m):
                        _leaf_phi(share, first_path, d, weight, value, index[r], e, q, phi, 0)
                        for j in range(d):
                            out_groups_t[group_of[path_feature[first_path + j]], start + r] += phi[j]


@_jit
def _leaf_phi(share, first, d, weight, value, pattern, e, q, out, at):
    """One leaf's contributions for one pattern of its path's features (bit j: the lead meets
    the conditions on feature j): out[at + j], the exact Shapley value of feature j in the
    leaf's game v(S) = value * prod(bit_j, j in S) * prod(share_j, j not in S).

    Only subsets of the met features B count, so for j in B
    phi_j = value * (1 - share_j) * prod(share, not in B) * sum_t e_t(share over B - j) w(|B|-1-t)
    and for j not in B
    phi_j = -value * share_j * prod(share, not in B or j) * sum_t e_t(share over B) w(|B|-t),
    with e_t the elementary symmetric polynomials and w(s) = s! (d-s-1)! / d! (weight[d, s]).
    The polynomial without j is the one with j divided by (1 + share_j x), as TreeSHAP's
    "unwind" does. O(d**2)."""
    e[0] = 1.0
    n = 0
    unmet = 1.0
    for j in range(d):
        if (pattern >> j) & 1:
            n += 1
            e[n] = 0.0
            for t in range(n, 0, -1):
                e[t] += share[first + j] * e[t - 1]
        else:
            unmet *= share[first + j]
    with_all = 0.0
    for t in range(n + 1):
        with_all += e[t] * weight[d, n - t]
    for j in range(d):
        r = share[first + j]
        if (pattern >> j) & 1:
            if r <= 1.0:
                q[0] = 1.0
                for t in range(1, n):
                    q[t] = e[t] - r * q[t - 1]
            else:  # divided from the top, where it is stable
                q[n - 1] = e[n] / r
                for t in range(n - 1, 0, -1):
                    q[t - 1] = (e[t] - q[t]) / r
            total = 0.0
            for t in range(n):
                total += q[t] * weight[d, n - 1 - t]
            out[at + j] = value * (1.0 - r) * unmet * total
        else:
            others = 1.0
            for k in range(d):
                if k != j and not (pattern >> k) & 1:
                    others *= share[first + k]
            out[at + j] = -value * r * others * with_all


@_jit
def _leaf_tables(path_start, share, leaf_value, table_start, table, weight):
    """`_leaf_phi` for every pattern of every leaf with a table (table_start[leaf + 1] >
    table_start[leaf]), stored at table_start[leaf] + pattern * d."""
    e = np.zeros(weight.shape[0] + 1)
    q = np.zeros(weight.shape[0] + 1)
    for leaf in range(len(path_start) - 1):
        first = path_start[leaf]
        d = path_start[leaf + 1] - first
        if d == 0 or table_start[leaf + 1] == table_start[leaf]:
            continue
        for pattern in range(1 << d):
            _leaf_phi(share, first, d, weight, leaf_value[leaf], pattern, e, q, table, table_start[leaf] + pattern * d)


@_jit
def _tree_patterns(node_start, leaf_start, leaf_value, path_start, path_feature, path_mask, path_want, share,
                   table_start, table, weight, pattern_start, pattern_leaf, used_start, used_feature,
                   tree_table_start, tree_table):
    """For each tree with pattern tables (pattern_start[t + 1] > pattern_start[t]): per
    pattern of its splits (bit i: right at split i), the leaf reached and each used input's
    contribution, summed from its leaves' numbers (`_leaf_phi`, looked up or computed): a
    cache of the same numbers, for trees small enough that one lookup per tree is cheaper."""
    e = np.zeros(weight.shape[0] + 1)
    q = np.zeros(weight.shape[0] + 1)
    phi = np.zeros(weight.shape[0] + 1)
    for t in range(len(node_start) - 1):
        at = pattern_start[t]
        if pattern_start[t + 1] == at:
            continue
        first_used, base = used_start[t], tree_table_start[t]
        k = used_start[t + 1] - first_used
        for pattern in range(pattern_start[t + 1] - at):
            for leaf in range(leaf_start[t], leaf_start[t + 1]):
                first = path_start[leaf]
                d = path_start[leaf + 1] - first
                index = 0
                for j in range(d):
                    if (pattern & path_mask[first + j]) == path_want[first + j]:
                        index |= 1 << j
                if index == (1 << d) - 1:
                    pattern_leaf[at + pattern] = leaf - leaf_start[t]
                if d == 0:
                    continue
                if table_start[leaf + 1] > table_start[leaf]:
                    for j in range(d):
                        phi[j] = table[table_start[leaf] + index * d + j]
                else:
                    _leaf_phi(share, first, d, weight, leaf_value[leaf], index, e, q, phi, 0)
                for j in range(d):
                    f = path_feature[first + j]
                    for jj in range(k):
                        if used_feature[first_used + jj] == f:
                            tree_table[base + pattern * k + jj] += phi[j]
                            break


def _shapley_weights(top: int) -> np.ndarray:
    """weight[d, s] = s! (d - s - 1)! / d!: the Shapley weight of a subset of s of the other
    d - 1 players, for d up to `top`."""
    weight = np.zeros((top + 1, top + 1))
    for d in range(1, top + 1):
        for s in range(d):
            weight[d, s] = math.exp(math.lgamma(s + 1) + math.lgamma(d - s) - math.lgamma(d + 1))
    return weight


# ================================================================================ the tables
@dataclass
class TreeTables:
    n_features: int
    sigmoid: float
    expected_value: float  # the sum of the trees' expectations: pred_contrib's last column
    arrays: tuple[np.ndarray, ...]
    longest_path: int = 0  # the most distinct inputs a leaf's path splits on
    treeshap_cost: int = 0  # sum over leaves of their path length squared: TreeSHAP's work per lead

    @classmethod
    def from_booster(cls, booster: Any) -> "TreeTables | None":
        """Tables for a binary LightGBM booster, or None when they do not apply (`build` says
        why)."""
        try:
            return cls.build(booster)
        except NotTabulated:
            return None

    @classmethod
    def build(cls, booster: Any) -> "TreeTables":
        """Tables for a binary LightGBM booster (not yet checked against it: `verify`).

        Raises NotTabulated, saying why, for another objective, linear trees, a tree with more
        than MAX_SPLITS split nodes."""
        model = booster.dump_model()
        text = booster.model_to_string()
        if "is_linear=1" in text:  # leaves are linear models: no tables
            raise NotTabulated("its trees are linear (linear_tree): a leaf is a model, not a value")
        exact = _text_thresholds(text)  # the dump shows thresholds beyond 1e300 as 1e300
        objective = str(model.get("objective", ""))
        if not objective.startswith("binary"):
            raise NotTabulated(f"its objective is {objective.split(' ')[0] or 'unknown'!r}, not binary")
        if model.get("num_tree_per_iteration", 1) != 1 or model.get("average_output"):
            raise NotTabulated("it has several trees per iteration or averages its trees")
        sigmoid = 1.0
        for part in objective.split()[1:]:
            if part.startswith("sigmoid:"):
                sigmoid = float(part.split(":", 1)[1])
        nodes: dict[str, list] = {k: [] for k in ("feature", "kind", "missing", "default_left", "threshold",
                                                   "cat_start", "cat_len", "left", "right")}
        cat_left: list[bool] = []
        node_start, leaf_start = [0], [0]
        leaf_values: list[float] = []
        path_start, path_feature, path_mask, path_want, share = [0], [], [], [], []
        expected = 0.0
        if len(exact) != len(model["tree_info"]):
            raise NotTabulated("its model text and its dump list different numbers of trees")
        leaf_d: list[int] = []
        longest, self_cost = 0, 0
        pattern_start, used_start, used, tree_table_start = [0], [0], [], [0]
        for number, (tree, tree_thresholds) in enumerate(zip(model["tree_info"], exact)):
            if tree.get("is_linear"):
                raise NotTabulated("its trees are linear (linear_tree): a leaf is a model, not a value")
            flat = _flatten(tree["tree_structure"])
            m = flat["n_splits"]
            if m > MAX_SPLITS:
                raise NotTabulated(f"tree {number} has {m} split nodes, more than the {MAX_SPLITS} a table "
                                   f"pattern holds (num_leaves above {MAX_SPLITS + 1})")
            tree_expected = 0.0
            for value, path in zip(flat["leaf_value"], flat["paths"]):
                bits: dict[int, list] = {}  # feature -> [mask, want, share], in path order
                for node, went_right, fraction in path:
                    entry = bits.setdefault(flat["split_feature"][node], [0, 0, 1.0])
                    entry[0] |= 1 << node
                    entry[1] |= int(went_right) << node
                    entry[2] *= fraction
                d = len(bits)
                for f, (mask, want, fraction) in bits.items():
                    path_feature.append(f)
                    path_mask.append(mask)
                    path_want.append(want)
                    share.append(fraction)
                path_start.append(len(path_feature))
                leaf_d.append(d)
                longest = max(longest, d)
                self_cost += len(path) ** 2
                product = value
                for _, _, fraction in bits.values():
                    product *= fraction
                tree_expected += product
                leaf_values.append(float(value))
            expected += tree_expected
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
                    raise NotTabulated(f"tree {number} has a split of a kind tables do not know "
                                       f"({node['decision_type']!r})")
            if m <= PATTERN_SPLITS:
                features = sorted(set(flat["split_feature"]))
                used.extend(features)
                pattern_start.append(pattern_start[-1] + (1 << m))
                tree_table_start.append(tree_table_start[-1] + (len(features) << m))
            else:
                pattern_start.append(pattern_start[-1])
                tree_table_start.append(tree_table_start[-1])
            used_start.append(len(used))
            nodes["left"].extend(flat["left"][:m])
            nodes["right"].extend(flat["right"][:m])
            node_start.append(node_start[-1] + m)
            leaf_start.append(len(leaf_values))
        path_start_a = np.array(path_start, dtype=np.int64)
        share_a = np.array(share or [0.0])
        leaf_value_a = np.array(leaf_values or [0.0])
        # Leaves whose path splits on at most `cut` inputs keep a table: the largest cut (up to
        # TABLE_FEATURES) whose tables fit in TABLE_MIB; the others are computed per lead.
        depths = np.array(leaf_d, dtype=np.int64)
        sizes = depths << depths
        budget = TABLE_MIB * 2**20 // 8
        cut = TABLE_FEATURES
        while cut > 0 and int(sizes[depths <= cut].sum()) > budget:
            cut -= 1
        sizes[depths > cut] = 0
        table_start = [0, *np.cumsum(sizes).tolist()]
        table_start_a = np.array(table_start, dtype=np.int64)
        table = np.zeros(max(table_start[-1], 1))
        weight = _shapley_weights(max(longest, 1))
        _leaf_tables(path_start_a, share_a, leaf_value_a, table_start_a, table, weight)
        leaf_start_a = np.array(leaf_start, dtype=np.int64)
        node_start_a = np.array(node_start, dtype=np.int64)
        path_feature_a = np.array(path_feature or [0], dtype=np.int64)
        path_mask_a = np.array(path_mask or [0], dtype=np.int64)
        path_want_a = np.array(path_want or [0], dtype=np.int64)
        pattern_start_a = np.array(pattern_start, dtype=np.int64)
        pattern_leaf = np.zeros(max(pattern_start[-1], 1), dtype=np.int64)
        used_start_a = np.array(used_start, dtype=np.int64)
        used_a = np.array(used or [0], dtype=np.int64)
        tree_table_start_a = np.array(tree_table_start, dtype=np.int64)
        tree_table = np.zeros(max(tree_table_start[-1], 1))
        _tree_patterns(node_start_a, leaf_start_a, leaf_value_a, path_start_a, path_feature_a, path_mask_a,
                       path_want_a, share_a, table_start_a, table, weight, pattern_start_a, pattern_leaf,
                       used_start_a, used_a, tree_table_start_a, tree_table)
        arrays = (
            node_start_a,
            np.array(nodes["feature"] or [0], dtype=np.int64),
            np.array(nodes["kind"] or [0], dtype=np.int8),
            np.array(nodes["missing"] or [0], dtype=np.int8),
            np.array(nodes["default_left"] or [True], dtype=np.bool_),
            np.array(nodes["threshold"] or [0.0], dtype=np.float64),
            np.array(nodes["cat_start"] or [0], dtype=np.int64),
            np.array(nodes["cat_len"] or [0], dtype=np.int64),
            np.array(cat_left or [False], dtype=np.bool_),
            np.array(nodes["left"] or [0], dtype=np.int64),
            np.array(nodes["right"] or [0], dtype=np.int64),
            leaf_start_a,
            leaf_value_a,
            path_start_a,
            path_feature_a,
            path_mask_a,
            path_want_a,
            share_a,
            table_start_a,
            table,
            weight,
            pattern_start_a,
            pattern_leaf,
            used_start_a,
            used_a,
            tree_table_start_a,
            tree_table,
        )
        return cls(n_features=int(model["max_feature_idx"]) + 1, sigmoid=sigmoid,
                   expected_value=float(expected), arrays=arrays, longest_path=longest, treeshap_cost=self_cost)

    @property
    def nbytes(self) -> int:
        """The memory the tables' arrays take, in bytes."""
        return sum(a.nbytes for a in self.arrays)

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
        theirs_raw = booster.predict(X, raw_score=True, num_threads=_THREADS)
        theirs = booster.predict(X, pred_contrib=True, num_threads=_THREADS)  # every core: it holds up a start
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


def _flatten(root: dict) -> dict:
    """One dumped tree as arrays: split nodes in preorder, children >= 0 for splits, ~leaf for
    leaves; per leaf (in the order of `~leaf`), its path: (split node, whether the path goes
    right there, the child's share of the node's training count)."""
    splits: list[dict] = []
    leaves: list[dict] = []
    paths: list[list[tuple[int, bool, float]]] = []

    def count(node: dict) -> float:
        return float(node.get("internal_count" if "split_index" in node else "leaf_count", 0))

    def visit(node: dict, path: list[tuple[int, bool, float]]) -> int:
        if "split_index" not in node:
            leaves.append(node)
            paths.append(path)
            return ~(len(leaves) - 1)
        index = len(splits)
        splits.append(node)
        total = count(node)
        for key, went_right in (("left_child", False), ("right_child", True)):
            child = node[key]
            # each branch weighted by its share of the node's count, as LightGBM's TreeSHAP weighs
            # it (the shares need not add up to one after a refit); half each for an empty node
            fraction = count(child) / total if total > 0 else 0.5
            node["_right" if went_right else "_left"] = visit(child, [*path, (index, went_right, fraction)])
        return index

    visit(root, [])
    return {
        "n_splits": len(splits),
        "splits": splits,
        "split_feature": [int(s["split_feature"]) for s in splits],
        "left": [s.pop("_left") for s in splits],
        "right": [s.pop("_right") for s in splits],
        "leaf_value": [float(leaf.get("leaf_value", 0.0)) for leaf in leaves],
        "paths": paths,
    }


@dataclass(frozen=True)
class Tabulated:
    """What `tabulate` made of a booster: the checked tables, or None and why not."""

    tables: TreeTables | None
    why_not: str | None  # None when the tables are used
    seconds: float  # to build and check them

    @property
    def path(self) -> str:
        """How contributions are computed, in words (GET /model's `contributions`)."""
        return "tables" if self.tables is not None else f"LightGBM pred_contrib ({self.why_not})"


def tabulate(booster: Any) -> Tabulated:
    """Tables for `booster` that agree with LightGBM on rows exercising every split (`verify`),
    or None and the reason, which is also logged as a warning (the caller then uses LightGBM's
    own predict and pred_contrib)."""
    import logging
    import time

    log = logging.getLogger("leadscore")
    started = time.perf_counter()
    tables, problem = None, None
    try:
        tables = TreeTables.build(booster)
    except NotTabulated as exc:
        problem = f"the trees were not tabulated: {exc}"
    except Exception as exc:  # a model dump this module does not understand: LightGBM still scores
        problem = f"the trees could not be tabulated ({type(exc).__name__}: {exc})"
    if tables is not None:
        try:
            problem = tables.verify(booster, tables.probe_rows(verify_rows(tables)))
        except Exception as exc:  # LightGBM cannot explain this model itself (e.g. linear trees)
            problem = f"LightGBM's pred_contrib failed on it ({exc})"
    seconds = time.perf_counter() - started
    if problem:
        log.warning("scoring with LightGBM's pred_contrib (slower, same numbers): %s", problem)
        return Tabulated(None, problem, seconds)
    log.info("contributions from tables: %.1f MiB, built and checked in %.2f s", tables.nbytes / 2**20, seconds)
    return Tabulated(tables, None, seconds)


def verify_rows(tables: TreeTables) -> int:
    """How many probe rows the check at load compares: 2,000, fewer for models whose
    pred_contrib is slow (at least 250). LightGBM's TreeSHAP costs about 5 ns per unit of
    `treeshap_cost` per row here (2,000 rows of 200 trees of 63 leaves: 13 s), so the check
    takes at most about VERIFY_WORK * 5 ns = 2 s of pred_contrib."""
    return int(min(2_000, max(250, VERIFY_WORK // max(tables.treeshap_cost, 1))))


def compile_booster(booster: Any) -> TreeTables | None:
    """`tabulate(booster).tables`: the checked tables, or None (logged)."""
    return tabulate(booster).tables


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
