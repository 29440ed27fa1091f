"""`leadscore outcomes import FILE`: closed deals from a CRM export into the store, read by the
same rules as training data (the spec's outcomes table: separator, encoding, ids, won/lost
words, one time format per column), so `leadscore report` can judge the leads they close.

All or nothing: a file with a value that cannot be read is refused naming the column, the
rows and the fix, and nothing is recorded. A later row for the same lead replaces an earlier
one (as a later POST /outcomes does). Outcomes of leads never scored are kept too: they count
once the lead is scored, and the summary says how many there are.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from features.errors import DataError, LeadscoreError
from leadscore.settings import Settings, get_settings

MAX_EXAMPLES = 5


def run_import(spec_path: Path, path: Path, settings: Settings | None = None,
               console: Console | None = None) -> dict[str, int]:
    """Record the outcomes of `path`; returns counts by status ("recorded", "updated",
    "unchanged") and "never_scored"."""
    from features import values as V
    from features.load import CLOSED_AT, LEAD_ID, WON, CRMTables, clean, coerce
    from features.read import read_table
    from features.spec import load_spec
    from serving.store import Outcome, ScoreStore

    settings = settings or get_settings()
    console = console or Console()
    spec = load_spec(spec_path)
    out = spec.outcomes
    if out is None:
        raise LeadscoreError(f"{spec.source}: the spec has no outcomes table (its outcome is the leads' "
                             f"{spec.leads.label!r} column); there is nothing to import with it")
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file; pass a table of closed deals with the columns of the spec's "
                        f"outcomes table ({', '.join(c for c in (out.lead_id, out.outcome, out.closed_at) if c)})")
    raw = read_table(path, "outcomes", out)
    needed = [c for c in (out.lead_id, out.outcome, out.closed_at) if c]
    absent = [c for c in needed if c not in raw.columns]
    if absent:
        raise DataError(f"{path}: column {', '.join(map(repr, absent))} not found (the spec {spec.name!r} reads "
                        f"{', '.join(needed)}); the file has: {', '.join(map(str, raw.columns))}")
    lead = spec.leads
    stub = pd.DataFrame({c: pd.Series([], dtype=object) for c in
                         dict.fromkeys(c for c in (lead.id, lead.created_at, lead.order_by, *spec.profile_columns,
                                                   *lead.after_contact) if c)})
    cleaned, _ = clean(spec, CRMTables(leads=stub, outcomes=raw, paths={"outcomes": path}))
    canonical = coerce(spec, cleaned)
    frame, readings = canonical.outcomes, canonical.readings["outcomes"]
    # Cleaning keeps the first of exactly equal rows: the file row of each row left.
    file_row = np.flatnonzero(~raw.duplicated(keep="first").to_numpy()) + 2  # 1-based, after the header
    problems = []
    missing = V.placeholders(spec.missing_values)
    for column, values, what in ((out.lead_id, frame[LEAD_ID], "lead id"),
                                 (out.outcome, frame[WON], f"outcome, won ({', '.join(out.won)}) or lost "
                                                           f"({', '.join(out.lost)})"),
                                 (out.closed_at, frame[CLOSED_AT], "time")):
        if column is None:
            continue
        reading = readings[column]
        if reading.problem:
            problems.append(f"{column}: {reading.problem}")
            continue
        unusable = reading.refused | pd.isna(values).to_numpy()
        if column == out.lead_id:  # "N/A", "Select"...: the spec's placeholders are no lead's id
            unusable = unusable | cleaned.outcomes[column].map(lambda v: V.is_missing(v, missing)).to_numpy(dtype=bool)
        bad = np.flatnonzero(unusable)
        if len(bad):
            shown = ", ".join(f"row {file_row[i]}: {str(cleaned.outcomes[column].iloc[i])!r}" for i in bad[:MAX_EXAMPLES])
            problems.append(f"{column}: {len(bad):,} row(s) hold no readable {what} ({shown})")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if not problems:
        future = np.flatnonzero((frame[CLOSED_AT] > pd.Timestamp(now)).to_numpy())
        if len(future):
            shown = ", ".join(f"row {file_row[i]}: {cleaned.outcomes[out.closed_at].iloc[i]!r}"
                              for i in future[:MAX_EXAMPLES])
            problems.append(f"{out.closed_at}: {len(future):,} deal(s) closed in the future ({shown})")
    if problems:
        raise DataError(f"{path}: nothing imported:\n" + "\n".join(f"  - {p}" for p in problems))
    if not len(frame):
        raise DataError(f"{path}: the file holds no outcomes")
    items = [Outcome(str(i), "won" if w else "lost", t.to_pydatetime())
             for i, w, t in zip(frame[LEAD_ID], frame[WON].astype(bool), frame[CLOSED_AT])]
    leads = {item.lead_id for item in items}
    conflicting = len(leads) < len(items)
    store = ScoreStore(settings.resolved_database_url, background=False)
    try:
        never = len(leads - store.scores.scored_among(sorted(leads)))  # before recording: ids with an outcome
        statuses = store.record_outcomes(items, now)
    finally:
        store.close()
    per_lead: dict[str, set[str]] = {}
    for item, status in zip(items, statuses):
        per_lead.setdefault(item.lead_id, set()).add(status)
    # a lead is new if the store had none for it, changed if it had another one, else known
    final = [next(s for s in ("recorded", "updated", "unchanged") if s in seen) for seen in per_lead.values()]
    counts = {status: final.count(status) for status in ("recorded", "updated", "unchanged")}
    counts["never_scored"] = never
    if conflicting:
        console.print(f"note: {len(items) - len(leads):,} rows repeat a lead with another outcome or time; the "
                      "last row of each lead in the file is kept", highlight=False, soft_wrap=True)
    kept = {item.lead_id: item.outcome for item in items}  # the last row of each lead
    console.print(f"{path}: {len(kept):,} outcomes ({sum(1 for o in kept.values() if o == 'won'):,} won): "
                  f"{counts['recorded']:,} new, "
                  f"{counts['updated']:,} changed, {counts['unchanged']:,} already known"
                  + (f"; {never:,} are of leads never scored (kept: they count once the lead is scored)"
                     if never else ""), highlight=False, soft_wrap=True)
    return counts
