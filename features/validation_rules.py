"""The rules a CRM export must keep, derived from its dataset spec (and a training profile), and
the view of each table that they read.

`table_plans` turns the cleaned tables into one `TablePlan` per table: a view that keeps the
company's column names, and the rules on it in plain words. Values are read once, by the one
parser of their kind (`features.values`, called by `features.load.coerce`); every rule about
reading reads a companion column, "<name> (unreadable)", "<name> (not a timestamp)", "<name>
(not a known lead)", ..., that is missing except at the failing rows, where it holds the raw
cell text, so a failure shows what the file says ("04/03/2026", "inf"), never a parsed guess.
`features.expectations` turns each rule into a Great Expectations expectation and runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from features import values as V
from features.errors import DataError
from features.load import (CLOSED_AT, CREATED_AT, LEAD_ID, WON, CRMTables, normalise_category)
from features.profile import DataProfile
from features.spec import DatasetSpec

MIN_CLOSED_PER_OUTCOME = 40
"""Training needs at least this many won and this many lost closed leads."""
CATEGORY_MOSTLY = 0.95
"""Share of a categorical column's values that must have been seen in training."""
RANGE_MOSTLY = 0.99
"""Share of a numeric column's values that must lie within the (widened) training range."""
RANGE_WIDENING = 0.10
"""The training range is widened by this share of its span on each side."""
MAX_EXAMPLES = 5
MISSING = "(missing)"


# ====================================================================================== rules
@dataclass
class Rule:
    """A rule on one column of a table's view, turned into a Great Expectations expectation."""

    words: str
    column: str | None
    kind: str
    """exists | not_null | null | between | in_set | unique | sum_at_least | not_before"""
    target: str
    """Column of the view that the rule reads."""
    params: dict[str, Any] = field(default_factory=dict)
    row_rule: bool = False
    """A rule on single rows that `drop_invalid_rows` may enforce by dropping the failing rows
    (the target is a marked column: missing except at failing rows)."""


class TablePlan:
    """The view of one table that the rules read, and the rules."""

    def __init__(self, table: str, rows: int) -> None:
        self.table = table
        self.rows = rows
        self.columns: dict[str, pd.Series] = {}
        self.rules: list[Rule] = []
        self.repetitive: set[str] = set()
        self.unmatched: list[tuple[str, str]] = []
        """(view column, what the rows are) of each unknown-lead rule: its note is counted from the view."""

    @property
    def notes(self) -> list[str]:
        """Notes for the report, counted from the view (so a view merged from partitions counts
        the whole table): the rows that match no lead, with examples."""
        out = []
        for target, what in self.unmatched:
            marked = self.columns[target]
            unmatched = int(marked.notna().sum())
            if unmatched:
                examples = ", ".join(str(v) for v in pd.unique(marked.dropna().astype(str))[:MAX_EXAMPLES])
                out.append(f"{unmatched:,} of {self.rows:,} {what} ({unmatched / max(self.rows, 1):.1%}) match no "
                           f"lead of the leads table, e.g. {examples}; they are not used")
        return out

    def show(self, name: str, values: pd.Series | np.ndarray, repetitive: bool = False) -> None:
        """Put a column in the view. `repetitive` text (categories, yes/no, outcomes) is
        handed to Great Expectations as a categorical, see `compact_frame`."""
        if repetitive:
            self.repetitive.add(name)
        if isinstance(values, pd.Series):
            values = values.reset_index(drop=True)
        else:
            values = pd.Series(values, dtype=object if values.dtype == object else None)
        self.columns[name] = values

    def rule(self, words: str, column: str | None, kind: str, target: str, row_rule: bool = False,
             **params: Any) -> None:
        self.rules.append(Rule(words, column, kind, target, params, row_rule))

    def invalid_rows(self) -> dict[str, np.ndarray]:
        """Per row rule (its words), the rows that break it."""
        return {rule.words: self.columns[rule.target].notna().to_numpy() for rule in self.rules
                if rule.row_rule and rule.target in self.columns}

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.columns, copy=False)

    def compact_frame(self) -> pd.DataFrame:
        """The view with repetitive text columns as categoricals: Great Expectations copies
        the whole frame for every rule it checks, and copying small integer codes is much
        cheaper than copying millions of Python strings. Values and missing values are
        unchanged."""
        columns = {}
        for name, values in self.columns.items():
            if name in self.repetitive and (values.dtype == object or isinstance(values.dtype, pd.StringDtype)):
                values = values.astype("category")
            columns[name] = values
        return pd.DataFrame(columns, copy=False)


