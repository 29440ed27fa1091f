"""How much data, clearly: too few won or lost leads refuse with the counts and what is missing,
nothing registered; a small CRM trains the logistic model only and says why; the usual demo data
trains every candidate; more leads than max_leads train on a random sample of whole leads over
the whole window, the same leads every run, and the summary, card and run say so."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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


@pytest.fixture(scope="module")
def small_examples(small_demo_crm):
    from features.examples import build_examples
    from features.load import load_clean
    from features.spec import load_spec

    spec = load_spec(DEMO_SPEC)
    _, tables, _ = load_clean(spec, small_demo_crm)
    return build_examples(spec, tables)


def test_above_max_leads_training_keeps_a_random_sample_of_whole_leads_over_the_window(small_examples):
    from training.minimum_data import AUTO_MAX_LEADS, LeadSample, lead_sample, max_leads

    examples = small_examples
    leads = len(np.unique(examples.lead_of))
    same, none = lead_sample(examples, leads)
    assert same is examples and none is None  # at the limit: every lead, nothing drawn
    kept, sample = lead_sample(examples, 1_000)
    assert (sample.kept, sample.of) == (1_000, leads)
    assert f"a random 1,000 of the {leads:,} leads with an outcome" in sample.words()
    assert "(max_leads: 1,000 in the training config; null trains on every lead)" in sample.words()
    assert "(max_leads: auto in the training config, 60,000 on one machine;" in LeadSample(60_000, 70_000, "auto").words()
    for every in (None, "auto"):  # null, and auto on one machine (60,000) on 2,000 leads: every lead
        assert lead_sample(examples, every)[0] is examples and lead_sample(examples, every)[1] is None
    ids = kept.leads["lead_id"].to_numpy()
    assert len(np.unique(ids)) == 1_000
    whole = examples.leads["lead_id"].to_numpy()
    for lead_id in np.unique(ids)[:50]:  # a kept lead has all its snapshots, at the same ages
        assert list(kept.age_days[ids == lead_id]) == list(examples.age_days[whole == lead_id])
    again, _ = lead_sample(examples, 1_000)
    assert list(again.leads["lead_id"]) == list(ids)  # the same leads every run
    # Drawn over the whole window, not the oldest or newest leads; the won rate not tilted.
    order_kept, order_all = np.sort(kept.order), np.sort(examples.order)
    assert order_kept[0] <= np.quantile(order_all, 0.02) and order_kept[-1] >= np.quantile(order_all, 0.98)
    won_rate = lambda e: e.label[e.is_evaluated].mean()  # noqa: E731
    assert abs(won_rate(kept) - won_rate(examples)) < 0.04
    assert kept.counts == examples.counts and kept.excluded == examples.excluded  # the export's, in the summary
    assert kept.lead_share == 1_000 / leads and examples.lead_share == 1.0
    assert kept.lines()[0].startswith(f"leads: {leads:,} with an outcome in the export (a sample of them is trained on)")
    assert max_leads("auto") == AUTO_MAX_LEADS and max_leads(None) is None and max_leads(5_000) == 5_000


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), share=st.floats(0.55, 0.95))
def test_a_lead_kept_from_an_export_is_kept_from_any_smaller_export_holding_it(small_examples, seed, share):
    """The draw is the lead's own (a hash of its id): a later export that lost some leads keeps
    the same sample minus them, so a retrained model learns from the same leads where it can."""
    from training.minimum_data import lead_sample

    examples = small_examples
    lead = examples.lead_of
    leads = np.unique(lead)
    smaller_leads = np.random.default_rng(seed).choice(leads, int(len(leads) * share), replace=False)
    smaller = examples.of_leads(np.isin(lead, smaller_leads))
    kept, _ = lead_sample(examples, 1_000)
    kept_smaller, _ = lead_sample(smaller, 1_000)
    in_smaller = set(kept.leads["lead_id"]) & set(smaller.leads["lead_id"])
    assert in_smaller <= set(kept_smaller.leads["lead_id"])


def test_train_on_more_leads_than_max_leads_trains_on_the_sample_and_says_so(workspace):
    import yaml

    from training.config import ConfigError, load_config

    tmp, config = workspace
    sampled = tmp / "sampled.yaml"
    for too_few in (1_000, 9_999):  # a sample that small would make the gates measure its noise
        sampled.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "max_leads": too_few}))
        with pytest.raises(ConfigError, match=f"key `max_leads`: {too_few} is not a number of leads of at least 10,000"):
            load_config(sampled)
    data = small_crm(tmp / "crm", 13_000, seed=5)
    sampled.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "max_leads": 10_000}))
    result = runner.invoke(app, ["train", "--spec", str(DEMO_SPEC), "--data", str(data), "--config", str(sampled)])
    assert result.exit_code in (0, 4), result.output
    said = " ".join(result.output.split())
    found = re.search(r"sample: a random 10,000 of the ([\d,]+) leads with an outcome", said)
    assert found and int(found[1].replace(",", "")) > 10_000, said
    everyone = int(found[1].replace(",", ""))
    assert re.search(r"; it holds [\d,]+ won and [\d,]+ lost leads", said)  # the sample's own counts
    assert f"leads: {everyone:,} with an outcome in the export (a sample of them is trained on)" in said
    assert "snapshots in the export:" in said and "wins in the export:" in said
    run = registry().mlflow.search_runs(experiment_names=["leadscore"]).iloc[0]
    assert run["tags.sampled_leads"] == "10000" and run["tags.leads_with_outcome"] == str(everyone)
    assert run["params.max_leads"] == "10000"
    assert "Trained on a random 10,000 of the" in run["tags.mlflow.note.content"]  # the model card
    trained_on = re.search(r"holdout: the ([\d,]+) most recent leads", said)
    training = re.search(r"examples of ([\d,]+) leads", said)
    assert int(training[1].replace(",", "")) + int(trained_on[1].replace(",", "")) == 10_000
    from training.holdout import HoldoutPredictions

    stored = HoldoutPredictions.download(registry().mlflow, run["run_id"], "the sampled version")
    assert stored.lead_share == 10_000 / everyone  # `leadscore stages` plans per week with it

    replanned = runner.invoke(app, ["stages", "--config", str(sampled), "--promote", "never"])
    assert replanned.exit_code == 0, replanned.output
    listing = runner.invoke(app, ["models"])  # the re-planned version is the same model: the same sample
    listed = " ".join(listing.output.split())
    for version in (1, 2):
        assert f"v{version}: trained on a random 10,000 of the {everyone:,} leads with an outcome" in listed, listed


def test_a_sample_short_of_won_leads_the_export_has_is_refused_with_raise_max_leads(small_examples):
    """An export with enough won leads, but so few that a sample of them falls below the minimum:
    the refusal says to raise max_leads, not to export more history."""
    from training.minimum_data import NotEnoughData, training_plan

    examples = small_examples
    lead, won = examples.lead_of, examples.label.astype(bool)
    won_leads = np.unique(lead[won])
    rare = examples.of_leads(~np.isin(lead, won_leads[42:]))  # 42 won leads left
    kept, sample, plan = training_plan(rare, None)
    assert kept is rare and sample is None and plan.counts.won == 42  # every lead: enough
    with pytest.raises(NotEnoughData) as refused:
        training_plan(rare, 1_000)
    message = str(refused.value)
    assert re.search(r"a random 1,000 of the [\d,]+ leads with an outcome, .* hold (\d+) won and", message), message
    assert "(the export has 42 won and" in message
    assert message.endswith("raise max_leads in the training config, or set it to null to train on every lead")
    assert "Add older closed deals" not in message
