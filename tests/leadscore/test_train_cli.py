"""`leadscore train` end to end: validation first, champion and challenger, rollback."""

import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import DEMO_SPEC, FAST_CONFIG, ROOT, X_EDUCATION

runner = CliRunner()


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("LEADSCORE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = tmp_path / "fast.yaml"
    import yaml

    config.write_text(yaml.safe_dump(FAST_CONFIG))
    return tmp_path, config


def test_champion_then_a_worse_challenger_is_not_promoted_then_rollback(workspace, demo_crm_dir):
    tmp, config = workspace
    first = runner.invoke(app, ["train", "--spec", str(DEMO_SPEC), "--data", str(demo_crm_dir), "--config", str(config),
                                "--tune", "2"])
    assert first.exit_code == 0, first.output
    assert "promoted: first champion" in first.output and "tuning: 2 trials" in first.output
    assert "SQL: probability" in first.output and "MQL: probability" in first.output
    assert (tmp / "models" / "bundles" / "champion" / "bundle.json").exists()
    from leadscore.settings import get_settings
    from training.registry import Registry

    mlflow = Registry.from_settings(get_settings()).mlflow
    runs = mlflow.search_runs(experiment_names=["leadscore"])
    trials = runs[runs["tags.mlflow.runName"].str.startswith("trial-")]
    assert len(trials) == 2 and trials["tags.mlflow.parentRunId"].notna().all()
    assert set(runs["metrics.holdout_roc_auc"].dropna()) and "params.lgbm_num_leaves" in runs

    # the same leads, but the CRM recorded 70% of the older outcomes at random
    from leadscore.jobs.generate import run_generate

    worse = run_generate(tmp / "worse", 6000, seed=11, careless_history=0.7, show_progress=False,
                         print_summary=False).out
    second = runner.invoke(app, ["train", "--spec", str(DEMO_SPEC), "--data", str(worse), "--config", str(config)])
    assert second.exit_code == 0, second.output
    assert "not promoted" in second.output and "champion v1" in second.output

    listing = runner.invoke(app, ["models"])
    assert listing.exit_code == 0 and "champion" in listing.output

    forced = runner.invoke(app, ["promote", "2"])
    assert forced.exit_code == 0 and "version 2 is now the champion" in forced.output
    back = runner.invoke(app, ["rollback"])
    assert back.exit_code == 0 and "is now version 1" in back.output, back.output


def test_invalid_data_trains_and_registers_nothing(workspace, demo_crm_dir):
    tmp, config = workspace
    broken = shutil.copytree(demo_crm_dir, tmp / "broken")
    outcomes = pd.read_parquet(broken / "outcomes.parquet")
    outcomes.loc[:5, "outcome"] = "maybe"
    outcomes.to_parquet(broken / "outcomes.parquet", index=False)
    result = runner.invoke(app, ["train", "--spec", str(DEMO_SPEC), "--data", str(broken), "--config", str(config)])
    assert result.exit_code == 1
    assert "outcome" in result.output and "maybe" in result.output
    assert not (tmp / "models" / "mlflow.db").exists() or "no registered versions" in runner.invoke(app, ["models"]).output
    assert not (tmp / "models" / "bundles").exists()


@pytest.mark.skipif(not X_EDUCATION.exists(), reason=f"X Education export not found at {X_EDUCATION}")
def test_leakage_flags_the_sales_entered_tags_of_x_education():
    result = runner.invoke(app, ["leakage", "--spec", str(ROOT / "data" / "specs" / "x_education.yaml")])
    assert result.exit_code == 0, result.output
    tags = next(line for line in result.output.splitlines() if line.startswith("│ Tags"))
    assert "LEAKS" in tags
    assert "no feature reaches ROC-AUC 0.95 on its own" in result.output
