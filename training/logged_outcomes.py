"""Retraining from logged outcomes (`leadscore train --with-logged-outcomes`): leads scored by
the service or `leadscore score` whose deals have closed since (POST /outcomes, `leadscore
outcomes import`) join the export's history as they were logged (features.logged): the profile
and the activities known at the moment they were scored as of.

* `choose_logged`: which logged leads join: those with an outcome and not in the export (the
  export is the source of truth for its own leads), with the counts of those left out.
* `read_logged`: their records read exactly as an export is (`features.logged.logged_spec`,
  `features.load.clean` and `coerce`) and checked by the same validation as batch-scoring input;
  the store's outcome (won/lost, closed time) becomes their outcome row, or the label of a flat
  export.
* `history_examples`: `features.examples.build_examples` over the joined history, with two
  bounds of time:
  - a record knows nothing after its as_of moment, so no snapshot of a logged lead is taken
    after it: its activities between that moment and its close are unknown, not absent;
  - `features.outcome_maturity_days` (one number of days, resolved over the joined history)
    leaves out the leads created within that many days of the end of what their own source
    knows: the export's latest time for its leads, the store's latest score or outcome for
    logged ones. The export's recent leads stay out, as they would without logged outcomes.

The store is read by the `leadscore` command; this module takes its frames: records as
`serving.store.report_inputs.logged_records` gives them (lead_id, scored_at, as_of, lead,
activities) and outcomes as `outcome_frame` does (lead_id, outcome won/lost, closed_at).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from features import values as V
from features.errors import DataError
from features.examples import Examples, evaluated_snapshot, build_examples, outcome_maturity_days, too_recent
from features.load import (CLOSED_AT, CREATED_AT, LEAD_ID, WON, CRMTables, concat_tables, export_end,
                           outcome_rows)
from features.spec import DatasetSpec

OUTCOME_WON = {"won": 1.0, "lost": 0.0}
"""The store's outcome words (serving.store.tables.OUTCOME_VALUES) as the label."""
NO_SNAPSHOT_IN_RECORD = "logged before its first snapshot age (the record shows none of them)"
"""Why a logged lead has no example: it was scored as of a moment before its first snapshot."""


@dataclass
class LoggedChoice:
    records: pd.DataFrame
    """The records that join: lead_id (as logged), scored_at, as_of, lead, activities, and the
    store's outcome as won (1.0/0.0) and closed_at."""
    counts: dict[str, int]
    """outcomes (recorded in the store), used (joining), won (of those), skipped_in_export (an
    outcome for a lead the export holds), skipped_no_record (an outcome for a lead never scored
    under this spec), records (leads scored under this spec), open (of those: no outcome yet,
    not in the export)."""
    end: pd.Timestamp | None
    """What the store knows until: its latest score under the spec or latest outcome."""


@dataclass
class LoggedHistory:
    """The logged leads that join the export, as canonical tables."""

    tables: CRMTables
    observed_until: pd.Series
    """Per canonical lead id, the moment its record was scored as of (datetime64[ns])."""
    end: pd.Timestamp | None
    counts: dict = field(default_factory=dict)
    validation: object = None  # features.validation.ValidationReport of the records


def refuse_unplaceable(spec: DatasetSpec) -> None:
    """DataError when logged leads could have no place in the spec's order of time (the split
    into training and holdout is by time): without leads.created_at, or with a flat export's
    leads.order_by, which records do not keep."""
    lead = spec.leads
    where = spec.source or f"the dataset spec {spec.name!r}"
    if lead.created_at is None:
        kept = (f" (it orders leads by {lead.order_by!r}, leads.order_by, which the score log does not keep)"
                if lead.order_by else "")
        raise DataError(f"{where}: --with-logged-outcomes needs leads.created_at: training splits leads by time, and "
                        f"a logged lead's place in time is its created time, which the spec {spec.name!r} does not "
                        f"name{kept}; add the creation time column under leads.created_at, or leave out "
                        "--with-logged-outcomes")
    if lead.label is not None and lead.order_by is not None:
        raise DataError(f"{where}: leads.order_by {lead.order_by!r} orders this flat export's leads in time, and the "
                        "score log does not keep it, so logged leads have no place in that order; remove "
                        f"leads.order_by (leads are then ordered by {lead.created_at!r}), or leave out "
                        "--with-logged-outcomes")


