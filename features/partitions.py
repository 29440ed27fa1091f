"""A CRM export on a Dask cluster: every table split by lead id, each partition computed by the
single-machine code.

Layout. Each table (leads, activities, outcomes) is read with `dask.dataframe.read_parquet`
(`features.read.table_files` decides what a table path means: one file, a folder of `.parquet`
files with hive-style subfolders, or a glob). Every row gets the canonical lead id as
`features.values.read_ids` reads it (so ' 101', 101 and '101.0' are one lead in every table) and
its place in the export; the rows are then shuffled on that id into `partitions` partitions,
the same number for every table, so partition i of the leads, of the activities and of the
outcomes hold all the rows of the same leads, in the export's order. Each partition then runs
the one definition: `features.load.clean` and `coerce`, `features.validation.validate_tables`,
`features.examples.build_examples`, the scorer's `score_table`.

What a partition cannot know alone is computed once over the whole export and given to every
partition, so that its result equals the single-machine one bit for bit:

- how a time column written as text is written: the one detection
  (`features.values.infer_time_format`) on the column's distinct texts gathered from every
  partition, then stated to every partition as `date_format`. Parquet timestamps need no
  detection; state `date_format` in the spec to skip the gathering. Numbers written as text
  need their marks stated (`decimal`): on one machine they are detected from the whole table
  together with which values stay ambiguous, which a stated mark cannot reproduce;
- a category's most common spelling (`features.values.category_spellings`), from value counts
  summed over the partitions;
- the export's end (`features.load.export_end`) and `features.outcome_maturity_days: auto`
  (a quantile over every closed lead);
- validation: each partition derives its rules and views, which are merged and judged once
  (`PartitionedTables.validate`);
- the random snapshot ages come from a hash of each lead's own id (`lead_uniforms`): no global
  view needed.

For training on a cluster: `examples_on_cluster` gives the examples (`PartitionedExamples`),
`model_rows` their model matrix for a fitted `LeadTransform`, `profile_of(examples.tables)` the
training profile a bundle carries; each equals its single-machine counterpart (tests/dask).

Refused on a cluster with the fix: `leads.id: row_number` (ids from one file's row order) and
`drop_invalid_rows: true` (its 5% ceiling is judged on the whole table before the rules run).
A flat export's text `order_by` column is read per partition (`read_order`): state its format.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features import values as V
from features.errors import DataError, LeadscoreError
from features.load import CRMTables, clean, coerce, drop_exact_duplicates, load_raw
from features.read import column_order, read_parquet_files, read_table, table_files
from features.spec import ROW_NUMBER, DatasetSpec, TableFile

if TYPE_CHECKING:  # pragma: no cover - Dask is the optional leadscore[dask] install
    import dask.dataframe as dd
    from distributed import Client

    from features.examples import Examples
    from features.profile import DataProfile
    from features.transform import LeadTransform
    from features.validation import ValidationReport

PLACE = "_place"
"""A row's place in the export: its file's number (natural order) times 2**40 plus its row in
the file. Sorting a partition on it restores the export's order among its rows."""
BUCKET = "_lead_bucket"
"""A row's lead bucket: a hash of its canonical lead id, the column every table is shuffled on."""
_FILE_SHIFT = 40
ROWS_PER_PARTITION = 1_000_000
"""By default a lead partition holds about this many rows of its largest table. The demo CRM's
activities take 20 bytes a row as read and 33 once canonical (`DataFrame.memory_usage(deep=True)`
on `leadscore generate --leads 2000`), so a partition's few copies of a million rows stay
within a few hundred MB, far below a worker's share of a 2-core, 24 GiB machine
(`leadscore.cluster.local_cluster_size`)."""
EXAMPLE_COLUMNS = ("as_of", "label", "order", "age_days", "evaluated", "drawn", PLACE)
"""The columns `examples_on_cluster` adds beside the canonical lead columns, one per field of
`features.examples.Examples` (as_of datetime64[ns], label int8, order float64, age_days float64
(NaN without snapshots), evaluated bool, drawn bool) and the lead's PLACE (int64): the time
order of the single-machine path is `order`, then PLACE, then `age_days`."""
TABLES = ("leads", "activities", "outcomes")


# ================================================================================ reading
def read_on_cluster(path: Path | str, what: str, options: TableFile | None = None) -> "dd.DataFrame":
    """One table as a Dask DataFrame, one partition per file of `features.read.table_files`,
    each read by the single-machine reader (`read_parquet_files`; a single CSV or Excel file
    by `read_table`, in one task), with PLACE added. Raises DataError naming the path."""
    import dask.dataframe as dd

    base, files = table_files(path, what)
    parts = [(i, f) for i, f in enumerate(files)]
    columns = column_order(files) if files[0].suffix.lower() == ".parquet" else None
    with _dtypes_kept():
        frame = dd.from_map(_read_one, parts, base=base, path=str(path), what=what, options=options,
                            order=columns, enforce_metadata=False)  # not `columns`: from_map's own
    frame.attrs_rows = _parquet_rows(files)
    return frame


