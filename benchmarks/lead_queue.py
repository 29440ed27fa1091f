"""What a page of the lead queue costs over 1,000,000 logged leads (target: <= 300 ms a page).

    .venv/bin/python benchmarks/lead_queue.py                        # build the store in /tmp, time
    .venv/bin/python benchmarks/lead_queue.py --db /tmp/queue.db     # a rerun reuses the store there
    .venv/bin/python benchmarks/lead_queue.py --leads 100000 --runs 5

The store (SQLite, opened as the service opens it) is built first, untimed, through the
writer's own path (ScoreLog.log_scores with spec= and inputs=, flushed through
StoreInserts.scores 20,000 scores at a time; outcomes through OutcomeStore): --leads leads
created over 180 days, each scored by the run of its 10 minutes, about 10% scored again 2 to 60
days later (their previous_* set), with plausible records: lead_source (8 values, skewed),
campaign (30, Zipf), industry (12), country (10), employee_count, and for most a few
activities. Probabilities from Beta(2, 5), stages by the thresholds 0.5 (SQL) and 0.2 (MQL);
5% of leads get an outcome. --db reuses a store built before with the same number of leads.

Then each query runs --runs times on one engine (the first run included: the database file is
in the page cache after the build); the table gives rows returned, whether a next page exists,
median and slowest time.

Last, what the queue's indexes cost the writer: one batch of 5,000 scores with records written
into that store (rolled back), with the three indexes and with the one scored_inputs had before.

Measured on this machine, 2 cores (1,000,000 leads, 1,082,766 scores, 47,904 outcomes; built in
127 s; `.venv/bin/python benchmarks/lead_queue.py --db /tmp/lead_queue.db`, a rerun on it):

    query                                         rows  next  median    slowest
    newest, page 1                                  50  yes     1.5 ms     4.0 ms
    ready, page 1                                   50  yes     1.3 ms     2.7 ms
    stage SQL (newest)                              50  yes     1.5 ms     2.7 ms
    stage MQL (ready)                               50  yes     1.2 ms     2.6 ms
    lead_source Reference (7%)                      50  yes     2.4 ms     4.0 ms
    campaign campaign-29 (rarest, 0.7%)             50  yes    11.2 ms    11.6 ms
    campaign campaign-29, page 10                   50  yes   109.5 ms   114.7 ms
    lead_source Reference + stage SQL               50  yes     7.5 ms     8.2 ms
    score 0.4-0.6 (newest)                          50  yes     3.1 ms     5.2 ms
    score 0.4-0.6 (ready)                           50  yes     1.3 ms     2.7 ms
    score >= 0.9 (newest; few leads)                50  yes     1.9 ms     3.8 ms
    id prefix, 4 characters                         15  no      1.1 ms     2.5 ms
    id prefix, 1 character (1/16 of leads)          50  yes    28.4 ms    31.6 ms
    newest, page 100                                50  yes     5.0 ms     5.4 ms
    ready, page 100                                 50  yes     1.7 ms     2.9 ms
    newest, page 1,000                              50  yes    31.5 ms    31.9 ms
    lead_source Facebook + campaign-29 (0.007%)     50  yes  1008.3 ms  1105.6 ms
    a value no lead has (walks every lead)           0  no   1564.3 ms  1783.0 ms
    lead_history: first scored early, once           1          0.5 ms     3.0 ms
    lead_history: early, again 59 days later         2         97.3 ms   108.8 ms
    lead_history: first scored recently              1          0.3 ms     0.9 ms
    latest_record                                    1          0.8 ms     2.1 ms

    5,000 scores written, scored_inputs indexed by    new leads   re-scored leads
    the queue's 3 indexes                              68.3 ms      514.6 ms
    before: (scored_at) only                           67.6 ms      284.4 ms

Every listed page is within 300 ms but a filter on the record that almost no lead matches: the
page walks the whole queue's index to find its rows (about 1.6 us a lead; 0.007%: 1 s, none:
1.6 s). The score history of a lead scored again long after its first score reads the log of
that span (ix_score_log_scored_at; the log has no lead_id index on purpose): 59 days of 180,
97 ms. Offset pages cost about 30 us a page skipped (page 1,000: 31 ms). Re-scoring a known
lead moves its entries in the three indexes: a batch of 5,000 re-scores takes 0.23 s more in
the background writer. Load from other work on the machine varied between runs (the slowest
column); an earlier run under load gave up to 2x these medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from serving.store import (Outcome, OutcomeStore, ScoreLog, StoreInserts, create_tables, make_engine,  # noqa: E402
                           score_log, scored_leads)
from serving.store.lead_queue import QueueQuery, latest_record, lead_history, queue_page  # noqa: E402

SPEC = "bench-crm"
END = datetime(2026, 11, 1)
DAYS = 180
RUN = timedelta(minutes=10)
BATCH = 20_000
SOURCES = {"Google": 0.34, "Direct Traffic": 0.24, "Olark Chat": 0.15, "Organic Search": 0.12,
           "Reference": 0.07, "Welingak Website": 0.04, "Referral Sites": 0.03, "Facebook": 0.01}
CAMPAIGNS = [f"campaign-{i:02d}" for i in range(30)]
INDUSTRIES = ["software", "banking", "retail", "health", "education", "logistics", "media", "energy",
              "telecom", "insurance", "manufacturing", "government"]
COUNTRIES = ["India", "United States", "United Kingdom", "Germany", "France", "Brazil", "Singapore",
             "Australia", "Canada", "UAE"]
ACTIVITY_TYPES = ["email_open", "page_visit", "form_submit", "webinar", "demo_request"]
EPOCH = datetime(1970, 1, 1)


def stage_of(p: float) -> str:
    return "SQL" if p >= 0.5 else "MQL" if p >= 0.2 else "not yet"


class Leads:
    """The generated leads: ids, creation times, categorical codes, scores."""

    def __init__(self, n: int, seed: int = 7):
        rng = np.random.default_rng(seed)
        ids: set[str] = set()
        while len(ids) < n:  # ids in no particular order, as CRMs hand them out
            ids.update(f"{x:010x}" for x in rng.integers(0, 2**40, n - len(ids)))
        self.ids = list(ids)
        rng.shuffle(self.ids)
        start = END - timedelta(days=DAYS)
        self.created = [start + timedelta(seconds=float(s))
                        for s in np.sort(rng.uniform(0, DAYS * 86400 - 3600, n))]
        self.source = rng.choice(len(SOURCES), n, p=list(SOURCES.values()))
        zipf = 1 / np.arange(1, len(CAMPAIGNS) + 1) ** 1.1
        self.campaign = rng.choice(len(CAMPAIGNS), n, p=zipf / zipf.sum())
        self.industry = rng.integers(0, len(INDUSTRIES), n)
        falling = np.linspace(3, 1, len(COUNTRIES))
        self.country = rng.choice(len(COUNTRIES), n, p=falling / falling.sum())
        self.employees = rng.lognormal(4, 1.5, n).astype(int) + 1
        self.activity_counts = np.where(rng.random(n) < 0.8, rng.integers(1, 9, n), 0)
        self.first_p = rng.beta(2, 5, n)
        self.again = rng.random(n) < 0.10
        self.again_after = rng.uniform(2, 60, n)
        self.second_p = np.clip(self.first_p + rng.normal(0, 0.1, n), 0, 1)
        self.rng = rng

    def record(self, i: int, at: datetime) -> tuple[str, str | None]:
        lead = {"lead_id": self.ids[i], "created_at": self.created[i].isoformat(),
                "lead_source": list(SOURCES)[self.source[i]], "campaign": CAMPAIGNS[self.campaign[i]],
                "industry": INDUSTRIES[self.industry[i]], "country": COUNTRIES[self.country[i]],
                "employee_count": int(self.employees[i])}
        k = int(self.activity_counts[i])
        if not k:
            return json.dumps(lead), None
        created_ns = int((self.created[i] - EPOCH).total_seconds() * 1e9)
        span = max(1, int((at - self.created[i]).total_seconds() * 1e9))
        acts = [[created_ns + span * j // k, ACTIVITY_TYPES[(i + j) % len(ACTIVITY_TYPES)], None] for j in range(k)]
        return json.dumps(lead), json.dumps(acts)


def run_of(at: datetime) -> datetime:
    """The scoring run that scored a lead at `at`: the end of its 10 minutes."""
    return EPOCH + RUN * ((at - EPOCH) // RUN + 1)


def build(path: Path, n: int) -> Leads:
    started = time.perf_counter()
    leads = Leads(n)
    events: dict[datetime, list[tuple[int, float]]] = {}
    for i in range(n):
        first = run_of(leads.created[i])
        events.setdefault(first, []).append((i, float(leads.first_p[i])))
        if leads.again[i]:
            second = run_of(leads.created[i] + timedelta(days=float(leads.again_after[i])))
            if second < END:
                events.setdefault(second, []).append((i, float(leads.second_p[i])))
    engine = make_engine(f"sqlite:///{path}")
    create_tables(engine)
    inserts = StoreInserts(engine.dialect)
    writer = ScoreLog(engine, inserts, background=False, batch_rows=BATCH, max_buffered=10**9)
    last_score: dict[int, tuple[datetime, float]] = {}
    for at in sorted(events):
        batch = events[at]
        writer.log_scores([(leads.ids[i], p, stage_of(p), "bench-1") for i, p in batch], at, spec=SPEC, as_of=at,
                          inputs=[leads.record(i, at) for i, _ in batch])
        for i, p in batch:
            last_score[i] = (at, p)
        if writer.buffered >= BATCH:
            writer.flush()
    writer.flush()
    rng = np.random.default_rng(11)
    closing = [i for i in rng.choice(n, n // 20, replace=False).tolist() if last_score[i][0] < END - timedelta(days=7)]
    store = OutcomeStore(engine, inserts)
    items = [Outcome(leads.ids[i], "won" if rng.random() < last_score[i][1] else "lost",
                     last_score[i][0] + timedelta(days=float(rng.uniform(1, 7)))) for i in closing]
    for start in range(0, len(items), BATCH):
        store.record_outcomes(items[start:start + BATCH], END)
    engine.dispose()
    print(f"built {path}: {n:,} leads, {sum(map(len, events.values())):,} scores, {len(items):,} outcomes "
          f"in {time.perf_counter() - started:.0f} s")
    return leads


def timed(function, runs: int) -> tuple[object, float, float]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return result, statistics.median(times) * 1e3, max(times) * 1e3


QUEUE_INDEXES = ("ix_scored_inputs_spec_scored_at", "ix_scored_inputs_spec_probability",
                 "ix_scored_inputs_spec_stage_probability")


def write_costs(engine, leads: Leads, runs: int) -> list[tuple[str, float, float]]:
    """Median ms to write one batch of 5,000 scores with records (StoreInserts.scores, rolled
    back each time), of new leads and of leads scored before, with the queue's indexes and with
    the one index scored_inputs had before them (made inside the same rolled-back transaction,
    untimed)."""
    inserts = StoreInserts(engine.dialect)
    at = END + timedelta(hours=1)
    known = [leads.ids[i] for i in range(0, len(leads.ids), max(1, len(leads.ids) // 5000))][:5000]
    batches = {"new leads": [f"new-{i:06d}" for i in range(5000)], "re-scored leads": known}
    out = []
    for layout in ("the queue's 3 indexes", "before: (scored_at) only"):
        medians = []
        for ids in batches.values():
            rows = [(lead_id, at, 0.5, "SQL", "bench-2", SPEC) for lead_id in ids]
            inputs = [(SPEC, lead_id, at, at, leads.record(k % len(leads.ids), at)[0], None, 0.5, "SQL", "bench-2",
                       None, None) for k, lead_id in enumerate(ids)]
            times = []
            for _ in range(runs):
                with engine.connect() as conn:  # pysqlite leaves DDL out of its transactions: a savepoint
                    conn.exec_driver_sql("SAVEPOINT bench")
                    if layout.startswith("before"):
                        for name in QUEUE_INDEXES:
                            conn.exec_driver_sql(f"DROP INDEX {name}")
                        conn.exec_driver_sql("CREATE INDEX ix_scored_inputs_scored_at ON scored_inputs (scored_at)")
                    started = time.perf_counter()
                    inserts.scores(conn, rows, inputs)
                    times.append(time.perf_counter() - started)
                    conn.exec_driver_sql("ROLLBACK TO bench")
                    conn.exec_driver_sql("RELEASE bench")
            medians.append(statistics.median(times) * 1e3)
        out.append((layout, *medians))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="the store's file: reused when it holds --leads leads")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    from rich.console import Console
    from rich.table import Table

    path = args.db or Path(f"/tmp/leadscore-bench-lead-queue-{args.leads}.db")
    engine = make_engine(f"sqlite:///{path}") if path.exists() else None
    if engine is not None:
        create_tables(engine)  # an older build: migrated as the service would
        with engine.connect() as conn:
            held = conn.execute(select(func.count()).select_from(scored_leads)).scalar_one()
        if held != args.leads:
            engine.dispose()
            engine = None
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    if engine is None:
        leads = build(path, args.leads)
        engine = make_engine(f"sqlite:///{path}")
    else:
        leads = Leads(args.leads)  # the same seed: the same leads
        print(f"reusing {path} ({args.leads:,} leads)")

    with engine.connect() as conn:
        scores = conn.execute(select(func.count()).select_from(score_log)).scalar_one()
        spans = conn.execute(select(scored_leads.c.lead_id, scored_leads.c.first_scored_at,
                                    scored_leads.c.last_scored_at)
                             .order_by(scored_leads.c.first_scored_at).limit(2000)).all()
        recent = conn.execute(select(scored_leads.c.lead_id).order_by(scored_leads.c.first_scored_at.desc())
                              .limit(1)).scalar_one()
    early_once = next(row.lead_id for row in spans if row.first_scored_at == row.last_scored_at)
    early_again = max(spans, key=lambda row: row.last_scored_at - row.first_scored_at)
    rare = CAMPAIGNS[-1]
    some_id = spans[len(spans) // 2].lead_id

    def page(**fields):
        return lambda: queue_page(engine, QueueQuery(spec=SPEC, **fields))

    cases = [
        ("newest, page 1", page()),
        ("ready, page 1", page(order="ready")),
        ("stage SQL (newest)", page(stage="SQL")),
        ("stage MQL (ready)", page(stage="MQL", order="ready")),
        ("lead_source Reference (7%)", page(dimensions={"lead_source": "reference"})),
        (f"campaign {rare} (rarest, 0.7%)", page(dimensions={"campaign": rare})),
        (f"campaign {rare}, page 10", page(dimensions={"campaign": rare}, page=10)),
        ("lead_source Reference + stage SQL", page(dimensions={"lead_source": "Reference"}, stage="SQL")),
        ("score 0.4-0.6 (newest)", page(min_probability=0.4, max_probability=0.6)),
        ("score 0.4-0.6 (ready)", page(min_probability=0.4, max_probability=0.6, order="ready")),
        ("score >= 0.9 (newest; few leads)", page(min_probability=0.9)),
        ("id prefix, 4 characters", page(lead_id=some_id[:4])),
        ("id prefix, 1 character (1/16 of leads)", page(lead_id=some_id[:1])),
        ("newest, page 100", page(page=100)),
        ("ready, page 100", page(page=100, order="ready")),
        ("newest, page 1,000", page(page=1000)),
        (f"lead_source Facebook + campaign {rare} (0.007%)",
         page(dimensions={"lead_source": "Facebook", "campaign": rare})),
        ("a value no lead has (walks every lead)", page(dimensions={"campaign": "no-such-campaign"})),
        ("lead_history: first scored early, once", lambda: lead_history(engine, SPEC, early_once)),
        (f"lead_history: early, again {(early_again.last_scored_at - early_again.first_scored_at).days} days later",
         lambda: lead_history(engine, SPEC, early_again.lead_id)),
        ("lead_history: first scored recently", lambda: lead_history(engine, SPEC, recent)),
        ("latest_record", lambda: latest_record(engine, SPEC, some_id)),
    ]
    table = Table(title=f"the lead queue over {args.leads:,} leads ({scores:,} scores), "
                        f"{args.runs} runs each")
    for name in ("query", "rows", "next page", "median", "slowest"):
        table.add_column(name, justify="left" if name == "query" else "right")
    for name, function in cases:
        result, median, slowest = timed(function, args.runs)
        if hasattr(result, "rows"):
            rows, more = len(result.rows), "yes" if result.has_next else "no"
        else:
            rows, more = (len(result) if isinstance(result, list) else int(result is not None)), ""
        table.add_row(name, str(rows), more, f"{median:.1f} ms", f"{slowest:.1f} ms")
    console = Console()
    console.print(table)
    writes = Table(title=f"writing 5,000 scores with their records into that store (StoreInserts.scores, "
                         f"median of {args.runs}, rolled back)")
    for name in ("scored_inputs indexed by", "new leads", "re-scored leads"):
        writes.add_column(name, justify="left" if name.startswith("scored_inputs") else "right")
    for layout, new, again in write_costs(engine, leads, args.runs):
        writes.add_row(layout, f"{new:.1f} ms", f"{again:.1f} ms")
    console.print(writes)
    engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