def lead_ids(values: pd.Series) -> np.ndarray:
    """Lead ids as the one id parser reads them (features.values.read_ids)."""
    return V.read_ids(values.astype(object)).values


def choose_logged(records: pd.DataFrame, outcomes: pd.DataFrame, export_ids) -> LoggedChoice:
    """The logged leads that join the export's history (an outcome, a record, not in the
    export), and the counts of the others. Ids are compared as features.values reads them."""
    unknown = sorted(set(outcomes["outcome"]) - set(OUTCOME_WON))
    if unknown:
        shown = ", ".join(map(repr, unknown[:5]))
        raise DataError(f"the store holds outcomes that are neither won nor lost ({shown}); "
                        "record them again through POST /outcomes or `leadscore outcomes import`")
    exported = set(pd.Series(export_ids, dtype=object).dropna())
    record_id = pd.Series(lead_ids(records["lead_id"]), index=records.index, dtype=object)
    outcome_id = pd.Series(lead_ids(outcomes["lead_id"]), index=outcomes.index, dtype=object)
    closed = outcomes.assign(_id=outcome_id).dropna(subset=["_id"]).drop_duplicates("_id", keep="last")
    in_export = closed["_id"].isin(exported).to_numpy()
    recorded = closed["_id"].isin(set(record_id.dropna())).to_numpy()
    by_id = closed[~in_export & recorded].set_index("_id")
    chosen = records[record_id.isin(by_id.index).to_numpy()].copy()
    ids = record_id[chosen.index]
    won = by_id["outcome"].map(OUTCOME_WON).to_dict()  # plain dicts: pandas cannot map an empty Series of times
    closed_at = by_id["closed_at"].to_dict()
    chosen["won"] = np.array([won[i] for i in ids], dtype="float64")
    chosen["closed_at"] = pd.to_datetime(pd.Series([closed_at[i] for i in ids], dtype=object)).to_numpy("datetime64[ns]")
    chosen = chosen.reset_index(drop=True)
    open_ = ~record_id.isin(set(closed["_id"])) & ~record_id.isin(exported)
    moments = [m for m in (records["scored_at"].max() if len(records) else None,
                           outcomes["closed_at"].max() if len(outcomes) else None) if m is not None and pd.notna(m)]
    counts = {"outcomes": len(outcomes), "used": len(chosen), "won": int(chosen["won"].sum()),
              "skipped_in_export": int(in_export.sum()), "skipped_no_record": int((~in_export & ~recorded).sum()),
              "records": len(records), "open": int(open_.sum())}
    return LoggedChoice(chosen, counts, pd.Timestamp(max(moments)) if moments else None)


def read_logged(spec: DatasetSpec, choice: LoggedChoice) -> tuple[CRMTables, object]:
    """The chosen records as canonical tables (read as an export is: logged_spec, clean,
    coerce) with their outcome, and the validation report of the records (purpose "score": the
    records hold no outcome; the store's outcomes were checked when recorded)."""
    from features.logged import logged_spec, read_records
    from features.validation import validate_tables

    reading = logged_spec(spec)
    records = choice.records
    cleaned, canonical = read_records(reading, list(zip(records["lead_id"].astype(str), records["lead"],
                                                        records["activities"])))
    report = validate_tables(reading, cleaned, canonical, purpose="score")
    ids = pd.Series(lead_ids(records["lead_id"]), dtype=object)
    outcome = pd.DataFrame({LEAD_ID: ids, WON: records["won"], CLOSED_AT: records["closed_at"]})
    outcome = outcome.dropna(subset=[LEAD_ID])
    if spec.outcomes is not None:
        canonical.outcomes = outcome.reset_index(drop=True)
    else:  # a flat export: the store's outcome is the lead's label
        canonical.leads[WON] = canonical.leads[LEAD_ID].map(outcome.set_index(LEAD_ID)[WON]).astype("float64")
    return canonical, report


