"""The validation curve `train --dask` computes on each worker to choose the number of trees
(training/dask_trainer.py `_validation_log_loss`): the summed binary log loss of the worker's
validation rows after every tree. Two ways, on the same random rows and model, one thread:

- per tree: LightGBM predicts each tree alone (`start_iteration=t, num_iteration=1`), the raw
  scores are added up and sklearn's `log_loss` scores them (how it was done until 2026-12-03);
- leaves: one `pred_leaf` pass per chunk of rows, the leaf values added up along the trees and
  the loss taken from the raw score (`np.logaddexp`), as now.

    .venv/bin/python benchmarks/validation_curve.py                      # 100,000 rows, 1,000 trees
    .venv/bin/python benchmarks/validation_curve.py --rows 450000 --trees 2000

The model has 4 leaves a tree (configs/demo.yaml) on 46 inputs (a demo lead's); the table gives
the seconds, the milliseconds a tree, and the largest difference between the two curves.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def per_tree(model_string: str, X: np.ndarray, y: np.ndarray, trees: int) -> np.ndarray:
    import lightgbm as lgb
    from scipy.special import expit
    from sklearn.metrics import log_loss

    booster = lgb.Booster(model_str=model_string)
    raw, out = np.zeros(len(y)), np.zeros(trees)
    for tree in range(trees):
        raw += booster.predict(X, start_iteration=tree, num_iteration=1, raw_score=True, num_threads=1)
        out[tree] = log_loss(y, expit(raw), normalize=False, labels=[0, 1])
    return out


def main() -> None:
    import lightgbm as lgb

    from training.dask_trainer import _validation_log_loss

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--trees", type=int, default=1_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    width = 46
    X_fit = rng.normal(size=(20_000, width))
    y_fit = (rng.random(20_000) < 1 / (1 + np.exp(-X_fit[:, 0] - 0.5 * X_fit[:, 1] + 1.5))).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 4, "learning_rate": 0.03, "verbose": -1,
                         "num_threads": 1}, lgb.Dataset(X_fit, y_fit), args.trees)
    X = rng.normal(size=(args.rows, width))
    y = (rng.random(args.rows) < 1 / (1 + np.exp(-X[:, 0] - 0.5 * X[:, 1] + 1.5))).astype(int)
    model = booster.model_to_string()
    curves, rows = {}, []
    for name, how in (("per tree", per_tree), ("leaves", lambda m, X, y, t: _validation_log_loss(m, X, y, t)[0])):
        start = time.perf_counter()
        curves[name] = how(model, X, y, args.trees)
        seconds = time.perf_counter() - start
        rows.append((name, seconds, seconds / args.trees * 1000))
    print(f"validation curve: {args.rows:,} rows x {width} inputs, {args.trees:,} trees of 4 leaves, one thread")
    print(f"{'way':<10} {'seconds':>8} {'ms a tree':>10}")
    for name, seconds, per in rows:
        print(f"{name:<10} {seconds:>8.2f} {per:>10.2f}")
    gap = np.max(np.abs(curves["leaves"] - curves["per tree"]) / curves["per tree"])
    print(f"largest relative difference between the curves: {gap:.2e}")


if __name__ == "__main__":
    main()
