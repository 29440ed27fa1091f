"""Is a model trained on Dask as good as one trained on one machine? `leadscore train` and
`leadscore train --dask local` on the same demo CRM, each in a fresh registry.

    flock /tmp/leadscore-heavy.lock .venv/bin/python benchmarks/dask_quality.py           # 1,000,000 leads
    .venv/bin/python benchmarks/dask_quality.py --leads 50000                             # a quick run

The CRM (seed 7) is generated once into --cache and reused. Each command runs as a user runs it
(validate, examples, features, the candidates, calibration, stages, gates, MLflow, registry),
with configs/demo.yaml; the table gives the registered model's holdout ROC-AUC (the chosen
candidate's), LightGBM's alone, the logistic baseline's, the wall time and the peak memory of
the command with all its processes (benchmarks/_tree.py). Target (issue 16): the Dask model's
holdout ROC-AUC within 0.003 of the single-machine one on 1,000,000 leads.

Both runs are given the same `max_leads` (--max-leads, default auto: 60,000): one machine trains
every candidate on that sample of the leads; with --dask the client fits the logistic model,
calibration and stages on the same sample while LightGBM learns from every lead on the workers
(training.minimum_data.training_plan_on_cluster). Both are measured on the same holdout, the
sample's most recent leads; "short of best" is the gap to the true probability's ROC-AUC on it.
`--max-leads null` trains every lead on both (most of an hour on one machine at 1,000,000).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import demo_crm  # noqa: E402
from _tree import load_average, run_tree, stop_on_sigterm  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LEADSCORE = str(Path(sys.executable).parent / "leadscore")
TARGET_DIFF = 0.003


def registered_metrics(models: Path) -> dict:
    """The metrics and tags of the only version in the registry under `models`."""
    code = ("import json, os; from leadscore.settings import get_settings; from training.registry import Registry; "
            "r = Registry.from_settings(get_settings(), 'leadscore-demo-crm'); v = r.versions()[-1]; "
            "print(json.dumps({'metrics': dict(v.metrics), 'tags': dict(v.tags)}))")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "LEADSCORE_MODELS_DIR": str(models), "MLFLOW_TRACKING_URI": ""})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/leadscore-bench"))
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.yaml")
    parser.add_argument("--limit-gib", type=float, default=20.0, help="stop a run whose processes hold more")
    parser.add_argument("--max-leads", default="auto", type=lambda v: v if v == "auto" else None if v == "null" else int(v),
                        help="max_leads for both runs: auto (the default), a number, or null (every lead)")
    args = parser.parse_args()
    stop_on_sigterm()
    data = demo_crm(args.cache / f"crm-{args.leads}", args.leads)
    print(f"train vs train --dask local: {args.leads:,} demo leads (seed 7), {args.config.name}; {load_average()}")
    header = (f"{'':<12} {'ROC-AUC':>8} {'LightGBM':>9} {'baseline':>9} {'short of best':>13} {'ECE':>7} {'model':>9} "
              f"{'seconds':>8} {'peak GiB':>9}")
    print(header)
    print("-" * len(header), flush=True)
    import yaml

    config = args.cache / f"{args.config.stem}-max-leads-{args.max_leads or 'null'}.yaml"
    config.write_text(yaml.safe_dump({**(yaml.safe_load(args.config.read_text()) or {}), "max_leads": args.max_leads}))
    rows = {}
    for name, extra in (("one machine", []), ("dask local", ["--dask", "local"])):
        with tempfile.TemporaryDirectory(prefix="leadscore-bench-models-") as models:
            run = run_tree([LEADSCORE, "train", "--spec", str(ROOT / "data" / "specs" / "demo_crm.yaml"), "--data",
                            str(data), "--config", str(config), "--promote", "never", *extra],
                           env={"LEADSCORE_MODELS_DIR": models, "MLFLOW_TRACKING_URI": ""}, limit_gib=args.limit_gib)
            if run.exit_code != 0:
                sys.exit(f"{name}: " + ("stopped above the memory limit" if run.out_of_memory else
                                        f"exit {run.exit_code}") + f"\n{run.output}")
            rows[name] = (run, registered_metrics(Path(models)))
        m, tags = rows[name][1]["metrics"], rows[name][1]["tags"]
        gap = f"{m['gap_to_best_roc_auc']:.4f}" if "gap_to_best_roc_auc" in m else "-"
        print(f"{name:<12} {m['holdout_roc_auc']:>8.4f} {m['lightgbm_roc_auc']:>9.4f} {m['baseline_roc_auc']:>9.4f} "
              f"{gap:>13} {m['holdout_ece']:>7.4f} {tags.get('model', ''):>9} {run.seconds:>8.1f} {run.peak_gib:>9.2f}",
              flush=True)
        if tags.get("sampled_leads"):
            print(f"{'':<12} the client's sample: {int(tags['sampled_leads']):,} of {int(tags['leads_with_outcome']):,} "
                  "leads with an outcome", flush=True)
    (_, one), (_, dask) = rows["one machine"], rows["dask local"]
    diff = dask["metrics"]["holdout_roc_auc"] - one["metrics"]["holdout_roc_auc"]
    lgbm = dask["metrics"]["lightgbm_roc_auc"] - one["metrics"]["lightgbm_roc_auc"]
    ok = abs(diff) <= TARGET_DIFF
    print(f"holdout ROC-AUC, Dask minus one machine: {diff:+.4f} (LightGBM alone {lgbm:+.4f}); "
          f"target |diff| <= {TARGET_DIFF}: {'PASS' if ok else 'MISS'}")
    print(f"trained on: {dask['tags'].get('trained_on')} with {dask['tags'].get('dask_workers')} workers; "
          f"after: {load_average()}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
