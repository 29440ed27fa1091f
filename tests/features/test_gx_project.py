"""`leadscore validate --save`: a Great Expectations project a user keeps and runs with GX
alone, giving the same pass/fail as leadscore and naming the same column; Data Docs that
render with the network blocked."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from features.data_docs import packaged_template, remote_assets
from features.load import load_clean
from features.profile import DataProfile
from tests.features.test_validation import SPEC, SPEC_DATA, _export_with_spec, clean_tables, write_export

GX_ALONE = """
import json, sys
import great_expectations as gx

context = gx.get_context(context_root_dir=sys.argv[1])
result = context.checkpoints.get(sys.argv[2]).run()
failed = sorted({(r.expectation_config.meta["table"], r.expectation_config.meta["column"],
                  r.expectation_config.kwargs.get("column"))
                 for run in result.run_results.values() for r in run.results if not r.success})
ours = sorted(m for m in sys.modules if m.split(".")[0] in ("features", "leadscore", "training", "serving"))
print(json.dumps({"success": result.success, "failed": failed, "leadscore_modules": ours}))
"""


def run_with_gx_alone(project: Path, checkpoint: str, cwd: Path, *more: tuple[Path, str]) -> dict | list[dict]:
    """Run the saved checkpoint in a fresh Python that imports great_expectations only, from
    another folder, as a user would. With `more` (project, checkpoint) pairs, each runs in a
    fresh Python of its own, all at once (importing GX takes seconds); a list of the answers."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    running = [subprocess.Popen([sys.executable, "-c", GX_ALONE, str(folder), name], cwd=cwd, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for folder, name in ((project, checkpoint), *more)]
    answers = []
    for process in running:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err[-3000:]
        answers.append(json.loads(out.strip().splitlines()[-1]))
    return answers if more else answers[0]


