"""Shared fixtures: a small synthetic CRM and a model trained on it, built once per session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")
# In-process /metrics needs a multiprocess folder set before prometheus_client is imported.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="leadscore-prometheus-"))
# `leadscore score` logs its scores: tests that do not choose a database write to a scratch one,
# never to the repository's data/leadscore.db.
os.environ.setdefault("LEADSCORE_DATABASE_URL",
                      f"sqlite:///{tempfile.mkdtemp(prefix='leadscore-test-db-')}/leadscore.db")

ROOT = Path(__file__).resolve().parents[1]
DEMO_SPEC = ROOT / "data" / "specs" / "demo_crm.yaml"
X_EDUCATION = ROOT.parent / "shared" / "data" / "x_education" / "Leads.csv"

# Quick settings for small data: fewer trees on one thread (on a busy machine LightGBM's two
# threads wait for each other: seconds instead of a tenth of one), three calibration folds
# instead of five, fewer leads per stage, and
# gates for a holdout of about 1,000 leads, where even a perfectly calibrated model shows an
# expected calibration error of about 0.02 and two good models' ROC-AUC differ by about 0.01 by
# chance alone.
FAST_CONFIG = {
    "model": {"learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 20, "max_trees": 300,
              "early_stopping_rounds": 30, "n_jobs": 1},
    "calibration_folds": 3,
    "stages": {"min_stage_leads": 10},
    "promotion": {"max_ece": 0.06, "max_baseline_drop": 0.02, "bootstrap_resamples": 200},
}


@pytest.fixture(scope="session")
def demo_crm_dir(tmp_path_factory) -> Path:
    """A 6,000-lead synthetic CRM written as the demo spec expects (parquet)."""
    from leadscore.jobs.generate import run_generate

    out = tmp_path_factory.mktemp("demo_crm")
    run_generate(out, 6000, seed=11, show_progress=False, print_summary=False)
    return out


@pytest.fixture(scope="session")
def small_demo_crm(tmp_path_factory) -> Path:
    """A 2,000-lead synthetic CRM (seed 5, parquet): for tests that need a training to run to
    its end, not a model of demo_crm_dir's quality (a third of the time to train)."""
    from leadscore.jobs.generate import run_generate

    out = tmp_path_factory.mktemp("small_demo_crm")
    run_generate(out, 2000, seed=5, show_progress=False, print_summary=False)
    return out


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory) -> Path:
    """An MLflow SQLite store with its tables made and no experiment yet: a test that copies it
    skips the store's migrations (seconds each)."""
    from training.registry import Registry

    folder = tmp_path_factory.mktemp("mlflow-template")
    Registry(f"sqlite:///{folder / 'mlflow.db'}", folder / "artifacts").model_names()
    return folder / "mlflow.db"


def scratch_workspace(folder: Path, monkeypatch, empty_mlflow_db: Path) -> Path:
    """Point leadscore's models and data at `folder` (an empty registry copied from
    `empty_mlflow_db`, no tracking server) and write the fast training config there; returns
    the config's path. `monkeypatch`: a pytest MonkeyPatch (fixture or context)."""
    import shutil

    import yaml

    (folder / "models").mkdir()
    shutil.copy(empty_mlflow_db, folder / "models" / "mlflow.db")
    use_workspace(folder, monkeypatch)
    config = folder / "fast.yaml"
    config.write_text(yaml.safe_dump(FAST_CONFIG))
    return config


def use_workspace(folder: Path, monkeypatch) -> None:
    """Point leadscore at the models and data of a workspace scratch_workspace made in `folder`."""
    monkeypatch.setenv("LEADSCORE_MODELS_DIR", str(folder / "models"))
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(folder / "data"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="session")
def trained(demo_crm_dir):
    """(spec, canonical tables, examples, TrainingResult) of a model trained on demo_crm_dir.

    LightGBM is the chosen model here, so the serving tests exercise the tree tables; the
    logistic candidate is fitted and calibrated too (result.candidates["logistic"])."""
    from features.examples import build_examples
    from features.load import load_clean
    from features.profile import DataProfile
    from features.spec import load_spec
    from training.config import TrainingConfig
    from training.trainer import train_model

    spec = load_spec(DEMO_SPEC)
    _, tables, _ = load_clean(spec, demo_crm_dir)
    examples = build_examples(spec, tables)
    config = TrainingConfig.model_validate({**FAST_CONFIG, "candidates": ["lightgbm"]})
    result = train_model(spec, examples, tables.activities, config)
    result.bundle.card = {"version": "test", "spec": spec.name}
    result.bundle.spec_yaml = DEMO_SPEC.read_text()
    result.bundle.profile = DataProfile.from_tables(spec, tables).model_dump(mode="json")  # as `leadscore train`
    return spec, tables, examples, result