def table_plans(spec: DatasetSpec, cleaned: CRMTables, canonical: CRMTables, purpose: str,
                profile: DataProfile | None, now: pd.Timestamp) -> list[TablePlan]:
    """The view and the rules of each table of the export: leads, then activities and (to
    train) outcomes when the spec has them."""
    plans = [_plan_leads(spec, cleaned, canonical, purpose, profile, now)]
    lead_ids = _text_set(canonical.leads[LEAD_ID])
    if spec.activities is not None and cleaned.activities is not None:
        plans.append(_plan_activities(spec, cleaned, canonical, profile, now, lead_ids))
    if purpose == "train" and spec.outcomes is not None:
        if cleaned.outcomes is None:
            raise DataError("the spec has an outcomes table but none was loaded; training needs "
                            "it: check `outcomes.file` in the spec")
        plans.append(_plan_outcomes(spec, cleaned, canonical, now, lead_ids))
    return plans


# ================================================================================ planning
def _plan_leads(spec: DatasetSpec, cleaned: CRMTables, canonical: CRMTables, purpose: str,
                profile: DataProfile | None, now: pd.Timestamp) -> TablePlan:
    lead = spec.leads
    raw, can = cleaned.leads, canonical.leads
    _check_aligned("leads", raw, can)
    plan = TablePlan("leads", len(raw))
    training = purpose == "train"
    required = [lead.id, lead.created_at, *spec.profile_columns]
    if training:
        required += [lead.order_by, lead.label, *lead.after_contact]
    present = set(raw.columns)
    for column in dict.fromkeys(c for c in required if c is not None):
        plan.rule(f"column {column} is present", column, "exists", column)

    readings = canonical.readings.get("leads", {})
    if lead.id in present:
        _id_rules(plan, lead.id, raw[lead.id], readings[lead.id], "lead")
        plan.rule(f"lead ids in {lead.id} are unique (exact duplicate rows were already dropped; "
                  "ids are compared as read: ' 101', '101' and '101.0' are one id)", lead.id, "unique",
                  f"{lead.id} (as read)")
    if lead.created_at and lead.created_at in present:
        # To score, a lead may come without a created time (scored as of the typical training
        # age and time of year, as the API does); an unreadable one is refused either way.
        _timestamp_rules(plan, "leads", lead.created_at, raw[lead.created_at], readings[lead.created_at], now, "lead",
                         required=training)
    if training and lead.order_by and lead.order_by in present:
        order = readings[f"{lead.order_by} (order)"]
        why = f"; as times: {order.problem}" if order.problem else ""
        _refused_rule(plan, lead.order_by, raw[lead.order_by], order,
                      f"{lead.order_by} orders every lead in time: numbers, times (ISO 8601, or day/month/year "
                      f"with leads.dayfirst or leads.date_format) or month names (read as {order.how}{why})",
                      required=True)

    for column in lead.categorical:
        if column not in present:
            continue
        plan.show(column, raw[column], repetitive=True)
        known = (profile.categorical.get(column) if profile is not None else None)
        if known:
            plan.rule(f"at least {CATEGORY_MOSTLY:.0%} of {column} values are values seen in "
                      "training", column, "in_set", column, value_set=known, mostly=CATEGORY_MOSTLY)
    for column in lead.numeric:
        if column not in present:
            continue
        _number_rules(plan, column, raw[column], can[column], readings[column])
        if profile is not None and column in profile.numeric:
            low, high = _widened(profile.numeric[column].min, profile.numeric[column].max)
            plan.rule(f"at least {RANGE_MOSTLY:.0%} of {column} values lie in the training range "
                      f"{_number(profile.numeric[column].min)} to {_number(profile.numeric[column].max)} "
                      f"(widened by {RANGE_WIDENING:.0%}: {_number(low)} to {_number(high)})",
                      column, "between", column, min_value=low, max_value=high, mostly=RANGE_MOSTLY)
    yes_no = _normalised([*lead.yes_values, *lead.no_values])
    for column in lead.yes_no:
        if column not in present:
            continue
        _refused_rule(plan, column, raw[column], readings[column],
                      f"{column} holds only yes/no values ({', '.join(yes_no)}, true/false, 1/0)")
    if training:
        for column in lead.after_contact:
            if column in present:
                plan.show(column, raw[column], repetitive=True)
        if lead.label and lead.label in present:
            won, lost = _normalised(lead.label_won), _normalised(lead.label_lost)
            _refused_rule(plan, lead.label, raw[lead.label], readings[lead.label],
                          f"{lead.label} holds only won values ({_listed(won)}) or lost values "
                          f"({_listed(lost)}); missing means open")
            _count_rules(plan, lead.label, can[WON].to_numpy(), won, lost)
    return plan


