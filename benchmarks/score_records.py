"""What logging each lead's record costs batch scoring: `leadscore score` writes, besides the
score, every lead as scored (features.logged: profile and activities known at --as-of) so that
the report and retraining can read them back.

    .venv/bin/python benchmarks/score_records.py [--leads 200000] [--workdir DIR]

Generates a demo CRM (leadscore.jobs.generate), reads it as batch scoring does
(features.load.load_clean), and times, in this process: making the records
(features.logged.records_from_tables), writing the scores with their records through the
store's one insert path, and writing the same scores without records. Prints a table and the
database's size per lead.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=None, help="folder for the CRM and the database "
                        "(default: a temporary one)")
    args = parser.parse_args()
    import pandas as pd

    from features.load import load_clean
    from features.logged import records_from_tables
    from features.spec import load_spec
    from leadscore.jobs.generate import run_generate
    from serving.store import ScoreStore

    work = args.workdir or Path(tempfile.mkdtemp(prefix="score-records-"))
    work.mkdir(parents=True, exist_ok=True)
    run_generate(work / "crm", args.leads, seed=3, show_progress=False, print_summary=False)
    spec = load_spec(ROOT / "data" / "specs" / "demo_crm.yaml")
    _, tables, _ = load_clean(spec, work / "crm")
    as_of = datetime(2026, 11, 1)
    rows = [(lead_id, 0.5, "MQL", "1") for lead_id in tables.leads["lead_id"].astype(str)]
    figures = []

    started = time.perf_counter()
    records = records_from_tables(spec, tables.leads, tables.activities, as_of)
    figures.append(("make the records", time.perf_counter() - started))
    size = sum(len(lead) + len(acts or "") for lead, acts in records)

    database = work / "leadscore.db"
    database.unlink(missing_ok=True)
    store = ScoreStore(f"sqlite:///{database}", background=False)
    try:
        started = time.perf_counter()
        store.log_scores(rows, as_of, spec=spec.name, as_of=as_of, inputs=records)
        store.flush()
        figures.append(("write scores with records", time.perf_counter() - started))
        started = time.perf_counter()
        store.log_scores(rows, as_of, spec=spec.name)
        store.flush()
        figures.append(("write scores alone", time.perf_counter() - started))
    finally:
        store.close()
    n, acts = len(tables.leads), len(tables.activities)
    print(f"{n:,} leads, {acts:,} activities; records {size / 2**20:,.0f} MiB of JSON, database "
          f"{database.stat().st_size / n:,.0f} bytes per lead")
    print(f"{'step':<28}{'seconds':>9}{'leads/s':>12}")
    for step, seconds in figures:
        print(f"{step:<28}{seconds:>9.2f}{n / seconds:>12,.0f}")
    extra = figures[0][1] + figures[1][1] - figures[2][1]
    print(f"{'records add':<28}{extra:>9.2f}   ({extra / n * 1e6:.1f} µs a lead)")


if __name__ == "__main__":
    main()
