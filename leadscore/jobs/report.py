"""`leadscore report`: do the MQL and SQL stages keep their promise? The logged scores of a
period against the outcomes sales reported (monitoring.report computes; this command reads the
store, says it in words and writes the JSON and a self-contained HTML page, monitoring.html).

Stage promises are those the champion of the spec publishes (its bundle's stage definitions);
a period scored by several model versions is judged against the champion's promises, and the
report's `period.model_versions` says how many leads each version scored. `--fail-on
broken-promise,drift` exits BROKEN_EXIT when a stage's observed buy rate is below its promise by
more than chance explains, or when an input's PSI is above the drift threshold, so a scheduler
can alert.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
from rich.console import Console

from features.errors import LeadscoreError
from leadscore.settings import Settings, get_settings

BROKEN_EXIT = 5
"""Exit code when a check named by --fail-on fails."""
FAIL_ON = ("broken-promise", "drift")


def run_report(spec: str | Path | None = None, since: str | None = None, until: str | None = None,
               json_path: Path | None = None, fail_on: list[str] | None = None,
               settings: Settings | None = None, console: Console | None = None,
               html_path: Path | None = None) -> tuple[dict, int]:
    """Build the report of the period; returns (report, exit code)."""
    from leadscore.jobs.serve import resolve_bundle
    from serving.report import report_from_store
    from serving.segments import load_scorer
    from serving.store import make_engine
    from serving.store.database import create_tables

    settings = settings or get_settings()
    console = console or Console()
    unknown = [f for f in (fail_on or []) if f not in FAIL_ON]
    if unknown:
        raise LeadscoreError(f"--fail-on {','.join(unknown)}: not a check; the checks are {', '.join(FAIL_ON)}")
    from leadscore.jobs.score import parse_time

    targets = {option: Path(p) for option, p in (("--json", json_path), ("--out", html_path)) if p is not None}
    if len(targets) == 2 and targets["--json"].resolve() == targets["--out"].resolve():
        raise LeadscoreError("--json and --out name the same file: give each its own")
    for option, target in targets.items():
        _check_writable(target, option)

    start = parse_time(since, "--since") if since is not None else None
    end = parse_time(until, "--until") if until is not None else None
    if start is not None and end is not None and end <= start:
        raise LeadscoreError(f"--until {until} is not after --since {since}: the period is empty")
    scorer = load_scorer(resolve_bundle(settings, spec=spec, echo=lambda text: console.print(text)))
    engine = make_engine(settings.resolved_database_url)
    try:
        create_tables(engine)
        report = report_from_store(engine, scorer, start, end)
    finally:
        engine.dispose()
    _print(console, report)
    if json_path is not None:
        _write(Path(json_path), json.dumps(report, indent=1, allow_nan=False), "--json")
        console.print(f"wrote {json_path}")
    if html_path is not None:
        from monitoring.html import report_html

        _write(Path(html_path), report_html(report), "--out")
        console.print(f"wrote {html_path} (self-contained: opens offline)")
    failed = {"broken-promise": any(s["broken"] for s in report["stages"]),
              "drift": any(d["drifted"] for d in report["drift"])}
    alerts = [check for check in (fail_on or []) if failed[check]]
    if alerts:
        console.print(f"[bold red]failed check(s): {', '.join(alerts)}[/] (--fail-on): exit {BROKEN_EXIT}",
                      highlight=False)
    return report, BROKEN_EXIT if alerts else 0


def _check_writable(path: Path, option: str) -> None:
    """Before any work: the file can be written (its folder exists or can be made, it is not a
    folder); LeadscoreError naming the option otherwise."""
    if path.is_dir():
        raise LeadscoreError(f"{option} {path}: is a folder; name a file, e.g. {path / 'report'}"
                             f"{'.json' if option == '--json' else '.html'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LeadscoreError(f"{option} {path}: its folder cannot be made ({exc.strerror})") from None
    if not os.access(path.parent, os.W_OK):
        raise LeadscoreError(f"{option} {path}: the folder {path.parent} is not writable")


def _write(path: Path, text: str, option: str) -> None:
    """Written whole or not at all (features.files.write_atomically); an error names the option."""
    from features.files import write_atomically

    try:
        write_atomically(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    except OSError as exc:
        raise LeadscoreError(f"{option} {path}: cannot be written ({exc.strerror})") from None


def _print(console: Console, report: dict) -> None:
    from monitoring.drift import MIN_CURRENT_TO_JUDGE
    from monitoring.report import MIN_CLOSED_TO_JUDGE

    period = report["period"]
    console.print(f"Outcome report: {period['leads']:,} leads scored"
                  + (f" from {period['since']}" if period.get("since") else "")
                  + (f" until {period['until']}" if period.get("until") else "")
                  + f"; {period['closed']:,} closed ({period['won']:,} won), {period['open']:,} still open",
                  highlight=False, soft_wrap=True)
    if period.get("scored_after_close"):
        console.print(f"  left out: {period['scored_after_close']:,} leads whose latest score came after their deal "
                      "closed (no forecast: score leads before their outcome is known)", highlight=False,
                      soft_wrap=True)
    for stage in report["stages"]:
        console.print(f"  {'[bold red]BROKEN[/] ' if stage['broken'] else ''}{stage['verdict']}", highlight=False,
                      soft_wrap=True)
    for dimension, rows in report["by_dimension"].items():
        judged = [r for r in rows if r["closed"] >= MIN_CLOSED_TO_JUDGE]
        if judged:
            best = max(judged, key=lambda r: (r["won_rate"], r["closed"]))
            console.print(f"  by {dimension}: {len(rows)} values; best closing (of those with {MIN_CLOSED_TO_JUDGE} "
                          f"closed or more): {best['value']} "
                          f"({best['won_rate']:.0%} of {best['closed']:,} closed)", highlight=False, soft_wrap=True)
    drifted = [d for d in report["drift"] if d["drifted"]]
    unjudged = [d for d in report["drift"] if d["drifted"] is None]
    if unjudged and len(unjudged) == len(report["drift"]):
        console.print(f"  drift: not judged, {unjudged[0]['current_n']:,} recent leads (fewer than "
                      f"{MIN_CURRENT_TO_JUDGE:,})", highlight=False, soft_wrap=True)
    elif report["drift"]:
        console.print(f"  drift: {len(drifted)} of {len(report['drift'])} inputs above PSI "
                      f"{report['drift_threshold']:g}" + (": " + ", ".join(f"{d['feature']} ({d['psi']:.2f})"
                                                                            for d in drifted) if drifted else ""),
                      highlight=False, soft_wrap=True)
    estimated = report.get("estimated") or {}
    if estimated.get("open"):
        auc = estimated.get("expected_roc_auc")
        console.print(f"  open leads: {estimated['open']:,}, expected to buy at {estimated['mean_probability']:.1%}"
                      + (f", expected ROC-AUC {auc:.3f} once they close" if auc is not None else ""),
                      highlight=False, soft_wrap=True)
