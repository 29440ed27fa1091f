"""`leadscore validate`: load a CRM export as its spec describes it, check it, say what is wrong.

The checks are those of `features.validation` (the ones training and batch scoring run too);
this job chooses the training profile, prints the cleaning report and the failures as a table,
and points to the Data Docs pages.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from features.errors import DataError
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


def run_validate(spec_path: Path, data: Path | None = None, profile_path: Path | None = None,
                 docs_dir: Path | None = None, purpose: str = "train", use_champion: bool = True,
                 console: Console | None = None) -> ValidationReport:
    """Validate the export a spec describes; print the report; return it (never raises on
    failed rules: the caller decides the exit code)."""
    from features.validation import preload_great_expectations

    console = console or Console()
    preload_great_expectations()  # overlaps reading the export
    spec = load_spec(spec_path)
    profile = _choose_profile(spec, profile_path, use_champion, console)
    docs_dir = Path(docs_dir) if docs_dir is not None else default_docs_dir(spec)

    console.print(f"Validating [bold]{spec.name}[/] for {purpose}")
    cleaned, canonical, cleaning = load_clean(spec, data)
    for line in reading_lines(cleaned, canonical):
        console.print(f"  {line}")
    for line in cleaning.lines():
        console.print(f"  cleaning: {line}")
    report = validate_tables(spec, cleaned, canonical, purpose=purpose, profile=profile,
                             docs_dir=docs_dir)
    if report.rejected:
        from features.validation import write_rejects

        for table, path in write_rejects(report, docs_dir).items():
            console.print(f"  dropped {len(report.rejected[table]):,} invalid rows "
                          f"(drop_invalid_rows): {path}")
    print_report(report, console)
    return report


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
                    console: Console) -> DataProfile | None:
    """An explicit --profile must load and match the spec; the champion's is used only when it
    exists and was built from the same spec."""
    if path is not None:
        profile = DataProfile.load(path)
        if profile.spec_name != spec.name:
            raise DataError(f"{path}: this training profile is for the spec "
                            f"{profile.spec_name!r}, not {spec.name!r}; pass the profile.json "
                            f"of a model trained on {spec.name!r}, or --no-profile")
        console.print(f"Training profile: {path}")
        return profile
    if not use_champion:
        return None
    default = champion_profile_path(spec.name)
    if not default.is_file():
        return None
    try:
        profile = DataProfile.load(default)
    except Exception as exc:  # noqa: BLE001 - a broken bundle must not block checking new data
        console.print(f"[yellow]The champion's training profile could not be read, so it is not "
                      f"used: {exc}[/]")
        return None
    if profile.spec_name != spec.name:
        console.print(f"[dim]The champion model was trained on {profile.spec_name!r}, not "
                      f"{spec.name!r}: validating without a training profile.[/]")
        return None
    console.print(f"Training profile: {default} (champion)")
    return profile


def print_report(report: ValidationReport, console: Console | None = None) -> None:
    console = console or Console()
    sizes = ", ".join(f"{table} {rows:,}" for table, rows in report.rows.items())
    console.print(f"Checked {report.checked} rules on {sizes} rows in {report.seconds:.1f} s")
    if report.failures:
        table = Table(title="Failed rules", title_justify="left", show_lines=True)
        table.add_column("rule", overflow="fold", ratio=3)
        table.add_column("table", no_wrap=True)
        table.add_column("column", overflow="fold", ratio=1)
        table.add_column("failing", justify="right")
        table.add_column("examples", overflow="fold", ratio=2)
        for failure in report.failures:
            if failure.failing is not None:
                failing, examples = f"{failure.failing:,}", ", ".join(failure.examples)
            else:  # a rule on a total (too few won leads) or on the table's columns
                failing, examples = "-", failure.observed or ""
            table.add_row(failure.rule, failure.table, failure.column or "", failing, examples)
        console.print(table)
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    if report.docs_index is not None:
        console.print(f"Data Docs: {report.docs_index}")
    if report.success:
        console.print(f"[green]{report.conclusion()}[/]")
    else:
        console.print(f"[red]validation failed:[/] {report.conclusion()}", soft_wrap=True)
