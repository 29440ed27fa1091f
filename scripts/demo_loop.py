"""The outcome loop on the demo CRM, a few simulated weeks: new leads every week, scored and
handed over, their deals closing later, then `leadscore report`: did the MQL and SQL stages
keep their promise? The last step of `make demo` (scripts/demo.sh); on its own, once the demo
has trained a champion:

    .venv/bin/python scripts/demo_loop.py            # 4 weeks; data/demo/report.html
    .venv/bin/python scripts/demo_loop.py --help

With the real commands, each printed before it runs:

1. `leadscore generate --seed 8`: a second CRM of the same made-up company. The champion was
   trained, and its stages set, on the demo CRM of seed 7: it never saw these leads.
2. For each simulated week, its leads are exported as the CRM held them 3 weeks after the week
   ended (profile without the after-contact columns, activities until then) and scored as of
   that moment: `leadscore score --as-of ...`, which logs every score. They are 21 to 28 days
   old then, as near as whole weeks get to the age the stages' promises were measured at
   (holdout leads 30 days old, the spec's features.evaluation_age_days): a lead a few days old
   has done little yet, and how many such leads reach SQL depends much on the model (5 of 763
   with one demo champion, 104 of 1,960 with another). `--wait-weeks 0` scores each week's
   leads at its own end instead. No deal closes in a lead's first 30 days, so every lead is
   scored before its outcome is known.
3. At the export's end, the deals of these leads closed by then, from the generator's records,
   go in as a CRM export of closed deals: `leadscore outcomes import`. Leads whose deal never
   closed stay open.
4. `leadscore report --since ... --until ... --json ... --out ...`: per stage the buy rate
   promised and observed, with the verdict, and the HTML page (data/demo/report.html).

Which weeks: a demo deal closes at most 90 days after the lead was created (30 days to
qualification, then 1 to 60). By default the weeks are the latest whose leads are all 90 days
old at the export's end, so every deal that will close has closed when the outcomes are posted.
Later weeks (--first-week) leave the slow deals open, and slow deals are mostly won: the closed
leads then buy less than promised with nothing wrong (the report judges the closed leads as
they are: with weeks from 2026-08-17, 791 of 2,147 leads were still open on 2026-10-31 and MQL
looked broken, 23% observed against 30% promised).

Everything goes to data/demo/loop (deleted first, so a rerun starts clean), with its own SQLite
database passed to the commands as LEADSCORE_DATABASE_URL: the score log and outcomes of the
service (data/leadscore.db) are left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd

from features.spec import load_spec
from leadscore.synthetic.world import CLOSE_LAG_DAYS, QUALIFICATION_DAYS
from monitoring.report import MIN_CLOSED_TO_JUDGE

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = Path("data/specs/demo_crm.yaml")
DEFAULT_WORK = Path("data/demo/loop")
DEFAULT_HTML = Path("data/demo/report.html")
DEFAULT_JSON = Path("data/demo/report.json")
DEAL_DAYS = int(QUALIFICATION_DAYS + CLOSE_LAG_DAYS[1])
"""The longest a demo deal takes from the lead's creation to its close (90 days: 30 to
qualification, then 1 to 60; docs/synthetic-crm.md)."""

Runner = Callable[[list[str], dict[str, str]], int]
"""Runs `leadscore ARGS...` with extra environment variables; returns the exit code."""


def run_leadscore(args: list[str], env: dict[str, str]) -> int:
    """The real command, in its own process, as a user types it."""
    exe = Path(sys.executable).with_name("leadscore")
    command = [str(exe) if exe.exists() else (shutil.which("leadscore") or "leadscore"), *args]
    wide = {} if "COLUMNS" in os.environ or sys.stdout.isatty() else {"COLUMNS": "120"}  # fewer wrapped lines in logs
    return subprocess.run(command, cwd=ROOT, env={**os.environ, **wide, **env}).returncode


@dataclass(frozen=True)
class Week:
    number: int
    start: pd.Timestamp  # Monday 00:00
    end: pd.Timestamp  # Sunday 23:59:59

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}"


def weeks_of(first_monday: pd.Timestamp, count: int) -> list[Week]:
    return [Week(k + 1, first_monday + pd.Timedelta(weeks=k),
                 first_monday + pd.Timedelta(weeks=k + 1) - pd.Timedelta(seconds=1)) for k in range(count)]


def monday_of(day: pd.Timestamp) -> pd.Timestamp:
    day = day.normalize()
    return day - pd.Timedelta(days=day.day_of_week)


def default_first_monday(export_end: pd.Timestamp, count: int) -> pd.Timestamp:
    """The first of the latest `count` whole weeks whose leads' deals have all had time to
    close by the export's end."""
    latest_end = export_end - pd.Timedelta(days=DEAL_DAYS)  # the last week ends at or before it
    return monday_of(latest_end + pd.Timedelta(seconds=1)) - pd.Timedelta(weeks=count)


def say(text: str = "") -> None:
    print(text, flush=True)


