"""A file-based Great Expectations project a user can keep: `leadscore validate --save`.

What the saved checkpoint can honestly check. The rules do not read the export's raw file:
they read each table's *view* (`features.validation_rules`), in which leadscore has already
read every value with its one parser per kind and added companion columns such as
"employees (unreadable)" or "lead_id (not a known lead)" that hold the raw text of the failing
cells and are missing elsewhere. Great Expectations alone cannot rebuild those columns from a
CSV (they need the spec's time formats, yes/no words, decimal marks, the leads table for the
lead ids, ...), and a suite of only the rules that hold on the raw file would be a second,
weaker copy of the rules. So the project keeps the views that were checked, as Parquet beside
the suites, and its checkpoint validates those files with the very suites the run used (built
by `features.expectations.expectation_suite`): GX alone gives the same pass/fail, naming the
same columns. To check a new export, run `leadscore validate --save` on it again (the views
are rebuilt and the project replaced); the suites are also there to apply, with GX, to views
built another way.

Layout (`root`, by default `gx/<spec name>/` beside the spec: one project per spec, so that
saving one spec's project never touches another's kept in the same folder of specs):

    leadscore-project.json      the marker: written by leadscore, for which spec
    great_expectations.yml      the project; its datasource points at tables/ by absolute path
    expectations/               one suite per table: <spec>.leads, <spec>.activities, ...
    validation_definitions/     one per table: its suite on its view
    checkpoints/<spec>.json     all of them, then the Data Docs
    tables/<table>.parquet      the views the suites check
    plugins/leadscore_offline_docs.py   the offline Data Docs views (`features.data_docs`)
    uncommitted/                validation results and Data Docs (local_site/index.html)
    README.md                   how to run it

Run it with GX alone:

    import great_expectations as gx
    context = gx.get_context(context_root_dir="path/to/gx")
    result = context.checkpoints.get("<spec name>").run()
    result.success

The project is written whole into a temporary folder beside `root`
(`.<root name>.<pid>.<random>.partial`, locked while its process writes), then renamed into
place: an earlier project there is replaced only once the new one is complete. `root` is
replaced only when it is missing, empty, or holds the marker of a project leadscore wrote for
the same spec; anything else (another spec's project, a user's own GX project, other files) is
refused and left as it was. Temporary folders of earlier saves to the same `root` that were
interrupted (`kill -9`) are removed when the next save starts (an earlier project they still
hold, when `root` is missing, is put back first). Its checkpoint is run once, so the Data
Docs are there from the start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

try:
    import fcntl
except ImportError:  # not POSIX: interrupted saves are told apart by their age only
    fcntl = None

from features.errors import DataError
from features.expectations import RESULT_FORMAT, expectation_suite, fast_pandas_batches, quiet, suite_name
from features.validation_rules import TablePlan

PROJECT_FILE = "great_expectations.yml"
TABLES = "tables"
PLUGIN_MODULE = "leadscore_offline_docs"
DOCS_SITE = "local_site"
DOCS_FOLDER = "uncommitted/data_docs/local_site/"
MARKER = "leadscore-project.json"
"""In every project leadscore writes: the spec it is for. Only such a folder is ever replaced."""
WRITTEN_BY = "leadscore validate --save"
LOCK = "writing.lock"
"""In a temporary folder: locked (flock) for as long as the process writing it lives."""
_STARTED = time.time()
"""About when this process started (this module's import): temporary folders older than this,
and not locked, are left over from interrupted saves."""


@dataclass(frozen=True)
class SavedProject:
    root: Path
    checkpoint: str
    """The checkpoint's name: the spec's."""
    success: dict[str, bool]
    """Per table, whether the saved checkpoint's run on the saved view passed."""
    docs_index: Path


def default_project_dir(spec_path: Path, spec_name: str) -> Path:
    """Where `leadscore validate --save` writes the project: `gx/<spec name>/` beside the spec
    file (the specs of one folder each keep their own)."""
    if not spec_name or spec_name in (".", "..") or any(sep in spec_name for sep in ("/", "\\", "\0")):
        raise DataError(f"the spec's name {spec_name!r} cannot be a folder's name, so its Great Expectations "
                        "project has no default folder: choose one with --save-to FOLDER")
    return Path(spec_path).resolve().parent / "gx" / spec_name


def written_for(root: Path) -> str | None:
    """The spec whose project leadscore wrote at `root` (its marker says so), or None."""
    try:
        marker = json.loads((Path(root) / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(marker, dict) and marker.get("written_by") == WRITTEN_BY and isinstance(marker.get("spec"), str):
        return marker["spec"]
    return None


def check_target(root: Path, spec_name: str) -> Path:
    """`root` resolved, once it is known that the project of `spec_name` may be written there:
    it does not exist, is an empty folder, or holds the project leadscore wrote for that same
    spec (which is replaced). Anything else raises a DataError naming the folder and the fix."""
    root = Path(root).resolve()
    if not root.exists() or (root.is_dir() and not any(root.iterdir())):
        return root
    fix = "nothing was written; choose another folder with --save-to, or remove it yourself"
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder for a Great Expectations project: {fix}")
    owner = written_for(root)
    if owner == spec_name:
        return root
    if owner is not None:
        raise DataError(f"{root} holds the Great Expectations project leadscore saved for the spec {owner!r}, "
                        f"not {spec_name!r}: {fix}")
    if (root / PROJECT_FILE).is_file():
        raise DataError(f"{root} holds a Great Expectations project leadscore did not write (no {MARKER}), "
                        f"which saving would replace: {fix}")
    raise DataError(f"{root} is not empty and is not a Great Expectations project leadscore wrote "
                    f"(no {MARKER}): {fix}")


def save_gx_project(root: Path, spec_name: str, plans: list[TablePlan],
                    on_step: Callable[[str, int, int], None] | None = None) -> SavedProject:
    """Write the suites of `plans`, their views and a checkpoint as a GX project at `root`,
    run the checkpoint once there (validation results and offline Data Docs), and say what it
    found. See the module's docstring for what is written and why."""
    root = check_target(root, spec_name)
    step = on_step or (lambda what, done, total: None)
    step(f"writing the Great Expectations project {root}", 0, 2)
    root.parent.mkdir(parents=True, exist_ok=True)
    clear_interrupted_saves(root, spec_name)
    root = check_target(root, spec_name)  # a project put back from an interrupted save is checked too
    staging, lock = _start_staging(root)
    try:
        with quiet():
            tables = _write_project(staging, spec_name, plans)
        _replace(root, staging / "gx", tables, staging / "previous")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(lock)
    step(f"running the saved checkpoint {spec_name!r}", 1, 2)
    with quiet():
        import great_expectations as gx

        fast_pandas_batches()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(context_root_dir=str(root))
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        result = context.checkpoints.get(spec_name).run()
    success = {plan.table: False for plan in plans}
    by_suite = {suite_name(spec_name, plan.table): plan.table for plan in plans}
    for validation in result.run_results.values():
        success[by_suite[validation.suite_name]] = bool(validation.success)
    step("saved", 2, 2)
    return SavedProject(root, spec_name, success, root / DOCS_FOLDER / "index.html")


def _staging_pattern(root: Path) -> re.Pattern:
    return re.compile(rf"\.{re.escape(root.name)}\.[0-9]+\.[a-z0-9_]+\.partial")


def _start_staging(root: Path) -> tuple[Path, int]:
    """A new temporary folder beside `root`, and the descriptor of its lock (held until closed)."""
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.{os.getpid()}.", suffix=".partial", dir=root.parent))
    lock = os.open(staging / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    if fcntl is not None:
        fcntl.flock(lock, fcntl.LOCK_EX)
    return staging, lock


def _in_use(staging: Path) -> bool:
    """Whether a living process still writes `staging` (holds its lock)."""
    if fcntl is None:
        return False
    try:
        lock = os.open(staging / LOCK, os.O_RDWR)
    except OSError:
        return False  # killed before it took the lock
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(lock)
    return False


def clear_interrupted_saves(root: Path, spec_name: str) -> list[Path]:
    """Remove the temporary folders that earlier saves to `root` left when they were killed:
    those of this module's naming for `root` only, older than this process and not locked by a
    living one. If `root` is missing because a save was killed between moving the earlier
    project aside and moving the new one in, the earlier one is put back first. Returns the
    folders removed."""
    pattern, removed = _staging_pattern(root), []
    stale = [path for path in root.parent.iterdir()
             if pattern.fullmatch(path.name) and path.is_dir() and not path.is_symlink()
             and path.stat().st_mtime < _STARTED and not _in_use(path)]
    for path in sorted(stale, key=lambda path: path.stat().st_mtime, reverse=True):
        previous = path / "previous"
        if not root.exists() and written_for(previous) == spec_name:
            os.replace(previous, root)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _write_project(staging: Path, spec_name: str, plans: list[TablePlan]) -> Path:
    """The whole project in `staging/gx`; returns its tables folder (as an absolute path)."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.checkpoint import UpdateDataDocsAction

    from features import data_docs

    context = gx.get_context(mode="file", project_root_dir=str(staging))
    project = Path(context.root_directory)
    tables = project / TABLES
    tables.mkdir()
    for plan in plans:
        _write_view(plan, tables / f"{plan.table}.parquet")
    plugin = Path(context.plugins_directory)
    plugin.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data_docs.__file__, plugin / f"{PLUGIN_MODULE}.py")
    if DOCS_SITE in (context.get_config().data_docs_sites or {}):
        context.delete_data_docs_site(DOCS_SITE)
    context.add_data_docs_site(DOCS_SITE, data_docs.site_config(PLUGIN_MODULE, DOCS_FOLDER))

    source = context.data_sources.add_pandas_filesystem(name=spec_name, base_directory=tables)
    definitions = []
    for plan in plans:
        batch = source.add_parquet_asset(name=plan.table).add_batch_definition_path(
            name=f"{plan.table} as checked", path=f"{plan.table}.parquet")
        suite = context.suites.add(expectation_suite(gx, gxe, spec_name, plan))
        definitions.append(context.validation_definitions.add(
            gx.ValidationDefinition(name=suite_name(spec_name, plan.table), data=batch, suite=suite)))
    context.checkpoints.add(gx.Checkpoint(
        name=spec_name, validation_definitions=definitions, result_format=RESULT_FORMAT,
        actions=[UpdateDataDocsAction(name="update the Data Docs", site_names=[DOCS_SITE])]))
    (project / "README.md").write_text(_readme(spec_name, plans), encoding="utf-8")
    (project / MARKER).write_text(json.dumps({"written_by": WRITTEN_BY, "spec": spec_name}, indent=2) + "\n",
                                  encoding="utf-8")
    return tables


def _write_view(plan: TablePlan, path: Path) -> None:
    """The view the suite checks, as Parquet (categoricals stay categoricals). A text column
    that mixes kinds of values (a number among strings) is written as text."""
    frame = plan.compact_frame()
    try:
        frame.to_parquet(path, index=False)
    except (TypeError, ValueError):  # pyarrow's ArrowTypeError, ArrowInvalid
        mixed = {name: values.astype("string") for name, values in frame.items() if values.dtype == object}
        frame.assign(**mixed).to_parquet(path, index=False)


def _replace(root: Path, project: Path, tables: Path, aside: Path) -> None:
    """Move the finished `project` to `root` (an earlier project there is moved `aside`, inside
    the temporary folder, and removed only once this one is in place) and point its datasource
    at `root/tables`."""
    _point_at(project / PROJECT_FILE, tables, root / TABLES)
    previous = None
    if root.exists():
        previous = aside
        os.replace(root, previous)
    try:
        os.replace(project, root)
    except BaseException:
        if previous is not None:
            os.replace(previous, root)
        raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _point_at(config: Path, staged: Path, final: Path) -> None:
    """Point the project's datasource, written at `staged`, at `final` (GX resolves a relative
    `base_directory` against the current folder, not the project, so it stays absolute)."""
    from ruamel.yaml import YAML  # Great Expectations' own YAML library

    yaml = YAML()
    document = yaml.load(config.read_text(encoding="utf-8"))
    sources = [source for source in (document.get("fluent_datasources") or {}).values()
               if str(source.get("base_directory")) == str(staged)]
    if len(sources) != 1:
        raise AssertionError(f"expected one datasource reading {staged} in {config}")
    sources[0]["base_directory"] = str(final)
    with config.open("w", encoding="utf-8") as out:
        yaml.dump(document, out)


def _readme(spec_name: str, plans: list[TablePlan]) -> str:
    tables = "\n".join(f"- `{plan.table}`: suite `{suite_name(spec_name, plan.table)}`, {len(plan.rules)} rules, "
                       f"view `{TABLES}/{plan.table}.parquet` ({plan.rows:,} rows)" for plan in plans)
    return f"""# Great Expectations project of `{spec_name}`

Written by `leadscore validate --save`: the expectation suites leadscore checks a CRM export
with, the views of the tables they were checked on, and a checkpoint. Run it with Great
Expectations alone (no leadscore needed):

```python
import great_expectations as gx

context = gx.get_context(context_root_dir="path/to/this/folder")
result = context.checkpoints.get("{spec_name}").run()
print(result.success)
```

{tables}

The views are the tables as leadscore read them, with the company's column names and
companion columns ("<column> (unreadable)", "<column> (not a known lead)", ...) that hold the
raw text of failing cells and are missing elsewhere: the suites check those. To check a new
export, run `leadscore validate --save` on it (this folder is replaced; `{MARKER}` says
leadscore wrote it, for which spec: leadscore replaces no folder without it). The datasource points
at `{TABLES}/` by absolute path: after moving the folder, edit `base_directory` in
`great_expectations.yml`. The Data Docs (`{DOCS_FOLDER}index.html`) render offline through
`plugins/{PLUGIN_MODULE}.py`.
"""
