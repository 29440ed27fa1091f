"""`leadscore stages`: re-plan a registered version's MQL and SQL stages under a new stage
policy, from the holdout predictions stored with it, without the data and without retraining.

The result is registered as a new version of the same model (`leadscore-<spec name>`): the
bundle's files byte for byte, with new stage definitions in bundle.json. Its champion decision
uses the gates of `leadscore train` (training.promotion) on the stored predictions: the model
and its holdout are unchanged, so re-staging the champion passes them, and a challenger stays
one. If the policy cannot be met, nothing is registered.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from features.errors import LeadscoreError
from leadscore.jobs.models import current_user, resolve_model
from leadscore.settings import Settings, get_settings


# metrics of the source run's champion decision, logged anew for this version's own
DECISION_METRICS = ("champion_holdout_", "promoted", "gates_failed", "holdout_roc_auc_ci_", "holdout_ece_by_chance")


@dataclass
class StagesOutcome:
    model_name: str
    source_version: int
    version: int
    promoted: bool
    decision: str
    stages: dict[str, dict]  # the new definitions (StageDefinition.to_dict)
    previous_stages: dict[str, dict] = field(default_factory=dict)
    segment_column: str | None = None  # with segment models: they keep their own stages
    segments_kept: list[str] = field(default_factory=list)


@dataclass
class _Replanned:
    """What training.promotion.check_gates reads of a trained model, rebuilt from a stored
    holdout (the fields of training.trainer.TrainingResult it uses)."""

    metrics: dict[str, float]
    baseline_metrics: dict[str, float]
    leakage: list
    config: Any
    holdout_label: np.ndarray
    holdout_probability: np.ndarray
    chosen: str
    lead_share: float = 1.0


def run_stages(spec: str | Path | None, config_path: Path, version: int | None = None, promote: str = "auto",
               by: str | None = None, settings: Settings | None = None,
               console: Console | None = None) -> StagesOutcome:
    from features.leakage import LeakageFinding
    from leadscore.jobs.train import _log_decision
    from training.config import load_config
    from training.evaluation import evaluate
    from training.holdout import HoldoutPredictions
    from training.promotion import check_gates, decide
    from training.registry import Registry, export_bundle
    from training.minimum_data import SAMPLE_TAGS
    from training.stages import stage_thresholds
    from training.model_card import card_description
    from training.promotion import gate_summary
    from training.tracking import audited_run

    from leadscore.jobs.signals import sigterm_as_interrupt

    settings = settings or get_settings()
    console = console or Console()
    config = load_config(config_path)
    registry = Registry.from_settings(settings, resolve_model(settings, spec))
    source = _source_version(registry, version)
    name = f"{registry.model_name} version {source.version}"
    mlflow = registry.mlflow
    holdout = HoldoutPredictions.download(mlflow, source.run_id, name)
    stages = stage_thresholds(config.stages, holdout.label, holdout.probability, holdout.order_ns,
                              holdout.lead_share)

    source_dir = registry.bundle_path(source.version)
    meta = json.loads((source_dir / "bundle.json").read_text())
    leakage = _run_dict(mlflow, source.run_id, "leakage_report.json", name)
    result = _Replanned(evaluate(holdout.label, holdout.probability),
                        evaluate(holdout.label, holdout.baseline_probability),
                        [LeakageFinding(**f) for f in leakage["columns"]],
                        config.model_copy(update={"leakage_auc": leakage["threshold"]}),
                        holdout.label, holdout.probability, meta.get("model", "lightgbm"), holdout.lead_share)
    champion = registry.champion()
    champion_here = _champion_on_holdout(registry, champion, source.version, holdout, result.metrics)
    gates = check_gates(result, config.promotion, champion_here)
    decision = decide(promote, gates, champion.version if champion else None,
                      by=current_user(by) if promote == "force" else None)

    planned_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    new_stages = {k: v.to_dict() for k, v in stages.items()}
    experiment = registry.experiment_id(config.experiment)
    new_version = run_id = None
    try:
        with sigterm_as_interrupt(), tempfile.TemporaryDirectory() as tmp, audited_run(
                mlflow, experiment, registry.spec_name, "stages", config.model_dump(mode="json"),
                _text_or_none(source_dir / "spec.yaml")) as run:
            run_id = run.info.run_id
            bundle_dir = _restaged_bundle(source_dir, Path(tmp) / "bundle", new_stages,
                                          {"stages_from_version": source.version, "stages_planned_at": planned_at})
            mlflow.log_params({"spec": registry.spec_name, "stages_from_version": source.version,
                               "model": result.chosen, "stage_sql_rule": config.stages.sql.rule,
                               "stage_mql_rule": config.stages.mql.rule})
            mlflow.log_metrics({k: float(v) for k, v in source.metrics.items()  # the model's, not its decision's
                                if math.isfinite(v) and not k.startswith(DECISION_METRICS)})
            training_config = _run_dict(mlflow, source.run_id, "training_config.json", name)
            mlflow.log_dict({**training_config, "stages": config.stages.model_dump(mode="json")},
                            "training_config.json")
            mlflow.log_dict(leakage, "leakage_report.json")
            mlflow.log_dict(new_stages, "stage_definitions.json")
            holdout.log(mlflow)  # so this version can be re-planned in turn
            tags = _log_decision(mlflow, decision, champion_here, result)
            tags["stages_from_version"] = str(source.version)
            tags |= {key: source.tags[key] for key in (*SAMPLE_TAGS, "trained_on", "dask_workers", "lightgbm_leads")  # the same model
                     if key in source.tags}
            from serving.model_signature import pyfunc_model

            example = pyfunc_model(bundle_dir, _input_example(mlflow, registry, source.version))
            new_version = registry.log_model_version(bundle_dir, example, run.info.run_id)
            registry.bundle_path(new_version)  # fetched back now: a failure here leaves nothing registered
            card = json.loads((bundle_dir / "bundle.json").read_text()).get("card", {})
            description = card_description(card, new_stages, [gate_summary(g) for g in decision.gates],
                                           f"{registry.model_name}, version {new_version}")
            registry.describe_version(new_version, description)
            mlflow.set_tag("mlflow.note.content", description)
            mlflow.set_tags({"registered_model": registry.model_name, "registered_version": str(new_version),
                             "stages_from_version": str(source.version)})
            reason = f"stages of v{source.version} re-planned; {decision.summary}"
            if decision.promoted:
                registry.set_champion(new_version, reason, tags)
                export_bundle(registry, new_version, settings.spec_bundles_dir(registry.spec_name))
            else:
                registry.set_challenger(new_version, reason, tags)
    except BaseException:  # registered, then failed (or stopped): undo it
        if run_id is not None:
            registry.discard_run_versions(run_id, champion.version if champion else None)
        raise

    from features.segment_models import SEGMENTS_FILE

    segments_path = source_dir / SEGMENTS_FILE  # (read before the source's files may go: a plain JSON file)
    segments = json.loads(segments_path.read_text()) if segments_path.is_file() else {}
    outcome = StagesOutcome(registry.model_name, source.version, new_version, decision.promoted, decision.summary,
                            new_stages, meta.get("stages", {}), segments.get("column"),
                            [entry["value"] for entry in segments.get("segments", []) if entry.get("folder")])
    _print(console, outcome, len(holdout.label), decision, registry.spec_name)
    return outcome


def _text_or_none(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _source_version(registry, version: int | None):
    """The version asked for; else the champion; else the latest."""
    from training.registry import RegistryError

    if version is not None:
        return registry.version(version)
    champion = registry.champion()
    if champion is not None:
        return champion
    versions = registry.versions()
    if not versions:
        raise RegistryError(f"{registry.model_name} has no registered version: train one with `leadscore train`")
    return versions[0]


def _run_dict(mlflow, run_id: str, path: str, what: str) -> dict:
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.artifacts.load_dict(f"runs:/{run_id}/{path}")
    except (MlflowException, OSError, ValueError):
        raise LeadscoreError(f"{what}: its MLflow run has no {path}; train it again with `leadscore train`") from None


def _champion_on_holdout(registry, champion, source_version: int, holdout, metrics: dict):
    """The champion's scores on this holdout: the source's own when the source is the champion;
    from the champion's stored predictions when they cover the same leads and outcomes; else
    why they cannot be compared (the champion gate then fails, as in training)."""
    from training.evaluation import evaluate
    from training.holdout import HoldoutPredictions
    from training.promotion import ChampionOnHoldout

    if champion is None:
        return None
    if champion.version == source_version:
        return ChampionOnHoldout(champion.version, metrics)
    try:
        theirs = HoldoutPredictions.download(registry.mlflow, champion.run_id, f"champion v{champion.version}")
    except LeadscoreError as exc:
        return ChampionOnHoldout(champion.version, None, str(exc))
    ours = pd.Series(holdout.label, index=holdout.lead_id)
    their_p = pd.Series(theirs.probability, index=theirs.lead_id)
    their_label = pd.Series(theirs.label, index=theirs.lead_id)
    if (len(ours) != len(their_p) or not their_p.index.is_unique
            or not ours.index.isin(their_p.index).all() or not (their_label.reindex(ours.index) == ours).all()):
        return ChampionOnHoldout(champion.version, None, "its stored holdout is not this version's (other leads or "
                                 "outcomes), and re-planning stages has no data to score it on")
    return ChampionOnHoldout(champion.version, evaluate(holdout.label, their_p.reindex(ours.index).to_numpy()))


def _restaged_bundle(source: Path, target: Path, stages: dict, card: dict) -> Path:
    """The source bundle's files as they are, with new stage definitions and card entries."""
    shutil.copytree(source, target)
    meta_path = target / "bundle.json"
    meta = json.loads(meta_path.read_text())
    meta["stages"] = stages
    meta["card"] = {**meta.get("card", {}), **card}
    meta_path.write_text(json.dumps(meta, indent=1))
    return target


