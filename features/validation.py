"""Checking a CRM export before it is trusted.

`validate_tables` derives a Great Expectations suite per table from the dataset spec (and,
once a model exists, from its training profile), runs it on the cleaned tables, and returns a
`ValidationReport`: every failed rule in plain words with its table, the company's own column
name, how many rows fail and a few example values. Training and batch scoring call the same
function; `leadscore validate` prints its report.

How the checks see the data: each table is shown to Great Expectations as a "view" that
keeps the company's column names. Timestamps and numbers are shown already parsed (by
`features.load.coerce`, so they are parsed once), and every parse check reads a companion
column "<name> (not a timestamp)" / "<name> (not a number)" holding the raw text of the rows
that did not parse, so that a failure shows the offending text ("abc"), not a blank.

Tables longer than `GX_MAX_ROWS` (the activity log of a very large CRM) are checked with the
same rules computed directly with pandas/numpy: Great Expectations' pandas engine
fingerprints the whole frame and copies it for every rule, which grows too costly beyond some
tens of millions of rows. Those rules are reported in the same format; they are absent from
the Data Docs pages.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import pandas as pd

from features.errors import DataError, LeadscoreError
from features.load import (ACTIVITY_TYPE, CLOSED_AT, CREATED_AT, LEAD_ID, OCCURRED_AT, ORDER,
                           VALUE, CRMTables, normalise_category)
from features.profile import DataProfile
from features.spec import DatasetSpec

Purpose = Literal["train", "score"]

MIN_CLOSED_PER_OUTCOME = 40
"""Training needs at least this many won and this many lost closed leads."""
CATEGORY_MOSTLY = 0.95
"""Share of a categorical column's values that must have been seen in training."""
RANGE_MOSTLY = 0.99
"""Share of a numeric column's values that must lie within the (widened) training range."""
RANGE_WIDENING = 0.10
"""The training range is widened by this share of its span on each side."""
MAX_EXAMPLES = 5
GX_MAX_ROWS = 25_000_000
"""Tables with more rows than this are checked with pandas/numpy instead of Great Expectations.
Measured on 2 cores, 1M leads + 20M activities + 850k outcomes take about 10 s through Great
Expectations and about 4 s with pandas (docs/validation.md)."""
MISSING = "(missing)"
DOCS_SITE = "leadscore"

ENGINE_GX = "great_expectations"
ENGINE_PANDAS = "pandas"


class ValidationFailed(LeadscoreError):
    """The data broke one or more validation rules; the message lists them."""

    def __init__(self, report: "ValidationReport") -> None:
        self.report = report
        super().__init__(report.summary())


