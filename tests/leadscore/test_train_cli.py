"""`leadscore train` end to end: validation first, the promotion gates, a champion and a
challenger per spec, rollback, and nothing left registered when training fails."""

import re
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import DEMO_SPEC, FAST_CONFIG, ROOT, X_EDUCATION, leaky_copy, scratch_workspace

runner = CliRunner()


@pytest.fixture
def workspace(tmp_path, monkeypatch, empty_mlflow_db):
    return tmp_path, scratch_workspace(tmp_path, monkeypatch, empty_mlflow_db)


def train(*args: str):
    return runner.invoke(app, ["train", *args])


def gate_line(output: str, title: str) -> str:
    return next(line.strip() for line in output.splitlines() if f"{title}:" in line and
                line.strip().startswith(("pass", "FAIL")))


def write_config(path, stages=None, **promotion):
    import yaml

    config = {**FAST_CONFIG, "promotion": {**FAST_CONFIG["promotion"], **promotion}}
    if stages:
        config["stages"] = stages
    path.write_text(yaml.safe_dump(config))
    return path


def version_tags(model: str, version: int) -> dict:
    from leadscore.settings import get_settings
    from training.registry import Registry

    return Registry.from_settings(get_settings(), model).version(version).tags


def test_champion_then_a_worse_challenger_under_pr_auc_is_not_promoted_then_rollback(workspace, demo_crm_dir):
    tmp, _ = workspace
    import yaml

    # Configured settings that overfit (a high learning rate, deep trees on few leads each), so
    # the sampled trial is the better one and the model must be trained with its settings.
    config = tmp / "overfit.yaml"
    config.write_text(yaml.safe_dump({**FAST_CONFIG, "model": {**FAST_CONFIG["model"], "learning_rate": 0.5,
                                                                "num_leaves": 63, "min_child_samples": 5}}))
    first = train("--spec", str(DEMO_SPEC), "--data", str(demo_crm_dir), "--config", str(config), "--tune", "2")
    assert first.exit_code == 0, first.output
    assert "promoted: first champion" in first.output and "tuning: 2 trials" in first.output
    assert "SQL: probability" in first.output and "MQL: probability" in first.output
    # fit and intent with their holdout figures, and how the spec's ideal customer converted
    assert "fit (holdout): ROC-AUC " in first.output and "intent (holdout): ROC-AUC " in first.output
    assert re.search(r"ideal customer: [\d,]+ of [\d,]+ leads match; \d+% of them bought, against \d+% of the other",
                     first.output.replace("\n", " ")), first.output
    for title in ("no leak", "better than chance", "not below the baseline", "calibrated", "not below the champion"):
        assert gate_line(first.output, title).startswith("pass")
    assert (tmp / "models" / "bundles" / "demo-crm" / "champion" / "bundle.json").exists()
    from leadscore.settings import get_settings
    from training.registry import Registry

    mlflow = Registry.from_settings(get_settings()).mlflow
    runs = mlflow.search_runs(experiment_names=["leadscore"])
    trials = runs[runs["tags.mlflow.runName"].str.startswith("trial-")]
    assert len(trials) == 2 and trials["tags.mlflow.parentRunId"].notna().all()
    assert set(runs["metrics.holdout_roc_auc"].dropna()) and "params.lgbm_num_leaves" in runs
    main = runs[runs["tags.leadscore.kind"] == "train"].iloc[0]
    # The run logs each trial, and the model was trained with the settings of the best on
    # validation: the sampled one, not those configured.
    assert trials["params.learning_rate"].nunique() == 2
    best = trials.loc[trials["metrics.validation_roc_auc"].idxmax()]
    assert best["tags.mlflow.runName"] == "trial-2", trials[["tags.mlflow.runName", "metrics.validation_roc_auc"]]
    assert float(main["params.lgbm_learning_rate"]) == float(best["params.learning_rate"])
    assert int(main["params.lgbm_num_leaves"]) == int(best["params.num_leaves"])
    assert main["tags.gate.chance"] == "pass" and main["metrics.holdout_roc_auc_ci_low"] > 0.5

    # the same leads, but the CRM recorded 70% of the older outcomes at random
    from leadscore.jobs.generate import run_generate

    worse = run_generate(tmp / "worse", 6000, seed=11, careless_history=0.7, show_progress=False,
                         print_summary=False).out
    pr_auc = write_config(tmp / "pr_auc.yaml", metric="pr_auc")  # the champion is scored by it too
    second = train("--spec", str(DEMO_SPEC), "--data", str(worse), "--config", str(pr_auc))
    assert second.exit_code == 4, second.output  # registered, not promoted
    assert "not promoted" in second.output and "registered as challenger" in second.output
    champion = gate_line(second.output, "not below the champion")
    assert champion.startswith("FAIL") and "pr_auc" in champion and "champion v1's" in champion

    listing = runner.invoke(app, ["models"])  # the only model: no --spec needed
    assert listing.exit_code == 0 and "leadscore-demo-crm" in listing.output
    assert "champion" in listing.output and "challenger" in listing.output

    forced = runner.invoke(app, ["promote", "2", "--spec", str(DEMO_SPEC), "--by", "bob"])
    assert forced.exit_code == 0 and "version 2 is now the champion" in forced.output, forced.output
    assert version_tags("leadscore-demo-crm", 2)["promoted_by"] == "bob"
    back = runner.invoke(app, ["rollback", "--spec", "demo-crm"])
    assert back.exit_code == 0 and "is now version 1" in back.output, back.output