def _parquet_rows(files: list[Path]) -> int | None:
    """Rows of Parquet files from their footers (nothing else is read); None for other files."""
    import pyarrow.parquet as pq

    if any(f.suffix.lower() != ".parquet" for f in files):
        return None
    try:
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    except Exception:  # noqa: BLE001 - the reader reports an unreadable file with its path
        return None


def _dtypes_kept():
    """Dask's `dataframe.convert-string` off: it would turn pandas' `str` columns into
    `string` with pd.NA (seen on the demo CRM, Dask 2026.8), and the parsers would then see
    other missing values than on one machine."""
    import dask

    return dask.config.set({"dataframe.convert-string": False})


def _read_one(part: tuple[int, Path], base: Path, path: str, what: str, options: TableFile | None,
              order: list[str] | None = None) -> pd.DataFrame:
    """One file of a table; `order`: the table's column order (its first file's, as the
    single-machine reader gives it), which every file is put in (`table_files` checked they
    hold the same columns)."""
    number, file = part
    if file.suffix.lower() == ".parquet":
        frame = read_parquet_files(base, [file], path, what)
        if order is not None:
            frame = frame[[*order, *(c for c in frame.columns if c not in order)]]
    else:
        frame = read_table(file, what, options)
        frame.attrs.clear()
    frame[PLACE] = (np.int64(number) << _FILE_SHIFT) + np.arange(len(frame), dtype=np.int64)
    return frame


