"""Benchmark `leadscore generate`: wall time and peak memory of a fresh process per size.

    .venv/bin/python benchmarks/generate.py                 # 1,000,000 leads (the target)
    .venv/bin/python benchmarks/generate.py --leads 100000  # a quick run

Each size runs `run_generate` in its own child process; the peak resident memory is that
child's own (os.wait4 returns its rusage). Target: 1,000,000 leads with about 20 million
activities in at most 60 s and 4 GiB, as Parquet, on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import measure  # noqa: E402

TARGET_SECONDS = 60.0
TARGET_GIB = 4.0
CHILD = """
import json, sys
from leadscore.jobs.generate import run_generate
result = run_generate(sys.argv[1], int(sys.argv[2]), seed=int(sys.argv[3]), file_format=sys.argv[4],
                      show_progress=False, print_summary=False)
print(json.dumps({"activities": result.summary["activities"]}))
"""


def run_one(n_leads: int, seed: int, file_format: str) -> dict:
    """Generate n_leads in a child process; return its wall time and its own peak RSS."""
    with tempfile.TemporaryDirectory(prefix="leadscore-bench-") as workdir:
        row = measure(CHILD, str(Path(workdir) / "crm"), str(n_leads), str(seed), file_format)
    return {"leads": n_leads, **row}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, nargs="+", default=[1_000_000], help="lead counts to run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    args = parser.parse_args()

    print(f"leadscore generate benchmark: {os.cpu_count()} cores, format {args.format}, seed {args.seed}")
    header = f"{'leads':>11} {'activities':>12} {'seconds':>8} {'peak GiB':>9}  {'target':<18} result"
    print(header)
    print("-" * len(header))
    failed = False
    for n_leads in args.leads:
        row = run_one(n_leads, args.seed, args.format)
        ok = row["seconds"] <= TARGET_SECONDS and row["peak_gib"] <= TARGET_GIB
        failed |= not ok
        print(f"{row['leads']:>11,} {row['activities']:>12,} {row['seconds']:>8.1f} {row['peak_gib']:>9.2f}  "
              f"{f'<= {TARGET_SECONDS:.0f} s, <= {TARGET_GIB:.0f} GiB':<18} {'pass' if ok else 'FAIL'}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
