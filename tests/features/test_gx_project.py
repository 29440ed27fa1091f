"""`leadscore validate --save`: a Great Expectations project a user keeps and runs with GX
alone, giving the same pass/fail as leadscore and naming the same column; Data Docs that
render with the network blocked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


def run_with_gx_alone(project: Path, checkpoint: str, cwd: Path) -> dict:
    """Run the saved checkpoint in a fresh Python that imports great_expectations only, from
    another folder, as a user would."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", GX_ALONE, str(project), checkpoint], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    project = good.parent / "gx"  # the default: beside the spec
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
    assert not list(project.parent.glob(".gx.*"))  # no staging folder left behind

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
    assert "not a Great Expectations project" in result.output
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]
    assert not (tmp_path / "docs").exists()  # refused before the export was read

    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    result = cli("validate", "--spec", spec, "--save-to", a_file)
    assert result.exit_code == 2  # a usage error, Typer's convention
    assert a_file.read_text() == "mine"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    raise AssertionError("no Chromium on this machine: `make test` installs Debian's (apt-get install -y chromium)")


def test_the_data_docs_render_with_the_network_blocked(tmp_path, cli):
    from playwright.sync_api import sync_playwright

    spec = _export_with_spec(tmp_path / "export", clean_tables())
    docs = tmp_path / "docs"
    assert cli("validate", "--spec", spec, "--docs", docs).exit_code == 0
    remote: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), headless=True)
        try:
            page = browser.new_context().new_page()

            def only_files(route):
                if route.request.url.startswith("file:"):
                    return route.continue_()
                remote.append(route.request.url)
                return route.abort()

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
    assert remote == []


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
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "gx"]  # no staging folder left