@dataclass(frozen=True)
class RuleFailure:
    """One rule the data broke."""

    rule: str
    """The rule in plain words."""
    table: str
    column: str | None
    """The company's own column name (None for a rule on the whole table)."""
    failing: int | None
    """Rows that break the rule; None for a rule on a total (too few won leads)."""
    examples: list[str] = field(default_factory=list)
    """Up to five distinct offending values, as text."""
    observed: str | None = None
    """What was found, for rules on a total ("12 won leads")."""
    engine: str = ENGINE_GX

    def describe(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        found = self.observed if self.failing is None else f"{self.failing:,} rows fail"
        text = f"{where}: {self.rule} ({found})"
        if self.examples:
            text += "; e.g. " + ", ".join(self.examples)
        return text


@dataclass
class ValidationReport:
    spec_name: str
    purpose: str
    success: bool
    failures: list[RuleFailure]
    checked: int
    """Rules run."""
    docs_index: Path | None = None
    rows: dict[str, int] = field(default_factory=dict)
    engines: dict[str, str] = field(default_factory=dict)
    """Per table, what computed its rules (great_expectations or pandas)."""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed_columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for failure in self.failures:
            seen[f"{failure.table}.{failure.column}" if failure.column else failure.table] = None
        return list(seen)

    def conclusion(self) -> str:
        """One line: passed, or what to fix."""
        if self.success:
            return f"{self.checked} rules passed"
        where = ", ".join(self.failed_columns[:6]) + (" ..." if len(self.failed_columns) > 6 else "")
        return (f"{len(self.failures)} of {self.checked} rules failed: fix {where} in the export "
                f"(or the spec if it names the wrong column), then run validate again")

    def summary(self) -> str:
        """A readable summary: one line per failure, then the conclusion."""
        sizes = ", ".join(f"{table} {n:,} rows" for table, n in self.rows.items())
        lines = [f"validation of {self.spec_name} for {self.purpose} ({sizes}): "
                 + ("passed" if self.success else "FAILED")]
        lines += [f"  - {failure.describe()}" for failure in self.failures]
        lines += [f"  note: {note}" for note in self.notes]
        lines.append(self.conclusion())
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if not self.success:
            raise ValidationFailed(self)


# ====================================================================================== rules
@dataclass
class _Rule:
    """A rule on one column of a table's view, in a form both engines understand."""

    words: str
    column: str | None
    kind: str
    """exists | not_null | null | between | in_set | unique | sum_at_least | not_before"""
    target: str
    """Column of the view that the rule reads."""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Outcome:
    success: bool
    failing: int | None = None
    examples: list[str] = field(default_factory=list)
    observed: str | None = None


class _TablePlan:
    """The view of one table that the rules read, and the rules."""

    def __init__(self, table: str, rows: int) -> None:
        self.table = table
        self.rows = rows
        self.columns: dict[str, pd.Series] = {}
        self.rules: list[_Rule] = []
        self.repetitive: set[str] = set()

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

    def rule(self, words: str, column: str | None, kind: str, target: str, **params: Any) -> None:
        self.rules.append(_Rule(words, column, kind, target, params))

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


def validate_tables(spec: DatasetSpec, cleaned: CRMTables, canonical: CRMTables, *,
                    purpose: Purpose = "train", profile: DataProfile | None = None,
                    now: pd.Timestamp | None = None, docs_dir: Path | None = None,
                    gx_max_rows: int | None = None) -> ValidationReport:
    """Check the tables of a CRM export against the rules derived from its spec and profile.

    `cleaned` and `canonical` are the first two results of `features.load.load_clean`
    (row-aligned). purpose="score" checks batch-scoring input: the outcome rules are skipped.
    `now` (default: the current UTC time) is the moment no timestamp may be after. With
    `docs_dir`, Great Expectations Data Docs HTML is written there. Tables longer than
    `gx_max_rows` (default GX_MAX_ROWS) are checked with pandas instead."""
    started = time.perf_counter()
    if purpose not in ("train", "score"):
        raise ValueError(f"purpose must be 'train' or 'score', got {purpose!r}")
    if profile is not None and profile.spec_name != spec.name:
        raise DataError(f"the training profile is for the spec {profile.spec_name!r}, not "
                        f"{spec.name!r}; pass the profile of a model trained on {spec.name!r}, "
                        "or none")
    now = _utc_naive(now)
    plans = [_plan_leads(spec, cleaned, canonical, purpose, profile, now)]
    lead_ids = _text_set(canonical.leads[LEAD_ID])
    if spec.activities is not None and cleaned.activities is not None:
        plans.append(_plan_activities(spec, cleaned, canonical, profile, now, lead_ids))
    if purpose == "train" and spec.outcomes is not None:
        if cleaned.outcomes is None:
            raise DataError("the spec has an outcomes table but none was loaded; training needs "
                            "it: check `outcomes.file` in the spec")
        plans.append(_plan_outcomes(spec, cleaned, canonical, now, lead_ids))

    notes = []
    if profile is None:
        notes.append("no training profile: categorical values and numeric ranges were not "
                     "compared with training data")
    else:
        notes.append(f"compared with the training profile of {profile.rows:,} leads")
    if purpose == "score":
        notes.append("scoring input: the outcome and label rules were skipped")
    limit = GX_MAX_ROWS if gx_max_rows is None else gx_max_rows
    gx_plans = [p for p in plans if p.rows <= limit]
    engines = {p.table: ENGINE_GX if p in gx_plans else ENGINE_PANDAS for p in plans}
    outcomes: dict[tuple[str, int], _Outcome] = {}
    docs_index = None
    if gx_plans or docs_dir is not None:
        gx_outcomes, docs_index = _run_great_expectations(spec.name, gx_plans, docs_dir)
        outcomes.update(gx_outcomes)
    for plan in plans:
        if engines[plan.table] == ENGINE_PANDAS:
            frame = plan.frame()
            for i, rule in enumerate(plan.rules):
                outcomes[(plan.table, i)] = _check_with_pandas(rule, frame)
            notes.append(f"the {plan.table} table ({plan.rows:,} rows) was checked with pandas, "
                         "not Great Expectations, for speed; its rules are not in the Data Docs")

    failures = []
    for plan in plans:
        for i, rule in enumerate(plan.rules):
            result = outcomes[(plan.table, i)]
            if not result.success:
                failures.append(RuleFailure(rule=rule.words, table=plan.table, column=rule.column,
                                            failing=result.failing, examples=result.examples,
                                            observed=result.observed, engine=engines[plan.table]))
    return ValidationReport(
        spec_name=spec.name, purpose=purpose, success=not failures, failures=failures,
        checked=sum(len(p.rules) for p in plans), docs_index=docs_index,
        rows={p.table: p.rows for p in plans}, engines=engines, notes=notes,
        seconds=time.perf_counter() - started)


# ================================================================================ planning
def _plan_leads(spec: DatasetSpec, cleaned: CRMTables, canonical: CRMTables, purpose: str,
                profile: DataProfile | None, now: pd.Timestamp) -> _TablePlan:
    lead = spec.leads
    raw, can = cleaned.leads, canonical.leads
    _check_aligned("leads", raw, can)
    plan = _TablePlan("leads", len(raw))
    training = purpose == "train"
    required = [lead.id, lead.created_at, *spec.profile_columns]
    if training:
        required += [lead.order_by, lead.label, *lead.after_contact]
    present = set(raw.columns)
    for column in dict.fromkeys(c for c in required if c is not None):
        plan.rule(f"column {column} is present", column, "exists", column)

    if lead.id in present:
        plan.show(lead.id, _blank_to_missing(raw[lead.id]))
        plan.rule(f"every lead has an id in {lead.id}", lead.id, "not_null", lead.id)
        plan.rule(f"lead ids in {lead.id} are unique (exact duplicate rows were already "
                  "dropped)", lead.id, "unique", lead.id)
    if lead.created_at and lead.created_at in present:
        _timestamp_rules(plan, lead.created_at, raw[lead.created_at], can[CREATED_AT], now, "lead")
    if training and lead.order_by and lead.order_by in present:
        _number_rules(plan, lead.order_by, raw[lead.order_by], can[ORDER], required=True)

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
        _number_rules(plan, column, raw[column], can[column], required=False)
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
        plan.show(column, raw[column], repetitive=True)
        plan.rule(f"{column} holds only yes/no values ({', '.join(yes_no)})", column, "in_set",
                  column, value_set=yes_no)
    if training:
        for column in lead.after_contact:
            if column in present:
                plan.show(column, raw[column], repetitive=True)
        if lead.label and lead.label in present:
            _label_rules(plan, spec, raw[lead.label])
    return plan


def _label_rules(plan: _TablePlan, spec: DatasetSpec, label: pd.Series) -> None:
    lead = spec.leads
    won, lost = _normalised(lead.label_won), _normalised(lead.label_lost)
    plan.show(lead.label, label, repetitive=True)
    plan.rule(f"{lead.label} holds only won values ({_listed(won)}) or lost values "
              f"({_listed(lost)}); missing means open", lead.label, "in_set", lead.label,
              value_set=[*won, *lost])
    _count_rules(plan, lead.label, label, won, lost)


def _count_rules(plan: _TablePlan, column: str, outcome: pd.Series, won: list[str], lost: list[str]) -> None:
    for name, values in (("won", won), ("lost", lost)):
        target = f"{column} ({name} = 1)"
        plan.show(target, outcome.isin(values).fillna(False).to_numpy(dtype="int64"))
        plan.rule(f"at least {MIN_CLOSED_PER_OUTCOME} {name} leads to train on ({column} in "
                  f"{_listed(values)})", column, "sum_at_least", target,
                  min_value=MIN_CLOSED_PER_OUTCOME, what=f"{name} leads")


def _plan_activities(spec: DatasetSpec, cleaned: CRMTables, canonical: CRMTables,
                     profile: DataProfile | None, now: pd.Timestamp, lead_ids: Any) -> _TablePlan:
    act = spec.activities
    raw, can = cleaned.activities, canonical.activities
    _check_aligned("activities", raw, can)
    plan = _TablePlan("activities", len(raw))
    present = set(raw.columns)
    for column in dict.fromkeys(c for c in (act.lead_id, act.time, act.type, act.value) if c):
        plan.rule(f"column {column} is present", column, "exists", column)
    if act.lead_id in present:
        plan.show(act.lead_id, raw[act.lead_id])
        target = f"{act.lead_id} (not a known lead)"
        plan.show(target, _unknown_leads(raw[act.lead_id], can[LEAD_ID], lead_ids))
        plan.rule(f"every activity's {act.lead_id} is a lead of the leads table", act.lead_id,
                  "null", target)
    if act.time in present:
        _timestamp_rules(plan, act.time, raw[act.time], can[OCCURRED_AT], now, "activity")
    if act.type in present:
        plan.show(act.type, raw[act.type], repetitive=True)
        if profile is not None and profile.activity_types:
            plan.rule(f"at least {CATEGORY_MOSTLY:.0%} of {act.type} values are activity types "
                      "seen in training", act.type, "in_set", act.type,
                      value_set=profile.activity_types, mostly=CATEGORY_MOSTLY)
    if act.value and act.value in present:
        _number_rules(plan, act.value, raw[act.value], can[VALUE], required=False)
    return plan


def _plan_outcomes(spec: DatasetSpec, cleaned: CRMTables, canonical: CRMTables,
                   now: pd.Timestamp, lead_ids: Any) -> _TablePlan:
    out, lead = spec.outcomes, spec.leads
    raw, can = cleaned.outcomes, canonical.outcomes
    _check_aligned("outcomes", raw, can)
    plan = _TablePlan("outcomes", len(raw))
    present = set(raw.columns)
    for column in dict.fromkeys((out.lead_id, out.outcome, out.closed_at)):
        plan.rule(f"column {column} is present", column, "exists", column)
    if out.lead_id in present:
        ids = _blank_to_missing(raw[out.lead_id])
        plan.show(out.lead_id, ids)
        plan.rule(f"every outcome has a lead id in {out.lead_id}", out.lead_id, "not_null", out.lead_id)
        plan.rule(f"each lead has at most one outcome ({out.lead_id} unique; exact duplicate "
                  "rows were already dropped)", out.lead_id, "unique", out.lead_id)
        target = f"{out.lead_id} (not a known lead)"
        plan.show(target, _unknown_leads(ids, can[LEAD_ID], lead_ids, missing_ok=True))
        plan.rule(f"every outcome's {out.lead_id} is a lead of the leads table", out.lead_id,
                  "null", target)
    won, lost = _normalised(out.won), _normalised(out.lost)
    if out.outcome in present:
        plan.show(out.outcome, raw[out.outcome], repetitive=True)
        plan.rule(f"every outcome has a value in {out.outcome}", out.outcome, "not_null", out.outcome)
        plan.rule(f"{out.outcome} holds only won values ({_listed(won)}) or lost values "
                  f"({_listed(lost)})", out.outcome, "in_set", out.outcome, value_set=[*won, *lost])
    if out.closed_at in present:
        _timestamp_rules(plan, out.closed_at, raw[out.closed_at], can[CLOSED_AT], now, "outcome")
        if lead.created_at and CREATED_AT in canonical.leads.columns:
            target = f"{lead.created_at} of the lead"
            plan.show(target, _lead_created(can[LEAD_ID], canonical.leads))
            plan.rule(f"{out.closed_at} is not before the lead's {lead.created_at}", out.closed_at,
                      "not_before", out.closed_at, other=target, other_label="created")
    if out.outcome in present:
        _count_rules(plan, out.outcome, raw[out.outcome], won, lost)
    return plan


def _timestamp_rules(plan: _TablePlan, column: str, raw: pd.Series, parsed: pd.Series,
                     now: pd.Timestamp, what: str) -> None:
    plan.show(column, parsed)
    target = f"{column} (not a timestamp)"
    plan.show(target, _unparsed(raw, parsed, required=True))
    plan.rule(f"{column} holds a timestamp on every {what}", column, "null", target)
    plan.rule(f"{column} is not in the future (after {now:%Y-%m-%d %H:%M} UTC)", column,
              "between", column, max_value=now)


def _number_rules(plan: _TablePlan, column: str, raw: pd.Series, parsed: pd.Series, required: bool) -> None:
    plan.show(column, parsed)
    target = f"{column} (not a number)"
    plan.show(target, _unparsed(raw, parsed, required=required))
    plan.rule(f"{column} holds numbers" + (" on every row" if required else " (or nothing)"),
              column, "null", target)


# =========================================================================== derived views
def _utc_naive(now: pd.Timestamp | datetime | str | None) -> pd.Timestamp:
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


def _blank_to_missing(values: pd.Series) -> pd.Series:
    """Blank text counts as missing (an empty id cell is no id)."""
    if values.dtype.kind in "biufcmM":
        return values
    blank = (values.astype("string").str.strip() == "").fillna(False).to_numpy(dtype=bool)
    if not blank.any():
        return values
    return values.astype(object).where(~blank, None)


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


def _unparsed(raw: pd.Series, parsed: pd.Series, required: bool) -> pd.Series:
    """The raw text of the rows whose value did not parse; missing elsewhere. A missing or
    blank value counts as "did not parse" only when the column is `required`."""
    failed = pd.isna(parsed).to_numpy()
    if not failed.any():
        return _marked(len(raw), np.array([], dtype=np.int64), np.array([], dtype=object))
    missing = raw.isna().to_numpy()
    rows = np.flatnonzero(failed & ~missing)
    texts = _text_of(raw.iloc[rows], MISSING if required else None)
    if required:
        gone = np.flatnonzero(failed & missing)
        rows = np.concatenate([rows, gone])
        texts = np.concatenate([texts, np.full(gone.size, MISSING, dtype=object)])
    else:
        kept = pd.notna(texts)
        rows, texts = rows[kept], texts[kept]
    return _marked(len(raw), rows, texts)


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


def _unknown_leads(raw_ids: pd.Series, ids: pd.Series, lead_ids: Any,
                   missing_ok: bool = False) -> pd.Series:
    """The raw lead ids that are not leads of the leads table; missing elsewhere."""
    unknown = ~_isin(ids, lead_ids)
    if missing_ok:
        unknown &= ~raw_ids.isna().to_numpy()
    rows = np.flatnonzero(unknown)
    return _marked(len(raw_ids), rows, _text_of(raw_ids.iloc[rows], MISSING))


def _lead_created(outcome_ids: pd.Series, leads: pd.DataFrame) -> np.ndarray:
    """For each outcome, its lead's created time (NaT for unknown leads)."""
    created = pd.Series(leads[CREATED_AT].to_numpy(), index=pd.Index(leads[LEAD_ID].astype(str)))
    created = created[~created.index.duplicated()]
    return created.reindex(pd.Index(outcome_ids.astype(str))).to_numpy()


def _widened(low: float, high: float) -> tuple[float, float]:
    span = high - low
    pad = RANGE_WIDENING * span if span > 0 else max(abs(high) * RANGE_WIDENING, 1.0)
    return low - pad, high + pad


def _number(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4g}"


def _show(value: Any) -> str:
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


def _examples(values: Any, rule: _Rule) -> list[str]:
    """Up to MAX_EXAMPLES distinct values as text; a pair (closed, created) as
    "2024-01-02 00:00:00 (created 2024-03-01 00:00:00)"."""
    shown: dict[str, None] = {}
    label = rule.params.get("other_label", "other")
    for value in values:
        if isinstance(value, tuple) and len(value) == 2:
            text = f"{_show(value[0])} ({label} {_show(value[1])})"
        else:
            text = _show(value)
        shown[text] = None
        if len(shown) == MAX_EXAMPLES:
            break
    return list(shown)


# ======================================================================== great expectations
@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No progress bars, log lines or warnings from Great Expectations (some of its modules
    set their own loggers to INFO, so every one of its loggers is turned down, then back)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations  # noqa: F401 - creates its loggers

        loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
                   if name == "great_expectations" or name.startswith("great_expectations.")]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _expectation(gxe: Any, rule: _Rule, index: int, table: str) -> Any:
    common = {"description": rule.words,
              "meta": {"leadscore_rule": index, "table": table, "column": rule.column}}
    p, column = rule.params, rule.target
    if rule.kind == "exists":
        return gxe.ExpectColumnToExist(column=column, **common)
    if rule.kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=column, **common)
    if rule.kind == "null":
        return gxe.ExpectColumnValuesToBeNull(column=column, **common)
    if rule.kind == "unique":
        return gxe.ExpectColumnValuesToBeUnique(column=column, **common)
    if rule.kind == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(p["value_set"]),
                                               mostly=p.get("mostly", 1.0), **common)
    if rule.kind == "between":
        return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=p.get("min_value"),
                                                 max_value=p.get("max_value"),
                                                 mostly=p.get("mostly", 1.0), **common)
    if rule.kind == "sum_at_least":
        return gxe.ExpectColumnSumToBeBetween(column=column, min_value=p["min_value"], **common)
    if rule.kind == "not_before":
        return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=column, column_B=p["other"], or_equal=True,
            ignore_row_if="either_value_is_missing", **common)
    raise AssertionError(f"unknown rule kind {rule.kind!r}")


