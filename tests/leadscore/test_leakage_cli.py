"""`leadscore leakage` exits 3 when a model feature leaks, and `leadscore train` refuses such a
lead column before fitting, unless the spec lists it under after_contact or allow_leaky."""

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import DEMO_SPEC, ROOT, X_EDUCATION

runner = CliRunner()
X_EDUCATION_SPEC = ROOT / "data" / "specs" / "x_education.yaml"
needs_x_education = pytest.mark.skipif(
    not X_EDUCATION.exists(), reason=f"X Education export not found at {X_EDUCATION} (it lives outside this repository)")


def leakage(spec, *args: str):
    return runner.invoke(app, ["leakage", "--spec", str(spec), *args], env={"COLUMNS": "250"})


def row(output: str, column: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(f"│ {column} "))


def x_education_with(tmp_path, column: str, values, role: str, allow: bool = False):
    """A copy of the X Education export with one more column, listed under leads.<role>."""
    leads = pd.read_csv(X_EDUCATION, dtype=str, keep_default_na=False)
    leads[column] = values(leads["Converted"].astype(int).to_numpy(), np.random.default_rng(0))
    leads.to_csv(tmp_path / "Leads.csv", index=False)
    spec = yaml.safe_load(X_EDUCATION_SPEC.read_text())
    spec["data_dir"] = "."
    spec["leads"][role].append(column)
    if allow:
        spec["allow_leaky"] = [column]
    path = tmp_path / "x_education.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def label_with_5_percent_noise(won, rng):
    return np.where(rng.random(len(won)) < 0.05, 1 - won, won).astype(str)


def filled_only_for_won(won, rng):
    return np.where((won == 1) & (rng.random(len(won)) < 0.5), rng.choice(["fees", "placement"], len(won)), "")


@needs_x_education
@pytest.mark.parametrize("column, values, role, reason", [
    ("Call Outcome Score", label_with_5_percent_noise, "numeric", "above the best other feature"),
    ("Enrolment Reason", filled_only_for_won, "categorical", "filled in for"),
])
def test_a_leaking_x_education_column_is_flagged_and_training_refuses_it(tmp_path, monkeypatch, column, values,
                                                                          role, reason):
    monkeypatch.setenv("LEADSCORE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    spec = x_education_with(tmp_path, column, values, role)
    flagged = leakage(spec)
    assert flagged.exit_code == 3, flagged.output
    assert "LEAKS" in row(flagged.output, column) and reason in flagged.output
    assert f"1 feature(s) leak the outcome: {column}" in flagged.output

    refused = runner.invoke(app, ["train", "--spec", str(spec)])
    assert refused.exit_code == 1
    assert "training refused" in refused.output and f"{column}: ROC-AUC" in refused.output
    assert f"`after_contact: [{column}]`" in refused.output and f"`allow_leaky: [{column}]`" in refused.output
    from leadscore.settings import get_settings
    from training.registry import Registry

    registry = Registry.from_settings(get_settings())
    assert registry.model_names() == []  # nothing registered
    runs = registry.mlflow.search_runs(experiment_names=["leadscore"])  # the run says why it stopped
    assert runs["status"].tolist() == ["FAILED"] and f"{column}: ROC-AUC" in runs["tags.error"].iloc[0]


@needs_x_education
def test_allow_leaky_keeps_a_checked_column_as_a_feature(tmp_path):
    spec = x_education_with(tmp_path, "Call Outcome Score", label_with_5_percent_noise, "numeric", allow=True)
    allowed = leakage(spec)
    assert allowed.exit_code == 0, allowed.output
    assert "allowed" in row(allowed.output, "Call Outcome Score")


@needs_x_education
def test_the_shipped_x_education_spec_reports_its_after_contact_leaks_and_exits_0():
    result = leakage(X_EDUCATION_SPEC)
    assert result.exit_code == 0, result.output
    for column in ("Tags", "Lead Quality"):
        assert "excluded" in row(result.output, column) and "LEAKS" in row(result.output, column)
    assert "no feature reaches ROC-AUC 0.95 on its own" in result.output


def test_the_shipped_demo_spec_reports_the_sales_rating_and_exits_0(demo_crm_dir):
    result = leakage(DEMO_SPEC, "--data", str(demo_crm_dir))
    assert result.exit_code == 0, result.output
    rating = row(result.output, "sales_rating")
    assert "excluded" in rating and "LEAKS" in rating
    assert "above the best other feature" in result.output


@needs_x_education
def test_leakage_reads_the_threshold_training_would_use_from_the_config(tmp_path):
    """X Education's best feature stands at about 0.75 alone: a config asking 0.74 flags it, as
    `leadscore train --config` would refuse it; --threshold still overrides the config."""
    strict = tmp_path / "strict.yaml"
    strict.write_text("leakage_auc: 0.74\n")
    flagged = leakage(X_EDUCATION_SPEC, "--config", str(strict))
    assert flagged.exit_code == 3, flagged.output
    assert "ROC-AUC 0.74 or more" in flagged.output
    assert leakage(X_EDUCATION_SPEC, "--config", str(strict), "--threshold", "0.95").exit_code == 0
    broken = tmp_path / "broken.yaml"
    broken.write_text("leakage: 0.7\n")
    refused = leakage(X_EDUCATION_SPEC, "--config", str(broken))
    assert refused.exit_code == 1 and "key `leakage` is not a config key" in refused.output
