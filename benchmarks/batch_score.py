"""`leadscore score` end to end against its floor: reading the same files and the raw booster.

    flock /tmp/leadscore-heavy.lock .venv/bin/python benchmarks/batch_score.py   # 1M leads, ~20M activities
    .venv/bin/python benchmarks/batch_score.py --leads 100000                    # a quicker one

Issue 17 item 1: batch scoring end to end (read, check, features, score, reasons, write) in at
most TARGET_RATIO (2x) the time of reading the same files and running the raw LightGBM booster
on the model rows the scorer builds, measured side by side in the same run.

* floor: `pyarrow.parquet.read_table` of the whole leads and activities files (every column,
  every row, best of 2) plus `booster.predict` of the model rows (all cores, best of 2). The
  model rows themselves are built beforehand (`LeadScorer.transform.transform_frame` on the
  canonical tables), so building them is not in the floor.
* `leadscore score`: `leadscore.jobs.score.run_score` (what the command runs) in a fresh child
  process, timed around the call (wall and CPU seconds): resolving and loading the model ("model
  and set-up": the call's time outside its steps), then the command's own steps as it prints
  them (load: read, clean, coerce; validate; score: features, model, reasons, grades; log;
  write). The score log is on by default (each lead's score and its record,
  features.logged), so the default rows log to a fresh SQLite database; one row shows --no-log.
  The log is written on a thread of its own beside validate and score (leadscore.jobs.batch_log),
  so its step is only the wait for it once every lead is scored.
  --before DIR adds the default run of another checkout (a `git archive` of an earlier commit).

The model and the CRM come from benchmarks/serving.py's setup (a LightGBM model trained on the
20,000-lead demo CRM, and a generated CRM of --leads leads, seed 11), cached in --workdir.
Prints one table, every row measured in this run, with PASS/MISS beside each target.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 2.0
SPEC = ROOT / "data" / "specs" / "demo_crm.yaml"
AS_OF = "2026-10-01T00:00:00Z"

CHILD = """
import json, os, sys, time
sys.path.insert(0, os.environ["BENCH_CODE"])  # before the current folder, which `python -c` puts first
from pathlib import Path
started = time.perf_counter()
from leadscore.jobs.score import run_score
from rich.console import Console
imported = time.perf_counter() - started
spec, leads, acts, out, bundle, as_of, reasons, log = sys.argv[1:9]
started, cpu = time.perf_counter(), time.process_time()
result = run_score(spec, Path(leads), Path(out), bundle=Path(bundle), as_of=as_of, activities=Path(acts),
                   reasons=int(reasons), console=Console(stderr=True), show_progress=False, log=log == "1")
