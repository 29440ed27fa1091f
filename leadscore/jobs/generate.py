"""`leadscore generate`: write a synthetic demo CRM to a folder, all or nothing.

The tables are written into a hidden temporary folder beside the destination and moved into
place only once every file is complete, so an error or an interrupt leaves the destination as
it was. The truth table is written next to the export but is never a training input.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.errors import DataError
from leadscore.synthetic import STAGES, CRMExport, build_crm, check_arguments

FORMATS = ("parquet", "csv")
TABLES = ("leads", "activities", "outcomes", "truth")
SUMMARY_FILE = "summary.json"
CHUNK_ROWS = 1 << 20
"""Rows per written chunk (and Parquet row group): also the step of the progress bar."""
PARQUET_COMPRESSION = "zstd"
PARQUET_DICTIONARY = ["industry", "company_size", "country", "job_role", "seniority",
                      "lead_source", "campaign", "product_interest", "email_opt_in",
                      "sales_rating", "lead_id", "activity_type", "outcome"]
"""Columns worth dictionary-encoding in Parquet. Unique ids of the leads table fall back to
plain encoding on their own; timestamps and values are not repeated enough to gain."""


@dataclass(frozen=True)
class GenerateResult:
    """Where the files went and the figures printed at the end."""

    out: Path
    paths: dict[str, Path]
    summary: dict


def _not_written(out: Path, exc: OSError) -> DataError:
    return DataError(f"--out {out}: could not write the demo CRM ({exc.strerror or exc}); "
                     "check that the folder is writable and has free space")


def _abandon(staging: Path | None, created_parents: list) -> None:
    """Remove a staging folder left by a failed write (None: the export was moved into place)
    and the parent folders the command created for it."""
    if staging is not None:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created_parents)


def run_generate(out: Path, n_leads: int, seed: int = 7, file_format: str = "parquet",
                 won_rate: float = 0.15, show_progress: bool = True, careless_history: float = 0.0,
                 print_summary: bool = True, seasonality: float = 0.0) -> GenerateResult:
    """Generate a CRM of n_leads leads into the folder `out` and return where it went.

    Raises DataError, with nothing written, for arguments that cannot work."""
    check_arguments(n_leads, seed, won_rate)
    if file_format not in FORMATS:
        raise DataError(f"--format must be one of {', '.join(FORMATS)}, got {file_format!r}; "
                        "pass --format parquet (the default) or --format csv")
    out = Path(out)
    _check_destination(out)

    created_parents = _make_parents(out.parent)
    staging = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        staging.chmod(0o777 & ~_current_umask())  # mkdtemp's 0700 would outlive the rename
        with _ProgressBar(enabled=show_progress) as bar:
            export = build_crm(n_leads, seed, won_rate, on_stage=bar.stage, careless_history=careless_history,
                               seasonality=seasonality)
            files = _write_export(export, staging, file_format, bar)
        summary = {**export.summary, "format": file_format}
        (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        files["summary"] = staging / SUMMARY_FILE
        paths = _move_into_place(staging, out, files, file_format)
        staging = None
    except OSError as exc:
        raise _not_written(out, exc) from None
    finally:
        _abandon(staging, created_parents)
    result = GenerateResult(out=out, paths=paths, summary=summary)
    if print_summary:
        print_generate_summary(result)
    return result


def run_generate_chunks(out: Path, n_leads: int, chunk_leads: int, seed: int = 7, won_rate: float = 0.15,
                        seasonality: float = 0.0, show_progress: bool = True,
                        print_summary: bool = True) -> GenerateResult:
    """Generate a CRM of n_leads leads `chunk_leads` at a time (leadscore.synthetic.chunks) into
    partitioned Parquet: `out/<table>.parquet/part-00000.parquet`, one file per chunk and table,
    which every reader of a table path reads as one table (features.read.table_files). Only one
    chunk is in memory at a time. All or nothing, as run_generate: the folder appears complete.

    Raises DataError, with nothing written, for arguments that cannot work."""
    from leadscore.synthetic.chunks import build_chunks, chunk_sizes

    check_arguments(n_leads, seed, won_rate)
    out = Path(out)
    _check_destination(out)
    if out.exists() and any(out.iterdir()):
        raise DataError(f"--out {out} is not empty; chunked generation writes a new folder: pass a new --out")
    err = Console(stderr=True)
    created_parents = _make_parents(out.parent)
    staging = None
    totals: dict = {}
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        staging.chmod(0o777 & ~_current_umask())
        for name in TABLES:
            (staging / f"{name}.parquet").mkdir()
        chunks = len(chunk_sizes(n_leads, chunk_leads)) if isinstance(chunk_leads, int) and chunk_leads > 0 else 0
        p_true, won_closed = [], []
        for number, export in enumerate(build_chunks(n_leads, seed, chunk_leads, won_rate, seasonality)):
            for name in TABLES:
                _write_parquet(getattr(export, name), staging / f"{name}.parquet" / f"part-{number:05d}.parquet",
                               _NoBar())
            closed = pc.index_in(export.truth["lead_id"], export.outcomes["lead_id"])
            is_closed = pc.is_valid(closed).to_numpy(zero_copy_only=False)
            won = pc.equal(export.outcomes["outcome"], "won").to_numpy(zero_copy_only=False)
            p_true.append(export.truth["p_true"].to_numpy()[is_closed])
            won_closed.append(won[closed.drop_null().to_numpy()])
            totals = _add_summaries(totals, export.summary)
            if show_progress:
                err.print(f"  chunk {number + 1}/{chunks}: {export.summary['leads']:,} leads, "
                          f"{export.summary['activities']:,} activities written", highlight=False)
            del export
        from features.metrics import roc_auc

        p_true, won_closed = np.concatenate(p_true), np.concatenate(won_closed)
        summary = {**totals, "seed": seed, "format": "parquet", "chunk_leads": chunk_leads, "chunks": chunks,
                   "activities_per_lead": round(totals["activities"] / n_leads, 2),
                   "won_rate_closed": round(float(won_closed.mean()), 4) if len(won_closed) else None,
                   "best_achievable_auc": round(roc_auc(won_closed, p_true), 4)}
        (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
        os.rename(staging, out) if not out.exists() else _replace_empty(staging, out)
        staging = None
    except OSError as exc:
        raise _not_written(out, exc) from None
    finally:
        _abandon(staging, created_parents)
    paths = {name: out / f"{name}.parquet" for name in TABLES} | {"summary": out / SUMMARY_FILE}
    result = GenerateResult(out=out, paths=paths, summary=summary)
    if print_summary:
        print_generate_summary(result)
    return result


def _replace_empty(staging: Path, out: Path) -> None:
    """`out` exists and is empty: take its place."""
    out.rmdir()
    os.rename(staging, out)


def _add_summaries(total: dict, chunk: dict) -> dict:
    """The figures of the chunks so far plus one more chunk's (counts added up)."""
    if not total:
        return {k: chunk[k] for k in ("leads", "lead_rows", "duplicates_injected", "activities", "outcomes",
                                      "target_won_rate", "export_end")} | {"outcomes": dict(chunk["outcomes"])}
    out = dict(total)
    for key in ("leads", "lead_rows", "duplicates_injected", "activities"):
        out[key] = total[key] + chunk[key]
    out["outcomes"] = {k: total["outcomes"][k] + chunk["outcomes"][k] for k in total["outcomes"]}
    return out


