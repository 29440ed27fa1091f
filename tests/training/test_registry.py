"""The registry: versions, the champion alias, rollback and the promotion rule."""

import pytest

from features.bundle import ModelBundle
from leadscore.jobs.train import decide
from training.registry import Registry, RegistryError, export_bundle


@pytest.fixture
def registry(tmp_path):
    return Registry(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path / "artifacts", cache_dir=tmp_path / "cache")


def register(registry, bundle_dir, trained):
    spec, _, examples, _ = trained
    mlflow = registry.mlflow
    with mlflow.start_run(experiment_id=registry.experiment_id("test")) as run:
        mlflow.log_metric("holdout_roc_auc", 0.8)
        example = examples.leads[spec.profile_columns].head(2).astype(str)
        return registry.log_model_version(bundle_dir, example, run.info.run_id)


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

    number, path = export_bundle(registry, None, tmp_path / "bundles")
    assert number == 1 and path == tmp_path / "bundles" / "champion"
    exported = ModelBundle.load(path)
    assert exported.version == "1" and exported.stages["sql"]["threshold"] > 0
    with pytest.raises(RegistryError, match="has no version 7"):
        registry.set_champion(7, "nope")


def test_the_champion_rule_keeps_the_better_model():
    assert decide("auto", 0.80, None, None, 0.005)[0]
    assert decide("auto", 0.797, 0.80, 1, 0.005)[0]  # within the allowed drop
    promoted, words = decide("auto", 0.79, 0.80, 3, 0.005)
    assert not promoted and "v3" in words and "0.7900" in words and "0.8000" in words
    assert decide("force", 0.5, 0.9, 3, 0.005)[0]
    assert not decide("never", 0.99, 0.5, 3, 0.005)[0]
