"""`leadscore score`: batch scoring of a leads file (CSV or Parquet), all or nothing.

The same code as the service: the model bundle's own transform, calibration, stages and
reasons (serving.scorer). The input is checked first with the same validation as training
(features.validation, purpose "score", against the model's training profile); on a failure
the report is printed, the command exits 1 and nothing is written. The output is written to a
temporary file beside OUTPUT and renamed into place only when complete.

The leads file has the columns of the dataset spec's leads table. Activities are read from
--activities FILE, or else from the spec's data folder; only those of the leads being scored
are used, and from Parquet only those are read (`_read_activities`).

Speed: `benchmarks/batch_score.py` times the command end to end against reading the same files
and running the raw booster on the model rows (issue 17).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console

from features.errors import DataError, LeadscoreError
from leadscore.settings import Settings, get_settings

FORMATS = (".csv", ".parquet")
STEPS = ("load", "validate", "score", "write")


@dataclass
class ScoreResult:
    output: Path
    rows: int
    model_version: str
    as_of: datetime
    stages: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)


def parse_as_of(text: str | None) -> datetime:
    """--as-of as a naive UTC datetime; default now."""
    if text is None:
        return datetime.now(timezone.utc).replace(tzinfo=None)
    return parse_time(text, "--as-of")


def parse_time(text: str, option: str) -> datetime:
    """A command-line time (ISO 8601, features.values.iso_time_ns) as a naive UTC datetime;
    DataError naming the option otherwise."""
    from features.values import Unreadable, iso_time_ns

    try:
        ns = iso_time_ns(text)
    except Unreadable as exc:
        raise DataError(f"{option}: {exc.message} (e.g. 2026-03-01 or 2026-03-01T09:30:00Z)") from None
    if ns is None:
        raise DataError(f"{option}: no time given (e.g. 2026-03-01 or 2026-03-01T09:30:00Z)")
    return datetime(1970, 1, 1) + timedelta(microseconds=ns // 1000)


def _read_leads(spec, path: Path, leads: pd.DataFrame | None = None) -> pd.DataFrame:
    """The leads to score, checked for the spec's columns (`leads`: already read, a partition
    on a cluster)."""
    from features.load import read_table

    leads = read_table(path, "leads", spec.leads) if leads is None else leads
    lead = spec.leads
    from features.spec import ROW_NUMBER

    needed = [c for c in (lead.id, lead.created_at, *spec.profile_columns) if c and c != ROW_NUMBER]
    missing = [c for c in needed if c not in leads.columns]
    if missing:
        known = ", ".join(map(repr, list(leads.columns)[:12]))
        raise DataError(f"{path}: column {', '.join(map(repr, missing))} not found (the spec {spec.name!r} "
                        f"needs {', '.join(needed)}). The file has: {known}. Fix the export or pass the right --spec.")
    # Columns only training needs (label, order, after-contact) may be absent when scoring.
    for column in [*lead.after_contact, lead.label, lead.order_by]:
        if column and column not in leads.columns:
            leads[column] = None
    return leads


def _read_activities(spec, path: Path | None, lead_ids: pd.Series, activities: pd.DataFrame | None = None
                     ) -> tuple[pd.DataFrame | None, Path | None, str | None]:
    """(the activities of the given leads, the file they came from, a note counting the rows
    of other leads that were left out, with examples, or None). `activities`: already read
    from `path` (a partition on a cluster).

    From one Parquet file only those rows are read: the lead id column first, alone, then the
    rows whose raw id reads as one of the leads' ids (`features.read.read_parquet_where`, pushed
    down to pyarrow); the other columns when every row is wanted (`read_parquet_beside`).
    Other tables are read whole and filtered."""
    from features.load import read_table, table_exists
    from features.read import parquet_column, read_parquet_beside, read_parquet_where

    act = spec.activities
    if act is None:
        if path is not None:
            raise DataError(f"--activities {path}: the spec {spec.name!r} has no activities table; "
                            "leave --activities out")
        return None, None, None
    if path is None:
        path = spec.table_path(act.file)
        if not table_exists(path):
            raise DataError(f"{path}: the activities table of the spec {spec.name!r} is missing; the model "
                            "counts activities, so pass --activities FILE (or put the file there)")
    needed = [c for c in (act.lead_id, act.time, act.type, act.value) if c]
    partition = activities is not None  # a partition on a cluster: judged over the whole table there
    if activities is None and path.suffix.lower() == ".parquet" and path.is_file():
        owners = parquet_column(path, "activities", act.lead_id)
        pushed_down = True
    else:
        if activities is None:
            activities = read_table(path, "activities", spec.activities)
        owners = activities[act.lead_id] if act.lead_id in activities.columns else None
        pushed_down = False
    if owners is None or not pushed_down:
        have = activities.columns if activities is not None else []
        missing = [c for c in needed if c not in have]
        if missing:
            raise DataError(f"{path}: column {', '.join(map(repr, missing))} not found; the spec {spec.name!r} "
                            "names it under activities")
    keep, kept_raw = _of_leads(owners, lead_ids)
    if len(keep) and not keep.any() and not partition:
        raise none_belong(path, len(keep), pd.unique(owners.dropna().astype(str))[:5].tolist())
    left_out, note = int((~keep).sum()), None
    if left_out and not partition:
        # a missing id is shown as "nan" (pandas' str dtype keeps it NaN through astype(str))
        note = left_out_note(left_out, len(keep), [str(v) for v in pd.unique(owners[~keep].astype(str))[:5]])
    if pushed_down:  # read only the wanted rows
        activities = (read_parquet_beside(path, "activities", owners) if keep.all()
                      else read_parquet_where(path, "activities", act.lead_id, kept_raw))
        missing = [c for c in needed if c not in activities.columns]
        if missing:
            raise DataError(f"{path}: column {', '.join(map(repr, missing))} not found; the spec {spec.name!r} "
                            "names it under activities")
        if len(activities) != int(keep.sum()):  # the push-down and the check must agree
            raise AssertionError(f"{path}: read {len(activities):,} activity rows of the scored leads, "
                                 f"expected {int(keep.sum()):,}")
    elif not keep.all():
        activities = activities.loc[keep].reset_index(drop=True)
    if not keep.all() and isinstance(activities[act.lead_id].dtype, pd.CategoricalDtype):
        activities[act.lead_id] = activities[act.lead_id].cat.remove_unused_categories()
    return activities, path, note


def none_belong(path: Path, rows: int, examples: list[str]) -> DataError:
    """The error for an activities table none of whose `rows` belongs to a lead being scored."""
    return DataError(f"{path}: none of its {rows:,} activities belongs to a lead of the leads file (activity ids "
                     f"such as {', '.join(map(repr, examples))}); the two files use different ids or come from "
                     "different exports. Fix the export, or pass the right --activities file")


def left_out_note(left_out: int, rows: int, examples: list[str]) -> str:
    """The note on the activities of no lead being scored (`examples`: their first ids)."""
    return (f"{left_out:,} of {rows:,} activities belong to no lead of this file and were left out "
            f"(e.g. {', '.join(examples)})")


def _of_leads(column: pd.Series, lead_ids: pd.Series) -> tuple[np.ndarray, list]:
    """(which rows of an activity lead-id column belong to the given leads (n,) bool, the
    distinct raw values of those rows). Ids are compared as `features.values.lead_id` reads
    them (' 101', 101 and '101.0' are one id), each distinct raw value read once and looked up
    in Arrow's hash set, then mapped back to the rows by its code: on a 20M-row categorical
    column this is a lookup of its distinct values, not of 20M texts."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from features.values import distinct, read_ids

    wanted = pa.array(pd.unique(pd.Series(read_ids(lead_ids).values).dropna()).astype(object), type=pa.string())
    codes, uniques = distinct(column)
    read = pa.array(read_ids(uniques).values, type=pa.string())
    member = pc.is_in(read, value_set=wanted).fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
    keep = np.append(member, False)[codes]
    return keep, [value for value, kept in zip(uniques.tolist(), member.tolist()) if kept]