def show(args: Sequence[str]) -> None:
    say("$ leadscore " + " ".join(shlex.quote(str(a)) for a in args))


def rel(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# ----------------------------------------------------------------------------- a week's leads
def cohort(created: pd.Series, closed_at: pd.Series, week: Week, as_of: pd.Timestamp) -> tuple[pd.Index, int]:
    """(ids of the leads created in `week` whose deal is still open at `as_of`, how many of the
    week's leads had closed by then). created and closed_at are indexed by lead id."""
    ids = created[(created >= week.start) & (created <= week.end)].index
    closed = (closed_at.reindex(ids) <= as_of).to_numpy(dtype=bool)
    return ids[~closed], int(closed.sum())


def write_batch(folder: Path, ids: pd.Index, raw_leads: pd.DataFrame, activities: pd.DataFrame,
                as_of: pd.Timestamp, after_contact: Sequence[str]) -> tuple[Path, Path]:
    """The CRM export at `as_of` of the leads `ids`: their rows (duplicates and dirt as the CRM
    has them, without the columns sales fill in after contact, empty while a lead is open) and
    their activities until then."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = set(ids)
    leads = raw_leads[raw_leads["lead_id"].isin(chosen)].drop(columns=[c for c in after_contact if c in raw_leads])
    acts = activities[activities["lead_id"].isin(chosen) & (activities["occurred_at"] <= as_of)]
    leads_path, acts_path = folder / "leads.parquet", folder / "activities.parquet"
    leads.to_parquet(leads_path, index=False)
    acts.to_parquet(acts_path, index=False)
    return leads_path, acts_path


def judged_stages(report: dict) -> list[str]:
    """Problems with the SQL and MQL promises being judged (too few closed leads)."""
    problems = []
    for stage in report.get("stages", []):
        if stage["stage"] in ("sql", "mql") and stage["closed"] < MIN_CLOSED_TO_JUDGE:
            problems.append(f"{stage['name']}: {stage['closed']} closed leads, fewer than {MIN_CLOSED_TO_JUDGE}, "
                            "so its promise is not judged; pass more --leads or --weeks")
    return problems


# ----------------------------------------------------------------------------- the loop
def a_day(text: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; write it as 2026-07-01") from None


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="demo_loop.py",
        description="Simulate weeks of the outcome loop on the demo CRM: every week score the leads of an "
                    "earlier week (leadscore score), then post the deals that closed (leadscore outcomes "
                    "import) and report whether the MQL and SQL stages kept their promise (leadscore "
                    "report). Needs the spec's champion: make demo trains it.",
        epilog="Everything under --work is deleted first; the loop has its own SQLite database there.")
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC,
                        help=f"dataset spec whose champion scores (default: {DEFAULT_SPEC})")
    parser.add_argument("--weeks", type=int, default=4, help="weeks of leads to simulate (default: 4)")
    parser.add_argument("--leads", type=int, default=40_000,
                        help="size of the loop's CRM: about 500 leads a week at 40,000 (default: 40000)")
    parser.add_argument("--seed", type=int, default=8,
                        help="seed of the loop's CRM; the demo's champion was trained on seed 7 (default: 8)")
    parser.add_argument("--first-week", metavar="DATE", type=a_day,
                        help="a day in the first week of leads (its Monday starts it); default: the latest "
                             f"weeks whose deals all close within {DEAL_DAYS} days, by the export's end")
    parser.add_argument("--wait-weeks", type=int, default=None,
                        help="a week's leads are scored this many weeks after it ends (default: the whole weeks "
                             "that keep them under the spec's features.evaluation_age_days, where the stages' "
                             "promises were measured: 3 for the demo, 21 to 28 days old)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help=f"working folder (default: {DEFAULT_WORK})")
    parser.add_argument("--out", type=Path, default=DEFAULT_HTML, help=f"HTML report (default: {DEFAULT_HTML})")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"JSON report (default: {DEFAULT_JSON})")
    args = parser.parse_args(argv)
    for name, least in (("weeks", 1), ("leads", 1), ("wait_weeks", 0)):
        value = getattr(args, name)
        if value is not None and value < least:
            parser.error(f"--{name.replace('_', '-')} must be {least} or more, got {value}")
    return args


def main(argv: Sequence[str] | None = None, run: Runner = run_leadscore) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    work = (ROOT / args.work).resolve()
    if work == ROOT or ROOT.is_relative_to(work):
        say(f"--work {args.work}: refusing to delete a folder holding the repository")
        return 2
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {"LEADSCORE_DATABASE_URL": f"sqlite:///{work / 'leadscore.db'}"}
    spec = str(args.spec)
    dataset = load_spec(ROOT / args.spec)
    age_days = int(dataset.features.evaluation_age_days)  # the age of the holdout leads the stages were set on
    wait = args.wait_weeks if args.wait_weeks is not None else max(age_days // 7 - 1, 0)

    def step(cli: list[str]) -> None:
        show(cli)
        code = run(cli, env)
        if code != 0:
            raise SystemExit(f"`leadscore {cli[0]}` failed (exit {code}); the loop stops here")

    say(f"The loop's score log and outcomes: {env['LEADSCORE_DATABASE_URL']}")
    crm = work / "crm"
    step(["generate", "--out", rel(crm), "--leads", str(args.leads), "--seed", str(args.seed)])
    raw_leads = pd.read_parquet(crm / "leads.parquet")
    activities = pd.read_parquet(crm / "activities.parquet")
    activities["lead_id"] = activities["lead_id"].astype(str)
    deals = pd.read_parquet(crm / "outcomes.parquet")
    export_end = pd.Timestamp(json.loads((crm / "summary.json").read_text())["export_end"])
    created = raw_leads.drop_duplicates("lead_id").set_index("lead_id")["created_at"]
    closed_at = deals.set_index("lead_id")["closed_at"]

    first = (monday_of(args.first_week) if args.first_week is not None
             else default_first_monday(export_end, args.weeks))
    weeks = weeks_of(first, args.weeks)
    lag = pd.Timedelta(weeks=wait)
    if weeks[-1].end + lag > export_end:
        say(f"weeks from {first:%Y-%m-%d}: the last week's leads would be scored on "
            f"{weeks[-1].end + lag:%Y-%m-%d}, after the export's end ({export_end:%Y-%m-%d}); choose a first "
            f"week (--first-week) before {monday_of(export_end) - lag - pd.Timedelta(weeks=args.weeks - 1):%Y-%m-%d} "
            "or fewer --wait-weeks")
        return 2
    mature = export_end - pd.Timedelta(days=DEAL_DAYS)
    say(f"\n{args.weeks} weeks of new leads, {weeks[0].start:%Y-%m-%d} to {weeks[-1].end:%Y-%m-%d}. Each week's "
        f"leads are scored {wait} week{'' if wait == 1 else 's'} after it ends, {7 * wait} to {7 * wait + 7} days old "
        f"(the stages were set on leads {age_days} days old), with their activities until then, and handed over: "
        "SQLs to sales. "
        f"Deals are posted as known at the export's end, {export_end:%Y-%m-%d}.")
    if weeks[-1].end > mature:
        say(f"note: leads created after {mature:%Y-%m-%d} may close after {export_end:%Y-%m-%d}: their slow deals, "
            "mostly won ones, stay open and the closed ones look worse than the stages promised")

    scored: set[str] = set()
    for week in weeks:
        as_of = week.end + lag
        ids, gone = cohort(created, closed_at, week, as_of)
        say(f"\n-- week {week.number} of {args.weeks}: {len(ids):,} leads created {week.label}, scored as of "
            f"{as_of:%Y-%m-%d %H:%M:%S} UTC" + (f" ({gone:,} more had closed by then)" if gone else ""))
        folder = work / f"week-{week.number}"
        leads_path, acts_path = write_batch(folder, ids, raw_leads, activities, as_of, dataset.leads.after_contact)
        step(["score", "--spec", spec, rel(leads_path), rel(folder / "scores.csv"),
              "--as-of", f"{as_of:%Y-%m-%dT%H:%M:%S}", "--activities", rel(acts_path), "--no-progress"])
        scored |= set(ids)

    known = deals[deals["lead_id"].isin(scored) & (deals["closed_at"] <= export_end)]
    won = int((known["outcome"] == "won").sum())
    say(f"\n-- outcomes known on {export_end:%Y-%m-%d}: {len(known):,} of the {len(scored):,} scored leads closed "
        f"({won:,} won, {len(known) - won:,} lost); {len(scored) - len(known):,} are still open")
    outcomes_path = work / "closed_deals.csv"
    known.assign(closed_at=known["closed_at"].dt.strftime("%Y-%m-%d %H:%M:%S")).to_csv(outcomes_path, index=False)
    step(["outcomes", "import", rel(outcomes_path), "--spec", spec])

    since, until = weeks[0].start + lag, weeks[-1].end + lag + pd.Timedelta(seconds=1)
    say("\n-- the report: did the stages keep their promise?")
    step(["report", "--spec", spec, "--since", f"{since:%Y-%m-%d}", "--until", f"{until:%Y-%m-%d}",
          "--json", rel(ROOT / args.json), "--out", rel(ROOT / args.out)])

    report = json.loads((ROOT / args.json).read_text())
    period = report["period"]
    say(f"\nLoop done in {time.perf_counter() - started:.0f} s: {period['leads']:,} leads scored in {args.weeks} "
        f"weeks, {period['closed']:,} closed ({period['won']:,} won), {period['open']:,} open, "
        f"{period['scored_after_close']:,} scored after their deal closed.")
    for problem in judged_stages(report):
        say(f"warning: {problem}")
    say(f"The outcome report: {rel(ROOT / args.out)} (open it in a browser; it works offline), "
        f"as JSON: {rel(ROOT / args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
