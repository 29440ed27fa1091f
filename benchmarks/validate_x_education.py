"""Benchmark `leadscore validate` on the shipped X Education export, as a user runs it.

    .venv/bin/python benchmarks/validate_x_education.py [--runs 5]

Each run is a fresh `leadscore validate --spec data/specs/x_education.yaml` process (start-up,
reading the CSV, cleaning, the Great Expectations suite and its Data Docs), timed wall-clock
from outside. Target: at most 5 s. A second table splits one in-process run into its steps.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "data" / "specs" / "x_education.yaml"
TARGET_SECONDS = 5.0
STEPS = """
import time, json, tempfile
t0 = time.perf_counter()
from features.validation import preload_great_expectations, validate_tables
preload_great_expectations()
from features.spec import load_spec
from features.load import load_clean
t1 = time.perf_counter()
spec = load_spec(%r)
cleaned, canonical, _ = load_clean(spec)
t2 = time.perf_counter()
from features import expectations
expectations._PRELOAD.join()
t3 = time.perf_counter()
report = validate_tables(spec, cleaned, canonical, docs_dir=tempfile.mkdtemp())
t4 = time.perf_counter()
print(json.dumps({"imports (leadscore, pandas)": t1 - t0, "read and clean the CSV": t2 - t1,
                  "wait for Great Expectations' import": t3 - t2,
                  f"run {report.checked} rules and write Data Docs": t4 - t3, "rows": report.rows["leads"]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes to time (default 5)")
    args = parser.parse_args()
    env = {**os.environ, "GX_ANALYTICS_ENABLED": "False"}
    leadscore = Path(sys.executable).parent / "leadscore"
    walls = []
    for _ in range(args.runs):
        started = time.perf_counter()
        done = subprocess.run([str(leadscore), "validate", "--spec", str(SPEC)], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        if done.returncode != 0:
            sys.exit(f"leadscore validate failed:\n{done.stdout}\n{done.stderr}")
    import json

    steps = json.loads(subprocess.run([sys.executable, "-c", STEPS % str(SPEC)], cwd=ROOT, env=env,
                                      capture_output=True, text=True, check=True).stdout)
    rows = steps.pop("rows")
    table = Table(title=f"leadscore validate, X Education ({rows:,} leads), {args.runs} fresh processes")
    for column in ("measurement", "seconds", "target / note"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    median = statistics.median(walls)
    table.add_row("wall, median", f"{median:.2f}", f"<= {TARGET_SECONDS:g} s "
                  + ("PASS" if median <= TARGET_SECONDS else "MISS"))
    table.add_row("wall, fastest / slowest", f"{min(walls):.2f} / {max(walls):.2f}", "")
    for step, seconds in steps.items():
        table.add_row(f"  {step}", f"{seconds:.2f}", "one in-process run")
    Console().print(table)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
