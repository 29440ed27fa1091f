"""What the activity features cost on each entry path (features/activity.py).

    .venv/bin/python benchmarks/activity_features.py [--activities 20000000] [--leads 1000000]

One lead with 15 raw activities (the API's dicts, ISO times) through `aggregate_one`; 1,000
leads of 20 activities each through `aggregate_records`; `--activities` synthetic activities
of `--leads` leads through `aggregate_arrays` (the batch path, in a child process so that its
peak memory is its own); and the first call in a fresh process (import, then numba loading its
cached kernel or compiling it). Prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

TYPES = ["email_open", "email_click", "web_visit", "pricing_view", "demo_request", "form_fill",
         "webinar", "content_download", "unsubscribe"]
AS_OF_NS = 1_790_000_000 * 10**9  # 2026-09-21


def aggregator():
    from features.activity import ActivityAggregator

    return ActivityAggregator(TYPES, [7, 30, 90], ["pricing_view", "demo_request", "form_fill"], ["unsubscribe"])


def raw_activities(rng, k: int) -> list[dict]:
    from datetime import datetime, timezone

    out = []
    for _ in range(k):
        t = AS_OF_NS - int(rng.integers(-5 * 86400, 120 * 86400)) * 10**9
        stamp = datetime.fromtimestamp(t / 1e9, timezone.utc).replace(tzinfo=None).isoformat() + "Z"
        out.append({"occurred_at": stamp, "activity_type": TYPES[int(rng.integers(0, len(TYPES)))]})
    return out


def per_call_us(fn, repeat: int = 7) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    return statistics.median(t / number for t in timer.repeat(repeat, number)) * 1e6


FIRST_CALL = """
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from features.activity import ActivityAggregator
t1 = time.perf_counter()
agg = ActivityAggregator(["a", "b"], [7, 30, 90], ["b"], [])
agg.aggregate_one(10**18, [{"occurred_at": 10**18 - 1, "activity_type": "a"}])
t2 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1]))
"""


def first_call() -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", FIRST_CALL, str(ROOT)], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    return tuple(json.loads(out))


def batch_child(n_activities: int, n_leads: int) -> None:
    """Run in a child process: prints seconds per call and peak resident MiB above the inputs."""
    import resource

    import numpy as np

    agg = aggregator()
    rng = np.random.default_rng(3)
    lead_pos = rng.integers(-1, n_leads, n_activities)  # -1: an activity of no lead here
    type_code = rng.integers(-1, len(TYPES), n_activities)  # -1: a type unseen in training
    t_ns = AS_OF_NS - rng.integers(-5 * 86400, 400 * 86400, n_activities) * 10**9
    t_ns[rng.random(n_activities) < 0.001] = np.iinfo(np.int64).min  # NaT
    as_of = np.full(n_leads, AS_OF_NS, dtype=np.int64)
    agg.aggregate_arrays(1, lead_pos[:10] * 0, type_code[:10], t_ns[:10], as_of[:1])  # numba: load or compile
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        X = agg.aggregate_arrays(n_leads, lead_pos, type_code, t_ns, as_of)
        times.append(time.perf_counter() - t0)
        del X
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps([min(times), peak - base]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--activities", type=int, default=20_000_000)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--batch-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.batch_child:
        batch_child(args.activities, args.leads)
        return 0

    import numpy as np
    from rich.console import Console
    from rich.table import Table

    import_s, first_s = first_call()
    agg = aggregator()
    rng = np.random.default_rng(1)
    one = raw_activities(rng, 15)
    many = [raw_activities(rng, 20) for _ in range(1_000)]
    as_of_many = np.full(len(many), AS_OF_NS, dtype=np.int64)
    agg.aggregate_one(AS_OF_NS, one)
    agg.aggregate_records(many, as_of_many)
    one_us = per_call_us(lambda: agg.aggregate_one(AS_OF_NS, one))
    empty_us = per_call_us(lambda: agg.aggregate_one(AS_OF_NS, ()))
    records_ms = per_call_us(lambda: agg.aggregate_records(many, as_of_many), repeat=5) / 1e3
    out = subprocess.run([sys.executable, __file__, "--batch-child", "--activities", str(args.activities),
                          "--leads", str(args.leads)], capture_output=True, text=True, check=True).stdout
    batch_s, batch_mib = json.loads(out)

    table = Table(title="activity features (features/activity.py), one thread")
    table.add_column("entry path")
    table.add_column("input")
    table.add_column("time", justify="right")
    table.add_column("note")
    table.add_row("aggregate_one", "1 lead, 15 activities (ISO strings)", f"{one_us:.1f} µs", "median per call")
    table.add_row("aggregate_one", "1 lead, no activities", f"{empty_us:.1f} µs", "median per call")
    table.add_row("aggregate_records", "1,000 leads x 20 activities", f"{records_ms:.2f} ms", "median per call")
    table.add_row("aggregate_arrays", f"{args.activities:,} activities, {args.leads:,} leads", f"{batch_s:.2f} s",
                  f"best of 3; peak +{batch_mib:.0f} MiB over the inputs")
    table.add_row("import features.activity", "fresh process", f"{import_s * 1e3:.0f} ms", "")
    table.add_row("first aggregate_one", "fresh process", f"{first_s * 1e3:.0f} ms",
                  "numba loads its cached kernel (compiles once if no cache)")
    Console(width=140).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
