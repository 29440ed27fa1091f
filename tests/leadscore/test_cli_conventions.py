"""The command line's conventions: `leadscore --version`; `--format json` on models, validate,
leakage and report prints one JSON document on stdout (words on stderr) with the facts the text
shows, and keeps the exit code; usage errors exit 2, data errors 1, never with a traceback;
shell completion is offered."""

from __future__ import annotations

import json
import shutil
from importlib.metadata import version

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import DEMO_SPEC
from tests.leadscore.test_train_cli import leaky_export  # noqa: F401 - a fixture

runner = CliRunner()  # result.stdout and result.stderr apart


def leadscore(*args: str, **env: str):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "250", **env}, prog_name="leadscore")


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """Empty models and data folders and a fresh database."""
    monkeypatch.setenv("LEADSCORE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", f"sqlite:///{tmp_path / 'leadscore.db'}")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_version_prints_the_installed_version_before_any_command():
    for args in (["--version"], ["--version", "models"]):
        result = leadscore(*args)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"leadscore {version('leadscore')}"


def test_shell_completion_completes_commands_and_option_values():
    assert "--install-completion" in leadscore("--help").stdout
    commands = leadscore(_LEADSCORE_COMPLETE="complete_bash", COMP_WORDS="leadscore val", COMP_CWORD="1")
    assert commands.exit_code == 0 and commands.stdout.split() == ["validate"]
    formats = leadscore(_LEADSCORE_COMPLETE="complete_bash", COMP_WORDS="leadscore models --format ", COMP_CWORD="3")
    assert formats.stdout.split() == ["text", "json"]


USAGE, DATA = 2, 1
EXIT_CODES = [
    (["nosuch"], USAGE),
    (["validate"], USAGE),  # --spec missing
    (["validate", "--spec", DEMO_SPEC, "--purpose", "audit"], USAGE),
    (["models", "--format", "yaml"], USAGE),
    (["generate", "--out", "x", "--leads", "many"], USAGE),
    (["train", "--spec", DEMO_SPEC, "--tune", "-1"], USAGE),
    (["promote", "two"], USAGE),
    (["report", "--no-such-option"], USAGE),
    (["score"], USAGE),
    (["validate", "--spec", "nope.yaml"], DATA),
    (["validate", "--spec", "nope.yaml", "--format", "json"], DATA),
    (["leakage", "--spec", "nope.yaml", "--format", "json"], DATA),
    (["leakage", "--spec", DEMO_SPEC, "--threshold", "2"], USAGE),  # out of range
    (["leakage", "--spec", DEMO_SPEC, "--threshold", "0.5"], DATA),  # in range, but no threshold
    (["generate", "--out", "x", "--leads", "-5"], USAGE),
    (["score", "in.csv", "out.csv", "--reasons", "9"], USAGE),
    (["score", "in.csv", "out.csv", "--as-of", "31/02/2026"], USAGE),
    (["report", "--since", "notadate"], USAGE),
    (["train", "--spec", "nope.yaml"], DATA),
    (["stages", "--config", "nope.yaml"], DATA),
    (["models"], DATA),  # no registered model yet
    (["models", "--format", "json"], DATA),
    (["report", "--fail-on", "drift-ish", "--format", "json"], DATA),
    (["report", "--format", "json"], DATA),  # no champion
    (["score", "nope.csv", "out.csv"], DATA),
    (["outcomes", "import", "nope.csv", "--spec", DEMO_SPEC], DATA),
]


@pytest.mark.parametrize("args, code", EXIT_CODES, ids=[" ".join(map(str, a)).replace(str(DEMO_SPEC), "SPEC")
                                                       for a, _ in EXIT_CODES])
def test_usage_errors_exit_2_and_data_errors_1_with_a_message_not_a_traceback(workspace, args, code):
    result = leadscore(*args)
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert ("error: " if code == DATA else "Usage: ") in result.stderr
    if code == DATA and "json" in args:  # a script reading stdout gets the error as a document
        assert json.loads(result.stdout)["error"] == result.stderr.strip().removeprefix("error: ").replace("\n", " ")
    else:
        assert result.stdout == ""  # the message is on stderr; nothing a script would parse


def test_validate_json_carries_the_failed_rules_and_keeps_exit_1(workspace, demo_crm_dir):
    passed = leadscore("validate", "--spec", DEMO_SPEC, "--data", demo_crm_dir, "--format", "json")
    assert passed.exit_code == 0, passed.output
    facts = json.loads(passed.stdout)
    assert facts["success"] and facts["failures"] == [] and facts["spec"] == "demo-crm"
    assert facts["rows"]["leads"] > 0 and f"{facts['checked']} rules passed" in passed.stderr

    broken = shutil.copytree(demo_crm_dir, workspace / "broken")
    outcomes = pd.read_parquet(broken / "outcomes.parquet")
    outcomes.loc[outcomes.index[:3], "closed_at"] = pd.Timestamp("1990-01-01")  # closed before created
    outcomes.to_parquet(broken / "outcomes.parquet", index=False)
    failed = leadscore("validate", "--spec", DEMO_SPEC, "--data", broken, "--format", "json")
    assert failed.exit_code == 1, failed.output
    facts = json.loads(failed.stdout)
    assert not facts["success"] and "validation failed" in failed.stderr
    rule = next(f for f in facts["failures"] if f["table"] == "outcomes")
    assert rule["failing"] == 3 and any("1990" in e for e in rule["examples"]), rule
    assert rule["rule"] in " ".join(failed.stderr.split())
    text = leadscore("validate", "--spec", DEMO_SPEC, "--data", broken)
    assert text.exit_code == 1 and facts["conclusion"][:60] in " ".join(text.stdout.split())


