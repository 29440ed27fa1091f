"""What the outcome report costs over a large score log (issue 11: <= 30 s for 1M logged scores
and 200k outcomes on the project's 2-core machine).

    .venv/bin/python benchmarks/report.py                 # build the store, then time the report
    .venv/bin/python benchmarks/report.py --reuse         # time it again on the store built before
    .venv/bin/python benchmarks/report.py --scores 200000 --leads 120000 --outcomes 40000

The store (SQLite, as the service opens it) is built under --cache, untimed: --scores logged
scores of --leads leads of the demo spec (data/specs/demo_crm.yaml) over --weeks weeks up to
--end, scored by a real model in runs every 6 hours, each lead first within a day of its
creation and some again 2 to 60 days later; every score with the lead's record as batch
scoring logs it (features.logged.records_from_tables: the profile, report_by columns
lead_source and campaign included, and the activities known at scoring time, a few per lead).
Leads are drawn from a generated demo CRM (--template-leads, profile and activities), with new
ids and their times moved into the period. Then --outcomes deals closed after their lead's last
score, won with the probability that score gave. Everything goes in through the store's one
insert path (ScoreStore.log_scores with spec= and inputs=, OutcomeStore.record_outcomes), in
big batches.

The model: a small LightGBM trained here on the template CRM with the test suite's quick
settings, its training profile (drift reference) kept as `leadscore train` keeps it; or
--bundle PATH.

Timed in a fresh child process: `serving.report.report_from_store` over the whole period,
exactly as `leadscore report` and `GET /report` call it, with each step it goes through timed
in place (its functions wrapped, not copied). The table: step, seconds, the process's peak RSS
by the end of the step. The report's JSON is written under --cache with its SHA-256 printed,
so two runs (before and after a change) can be checked to give the very same report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from _child import demo_crm, measure  # noqa: E402

DEMO_SPEC = ROOT / "data" / "specs" / "demo_crm.yaml"
TARGET_SECONDS = 30.0
RUNS_PER_DAY = 4
QUICK_TRAINING = {  # tests/conftest.py's FAST_CONFIG: a small model is all the report needs
    "model": {"learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20, "max_trees": 300,
              "early_stopping_rounds": 30, "n_jobs": 1},
    "calibration_folds": 3,
    "stages": {"min_stage_leads": 10},
    "promotion": {"max_ece": 0.06, "max_baseline_drop": 0.02, "bootstrap_resamples": 200},
    "candidates": ["lightgbm"],
}

# ---------------------------------------------------------------------------------- the child
CHILD = r"""
import hashlib, json, resource, sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from serving.scorer import LeadScorer
from serving.store import make_engine
import serving.report
import serving.store.report_inputs as report_inputs
import monitoring.inputs as inputs
import monitoring.report as report_module

def rss_gib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30

imported = time.perf_counter()
scorer = LeadScorer.from_bundle_dir(sys.argv[3])
engine = make_engine(sys.argv[2])
loaded = time.perf_counter()
before = rss_gib()

seconds, peaks, calls, running = {}, {}, {}, []
def timed(module, name, step):
    # calls of module.name count as `step`, less the time of the timed steps they call
    function = getattr(module, name, None)
    if function is None:
        return
    def wrapper(*args, **kwargs):
        running.append(0.0)
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent = time.perf_counter() - start
            inner = running.pop()
            if running:
                running[-1] += spent
            seconds[step] = seconds.get(step, 0.0) + spent - inner
            peaks[step] = rss_gib()
            calls[step] = calls.get(step, 0) + 1
    setattr(module, name, wrapper)

for module, name, step in [
        (report_inputs, "latest_scores", "read scores"), (report_inputs, "outcome_frame", "read outcomes"),
        (report_inputs, "logged_records", "read records"),
        (inputs, "logged_canonical", "canonicalise records"),
        (inputs, "dimensions_and_drift", "split recent, join parts"),
        (inputs, "only_leads", "split recent, join parts"),
        (inputs, "with_dimensions", "report_by dimensions"),
        (inputs, "drift_inputs", "drift inputs"), (report_module, "build_report", "build report"),
        (report_module, "feature_drift", "  drift (PSI)")]:
    timed(module, name, step)