@pytest.fixture(scope="session")
def bundle_dir(trained, tmp_path_factory) -> Path:
    """A saved model bundle, as `leadscore export` writes it."""
    _, _, _, result = trained
    return result.bundle.save(tmp_path_factory.mktemp("bundles") / "champion")


SEGMENT_CONFIG = {**FAST_CONFIG, "promotion": {**FAST_CONFIG["promotion"], "max_ece": 0.12, "max_drop": 0.1}}
"""FAST_CONFIG for segment models: a segment's holdout on the 6,000-lead CRM is 150 to 300
leads, where a perfectly calibrated model shows an expected calibration error of 0.05 to 0.07
by chance alone (training.promotion.chance_calibration_error), so the calibration gate allows
more; and the CRM's product lines share one buying pattern, so a model of one line, learning
from a quarter of the leads, ranks them up to 0.06 worse than the global model: the gate "not
below the global model" allows that here so that routing is exercised (tests/training/
test_segments.py checks that gate with the default allowance)."""


def segment_spec_yaml(data_dir: Path) -> str:
    """The demo spec with `segment_by: product_interest`, reading `data_dir`, without its
    `not_a_fit`: so Home Edition is a segment too small for a model of its own (a not_a_fit value
    is never a segment: tests/training/test_segments.py)."""
    import yaml

    raw = yaml.safe_load(DEMO_SPEC.read_text())
    raw.update(name="demo-crm-segments", data_dir=str(data_dir), segment_by="product_interest")
    raw["leads"].pop("not_a_fit", None)
    return yaml.safe_dump(raw, sort_keys=False)


@pytest.fixture(scope="session")
def segment_run(demo_crm_dir, empty_mlflow_db, tmp_path_factory):
    """(workspace folder, spec path, TrainOutcome, what it printed) of `leadscore train` (run_train)
    on the demo CRM with `segment_by: product_interest` and SEGMENT_CONFIG, in a scratch registry:
    one version holding the global model and the segment models, promoted and exported."""
    import yaml
    from rich.console import Console

    from leadscore.jobs.train import run_train

    folder = tmp_path_factory.mktemp("segmented")
    spec_path = folder / "demo_crm_segments.yaml"
    spec_path.write_text(segment_spec_yaml(demo_crm_dir))
    with pytest.MonkeyPatch.context() as mp:
        config = scratch_workspace(folder, mp, empty_mlflow_db)
        config.write_text(yaml.safe_dump(SEGMENT_CONFIG))
        console = Console(record=True, width=200)
        outcome = run_train(spec_path, config, show_progress=False, console=console)
    return folder, spec_path, outcome, console.export_text()


@pytest.fixture(scope="session")
def segmented(segment_run):
    """(spec, tables, examples, global TrainingResult, training.segments.SegmentTraining, bundle
    folder) of segment_run: the exported champion, segment bundles inside the global one."""
    from features.examples import build_examples
    from features.load import load_clean
    from features.spec import load_spec

    folder, spec_path, outcome, _ = segment_run
    spec = load_spec(spec_path)
    _, tables, _ = load_clean(spec)
    bundle = folder / "models" / "bundles" / spec.name / "champion"
    return spec, tables, build_examples(spec, tables), outcome.result, outcome.segments, bundle


def leaky_copy(crm: Path, folder: Path) -> Path:
    """A copy of the demo CRM `crm` in `folder` whose activity log records the signed order
    form: an `order_form_signed` activity two days after the lead was created, for 95% of the
    leads that were won and 2.5% of the others (noise). Its counts are model features equal to
    the label but for the noise, and nothing in the spec says they come after the sale."""
    import shutil

    import numpy as np
    import pandas as pd

    folder = Path(shutil.copytree(crm, folder))
    leads = pd.read_parquet(folder / "leads.parquet").drop_duplicates("lead_id")
    outcomes = pd.read_parquet(folder / "outcomes.parquet")
    won = leads["lead_id"].map(outcomes.set_index("lead_id")["outcome"].eq("won")).fillna(False).to_numpy()
    rng = np.random.default_rng(5)
    signed = np.where(won, rng.random(len(leads)) < 0.95, rng.random(len(leads)) < 0.025)
    activities = pd.read_parquet(folder / "activities.parquet")
    extra = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy()[signed],
                          "occurred_at": (leads["created_at"] + pd.Timedelta(days=2)).to_numpy()[signed],
                          "activity_type": "order_form_signed", "value": np.nan})
    activities = pd.concat([activities.astype({"lead_id": str, "activity_type": str}), extra], ignore_index=True)
    activities.to_parquet(folder / "activities.parquet", index=False)
    return folder