def _count_rules(plan: TablePlan, column: str, won: np.ndarray, won_words: list[str], lost_words: list[str],
                 extra_lost: int = 0, extra_words: str = "") -> None:
    """At least MIN_CLOSED_PER_OUTCOME won and lost leads; `won` is the read outcome (1, 0, NaN)
    per row; `extra_lost` leads count as lost without a row (a list of won deals)."""
    for name, value, words in (("won", 1.0, won_words), ("lost", 0.0, lost_words)):
        target = f"{column} ({name} = 1)"
        hits = (won == value).astype("int64")
        if name == "lost" and extra_lost and len(hits):
            hits[0] += extra_lost  # the rule reads the column's sum
        plan.show(target, hits)
        source = extra_words if (name == "lost" and extra_words) else f"{column} in {_listed(words)}"
        plan.rule(f"at least {MIN_CLOSED_PER_OUTCOME} {name} leads to train on ({source})", column,
                  "sum_at_least", target, min_value=MIN_CLOSED_PER_OUTCOME, what=f"{name} leads")


def _plan_activities(spec: DatasetSpec, cleaned: CRMTables, canonical: CRMTables,
                     profile: DataProfile | None, now: pd.Timestamp, lead_ids: Any) -> TablePlan:
    act = spec.activities
    raw, can = cleaned.activities, canonical.activities
    _check_aligned("activities", raw, can)
    readings = canonical.readings.get("activities", {})
    plan = TablePlan("activities", len(raw))
    present = set(raw.columns)
    for column in dict.fromkeys(c for c in (act.lead_id, act.time, act.type, act.value) if c):
        plan.rule(f"column {column} is present", column, "exists", column)
    if act.lead_id in present:
        _id_rules(plan, act.lead_id, raw[act.lead_id], readings[act.lead_id], "activity")
        _unmatched_rule(plan, act.lead_id, raw[act.lead_id], can[LEAD_ID], lead_ids, act.max_unmatched_share,
                        "activities", "activities")
    if act.time in present:
        _timestamp_rules(plan, "activities", act.time, raw[act.time], readings[act.time], now, "activity")
    if act.type in present:
        plan.show(act.type, raw[act.type], repetitive=True)
        if profile is not None and profile.activity_types:
            plan.rule(f"at least {CATEGORY_MOSTLY:.0%} of {act.type} values are activity types "
                      "seen in training", act.type, "in_set", act.type,
                      value_set=profile.activity_types, mostly=CATEGORY_MOSTLY)
    if act.value and act.value in present:
        _number_rules(plan, act.value, raw[act.value], can["value"], readings[act.value])
    return plan


