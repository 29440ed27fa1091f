"""What logging scores costs, as the service writes them (SQLite, WAL, synchronous=NORMAL).

    .venv/bin/python benchmarks/score_log.py [--rows 1500000]

Table 1, why the score log has no lead_id index: two layouts, each first filled with --rows
logged scores, then timed over 30 more batches of 1,000:

  * indexed: the log with indexes on lead_id and scored_at (the layout before scored_leads);
  * service: the log indexed on scored_at only, plus scored_leads (one row per lead, upserted).

Two kinds of traffic: the same 1,000 leads scored again and again (what a benchmark loop
sends), and new leads every time (random ids). Rows go in through serving.store's inserts.

Table 2, why a batch goes in as one JSON text (serving.store.inserts): batches of 1,000 and
5,000 scores into a fresh database (median of 30), written the service's way or row by row
through SQLAlchemy's executemany (the two take turns batch by batch), alone and beside a busy Python thread (a stand-in for the
thread scoring the next request), with that thread's longest stall during the write.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from serving.store import LOG_KEYS, StoreInserts, create_tables, make_engine, score_log, scored_leads  # noqa: E402

LOG = ("CREATE TABLE score_log (id INTEGER PRIMARY KEY AUTOINCREMENT, lead_id VARCHAR(1000) NOT NULL, "
       "scored_at DATETIME NOT NULL, probability FLOAT NOT NULL, stage VARCHAR(16) NOT NULL, "
       "model_version VARCHAR(64) NOT NULL)")
START = datetime(2026, 11, 1)


def open_db(path: Path, layout: str):
    engine = make_engine(f"sqlite:///{path}")  # WAL and synchronous=NORMAL, as the service opens it
    with engine.begin() as conn:
        conn.exec_driver_sql(LOG)
        conn.exec_driver_sql("CREATE INDEX ix_score_log_scored_at ON score_log (scored_at)")
        if layout == "indexed":
            conn.exec_driver_sql("CREATE INDEX ix_score_log_lead_id ON score_log (lead_id)")
        else:
            conn.exec_driver_sql("CREATE TABLE scored_leads (lead_id VARCHAR(1000) PRIMARY KEY, first_scored_at "
                                 "DATETIME NOT NULL, last_scored_at DATETIME NOT NULL)")
    return engine


def log_batch(engine, inserts: StoreInserts, layout: str, ids: list[str], at: datetime) -> None:
    rows = [(lead_id, at, 0.25, "MQL", "1") for lead_id in ids]
    with engine.begin() as conn:
        if layout == "service":
            inserts.scores(conn, rows)  # what the service's writer runs
        else:
            conn.execute(inserts.log, {"rows": inserts.score_rows(rows)})


def measure_layout(layout: str, traffic: str, rows: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-score-log-") as folder:
        engine = open_db(Path(folder) / "log.db", layout)
        inserts = StoreInserts(engine.dialect)
        same = [f"L{8000 + i:07d}" for i in range(1000)]
        rng = random.Random(7)

        def new_ids() -> list[str]:  # ids in no particular order, as CRMs hand them out
            return [f"{rng.getrandbits(64):016x}" for _ in range(1000)]

        for b in range(rows // 1000):  # fill
            log_batch(engine, inserts, layout, same if traffic == "same" else new_ids(), START + timedelta(microseconds=b))
        times = []
        for b in range(30):
            ids = same if traffic == "same" else new_ids()
            started = time.perf_counter()
            log_batch(engine, inserts, layout, ids, START + timedelta(days=1, microseconds=b))
            times.append(time.perf_counter() - started)
        engine.dispose()
    return statistics.median(times) * 1e3


def row_by_row(conn, rows: list[tuple]) -> None:
    """The alternative: SQLAlchemy's executemany, one bound row at a time (then the upsert)."""
    from sqlalchemy.dialects.sqlite import insert

    conn.execute(score_log.insert(), [dict(zip(LOG_KEYS, row)) for row in rows])
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    for lead_id, at, *_ in rows:
        first.setdefault(lead_id, at)
        last[lead_id] = at
    upsert = insert(scored_leads)
    conn.execute(upsert.on_conflict_do_update(index_elements=[scored_leads.c.lead_id],
                                              set_={"last_scored_at": upsert.excluded.last_scored_at}),
                 [{"lead_id": k, "first_scored_at": first[k], "last_scored_at": v} for k, v in sorted(last.items())])


