"""Minimum data, clearly: too few won or lost leads refuse with the counts and what is missing,
nothing registered; a small CRM trains the logistic model only and says why; the usual demo data
trains every candidate."""

from __future__ import annotations

import re

import numpy as np
import pytest
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import DEMO_SPEC, X_EDUCATION, scratch_workspace
from training.minimum_data import ALL_CANDIDATES_FROM_LEADS, data_plan, label_counts

runner = CliRunner()


@pytest.fixture
def workspace(tmp_path, monkeypatch, empty_mlflow_db):
    return tmp_path, scratch_workspace(tmp_path, monkeypatch, empty_mlflow_db)


def small_crm(folder, leads: int, seed: int = 3):
    from leadscore.jobs.generate import run_generate

    return run_generate(folder, leads, seed=seed, show_progress=False, print_summary=False).out


def registry():
    from leadscore.settings import get_settings
    from training.registry import Registry

    return Registry.from_settings(get_settings())


def test_the_rule_on_label_counts_names_what_is_missing():
    refused = data_plan(12, 300, where="segment 'Retail'")
    assert refused.refused and refused.missing == "28 more won deals"
    assert "12 won and 300 lost leads" in refused.refusal() and "segment 'Retail'" in refused.refusal()
    both = data_plan(39, 1)
    assert both.missing == "1 more won deal and 39 more lost deals"
    small = data_plan(40, 40)
    assert not small.refused and small.candidates == ("logistic",) and "80 leads" in small.reason
    assert data_plan(40, ALL_CANDIDATES_FROM_LEADS - 41).logistic_only
    assert data_plan(40, ALL_CANDIDATES_FROM_LEADS - 40).candidates is None  # 1,000 leads: everything


def test_leads_are_counted_once_whatever_their_snapshots():
    lead = np.array([0, 0, 0, 1, 1, 2])
    label = np.array([1, 1, 1, 0, 0, 0])
    assert label_counts(lead, label).won == 1 and label_counts(lead, label).lost == 2


def test_the_usual_demo_data_and_x_education_train_every_candidate(trained):
    _, _, _, result = trained  # 6,000 demo leads
    assert result.data_plan.candidates is None and result.data_plan.reason == ""
    assert set(result.candidates) == {"lightgbm", "logistic", "blend"}
    # `make demo` generates 20,000 leads (about 16,000 with an outcome, 11% won) and X Education
    # has 9,237 leads, 38.5% converted: far above both limits.
    assert data_plan(1_800, 14_000).candidates is None
    if X_EDUCATION.exists():
        import pandas as pd

        converted = pd.read_csv(X_EDUCATION, usecols=["Converted"])["Converted"]
        plan = data_plan(int(converted.sum()), int((converted == 0).sum()))
        assert plan.candidates is None and plan.counts.leads == 9_237


def test_an_export_with_too_few_won_deals_is_refused_by_validation_with_what_is_missing(workspace):
    tmp, config = workspace
    data = small_crm(tmp / "tiny", 150)  # 14 won deals in the export
    result = runner.invoke(app, ["train", "--spec", str(DEMO_SPEC), "--data", str(data), "--config", str(config)])
    assert result.exit_code == 1, result.output
    assert "found 14 won leads, 40 needed: 26 more" in " ".join(result.output.split())
    assert registry().model_names() == []


def test_too_few_won_leads_to_learn_from_refuse_with_the_counts_and_register_nothing(workspace):
    """The export holds 44 won deals (validation passes), but with outcomes taken as known only
    240 days after a lead's creation, fewer of them are training examples."""
    tmp, config = workspace
    data = small_crm(tmp / "small", 400)
    spec = tmp / "slow_deals.yaml"
    spec.write_text(DEMO_SPEC.read_text().replace("  evaluation_age_days: 30\n",
                                                  "  evaluation_age_days: 30\n  outcome_maturity_days: 240\n"))
    result = runner.invoke(app, ["train", "--spec", str(spec), "--data", str(data), "--config", str(config)])
    assert result.exit_code == 1, result.output
    message = " ".join(result.output.split())
    found = re.search(r"not enough history to train on the training data: (\d+) won and ([\d,]+) lost leads", message)
    assert found, message
    won = int(found[1])
    assert won < 40 and f"missing: {40 - won} more won deal" in message
    assert registry().model_names() == []
    runs = registry().mlflow.search_runs(experiment_names=["leadscore"])
    assert list(runs["status"]) == ["FAILED"]
    assert f"{40 - won} more won deals" in runs["tags.error"].iloc[0]


def test_a_small_crm_trains_the_logistic_model_only_and_says_why(workspace):
    tmp, config = workspace
    data = small_crm(tmp / "small", 900)  # 106 won, 617 lost
    result = runner.invoke(app, ["train", "--spec", str(DEMO_SPEC), "--data", str(data), "--config", str(config),
                                 "--tune", "3"])
    assert result.exit_code in (0, 4), result.output  # registered (champion, or challenger if a gate fails)
    assert "logistic model only: 723 leads with an outcome" in " ".join(result.output.split())
    summary = " ".join(result.output.split())
    assert "tuning: not done (--tune 3): it tunes LightGBM, and with this little data only the logistic model" in summary
    assert "logistic, the baseline (chosen)" in summary and "x LightGBM" not in summary  # one column: logistic
    version = registry().model_names()
    assert version == ["leadscore-demo-crm"]
    runs = registry().mlflow.search_runs(experiment_names=["leadscore"])
    run = runs.iloc[0]
    assert run["tags.candidates"] == "logistic" and "fewer than 1,000" in run["tags.candidates_reason"]
    assert run["params.model"] == "logistic" and "metrics.lightgbm_roc_auc" not in runs
    assert "logistic model only" in run["tags.mlflow.note.content"]  # the model card


def test_a_time_slice_without_won_or_lost_leads_is_refused_with_the_counts():
    """Enough deals overall can still leave one slice of the time split with one outcome only
    (40 won and 40 lost pass the minimum; the holdout takes the newest fifth)."""
    from features.errors import DataError
    from training.trainer import _check_classes

    plan = data_plan(45, 41)
    with pytest.raises(DataError) as refused:
        _check_classes(np.ones(12), "validation", plan)
    assert str(refused.value).startswith(
        "the validation slice (the most recent training leads) has no lost lead: 12 examples, all won, while the "
        "history has 45 won and 41 lost leads; each slice of the time split needs both")
    _check_classes(np.array([0, 1, 0]), "holdout", plan)  # both: no refusal