@pytest.fixture
def cli(tmp_path, monkeypatch):
    from leadscore.cli import app

    monkeypatch.setenv("LEADSCORE_MODELS_DIR", str(tmp_path / "models"))  # no champion profile
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def profile_path(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("training")
    _, canonical, _ = load_clean(SPEC, write_export(folder / "export", clean_tables()))
    path = folder / "profile.json"
    DataProfile.from_tables(SPEC, canonical).save(path)
    return path


def test_the_saved_checkpoint_gives_the_same_answer_with_gx_alone(tmp_path, cli, profile_path):
    name = SPEC_DATA["name"]
    good = _export_with_spec(tmp_path / "good", clean_tables())
    result = cli("validate", "--spec", good, "--profile", profile_path, "--docs", tmp_path / "docs", "--save")
    assert result.exit_code == 0, result.output
    project = good.parent / "gx" / name  # the default: gx/<spec name>/ beside the spec
    assert (project / "great_expectations.yml").is_file()
    assert str(project) in result.output.replace("\n", "")
    for table in ("leads", "activities", "outcomes"):
        assert (project / "expectations" / name / f"{table}.json").is_file()
        assert (project / "tables" / f"{table}.parquet").is_file()
    alone = run_with_gx_alone(project, name, cwd=tmp_path)
    assert alone == {"success": True, "failed": [], "leadscore_modules": []}

    # The same folder, saved from an export that breaks two rules (one on reading numbers, one
    # against the training profile): the project is replaced, and GX alone fails on them too.
    tables = clean_tables()
    tables["leads"].loc[[3, 17], "employees"] = ["abc", "12 people"]
    tables["leads"]["industry"] = "Mining"
    bad = _export_with_spec(tmp_path / "bad", tables)
    result = cli("validate", "--spec", bad, "--profile", profile_path, "--docs", tmp_path / "docs",
                 "--format", "json", "--save-to", project)
    assert result.exit_code == 1, result.output
    facts = json.loads(result.stdout)
    assert facts["gx_project"] == str(project)
    ours = {(f["table"], f["column"]) for f in facts["failures"]}
    assert ours == {("leads", "employees"), ("leads", "industry")}
    alone = run_with_gx_alone(project, name, cwd=tmp_path)
    assert alone["success"] is False and alone["leadscore_modules"] == []
    assert {(table, column) for table, column, _ in alone["failed"]} == ours
    assert ["leads", "employees", "employees (unreadable)"] in alone["failed"]
    assert sorted(p.name for p in project.parent.iterdir()) == [name]  # no temporary folder left behind

    # Data Docs: leadscore's own, those written on saving, and those GX alone rebuilt just now.
    pages = list((tmp_path / "docs").rglob("*.html")) + list((project / "uncommitted").rglob("*.html"))
    assert len(pages) >= 8
    assert len(remote_assets(packaged_template("page.j2"))) >= 5  # GX's own pages would load them
    for page in pages:
        assert remote_assets(page.read_text(encoding="utf-8")) == [], page


def test_a_folder_that_is_not_a_gx_project_is_left_alone(tmp_path, cli):
    spec = _export_with_spec(tmp_path / "export", clean_tables())
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    result = cli("validate", "--spec", spec, "--docs", tmp_path / "docs", "--save-to", taken)
    assert result.exit_code == 1
    assert "is not a Great Expectations project leadscore wrote" in result.output
    assert str(taken) in result.output and "remove it yourself" in result.output
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    assert not (tmp_path / "docs").exists()  # refused before the export was read

    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    result = cli("validate", "--spec", spec, "--save-to", a_file)
    assert result.exit_code == 2  # a usage error, Typer's convention
    assert a_file.read_text() == "mine"


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_specs_in_one_folder_keep_one_project_each(tmp_path, cli):
    """The shipped specs share data/specs/: saving one must not replace the other's project."""
    first = _export_with_spec(tmp_path / "export", clean_tables())
    second = first.with_name("other.yaml")
    second.write_text(yaml.safe_dump({**SPEC_DATA, "name": "other-crm"}, sort_keys=False))
    for spec in (first, second):
        result = cli("validate", "--spec", spec, "--docs", tmp_path / "docs", "--save")
        assert result.exit_code == 0, result.output
    projects = first.parent / "gx"
    assert sorted(p.name for p in projects.iterdir()) == ["other-crm", SPEC_DATA["name"]]
    kept = _tree(projects / SPEC_DATA["name"])
    answers = run_with_gx_alone(projects / SPEC_DATA["name"], SPEC_DATA["name"], tmp_path,
                                (projects / "other-crm", "other-crm"))
    assert [answer["success"] for answer in answers] == [True, True]

    # Saving the second spec again replaces its own project only.
    assert cli("validate", "--spec", second, "--docs", tmp_path / "docs", "--save").exit_code == 0
    assert {k: v for k, v in _tree(projects / SPEC_DATA["name"]).items() if "uncommitted" not in k} == \
        {k: v for k, v in kept.items() if "uncommitted" not in k}

    # Nor does --save-to onto the other spec's project.
    result = cli("validate", "--spec", first, "--docs", tmp_path / "docs", "--save-to", projects / "other-crm")
    assert result.exit_code == 1
    assert "saved for the spec 'other-crm', not 'validation-test'" in result.output
    assert str(projects / "other-crm") in result.output
    assert run_with_gx_alone(projects / "other-crm", "other-crm", cwd=tmp_path)["success"] is True


def test_a_users_own_gx_project_is_never_replaced(tmp_path, cli):
    import great_expectations as gx

    spec = _export_with_spec(tmp_path / "export", clean_tables())
    theirs = tmp_path / "their_gx"
    context = gx.get_context(mode="file", project_root_dir=str(theirs))
    context.suites.add(gx.ExpectationSuite(name="their_suite"))
    before = _tree(theirs)
    for target in (theirs, theirs / "gx"):  # the folder they named, or the project inside it
        result = cli("validate", "--spec", spec, "--docs", tmp_path / "docs", "--save-to", target)
        assert result.exit_code == 1, result.output
        assert "leadscore did not write" in result.output or "is not a Great Expectations project" in result.output
        assert str(target) in result.output and "--save-to" in result.output
        assert "remove it yourself" in result.output
    assert _tree(theirs) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "their_gx"]  # nothing written elsewhere
    assert gx.get_context(context_root_dir=str(theirs / "gx")).suites.get("their_suite").name == "their_suite"


