"""Reading a CRM export as its spec describes it, and cleaning it the same way every time.

`load_raw` reads the files with the company's own column names and checks that every column
the spec names is there. `clean` maps placeholders ("Select", empty, "N/A") to missing,
normalises category spellings (case, spaces, aliases), drops exact duplicate rows and turns the
outcome into a boolean, without yet coercing types: validation looks at the cleaned values
first, so that a wrong type is reported with its example values instead of silently
disappearing. `coerce` then gives every role its dtype.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features import values as V
from features.errors import DataError
from features.spec import ROW_NUMBER, DatasetSpec, TableFile

# Canonical names of the role columns once a table is cleaned.
LEAD_ID = "lead_id"
CREATED_AT = "created_at"
ORDER = "_order"
WON = "won"
OCCURRED_AT = "occurred_at"
ACTIVITY_TYPE = "activity_type"
VALUE = "value"
CLOSED_AT = "closed_at"


@dataclass
class CRMTables:
    """The three tables of a CRM export. Outcomes may be None for a flat export with a label
    column (the label is then in `leads[WON]`), activities None when there is no event log."""

    leads: pd.DataFrame
    activities: pd.DataFrame | None = None
    outcomes: pd.DataFrame | None = None
    paths: dict[str, Path] = field(default_factory=dict)
    readings: dict[str, dict[str, "V.Reading"]] = field(default_factory=dict)
    """Per table and raw column, what the value parsers refused (canonical tables only)."""
    inferred_outcomes: pd.DataFrame | None = None
    """Canonical outcome rows of leads absent from a list of won deals that count as lost
    (`absent_lost`); `outcome_rows` joins them to the outcomes table."""
    spellings: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per categorical lead column and cleaned value, the export's most common raw spelling
    (`features.values.category_spellings`): reasons show "Financial Services", not the
    cleaned "financial services". Set by `clean`, kept by `coerce`."""
    end: pd.Timestamp | None = None
    """The moment the export stands for, when known from outside these rows (a partition of
    the export on a cluster: `features.partitions`); else `export_end` computes it."""


@dataclass
class CleaningReport:
    duplicate_rows_dropped: dict[str, int] = field(default_factory=dict)
    placeholders_replaced: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"dropped {n:,} exact duplicate rows from {table}"
               for table, n in self.duplicate_rows_dropped.items() if n]
        total = sum(self.placeholders_replaced.values())
        if total:
            top = sorted(self.placeholders_replaced.items(), key=lambda kv: -kv[1])[:3]
            out.append(f"read {total:,} placeholder values as missing (most in "
                       + ", ".join(f"{c}: {n:,}" for c, n in top) + ")")
        return out


# ---------------------------------------------------------------------------------- reading
# One table's file (CSV dialect and encoding, Excel, Parquet): features/read.py. Imported
# here too, so `from features.load import read_table` keeps working.
from features.read import read_table, table_exists  # noqa: E402


def _require_columns(frame: pd.DataFrame, columns: dict[str, str], path: Path) -> None:
    missing = {key: col for key, col in columns.items() if col not in frame.columns}
    if missing:
        listed = ", ".join(f"{col!r} (spec key {key})" for key, col in missing.items())
        known = ", ".join(map(repr, list(frame.columns)[:12]))
        raise DataError(f"{path}: column {listed} not found. The file has: {known}"
                        f"{' ...' if frame.shape[1] > 12 else ''}. Fix the spec or the export.")