def _input_example(mlflow, registry, version: int) -> pd.DataFrame:
    """The source version's input example, as it was logged (strings and missing values)."""
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{registry.model_name}/{int(version)}/input_example.json", dst_path=tmp)
        raw = json.loads(Path(local).read_text())
    return pd.DataFrame(raw["data"], columns=raw["columns"], dtype=object)


def _print(console: Console, outcome: StagesOutcome, holdout_leads: int, decision, spec_name: str) -> None:
    from training.stages import plain_threshold

    console.print(f"[bold]{outcome.model_name} version {outcome.version}[/]: the model of version "
                  f"{outcome.source_version} with its stages re-planned on its {holdout_leads:,} stored holdout "
                  "predictions (no retraining)", soft_wrap=True)
    before = ", ".join(f"{d.get('name', k.upper())} {plain_threshold(float(d['threshold']))}"
                       for k, d in outcome.previous_stages.items() if "threshold" in d)
    if before:
        console.print(f"was (version {outcome.source_version}): {before} and above", soft_wrap=True, highlight=False)
    console.print("[bold]Stage definitions[/] (holdout):")
    for stage in outcome.stages.values():
        console.print(f"  {stage['words']}", soft_wrap=True, highlight=False)
    console.print(f"[bold]Champion decision[/] ({outcome.model_name} version {outcome.version}): {decision.summary}",
                  soft_wrap=True)
    for gate in decision.gates:
        console.print(f"  {gate.line()}", soft_wrap=True, highlight=False)
    if outcome.segments_kept:
        console.print(f"[bold yellow]note[/]: only the global model's stages were re-planned; the segment models of "
                      f"{outcome.segment_column} ({', '.join(outcome.segments_kept)}) keep the stages they were "
                      "trained with, and score their leads by them. Train again (`leadscore train`) to plan theirs "
                      "with this config (docs/segments.md)", soft_wrap=True, highlight=False)
    if not outcome.promoted:
        console.print(f"To make it the champion: leadscore promote {outcome.version} --spec {spec_name}",
                      soft_wrap=True, highlight=False)