def _plan_outcomes(spec: DatasetSpec, cleaned: CRMTables, canonical: CRMTables,
                   now: pd.Timestamp, lead_ids: Any) -> TablePlan:
    out, lead = spec.outcomes, spec.leads
    raw, can = cleaned.outcomes, canonical.outcomes
    _check_aligned("outcomes", raw, can)
    readings = canonical.readings.get("outcomes", {})
    plan = TablePlan("outcomes", len(raw))
    present = set(raw.columns)
    for column in dict.fromkeys(c for c in (out.lead_id, out.outcome, out.closed_at) if c):
        plan.rule(f"column {column} is present", column, "exists", column)
    if out.lead_id in present:
        _id_rules(plan, out.lead_id, raw[out.lead_id], readings[out.lead_id], "outcome")
        plan.rule(f"each lead has at most one outcome ({out.lead_id} unique as read; exact duplicate "
                  "rows were already dropped)", out.lead_id, "unique", f"{out.lead_id} (as read)")
        _unmatched_rule(plan, out.lead_id, raw[out.lead_id], can[LEAD_ID], lead_ids, out.max_unmatched_share,
                        "outcomes", "outcomes")
    won, lost = _normalised(out.won), _normalised(out.lost)
    if out.outcome and out.outcome in present:
        plan.show(out.outcome, raw[out.outcome], repetitive=True)
        plan.rule(f"every outcome has a value in {out.outcome}", out.outcome, "not_null", out.outcome)
        _refused_rule(plan, out.outcome, raw[out.outcome], readings[out.outcome],
                      f"{out.outcome} holds only won values ({_listed(won)}) or lost values ({_listed(lost)})")
    if out.closed_at in present:
        _timestamp_rules(plan, "outcomes", out.closed_at, raw[out.closed_at], readings[out.closed_at], now, "outcome")
        if lead.created_at and CREATED_AT in canonical.leads.columns:
            target = f"{out.closed_at} (before the lead's {lead.created_at})"
            plan.show(target, _closed_before_created(raw[out.closed_at], can, canonical.leads))
            plan.rule(f"{out.closed_at} is not before the lead's {lead.created_at}", out.closed_at,
                      "null", target, row_rule=True)
    if out.outcome is None or out.outcome in present:
        inferred = canonical.inferred_outcomes
        extra = 0 if inferred is None else len(inferred)
        words = ""
        if out.absent_lost_after_days is not None:
            words = (f"leads with no outcome row count as lost {out.absent_lost_after_days:g} days after they were "
                     "created: outcomes.absent_lost_after_days")
        elif out.absent_lost_before is not None:
            words = (f"leads with no outcome row created before {out.absent_lost_before} count as lost: "
                     "outcomes.absent_lost_before")
        elif out.outcome is None:
            words = ("a list of won deals has no lost ones: say when a lead absent from it counts as lost with "
                     "outcomes.absent_lost_after_days or outcomes.absent_lost_before")
        _count_rules(plan, out.outcome or out.lead_id, can[WON].to_numpy(), won, lost, extra, words)
    return plan


def _id_rules(plan: TablePlan, column: str, raw: pd.Series, reading: V.Reading, what: str) -> None:
    """Every row has a readable id; the view shows the ids as read (the one key of all tables)."""
    plan.show(column, raw)
    plan.show(f"{column} (as read)", reading.values)
    target = f"{column} (no id)"
    missing = pd.isna(pd.Series(reading.values)).to_numpy() & ~reading.refused
    rows = np.flatnonzero(missing | reading.refused)
    texts = np.array([MISSING if m else V.shown(r) for m, r in
                      zip(missing[rows], raw.iloc[rows].tolist())], dtype=object)
    plan.show(target, _marked(len(raw), rows, texts))
    plan.rule(f"every {what} has a readable lead id in {column} (not blank, no control characters)",
              column, "null", target, row_rule=plan.table != "leads")


def _refused_rule(plan: TablePlan, column: str, raw: pd.Series, reading: V.Reading, words: str,
                  required: bool = False) -> None:
    """A rule that every value of a column reads as its kind; failures show the raw text."""
    if column not in plan.columns:
        plan.show(column, raw, repetitive=True)
    target = f"{column} (unreadable)"
    bad = reading.refused.copy()
    if required:
        bad |= pd.isna(pd.Series(reading.values)).to_numpy()
    rows = np.flatnonzero(bad)
    plan.show(target, _marked(len(raw), rows, _text_of(raw.iloc[rows], MISSING)))
    plan.rule(words, column, "null", target)