def test_save_and_save_to_together_are_a_usage_error(tmp_path, cli):
    spec = _export_with_spec(tmp_path / "export", clean_tables())
    result = cli("validate", "--spec", spec, "--docs", tmp_path / "docs", "--save", "--save-to", tmp_path / "mine")
    assert result.exit_code == 2
    assert "--save and --save-to do not go together" in " ".join(result.output.replace("│", " ").split())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


HOLD_A_SAVE = """
import sys, time
from pathlib import Path
from features import gx_project

staging, lock = gx_project._start_staging(Path(sys.argv[1]))
(staging / "gx").mkdir()
(staging / "gx" / "half-written").write_text("...")
print(staging, flush=True)
time.sleep(300)
"""


def _saving_process(root: Path) -> tuple[subprocess.Popen, Path]:
    """A process in the middle of saving to `root` (its temporary folder made and locked)."""
    process = subprocess.Popen([sys.executable, "-c", HOLD_A_SAVE, str(root)], stdout=subprocess.PIPE, text=True,
                               cwd=Path(__file__).resolve().parents[2])
    return process, Path(process.stdout.readline().strip())


def test_a_save_killed_midway_leaves_nothing_behind_once_saved_again(tmp_path, monkeypatch):
    from features import gx_project
    from features.validation import validate_tables

    export = write_export(tmp_path / "export", clean_tables())
    cleaned, canonical, _ = load_clean(SPEC, export)
    project = tmp_path / "gx" / SPEC.name
    validate_tables(SPEC, cleaned, canonical, gx_project=project)

    killed, killed_staging = _saving_process(project)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    alive, alive_staging = _saving_process(project)  # another save, still running
    unrelated = [tmp_path / "gx" / f".{SPEC.name}-2.1.abc.partial", tmp_path / "gx" / f".{SPEC.name}.notes"]
    for folder in unrelated:
        folder.mkdir()
    try:
        assert killed_staging.is_dir() and alive_staging.is_dir()
        # This process started before the killed save: it is not a later save, it removes nothing.
        validate_tables(SPEC, cleaned, canonical, gx_project=project)
        assert killed_staging.is_dir()
        monkeypatch.setattr(gx_project, "_STARTED", time.time() + 1)  # a later process
        validate_tables(SPEC, cleaned, canonical, gx_project=project)
        assert not killed_staging.exists()
        assert alive_staging.is_dir()  # its process still writes it
        assert all(folder.is_dir() for folder in unrelated)  # not this naming, or another target's
    finally:
        alive.kill()
        alive.wait()
    assert run_with_gx_alone(project, SPEC.name, cwd=tmp_path)["success"] is True


def test_a_save_killed_between_moving_the_old_project_aside_and_the_new_one_in(tmp_path, monkeypatch):
    """The earlier project waits in the temporary folder: the next save puts it back first."""
    from features import gx_project
    from features.validation import validate_tables

    export = write_export(tmp_path / "export", clean_tables())
    cleaned, canonical, _ = load_clean(SPEC, export)
    project = tmp_path / "gx" / SPEC.name
    validate_tables(SPEC, cleaned, canonical, gx_project=project)
    killed, staging = _saving_process(project)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    os.replace(project, staging / "previous")  # where _replace moves it aside
    assert gx_project.clear_interrupted_saves(project, SPEC.name) == []  # not older than this process
    monkeypatch.setattr(gx_project, "_STARTED", time.time() + 1)
    assert gx_project.clear_interrupted_saves(project, SPEC.name) == [staging]
    assert not staging.exists()
    assert gx_project.written_for(project) == SPEC.name
    assert run_with_gx_alone(project, SPEC.name, cwd=tmp_path)["success"] is True


