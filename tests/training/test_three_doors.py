"""One model, three doors, identical answers: the same 200 leads, with their activities and
one as-of moment, scored by `leadscore serve` (POST /score), by the registered MLflow model
(`mlflow.pyfunc.load_model("models:/leadscore-<spec>@champion")`) and by `leadscore score`
get the same probabilities and stages."""

from __future__ import annotations

import copy
import shutil

import pandas as pd
import pytest

from tests.conftest import DEMO_SPEC, FAST_CONFIG
from tests.serving.conftest import api_leads, running_service

AS_OF = "2026-06-01T00:00:00Z"
LEADS = 200


@pytest.fixture
def workspace(tmp_path, monkeypatch, empty_mlflow_db):
    """A champion of demo-crm trained and registered by `leadscore train` in a scratch registry."""
    import yaml

    from leadscore.settings import get_settings

    (tmp_path / "models").mkdir()
    shutil.copy(empty_mlflow_db, tmp_path / "models" / "mlflow.db")
    monkeypatch.setenv("LEADSCORE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    config = tmp_path / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST_CONFIG))
    return tmp_path, config, get_settings


def batch_files(leads: list[dict], folder) -> tuple:
    """The same leads as a leads file and an activities file, as `leadscore score` reads them."""
    table = pd.DataFrame([{k: v for k, v in lead.items() if k != "activities"} for lead in leads])
    table["created_at"] = pd.to_datetime(table["created_at"])
    acts = pd.DataFrame([{"lead_id": lead["lead_id"], **a} for lead in leads for a in lead["activities"]])
    acts["occurred_at"] = pd.to_datetime(acts["occurred_at"])
    table.to_parquet(folder / "leads.parquet", index=False)
    acts.to_parquet(folder / "activities.parquet", index=False)
    return folder / "leads.parquet", folder / "activities.parquet"


def test_serve_mlflow_model_and_batch_give_identical_answers(workspace, demo_crm_dir):
    tmp, config, get_settings = workspace
    from leadscore.jobs.score import run_score
    from leadscore.jobs.train import run_train
    from mlflow.types.schema import Array, DataType

    from training.registry import Registry

    run_train(DEMO_SPEC, config, data=demo_crm_dir, show_progress=False)
    settings = get_settings()
    champion_bundle = settings.champion_bundle_dir("demo-crm")  # what `leadscore serve` serves
    assert (champion_bundle / "bundle.json").is_file()
    leads = api_leads(demo_crm_dir, AS_OF, LEADS, last=None, values=True)
    assert len(leads) == LEADS and sum(bool(lead["activities"]) for lead in leads) > LEADS // 2

    # door 1: leadscore serve
    with running_service(champion_bundle, f"sqlite:///{tmp / 'serve.db'}") as client:
        response = client.post("/score", json={"leads": copy.deepcopy(leads), "as_of": AS_OF})
    assert response.status_code == 200, response.text
    served = pd.DataFrame(response.json()["scores"])

    # door 2: the registered MLflow model, loaded by its alias
    mlflow = Registry.from_settings(settings).mlflow
    model = mlflow.pyfunc.load_model("models:/leadscore-demo-crm@champion")
    inputs = model.metadata.get_input_schema()
    assert {"activities", "as_of"} <= set(inputs.input_names())
    types = {c.name: c.type for c in inputs.inputs}
    assert types["employee_count"] == DataType.double and isinstance(types["activities"], Array)
    frame = pd.DataFrame(copy.deepcopy(leads)).assign(as_of=AS_OF)
    from_mlflow = model.predict(frame)
    assert list(from_mlflow.columns[:4]) == ["lead_id", "probability", "score", "stage"]
    bare = model.predict(frame.drop(columns=["activities"]), params={"reasons": 0})
    assert (bare["probability"] != from_mlflow["probability"]).sum() > LEADS // 2  # activities are read
    with pytest.raises(Exception, match="as_of"):  # refused as /score refuses it, naming the field
        model.predict(frame.head(1).assign(as_of="31/02/2026"))
    as_params = model.predict(frame.drop(columns=["as_of"]), params={"as_of": AS_OF, "reasons": 0})

    # door 3: leadscore score
    leads_file, activities_file = batch_files(leads, tmp)
    run_score(DEMO_SPEC, leads_file, tmp / "scores.csv", bundle=champion_bundle, as_of=AS_OF,
              activities=activities_file, settings=settings, show_progress=False, log=False)
    batch = pd.read_csv(tmp / "scores.csv", dtype={"lead_id": str})

    ids = [lead["lead_id"] for lead in leads]
    for door in (served, from_mlflow, as_params, batch):
        assert door["lead_id"].astype(str).tolist() == ids
    assert served["probability"].tolist() == from_mlflow["probability"].tolist() == batch["probability"].tolist() \
        == as_params["probability"].tolist()
    assert served["stage"].tolist() == from_mlflow["stage"].tolist() == batch["stage"].tolist()
    assert served["score"].tolist() == from_mlflow["score"].tolist() == batch["score"].tolist()
    assert served["reasons_for"].tolist() == from_mlflow["reasons_for"].map(list).tolist()
    assert served["stage"].nunique() > 1  # more than one stage: the thresholds are exercised too