def load_raw(spec: DatasetSpec, data: Path | None = None, purpose: str = "train",
             frames: dict[str, pd.DataFrame] | None = None) -> CRMTables:
    """Read the tables a spec names, with their own column names.

    purpose="score" reads leads to be scored: no outcomes, no label, no after-contact columns
    needed (they are filled with missing when absent), and the event log only if it exists.
    `frames`: the tables already read, by name (a partition of the export on a cluster,
    `features.partitions`); a table it lacks counts as absent, none is read from a file."""

    def read(path: Path, what: str, options: TableFile) -> pd.DataFrame:
        return read_table(path, what, options) if frames is None else frames[what]

    lead = spec.leads
    scoring = purpose == "score"
    path = spec.table_path(lead.file, data)
    leads = read(path, "leads", lead)
    optional = [*lead.after_contact, *([lead.label] if lead.label else [])] if scoring else []
    for column in optional:
        if column not in leads.columns:
            leads[column] = None
    wanted = {} if lead.id == ROW_NUMBER and ROW_NUMBER not in leads.columns else {"leads.id": lead.id}
    for key in ("created_at", "order_by", "label"):
        if getattr(lead, key):
            wanted[f"leads.{key}"] = getattr(lead, key)
    for role in ("categorical", "numeric", "yes_no", "after_contact"):
        for column in getattr(lead, role):
            wanted[f"leads.{role}"] = column
            _require_columns(leads, {f"leads.{role}": column}, path)
    _require_columns(leads, wanted, path)
    tables = CRMTables(leads=leads, paths={"leads": path})

    present = (lambda what, file: table_exists(spec.table_path(file, data))) if frames is None else (
        lambda what, file: frames.get(what) is not None)
    if spec.activities is not None and not (scoring and not present("activities", spec.activities.file)):
        act = spec.activities
        apath = spec.table_path(act.file, data)
        activities = read(apath, "activities", act)
        cols = {"activities.lead_id": act.lead_id, "activities.time": act.time, "activities.type": act.type}
        if act.value:
            cols["activities.value"] = act.value
        _require_columns(activities, cols, apath)
        tables.activities = activities
        tables.paths["activities"] = apath

    if spec.outcomes is not None and not scoring:
        out = spec.outcomes
        opath = spec.table_path(out.file, data)
        outcomes = read(opath, "outcomes", out)
        _require_columns(outcomes, {"outcomes.lead_id": out.lead_id, "outcomes.closed_at": out.closed_at,
                                    **({"outcomes.outcome": out.outcome} if out.outcome else {})}, opath)
        tables.outcomes = outcomes
        tables.paths["outcomes"] = opath
    return tables


