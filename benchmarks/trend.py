"""What the trend and cooling intent add to /score, in process: one table of medians.

    .venv/bin/python benchmarks/trend.py [--workdir DIR] [--logged 200000] [--repeat 2000]

Uses the setup of benchmarks/serving.py (its demo CRM and model, built there if missing; its
large CRM is not needed: made with 1,000 leads), or --bundle and --crm. Rows:

* one lead (a typical demo lead: the median number of activities, 5 reasons): the scorer without and
  with cooling (features.intent), the difference being what cooling costs;
* reading the leads' kept scores for their trend (serving.store.previous_scores.TrendReader:
  one query on scored_inputs' primary key) from a SQLite score log holding --logged leads, for
  1 lead and for 1,000 (one request of each size), a known lead and an unknown one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))


def median_ms(call, repeat: int) -> float:
    for _ in range(min(repeat, 50)):
        call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


AS_OF = "2026-10-01T00:00:00"
"""The moment leads are scored as of (the serving benchmark's)."""


def typical_lead(crm: Path) -> dict:
    """A lead of the demo CRM created before AS_OF with the median number of activities among
    1,000 of them, as /score takes it."""
    import pandas as pd

    leads = pd.read_parquet(crm / "leads.parquet").drop_duplicates("lead_id")
    leads = leads[leads["created_at"] < pd.Timestamp(AS_OF)].tail(1000)
    acts = pd.read_parquet(crm / "activities.parquet")
    acts = acts[acts["lead_id"].astype(str).isin(set(leads["lead_id"].astype(str)))]
    counts = acts.groupby(acts["lead_id"].astype(str)).size()
    chosen = counts.index[counts.argsort().iloc[len(counts) // 2]]
    record = leads[leads["lead_id"].astype(str) == chosen].drop(columns=["sales_rating"]).iloc[0].to_dict()
    lead = {k: (None if pd.isna(v) else v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}
    mine = acts[acts["lead_id"].astype(str) == chosen]
    lead["activities"] = [{"occurred_at": t.isoformat() + "Z", "activity_type": str(a)}
                          for t, a in zip(mine["occurred_at"], mine["activity_type"])]
    return lead


def serving_setup(workdir: Path) -> tuple[Path, Path]:
    """The serving benchmark's model bundle and demo CRM folder under `workdir`, made there if
    missing (its large CRM is not needed: made with 1,000 leads)."""
    import importlib.util

    loader = importlib.util.spec_from_file_location("serving_benchmark", Path(__file__).with_name("serving.py"))
    bench = importlib.util.module_from_spec(loader)
    sys.modules["serving_benchmark"] = bench
    loader.loader.exec_module(bench)
    setup = bench.setup(workdir, 1_000, fresh=False)
    return setup["bundle"], workdir / "demo"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "results" / "serving-work")
    parser.add_argument("--logged", type=int, default=200_000, help="leads in the score log read from")
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--bundle", type=Path, help="a model bundle to use instead of the serving benchmark's "
                        "(then --crm: the demo CRM folder its leads come from)")
    parser.add_argument("--crm", type=Path)
    args = parser.parse_args()

    if args.bundle is None:
        args.bundle, args.crm = serving_setup(args.workdir)
    typical = typical_lead(args.crm)

    from serving.scorer import LeadScorer
    from serving.store import ScoreStore
    from serving.store.previous_scores import TrendReader

    scorer = LeadScorer.from_bundle_dir(args.bundle)
    as_of = datetime.fromisoformat(AS_OF)
    rows = []
    plain = median_ms(lambda: scorer.score_leads([typical], as_of=as_of, reasons=5), args.repeat)
    cooling = median_ms(lambda: scorer.score_leads([typical], as_of=as_of, reasons=5, cooling=True), args.repeat)
    rows += [("score one lead (scorer), without cooling", plain),
             ("score one lead (scorer), with cooling", cooling),
             ("  cooling's cost", cooling - plain)]

    with tempfile.TemporaryDirectory() as folder:
        store = ScoreStore(f"sqlite:///{folder}/log.db", background=False, batch_rows=50_000)
        spec = scorer.spec.name
        ids = [f"B{i:08d}" for i in range(args.logged)]
        for start in range(0, len(ids), 50_000):
            chunk = ids[start:start + 50_000]
            store.log_scores([(lead_id, 0.3, "not yet", "v1") for lead_id in chunk], as_of - timedelta(days=7),
                             spec=spec, inputs=[("{}", None)] * len(chunk))
            store.flush()
        reader = TrendReader(store.engine, spec)
        known = ids[len(ids) // 2]
        thousand = ids[::max(1, len(ids) // 1000)][:1000]
        rows += [(f"trend read, 1 logged lead ({args.logged:,} in the log)",
                  median_ms(lambda: reader.trends([known], [0.4], as_of), args.repeat)),
                 ("trend read, 1 lead never logged", median_ms(lambda: reader.trends(["nobody"], [0.4], as_of),
                                                             args.repeat)),
                 ("trend read, 1,000 logged leads", median_ms(lambda: reader.trends(thousand, [0.4] * 1000, as_of),
                                                             max(20, args.repeat // 50)))]
        store.close()

    width = max(len(name) for name, _ in rows)
    print(f"one lead: {len(typical['activities'])} activities; the log: {args.logged:,} leads (SQLite)")
    print(f"{'step':<{width}}  median ms")
    for name, ms in rows:
        print(f"{name:<{width}}  {ms:9.3f}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