def _local_assets(page: Path) -> list[Path]:
    """The files a page loads (scripts, stylesheets, icons, images) by a relative address."""
    import re

    html = page.read_text(encoding="utf-8")
    tags = re.findall(r"<(?:script|link|img)\b[^>]*>", html, flags=re.IGNORECASE)
    addresses = [a for tag in tags for a in re.findall(r"\b(?:src|href)=[\"']([^\"']+)", tag, flags=re.IGNORECASE)]
    return [(page.parent / a.split("?")[0].split("#")[0]).resolve() for a in addresses
            if not re.match(r"[a-z]+:", a) and not a.startswith("#")]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise AssertionError("no Chromium on this machine: `make test` installs Debian's (apt-get install -y chromium)")


def test_the_data_docs_render_with_the_network_blocked(tmp_path, cli):
    from playwright.sync_api import sync_playwright

    spec = _export_with_spec(tmp_path / "export", clean_tables())
    docs = tmp_path / "docs"
    assert cli("validate", "--spec", spec, "--docs", docs, "--save-to", tmp_path / "project").exit_code == 0
    pages = sorted(docs.rglob("*.html")) + sorted((tmp_path / "project" / "uncommitted").rglob("*.html"))
    assert len(pages) == 14  # per site: the index, three suites, three validation runs
    for page in pages:  # every local asset a page names exists: its logo and its icon
        assets = _local_assets(page)
        assert {asset.name for asset in assets} == {"favicon.ico", "logo-long.png"}, page
        assert all(asset.is_file() for asset in assets), (page, [a for a in assets if not a.is_file()])
    remote: list[str] = []
    failed: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), headless=True)
        def only_files(route):
            if route.request.url.startswith("file:"):
                return route.continue_()
            remote.append(route.request.url)
            return route.abort()

        try:
            for scheme in ("light", "dark"):  # the dark theme drew its logo from S3
                visit = browser.new_context(color_scheme=scheme).new_page()
                visit.route("**/*", only_files)
                visit.on("requestfailed", lambda request: failed.append(request.url))
                for path in pages:
                    visit.goto(path.as_uri())
                    visit.wait_for_load_state("load")
                    assert visit.locator("img").first.evaluate("img => img.naturalWidth") > 0, (scheme, path)
            page = browser.new_context().new_page()
            page.route("**/*", only_files)
            page.goto((docs / "index.html").as_uri())
            rows = page.locator("table tbody tr")
            assert rows.count() >= 6  # three validation runs, three suites
            assert f"{SPEC_DATA['name']}.leads" in page.inner_text("body")
            page.locator("table tbody tr a").first.click()  # a run's page, through its link
            page.wait_for_load_state()
            text = page.inner_text("body")
            assert "column lead_id is present" in text and "Succeeded" in text
            assert page.locator("img").first.evaluate("img => img.naturalWidth") > 0  # the local logo
        finally:
            browser.close()
    assert remote == [] and failed == []


def test_a_failure_while_saving_leaves_the_earlier_project_as_it_was(tmp_path, monkeypatch):
    from features import gx_project
    from features.validation import validate_tables

    export = write_export(tmp_path / "export", clean_tables())
    cleaned, canonical, _ = load_clean(SPEC, export)
    project = tmp_path / "gx"
    validate_tables(SPEC, cleaned, canonical, gx_project=project)
    before = sorted(p.relative_to(project) for p in project.rglob("*") if "uncommitted" not in p.parts)

    def full_disk(plan, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gx_project, "_write_view", full_disk)
    with pytest.raises(OSError):
        validate_tables(SPEC, cleaned, canonical, gx_project=project)
    assert sorted(p.relative_to(project) for p in project.rglob("*") if "uncommitted" not in p.parts) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "gx"]  # no temporary folder left
