"""Benchmark validation plus point-in-time features on a large demo CRM.

    .venv/bin/python benchmarks/validate_features.py                  # 1,000,000 leads (~20M activities)
    .venv/bin/python benchmarks/validate_features.py --leads 100000   # a quick run

The CRM is generated once into --cache (default /tmp/leadscore-bench) and reused; generation
is not timed. A fresh child process loads, cleans and validates the tables (Great Expectations,
as `leadscore validate` does), builds the training examples as of 30 days after creation and
computes the feature matrix with the fitted transform. Target: 1M leads and 20M activities in
at most 90 s and 8 GiB on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import demo_crm, measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS, TARGET_GIB = 90.0, 8.0
CHILD = """
import json, sys, time
from features.spec import load_spec
from features.load import load_clean
from features.validation import validate_tables
from features.examples import build_examples
from features.transform import LeadTransform
spec = load_spec(sys.argv[1]); t = {}; clock = time.perf_counter()
def lap(name):
    global clock
    now = time.perf_counter(); t[name] = round(now - clock, 1); clock = now
cleaned, tables, _ = load_clean(spec, sys.argv[2]); lap("load+clean")
report = validate_tables(spec, cleaned, tables, purpose="train"); lap("validate")
assert report.success, report.summary()
examples = build_examples(spec, tables); lap("examples")
transform = LeadTransform.fit(spec, examples.leads, tables.activities)
X = transform.transform_frame(examples.leads, tables.activities, examples.as_of); lap("features")
print(json.dumps({"activities": len(tables.activities), "examples": len(examples), "features": X.shape[1],
                  "rules": report.checked, "stages": t}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/leadscore-bench"))
    args = parser.parse_args()
    data = demo_crm(args.cache / f"crm-{args.leads}", args.leads)
    row = measure(CHILD, str(ROOT / "data" / "specs" / "demo_crm.yaml"), str(data))
    ok = row["seconds"] <= TARGET_SECONDS and row["peak_gib"] <= TARGET_GIB
    print(f"leadscore validation + features benchmark: {os.cpu_count()} cores")
    header = (f"{'leads':>10} {'activities':>11} {'examples':>9} {'rules':>6} {'seconds':>8} {'peak GiB':>9}  "
              f"{'target':<20} result")
    print(header)
    print("-" * len(header))
    print(f"{args.leads:>10,} {row['activities']:>11,} {row['examples']:>9,} {row['rules']:>6} {row['seconds']:>8.1f} "
          f"{row['peak_gib']:>9.2f}  {f'<= {TARGET_SECONDS:.0f} s, <= {TARGET_GIB:.0f} GiB':<20} {'pass' if ok else 'FAIL'}")
    print("stages (s): " + ", ".join(f"{k} {v}" for k, v in row["stages"].items()) + "; the rest is start-up and imports")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