start = time.perf_counter()
report = serving.report.report_from_store(engine, scorer, None, None)
total = time.perf_counter() - start
text = json.dumps(report, sort_keys=True, allow_nan=False)
with open(sys.argv[4], "w") as out:
    out.write(text)
period = report["period"]
print(json.dumps({
    "import_seconds": imported - started, "bundle_seconds": loaded - imported, "rss_before_gib": before,
    "steps": seconds, "peaks": peaks, "calls": calls, "total": total, "rss_after_gib": rss_gib(),
    "sha256": hashlib.sha256(text.encode()).hexdigest(),
    "leads": period["leads"], "closed": period["closed"], "open": period["open"],
    "verdicts": [s["verdict"] for s in report["stages"]],
    "dimensions": {k: len(v) for k, v in report["by_dimension"].items()},
    "drift": [(d["feature"], d["psi"], d["current_n"]) for d in report["drift"]],
}))
"""

STEP_ORDER = ["read scores", "read outcomes", "read records", "canonicalise records", "split recent, join parts",
              "report_by dimensions", "drift inputs", "build report", "  drift (PSI)"]


def time_report(url: str, bundle: Path, out: Path) -> dict:
    return measure(CHILD, str(ROOT), url, str(bundle), str(out))


def print_table(row: dict, title: str) -> None:
    steps = row["steps"]
    accounted = sum(steps.values())
    print(title)
    header = f"{'step':<26} {'seconds':>8} {'peak RSS GiB':>13}"
    print(header)
    print("-" * len(header))
    print(f"{'(imports, model bundle)':<26} {row['import_seconds'] + row['bundle_seconds']:>8.2f} "
          f"{row['rss_before_gib']:>13.2f}")
    for step in [s for s in STEP_ORDER if s in steps] + [s for s in steps if s not in STEP_ORDER]:
        print(f"{step:<26} {steps[step]:>8.2f} {row['peaks'][step]:>13.2f}")
    print(f"{'other (report_from_store)':<26} {row['total'] - accounted:>8.2f}")
    ok = row["total"] <= TARGET_SECONDS
    print(f"{'total (report_from_store)':<26} {row['total']:>8.2f} {row['rss_after_gib']:>13.2f}   "
          f"target <= {TARGET_SECONDS:.0f} s: {'pass' if ok else 'FAIL'}")
    print(f"{'child process (wall)':<26} {row['seconds']:>8.2f} {row['peak_gib']:>13.2f}")
    print(f"report: {row['leads']:,} leads, {row['closed']:,} closed, {row['open']:,} open; "
          f"by_dimension values {row['dimensions']}; drift on {row['drift'][0][2] if row['drift'] else 0:,} "
          f"recent leads ({len(row['drift'])} features)")
    for verdict in row["verdicts"]:
        print(f"   {verdict}")
    print(f"report JSON sha256 {row['sha256']}")


# ---------------------------------------------------------------------------------- the model
def train_bundle(folder: Path, crm: Path) -> Path:
    """A small model of the demo spec trained on `crm`, saved as a bundle (tests' `trained`)."""
    from features.examples import build_examples
    from features.load import load_clean
    from features.profile import DataProfile
    from features.spec import load_spec
    from training.config import TrainingConfig
    from training.trainer import train_model

    spec = load_spec(DEMO_SPEC)
    _, tables, _ = load_clean(spec, crm)
    examples = build_examples(spec, tables)
    result = train_model(spec, examples, tables.activities, TrainingConfig.model_validate(QUICK_TRAINING))
    bundle = result.bundle
    bundle.card = {"version": "bench", "spec": spec.name}
    bundle.spec_yaml = DEMO_SPEC.read_text()
    bundle.profile = DataProfile.from_tables(spec, tables).model_dump(mode="json")
    return bundle.save(folder)


# ---------------------------------------------------------------------------------- the store
class Templates:
    """The template CRM's canonical leads and, per lead, its activities as times relative to
    its creation, to draw new leads from."""

    def __init__(self, spec, crm: Path):
        import numpy as np
        import pandas as pd

        from features.load import LEAD_ID, OCCURRED_AT, load_clean

        _, tables, _ = load_clean(spec, crm)
        self.leads = tables.leads.reset_index(drop=True)
        created = self.leads["created_at"].to_numpy("datetime64[ns]").view(np.int64)
        acts = tables.activities
        owner = pd.Index(self.leads[LEAD_ID]).get_indexer(acts[LEAD_ID])
        keep = owner >= 0
        acts, owner = acts[keep], owner[keep]
        order = np.argsort(owner, kind="stable")
        self.owner = owner[order]
        self.after_ns = (acts[OCCURRED_AT].to_numpy("datetime64[ns]").view(np.int64)[order] - created[self.owner])
        self.types = acts["activity_type"].astype(object).to_numpy()[order]
        self.values = acts["value"].to_numpy(dtype=np.float64)[order]
        self.starts = np.searchsorted(self.owner, np.arange(len(self.leads)))
        self.counts = np.bincount(self.owner, minlength=len(self.leads))

    def tables(self, template, lead_ids, created_ns, as_of_ns: int):
        """Canonical leads and activities (those at or before as_of) of new leads drawn from
        the templates `template`, with ids `lead_ids`, created at `created_ns`."""
        import numpy as np
        import pandas as pd

        from features.load import ACTIVITY_TYPE, CREATED_AT, LEAD_ID, OCCURRED_AT, VALUE

        leads = self.leads.iloc[template].reset_index(drop=True)
        leads[LEAD_ID] = lead_ids
        leads[CREATED_AT] = created_ns.view("datetime64[ns]")
        counts = self.counts[template]
        which = np.repeat(np.arange(len(template)), counts)
        at = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + self.starts[template][which]
        times = self.after_ns[at] + created_ns[which]
        known = times <= as_of_ns
        which, at, times = which[known], at[known], times[known]
        activities = pd.DataFrame({LEAD_ID: lead_ids[which], OCCURRED_AT: times.view("datetime64[ns]"),
                                   ACTIVITY_TYPE: self.types[at], VALUE: self.values[at]})
        return leads, activities


def schedule(n_scores: int, n_leads: int, n_slots: int, slot_ns: int, rng):
    """(lead, slot) of every score, slot order: each lead first in the run after its creation
    (within a day), then n_scores - n_leads scores again 2 to 60 days after its first; and
    each lead's creation time (ns from the period's start)."""
    import numpy as np

    day = RUNS_PER_DAY
    created = rng.integers(0, (n_slots - day) * slot_ns // 10**9, n_leads) * 10**9  # whole seconds
    first = np.minimum(created // slot_ns + 1 + rng.integers(0, day, n_leads), n_slots - 1)
    leads, slots = [np.arange(n_leads)], [first]
    seen = set((first.astype(np.int64) * n_leads + np.arange(n_leads)).tolist())
    wanted = n_scores - n_leads
    while wanted > 0:
        lead = rng.integers(0, n_leads, wanted * 2)
        slot = first[lead] + rng.integers(2 * day, 60 * day, len(lead))
        ok = slot < n_slots
        lead, slot = lead[ok], slot[ok]
        key = slot.astype(np.int64) * n_leads + lead
        _, unique = np.unique(key, return_index=True)
        fresh = [i for i in np.sort(unique).tolist() if key[i] not in seen][:wanted]
        seen.update(key[fresh].tolist())
        leads.append(lead[fresh])
        slots.append(slot[fresh])
        wanted -= len(fresh)
    lead, slot = np.concatenate(leads), np.concatenate(slots)
    order = np.lexsort((lead, slot))
    return lead[order], slot[order], created


def build_store(path: Path, bundle: Path, crm: Path, args) -> dict:
    import gc

    import numpy as np
    import pandas as pd

    from features.logged import records_from_tables
    from serving.scorer import LeadScorer
    from serving.store import Outcome, ScoreStore

    started = time.perf_counter()
    scorer = LeadScorer.from_bundle_dir(bundle)
    spec = scorer.spec
    templates = Templates(spec, crm)
    rng = np.random.default_rng(args.seed)
    end = datetime.fromisoformat(args.end)
    start = end - timedelta(weeks=args.weeks)
    start_ns = pd.Timestamp(start).value
    slot_ns = 86_400 * 10**9 // RUNS_PER_DAY
    n_slots = args.weeks * 7 * RUNS_PER_DAY
    lead_of, slot_of, created_after = schedule(args.scores, args.leads, n_slots, slot_ns, rng)
    created_ns = start_ns + created_after
    template_of = rng.integers(0, len(templates.leads), args.leads)
    ids = np.array([f"B{i:07d}" for i in range(args.leads)], dtype=object)
    last_p = np.zeros(args.leads)
    last_ns = np.zeros(args.leads, dtype=np.int64)

    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(path.name + "*"):
        leftover.unlink()
    store = ScoreStore(f"sqlite:///{path}", background=False, batch_rows=50_000, max_buffered=10**9)
    bounds = np.flatnonzero(np.diff(slot_of, prepend=-1, append=n_slots + 1))
    spent = {"setup": time.perf_counter() - started, "scoring (score_table)": 0.0,
             "records (records_from_tables)": 0.0, "writing (log_scores, flush)": 0.0}

    def clock(step: str, since: float) -> float:
        now = time.perf_counter()
        spent[step] += now - since
        return now

    gc.disable()  # millions of short-lived texts, no cycles (as `leadscore score` does)
    try:
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            slot = int(slot_of[lo])
            at_ns = start_ns + (slot + 1) * slot_ns - 3_600 * 10**9  # 5:00, 11:00, 17:00, 23:00
            at = pd.Timestamp(at_ns).to_pydatetime()
            who = lead_of[lo:hi]
            tick = time.perf_counter()
            leads, activities = templates.tables(template_of[who], ids[who], created_ns[who], at_ns)
            scores = scorer.score_table(leads, activities, at, reasons=0)
            tick = clock("scoring (score_table)", tick)
            records = records_from_tables(spec, leads, activities, at)
            tick = clock("records (records_from_tables)", tick)
            p = scores["probability"].to_numpy()
            last_p[who], last_ns[who] = p, at_ns
            rows = zip(scores[scorer.id_key].tolist(), p.tolist(), scores["stage"].tolist(),
                       scores["model_version"].tolist())
            store.log_scores(rows, at, spec=spec.name, as_of=at, inputs=records)
            if store.buffered >= 50_000:
                store.flush()
            clock("writing (log_scores, flush)", tick)
        tick = time.perf_counter()
        store.flush()
        scored = clock("writing (log_scores, flush)", tick)

        end_ns = pd.Timestamp(end).value
        hour = 3_600 * 10**9
        candidates = np.flatnonzero(last_ns < end_ns - 2 * 24 * hour)
        if len(candidates) < args.outcomes:
            raise SystemExit(f"only {len(candidates):,} leads can have closed; ask for fewer --outcomes")
        closing = np.sort(rng.choice(candidates, args.outcomes, replace=False))
        room = np.minimum(end_ns - last_ns[closing] - hour, 120 * 24 * hour)
        closed_ns = last_ns[closing] + hour + (rng.random(len(closing)) * room).astype(np.int64) // 1000 * 1000
        won = rng.random(len(closing)) < last_p[closing]
        items = [Outcome(ids[i], "won" if w else "lost", pd.Timestamp(t).to_pydatetime())
                 for i, w, t in zip(closing.tolist(), won.tolist(), closed_ns.tolist())]
        for lo in range(0, len(items), 50_000):
            store.record_outcomes(items[lo:lo + 50_000], end)
    finally:
        gc.enable()
        store.close()
    return {"scores": int(len(lead_of)), "leads": int(args.leads), "outcomes": int(args.outcomes),
            "leads_scored_more_than_once": int((np.bincount(lead_of, minlength=args.leads) > 1).sum()),
            "since": start.isoformat(), "until": end.isoformat(), "bundle": str(bundle),
            "build_seconds": {**spent, "outcomes (record_outcomes)": time.perf_counter() - scored},
            "megabytes": path.stat().st_size / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", type=int, default=1_000_000, help="logged scores (default 1,000,000)")
    parser.add_argument("--leads", type=int, default=600_000, help="distinct leads scored (default 600,000)")
    parser.add_argument("--outcomes", type=int, default=200_000, help="closed deals (default 200,000)")
    parser.add_argument("--weeks", type=int, default=26, help="weeks the scores span (default 26)")
    parser.add_argument("--end", default="2026-11-23", help="end of the period, ISO (default 2026-11-23)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--template-leads", type=int, default=20_000,
                        help="leads of the generated demo CRM that new leads are drawn from and the model is "
                             "trained on (default 20,000)")
    parser.add_argument("--bundle", type=Path, help="a model bundle of the demo spec (default: train a small one)")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/leadscore-bench"),
                        help="where the demo CRM, the model and the store are kept (default /tmp/leadscore-bench)")
    parser.add_argument("--runs", type=int, default=1, help="time the report this many times, each in a fresh process")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the store (and the trained model) built before with the same settings")
    args = parser.parse_args()
    if not 0 < args.leads <= args.scores:
        parser.error("--leads must be at least 1 and at most --scores")
    if args.outcomes > args.leads:
        parser.error("--outcomes can be at most --leads")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

    crm = demo_crm(args.cache / f"crm-{args.template_leads}", args.template_leads)
    bundle = args.bundle
    if bundle is None:
        bundle = args.cache / f"report-model-{args.template_leads}"
        if not (args.reuse and bundle.is_dir() and any(bundle.iterdir())):
            print(f"training a small model on {crm} ...", flush=True)
            started = time.perf_counter()
            train_bundle(bundle, crm)
            print(f"  {time.perf_counter() - started:.0f} s: {bundle}")
    folder = args.cache / (f"report-store-{args.scores}-{args.leads}-{args.outcomes}-{args.weeks}w-{args.end}"
                           f"-seed{args.seed}-t{args.template_leads}")
    db, meta_path = folder / "leadscore.db", folder / "store.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if not (args.reuse and meta is not None and db.exists() and meta.get("bundle") == str(bundle)):
        print(f"building the store {db} ...", flush=True)
        meta_path.unlink(missing_ok=True)
        meta = build_store(db, bundle, crm, args)
        meta_path.write_text(json.dumps(meta, indent=1))
        print("  seconds: " + ", ".join(f"{k} {v:,.0f}" for k, v in meta["build_seconds"].items())
              + f"; {meta['megabytes']:,.0f} MiB")

    print(f"outcome report benchmark: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; store {db}")
    print(f"  {meta['scores']:,} logged scores of {meta['leads']:,} leads ({meta['leads_scored_more_than_once']:,} "
          f"scored more than once) from {meta['since'][:10]} to {meta['until'][:10]}, {meta['outcomes']:,} outcomes; "
          f"model {bundle}")
    report_json = folder / "report.json"
    totals = []
    for run in range(args.runs):
        row = time_report(f"sqlite:///{db}", bundle, report_json)
        totals.append(row["total"])
        print_table(row, f"\nreport_from_store over the whole period, in a fresh process (run {run + 1} of "
                         f"{args.runs}, load average {os.getloadavg()[0]:.1f} after it)")
    print(f"report JSON: {report_json}")
    if args.runs > 1:
        median = sorted(totals)[len(totals) // 2]
        print("totals: " + ", ".join(f"{t:.1f} s" for t in totals) + f"; median {median:.1f} s")
    return 0 if sorted(totals)[len(totals) // 2] <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
