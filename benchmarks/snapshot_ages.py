"""Which moments training should see each lead at, and what calibration should learn from.

    .venv/bin/python benchmarks/snapshot_ages.py                              # 20,000 leads, seed 7
    .venv/bin/python benchmarks/snapshot_ages.py --seasonality 0 0.5 --leads 20000

For each synthetic CRM (one per --seasonality) the same holdout leads (the most recent 20%)
are scored by models trained, with the default training config, on:

- `30 only`: every lead as of 30 days (the former single moment; no age input);
- `0,1,7,30,90`: as of creation and 1, 7, 30 and 90 days while still open;
- `0,1,3,7,14,30,60,90`: a denser list;
- `0,90 + 3 random`: creation (and 90 days) and three ages drawn at random while the lead was
  open, up to 90 days (`features.random_snapshots`);
- `0,1,7,30,90 + 3 random`: both (the default);
- `the same, last slice`: the default snapshots, calibrated on the last training slice only
  instead of out-of-fold predictions over the whole window.

Each model is evaluated per lead (each holdout lead once) at ages 0, 1, 7, 15, 30 and 60 days
(the leads open then) and at one random age per lead (uniform over the time it was open, up to
90 days): the situations serving meets. It prints ROC-AUC and expected calibration error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.examples import Examples, evaluated_snapshot, build_examples  # noqa: E402
from features.load import load_clean  # noqa: E402
from features.spec import load_spec  # noqa: E402
from training.config import load_config  # noqa: E402
from training.evaluation import evaluate  # noqa: E402
from training.trainer import train_model  # noqa: E402

EVAL_AGES = (0.0, 1.0, 7.0, 15.0, 30.0, 45.0, 60.0, 75.0)
DENSE = [0.0, 1.0, 3.0, 7.0, 14.0, 30.0, 60.0, 90.0]
DAY_NS = 86_400 * 10**9


def closing_days(examples: Examples, tables) -> np.ndarray:
    """Per example, days from its lead's creation to its close."""
    closed = tables.outcomes.drop_duplicates("lead_id", keep="last").set_index("lead_id")["closed_at"]
    closed_at = closed.reindex(examples.leads["lead_id"]).to_numpy("datetime64[ns]")
    return (closed_at - examples.leads["created_at"].to_numpy("datetime64[ns]")) / np.timedelta64(1, "D")


def at_ages(base: Examples, ages_per_lead: list[np.ndarray]) -> Examples:
    """Examples of base's leads (one row each, at creation) as of the given ages per lead."""
    rows = np.repeat(np.arange(len(base)), [len(a) for a in ages_per_lead])
    age = np.concatenate(ages_per_lead) if ages_per_lead else np.zeros(0)
    leads = base.leads.iloc[rows].reset_index(drop=True)
    as_of = leads["created_at"].to_numpy("datetime64[ns]") + (age * DAY_NS).astype("timedelta64[ns]")
    return Examples(leads, as_of, base.label[rows], base.order[rows], {}, lead=rows, age_days=age,
                    evaluated=evaluated_snapshot(rows, age, 30.0))


def random_open_ages(close_days: np.ndarray, k: int, rng: np.random.Generator, with_creation: bool) -> list:
    out = []
    for days in close_days:
        span = min(float(days), 90.0)
        drawn = np.sort(rng.uniform(0.0, span, k)) if span > 0 else np.zeros(0)
        out.append(np.r_[0.0, drawn] if with_creation else drawn)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seasonality", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/leadscore-bench"))
    parser.add_argument("--schemes", nargs="*", help="only these rows (their names as printed)")
    args = parser.parse_args()
    from leadscore.jobs.generate import run_generate

    spec_default = load_spec(ROOT / "data" / "specs" / "demo_crm.yaml")
    config = load_config(None)
    for seasonality in args.seasonality:
        data = args.cache / f"crm-{args.leads}-seed{args.seed}-season{seasonality:g}"
        if not (data / "summary.json").exists():
            run_generate(data, args.leads, seed=args.seed, show_progress=False, print_summary=False,
                         seasonality=seasonality)
        _, tables, _ = load_clean(spec_default, data)
        creation = build_examples(spec_default, tables, as_of_days=[0])  # every closed lead once
        close_days = closing_days(creation, tables)
        older, holdout = creation.split_by_time(spec_default.holdout_fraction)
        rng = np.random.default_rng(args.seed)

        evaluations = {}
        base_holdout = Examples(creation.leads.iloc[holdout].reset_index(drop=True), None, creation.label[holdout],
                                creation.order[holdout], {})
        for age in EVAL_AGES:
            open_then = (close_days[holdout] > age) | (age == 0)
            evaluations[f"at {age:g} d"] = at_ages(base_holdout, [np.array([age]) if o else np.zeros(0)
                                                                  for o in open_then])
        evaluations["random age"] = at_ages(base_holdout, random_open_ages(close_days[holdout], 1, rng, False))

        def with_ages(ages, random=0):
            return spec_default.model_copy(update={"features": spec_default.features.model_copy(
                update={"as_of_days_after_created": ages, "random_snapshots": random})})

        schemes = {
            "30 only": (with_ages([30.0]), config),
            "0,1,7,30,90": (with_ages([0.0, 1.0, 7.0, 30.0, 90.0]), config),
            "0,1,3,7,14,30,60,90": (with_ages(DENSE), config),
            "0,90 + 3 random": (with_ages([0.0, 90.0], 3), config),
            "0,1,7,30,90 + 3 random": (with_ages([0.0, 1.0, 7.0, 30.0, 90.0], 3), config),
            "the same, last slice": (with_ages([0.0, 1.0, 7.0, 30.0, 90.0], 3),
                                     config.model_copy(update={"calibration_window": "last_slice"})),
        }
        if args.schemes:
            schemes = {k: v for k, v in schemes.items() if k in args.schemes}
        print(f"\nCRM: {args.leads:,} leads, seed {args.seed}, seasonality {seasonality:g}; holdout {len(holdout):,} "
              "leads (each counted once per column)")
        header = f"{'trained on':<22} {'model':<9} {'rows':>7} {'secs':>5}  " + " ".join(f"{k:>13}" for k in evaluations)
        print(header + "\n" + " " * 47 + " ".join(f"{'AUC   ECE':>13}" for _ in evaluations))
        for name, (spec, cfg) in schemes.items():
            examples = build_examples(spec, tables)
            clock = time.perf_counter()
            result = train_model(spec, examples, tables.activities, cfg)
            seconds = time.perf_counter() - clock
            cells = []
            for evaluation in evaluations.values():
                X = result.bundle.transform.transform_frame(evaluation.leads, tables.activities, evaluation.as_of)
                m = evaluate(evaluation.label, result.bundle.predict_proba(X))
                cells.append(f"{m['roc_auc']:.3f} {m['ece']:.3f}")
            print(f"{name:<22} {result.chosen:<9} {len(examples):>7,} {seconds:>5.0f}  " + " ".join(f"{c:>13}" for c in cells),
                  flush=True)


if __name__ == "__main__":
    main()