def _run_great_expectations(name: str, plans: list[_TablePlan], docs_dir: Path | None
                            ) -> tuple[dict[tuple[str, int], _Outcome], Path | None]:
    """One suite and one validation run per table; then, with docs_dir, the Data Docs."""
    with _quiet():
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # Great Expectations labels each pandas batch with an MD5 of all its rows (only a
        # marker in the result, and seconds of work on a large activity log): a table over
        # this many bytes is not hashed, and here none needs to be.
        from great_expectations.execution_engine import pandas_execution_engine

        pandas_execution_engine.HASH_THRESHOLD = 0
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        source = context.data_sources.add_pandas(name)
        outcomes: dict[tuple[str, int], _Outcome] = {}
        for plan in plans:
            batch = source.add_dataframe_asset(plan.table).add_batch_definition_whole_dataframe(
                f"{plan.table} as loaded")
            suite = context.suites.add(gx.ExpectationSuite(
                name=f"{name}.{plan.table}",
                expectations=[_expectation(gxe, rule, i, plan.table) for i, rule in enumerate(plan.rules)]))
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{name}.{plan.table}", data=batch, suite=suite))
            result = definition.run(batch_parameters={"dataframe": plan.compact_frame()},
                                    result_format={"result_format": "SUMMARY",
                                                   "partial_unexpected_count": 20})
            for item in result.results:
                index = int(item.expectation_config.meta["leadscore_rule"])
                outcomes[(plan.table, index)] = _outcome_of(plan.rules[index], item)
            for index in range(len(plan.rules)):  # never silently pass a rule GX did not run
                outcomes.setdefault((plan.table, index), _Outcome(False, observed="not checked"))

        docs_index = None
        if docs_dir is not None:
            docs_dir = Path(docs_dir).resolve()
            docs_dir.mkdir(parents=True, exist_ok=True)
            context.add_data_docs_site(site_name=DOCS_SITE, site_config={
                "class_name": "SiteBuilder",
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(docs_dir)},
            })
            context.build_data_docs(site_names=[DOCS_SITE])
            docs_index = docs_dir / "index.html"
    return outcomes, docs_index