def _unmatched_rule(plan: TablePlan, column: str, raw: pd.Series, ids: pd.Series, lead_ids: Any,
                    share: float, table: str, what: str) -> None:
    target = f"{column} (not a known lead)"
    marked = _unknown_leads(raw, ids, lead_ids)
    plan.show(target, marked)
    plan.unmatched.append((target, what))
    plan.rule(f"at most {share:.0%} of {what}' {column} values match no lead of the leads table (more usually "
              f"means the two files use different ids or come from different exports; "
              f"{table}.max_unmatched_share sets the share)", column, "null", target,
              mostly=1.0 - share)


def _timestamp_rules(plan: TablePlan, table: str, column: str, raw: pd.Series, reading: V.Reading,
                     now: pd.Timestamp, what: str, required: bool = True) -> None:
    parsed = pd.Series(reading.values.view("datetime64[ns]"))
    plan.show(column, parsed)
    target = f"{column} (not a timestamp)"
    absent = pd.isna(parsed).to_numpy() & ~reading.refused & required
    rows = np.flatnonzero(reading.refused | absent)
    texts = np.where(absent[rows], MISSING, _text_of(raw.iloc[rows], MISSING)).astype(object)
    plan.show(target, _marked(len(raw), rows, texts))
    if reading.problem:
        plan.rule(f"{column} is written in one time format; {reading.problem}. State it in the spec: "
                  f"{table}.dayfirst: true (or false), or {table}.date_format such as \"%d/%m/%Y\"",
                  column, "null", target)
    else:
        plan.rule(f"{column} holds a time on every {what}, written as {reading.how or 'ISO 8601'} "
                  f"(else set {table}.date_format)" if required else
                  f"{column} holds a time, written as {reading.how or 'ISO 8601'}, or nothing "
                  f"(else set {table}.date_format)", column, "null", target, row_rule=table != "leads")
    future = (parsed > now).to_numpy(dtype=bool)
    rows = np.flatnonzero(future)
    texts = np.array([f"{r} (read as {p})" for r, p in zip(_text_of(raw.iloc[rows], MISSING), parsed.iloc[rows])],
                     dtype=object)
    ahead = f"{column} (in the future)"
    plan.show(ahead, _marked(len(raw), rows, texts))
    plan.rule(f"{column} is not in the future (after {now:%Y-%m-%d %H:%M} UTC)", column, "null", ahead)


def _number_rules(plan: TablePlan, column: str, raw: pd.Series, parsed: pd.Series, reading: V.Reading) -> None:
    plan.show(column, parsed)
    table = plan.table
    if reading.problem:
        words = (f"{column} holds numbers read one way only; {reading.problem}: state it in the spec, "
                 f"{table}.decimal: \".\" (1.250 is 1.25) or {table}.decimal: \",\" (1.250 is 1250)")
    else:
        words = f"{column} holds finite numbers (or nothing), read as {reading.how}"
    _refused_rule(plan, column, raw, reading, words)


# =========================================================================== derived views
def utc_naive(now: pd.Timestamp | datetime | str | None) -> pd.Timestamp:
    """`now` as a naive UTC timestamp, like the parsed timestamps of the tables."""
    if now is None:
        return pd.Timestamp.now(tz="UTC").tz_localize(None)
    now = pd.Timestamp(now)
    if now.tzinfo is not None:
        now = now.tz_convert("UTC").tz_localize(None)
    return now


def _check_aligned(table: str, raw: pd.DataFrame, canonical: pd.DataFrame) -> None:
    if len(raw) != len(canonical):
        raise ValueError(f"the cleaned and canonical {table} tables differ in length "
                         f"({len(raw):,} and {len(canonical):,} rows): pass both from one "
                         "features.load.load_clean call")


def _normalised(values: list[str]) -> list[str]:
    """Spec values spelled as cleaning spells data values (trimmed, lower case)."""
    cleaned = normalise_category(pd.Series(list(values), dtype=object)).dropna()
    return list(dict.fromkeys(str(v) for v in cleaned))


def _listed(values: list[str]) -> str:
    return "/".join(values) if values else "(none)"


def _text_of(values: pd.Series, missing: str | None) -> np.ndarray:
    """Values as text (object array); missing or blank values become `missing`."""
    text = values.astype("string")
    blank = (text.isna() | (text.str.strip() == "")).fillna(True).to_numpy(dtype=bool)
    out = text.to_numpy(dtype=object, na_value=None)
    out[blank] = missing
    return out


