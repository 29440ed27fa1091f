"""The registry: one registered model per spec, its champion and challenger aliases, rollback."""

import shutil

import pytest

from features.bundle import ModelBundle
from training.registry import Registry, RegistryError, export_bundle, model_name_for


@pytest.fixture
def registry(tmp_path, empty_mlflow_db):
    shutil.copy(empty_mlflow_db, tmp_path / "mlflow.db")
    return Registry(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts", "leadscore-demo-crm",
                    cache_dir=tmp_path / "cache")


def register(registry, bundle_dir, trained):
    spec, _, examples, _ = trained
    mlflow = registry.mlflow
    with mlflow.start_run(experiment_id=registry.experiment_id("test")) as run:
        mlflow.log_metric("holdout_roc_auc", 0.8)
        example = examples.leads[spec.profile_columns].head(2).astype(str)
        from serving.model_signature import pyfunc_model

        return registry.log_model_version(bundle_dir, pyfunc_model(bundle_dir, example), run.info.run_id)


def test_promote_rollback_and_export(registry, bundle_dir, trained, tmp_path):
    v1 = register(registry, bundle_dir, trained)
    v2 = register(registry, bundle_dir, trained)
    assert (v1, v2) == (1, 2)
    assert registry.champion() is None
    with pytest.raises(RegistryError, match="no champion to roll back"):
        registry.rollback()

    registry.set_champion(v1, "first")
    with pytest.raises(RegistryError, match="only champion there has been"):
        registry.rollback()
    registry.set_champion(v2, "better")
    assert registry.champion().version == 2
    assert [v.aliases for v in registry.versions()] == [["champion"], []]

    assert registry.rollback() == (2, 1)
    assert registry.champion().version == 1

    number, path = export_bundle(registry, None, tmp_path / "bundles" / "demo-crm")
    assert number == 1 and path == tmp_path / "bundles" / "demo-crm" / "champion"
    exported = ModelBundle.load(path)
    assert exported.version == "1" and exported.stages["sql"]["threshold"] > 0
    with pytest.raises(RegistryError, match="has no version 7"):
        registry.set_champion(7, "nope")


def test_each_spec_has_its_own_model_champion_and_challenger(registry, bundle_dir, trained):
    other = registry.for_model(model_name_for("other-crm"))
    a1 = register(registry, bundle_dir, trained)
    registry.set_champion(a1, "first")
    b1 = register(other, bundle_dir, trained)
    assert b1 == 1  # versions count per model
    other.set_challenger(b1, "not promoted")
    assert registry.champion().version == 1 and other.champion() is None
    assert other.challenger().version == 1 and registry.challenger() is None
    assert registry.model_names() == ["leadscore-demo-crm", "leadscore-other-crm"]

    a2 = register(registry, bundle_dir, trained)
    registry.set_challenger(a2, "not promoted")
    assert {v.version: v.aliases for v in registry.versions()} == {2: ["challenger"], 1: ["champion"]}
    registry.set_champion(a2, "by hand")  # the challenger promoted is no longer the challenger
    assert registry.challenger() is None and registry.champion().version == 2
    assert other.champion() is None and other.challenger().version == 1


def test_a_discarded_registration_leaves_the_registry_as_it_was(registry, bundle_dir, trained):
    v1 = register(registry, bundle_dir, trained)
    registry.set_champion(v1, "first")
    v2 = register(registry, bundle_dir, trained)
    registry.set_champion(v2, "second")
    registry.discard_version(v2, champion_before=v1)
    assert [v.version for v in registry.versions()] == [1] and registry.champion().version == 1
    registry.discard_version(v1, champion_before=None)
    assert registry.model_names() == [] and registry.versions() == []


def test_a_spec_name_must_be_usable_as_a_model_and_folder_name():
    assert model_name_for("demo-crm") == "leadscore-demo-crm"
    with pytest.raises(RegistryError, match="cannot name a registered model"):
        model_name_for("../other")