total, cpu = time.perf_counter() - started, time.process_time() - cpu
import leadscore
assert leadscore.__file__.startswith(os.environ["BENCH_CODE"]), leadscore.__file__
print(json.dumps({"imports": imported, "total": total, "cpu": cpu, "rows": result.rows, "steps": result.seconds}))
"""


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def load_benchmark(name: str, as_name: str):
    """A sibling benchmark file as a module (this folder is not on sys.path: its serving.py
    would hide the `serving` package)."""
    spec = importlib.util.spec_from_file_location(as_name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[as_name] = module
    spec.loader.exec_module(module)
    return module


def floor(bundle: Path, big: Path, repeat: int = 2) -> dict:
    """Seconds to read both files with pyarrow (best of `repeat`) and to predict the model rows
    with the raw booster (best of `repeat`), and the number of rows."""
    import numpy as np
    import pyarrow.parquet as pq

    from features.load import load_clean
    from features.spec import load_spec
    from serving.scorer import LeadScorer

    reads, read_cpu = [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        leads = pq.read_table(big / "leads.parquet")
        acts = pq.read_table(big / "activities.parquet")
        reads.append(time.perf_counter() - started)
        read_cpu.append(time.process_time() - cpu)
    n_leads, n_acts = leads.num_rows, acts.num_rows
    del leads, acts
    scorer = LeadScorer.from_bundle_dir(bundle)
    _, tables, _ = load_clean(load_spec(SPEC), big, purpose="score")
    from datetime import datetime

    moment = datetime.fromisoformat(AS_OF.replace("Z", "+00:00")).replace(tzinfo=None)
    as_of = np.full(len(tables.leads), np.datetime64(moment, "ns"))
    X = scorer.transform.transform_frame(tables.leads, tables.activities, as_of)
    del tables
    booster = scorer.bundle.booster
    predicts, predict_cpu = [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        booster.predict(X, num_threads=0)
        predicts.append(time.perf_counter() - started)
        predict_cpu.append(time.process_time() - cpu)
    return {"read": min(reads), "predict": min(predicts), "read_cpu": min(read_cpu), "predict_cpu": min(predict_cpu), "rows": len(X), "leads": n_leads, "activities": n_acts}


def score_run(setup_: dict, reasons: int, log_scores: bool, code: Path) -> dict:
    """`run_score` of the checkout at `code` in a fresh child process with a fresh score log."""
    measure = load_benchmark("_child", "benchmark_child").measure
    big = setup_["big"]
    with tempfile.TemporaryDirectory(prefix="batch-score-") as work:
        env = {**setup_["env"], "LEADSCORE_DATABASE_URL": f"sqlite:///{work}/leadscore.db",
               "BENCH_CODE": str(code)}
        result = measure(CHILD, str(SPEC), str(big / "leads.parquet"), str(big / "activities.parquet"),
                         f"{work}/scores.parquet", str(setup_["bundle"]), AS_OF, str(reasons),
                         "1" if log_scores else "0", env=env)
    log(f"  reasons {reasons}, log {log_scores}: {result['total']:.1f} s {result['steps']}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/batch-speed/work"))
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--before", type=Path, default=None, help="also run `leadscore score --reasons 3` of this "
                        "checkout (e.g. `git archive` of the commit before the speed-ups), in the same run")
    parser.add_argument("--only-default", action="store_true", help="only the default run (--reasons 3, logged), "
                        "and --before's: for a busy machine")
    parser.add_argument("--code", type=Path, default=ROOT, help="run `leadscore score` of this checkout (e.g. a "
                        "`git archive` of an earlier commit, to measure before and after); default: this one")
    args = parser.parse_args()
    load_at_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    started = time.time()

    bench = load_benchmark("serving", "serving_benchmark")
    setup_ = bench.setup(args.workdir, args.leads, fresh=False)
    os.environ.update({k: v for k, v in setup_["env"].items() if k.startswith(("LEADSCORE_", "MLFLOW_"))})
    log("floor: reading the files, building the model rows (not timed), the raw booster")
    base = floor(setup_["bundle"], setup_["big"])
    runs = []
    if args.before is not None:
        runs.append(("before: ", 3, True, score_run(setup_, 3, True, args.before)))
    for reasons, log_scores in ((3, True),) if args.only_default else ((3, True), (0, True), (3, False)):
        runs.append(("", reasons, log_scores, score_run(setup_, reasons, log_scores, args.code)))

    from rich.console import Console
    from rich.table import Table

    floor_s = base["read"] + base["predict"]
    table = Table(title=f"leadscore score on {base['leads']:,} leads and {base['activities']:,} activities "
                        f"(Parquet), against reading the files and the raw booster")
    for column, justify in (("run", "left"), ("seconds", "right"), ("CPU s", "right"), ("leads/s", "right"),
                            ("where the time goes (s)", "left"), (f"x floor (target {TARGET_RATIO:g})", "left")):
        table.add_column(column, justify=justify)
    floor_cpu = base["read_cpu"] + base["predict_cpu"]
    table.add_row("floor: read both files (pyarrow)", f"{base['read']:.2f}", f"{base['read_cpu']:.2f}", "", "", "")
    table.add_row(f"floor: booster.predict, {base['rows']:,} model rows", f"{base['predict']:.2f}",
                  f"{base['predict_cpu']:.2f}", f"{base['rows'] / base['predict']:,.0f}", "", "")
    table.add_row("floor: total", f"{floor_s:.2f}", f"{floor_cpu:.2f}", f"{base['rows'] / floor_s:,.0f}", "",
                  "1.00")
    for before, reasons, log_scores, result in runs:
        steps = dict(result["steps"])
        named = ", ".join(f"{k} {v:.1f}" for k, v in steps.items())
        model_load = result["total"] - sum(steps.values())
        ratio = result["total"] / floor_s
        label = f"{before}leadscore score --reasons {reasons}" + ("" if log_scores else " --no-log")
        table.add_row(label, f"{result['total']:.2f}", f"{result['cpu']:.2f}", f"{result['rows'] / result['total']:,.0f}",
                      f"model and set-up {model_load:.1f}, {named}",
                      f"{ratio:.2f} {'PASS' if ratio <= TARGET_RATIO else 'MISS'} "
                      f"(CPU {result['cpu'] / floor_cpu:.2f})")
    console = Console(width=200)
    console.print(table)
    console.print(f"seconds: wall time of run_score's call; CPU s: its process's CPU time (all threads; less "
                  f"sensitive to other processes sharing the machine); in a fresh process (its imports, "
                  f"{runs[-1][3]['imports']:.1f} s, not "
                  "counted); the score log is on by default (SQLite, a fresh database per run); --as-of "
                  f"{AS_OF}. Load average at start {load_at_start}, at end "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
                  f"total benchmark time {time.time() - started:.0f} s.")
    print(json.dumps({"floor": base, "runs": [r for *_, r in runs]}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
