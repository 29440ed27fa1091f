"""Where the time of one 1,000-lead /score call goes, step by step, in process.

    .venv/bin/python benchmarks/score_steps.py [--workdir DIR] [--repeat 40]

Uses the setup of benchmarks/serving.py (its demo CRM, model and request bodies, built there
if missing) and runs, for each body, what the service runs for it: parse the JSON into the
request model, check the leads, build the model rows, the tables (score and contributions),
the reasons, the answers and their JSON. Median milliseconds per call over --repeat calls,
with the garbage collector tuned as the service tunes it. Also the memory the tables cost: the
resident size of this process before and after numba compiles them.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


MEMORY_PROBE = """
import sys, psutil
from features.bundle import ModelBundle
bundle = ModelBundle.load(sys.argv[1])
import serving.reasons, serving.schema  # what the scorer needs, but numba (serving.treeshap)
before = psutil.Process().memory_info().rss
from serving.treeshap import compile_booster
assert compile_booster(bundle.booster) is not None
print(before, psutil.Process().memory_info().rss)
"""


def tables_memory(bundle: Path) -> tuple[float, float]:
    """Resident MiB of a fresh process with the model loaded, before and after the tables."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(bundle)], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    return int(out[0]) / 2**20, int(out[1]) / 2**20


def load_serving_benchmark():
    spec = importlib.util.spec_from_file_location("serving_benchmark", Path(__file__).with_name("serving.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["serving_benchmark"] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "results" / "serving-work")
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()

    bench = load_serving_benchmark()
    setup = bench.setup(args.workdir, 1_000_000, fresh=False)
    bodies, _, _ = bench.make_bodies(args.workdir, setup["bundle"])

    before, after = tables_memory(setup["bundle"])
    from features.bundle import ModelBundle

    bundle = ModelBundle.load(setup["bundle"])

    from pydantic_core import to_json

    from serving.runtime import tune_gc
    from serving.schema import LeadValidator, ScoreRequest
    from serving.scorer import LeadScorer

    scorer = LeadScorer(bundle)
    validator = LeadValidator.for_scorer(scorer)
    as_of = datetime(2026, 10, 1)
    tune_gc("tuned")
    from rich.console import Console
    from rich.table import Table

    steps = ["parse", "check", "features", "tables", "reasons", "answers + JSON"]
    table = Table(title=f"one /score call of 1,000 leads, in process: median ms of {args.repeat}")
    table.add_column("body")
    for step in [*steps, "total"]:
        table.add_column(step, justify="right")
    for name, label in [("batch_profile_r5", "profile fields, 5 reasons"),
                        ("batch_profile_r0", "profile fields, no reasons"),
                        ("batch_acts_r5", "~20 activities each, 5 reasons")]:
        raw = bodies[name].read_bytes()
        times: dict[str, list[float]] = {step: [] for step in steps}
        for i in range(args.repeat + 3):
            marks = [time.perf_counter()]
            request = ScoreRequest.model_validate_json(raw)
            marks.append(time.perf_counter())
            leads = validator.check_leads(request.leads)
            marks.append(time.perf_counter())
            acts = [scorer._canonical_activities(lead.get("activities")) for lead in leads]
            X = scorer.transform.transform_records(leads, acts, as_of)
            marks.append(time.perf_counter())
            probability, grouped = scorer.probability_and_reasons(X, request.reasons > 0)
            marks.append(time.perf_counter())
            written = scorer.reasons.reasons_many(grouped, X, leads, request.reasons) if grouped is not None else None
            marks.append(time.perf_counter())
            answers = scorer.answer_dicts([str(lead[scorer.id_field]) for lead in leads], probability, written)
            to_json({"scores": answers})
            marks.append(time.perf_counter())
            if i >= 3:  # the first calls warm caches
                for step, a, b in zip(steps, marks, marks[1:]):
                    times[step].append((b - a) * 1e3)
        medians = [statistics.median(times[step]) for step in steps]
        table.add_row(label, *[f"{m:.1f}" for m in medians], f"{sum(medians):.1f}")
    console = Console(width=160)
    console.print(table)
    console.print(f"resident memory: {before:.0f} MiB with the model loaded, {after:.0f} MiB once numba has "
                  f"compiled the tables (+{after - before:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
