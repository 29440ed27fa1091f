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

from features.errors import DataError
from features.spec import DatasetSpec

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
def read_table(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: the {what} table is missing; check `{what}.file` and `data_dir` "
                        f"in the spec, or pass --data")
    try:
        if path.suffix == ".csv":
            # Everything as text first: types are checked by validation, then coerced.
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data problem to report
        raise DataError(f"{path}: could not read the {what} table: {exc}") from None
    raise DataError(f"{path}: unknown file type {path.suffix!r}; use .csv or .parquet")


def _require_columns(frame: pd.DataFrame, columns: dict[str, str], path: Path) -> None:
    missing = {key: col for key, col in columns.items() if col not in frame.columns}
    if missing:
        listed = ", ".join(f"{col!r} (spec key {key})" for key, col in missing.items())
        known = ", ".join(map(repr, list(frame.columns)[:12]))
        raise DataError(f"{path}: column {listed} not found. The file has: {known}"
                        f"{' ...' if frame.shape[1] > 12 else ''}. Fix the spec or the export.")


def load_raw(spec: DatasetSpec, data: Path | None = None, purpose: str = "train") -> CRMTables:
    """Read the tables a spec names, with their own column names.

    purpose="score" reads leads to be scored: no outcomes, no label, no after-contact columns
    needed (they are filled with missing when absent), and the event log only if it exists."""
    lead = spec.leads
    scoring = purpose == "score"
    path = spec.table_path(lead.file, data)
    leads = read_table(path, "leads")
    optional = [*lead.after_contact, *([lead.label] if lead.label else [])] if scoring else []
    for column in optional:
        if column not in leads.columns:
            leads[column] = None
    wanted = {"leads.id": lead.id}
    for key in ("created_at", "order_by", "label"):
        if getattr(lead, key):
            wanted[f"leads.{key}"] = getattr(lead, key)
    for role in ("categorical", "numeric", "yes_no", "after_contact"):
        for column in getattr(lead, role):
            wanted[f"leads.{role}"] = column
            _require_columns(leads, {f"leads.{role}": column}, path)
    _require_columns(leads, wanted, path)
    tables = CRMTables(leads=leads, paths={"leads": path})

    if spec.activities is not None and not (scoring and not spec.table_path(spec.activities.file, data).exists()):
        act = spec.activities
        apath = spec.table_path(act.file, data)
        activities = read_table(apath, "activities")
        cols = {"activities.lead_id": act.lead_id, "activities.time": act.time, "activities.type": act.type}
        if act.value:
            cols["activities.value"] = act.value
        _require_columns(activities, cols, apath)
        tables.activities = activities
        tables.paths["activities"] = apath

    if spec.outcomes is not None and not scoring:
        out = spec.outcomes
        opath = spec.table_path(out.file, data)
        outcomes = read_table(opath, "outcomes")
        _require_columns(outcomes, {"outcomes.lead_id": out.lead_id, "outcomes.outcome": out.outcome,
                                    "outcomes.closed_at": out.closed_at}, opath)
        tables.outcomes = outcomes
        tables.paths["outcomes"] = opath
    return tables


# ---------------------------------------------------------------------------------- cleaning
def normalise_category(values: pd.Series, aliases: dict[str, str] | None = None) -> pd.Series:
    """Lower-case, trim and collapse spaces; merge aliases. Missing stays missing.

    Works on the distinct values only, so a 20-million-row column costs one pass of lookups."""
    if values.dtype == "category":
        uniques = pd.Series(values.cat.categories)
        mapping = dict(zip(uniques.tolist(), _normalised_text(uniques, aliases)))
        mapped = values.map(mapping)
        if mapped.dtype == "category":
            return mapped
        return mapped.astype(object).where(mapped.notna(), None)  # spellings merged: text
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = np.array([*_normalised_text(pd.Series(uniques), aliases), None], dtype=object)
    return pd.Series(text[codes], index=values.index, dtype=object)  # code -1 (missing) -> None


def _normalised_text(uniques: pd.Series, aliases: dict[str, str] | None) -> list:
    text = uniques.astype("string").str.strip().str.casefold().str.replace(r"\s+", " ", regex=True)
    if aliases:
        text = text.replace({k.casefold(): v.casefold() for k, v in aliases.items()})
    return text.astype(object).tolist()


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


def _missing_mask(values: pd.Series, placeholders: set[str]) -> pd.Series:
    text = values.astype("string").str.strip()
    return values.isna() | text.isin(placeholders).fillna(False)


