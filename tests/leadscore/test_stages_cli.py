"""`leadscore stages`: a version's stages re-planned from the holdout predictions stored with it,
without the data or a retrain, and registered as a new version with the same model files."""

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import DEMO_SPEC, FAST_CONFIG

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_v1(demo_crm_dir, tmp_path_factory):
    """A workspace where `leadscore train` registered version 1 of leadscore-demo-crm (LightGBM)."""
    tmp = tmp_path_factory.mktemp("stages_cli")
    patch = pytest.MonkeyPatch()
    patch.setenv("LEADSCORE_MODELS_DIR", str(tmp / "models"))
    patch.setenv("LEADSCORE_DATA_DIR", str(tmp / "data"))
    patch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = write_config(tmp / "train.yaml")
    result = runner.invoke(app, ["train", "--spec", str(DEMO_SPEC), "--data", str(demo_crm_dir), "--config", str(config)])
    assert result.exit_code == 0, result.output
    yield tmp
    patch.undo()


def write_config(path, stages=None, **promotion):
    config = {**FAST_CONFIG, "candidates": ["lightgbm"], "promotion": {**FAST_CONFIG["promotion"], **promotion}}
    if stages:
        config["stages"] = {"min_stage_leads": 10, **stages}
    path.write_text(yaml.safe_dump(config))
    return path


def registry():
    from leadscore.settings import get_settings
    from training.registry import Registry

    return Registry.from_settings(get_settings(), "leadscore-demo-crm")


def stages(*args):
    return runner.invoke(app, ["stages", "--spec", str(DEMO_SPEC), *args])


@pytest.fixture
def no_training_no_data(monkeypatch):
    def refuse(*_, **__):
        raise AssertionError("re-planning stages must not train or read the data")

    monkeypatch.setattr("training.trainer.train_model", refuse)
    monkeypatch.setattr("features.load.load_clean", refuse)


def test_new_stages_from_the_stored_holdout_become_a_new_version_with_the_same_booster(trained_v1, no_training_no_data):
    capacity = write_config(trained_v1 / "capacity.yaml", {"sql": {"rule": "capacity_share", "capacity_share": 0.1},
                                                           "mql": {"rule": "capacity_share", "capacity_share": 0.4}})
    result = stages("--config", str(capacity))
    assert result.exit_code == 0, result.output
    assert "leadscore-demo-crm version 2: the model of version 1 with its stages re-planned" in result.output
    assert "promoted: every gate passed; replaces champion v1" in result.output

    reg = registry()
    assert reg.champion().version == 2
    old, new = reg.bundle_path(1), reg.bundle_path(2)
    for name in ("booster.txt", "transform.json", "profile.json", "spec.yaml"):
        assert (old / name).read_bytes() == (new / name).read_bytes(), name
    old_stages = json.loads((old / "bundle.json").read_text())["stages"]
    new_stages = json.loads((new / "bundle.json").read_text())["stages"]
    assert old_stages["sql"]["rule"] == "at least 50% of SQLs buy"
    assert new_stages["sql"]["rule"] == "sales can take the top 10% of leads"
    assert new_stages["mql"]["rule"] == "marketing can nurture the top 40% of leads"
    assert new_stages["sql"]["share_of_leads"] <= 0.1 < old_stages["mql"]["share_of_leads"]
    assert 0.3 < new_stages["mql"]["share_of_leads"] <= 0.4  # capacity filled, never exceeded
    for stage in new_stages.values():
        assert stage["words"] in result.output

    # the figures published are those of the stored holdout, which the new version keeps too
    from training.holdout import HoldoutPredictions

    holdout = HoldoutPredictions.download(reg.mlflow, reg.version(2).run_id, "v2")
    for stage in new_stages.values():
        inside = holdout.probability >= stage["threshold"]
        assert stage["leads"] == inside.sum()
        assert stage["conversion"] == pytest.approx(holdout.label[inside].mean())
    exported = json.loads((trained_v1 / "models" / "bundles" / "demo-crm" / "champion" / "bundle.json").read_text())
    assert exported["stages"] == new_stages and exported["card"]["stages_from_version"] == 1
    assert reg.version(2).metrics["holdout_roc_auc"] == reg.version(1).metrics["holdout_roc_auc"]

    listing = runner.invoke(app, ["models", "--spec", "demo-crm"])
    assert "v2: stages of v1 re-planned; promoted" in listing.output
    facts = json.loads(runner.invoke(app, ["models", "--spec", "demo-crm", "--format", "json"]).stdout)
    assert [(v["version"], v["aliases"]) for v in facts["versions"]][0] == (2, ["champion"])
    assert facts["versions"][0]["roc_auc"] == round(reg.version(2).metrics["holdout_roc_auc"], 4)
    assert facts["versions"][0]["promotion"].startswith("stages of v1 re-planned; promoted")


def test_a_failed_gate_registers_the_new_stages_as_challenger_and_says_how_to_promote(trained_v1, no_training_no_data):
    strict = write_config(trained_v1 / "strict.yaml", {"sql": {"min_precision": 0.3}}, max_ece=0.001)
    before = registry().champion().version
    result = stages("--config", str(strict), "--version", "1")
    assert result.exit_code == 4, result.output
    version = max(v.version for v in registry().versions())
    assert "FAIL  calibrated" in result.output
    assert f"To make it the champion: leadscore promote {version} --spec demo-crm" in result.output
    assert registry().champion().version == before and registry().challenger().version == version


def test_a_policy_that_cannot_be_met_registers_nothing_and_names_the_key(trained_v1, no_training_no_data):
    count = len(registry().versions())
    # every one of the 100 best-scored holdout leads bought: not at a 15% won rate
    impossible = write_config(trained_v1 / "impossible.yaml", {"sql": {"min_precision": 1.0}, "min_stage_leads": 100})
    result = stages("--config", str(impossible))
    assert result.exit_code == 1
    assert "stages.sql.min_precision: 1 cannot be reached" in result.output
    assert "set stages.sql.min_precision to" in result.output
    assert len(registry().versions()) == count


def test_a_version_without_stored_predictions_says_to_train_again(trained_v1):
    from leadscore.settings import get_settings
    from training.holdout import HOLDOUT_ARTIFACT

    run = registry().version(1).run_id
    stored = next(get_settings().artifact_root.rglob(f"{run}/artifacts/{HOLDOUT_ARTIFACT}"))
    stored.unlink()
    result = stages("--config", str(trained_v1 / "capacity.yaml"), "--version", "1")
    assert result.exit_code == 1
    assert "leadscore-demo-crm version 1 has no stored holdout predictions" in result.output
    assert np.isfinite(registry().version(2).metrics["holdout_roc_auc"])  # the others are untouched