@pytest.fixture
def leaky_export(tmp_path, small_demo_crm):
    """The small demo CRM (2,000 leads) whose activity log records the signed order form: an `order_form_signed`
    activity two days after the lead was created, for 95% of the leads that were won and 2.5%
    of the others (noise). Its counts are model features equal to the label but for the noise,
    and nothing in the spec says they come after the sale. (A lead column doing the same is
    refused before training: tests/leadscore/test_leakage_cli.py.)"""
    folder = leaky_copy(small_demo_crm, tmp_path / "leaky")
    return DEMO_SPEC, folder


CAPACITY_STAGES = {"sql": {"rule": "capacity_share", "capacity_share": 0.1},
                   "mql": {"rule": "capacity_share", "capacity_share": 0.3}, "min_stage_leads": 10}


def test_a_leaking_feature_blocks_promotion_until_a_person_forces_it(workspace, leaky_export):
    tmp, _ = workspace
    spec, data = leaky_export
    # Stages by sales capacity: a share of leads can always be chosen, whatever the model.
    config = write_config(tmp / "capacity.yaml", stages=CAPACITY_STAGES)
    refused = train("--spec", str(spec), "--data", str(data), "--config", str(config))
    assert refused.exit_code == 4, refused.output
    leak = gate_line(refused.output, "no leak")
    assert leak.startswith("FAIL") and "n_order_form_signed_30d" in leak and "after_contact" in leak
    assert "not promoted: failed no leak" in refused.output
    assert not (tmp / "models" / "bundles" / "demo-crm" / "champion").exists()

    forced = train("--spec", str(spec), "--data", str(data), "--config", str(config), "--promote", "force",
                   "--by", "alice")
    assert forced.exit_code == 0, forced.output
    assert "promoted by hand (--promote force, by alice)" in forced.output and "no leak" in forced.output
    tags = version_tags("leadscore-demo-crm", 2)
    assert tags["promotion_forced"] == "true" and tags["forced_by"] == "alice"
    assert "leakage" in tags["failed_gates"].split(",")
    assert (tmp / "models" / "bundles" / "demo-crm" / "champion" / "bundle.json").exists()


