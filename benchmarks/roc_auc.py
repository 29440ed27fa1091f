"""What the one ROC-AUC (features.metrics.roc_auc, roc_aucs) costs against scikit-learn's
`roc_auc_score`, on the inputs the project gives it, and that both give the same number.

    .venv/bin/python benchmarks/roc_auc.py [--repeat 200] [--holdout 170000] [--resamples 500]

Rows (median of --repeat calls each, milliseconds per call; fresh random input, seed 0):
- 40 weighted values: one column of the leakage report (features.leakage: a column's distinct
  values with their won and lost counts, scored once as won and once as lost), which calls it
  for every column, twice or three times;
- 6,000 leads: a holdout of the tests' demo CRM;
- the promotion gate's bootstrap: --resamples resamples of a --holdout-lead holdout, ours all at
  once (`roc_aucs`), scikit-learn's one call per resample (timed on 20 calls, per resample).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from features.metrics import roc_auc, roc_aucs  # noqa: E402


def per_call(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--holdout", type=int, default=170_000)
    parser.add_argument("--resamples", type=int, default=500)
    args = parser.parse_args()
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    print(f"{'input':<44} {'ours ms':>10} {'sklearn ms':>11} {'largest difference':>19}")
    k = 20
    label = np.r_[np.ones(k, bool), np.zeros(k, bool)]
    score = np.r_[np.tile(rng.random(k), 2)]
    weight = np.r_[rng.integers(0, 50, k), rng.integers(1, 500, k)].astype(float)
    rows = [("40 weighted values (a leakage report column)", label, score, weight)]
    y = rng.random(6000) < 0.3
    rows.append(("6,000 leads, probabilities to 3 decimals", y, np.round(rng.random(6000) * 0.5 + 0.3 * y, 3), None))
    for name, lab, sc, w in rows:
        ours = per_call(lambda: roc_auc(lab, sc, sample_weight=w), args.repeat)
        theirs = per_call(lambda: roc_auc_score(lab, sc, sample_weight=w), args.repeat)
        diff = abs(roc_auc(lab, sc, sample_weight=w) - roc_auc_score(lab, sc, sample_weight=w))
        print(f"{name:<44} {ours:>10.3f} {theirs:>11.3f} {diff:>19.2e}")

    n, b = args.holdout, args.resamples
    y = rng.random(n) < 0.3
    p = np.round(np.clip(rng.random(n) * 0.6 + 0.3 * y, 0, 1), 4)
    counts = np.vstack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(b)])
    started = time.perf_counter()
    chunk = max(1, 2_000_000 // n)  # as training.promotion.roc_auc_interval splits them
    ours_all = np.concatenate([roc_aucs(y, p, counts[i:i + chunk]) for i in range(0, b, chunk)])
    ours_ms = (time.perf_counter() - started) * 1e3 / b
    started = time.perf_counter()
    theirs_some = [roc_auc_score(y, p, sample_weight=counts[i]) for i in range(20)]
    theirs_ms = (time.perf_counter() - started) * 1e3 / 20
    diff = float(np.max(np.abs(ours_all[:20] - np.array(theirs_some))))
    print(f"{f'bootstrap: {b} resamples of {n:,} leads':<44} {ours_ms:>10.3f} {theirs_ms:>11.3f} {diff:>19.2e}"
          f"   (per resample; all {b}: ours {ours_ms * b / 1e3:.1f} s, sklearn's about {theirs_ms * b / 1e3:.1f} s)")


if __name__ == "__main__":
    main()