def test_validate_shows_its_checks_progress_on_a_terminal_only(workspace, demo_crm_dir):
    args = ("validate", "--spec", DEMO_SPEC, "--data", demo_crm_dir)
    terminal = leadscore(*args, TTY_COMPATIBLE="1")  # stderr taken for a terminal
    assert terminal.exit_code == 0, terminal.output
    assert "checking leads" in terminal.stderr and "checking" not in terminal.stdout
    piped = leadscore(*args)
    as_json = leadscore(*args, "--format", "json", TTY_COMPATIBLE="1")
    assert "checking" not in piped.stderr + as_json.stderr
    assert json.loads(as_json.stdout)["success"]


def test_leakage_json_names_the_leak_and_keeps_exit_3(workspace, leaky_export):  # noqa: F811
    spec, data = leaky_export
    result = leadscore("leakage", "--spec", spec, "--data", data, "--format", "json")
    assert result.exit_code == 3, result.output
    facts = json.loads(result.stdout)
    assert "n_order_form_signed_30d" in facts["leaks"] and facts["threshold"] == 0.95
    column = next(c for c in facts["columns"] if c["column"] == "n_order_form_signed_30d")
    assert column["flagged"] and column["leaks_into_model"] and column["role"] == "feature"
    assert "feature(s) leak the outcome" in result.stderr


def test_models_json_lists_the_versions_the_table_shows(workspace, monkeypatch):
    from training.registry import VersionInfo

    class Registry:
        model_name = "leadscore-demo-crm"

        def versions(self):
            return [VersionInfo(3, "run3", "2026-11-03 10:00", [], {"holdout_roc_auc": 0.82},
                                {"model": "blend", "sampled_leads": "60000", "leads_with_outcome": "810352",
                                 "trained_on": "dask", "dask_workers": "2", "lightgbm_leads": "every"}),
                    VersionInfo(2, "run2", "2026-11-02 10:00", ["champion"], {"holdout_roc_auc": 0.81234,
                    "holdout_pr_auc": 0.5, "holdout_ece": 0.012}, {"model": "lightgbm", "promotion": "champion: all gates passed",
                                                                    "sampled_leads": "60000", "leads_with_outcome": "810352"}),
                    VersionInfo(1, "run1", "2026-11-01 10:00", [], {"holdout_roc_auc": 0.8}, {"model": "logistic"})]

    monkeypatch.setattr("leadscore.jobs.models._registry", lambda settings, spec: Registry())
    text = leadscore("models")
    result = leadscore("models", "--format", "json")
    assert text.exit_code == result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts["model"] == "leadscore-demo-crm" and [v["version"] for v in facts["versions"]] == [3, 2, 1]
    on_dask, latest, first = facts["versions"]
    assert on_dask["trained_on"] == "dask" and latest["trained_on"] == "one machine"
    assert latest["aliases"] == ["champion"] and latest["roc_auc"] == 0.8123 and first["ece"] is None
    assert "0.8123" in text.stdout and "v2: champion: all gates passed" in text.stdout
    assert latest["promotion"] == "champion: all gates passed" and first["promotion"] is None
    assert (latest["sampled_leads"], latest["leads_with_outcome"], first["sampled_leads"]) == (60_000, 810_352, None)
    said = " ".join(text.stdout.split())
    assert "v2: trained on a random 60,000 of the 810,352 leads with an outcome (max_leads)" in said
    assert "v1: trained on" not in said  # every lead
    assert ("v3: LightGBM trained on every lead on Dask; the logistic model, calibration and holdout on a random "
            "60,000 of the 810,352 leads with an outcome (max_leads)") in said


def test_report_json_on_stdout_is_the_document_json_file_writes(workspace, bundle_dir):
    shutil.copytree(bundle_dir, workspace / "models" / "bundles" / "demo-crm" / "champion")
    result = leadscore("report", "--spec", DEMO_SPEC, "--format", "json", "--json", workspace / "report.json",
                       "--fail-on", "broken-promise")
    assert result.exit_code == 0, result.output
    facts = json.loads(result.stdout)
    assert facts == json.loads((workspace / "report.json").read_text())
    assert facts["period"]["leads"] == 0 and "0 leads scored" in result.stderr
