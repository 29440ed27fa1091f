"""Why the score log has no lead_id index: the cost of logging 1,000 scores into a big log.

    .venv/bin/python benchmarks/score_log.py [--rows 1500000]

Two layouts in SQLite (WAL, synchronous=NORMAL, as the service opens it), each first filled
with --rows logged scores, then timed over 30 more batches of 1,000:

  * indexed: the log with indexes on lead_id and scored_at (the layout before scored_leads);
  * service: the log indexed on scored_at only, plus scored_leads (one row per lead, upserted),
    the statements serving.store runs.

Two kinds of traffic: the same 1,000 leads scored again and again (what a benchmark loop
sends), and new leads every time (random ids). Rows go in the way the service writes them.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

LOG = ("CREATE TABLE score_log (id INTEGER PRIMARY KEY AUTOINCREMENT, lead_id VARCHAR(1000) NOT NULL, "
       "scored_at DATETIME NOT NULL, probability FLOAT NOT NULL, stage VARCHAR(16) NOT NULL, "
       "model_version VARCHAR(64) NOT NULL)")


def open_db(path: Path, layout: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(LOG)
    conn.execute("CREATE INDEX ix_score_log_scored_at ON score_log (scored_at)")
    if layout == "indexed":
        conn.execute("CREATE INDEX ix_score_log_lead_id ON score_log (lead_id)")
    else:
        conn.execute("CREATE TABLE scored_leads (lead_id VARCHAR(1000) PRIMARY KEY, first_scored_at DATETIME "
                     "NOT NULL, last_scored_at DATETIME NOT NULL)")
    return conn


def log_batch(conn: sqlite3.Connection, layout: str, ids: list[str], stamp: str) -> None:
    from pydantic_core import to_json

    from serving.store import _SQLITE_LOG_JSON, _SQLITE_MARK_SCORED_JSON  # the service's statements

    payload = to_json([(lead_id, stamp, 0.25, "MQL", "1") for lead_id in ids]).decode()
    with conn:
        conn.execute(_SQLITE_LOG_JSON, (payload,))
        if layout == "service":
            conn.execute(_SQLITE_MARK_SCORED_JSON, (payload,))


def measure(layout: str, traffic: str, rows: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-score-log-") as folder:
        conn = open_db(Path(folder) / "log.db", layout)
        same = [f"L{8000 + i:07d}" for i in range(1000)]
        rng = random.Random(7)

        def new_ids() -> list[str]:  # ids in no particular order, as CRMs hand them out
            return [f"{rng.getrandbits(64):016x}" for _ in range(1000)]

        batches = rows // 1000
        for b in range(batches):  # fill
            ids = same if traffic == "same" else new_ids()
            log_batch(conn, layout, ids, f"2026-11-01 00:00:00.{b:06d}")
        times = []
        for b in range(30):
            ids = same if traffic == "same" else new_ids()
            started = time.perf_counter()
            log_batch(conn, layout, ids, f"2026-11-02 00:00:00.{b:06d}")
            times.append(time.perf_counter() - started)
        conn.close()
    times.sort()
    return times[len(times) // 2] * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_500_000, help="scores in the log before timing")
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"logging 1,000 scores into a log of {args.rows:,} (median of 30 batches)")
    for name in ("layout", "same 1,000 leads again", "new leads"):
        table.add_column(name, justify="left" if name == "layout" else "right")
    for layout, label in (("indexed", "log indexed on lead_id"), ("service", "log + scored_leads (the service)")):
        cells = [f"{measure(layout, traffic, args.rows):.1f} ms" for traffic in ("same", "new")]
        table.add_row(label, *cells)
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