def busy(stop: threading.Event, stalls: list[float]) -> None:
    """Short pure-Python steps, like scoring; records the longest gap between two steps."""
    last, worst = time.perf_counter(), 0.0
    while not stop.is_set():
        total = 0
        for i in range(2000):
            total += i
        now = time.perf_counter()
        worst, last = max(worst, now - last), now
    stalls.append(worst)


def measure_paths(n: int, beside_busy: bool, batches: int = 30) -> dict[str, tuple[float, float]]:
    """Median write time and median longest stall of the busy thread, per way of writing; the
    two ways take turns batch by batch (each on its own database), so both meet the same load."""
    with tempfile.TemporaryDirectory(prefix="bench-score-log-") as folder:
        engines = {path: make_engine(f"sqlite:///{Path(folder) / path}.db") for path in ("json", "rows")}
        for engine in engines.values():
            create_tables(engine)
        paths = {"json": StoreInserts(engines["json"].dialect).scores, "rows": row_by_row}
        times: dict[str, list[float]] = {path: [] for path in paths}
        stalls: dict[str, list[float]] = {path: [] for path in paths}
        for b in range(batches):
            at = START + timedelta(seconds=b)
            rows = [(f"L{(b * 7919 + i) % 20000:06d}", at, i / n, "MQL", "7") for i in range(n)]
            for path, write in paths.items():
                stop, thread = threading.Event(), None
                if beside_busy:
                    thread = threading.Thread(target=busy, args=(stop, stalls[path]))
                    thread.start()
                    time.sleep(0.01)
                started = time.perf_counter()
                with engines[path].begin() as conn:
                    write(conn, rows)
                times[path].append(time.perf_counter() - started)
                if thread is not None:
                    stop.set()
                    thread.join()
        for engine in engines.values():
            engine.dispose()
    return {path: (statistics.median(times[path]) * 1e3,
                   statistics.median(stalls[path]) * 1e3 if stalls[path] else float("nan")) for path in paths}


def print_layouts(console, rows: int) -> None:
    from rich.table import Table

    table = Table(title=f"logging 1,000 scores into a log of {rows:,} (median of 30 batches)")
    for name in ("layout", "same 1,000 leads again", "new leads"):
        table.add_column(name, justify="left" if name == "layout" else "right")
    for layout, label in (("indexed", "log indexed on lead_id"), ("service", "log + scored_leads (the service)")):
        table.add_row(label, *[f"{measure_layout(layout, traffic, rows):.1f} ms" for traffic in ("same", "new")])
    console.print(table)


def print_batches(console) -> None:
    from rich.table import Table

    table = Table(title="how a batch goes in: a fresh log (median of 30 batches)")
    for name in ("rows", "written as", "alone", "beside a busy thread", "its longest stall"):
        table.add_column(name, justify="left" if name == "written as" else "right")
    for n in (1_000, 5_000):
        alone, beside = measure_paths(n, False), measure_paths(n, True)
        for path, label in (("json", "one JSON text (service)"), ("rows", "executemany")):
            table.add_row(f"{n:,}", label, f"{alone[path][0]:.1f} ms", f"{beside[path][0]:.1f} ms",
                          f"{beside[path][1]:.1f} ms")
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_500_000, help="scores in the log before timing (table 1)")
    parser.add_argument("--only", choices=("layouts", "batches"), help="print one of the two tables")
    args = parser.parse_args()
    from rich.console import Console

    console = Console()
    if args.only != "batches":
        print_layouts(console, args.rows)
    if args.only != "layouts":
        print_batches(console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