def test_a_model_worse_than_chance_is_not_promoted_and_each_spec_has_its_own_champion(workspace, demo_crm_dir,
                                                                                     small_demo_crm):
    """A CRM that recorded its most recent outcomes backwards (won as lost and lost as won):
    what the model learnt from older deals ranks the recent ones upside down, so it is not
    promoted. Another spec then gets a champion, which serving and scoring with no --spec mean;
    and a model of the first spec becomes that spec's first champion, compared with no other
    spec's champion and leaving it as it was."""
    tmp, _ = workspace
    config = write_config(tmp / "capacity.yaml", stages=CAPACITY_STAGES)
    folder = shutil.copytree(demo_crm_dir, tmp / "backwards")
    outcomes = pd.read_parquet(folder / "outcomes.parquet")
    leads = pd.read_parquet(folder / "leads.parquet").drop_duplicates("lead_id").set_index("lead_id")
    created = outcomes["lead_id"].map(leads["created_at"])
    recent = created > created.quantile(0.75)
    outcomes.loc[recent, "outcome"] = outcomes.loc[recent, "outcome"].map({"won": "lost", "lost": "won"})
    outcomes.to_parquet(folder / "outcomes.parquet", index=False)
    result = train("--spec", str(DEMO_SPEC), "--data", str(folder), "--config", str(config))
    assert result.exit_code == 4, result.output
    chance = gate_line(result.output, "better than chance")
    assert chance.startswith("FAIL") and "not clearly better than ranking leads at random" in chance
    decision = next(line for line in result.output.splitlines() if line.startswith("Champion decision"))
    assert "not promoted" in decision
    assert not (tmp / "models" / "bundles" / "demo-crm" / "champion").exists()

    # Another spec gets a champion: serving and scoring with no --spec mean it, the only model
    # with a champion (named after the one without); listing the models still asks which.
    other_spec = tmp / "other_crm.yaml"
    other_spec.write_text(DEMO_SPEC.read_text().replace("name: demo-crm", "name: other-crm"))
    other = train("--spec", str(other_spec), "--data", str(demo_crm_dir), "--config", str(config))
    assert other.exit_code == 0, other.output
    assert "leadscore-other-crm version 1" in other.output and "promoted: first champion" in other.output
    from features.bundle import ModelBundle
    from leadscore.jobs.serve import resolve_bundle
    from leadscore.settings import get_settings
    from training.registry import Registry

    assert resolve_bundle(get_settings()).parts[-2:] == ("other-crm", "champion")
    ambiguous = runner.invoke(app, ["models"])
    assert ambiguous.exit_code == 1
    assert "leadscore-demo-crm" in ambiguous.output and "leadscore-other-crm" in ambiguous.output
    assert "--spec" in ambiguous.output
    # The champion's card keeps the gates it passed (the model page shows them).
    card = ModelBundle.load(resolve_bundle(get_settings())).card
    assert [g["passed"] for g in card["gates"]] and all(g["passed"] for g in card["gates"])
    assert any(g["detail"].startswith("holdout ROC-AUC") for g in card["gates"])

    # The first spec's next model is its own first champion: before, a model was compared with,
    # and replaced, another spec's champion.
    champion_b = (tmp / "models" / "bundles" / "other-crm" / "champion" / "bundle.json").read_text()
    mine = train("--spec", str(DEMO_SPEC), "--data", str(small_demo_crm), "--config", str(config))
    assert mine.exit_code == 0, mine.output
    assert "leadscore-demo-crm version 2" in mine.output and "promoted: first champion" in mine.output
    assert gate_line(mine.output, "not below the champion").endswith("no champion yet for this spec")
    assert (tmp / "models" / "bundles" / "other-crm" / "champion" / "bundle.json").read_text() == champion_b
    assert (tmp / "models" / "bundles" / "demo-crm" / "champion" / "bundle.json").exists()
    assert Registry.from_settings(get_settings(), "leadscore-other-crm").champion().version == 1
    assert version_tags("leadscore-demo-crm", 2)["promotion"].startswith("promoted: first champion")

    listed = runner.invoke(app, ["models", "--spec", "leadscore-demo-crm"])
    assert listed.exit_code == 0 and "champion" in listed.output
    assert "leadscore-demo-crm versions" in listed.output and "other-crm" not in listed.output
    unknown = runner.invoke(app, ["models", "--spec", "nope"])
    assert unknown.exit_code == 1 and "leadscore-other-crm" in unknown.output
    no_rollback = runner.invoke(app, ["rollback", "--spec", str(other_spec)])
    assert no_rollback.exit_code == 1 and "only champion there has been" in no_rollback.output


def test_nothing_stays_registered_when_training_fails_after_registering(workspace, small_demo_crm, monkeypatch):
    tmp, config = workspace
    import training.registry

    def broken_export(*args, **kwargs):  # the last step of a promotion
        raise OSError("disk full")

    monkeypatch.setattr(training.registry, "export_bundle", broken_export)
    result = train("--spec", str(DEMO_SPEC), "--data", str(small_demo_crm), "--config", str(config))
    assert result.exit_code != 0 and "disk full" in str(result.exception)
    listing = runner.invoke(app, ["models"])
    assert listing.exit_code == 1 and "no registered leadscore model yet" in listing.output
    assert not (tmp / "models" / "bundles").exists()


def test_invalid_data_trains_and_registers_nothing(workspace, demo_crm_dir):
    tmp, config = workspace
    broken = shutil.copytree(demo_crm_dir, tmp / "broken")
    outcomes = pd.read_parquet(broken / "outcomes.parquet")
    outcomes.loc[:5, "outcome"] = "maybe"
    outcomes.to_parquet(broken / "outcomes.parquet", index=False)
    result = runner.invoke(app, ["train", "--spec", str(DEMO_SPEC), "--data", str(broken), "--config", str(config)])
    assert result.exit_code == 1
    assert "outcome" in result.output and "maybe" in result.output
    assert not (tmp / "models" / "mlflow.db").exists() or "no registered" in runner.invoke(app, ["models"]).output
    assert not (tmp / "models" / "bundles").exists()


@pytest.mark.skipif(not X_EDUCATION.exists(), reason=f"X Education export not found at {X_EDUCATION}")
def test_leakage_flags_the_sales_entered_tags_of_x_education():
    result = runner.invoke(app, ["leakage", "--spec", str(ROOT / "data" / "specs" / "x_education.yaml")])
    assert result.exit_code == 0, result.output
    tags = next(line for line in result.output.splitlines() if line.startswith("│ Tags"))
    assert "LEAKS" in tags
    assert "no feature reaches ROC-AUC 0.95 on its own" in result.output