def logged_history(choice: LoggedChoice, canonical: CRMTables, validation=None) -> LoggedHistory:
    """The joining leads: their canonical tables, the moment each record was scored as of, the
    store's end and the counts."""
    ids = pd.Series(lead_ids(choice.records["lead_id"]), dtype=object)
    until = pd.Series(choice.records["as_of"].to_numpy("datetime64[ns]"), index=ids).loc[lambda s: s.index.notna()]
    return LoggedHistory(canonical, until[~until.index.duplicated(keep="last")], choice.end, dict(choice.counts),
                         validation)


# ---------------------------------------------------------------------------------- examples
def history_examples(spec: DatasetSpec, export: CRMTables, logged: LoggedHistory) -> tuple[CRMTables, Examples]:
    """(the joined tables, their examples): `build_examples` over the export and the logged
    leads, each source's recent leads left out against its own end, and no logged lead seen
    after its record's as_of. Adds what the logged leads gave to `logged.counts`: in_examples
    (leads with at least one example), examples (their snapshots), snapshots_after_record (not
    taken: after the record's as_of), too_recent (created within outcome_maturity_days of the
    store's end)."""
    joined = concat_tables(export, logged.tables)
    examples = _examples_by_source(spec, joined, export, logged)
    examples, after_record = _within_records(spec, examples, logged.observed_until)
    count_in_examples(logged, examples)
    logged.counts["snapshots_after_record"] = after_record
    logged.counts.setdefault("too_recent", 0)
    return joined, examples


def count_in_examples(logged: LoggedHistory, examples: Examples) -> None:
    """Set `logged.counts` in_examples (logged leads with at least one example) and examples
    (their snapshots) to what `examples` hold: the history's, or the sample training takes of it."""
    mine = examples.leads[LEAD_ID].isin(logged.observed_until.index).to_numpy()
    logged.counts |= {"in_examples": int(examples.leads.loc[mine, LEAD_ID].nunique()), "examples": int(mine.sum())}


def _examples_by_source(spec: DatasetSpec, joined: CRMTables, export: CRMTables, logged: LoggedHistory) -> Examples:
    """build_examples, with features.outcome_maturity_days applied per source: resolved once
    over the joined history, then each lead created within it of its own source's end is left
    out and counted as build_examples counts such leads."""
    if spec.leads.label is not None or not spec.snapshot_ages or CREATED_AT not in joined.leads:
        return build_examples(spec, joined)
    merged = _with_outcomes(joined)
    closed = (merged[CLOSED_AT].notna() & merged[WON].notna()).to_numpy()
    maturity = outcome_maturity_days(spec, merged[CREATED_AT], merged[CLOSED_AT], closed)
    if not maturity:
        return build_examples(spec, joined)
    created = merged[CREATED_AT]
    is_logged = merged[LEAD_ID].isin(logged.observed_until.index).to_numpy()
    ends = np.where(is_logged, np.datetime64(logged.end or export_end(joined), "ns"),
                    np.datetime64(export_end(export), "ns"))
    recent = (created.to_numpy("datetime64[ns]") > ends - np.timedelta64(int(round(maturity * 86400e9)), "ns"))
    recent &= created.notna().to_numpy()
    logged.counts["too_recent"] = int((recent & is_logged & closed).sum())
    if closed.any() and not (closed & ~recent).any():
        raise DataError(f"{spec.source or 'the dataset spec'}: features.outcome_maturity_days {maturity:g} leaves out "
                        f"every closed lead: all were created within {maturity:g} days of the end of the export or "
                        "of the logged outcomes; lower it, or set it to 0 to keep every lead")
    kept = joined.leads[~joined.leads[LEAD_ID].isin(set(merged.loc[recent, LEAD_ID])).to_numpy()]
    features = spec.features.model_copy(update={"outcome_maturity_days": 0.0})  # applied above, per source
    examples = build_examples(spec.model_copy(update={"features": features}),
                              replace(joined, leads=kept.reset_index(drop=True)))
    reason = too_recent(maturity)
    won_recent = int((recent & closed & merged[WON].fillna(0).to_numpy(dtype=bool)).sum())
    excluded = {}
    for key, n in examples.excluded.items():
        excluded[key] = n
        if key == "still open":  # where build_examples puts it
            excluded[reason] = int(recent.sum())
    excluded.setdefault(reason, int(recent.sum()))
    counts = dict(examples.counts)
    if counts:
        by = dict(counts.get("wins_excluded_by", {}))
        by[reason] = by.get(reason, 0) + won_recent
        counts |= {"wins": counts["wins"] + won_recent, "wins_excluded": counts["wins_excluded"] + won_recent,
                   "wins_excluded_by": by}
    return replace(examples, excluded=excluded, counts=counts)