class _NoBar:
    def rows_written(self, rows: int) -> None:
        pass


# ----------------------------------------------------------------------------- destination
def _check_destination(out: Path) -> None:
    """Fail before any work if `out` cannot become a folder we can write into."""
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out} is a file, not a folder; pass the path of a folder to "
                        "write the tables into")
    existing = out
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise DataError(f"--out {out} cannot be created because {existing} is a file, not a "
                        "folder; choose an --out whose parent folders are folders")
    probe = out if out.exists() else existing
    if not os.access(probe, os.W_OK | os.X_OK):
        raise DataError(f"--out {out}: the folder {probe} is not writable; choose another --out "
                        "or fix its permissions")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _make_parents(folder: Path) -> list[Path]:
    """Create the missing folders above the destination; return them, deepest last."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    try:
        for path in missing:
            path.mkdir()
    except OSError as exc:
        _remove_empty(missing)
        raise DataError(f"could not create the folder {exc.filename or folder} for --out "
                        f"({exc.strerror}); choose another --out") from None
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for path in reversed(folders):
        try:
            path.rmdir()
        except OSError:
            pass


def _move_into_place(staging: Path, out: Path, files: dict[str, Path], file_format: str) -> dict[str, Path]:
    """Rename the complete staging folder to `out`, or, if `out` exists, replace our files in
    it one by one and drop the same tables left over in the other format."""
    if not out.exists():
        os.rename(staging, out)
    else:
        for path in files.values():
            os.replace(path, out / path.name)
        staging.rmdir()
        for other in FORMATS:
            if other != file_format:
                for table in TABLES:
                    (out / f"{table}.{other}").unlink(missing_ok=True)
    return {key: out / path.name for key, path in files.items()}


# --------------------------------------------------------------------------------- writing
def _write_export(export: CRMExport, folder: Path, file_format: str, bar: "_ProgressBar") -> dict[str, Path]:
    files = {}
    bar.expect_rows(sum(getattr(export, name).num_rows for name in TABLES))
    for name in TABLES:
        table: pa.Table = getattr(export, name)
        path = folder / f"{name}.{file_format}"
        bar.writing(name)
        if file_format == "parquet":
            _write_parquet(table, path, bar)
        else:
            _write_csv(table, path, bar)
        files[name] = path
    return files


def _write_parquet(table: pa.Table, path: Path, bar: "_ProgressBar") -> None:
    dictionary = [c for c in table.column_names if c in PARQUET_DICTIONARY]
    with pq.ParquetWriter(path, table.schema, compression=PARQUET_COMPRESSION,
                          use_dictionary=dictionary) as writer:
        for start in range(0, max(table.num_rows, 1), CHUNK_ROWS):
            chunk = table.slice(start, CHUNK_ROWS)
            writer.write_table(chunk, row_group_size=CHUNK_ROWS)
            bar.rows_written(chunk.num_rows)


def _csv_ready(chunk: pa.Table) -> pa.Table:
    """Dictionary columns as plain text, timestamps as "YYYY-MM-DD HH:MM:SS"."""
    columns = []
    for column in chunk.columns:
        if pa.types.is_dictionary(column.type):
            column = column.cast(pa.string())
        elif pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("s"))
        columns.append(column)
    return pa.table(columns, names=chunk.column_names)


def _write_csv(table: pa.Table, path: Path, bar: "_ProgressBar") -> None:
    schema = _csv_ready(table.slice(0, 0)).schema
    options = pacsv.WriteOptions(include_header=True, quoting_style="needed")
    with pacsv.CSVWriter(path, schema, write_options=options) as writer:
        for start in range(0, table.num_rows, CHUNK_ROWS):
            chunk = table.slice(start, CHUNK_ROWS)
            writer.write_table(_csv_ready(chunk))
            bar.rows_written(chunk.num_rows)


# -------------------------------------------------------------------------------- progress
class _ProgressBar:
    """One bar on stderr across generation (weighted stages) and writing (rows)."""

    GENERATE_SHARE = 0.7

    def __init__(self, enabled: bool = True) -> None:
        self._stage_weight = {key: weight for key, _, weight in STAGES}
        self._descriptions = {key: text for key, text, _ in STAGES}
        self._stage_total = sum(self._stage_weight.values())
        self._progress = Progress(
            TextColumn("[bold]{task.description:<44}"), BarColumn(), TaskProgressColumn(),
            TimeElapsedColumn(), console=Console(stderr=True), disable=not enabled,
            transient=False)
        self._task = None
        self._current: str | None = None
        self._rows_total = 0
        self._write_scale = 0.0

    def __enter__(self) -> "_ProgressBar":
        self._progress.start()
        self._task = self._progress.add_task("starting", total=1.0)
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self._progress.update(self._task, completed=1.0, description="done")
        self._progress.stop()

    def stage(self, key: str) -> None:
        if self._current is not None:
            self._advance(self.GENERATE_SHARE * self._stage_weight[self._current] / self._stage_total)
        self._current = key
        self._progress.update(self._task, description=self._descriptions[key])

    def writing(self, table: str) -> None:
        if self._current is not None:
            self._advance(self.GENERATE_SHARE * self._stage_weight[self._current] / self._stage_total)
            self._current = None
        self._progress.update(self._task, description=f"writing {table}")

    def expect_rows(self, total_rows: int) -> None:
        self._write_scale = (1.0 - self.GENERATE_SHARE) / max(total_rows, 1)

    def rows_written(self, rows: int) -> None:
        self._advance(rows * self._write_scale)

    def _advance(self, amount: float) -> None:
        self._progress.advance(self._task, amount)


# --------------------------------------------------------------------------------- summary
def print_generate_summary(result: GenerateResult, console: Console | None = None) -> None:
    """The figures of a generated CRM, on stdout."""
    s = result.summary
    console = console or Console()
    outcomes = s["outcomes"]
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("leads", f"{s['leads']:,}  ({s['duplicates_injected']:,} duplicate rows injected)")
    table.add_row("activities", f"{s['activities']:,}  ({s['activities_per_lead']} per lead)")
    table.add_row("outcomes", f"won {outcomes['won']:,} · lost {outcomes['lost']:,} · open {outcomes['open']:,}")
    won_rate = "n/a" if s["won_rate_closed"] is None else f"{s['won_rate_closed']:.1%}"
    table.add_row("won rate (closed leads)", f"{won_rate}  (target {s['target_won_rate']:.1%})")
    if s.get("won_rate_by_month"):
        by_month = s["won_rate_by_month"]
        low, high = min(by_month, key=by_month.get), max(by_month, key=by_month.get)
        table.add_row("seasonality", f"{s['seasonality']:g} log-odds: won rate by month of creation from "
                      f"{by_month[low]:.1%} (month {low}) to {by_month[high]:.1%} (month {high})")
    table.add_row("best achievable ROC-AUC", f"{s['best_achievable_auc']:.3f}  (p_true against closed outcomes)")
    table.add_row("truth", f"{result.paths['truth'].name}  (kept apart: never a training input)")
    console.print(f"Generated a demo CRM in [bold]{result.out}[/] ({s['format']}, seed {s['seed']})")
    console.print(table)