def _bucketed(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """`frame` with BUCKET: the lead id as `features.values.read_ids` reads it (' 101', 101 and
    '101.0' are one lead in every table), hashed (pandas' fixed-key hash). Dask's shuffle then
    sends equal buckets to the same one of `partitions` partitions in every table."""
    ids = pd.Series(V.read_ids(frame[column]).values, dtype=object).astype(str)
    hashed = pd.util.hash_pandas_object(ids, index=False).to_numpy(np.uint64)
    return frame.assign(**{BUCKET: hashed.view(np.int64)})


def _id_column(spec: DatasetSpec, what: str) -> str:
    return {"leads": spec.leads.id, "activities": spec.activities.lead_id if spec.activities else "",
            "outcomes": spec.outcomes.lead_id if spec.outcomes else ""}[what]


def partition_by_lead(client: "Client", spec: DatasetSpec, tables: dict[str, "dd.DataFrame"],
                      partitions: int) -> dict[str, list]:
    """Every table shuffled on its rows' lead bucket into `partitions` partitions (the same
    bucket goes to the same partition in every table), kept in the cluster's memory; per table
    the list of its partitions (Dask delayed objects), partition i of each holding the same
    leads. A table's id column missing is refused naming the spec key."""
    out = {}
    for what, frame in tables.items():
        column = _id_column(spec, what)
        if column not in frame.columns:
            key = "leads.id" if what == "leads" else f"{what}.lead_id"
            raise DataError(f"the {what} table has no column {column!r} (spec key {key}); it has "
                            f"{', '.join(map(repr, [c for c in frame.columns if c != PLACE][:12]))}. "
                            "Fix the spec or the export.")
        with _dtypes_kept():
            bucketed = frame.map_partitions(_bucketed, column)
            shuffled = bucketed.shuffle(on=BUCKET, npartitions=partitions, shuffle_method="tasks")
            out[what] = client.persist(shuffled).to_delayed()
    return out


def _in_export_order(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    return frame.sort_values(PLACE, kind="stable").drop(columns=[BUCKET]).reset_index(drop=True)


def _without_place(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    return None if frame is None else frame.drop(columns=[PLACE])


# ================================================================================ what is global
@dataclass
class Survey:
    """What one partition shows of what must be decided over the whole export."""

    spellings: dict[str, dict[Any, int]] = field(default_factory=dict)
    """Per categorical lead column, its raw values' counts (after exact duplicates are dropped)."""
    times: dict[tuple[str, str], set] = field(default_factory=dict)
    """Per (table, time column) written as text, its distinct values."""
    numbers_as_text: set[tuple[str, str]] = field(default_factory=set)

    def add(self, other: "Survey") -> "Survey":
        for column, counts in other.spellings.items():
            mine = self.spellings.setdefault(column, {})
            for value, n in counts.items():
                mine[value] = mine.get(value, 0) + n
        for key, texts in other.times.items():
            self.times.setdefault(key, set()).update(texts)
        self.numbers_as_text |= other.numbers_as_text
        return self


def _time_columns(spec: DatasetSpec) -> list[tuple[str, TableFile, str]]:
    out = [("leads", spec.leads, spec.leads.created_at)] if spec.leads.created_at else []
    if spec.activities is not None:
        out.append(("activities", spec.activities, spec.activities.time))
    if spec.outcomes is not None:
        out.append(("outcomes", spec.outcomes, spec.outcomes.closed_at))
    return out


def _is_text(values: pd.Series) -> bool:
    return values.dtype == object or isinstance(values.dtype, pd.StringDtype)


def survey(spec: DatasetSpec, raw: CRMTables) -> Survey:
    """The raw tables of one partition summarised for `global_spec` and `spellings_of`."""
    found = Survey()
    leads = drop_exact_duplicates(raw.leads)  # `clean` counts spellings after dropping them
    for column in spec.leads.categorical:
        counts = leads[column].value_counts(dropna=True, sort=False)
        found.spellings[column] = dict(zip(counts.index.tolist(), counts.tolist()))
    for what, table, column in _time_columns(spec):
        frame = getattr(raw, what)
        if frame is not None and column in frame and _is_text(frame[column]) and table.time_format(column)[0] is None:
            found.times[(what, column)] = set(pd.unique(frame[column].dropna()).tolist())
    numeric = [("leads", spec.leads, c) for c in spec.leads.numeric]
    if spec.activities is not None and spec.activities.value:
        numeric.append(("activities", spec.activities, spec.activities.value))
    for what, table, column in numeric:
        frame = getattr(raw, what)
        if frame is not None and column in frame and _is_text(frame[column]) and table.decimal is None \
                and frame[column].notna().any():
            found.numbers_as_text.add((what, column))
    return found


def global_spec(spec: DatasetSpec, found: Survey) -> DatasetSpec:
    """The spec with each text time column's format stated: `features.values.infer_time_format`
    on the column's distinct texts over every partition, the single-machine inference. Refused
    (DataError naming the column and the fix) where the whole column leaves the format open
    (the single-machine path may settle a day/month order from another column; a cluster does
    not guess) and where numbers are written as text with no `decimal` stated (their marks are
    detected from the whole table on one machine)."""
    missing = V.placeholders(spec.missing_values)
    update: dict[str, dict] = {}
    for (what, column), texts in sorted(found.times.items()):
        table = getattr(spec, what)
        stated, dayfirst = table.time_format(column)
        distinct = pd.Series(sorted(t for t in texts if type(t) is str and not V.is_missing(t, missing)), dtype=object)
        fmt, problem = V.infer_time_format(distinct, stated, dayfirst)
        if fmt is None:
            raise DataError(f"{what}.{column}: the times' format cannot be told from the values ({problem}); on a "
                            f"cluster state it in the spec: `{what}.date_format: {{{column}: '%d/%m/%Y'}}` (or "
                            "the format the export uses), or store the times as Parquet timestamps")
        formats = dict(table.date_format) if isinstance(table.date_format, dict) else {}
        update.setdefault(what, {"date_format": formats})["date_format"][column] = fmt.format
    for what, column in sorted(found.numbers_as_text):
        raise DataError(f"{what}.{column}: numbers written as text; on a cluster state their decimal mark in the "
                        f"spec (`{what}.decimal: '.'` or ','), or store them as Parquet numbers")
    if not update:
        return spec
    return spec.model_copy(update={what: getattr(spec, what).model_copy(update=changes)
                                   for what, changes in update.items()})


def spellings_of(spec: DatasetSpec, found: Survey) -> dict[str, dict[str, str]]:
    """`CRMTables.spellings` of the whole export, from the value counts summed over partitions
    (`features.values.category_spellings` with counts)."""
    missing = V.placeholders(spec.missing_values)
    return {column: V.category_spellings(list(found.spellings.get(column, {})), missing,
                                         V.folded_aliases(spec.category_aliases.get(column)),
                                         counts=list(found.spellings.get(column, {}).values()))
            for column in spec.leads.categorical}


# ================================================================================ per partition
RawBuilder = Callable[[DatasetSpec, str, dict], CRMTables]
"""Turns one partition's tables (by name, PLACE kept) into the raw `CRMTables` the single-machine
command would have read: `load_raw` by default; batch scoring's own (`leadscore.jobs.score_cluster`)."""


def _load_raw(spec: DatasetSpec, purpose: str, frames: dict) -> CRMTables:
    return load_raw(spec, None, purpose, frames=frames)


def _raw_of(spec: DatasetSpec, purpose: str, parts: dict, build: RawBuilder | None) -> CRMTables:
    return (build or _load_raw)(spec, purpose, {what: _in_export_order(frame) for what, frame in parts.items()})


def _survey_part(spec: DatasetSpec, purpose: str, parts: dict, build: RawBuilder | None = None) -> Survey:
    raw = _raw_of(spec, purpose, parts, build)
    for what in TABLES:
        setattr(raw, what, _without_place(getattr(raw, what)))
    return survey(spec, raw)


def _read_part(spec: DatasetSpec, purpose: str, parts: dict, build: RawBuilder | None = None) -> "Part":
    """One partition read as `load_clean` reads a whole export (clean, coerce), each kept row's
    PLACE beside it."""
    raw = _raw_of(spec, purpose, parts, build)
    places = {}
    for what in TABLES:
        frame = getattr(raw, what)
        if frame is not None:  # the rows `clean` keeps: the first of exactly equal rows
            kept = ~frame.drop(columns=[PLACE]).duplicated(keep="first").to_numpy()
            places[what] = frame[PLACE].to_numpy()[kept]
            setattr(raw, what, _without_place(frame))
    cleaned, report = clean(spec, raw)
    canonical = coerce(spec, cleaned)
    return Part(cleaned, canonical, places, report.duplicate_rows_dropped, report.placeholders_replaced,
                getattr(raw, "facts", {}))


@dataclass
class Part:
    """One lead partition of an export, cleaned and coerced."""

    cleaned: CRMTables
    canonical: CRMTables
    places: dict[str, np.ndarray]
    """Per table, each row's PLACE (rows of `cleaned` and `canonical` align)."""
    duplicates: dict[str, int]
    placeholders: dict[str, int]
    facts: dict = field(default_factory=dict)
    """What the RawBuilder noted beside the tables (e.g. batch scoring's left-out activities)."""


def _with_export(part: Part, spec: DatasetSpec, end: pd.Timestamp, spellings: dict) -> Part:
    """The partition knowing the whole export's end and spellings, its lost leads inferred
    (`features.load.absent_lost`) as `load_clean` infers them."""
    from features.load import absent_lost

    canonical = replace(part.canonical, end=end, spellings=spellings)
    if canonical.outcomes is not None:
        canonical.inferred_outcomes = absent_lost(spec, canonical)
    return replace(part, cleaned=replace(part.cleaned, end=end, spellings=spellings), canonical=canonical)


def _moments(part: Part) -> list:
    from features.load import export_moments

    return export_moments(part.canonical)


def _plans(part: Part, spec: DatasetSpec, purpose: str, profile: "DataProfile | None", now: pd.Timestamp) -> list:
    from features.validation_rules import table_plans

    plans = table_plans(spec, part.cleaned, part.canonical, purpose, profile, now)
    for plan in plans:  # the views in the export's order, for merging
        place = part.places[plan.table]
        plan.columns[PLACE] = pd.Series(place)
    return plans


def merge_plans(per_partition: list[list]) -> list:
    """The rule plans (`features.validation_rules.TablePlan`) of the partitions of an export as
    the plans of the whole export: the same rules (a partition deriving other rules is a bug,
    refused), the views concatenated in the export's row order."""
    from features.validation_rules import TablePlan

    def signature(plan) -> list:
        return [(r.words, r.column, r.kind, r.target, repr(r.params), r.row_rule) for r in plan.rules]

    merged = []
    for plans in zip(*per_partition):
        first = plans[0]
        for number, plan in enumerate(plans[1:], start=1):
            if signature(plan) != signature(first):
                raise LeadscoreError(f"validation on a cluster: partition {number} of the {first.table} table "
                                     "derived other rules than partition 0; validate without --dask (and report it)")
        plan = TablePlan(first.table, sum(p.rows for p in plans))
        plan.rules, plan.unmatched = list(first.rules), list(first.unmatched)
        plan.repetitive = set().union(*(p.repetitive for p in plans))
        order = np.argsort(np.concatenate([p.columns[PLACE].to_numpy() for p in plans]), kind="stable")
        for name in first.columns:
            if name != PLACE:
                plan.show(name, pd.concat([p.columns[name] for p in plans], ignore_index=True).iloc[order],
                          repetitive=name in plan.repetitive)
        merged.append(plan)
    return merged


def _merge_counts(a: Any, b: Any, key: str = "") -> Any:
    """Counts of two partitions added: numbers summed, lists element by element (the list of
    snapshot ages is the same in both), dicts key by key."""
    if isinstance(a, dict):
        return {k: _merge_counts(a[k], b[k], k) if k in a and k in b else a.get(k, b.get(k))
                for k in dict.fromkeys([*a, *b])}
    if key == "ages":
        return a
    if isinstance(a, list):
        return [x + y for x, y in zip(a, b)]
    return a + b


# ================================================================================ the export
@dataclass
class PartitionedTables:
    """An export on a cluster (`tables_on_cluster`): `parts` are futures of `Part`, one per lead
    partition, each knowing the whole export's end and spellings."""

    client: "Client"
    spec: DatasetSpec
    purpose: str
    parts: list
    spellings: dict[str, dict[str, str]]
    end: pd.Timestamp
    rows: dict[str, int]
    duplicates: dict[str, int]
    placeholders: dict[str, int]
    facts: dict = field(default_factory=dict)
    """What the RawBuilder noted beside the tables (e.g. batch scoring's left-out activities)."""

    def cleaning_lines(self) -> list[str]:
        """`features.load.CleaningReport.lines` of the whole export."""
        from features.load import CleaningReport

        return CleaningReport(self.duplicates, self.placeholders).lines()

    def validate(self, profile: "DataProfile | None" = None, now: pd.Timestamp | None = None,
                 docs_dir: Path | None = None) -> "ValidationReport":
        """`features.validation.validate_tables` of the whole export: each partition derives its
        rules and views (`table_plans`, the one derivation), the views are gathered here in the
        export's order and Great Expectations checks them once (`judge_plans`): counts are
        totals, "mostly" rules are judged on the totals, ids are unique over the whole export,
        and the report equals the single-machine one. Only the views travel (repetitive text as
        categoricals), not the tables; Great Expectations has no Dask engine."""
        from features.validation import judge_plans
        from features.validation_rules import utc_naive

        if profile is not None and profile.spec_name != self.spec.name:
            raise DataError(f"the training profile is for the spec {profile.spec_name!r}, not {self.spec.name!r}")
        now = utc_naive(now)
        plans = self.client.gather([self.client.submit(_plans, part, self.spec, self.purpose, profile, now)
                                    for part in self.parts])
        return judge_plans(self.spec, merge_plans(plans), purpose=self.purpose, profile=profile, docs_dir=docs_dir)


def _profile_part(part: Part) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    from features.load import ACTIVITY_TYPE

    leads = part.canonical.leads.assign(**{PLACE: part.places["leads"]})
    acts = part.canonical.activities
    if acts is None:
        return leads, None
    return leads, pd.DataFrame({ACTIVITY_TYPE: acts[ACTIVITY_TYPE].to_numpy(), PLACE: part.places["activities"]})


def _in_place_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)] or frames[:1]
    whole = pd.concat(frames, ignore_index=True)
    return whole.sort_values(PLACE, kind="stable").drop(columns=[PLACE]).reset_index(drop=True)


def profile_of(tables: "PartitionedTables") -> "DataProfile":
    """`features.profile.DataProfile.from_tables` of the whole export: the canonical leads and
    the activities' types are gathered here in the export's order (the drift reference samples
    rows by position, the ranges are quantiles) and profiled by the one function. This machine
    holds the leads table and one value per activity: for billions of activities, the part of
    training that still needs one machine."""
    from features.profile import DataProfile

    pieces = tables.client.gather([tables.client.submit(_profile_part, p) for p in tables.parts])
    leads = _in_place_order([leads for leads, _ in pieces])
    acts = [a for _, a in pieces if a is not None]
    activities = _in_place_order(acts) if acts else None
    return DataProfile.from_tables(tables.spec, CRMTables(leads=leads, activities=activities,
                                                          spellings=tables.spellings))


def tables_on_cluster(client: "Client", spec: DatasetSpec, tables: dict[str, "dd.DataFrame"], *,
                      purpose: str = "train", partitions: int | None = None,
                      build: RawBuilder | None = None) -> PartitionedTables:
    """Raw tables (`read_on_cluster`, by name: leads, and activities and outcomes when present)
    partitioned by lead, cleaned and coerced on the cluster as `features.load.load_clean` does
    on one machine, with what needs the whole export decided once (`global_spec`, the
    spellings, the export's end). partitions: default the leads' own file count, at least one
    per worker and one per ROWS_PER_PARTITION rows of the largest table (from Parquet footers). build: how a partition's raw tables are made (`RawBuilder`). Refused: `leads.id: row_number` (ids come from the file's row order) and
    `drop_invalid_rows` (its 5% ceiling is judged per table, on one machine)."""
    if spec.leads.id == ROW_NUMBER:
        raise LeadscoreError("leads.id: row_number numbers the leads by their row in one file; on a cluster the "
                             "leads need an id column: add one to the export and name it in the spec, or run "
                             "without --dask")
    if spec.drop_invalid_rows:
        raise LeadscoreError("drop_invalid_rows: true is not supported with --dask (its 5% ceiling is judged on "
                             "the whole table): run without --dask, or fix the rows and set it to false")
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    partitions = partitions or max(workers, tables["leads"].npartitions,
                                   *(-(-frame.attrs_rows // ROWS_PER_PARTITION) for frame in tables.values()
                                     if getattr(frame, "attrs_rows", None)))
    shuffled = partition_by_lead(client, spec, tables, partitions)
    futures = {what: client.compute(parts) for what, parts in shuffled.items()}

    def parts_of(i: int) -> dict:
        return {what: (futures[what][i] if what in futures else None) for what in TABLES
                if what in futures or what == "leads"}

    found = Survey()
    for one in client.gather([client.submit(_survey_part, spec, purpose, parts_of(i), build) for i in range(partitions)]):
        found.add(one)
    stated = global_spec(spec, found)
    spellings = spellings_of(spec, found)
    parts = [client.submit(_read_part, stated, purpose, parts_of(i), build) for i in range(partitions)]
    moments = [m for ms in client.gather([client.submit(_moments, p) for p in parts]) for m in ms]
    end = max(moments) if moments else pd.Timestamp.now()
    parts = [client.submit(_with_export, p, stated, end, spellings) for p in parts]
    summary = client.gather([client.submit(_part_summary, p) for p in parts])
    rows, duplicates, placeholders = {}, {}, {}
    for r, d, ph in summary:
        rows, duplicates, placeholders = (_merge_counts(rows, r), _merge_counts(duplicates, d),
                                          _merge_counts(placeholders, ph))
    return PartitionedTables(client, stated, purpose, parts, spellings, end, rows, duplicates, placeholders)


def _part_summary(part: Part) -> tuple[dict, dict, dict]:
    rows = {what: len(getattr(part.canonical, what)) for what in TABLES if getattr(part.canonical, what) is not None}
    return rows, part.duplicates, part.placeholders


def read_export(spec: DatasetSpec, data: Path | None = None, purpose: str = "train") -> dict[str, "dd.DataFrame"]:
    """The tables of the export `spec` names (under `data` when given) as lazy Dask frames
    (`read_on_cluster`): leads, activities when the spec has them (to score: when present),
    outcomes to train."""
    from features.read import table_exists

    tables = {"leads": read_on_cluster(spec.table_path(spec.leads.file, data), "leads", spec.leads)}
    if spec.activities is not None:
        path = spec.table_path(spec.activities.file, data)
        if purpose != "score" or table_exists(path):
            tables["activities"] = read_on_cluster(path, "activities", spec.activities)
    if spec.outcomes is not None and purpose != "score":
        tables["outcomes"] = read_on_cluster(spec.table_path(spec.outcomes.file, data), "outcomes", spec.outcomes)
    return tables


# ================================================================================ training examples
@dataclass
class PartitionedExamples:
    """Training examples on a cluster (`examples_on_cluster`).

    frame: one row per example, partitioned by lead (every snapshot of a lead in one partition):
        the columns of `Examples.leads` (lead_id, created_at, the profile columns, with the
        dtypes `features.load.coerce` gives) then EXAMPLE_COLUMNS. Within a partition, rows are
        in the order `build_examples` gives them (leads by time, a lead's snapshots by age);
        across partitions there is no global time order: sort on (`order`, PLACE, `age_days`).
    activities: canonical activities (lead_id, occurred_at, activity_type, value), partition i
        holding the activities of the leads in partition i of `frame`; None without an event log.
    excluded, counts: what `Examples.excluded` and `Examples.counts` hold for the whole export
        (summed over partitions; the same numbers as the single-machine path).
    spellings: `CRMTables.spellings` of the whole export (what reasons show).
    spec: the spec with what was learnt globally stated in it (time formats,
        `outcome_maturity_days`), as every partition read the export.
    export_end: `features.load.export_end` of the whole export.
    tables: the cleaned, coerced export (`PartitionedTables`), e.g. for its cleaning lines."""

    frame: "dd.DataFrame"
    activities: "dd.DataFrame | None"
    excluded: dict[str, int]
    counts: dict
    spellings: dict[str, dict[str, str]]
    spec: DatasetSpec
    export_end: pd.Timestamp
    tables: PartitionedTables | None = None
    has_ages: bool = True
    futures: list = field(default_factory=list)
    """The partitions of `frame` as futures of pandas frames on the workers."""

    def to_examples(self) -> "Examples":
        """All the examples on this machine as one `features.examples.Examples`, equal to
        `build_examples` on the whole export (same rows in the same order, same lead numbers,
        counts and exclusions; for an undated export `order` holds each lead's PLACE where one
        machine numbers the rows 0, 1, ...: the same ranking), for small data and tests."""
        return self._examples_of(self.tables.client.gather(self.futures))[0]

    def per_partition(self, function: Callable, *args) -> list:
        """`function(frame, *args)` run on each partition of `frame` where it lies; the results
        gathered here, in partition order."""
        client = self.tables.client
        return client.gather([client.submit(function, f, *args) for f in self.futures])

    def lead_draws(self, draw: int, most: int | None = None) -> np.ndarray:
        """`features.examples.lead_uniforms(ids, draw)` of the leads with an example, one float64
        per lead, partition by partition (not in the export's order); with `most`, only each
        partition's `most` smallest: all a sample of `most` leads can keep, so this machine
        holds at most partitions x most of them."""
        return np.concatenate(self.per_partition(_lead_draws, draw, most) or [np.zeros(0)])

    def gather(self, draw: int, cut: float | None) -> tuple["Examples", CRMTables, np.ndarray]:
        """On this machine: the examples of the leads whose `lead_uniforms(id, draw)` is at most
        `cut` (every lead when None), as `features.examples.Examples` in the single-machine
        order (those of every lead equal `to_examples()`), the canonical leads, activities and
        outcomes rows of those leads in the export's order (a CRMTables with the export's
        spellings and end), and each example's lead PLACE (its tie-break in time order).
        Only the kept leads travel: this machine holds a sample, the workers the rest."""
        client = self.tables.client
        kept = [client.submit(_kept_part, frame, part, draw, cut)
                for frame, part in zip(self.futures, self.tables.parts)]
        pieces = client.gather(kept)
        examples, places = self._examples_of([frame for frame, _ in pieces])
        tables = {what: _in_place_order([t[what] for _, t in pieces if t.get(what) is not None])
                  if any(t.get(what) is not None for _, t in pieces) else None for what in TABLES}
        return examples, CRMTables(leads=tables["leads"], activities=tables["activities"],
                                   outcomes=tables["outcomes"], spellings=dict(self.spellings),
                                   end=self.export_end), places

    def activity_types(self) -> list[str]:
        """Every activity type of the export (canonical `activity_type`), sorted; [] without an
        event log: what `LeadTransform.fit(activity_types=...)` takes beside a sample's activities."""
        found = self.tables.client.gather([self.tables.client.submit(_activity_types_part, p) for p in self.tables.parts])
        return sorted(set().union(*found)) if found else []

    def model_inputs(self, transform: "LeadTransform", workers: list[str]) -> list:
        """Per partition, a future of (X (n, features) float64: `transform.model_input` of its
        `model_rows`, the numbers the single-machine matrix holds; label (n,) int64; order (n,)
        float64; PLACE (n,) int64), partition i computed and kept on `workers[i % len(workers)]`
        and nowhere else (where the rows sit decides a LightGBM Dask model: training.dask_trainer)."""
        client = self.tables.client
        return [client.submit(_inputs_part, frame, part, transform, workers=[workers[i % len(workers)]],
                              allow_other_workers=False)
                for i, (frame, part) in enumerate(zip(self.futures, self.tables.parts))]

    def _examples_of(self, frames: list[pd.DataFrame]) -> tuple["Examples", np.ndarray]:
        from features.examples import Examples

        frame = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
        age = frame["age_days"].to_numpy(dtype="float64")
        ranked = np.lexsort((np.nan_to_num(age), frame[PLACE].to_numpy(), frame["order"].to_numpy()))
        frame = frame.iloc[ranked].reset_index(drop=True)
        place = frame[PLACE].to_numpy()
        lead = (np.cumsum(np.r_[True, place[1:] != place[:-1]]) - 1) if len(place) else np.zeros(0, dtype=np.int64)
        leads = frame.drop(columns=list(EXAMPLE_COLUMNS))
        return Examples(leads, frame["as_of"].to_numpy("datetime64[ns]") if frame["as_of"].notna().any() else None,
                        frame["label"].to_numpy(dtype="int8"), frame["order"].to_numpy(dtype="float64"),
                        dict(self.excluded), lead=lead.astype(np.int64),
                        age_days=frame["age_days"].to_numpy(dtype="float64") if self.has_ages else None,
                        evaluated=frame["evaluated"].to_numpy(dtype=bool),
                        drawn=frame["drawn"].to_numpy(dtype=bool) if self.has_ages else None,
                        counts=dict(self.counts)), place


def _inputs_part(frame: pd.DataFrame, part: Part, transform: "LeadTransform") -> tuple:
    X = transform.model_input(_model_rows(frame, part.canonical.activities, transform).to_numpy(dtype=np.float64))
    return (np.ascontiguousarray(X, dtype=np.float64), frame["label"].to_numpy(dtype=np.int64),
            frame["order"].to_numpy(dtype=np.float64), frame[PLACE].to_numpy(dtype=np.int64))


def _activity_types_part(part: Part) -> set[str]:
    from features.load import ACTIVITY_TYPE

    acts = part.canonical.activities
    return set() if acts is None else {str(t) for t in pd.unique(acts[ACTIVITY_TYPE].dropna())}


def _lead_draws(frame: pd.DataFrame, draw: int, most: int | None) -> np.ndarray:
    from features.examples import lead_uniforms
    from features.load import LEAD_ID

    draws = lead_uniforms(frame[LEAD_ID].drop_duplicates(), draw)
    return draws if most is None or len(draws) <= most else np.partition(draws, most - 1)[:most]


def _kept_part(frame: pd.DataFrame, part: Part, draw: int, cut: float | None) -> tuple[pd.DataFrame, dict]:
    """On a worker: the partition's examples of the leads `drawn_at_most(ids, draw, cut)` keeps,
    and those leads' canonical rows of each table with their PLACE."""
    from features.examples import drawn_at_most
    from features.load import LEAD_ID

    if cut is not None:
        ids = frame[LEAD_ID].drop_duplicates()
        frame = frame[frame[LEAD_ID].isin(ids[drawn_at_most(ids, draw, cut)])]
    ids = pd.Index(frame[LEAD_ID].unique())
    tables = {}
    for what in TABLES:
        table = getattr(part.canonical, what)
        if table is None:
            continue
        keep = ids.get_indexer(table[LEAD_ID]) >= 0
        tables[what] = table[keep].assign(**{PLACE: part.places[what][keep]})
    return frame, tables


def _closed_times(part: Part) -> tuple[np.ndarray, np.ndarray]:
    """(created, closed_at) of the partition's closed leads, for `outcome_maturity_days: auto`."""
    from features.examples import lead_outcomes
    from features.load import CLOSED_AT, CREATED_AT

    merged, closed, _ = lead_outcomes(part.canonical)
    if CREATED_AT not in merged:
        return np.zeros(0, "datetime64[ns]"), np.zeros(0, "datetime64[ns]")
    return (merged[CREATED_AT].to_numpy("datetime64[ns]")[closed], merged[CLOSED_AT].to_numpy("datetime64[ns]")[closed])


def _examples_part(part: Part, spec: DatasetSpec) -> tuple[pd.DataFrame, dict, dict, bool]:
    from features.examples import build_examples
    from features.load import CREATED_AT, LEAD_ID, ORDER

    tables = part.canonical
    leads = tables.leads.assign(**{PLACE: part.places["leads"]})
    examples = build_examples(spec, CRMTables(leads=leads, activities=tables.activities, outcomes=tables.outcomes,
                                              paths=tables.paths, inferred_outcomes=tables.inferred_outcomes,
                                              spellings=tables.spellings, end=tables.end))
    frame = examples.leads.drop(columns=[PLACE])
    n = len(examples)
    frame["as_of"] = examples.as_of if examples.as_of is not None else np.full(n, np.datetime64("NaT"), "datetime64[ns]")
    frame["label"] = examples.label
    frame["order"] = examples.order
    if CREATED_AT not in tables.leads and ORDER not in tables.leads:
        # Undated: build_examples orders a partition's leads by their row (0, 1, ...); the export's
        # order is PLACE, which ranks every lead as the single-machine row numbers do.
        frame["order"] = examples.leads[PLACE].to_numpy(dtype=np.float64)
    frame["age_days"] = examples.age_days if examples.age_days is not None else np.full(n, np.nan)
    frame["evaluated"] = examples.is_evaluated
    frame["drawn"] = examples.drawn if examples.drawn is not None else np.zeros(n, dtype=bool)
    frame[PLACE] = examples.leads[PLACE].to_numpy(dtype=np.int64)
    assert list(frame.columns[:1]) == [LEAD_ID]
    return frame, examples.excluded, examples.counts, examples.age_days is not None


def _activities_part(part: Part) -> pd.DataFrame | None:
    return part.canonical.activities


def examples_on_cluster(client: "Client", spec: DatasetSpec, data: Path | None = None, *,
                        partitions: int | None = None, on_report: Callable | None = None) -> PartitionedExamples:
    """The training examples of the export `spec` names (under `data` when given), computed on
    the cluster `client` is connected to: read, partition by lead id, clean, coerce, validate
    (refused with `features.validation.ValidationFailed`, as `leadscore train` does; the report
    goes to `on_report` first when given), then `build_examples` on each partition.

    partitions: how many lead partitions (default: the leads table's own file count, at least
    the number of workers).

    Raises DataError naming the path when a table is missing or a folder/glob holds no Parquet
    files, LeadscoreError for `leads.id: row_number` and `drop_invalid_rows`."""
    import dask.dataframe as dd

    from features.examples import outcome_maturity_days
    from features.validation import ValidationFailed

    tables = tables_on_cluster(client, spec, read_export(spec, data, "train"), purpose="train", partitions=partitions)
    report = tables.validate()
    if on_report is not None:
        on_report(report)
    if not report.success:
        raise ValidationFailed(report)
    stated = tables.spec
    if stated.features.outcome_maturity_days == "auto" and stated.leads.label is None:
        closed = client.gather([client.submit(_closed_times, p) for p in tables.parts])
        created = pd.Series(np.concatenate([c for c, _ in closed]) if closed else np.zeros(0, "datetime64[ns]"))
        closed_at = pd.Series(np.concatenate([t for _, t in closed]) if closed else np.zeros(0, "datetime64[ns]"))
        days = outcome_maturity_days(stated, created, closed_at, np.ones(len(created), dtype=bool))
        stated = stated.model_copy(update={"features": stated.features.model_copy(
            update={"outcome_maturity_days": days})})
    parts = [client.submit(_examples_part, p, stated) for p in tables.parts]
    summaries = client.gather([client.submit(lambda r: (r[1], r[2], r[3]), p) for p in parts])
    excluded, counts = summaries[0][0], summaries[0][1]
    for e, c, _ in summaries[1:]:
        excluded, counts = _merge_counts(excluded, e), _merge_counts(counts, c)
    futures = [client.submit(lambda r: r[0], p) for p in parts]
    frame = _frame_of(client, futures)
    activities = None
    if spec.activities is not None:
        activities = _frame_of(client, [client.submit(_activities_part, p) for p in tables.parts])
    return PartitionedExamples(frame, activities, excluded, counts, tables.spellings, stated, tables.end,
                               tables=tables, has_ages=summaries[0][2], futures=futures)


def _frame_of(client: "Client", futures: list) -> "dd.DataFrame":
    """A Dask DataFrame of pandas frames already on the workers, their dtypes kept: Dask's
    `dataframe.convert-string` would turn pandas' `str` columns into `string` with pd.NA."""
    import dask.dataframe as dd

    with _dtypes_kept():
        meta = client.submit(lambda r: r.iloc[:0], futures[0]).result()
        return dd.from_delayed(futures, meta=meta, verify_meta=False)


def _model_rows(examples: pd.DataFrame, activities: pd.DataFrame | None, transform: "LeadTransform") -> pd.DataFrame:
    leads = examples.drop(columns=list(EXAMPLE_COLUMNS))
    X = transform.transform_frame(leads, activities, examples["as_of"].to_numpy("datetime64[ns]"))
    return pd.DataFrame(X, columns=transform.names, index=examples.index)


def model_rows(transform: "LeadTransform", examples: PartitionedExamples) -> "dd.DataFrame":
    """The model matrix of `examples`, one float64 row per example in the same partitions and
    order: `LeadTransform.transform_frame(leads, activities, as_of)` on each partition (columns
    `transform.names`), the same numbers as the single-machine matrix."""
    import dask.dataframe as dd

    meta = pd.DataFrame({name: pd.Series(dtype="float64") for name in transform.names})
    if examples.activities is None:
        return examples.frame.map_partitions(_model_rows, None, transform, meta=meta)
    return dd.map_partitions(_model_rows, examples.frame, examples.activities, transform, meta=meta,
                             align_dataframes=False)
