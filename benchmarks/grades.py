"""What fit, intent and the grade add to scoring, in process: one table of medians.

    .venv/bin/python benchmarks/grades.py [--workdir DIR] [--repeat 2000] [--bundle B --crm C]

Uses the setup of benchmarks/serving.py (its demo CRM and model, built there if missing), or
--bundle and --crm. The same model is timed as it is and with its sub-scores taken away
(features.sub_scores; a model trained before them): one typical lead with 5 reasons and with
none, and 1,000 leads in one call with 5 reasons, through `LeadScorer.score_leads` (the one
scoring path of /score).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))


def _trend_benchmark():
    loader = importlib.util.spec_from_file_location("trend_benchmark", Path(__file__).with_name("trend.py"))
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "results" / "serving-work")
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--bundle", type=Path, help="a model bundle (then --crm: the demo CRM folder)")
    parser.add_argument("--crm", type=Path)
    args = parser.parse_args()
    trend = _trend_benchmark()
    if args.bundle is None:
        args.bundle, args.crm = trend.serving_setup(args.workdir)

    import pandas as pd

    from features.bundle import ModelBundle
    from serving.scorer import LeadScorer

    bundle = ModelBundle.load(args.bundle)
    if bundle.sub_scores is None:
        print(f"{args.bundle}: the model has no sub-scores (trained before them); train it again")
        return 1
    without = copy.copy(bundle)
    without.sub_scores = None
    scorers = {"with sub-scores": LeadScorer(bundle), "without": LeadScorer(without)}
    typical = trend.typical_lead(args.crm)
    leads = pd.read_parquet(args.crm / "leads.parquet").drop_duplicates("lead_id")
    leads = leads[leads["created_at"] < pd.Timestamp(trend.AS_OF)].tail(1000)
    many = [{**typical, "lead_id": str(lead_id)} for lead_id in leads["lead_id"]]
    as_of = datetime.fromisoformat(trend.AS_OF)
    rows = []
    for name, call, repeat in [
            ("one lead, 5 reasons", lambda s: s.score_leads([typical], as_of=as_of, reasons=5), args.repeat),
            ("one lead, no reasons", lambda s: s.score_leads([typical], as_of=as_of, reasons=0), args.repeat),
            ("1,000 leads in one call, 5 reasons", lambda s: s.score_leads(many, as_of=as_of, reasons=5),
             max(10, args.repeat // 100))]:
        times = {label: trend.median_ms(lambda s=scorer: call(s), repeat) for label, scorer in scorers.items()}
        rows.append((name, times["without"], times["with sub-scores"]))
    width = max(len(name) for name, *_ in rows)
    print(f"one lead: {len(typical['activities'])} activities (the 1,000 leads: the same activities each); "
          f"model {args.bundle}")
    print(f"{'scoring, median ms':<{width}}  {'without':>9}  {'with':>9}  {'added':>9}")
    for name, plain, graded in rows:
        print(f"{name:<{width}}  {plain:9.3f}  {graded:9.3f}  {graded - plain:9.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
