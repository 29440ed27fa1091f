"""The embedded store read without MLflow (training.registry.LocalStoreReader) gives the answers
MLflow gives: the same models, aliases, versions, tags and metrics, on a store MLflow wrote."""

import math
import shutil

import pytest

from training.registry import LocalStoreReader, Registry


def _same(a, b) -> bool:
    """Equal, NaN equal to NaN (a metric MLflow stored as NaN)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def answers(registry: Registry) -> dict:
    """Everything `leadscore models`, `serve` and `score` read from the registry."""
    out = {"names": registry.model_names()}
    for name in ["leadscore-demo-crm", "leadscore-other", "leadscore-empty", "leadscore-prompt", "leadscore-none"]:
        model = registry.for_model(name)
        champion, challenger = model.champion(), model.challenger()
        out[name] = {
            "exists": model._model_exists(),
            "versions": [(v.version, v.run_id, v.created, v.aliases, v.metrics, v.tags) for v in model.versions()],
            "champion": champion and champion.version, "challenger": challenger and challenger.version}
    return out


@pytest.fixture
def store(tmp_path, empty_mlflow_db):
    """A store MLflow wrote: two models with versions, aliases, tags and run metrics (one NaN,
    one logged at several steps), a deleted version, a model with no version, a prompt and a
    model that is not leadscore's."""
    shutil.copy(empty_mlflow_db, tmp_path / "mlflow.db")
    registry = Registry(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts", "leadscore-demo-crm")
    registry._reader = None  # written and read by MLflow
    mlflow, client = registry.mlflow, registry.client
    experiment = registry.experiment_id("test")

    def version(name: str, metrics: dict) -> int:
        with mlflow.start_run(experiment_id=experiment) as run:
            for step, (key, value) in enumerate(metrics.items()):
                mlflow.log_metric(key, value, step=step)
            mlflow.log_metric("holdout_roc_auc", metrics.get("holdout_roc_auc", 0.5) + 0.01, step=99)  # the latest
        return int(client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id).version)

    for name in ("leadscore-demo-crm", "leadscore-other", "leadscore-empty", "not-leadscore"):
        client.create_registered_model(name)
    mlflow.genai.register_prompt(name="leadscore-prompt", template="Score {{lead}}")  # a registered model, tagged
    for v in range(3):
        version("leadscore-demo-crm", {"holdout_roc_auc": 0.7 + v / 100, "holdout_ece": float("nan")})
    version("leadscore-other", {"holdout_pr_auc": 0.4})
    version("not-leadscore", {"holdout_roc_auc": 0.9})
    client.set_registered_model_alias("leadscore-demo-crm", "champion", 1)
    client.set_registered_model_alias("leadscore-demo-crm", "challenger", 3)
    client.set_model_version_tag("leadscore-demo-crm", "1", "promotion", "first model")
    client.set_model_version_tag("leadscore-demo-crm", "3", "model", "blend")
    client.delete_model_version("leadscore-demo-crm", "2")
    client.set_registered_model_alias("leadscore-other", "champion", 1)
    return tmp_path / "mlflow.db"


def test_the_reader_answers_what_mlflow_answers(store):
    uri = f"sqlite:///{store}"
    direct = Registry(uri, store.parent / "artifacts")
    assert isinstance(direct.reader, LocalStoreReader)  # the embedded store is read directly
    through_mlflow = Registry(uri, store.parent / "artifacts")
    through_mlflow._reader = None
    mine, theirs = answers(direct), answers(through_mlflow)
    assert _same(mine, theirs)
    assert mine["names"] == ["leadscore-demo-crm", "leadscore-empty", "leadscore-other"]
    demo = mine["leadscore-demo-crm"]
    assert [v[0] for v in demo["versions"]] == [3, 1] and (demo["champion"], demo["challenger"]) == (1, 3)
    assert demo["versions"][1][4]["holdout_roc_auc"] == pytest.approx(0.71)  # the latest value, not the first


def test_a_tracking_server_or_another_registry_goes_through_mlflow(store, monkeypatch):
    assert LocalStoreReader.for_uri("http://127.0.0.1:5000") is None
    assert LocalStoreReader.for_uri("postgresql://u@db/mlflow") is None
    assert LocalStoreReader.for_uri(f"sqlite:///{store.parent / 'missing.db'}") is None
    assert LocalStoreReader.for_uri(f"sqlite:///{store}") is not None
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "http://127.0.0.1:5000")
    assert LocalStoreReader.for_uri(f"sqlite:///{store}") is None


def test_a_store_of_another_schema_is_left_to_mlflow(tmp_path):
    import sqlite3

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE registered_models (name TEXT)").connection.commit()
    assert LocalStoreReader.for_uri(f"sqlite:///{other}") is None
