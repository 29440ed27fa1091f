"""Where the time of one 1,000-lead /score call goes, step by step, in process.

    .venv/bin/python benchmarks/score_steps.py [--workdir DIR] [--repeat 40]

Uses the setup of benchmarks/serving.py (its demo CRM, model and request bodies, built there
if missing) and runs, for each body, what the service runs for it: parse the JSON into the
request model, check the leads, build the model rows, the tables (score and contributions),
the reasons, the answers and their JSON, and the score log's record of each lead (which the
service's writer thread makes before the answer is sent). Median milliseconds per call over --repeat calls,
with the garbage collector tuned as the service tunes it. Also the memory the tables cost: the
resident size of this process before and after numba compiles them. Then, unless --skip-shapes,
the contributions for every tree shape (num_leaves 4 to 63): a model of each fitted to the demo
CRM, whether the tables are used and exact, what they cost to build, check and hold, and their
speed against LightGBM's pred_contrib.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from datetime import datetime, timezone
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


TREE_SHAPES = (4, 7, 15, 31, 63)  # num_leaves: the demo config, the tuned ones, the default (15), 63


def tree_shapes(bundle_dir: Path, demo: Path, rows_1000, trees: int | None = None) -> list[tuple]:
    """Per num_leaves: a LightGBM model of the demo model's size (trees, inputs, training
    defaults otherwise) fitted to the demo CRM's leads labelled by the served model, then what
    tabulating it costs and gives: (leaves, path, longest path, seconds to build and check,
    tables MiB, tables leads/s and pred_contrib leads/s on one thread for the 1,000 leads of
    the bodies, worst difference from pred_contrib)."""
    import lightgbm as lgb
    import numpy as np

    from features.bundle import ModelBundle
    from features.load import load_clean
    from serving.treeshap import tabulate
    from training.config import ModelParams

    bundle = ModelBundle.load(bundle_dir)
    transform = bundle.transform
    _, tables, _ = load_clean(_spec_of(bundle), demo)
    moments = np.full(len(tables.leads), np.datetime64("2026-10-01T00:00:00", "ns"))
    X = transform.model_input(transform.transform_frame(tables.leads, tables.activities, moments))
    served = bundle.booster
    y = (np.random.default_rng(0).random(len(X)) < served.predict(X)).astype(int)
    defaults = ModelParams()
    probe = np.ascontiguousarray(rows_1000)
    out = []
    for leaves in TREE_SHAPES:
        params = {"objective": "binary", "num_leaves": leaves, "learning_rate": defaults.learning_rate,
                  "min_child_samples": defaults.min_child_samples, "colsample_bytree": defaults.colsample_bytree,
                  "subsample": defaults.subsample, "subsample_freq": 1, "reg_lambda": defaults.reg_lambda,
                  "cat_smooth": defaults.cat_smooth, "verbose": -1, "num_threads": 1, "seed": 7}
        data = lgb.Dataset(X, y, categorical_feature=transform.categorical_indices or "auto", params=params)
        booster = lgb.Booster(model_str=lgb.train(params, data, num_boost_round=trees or served.num_trees()).model_to_string())
        made = tabulate(booster)
        theirs_started = time.perf_counter()
        theirs = booster.predict(probe[:200], pred_contrib=True, num_threads=1)
        contrib_rate = 200 / (time.perf_counter() - theirs_started)
        row = [leaves, made.path, made.seconds, contrib_rate]
        if made.tables is not None:
            t = made.tables
            groups = np.arange(t.n_features)
            t.raw_and_groups(probe, groups, t.n_features, threads=1)
            started = time.perf_counter()
            _, phi = t.raw_and_groups(probe, groups, t.n_features, threads=1)
            rate = len(probe) / (time.perf_counter() - started)
            worst = float(np.max(np.abs(phi[:200] - theirs[:, :-1])))
            row += [t.longest_path, t.nbytes / 2**20, rate, worst]
        out.append(tuple(row))
    return out


def _spec_of(bundle):
    import yaml

    from features.spec import DatasetSpec

    return DatasetSpec.model_validate(yaml.safe_load(bundle.spec_yaml))


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
    parser.add_argument("--skip-shapes", action="store_true", help="leave out the table of tree shapes")
    parser.add_argument("--shape-trees", type=int, default=None,
                        help="trees per model in the table of tree shapes (default: the demo model's count)")
    parser.add_argument("--file-leads", type=int, default=1_000_000,
                        help="the size of benchmarks/serving.py's batch CRM, made by its setup if missing")
    args = parser.parse_args()

    bench = load_serving_benchmark()
    setup = bench.setup(args.workdir, args.file_leads, fresh=False)
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

    steps = ["parse", "check", "features", "tables", "reasons", "answers + JSON", "log records"]
    as_of_ns = int(as_of.replace(tzinfo=timezone.utc).timestamp()) * 10**9
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
            recorder = scorer.recorder  # the score log's record of each lead, made by the service's writer thread
            [recorder.record(lead, as_of_ns) for lead in leads]
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

    if not args.skip_shapes:
        trees = args.shape_trees or bundle.booster.num_trees()
        shapes = Table(title=f"contributions for every tree shape ({trees} trees (the demo model has "
                             f"{bundle.booster.num_trees()}), {bundle.booster.num_feature()} inputs, training defaults "
                             "otherwise; leads/s on one thread for the bodies' 1,000 leads): target tables used and exact")
        for column in ["num_leaves", "contributions", "longest path", "build + check s", "tables MiB",
                       "tables leads/s", "pred_contrib leads/s", "worst difference", "target"]:
            shapes.add_column(column, justify="right")
        X1000 = scorer.transform.model_input(scorer.transform.transform_records(
            leads, [scorer._canonical_activities(lead.get("activities")) for lead in leads], as_of))
        for leaves, path, seconds, contrib_rate, *rest in tree_shapes(setup["bundle"], args.workdir / "demo", X1000,
                                                                    args.shape_trees):
            if rest:
                longest, mib, rate, worst = rest
                ok = path == "tables" and worst <= 1e-9
                shapes.add_row(str(leaves), path, str(longest), f"{seconds:.1f}", f"{mib:.1f}", f"{rate:,.0f}",
                               f"{contrib_rate:,.0f}", f"{worst:.1e}", "PASS" if ok else "MISS")
            else:
                shapes.add_row(str(leaves), path, "", f"{seconds:.1f}", "", "", f"{contrib_rate:,.0f}", "", "MISS")
        console.print(shapes)
    import os

    console.print("load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
