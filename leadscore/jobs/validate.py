"""`leadscore validate`: load a CRM export as its spec describes it, check it, say what is wrong.

The checks are those of `features.validation` (the ones training and batch scoring run too);
this job chooses the training profile, prints the cleaning report and the failures as a table,
and points to the Data Docs pages. What it prints is `ValidationRun.facts()`, the document
`leadscore validate --format json` writes. With `--save` (or `--save-to FOLDER`) it also writes
the Great Expectations project of `features.gx_project`: the same suites, the tables as checked
and a checkpoint a user runs with GX alone (by default in `gx/<spec name>/` beside the
spec).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from features.errors import DataError, LeadscoreError
from features.load import load_clean
from features.profile import DataProfile
from features.spec import DatasetSpec, load_spec
from features.validation import ValidationReport, validate_tables
from leadscore.settings import get_settings

PROFILE_FILE = "profile.json"


def champion_profile_path(spec_name: str) -> Path:
    """Where the exported champion bundle of a spec keeps its training profile."""
    return get_settings().champion_bundle_dir(spec_name) / PROFILE_FILE


def default_docs_dir(spec: DatasetSpec) -> Path:
    return get_settings().data_dir / "validation" / spec.name


@dataclass
class ValidationRun:
    """What `leadscore validate` found: `facts()` is what it prints, and with `--format json`
    the document it writes."""

    report: ValidationReport
    profile: str | None = None
    """The training profile compared with ("PATH" or "PATH (champion)"), if any."""
    reading: list[str] = field(default_factory=list)
    cleaning: list[str] = field(default_factory=list)
    rejects: dict[str, Path] = field(default_factory=dict)
    """Per table, the file of the rows dropped under drop_invalid_rows."""

    @property
    def success(self) -> bool:
        return self.report.success

    def facts(self) -> dict:
        report = self.report
        return {
            "spec": report.spec_name, "purpose": report.purpose, "success": report.success,
            "conclusion": report.conclusion(), "checked": report.checked, "rows": dict(report.rows),
            "seconds": round(report.seconds, 2), "profile": self.profile,
            "reading": list(self.reading), "cleaning": list(self.cleaning),
            "dropped": {table: {"rows": len(report.rejected[table]), "file": str(path)}
                        for table, path in self.rejects.items()},
            "failures": [{"rule": f.rule, "table": f.table, "column": f.column, "failing": f.failing,
                          "examples": list(f.examples), "observed": f.observed, "row_rule": f.row_rule}
                         for f in report.failures],
            "notes": list(report.notes),
            "docs_index": str(report.docs_index) if report.docs_index is not None else None,
            "gx_project": str(report.gx_project) if report.gx_project is not None else None,
        }


def run_validate(spec_path: Path, data: Path | None = None, profile_path: Path | None = None,
                 docs_dir: Path | None = None, purpose: str = "train", use_champion: bool = True,
                 console: Console | None = None, show_progress: bool = True, save: bool = False,
                 save_to: Path | None = None, dask: str | None = None) -> ValidationRun:
    """Validate the export a spec describes; print the report; return it (never raises on
    failed rules: the caller decides the exit code). With `show_progress`, a bar on stderr
    follows the Great Expectations checks when stderr is a terminal. With `save` or `save_to`,
    the Great Expectations project is written to `save_to`, or with `save` to
    `gx/<spec name>/` beside the spec (not both), whether the rules pass or not: its checkpoint
    gives the same answer with GX alone. A folder that holds anything but the project leadscore
    wrote for this spec is refused before the export is read. `dask`: a scheduler address or
    'local' (leadscore.cluster): the checks run on the export's partitions and the report is
    the single-machine one (`features.partitions.PartitionedTables.validate`); not with `save`."""
    from features.gx_project import check_target, default_project_dir
    from features.validation import preload_great_expectations

    console = console or Console()
    if save and save_to is not None:
        raise ValueError("save=True writes to gx/<spec name>/ beside the spec, save_to to a folder: pass one")
    spec = load_spec(spec_path)
    gx_project = None
    if save or save_to is not None:
        target = save_to if save_to is not None else default_project_dir(spec_path, spec.name)
        gx_project = check_target(target, spec.name)
    preload_great_expectations()  # overlaps reading the export
    profile, profile_label = _choose_profile(spec, profile_path, use_champion, console)
    docs_dir = Path(docs_dir) if docs_dir is not None else default_docs_dir(spec)

    if dask is not None and (save or save_to is not None):
        raise LeadscoreError("--save and --save-to write the checked tables as files: not with --dask; validate "
                             "without --dask to save the Great Expectations project")
    console.print(f"Validating [bold]{spec.name}[/] for {purpose}")
    if dask is not None:
        run = _validate_on_cluster(dask, spec, data, purpose, profile, profile_label, docs_dir, console)
        print_facts(run.facts(), console)
        return run
    cleaned, canonical, cleaning = load_clean(spec, data)
    reading, cleaning_lines = reading_lines(cleaned, canonical), cleaning.lines()
    for line in reading:
        console.print(f"  {line}")
    for line in cleaning_lines:
        console.print(f"  cleaning: {line}")
    with _ChecksProgress(show_progress) as progress:
        report = validate_tables(spec, cleaned, canonical, purpose=purpose, profile=profile,
                                 docs_dir=docs_dir, gx_project=gx_project, on_step=progress.step)
    run = ValidationRun(report, profile_label, reading, cleaning_lines)
    if run.report.rejected:
        from features.validation import write_rejects

        run.rejects = write_rejects(run.report, docs_dir)
        for table, path in run.rejects.items():
            console.print(f"  dropped {len(run.report.rejected[table]):,} invalid rows "
                          f"(drop_invalid_rows): {path}")
    print_facts(run.facts(), console)
    return run


def _validate_on_cluster(address: str, spec: DatasetSpec, data: Path | None, purpose: str, profile,
                         profile_label, docs_dir: Path, console: Console) -> ValidationRun:
    """`run_validate` with the export partitioned by lead on the Dask cluster at `address`."""
    from features.partitions import read_export, tables_on_cluster
    from leadscore.cluster import connect

    with connect(address) as client:
        tables = tables_on_cluster(client, spec, read_export(spec, data, purpose), purpose=purpose)
        cleaning_lines = tables.cleaning_lines()
        for line in cleaning_lines:
            console.print(f"  cleaning: {line}")
        report = tables.validate(profile=profile, docs_dir=docs_dir)
    return ValidationRun(report, profile_label, [f"read on the Dask cluster in {len(tables.parts)} lead partitions"],
                         cleaning_lines)


class _ChecksProgress:
    """A transient bar on stderr over the Great Expectations runs (one per table, then the Data
    Docs); nothing when disabled or when stderr is not a terminal."""

    def __init__(self, enabled: bool):
        err = Console(stderr=True)
        self.progress = None
        if enabled and err.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("{task.description:<48}"), BarColumn(),
                                     TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(),
                                     console=err, transient=True)

    def __enter__(self) -> "_ChecksProgress":
        if self.progress is not None:
            self.progress.__enter__()
            self.task = self.progress.add_task("loading the checks", total=None)
        return self

    def step(self, what: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress.update(self.task, description=what, completed=done, total=total, refresh=True)

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)


def reading_lines(cleaned, canonical) -> list[str]:
    """What was detected while reading: per table its file, separator and encoding, and how its
    time and number columns were read ("created: day first (a first field above 12): %d/%m/%Y")."""
    from features.read import read_info

    lines = []
    for table, path in cleaned.paths.items():
        frame = getattr(cleaned, table, None)
        info = read_info(frame) if frame is not None else None
        lines.append(f"{table}: {path}" + (f" ({info.describe(path)})" if info is not None else ""))
        for column, reading in canonical.readings.get(table, {}).items():
            if reading.how and reading.how not in ("numbers", "times") and not reading.how.startswith("numbers with '.'"):
                lines.append(f"  {column}: {reading.how}")
    return lines


def _choose_profile(spec: DatasetSpec, path: Path | None, use_champion: bool,
                    console: Console) -> tuple[DataProfile | None, str | None]:
    """The training profile to compare with, and how to name it ("PATH" or "PATH (champion)").
    An explicit --profile must load and match the spec; the champion's is used only when it
    exists and was built from the same spec."""
    if path is not None:
        profile = DataProfile.load(path)
        if profile.spec_name != spec.name:
            raise DataError(f"{path}: this training profile is for the spec "
                            f"{profile.spec_name!r}, not {spec.name!r}; pass the profile.json "
                            f"of a model trained on {spec.name!r}, or --no-profile")
        console.print(f"Training profile: {path}")
        return profile, str(path)
    if not use_champion:
        return None, None
    default = champion_profile_path(spec.name)
    if not default.is_file():
        return None, None
    try:
        profile = DataProfile.load(default)
    except Exception as exc:  # noqa: BLE001 - a broken bundle must not block checking new data
        console.print(f"[yellow]The champion's training profile could not be read, so it is not "
                      f"used: {exc}[/]")
        return None, None
    if profile.spec_name != spec.name:
        console.print(f"[dim]The champion model was trained on {profile.spec_name!r}, not "
                      f"{spec.name!r}: validating without a training profile.[/]")
        return None, None
    console.print(f"Training profile: {default} (champion)")
    return profile, f"{default} (champion)"


def print_facts(facts: dict, console: Console | None = None) -> None:
    """The checks' part of `ValidationRun.facts()` in words and a table of the failed rules."""
    console = console or Console()
    sizes = ", ".join(f"{table} {rows:,}" for table, rows in facts["rows"].items())
    console.print(f"Checked {facts['checked']} rules on {sizes} rows in {facts['seconds']:.1f} s")
    if facts["failures"]:
        table = Table(title="Failed rules", title_justify="left", show_lines=True)
        table.add_column("rule", overflow="fold", ratio=3)
        table.add_column("table", no_wrap=True)
        table.add_column("column", overflow="fold", ratio=1)
        table.add_column("failing", justify="right")
        table.add_column("examples", overflow="fold", ratio=2)
        for failure in facts["failures"]:
            if failure["failing"] is not None:
                failing, examples = f"{failure['failing']:,}", ", ".join(failure["examples"])
            else:  # a rule on a total (too few won leads) or on the table's columns
                failing, examples = "-", failure["observed"] or ""
            table.add_row(failure["rule"], failure["table"], failure["column"] or "", failing, examples)
        console.print(table)
    for note in facts["notes"]:
        console.print(f"[dim]note: {note}[/]")
    if facts["docs_index"] is not None:
        console.print(f"Data Docs: {facts['docs_index']}")
    if facts.get("gx_project") is not None:
        console.print(f"Great Expectations project: {facts['gx_project']} (checkpoint "
                      f"{facts['spec']!r}: runs with great_expectations alone)")
    if facts["success"]:
        console.print(f"[green]{facts['conclusion']}[/]")
    else:
        console.print(f"[red]validation failed:[/] {facts['conclusion']}", soft_wrap=True)
