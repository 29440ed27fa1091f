"""`leadscore train --with-logged-outcomes`: the loop closed. An export of the oldest 4,000 demo
leads, the newer leads scored in two batches with `leadscore score --as-of` (which logs their
records), their outcomes imported, then a retrain that learns from them, and says so in the new
version's card; and a clear refusal when there is nothing to learn from."""

from __future__ import annotations


import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import DEMO_SPEC, ROOT, scratch_workspace

runner = CliRunner()


@pytest.fixture
def workspace(tmp_path, monkeypatch, empty_mlflow_db):
    config = scratch_workspace(tmp_path, monkeypatch, empty_mlflow_db)
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", f"sqlite:///{tmp_path / 'loop.db'}")
    monkeypatch.setenv("COLUMNS", "250")
    # The demo spec with deals taken to be closed 90 days after a lead was created (a demo deal
    # closes within 90): the export's own examples are then the same with or without logged
    # outcomes, and what training gains is exactly what the logged leads bring.
    spec = yaml.safe_load(DEMO_SPEC.read_text())
    spec["features"]["outcome_maturity_days"] = 90
    spec_path = tmp_path / "demo_crm.yaml"
    spec_path.write_text(yaml.safe_dump(spec))
    return tmp_path, config, spec_path


def card_of(version: int) -> dict:
    from leadscore.settings import get_settings
    from training.registry import Registry

    return Registry.from_settings(get_settings(), "leadscore-demo-crm").load_bundle(version).card


def test_retraining_learns_from_the_leads_scored_and_closed_since_the_export(workspace, demo_crm_dir, bundle_dir):
    from features.examples import build_examples
    from features.load import load_clean
    from features.spec import load_spec
    from leadscore.jobs.train import NOT_PROMOTED_EXIT

    tmp, config, spec_path = workspace
    leads = pd.read_parquet(demo_crm_dir / "leads.parquet")
    acts = pd.read_parquet(demo_crm_dir / "activities.parquet")
    outs = pd.read_parquet(demo_crm_dir / "outcomes.parquet")
    by_time = leads.drop_duplicates("lead_id").sort_values("created_at")
    old, new = by_time.iloc[:4000], by_time.iloc[4000:]
    end = old["created_at"].max()
    export = tmp / "export"
    export.mkdir()
    leads[leads["lead_id"].isin(old["lead_id"])].to_parquet(export / "leads.parquet", index=False)
    acts[acts["lead_id"].isin(old["lead_id"]) & (acts["occurred_at"] <= end)].to_parquet(export / "activities.parquet")
    outs[outs["lead_id"].isin(old["lead_id"]) & (outs["closed_at"] <= end)].to_parquet(export / "outcomes.parquet")

    never = new.iloc[::100]  # closed, but never scored
    batches = [b for b in (new[~new["lead_id"].isin(never["lead_id"])].iloc[:1000],
                           new[~new["lead_id"].isin(never["lead_id"])].iloc[1000:])]
    again = old.iloc[-30:]  # in the export, scored too
    for k, batch in enumerate([*batches, again]):
        batch.drop(columns="sales_rating").to_csv(tmp / f"batch{k}.csv", index=False)
        as_of = (batch["created_at"].max() + pd.Timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        scored = runner.invoke(app, ["score", "--spec", str(spec_path), str(tmp / f"batch{k}.csv"),
                                     str(tmp / f"scores{k}.csv"), "--bundle", str(bundle_dir), "--activities",
                                     str(demo_crm_dir / "activities.parquet"), "--as-of", as_of, "--no-progress"])
        assert scored.exit_code == 0, scored.output
    closed = outs.drop_duplicates("lead_id", keep="last")
    closed = closed[closed["lead_id"].isin(pd.concat([new["lead_id"], again["lead_id"]]))]
    closed.to_csv(tmp / "closed.csv", index=False)
    imported = runner.invoke(app, ["outcomes", "import", str(tmp / "closed.csv"), "--spec", str(spec_path)])
    assert imported.exit_code == 0, imported.output

    trained = runner.invoke(app, ["train", "--spec", str(spec_path), "--data", str(export), "--config", str(config),
                                  "--with-logged-outcomes"])
    assert trained.exit_code in (0, NOT_PROMOTED_EXIT), trained.output
    logged = card_of(1)["logged_outcomes"]
    scored_new = pd.concat(batches)["lead_id"]
    used = closed["lead_id"].isin(scored_new)
    assert logged["used"] == int(used.sum()) > 1000
    assert logged["won"] == int((closed.loc[used, "outcome"] == "won").sum())
    assert logged["skipped_in_export"] == int(closed["lead_id"].isin(again["lead_id"]).sum()) > 0
    assert logged["skipped_no_record"] == int(closed["lead_id"].isin(never["lead_id"]).sum()) > 0
    assert logged["open"] == len(scored_new) - logged["used"]
    assert logged["in_examples"] + logged["too_recent"] == logged["used"]
    assert logged["snapshots_after_record"] > 0 and logged["database"].endswith("loop.db")
    assert f"logged outcomes: {logged['used']:,} leads" in trained.output

    # training grew by exactly the logged leads' snapshots: the export's own are unchanged
    spec = load_spec(spec_path)
    alone = build_examples(spec, load_clean(spec, export)[1])
    card = card_of(1)
    assert card["examples"]["counts"]["snapshots"] == len(alone) + logged["examples"]
    assert logged["examples"] > 2 * logged["in_examples"]  # several ages per lead, none after its record

    from leadscore.settings import get_settings
    from training.registry import Registry

    runs = Registry.from_settings(get_settings()).mlflow.search_runs(experiment_names=["leadscore"])
    run = runs[runs["tags.leadscore.kind"] == "train"].iloc[0]
    assert run["params.logged_outcomes_used"] == str(logged["used"])
    assert run["params.examples"] == str(len(alone) + logged["examples"])


def test_without_logged_outcomes_the_option_refuses_and_registers_nothing(workspace, demo_crm_dir):
    tmp, config, spec_path = workspace
    result = runner.invoke(app, ["train", "--spec", str(spec_path), "--data", str(demo_crm_dir), "--config",
                                 str(config), "--with-logged-outcomes"])
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert f"no logged outcomes for spec 'demo-crm' in sqlite:///{tmp / 'loop.db'}" in message
    assert "score leads and record their outcomes first" in message and "leave out --with-logged-outcomes" in message
    from leadscore.settings import get_settings
    from training.registry import Registry

    assert Registry.from_settings(get_settings()).model_names() == []

    flat = runner.invoke(app, ["train", "--spec", str(ROOT / "data" / "specs" / "x_education.yaml"),
                               "--with-logged-outcomes"])
    assert flat.exit_code == 1 and "needs leads.created_at" in " ".join(flat.output.split())
