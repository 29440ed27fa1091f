"""What a durable score costs: how long a request waits, from queuing its scores to the score
log's commit (serving.store.score_writer's group commit), as `/score` waits before answering.

    .venv/bin/python benchmarks/durable_write.py [--requests 300] [--leads 1 10]

One process, the service's writer thread, a fresh SQLite database (WAL, synchronous=NORMAL) in a
temporary folder; each request logs --leads scores with their records (a small lead, no
activities) and waits on its receipt, one request at a time (the 1-connection case). Prints a
table: leads per request, median, p99 and maximum wait in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]  # benchmarks/serving.py
sys.path.insert(0, str(ROOT))


async def waits(store, requests: int, leads: int) -> list[float]:
    out = []
    for i in range(requests):
        ids = [f"R{i}-{j}" for j in range(leads)]
        start = time.perf_counter()
        receipt = store.log_scores([(lead, 0.5, "MQL", "1") for lead in ids], datetime(2026, 11, 30), spec="bench",
                                   inputs=[(json.dumps({"lead_id": lead}), None) for lead in ids])
        await receipt.durable()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--leads", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    from serving.store import ScoreStore

    table = Table(title=f"a request waits for its scores' commit ({args.requests} requests, one at a time)")
    for column in ("leads per request", "median ms", "p99 ms", "max ms"):
        table.add_column(column, justify="right")
    for leads in args.leads:
        with tempfile.TemporaryDirectory() as folder:
            store = ScoreStore(f"sqlite:///{Path(folder) / 'bench.db'}")
            try:
                times = sorted(asyncio.run(waits(store, args.requests, leads)))
            finally:
                store.close()
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        table.add_row(str(leads), f"{statistics.median(times) * 1000:.2f}", f"{p99 * 1000:.2f}",
                      f"{times[-1] * 1000:.2f}")
    Console().print(table)


if __name__ == "__main__":
    main()