def _with_outcomes(tables: CRMTables) -> pd.DataFrame:
    """The leads with their known outcome (won, closed_at), as build_examples joins them."""
    rows = outcome_rows(tables)
    if rows is None:
        return tables.leads.assign(**{WON: np.nan, CLOSED_AT: pd.NaT})
    rows = rows[rows[WON].notna()].drop_duplicates(LEAD_ID, keep="last")
    return tables.leads.merge(rows[[LEAD_ID, WON, CLOSED_AT]], on=LEAD_ID, how="left")


def _within_records(spec: DatasetSpec, examples: Examples, observed_until: pd.Series) -> tuple[Examples, int]:
    """The examples without the snapshots of logged leads taken after their record's as_of
    (and how many those were). The evaluation snapshot of a lead that lost some is chosen again
    by the same rule (features.examples); a logged lead left with none is counted as excluded."""
    if examples.as_of is None or not len(observed_until):
        return examples, 0
    ids = examples.leads[LEAD_ID]
    until = ids.map(observed_until).to_numpy("datetime64[ns]")
    beyond = ~np.isnat(until) & (examples.as_of > until)
    if not beyond.any():
        return examples, 0
    keep = ~beyond
    lost = set(ids[beyond]) - set(ids[keep])
    leads = examples.leads[keep].reset_index(drop=True)
    age = examples.age_days[keep] if examples.age_days is not None else None
    drawn = examples.drawn[keep] if examples.drawn is not None else None
    lead = None
    if examples.lead is not None:
        kept_lead = examples.lead[keep]
        lead = (np.cumsum(np.r_[True, kept_lead[1:] != kept_lead[:-1]]) - 1 if len(kept_lead)
                else np.zeros(0, dtype=np.int64)).astype(np.int64)
    evaluated = examples.evaluated
    if evaluated is not None:
        evaluated = (evaluated_snapshot(lead, age, spec.features.evaluation_age_days, drawn) if age is not None
                     else evaluated[keep])
    excluded = dict(examples.excluded)
    counts = dict(examples.counts)
    if lost:
        excluded[NO_SNAPSHOT_IN_RECORD] = excluded.get(NO_SNAPSHOT_IN_RECORD, 0) + len(lost)
        lost_rows = ids.isin(lost).to_numpy()
        won_lost = int(pd.Series(examples.label[lost_rows], index=ids[lost_rows]).groupby(level=0).max().sum())
        if counts:
            by = dict(counts.get("wins_excluded_by", {}))
            by[NO_SNAPSHOT_IN_RECORD] = by.get(NO_SNAPSHOT_IN_RECORD, 0) + won_lost
            counts |= {"wins_excluded": counts["wins_excluded"] + won_lost, "wins_excluded_by": by}
    if counts:
        counts |= {"leads": int(leads[LEAD_ID].nunique()), "snapshots": int(keep.sum()),
                   "after_record": int(beyond.sum())}
        if counts.get("ages") and age is not None:
            listed = ~drawn if drawn is not None else np.ones(len(age), dtype=bool)
            counts["snapshots_by_age"] = [int((listed & (age == a)).sum()) for a in counts["ages"]]
            counts["drawn"] = int(drawn.sum()) if drawn is not None else 0
    return replace(examples, leads=leads, as_of=examples.as_of[keep], label=examples.label[keep],
                   order=examples.order[keep], excluded=excluded, lead=lead, age_days=age, evaluated=evaluated,
                   drawn=drawn, counts=counts), int(beyond.sum())