def _outcome_of(rule: _Rule, item: Any) -> _Outcome:
    """A Great Expectations result as an _Outcome."""
    info = item.exception_info or {}
    problems = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for problem in problems:
        if problem.get("raised_exception"):
            message = str(problem.get("exception_message") or "error").splitlines()[0]
            return _Outcome(False, observed=f"could not be checked: {message}")
    result = item.result or {}
    success = bool(item.success)
    if rule.kind == "exists":
        return _Outcome(success, observed=None if success else "column not found")
    if rule.kind == "sum_at_least":
        return _Outcome(success, observed=_count_found(rule, result.get("observed_value")))
    counts = result.get("partial_unexpected_counts")
    values = [c["value"] for c in counts] if counts else result.get("partial_unexpected_list") or []
    failing = result.get("unexpected_count")
    return _Outcome(success, int(failing) if failing is not None else None, _examples(values, rule))


def _count_found(rule: _Rule, total: Any) -> str:
    total = 0 if total is None else int(total)
    return f"found {total:,} {rule.params['what']}, {rule.params['min_value']} needed"


# ==================================================================================== pandas
def _check_with_pandas(rule: _Rule, frame: pd.DataFrame) -> _Outcome:
    """The same rule computed with pandas/numpy, for tables too long for Great Expectations."""
    p = rule.params
    if rule.target not in frame.columns:
        return _Outcome(False, observed="column not found")
    if rule.kind == "exists":
        return _Outcome(True)
    values = frame[rule.target]
    if rule.kind == "sum_at_least":
        total = int(values.sum())
        return _Outcome(total >= p["min_value"], observed=_count_found(rule, total))
    present = values.notna().to_numpy()
    if rule.kind == "not_null":
        bad = ~present
    elif rule.kind == "null":
        bad = present
    elif rule.kind == "unique":
        bad = values.duplicated(keep=False).to_numpy() & present
    elif rule.kind == "in_set":
        bad = ~_isin(values, _text_set(list(p["value_set"]))) & present
    elif rule.kind == "between":
        bad = np.zeros(len(values), dtype=bool)
        if p.get("min_value") is not None:
            bad |= (values < p["min_value"]).to_numpy(dtype=bool, na_value=False)
        if p.get("max_value") is not None:
            bad |= (values > p["max_value"]).to_numpy(dtype=bool, na_value=False)
        bad &= present
    elif rule.kind == "not_before":
        other = frame[p["other"]]
        bad = (values < other).to_numpy(dtype=bool, na_value=False) & present & other.notna().to_numpy()
    else:
        raise AssertionError(f"unknown rule kind {rule.kind!r}")
    failing = int(bad.sum())
    mostly = p.get("mostly", 1.0)
    if mostly < 1.0:
        counted = int(present.sum())
        success = counted == 0 or (counted - failing) / counted >= mostly
    else:
        success = failing == 0
    rows = np.flatnonzero(bad)[:1000]
    if rule.kind == "not_before":
        shown = zip(values.iloc[rows].tolist(), frame[p["other"]].iloc[rows].tolist())
    else:
        shown = values.iloc[rows].tolist()
    return _Outcome(success, failing, _examples(shown, rule))