def _marked(n: int, rows: np.ndarray, texts: np.ndarray) -> pd.Series:
    """A column that is missing except at `rows`, where it holds `texts`. Built as a
    categorical: cheap to create, fingerprint and filter even on tens of millions of rows."""
    codes = np.full(n, -1, dtype=np.int32)
    categories: Any = []
    if rows.size:
        found, categories = pd.factorize(pd.Series(texts, dtype=object))
        codes[rows] = found
    return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype=object)))


def _arrow_text(values: pd.Series) -> Any:
    """A column as a pyarrow large_string array (no copy for pandas' own text columns)."""
    import pyarrow as pa

    array = pa.array(values, from_pandas=True)
    return array if pa.types.is_large_string(array.type) else array.cast(pa.large_string())


def _text_set(values: pd.Series | list[str]) -> Any:
    """The distinct non-missing values of a column, as text, for `_isin`."""
    import pyarrow.compute as pc

    return pc.unique(_arrow_text(pd.Series(values, dtype=object) if isinstance(values, list)
                                 else values).drop_null())


def _isin(values: pd.Series, allowed: Any) -> np.ndarray:
    """values.isin(allowed) as a boolean array, fast on tens of millions of rows: a
    categorical is checked through its categories, text through pyarrow. `allowed` comes
    from `_text_set`; values are compared as text."""
    import pyarrow.compute as pc

    if isinstance(values.dtype, pd.CategoricalDtype):
        known = _isin(pd.Series(values.cat.categories), allowed)
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, known[np.maximum(codes, 0)], False)
    found = pc.is_in(_arrow_text(values), value_set=allowed)
    return found.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)


def _unknown_leads(raw_ids: pd.Series, ids: pd.Series, lead_ids: Any) -> pd.Series:
    """The raw lead ids whose id as read is not a lead of the leads table; missing elsewhere
    (and where the id is missing: the id rule reports those)."""
    unknown = ~_isin(ids, lead_ids) & pd.notna(ids).to_numpy()
    rows = np.flatnonzero(unknown)
    return _marked(len(raw_ids), rows, _text_of(raw_ids.iloc[rows], MISSING))


def _closed_before_created(raw_closed: pd.Series, outcomes: pd.DataFrame, leads: pd.DataFrame) -> pd.Series:
    """Raw closing text of outcomes closed before their lead was created, with both times as
    read ("02/01/2024 (read as 2024-01-02, created 2024-03-01)"); missing elsewhere."""
    created = pd.Series(leads[CREATED_AT].to_numpy(), index=pd.Index(leads[LEAD_ID].astype(object)))
    created = created[~created.index.duplicated()]
    lead_created = created.reindex(pd.Index(outcomes[LEAD_ID].astype(object))).to_numpy()
    closed = outcomes[CLOSED_AT].to_numpy()
    before = (closed < lead_created) & ~pd.isna(closed) & ~pd.isna(lead_created)
    rows = np.flatnonzero(before)
    texts = [f"{r} (read as {shown_value(c)}, created {shown_value(m)})" for r, c, m in
             zip(_text_of(raw_closed.iloc[rows], MISSING), closed[rows], lead_created[rows])]
    return _marked(len(raw_closed), rows, np.array(texts, dtype=object))


def _widened(low: float, high: float) -> tuple[float, float]:
    span = high - low
    pad = RANGE_WIDENING * span if span > 0 else max(abs(high) * RANGE_WIDENING, 1.0)
    return low - pad, high + pad


def _number(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4g}"


def shown_value(value: Any) -> str:
    """A value as the report prints it."""
    if value is None or value is pd.NaT or value is pd.NA:
        return MISSING
    if isinstance(value, (float, np.floating)):
        return MISSING if np.isnan(value) else _number(float(value))
    if isinstance(value, (pd.Timestamp, np.datetime64, datetime)):
        stamp = pd.Timestamp(value)
        return MISSING if pd.isna(stamp) else str(stamp)
    if isinstance(value, str):
        return value if value and value.strip() == value else repr(value)
    return str(value)