# ---------------------------------------------------------------------------------- cleaning
def normalise_category(values: pd.Series, aliases: dict[str, str] | None = None,
                       missing: frozenset[str] = frozenset()) -> pd.Series:
    """`features.values.category` over a column (each distinct value once): trimmed, case-folded,
    spaces collapsed, aliases merged; placeholders in `missing` and blanks become None."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        uniques = pd.Series(values.cat.categories, dtype=object)
        mapped = [V.category(u, missing, V.folded_aliases(aliases)) for u in uniques.tolist()]
        text = np.array([*mapped, None], dtype=object)
        codes = values.cat.codes.to_numpy()
        if len(set(mapped)) == len(mapped) and None not in mapped:  # no spellings merged: stay categorical
            return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(mapped, dtype=object)),
                             index=values.index)
        return pd.Series(text[codes], index=values.index, dtype=object)
    return pd.Series(V.read_categories(values, missing, V.folded_aliases(aliases)), index=values.index, dtype=object)


_MIX = np.uint64(0x9E3779B97F4A7C15)


def row_keys(frame: pd.DataFrame) -> np.ndarray:
    """A 64-bit key per row: equal rows get equal keys (unequal rows rarely do)."""
    key = np.zeros(len(frame), dtype=np.uint64)
    for column in frame.columns:
        values = frame[column]
        dtype = values.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            part = values.cat.codes.to_numpy().astype(np.int64)
        elif dtype.kind == "M":
            part = values.to_numpy("datetime64[ns]").view(np.int64)
        elif dtype.kind == "f":
            number = values.to_numpy(np.float64) + 0.0  # -0.0 and 0.0 are the same value
            part = np.where(np.isnan(number), np.nan, number).view(np.int64)
        elif dtype.kind in "biu" and isinstance(dtype, np.dtype):  # nullable ones (pd.NA) factorize
            part = values.to_numpy().astype(np.int64)
        else:
            part = pd.factorize(values, use_na_sentinel=True)[0].astype(np.int64)
        with np.errstate(over="ignore"):
            key = (key ^ part.view(np.uint64)) * _MIX
            key ^= key >> np.uint64(29)
    return key


def drop_exact_duplicates(frame: pd.DataFrame, small: int = 200_000) -> pd.DataFrame:
    """`frame.drop_duplicates(ignore_index=True)` (the first of equal rows stays), several
    times faster on long tables: rows are compared exactly only where their 64-bit keys repeat."""
    if len(frame) < small:  # pandas is quick enough there
        return frame.drop_duplicates(ignore_index=True)
    key = row_keys(frame)
    ordered = np.sort(key)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(repeated) == 0:
        return frame.reset_index(drop=True)
    maybe = np.flatnonzero(pd.Series(key).isin(np.unique(repeated)).to_numpy())
    dropped = maybe[frame.iloc[maybe].duplicated(keep="first").to_numpy()]
    if len(dropped) == 0:
        return frame.reset_index(drop=True)
    keep = np.ones(len(frame), dtype=bool)
    keep[dropped] = False
    return frame[keep].reset_index(drop=True)


def _placeholders_to_missing(values: pd.Series, placeholders: frozenset[str]) -> tuple[pd.Series, int]:
    """Placeholders and blank text become None (counted); other values stay as they are."""
    if values.dtype.kind in "biufM" and not isinstance(values.dtype, pd.CategoricalDtype):
        return values, 0
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    gone = np.array([V.is_missing(u, placeholders) for u in uniques.tolist()] + [True], dtype=bool)
    mask = gone[codes]
    replaced = int(mask.sum()) - int((codes < 0).sum())
    if not mask.any():
        return values, 0
    return values.astype(object).where(~mask, None), replaced


def clean(spec: DatasetSpec, raw: CRMTables) -> tuple[CRMTables, CleaningReport]:
    """Placeholders to missing, categories normalised, exact duplicates dropped.

    Column names stay the company's own, so validation messages name them. With
    `leads.id: row_number`, the leads get their 1-based row number in the file as id."""
    report = CleaningReport()
    placeholders = V.placeholders(spec.missing_values)
    lead = spec.leads

    leads = raw.leads.copy()
    if lead.id == ROW_NUMBER and ROW_NUMBER not in raw.leads.columns:
        leads[ROW_NUMBER] = np.arange(1, len(leads) + 1).astype(str)
    before = len(leads)
    leads = drop_exact_duplicates(leads)
    report.duplicate_rows_dropped["leads"] = before - len(leads)
    text_columns = [*lead.categorical, *lead.yes_no, *lead.after_contact, *lead.numeric,
                    lead.id, *([lead.created_at] if lead.created_at else []),
                    *([lead.order_by] if lead.order_by else []), *([lead.label] if lead.label else [])]
    for column in dict.fromkeys(text_columns):
        leads[column], report.placeholders_replaced[column] = _placeholders_to_missing(leads[column], placeholders)
    spellings = {column: V.category_spellings(leads[column], placeholders,
                                              V.folded_aliases(spec.category_aliases.get(column)))
                 for column in lead.categorical}
    for column in [*lead.categorical, *lead.after_contact]:
        leads[column] = normalise_category(leads[column], spec.category_aliases.get(column))

    cleaned = CRMTables(leads=leads, paths=dict(raw.paths), spellings=spellings)
    if raw.activities is not None:
        act = spec.activities
        activities = raw.activities
        n = len(activities)
        activities = drop_exact_duplicates(activities)
        report.duplicate_rows_dropped["activities"] = n - len(activities)
        activities = activities.copy()
        activities[act.type] = normalise_category(activities[act.type], missing=placeholders)
        cleaned.activities = activities
    if raw.outcomes is not None:
        out = spec.outcomes
        outcomes = drop_exact_duplicates(raw.outcomes)
        report.duplicate_rows_dropped["outcomes"] = len(raw.outcomes) - len(outcomes)
        outcomes = outcomes.copy()
        if out.outcome is not None:
            outcomes[out.outcome], _ = _placeholders_to_missing(outcomes[out.outcome], placeholders)
        cleaned.outcomes = outcomes
    return cleaned, report


# ---------------------------------------------------------------------------------- coercion
def _ns_to_datetime(ns: np.ndarray) -> np.ndarray:
    return np.asarray(ns, dtype=np.int64).view("datetime64[ns]")


def _marks(table: TableFile, columns: list[pd.Series], missing: frozenset[str]
           ) -> tuple[V.NumberMarks, frozenset[str], str | None]:
    """The number marks a table states, else those `features.values.detect_marks` finds."""
    if table.decimal is not None:
        thousands = table.thousands if table.thousands is not None else ("." if table.decimal == "," else "")
        return V.NumberMarks(table.decimal, thousands), frozenset(), None
    if table.thousands:
        decimal = "," if table.thousands == "." else "."
        return V.NumberMarks(decimal, table.thousands), frozenset(), None
    return V.detect_marks(columns, missing)


class _TimeColumns:
    """The time columns of one export, read one by one, then settled together: a column whose
    own values leave day and month ambiguous (only 12/01/2024 and 01/02/2024) is read in the
    order the export's other day/month/year columns showed (a first field above 12 anywhere
    means day first), when they all agree and the spec states nothing for it."""

    def __init__(self, missing: frozenset[str]) -> None:
        self.missing = missing
        self.read: list[tuple[dict[str, V.Reading], str, pd.Series, pd.DataFrame, str]] = []

    def column(self, readings: dict[str, V.Reading], table: TableFile, column: str, values: pd.Series,
               frame: pd.DataFrame, canonical: str) -> np.ndarray:
        stated, dayfirst = table.time_format(column)
        reading = V.read_times(values, self.missing, stated, dayfirst)
        readings[column] = reading
        self.read.append((readings, column, values, frame, canonical))
        return _ns_to_datetime(reading.values)

    def settle(self) -> None:
        shown = {(column, r[column].day_first) for r, column, _, _, _ in self.read if r[column].day_first is not None}
        orders = {first for _, first in shown}
        if len(orders) != 1:
            return
        (day_first,) = orders
        witness = next(column for column, _ in shown)
        for readings, column, values, frame, canonical in self.read:
            if (readings[column].problem or "").startswith(V.AMBIGUOUS):
                reading = V.read_times(values, self.missing, None, day_first)
                order = "day first" if day_first else "month first"
                reading.how = f"{order}, like {witness} where a field above 12 shows it" + reading.how[
                    reading.how.index(":"):]
                readings[column] = reading
                frame[canonical] = _ns_to_datetime(reading.values)


def _yes_no_words(yes: list[str], no: list[str]) -> tuple[frozenset[str], frozenset[str]]:
    return V.words(yes), V.words(no)


def coerce(spec: DatasetSpec, tables: CRMTables) -> CRMTables:
    """Give every role its canonical name and dtype, reading every value with the one parser
    of its kind (`features.values`). What each parser refused is kept in `readings` for
    validation to report with the raw text. Profile columns keep their own names."""
    lead = spec.leads
    src = tables.leads
    missing = V.placeholders(spec.missing_values)
    result = CRMTables(leads=pd.DataFrame(), paths=dict(tables.paths), spellings=dict(tables.spellings))
    times = _TimeColumns(missing)
    readings: dict[str, V.Reading] = {}
    ids = V.read_ids(src[lead.id])
    readings[lead.id] = ids
    leads = pd.DataFrame({LEAD_ID: ids.values})
    if lead.created_at:
        leads[CREATED_AT] = times.column(readings, lead, lead.created_at, src[lead.created_at], leads, CREATED_AT)
    if lead.order_by:
        order = V.read_order(src[lead.order_by], missing, *lead.time_format(lead.order_by))
        readings[f"{lead.order_by} (order)"] = order
        leads[ORDER] = order.values
    for column in [*lead.categorical, *lead.after_contact]:
        leads[column] = src[column].to_numpy()
    marks, ambiguous, why = _marks(lead, [src[c] for c in lead.numeric], missing)
    for column in lead.numeric:
        readings[column] = V.read_numbers(src[column], missing, marks, ambiguous, why)
        leads[column] = readings[column].values
    yes, no = _yes_no_words(lead.yes_values, lead.no_values)
    for column in lead.yes_no:
        readings[column] = V.read_yes_no(src[column], yes, no, missing)
        leads[column] = readings[column].values
    if lead.label:
        won, lost = _yes_no_words(lead.label_won, lead.label_lost)
        readings[lead.label] = V.read_yes_no(src[lead.label], won, lost, missing)
        leads[WON] = readings[lead.label].values
    result.leads = leads
    result.readings["leads"] = readings

    if tables.activities is not None:
        act = spec.activities
        a = tables.activities
        readings = {}
        ids = V.read_ids(a[act.lead_id])
        readings[act.lead_id] = ids
        activities = pd.DataFrame({
            LEAD_ID: ids.values,
            ACTIVITY_TYPE: a[act.type].to_numpy() if not isinstance(a[act.type].dtype, pd.CategoricalDtype)
            else a[act.type],
        })
        activities.insert(1, OCCURRED_AT, times.column(readings, act, act.time, a[act.time], activities, OCCURRED_AT))
        if act.value:
            readings[act.value] = V.read_numbers(a[act.value], missing, *_marks(act, [a[act.value]], missing))
            activities[VALUE] = readings[act.value].values
        else:
            activities[VALUE] = np.nan
        result.activities = activities
        result.readings["activities"] = readings
    if tables.outcomes is not None:
        out = spec.outcomes
        o = tables.outcomes
        readings = {}
        ids = V.read_ids(o[out.lead_id])
        readings[out.lead_id] = ids
        if out.outcome is not None:  # an outcome that is neither won nor lost is refused by validation
            won_words, lost_words = _yes_no_words(out.won, out.lost)
            readings[out.outcome] = V.read_yes_no(o[out.outcome], won_words, lost_words, missing)
            won = readings[out.outcome].values
        else:  # a list of won deals
            won = np.ones(len(o))
        outcomes = pd.DataFrame({LEAD_ID: ids.values, WON: won})
        outcomes[CLOSED_AT] = times.column(readings, out, out.closed_at, o[out.closed_at], outcomes, CLOSED_AT)
        result.outcomes = outcomes
        result.readings["outcomes"] = readings
    times.settle()
    return result


def absent_lost(spec: DatasetSpec, canonical: CRMTables) -> pd.DataFrame | None:
    """For a list of won deals (`outcomes.absent_lost_after_days` or `absent_lost_before`), the
    leads without an outcome row that count as lost: canonical outcome rows (lead_id, won=0,
    closed_at). After N days: a lead created at c with no row is lost at c + N days when that
    moment is not after the latest time in the export (leads younger than that stay open);
    before a date D: a lead created before D with no row is lost at D. None when the spec
    says neither."""
    out = spec.outcomes
    if out is None or (out.absent_lost_after_days is None and out.absent_lost_before is None):
        return None
    leads = canonical.leads
    if CREATED_AT not in leads:
        raise DataError("outcomes.absent_lost_after_days / absent_lost_before need leads.created_at: "
                        "add the creation time column to the spec")
    listed = set(canonical.outcomes[LEAD_ID].dropna()) if canonical.outcomes is not None else set()
    absent = leads[~leads[LEAD_ID].isin(listed) & leads[LEAD_ID].notna() & leads[CREATED_AT].notna()]
    created = absent[CREATED_AT]
    if out.absent_lost_after_days is not None:
        latest = export_end(canonical)
        closed = created + pd.Timedelta(days=out.absent_lost_after_days)
        chosen = closed <= latest
    else:
        moment = pd.Timestamp(out.absent_lost_before).tz_localize(None) if pd.Timestamp(
            out.absent_lost_before).tzinfo is None else pd.Timestamp(out.absent_lost_before).tz_convert("UTC").tz_localize(None)
        closed = pd.Series(moment, index=absent.index)
        chosen = created < moment
    return pd.DataFrame({LEAD_ID: absent.loc[chosen, LEAD_ID].to_numpy(), WON: 0.0,
                         CLOSED_AT: closed[chosen].to_numpy("datetime64[ns]")})


def export_end(canonical: CRMTables) -> pd.Timestamp:
    """The latest time in an export (lead created, activity, outcome closed): the moment the
    export stands for (`CRMTables.end` when set: a partition's tables know the whole export's)."""
    if canonical.end is not None:
        return canonical.end
    moments = export_moments(canonical)
    return max(moments) if moments else pd.Timestamp.now()


def export_moments(canonical: CRMTables) -> list[pd.Timestamp]:
    """The latest time of each table that has one (lead created, activity, outcome closed):
    `export_end` is the latest of them, over every partition on a cluster."""
    moments = [canonical.leads[CREATED_AT].max()] if CREATED_AT in canonical.leads else []
    if canonical.activities is not None and len(canonical.activities):
        moments.append(canonical.activities[OCCURRED_AT].max())
    if canonical.outcomes is not None and len(canonical.outcomes):
        moments.append(canonical.outcomes[CLOSED_AT].max())
    return [m for m in moments if pd.notna(m)]


def load_clean(spec: DatasetSpec, data: Path | None = None,
               purpose: str = "train") -> tuple[CRMTables, CRMTables, CleaningReport]:
    """Read, clean and coerce: (cleaned tables with own names, canonical tables, report)."""
    raw = load_raw(spec, data, purpose)
    cleaned, report = clean(spec, raw)
    canonical = coerce(spec, cleaned)
    if canonical.outcomes is not None:
        canonical.inferred_outcomes = absent_lost(spec, canonical)
    return cleaned, canonical, report


def outcome_rows(tables: CRMTables) -> pd.DataFrame | None:
    """The canonical outcomes: the outcomes table's rows, then the inferred lost ones."""
    if tables.outcomes is None or tables.inferred_outcomes is None or not len(tables.inferred_outcomes):
        return tables.outcomes
    return pd.concat([tables.outcomes, tables.inferred_outcomes], ignore_index=True)


def concat_tables(first: CRMTables, second: CRMTables) -> CRMTables:
    """Canonical tables (`coerce`) of two sources as one history: each table's rows of `first`,
    then those of `second` (a table only one of them has is kept as it is). The file paths and
    inferred outcomes are `first`'s; a category value both spell keeps `first`'s spelling.
    `readings` describe one source's rows, so they are left behind: validate each source
    before joining them."""

    def joined(a: pd.DataFrame | None, b: pd.DataFrame | None) -> pd.DataFrame | None:
        if a is None or b is None or not len(b):
            return a if a is not None else b
        if not len(a):
            return b
        return pd.concat([a, b], ignore_index=True)

    spellings = {column: {**second.spellings.get(column, {}), **first.spellings.get(column, {})}
                 for column in dict.fromkeys([*first.spellings, *second.spellings])}
    return CRMTables(leads=joined(first.leads, second.leads), activities=joined(first.activities, second.activities),
                     outcomes=joined(first.outcomes, second.outcomes), paths=dict(first.paths),
                     inferred_outcomes=first.inferred_outcomes, spellings=spellings)