def _write_atomically(frame: pd.DataFrame, output: Path) -> None:
    from features.files import write_atomically

    write_atomically(output, lambda tmp: frame.to_parquet(tmp, index=False, compression="zstd")
                     if output.suffix == ".parquet" else frame.to_csv(tmp, index=False))


class _Progress:
    def __init__(self, enabled: bool, total: int):
        self.enabled = enabled
        self.total = total
        self.progress = None

    def __enter__(self):
        if self.enabled:
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                                     transient=False)
            self.progress.__enter__()
            self.task = self.progress.add_task("scoring leads", total=self.total)
        return self

    def advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)


def run_score(spec_path: Path | str | None, input_path: Path, output_path: Path, *, bundle: Path | None = None,
              as_of: str | None = None, activities: Path | None = None, reasons: int = 3,
              settings: Settings | None = None, console: Console | None = None,
              show_progress: bool = True, log: bool = True, language: str | None = None,
              dask: str | None = None) -> ScoreResult:
    """Score a leads table with the spec's champion and write the scores. `dask`: a scheduler
    address or 'local' (leadscore.cluster): the table, which may then be a folder or glob of
    Parquet files, is scored on the cluster and OUTPUT is a folder of Parquet files
    (`leadscore.jobs.score_cluster`)."""
    from features.load import CRMTables, clean, coerce
    from features.logged import records_from_tables
    from leadscore.jobs.batch_log import BatchLog, open_log
    from features.profile import DataProfile
    from features.spec import load_spec
    from features.validation import ValidationFailed, validate_tables
    from leadscore.jobs.serve import resolve_bundle
    from serving.segments import load_scorer

    settings = settings or get_settings()
    console = console or Console()
    err = Console(stderr=True)
    output_path, input_path = Path(output_path), Path(input_path)
    from features.read import READABLE_SUFFIXES, is_partitioned, table_exists

    if dask is not None:
        from leadscore.jobs.score_cluster import check_cluster_options

        check_cluster_options(output_path, log)
    elif output_path.suffix not in FORMATS:
        raise DataError(f"OUTPUT {output_path}: unknown file type {output_path.suffix!r}; end it in .csv or .parquet")
    if not table_exists(input_path):
        raise DataError(f"INPUT {input_path}: no such file; pass a leads table (.csv, .xlsx or .parquet, or a "
                        "folder or glob of .parquet files)")
    if not is_partitioned(input_path) and input_path.suffix.lower() not in READABLE_SUFFIXES:
        raise DataError(f"INPUT {input_path}: unknown file type {input_path.suffix!r}; use "
                        f"{', '.join(READABLE_SUFFIXES)}")
    if output_path.resolve() == input_path.resolve():
        raise DataError("OUTPUT is the INPUT file: write the scores to another file")
    if not 0 <= reasons <= 5:
        raise DataError(f"--reasons {reasons}: give 0 to 5 reasons per lead")
    from features.i18n import LanguageError, check_language, configured_language

    try:
        language = check_language(language, "--language") if language else configured_language()
    except LanguageError as exc:
        raise DataError(str(exc)) from None
    moment = parse_as_of(as_of)
    # --spec: a spec file (its champion scores it), or a spec or model name (the spec the
    # model carries reads the file); left out, the only model there is.
    spec = load_spec(spec_path) if spec_path is not None and Path(spec_path).is_file() else None
    path = resolve_bundle(settings, bundle, echo=lambda text: err.print(text),
                          spec=spec.name if spec is not None else spec_path)
    scorer = load_scorer(path)
    spec = spec or scorer.spec
    if scorer.spec.name != spec.name:
        raise LeadscoreError(f"the model (version {scorer.version}) was trained with the dataset spec "
                             f"{scorer.spec.name!r}, not {spec.name!r}: pass --spec for {scorer.spec.name!r} "
                             "or --bundle of a model trained on this spec")

    if dask is not None:
        from leadscore.jobs.score_cluster import score_on_cluster

        return score_on_cluster(dask, spec, path, input_path, output_path, activities=activities, moment=moment,
                                reasons=reasons, language=language, console=console)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    leads = _read_leads(spec, input_path)
    ids = leads[spec.leads.id] if spec.leads.id in leads else pd.Series(range(1, len(leads) + 1)).astype(str)
    acts, acts_path, left_out = _read_activities(spec, activities, ids)
    raw = CRMTables(leads=leads, activities=acts, paths={"leads": input_path, **({"activities": acts_path} if acts_path else {})})
    cleaned, cleaning = clean(spec, raw)
    canonical = coerce(spec, cleaned)
    seconds["load"] = time.perf_counter() - started

    unborn = None
    if "created_at" in canonical.leads:
        created = canonical.leads["created_at"]
        later = (created > pd.Timestamp(moment)).to_numpy()
        if later.any():
            first = int(np.flatnonzero(later)[0])
            unborn = unborn_note(int(later.sum()), canonical.leads['lead_id'].iloc[first], created.iloc[first], moment)

    # The log is opened (a database that cannot take the scores: nothing scored) and the leads'
    # records built on its thread (leadscore.jobs.batch_log) while the tables are validated.
    store = open_log(settings, moment) if log else None
    batch_log = trend_note = None
    try:
        if store is not None:
            batch_log = BatchLog(store, scorer.id_key, scorer.spec.name, lambda: records_from_tables(
                spec, canonical.leads, canonical.activities, moment), moment)
        started = time.perf_counter()
        profile = DataProfile.model_validate(scorer.bundle.profile) if scorer.bundle.profile else None
        report = validate_tables(spec, cleaned, canonical, purpose="score", profile=profile)
        seconds["validate"] = time.perf_counter() - started
        if not report.success:
            raise ValidationFailed(report)  # its message is the report: every rule broken, with examples

        started = time.perf_counter()
        # Millions of short-lived texts and lists, no reference cycles: the cyclic collector would
        # only walk them over and over, so it rests while scoring.
        collecting = gc.isenabled()
        gc.disable()
        try:
            with _Progress(show_progress, len(canonical.leads)) as bar:
                scores = scorer.score_table(canonical.leads, canonical.activities, moment, reasons=reasons,
                                            progress=bar.advance, language=language,
                                            on_chunk=batch_log.add if batch_log is not None else None)
            seconds["score"] = time.perf_counter() - started
            if batch_log is not None:  # what is left of the log once every lead is scored
                started = time.perf_counter()
                trend_note = batch_log.finish(scores)
                seconds["log"] = time.perf_counter() - started
        finally:
            if collecting:
                gc.enable()
        started = time.perf_counter()
        _write_atomically(scores, output_path)  # the id column is named as in the spec (scorer.id_key)
        seconds["write"] = time.perf_counter() - started
    finally:
        if batch_log is not None:
            batch_log.close()  # after the one chunk being written, if any
        if store is not None:
            store.close()

    stages = {str(k): int(v) for k, v in scores["stage"].value_counts().items()}
    result = ScoreResult(output_path, len(scores), scorer.version, moment, stages, seconds)
    _print_summary(console, result, cleaning.lines(), [*([left_out] if left_out else []), *([unborn] if unborn else []),
                                                       *([trend_note] if trend_note else []), *report.notes])
    return result




def unborn_note(count: int, lead_id: str, created: pd.Timestamp, moment: datetime) -> str:
    """The note on leads created after --as-of (`count` of them, the first being `lead_id`)."""
    return (f"{count:,} lead(s) were created after --as-of {moment:%Y-%m-%d %H:%M} (e.g. {lead_id} on "
            f"{created:%Y-%m-%d %H:%M}): scored as brand-new leads with no activity; to backtest, score each "
            "period's leads as of its end")


def _print_summary(console: Console, result: ScoreResult, cleaning: list[str], notes: list[str]) -> None:
    stages = ", ".join(f"{name} {result.stages.get(name, 0):,}" for name in ("SQL", "MQL", "not yet"))
    total = sum(result.seconds.values())
    console.print(f"scored {result.rows:,} leads with model version {result.model_version} as of "
                  f"{result.as_of:%Y-%m-%d %H:%M} UTC: {stages}")
    console.print(f"wrote {result.output} in {total:.1f} s ("
                  + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()) + ")")
    for line in cleaning:
        console.print(f"cleaning: {line}")
    for note in notes:
        console.print(f"note: {note}")