def clean(spec: DatasetSpec, raw: CRMTables) -> tuple[CRMTables, CleaningReport]:
    """Placeholders to missing, categories normalised, exact duplicates dropped.

    Column names stay the company's own, so validation messages name them."""
    report = CleaningReport()
    placeholders = {p.strip() for p in spec.missing_values}
    lead = spec.leads

    leads = raw.leads.copy()
    before = len(leads)
    leads = drop_exact_duplicates(leads)
    report.duplicate_rows_dropped["leads"] = before - len(leads)
    text_columns = [*lead.categorical, *lead.yes_no, *lead.after_contact, *lead.numeric,
                    lead.id, *([lead.created_at] if lead.created_at else [])]
    if lead.label:
        text_columns.append(lead.label)
    for column in text_columns:
        if leads[column].dtype.kind in "biufM":
            continue
        mask = _missing_mask(leads[column], placeholders)
        report.placeholders_replaced[column] = int(mask.sum())
        leads[column] = leads[column].astype(object).where(~mask, None)
    for column in [*lead.categorical, *lead.yes_no, *lead.after_contact]:
        leads[column] = normalise_category(leads[column], spec.category_aliases.get(column))
    if lead.label:
        leads[lead.label] = normalise_category(leads[lead.label])

    cleaned = CRMTables(leads=leads, paths=dict(raw.paths))
    if raw.activities is not None:
        act = spec.activities
        activities = raw.activities
        n = len(activities)
        activities = drop_exact_duplicates(activities)
        report.duplicate_rows_dropped["activities"] = n - len(activities)
        activities = activities.copy()
        activities[act.type] = normalise_category(activities[act.type])
        cleaned.activities = activities
    if raw.outcomes is not None:
        out = spec.outcomes
        outcomes = drop_exact_duplicates(raw.outcomes)
        report.duplicate_rows_dropped["outcomes"] = len(raw.outcomes) - len(outcomes)
        outcomes = outcomes.copy()
        outcomes[out.outcome] = normalise_category(outcomes[out.outcome])
        cleaned.outcomes = outcomes
    return cleaned, report


# ---------------------------------------------------------------------------------- coercion
def to_timestamp(values: pd.Series) -> pd.Series:
    """Naive UTC datetime64[ns]; unparseable values become NaT (validation reports them)."""
    if values.dtype.kind == "M":
        ts = values
        if getattr(ts.dt, "tz", None) is not None:
            ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        return ts.astype("datetime64[ns]")
    parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
    return parsed.dt.tz_localize(None).astype("datetime64[ns]")


def to_number(values: pd.Series) -> pd.Series:
    if values.dtype.kind in "biuf":
        return values.astype("float64")
    return pd.to_numeric(values, errors="coerce").astype("float64")


def yes_no_to_float(values: pd.Series, yes: list[str], no: list[str]) -> pd.Series:
    """1.0 for yes, 0.0 for no, NaN for missing or anything else."""
    if values.dtype.kind in "biuf":
        return values.astype("float64").where(values.isin([0, 1]))
    text = values.astype("string").str.strip().str.casefold()
    out = np.full(len(values), np.nan)
    out[text.isin([v.casefold() for v in yes]).fillna(False).to_numpy(bool)] = 1.0
    out[text.isin([v.casefold() for v in no]).fillna(False).to_numpy(bool)] = 0.0
    return pd.Series(out, index=values.index)


def _ids(values: pd.Series) -> np.ndarray:
    """Ids as text; a blank or missing id stays missing (validation reports it)."""
    text = values.astype("string").str.strip()
    text = text.where(text != "", pd.NA)
    return text.astype(object).where(text.notna(), None).to_numpy()


def coerce(spec: DatasetSpec, tables: CRMTables) -> CRMTables:
    """Give every role its canonical name and dtype. Profile columns keep their own names."""
    lead = spec.leads
    src = tables.leads
    leads = pd.DataFrame({LEAD_ID: _ids(src[lead.id])})
    if lead.created_at:
        leads[CREATED_AT] = to_timestamp(src[lead.created_at]).to_numpy()
    if lead.order_by:
        leads[ORDER] = to_number(src[lead.order_by]).to_numpy()
    for column in [*lead.categorical, *lead.after_contact]:
        leads[column] = src[column].to_numpy()
    for column in lead.numeric:
        leads[column] = to_number(src[column]).to_numpy()
    for column in lead.yes_no:
        leads[column] = yes_no_to_float(src[column], lead.yes_values, lead.no_values).to_numpy()
    if lead.label:
        label = src[lead.label].astype("string").str.casefold()
        won = np.full(len(src), np.nan)
        won[label.isin([v.casefold() for v in lead.label_won]).fillna(False).to_numpy(bool)] = 1.0
        won[label.isin([v.casefold() for v in lead.label_lost]).fillna(False).to_numpy(bool)] = 0.0
        leads[WON] = won

    result = CRMTables(leads=leads, paths=dict(tables.paths))
    if tables.activities is not None:
        act = spec.activities
        a = tables.activities
        activities = pd.DataFrame({
            LEAD_ID: a[act.lead_id].astype(str) if a[act.lead_id].dtype != "category" else a[act.lead_id],
            OCCURRED_AT: to_timestamp(a[act.time]),
            ACTIVITY_TYPE: a[act.type],
        })
        activities[VALUE] = to_number(a[act.value]) if act.value else np.nan
        result.activities = activities
    if tables.outcomes is not None:
        out = spec.outcomes
        o = tables.outcomes
        outcome = o[out.outcome].astype("string").str.casefold()
        won = np.full(len(o), np.nan)  # an outcome that is neither won nor lost stays unknown
        won[outcome.isin([v.casefold() for v in out.won]).fillna(False).to_numpy(bool)] = 1.0
        won[outcome.isin([v.casefold() for v in out.lost]).fillna(False).to_numpy(bool)] = 0.0
        result.outcomes = pd.DataFrame({
            LEAD_ID: _ids(o[out.lead_id]),
            WON: won,
            CLOSED_AT: to_timestamp(o[out.closed_at]).to_numpy(),
        })
    return result


def load_clean(spec: DatasetSpec, data: Path | None = None,
               purpose: str = "train") -> tuple[CRMTables, CRMTables, CleaningReport]:
    """Read, clean and coerce: (cleaned tables with own names, canonical tables, report)."""
    raw = load_raw(spec, data, purpose)
    cleaned, report = clean(spec, raw)
    return cleaned, coerce(spec, cleaned), report
