"""`leadscore train`: validate, build point-in-time examples, train, evaluate, set the stage
thresholds, check the promotion gates (training.promotion), track the run in MLflow, register
the version in the spec's own model (`leadscore-<spec name>`) and make it the champion or the
challenger. If validation or training fails, nothing is registered; a failure after registering
removes the version again. Every gate is decided before anything is registered.

With `--with-logged-outcomes` the leads scored under the spec (the score log's records) whose
deals have closed since join the export's history, as they were logged (training.logged_outcomes);
the new version's card counts them under `logged_outcomes`."""

from __future__ import annotations

import contextlib
import functools
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from features.errors import LeadscoreError
from features.spec import load_spec
from leadscore.jobs.models import current_user
from leadscore.jobs.signals import sigterm_as_interrupt
from leadscore.settings import Settings, get_settings

Promote = Literal["auto", "force", "never"]
STEPS = ["load", "validate", "examples", "features", "tuning", "lightgbm", "logistic", "calibration", "sub-scores", "refit",
         "stages", "leakage", "gates", "mlflow", "champion"]
NOT_PROMOTED_EXIT = 4  # `--promote auto` and a gate failed: registered as challenger, not champion
LIGHTGBM_ON_EVERY_LEAD = {"lightgbm_leads": "every"}
"""The run's and version's tag of a `train --dask` whose LightGBM learnt from every lead on the
workers while the rest took the client's sample (`leadscore models` says so)."""


@dataclass
class TrainOutcome:
    version: int
    promoted: bool
    decision: str
    metrics: dict[str, float]
    challenger_score: float
    champion_score: float | None
    stages: dict[str, dict]
    best_achievable_auc: float | None
    run_id: str
    timings: dict[str, float]
    gate_decision: Any = None  # training.promotion.Decision
    model_name: str = ""
    chosen: str = ""  # the candidate model kept: lightgbm, logistic or blend
    result: Any = None  # training.trainer.TrainingResult: the model registered, with its holdout figures
    segments: Any = None  # training.segments.SegmentTraining, None without the spec's segment_by


class _Steps:
    """A progress bar over the named steps of a training run."""

    def __init__(self, console: Console, enabled: bool):
        self.progress = Progress(TextColumn("{task.description:<22}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                 TimeElapsedColumn(), console=console, disable=not enabled, transient=False)
        self.task = None

    def __enter__(self):
        self.progress.__enter__()
        self.task = self.progress.add_task("training", total=len(STEPS))
        return self

    def __exit__(self, *exc):
        self.progress.__exit__(*exc)

    def __call__(self, name: str) -> None:
        done = STEPS.index(name) + 1 if name in STEPS else None
        self.progress.update(self.task, completed=done, description=f"done: {name}")


def _truth(tables_paths: dict[str, Path]) -> pd.DataFrame | None:
    folder = tables_paths["leads"].parent
    for name in ("truth.parquet", "truth.csv"):
        path = folder / name
        if path.exists():
            return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return None


def run_train(spec_path: Path, config_path: Path | None = None, data: Path | None = None,
              promote: Promote = "auto", settings: Settings | None = None,
              console: Console | None = None, show_progress: bool = True, tune: int = 0,
              by: str | None = None, with_logged_outcomes: bool = False, dask: str | None = None) -> TrainOutcome:
    """Train and register a version (see the module's docstring); returns what was decided.

    dask: a Dask scheduler address, or 'local' (leadscore.cluster.connect): the export is read,
    validated and turned into examples on that cluster, LightGBM learns from every lead there,
    and this machine fits the rest on a sample of `max_leads` leads (leadscore.jobs.train_cluster,
    training.dask_trainer); the MLflow run and the registered version carry the tags
    `trained_on: dask` and `dask_workers`, the model card `trained_on`. An address no scheduler
    answers at, and --with-logged-outcomes with it, are refused (LeadscoreError) before any work."""
    from features.examples import build_examples
    from features.leakage import refuse_leaking_columns, training_leakage
    from features.load import load_clean
    from features.profile import DataProfile
    from features.validation import validate_tables
    from training.config import load_config
    from training.holdout import log_holdout_predictions
    from training.model_card import card_description
    from training.promotion import ChampionOnHoldout, champion_on_holdout, check_gates, decide, gate_summary
    from training.registry import Registry, export_bundle, model_name_for
    from training.tracking import audited_run, log_tables
    from training.trainer import best_achievable, train_model

    settings = settings or get_settings()
    console = console or Console()
    err = Console(stderr=True)
    spec = load_spec(spec_path)
    model_name = model_name_for(spec.name)  # a spec name that cannot name a model fails before training
    config = load_config(config_path)
    registry = Registry.from_settings(settings, model_name)
    mlflow = registry.mlflow
    experiment = registry.experiment_id(config.experiment)

    import time

    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 1)
        clock = now

    spec_text = Path(spec.source).read_text(encoding="utf-8") if spec.source else None
    cluster = contextlib.ExitStack()
    on_dask = None
    if dask is not None:  # connected first: an address no scheduler answers at is refused before any work
        from leadscore.cluster import connect
        from training.dask_trainer import DaskLightGBM, worker_threads

        if with_logged_outcomes:
            raise LeadscoreError("--with-logged-outcomes is not supported with --dask: the score log's leads join the "
                                 "export on one machine. Train without --dask, or without --with-logged-outcomes")
        client = cluster.enter_context(connect(dask))
        on_dask = {"dask": dask, "workers": worker_threads(client)[0]}
    # The run opens before any work: a training that fails leaves a FAILED run with its error.
    with cluster, sigterm_as_interrupt(), \
            audited_run(mlflow, experiment, spec.name, "train", config.model_dump(mode="json"), spec_text) as run, \
            _Steps(err, show_progress) as step:
        store = _logged_store(spec, settings) if with_logged_outcomes else None  # refused before any work
        logged, profile, example = None, None, None
        if on_dask is not None:
            from leadscore.jobs.train_cluster import examples_on_the_cluster

            given = examples_on_the_cluster(client, spec, data, config.max_leads, console, step)
            err.print(f"  read on the Dask cluster in {given.partitions} lead partitions")
            examples, tables, sample, plan, report = given.examples, given.tables, given.sample, given.plan, given.report
            cleaning, profile, example = given.cleaning, given.profile, given.input_example
            # the client holds the sample's activities: the transform learns every type of the export
            train_model = functools.partial(train_model, activity_types=given.activity_types)
            log_tables(mlflow, spec.name, {name: (frame, tables.paths.get(name)) for name, frame in
                                            (("leads", tables.leads), ("activities", tables.activities),
                                             ("outcomes", tables.outcomes)) if frame is not None},
                       context="training sample" if sample is not None else "training")
            lap("load")
        else:
            cleaned, tables, cleaning = load_clean(spec, data)
            from leadscore.jobs.validate import reading_lines

            for line in reading_lines(cleaned, tables):
                err.print(f"  {line}")
            log_tables(mlflow, spec.name, {name: (frame, tables.paths.get(name)) for name, frame in
                                            (("leads", tables.leads), ("activities", tables.activities),
                                             ("outcomes", tables.outcomes)) if frame is not None})
            step("load")
            lap("load")
            report = validate_tables(spec, cleaned, tables, purpose="train")
            step("validate")
            lap("validate")
            if not report.success:
                console.print(report.summary())
                report.raise_if_failed()
            if report.rejected:
                from features.validation import write_rejects
                from leadscore.jobs.validate import default_docs_dir

                for table, path in write_rejects(report, default_docs_dir(spec)).items():
                    console.print(f"dropped {len(report.rejected[table]):,} invalid rows "
                                  f"(drop_invalid_rows): {path}")
            if store is not None:
                from training.logged_outcomes import history_examples

                logged = _logged_history(spec, store, tables, console)
                tables, examples = history_examples(spec, tables, logged)
            else:
                examples = build_examples(spec, tables)
            step("examples")
            # More leads than the config's max_leads: a random sample of them, over the whole window.
            # Too few won or lost leads stop training here, naming the counts: nothing fitted or registered.
            from training.minimum_data import training_plan

            examples, sample, plan = training_plan(examples, config.max_leads)
        if sample is not None:
            mlflow.set_tags(sample.tags())
            err.print(f"  training on {sample.words()}", highlight=False, soft_wrap=True)
            if logged is not None:
                from training.logged_outcomes import count_in_examples

                count_in_examples(logged, examples)  # the logged leads the sample kept
        if plan.reason:
            mlflow.set_tags({"candidates": ",".join(plan.candidates), "candidates_reason": plan.reason})
        # A lead column that leaks the outcome stops training before anything is fitted or registered.
        refuse_leaking_columns(spec, training_leakage(spec, examples, tables.activities, config.leakage_auc,
                                                      config.min_category_count,
                                                      activity_types=given.activity_types if on_dask else None))
        segment_model = train_model
        if on_dask is not None:
            # Segments learn from the client's leads of their segment, sent to the workers.
            segment_model = functools.partial(train_model, lightgbm=DaskLightGBM(client).fitting())
            train_model = functools.partial(train_model, lightgbm=given.lightgbm.fitting())
            mlflow.set_tags({"trained_on": "dask", "dask_workers": str(on_dask["workers"]),
                             "dask_scheduler": on_dask["dask"], **LIGHTGBM_ON_EVERY_LEAD})
        result = train_model(spec, examples, tables.activities, config, step=step, tune_trials=tune,
                             on_trial=lambda t: err.print(f"  trial {t.number}/{tune}: validation ROC-AUC "
                                                          f"{t.validation_roc_auc:.4f} {t.params}"))
        if on_dask is not None:
            given.release()
        config = result.config or config
        lap("train")
        segments = _train_segments(spec, examples, tables.activities, config, result, err,  # None without segment_by
                                   segment_model)

        truth = _truth(tables.paths)
        best = best_achievable(truth, result.holdout_ids, result.holdout_label) if truth is not None else None

        trained_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        window = _data_window(examples, result)
        metrics = {f"holdout_{k}": v for k, v in result.metrics.items()}
        metrics |= {f"baseline_{k}": v for k, v in result.baseline_metrics.items()}
        metrics |= {f"validation_{k}": v for k, v in result.validation_metrics.items()}
        for name in ("lightgbm", "blend"):
            if name in result.candidates:
                metrics |= {f"{name}_{k}": v for k, v in result.candidates[name].holdout_metrics.items()}
        if "blend" in result.candidates:
            metrics["blend_weight"] = result.candidates["blend"].bundle.booster.weight
        metrics |= {f"{name}_validation_{config.promotion.metric}": c.validation_score
                    for name, c in result.candidates.items()}
        metrics["best_iteration"] = result.best_iteration
        if best is not None:
            metrics["best_achievable_roc_auc"] = best
            metrics["gap_to_best_roc_auc"] = best - result.metrics["roc_auc"]
        bundle = result.bundle
        bundle.card = {"spec": spec.name, "model": result.chosen, "trained_at": trained_at, "data_window": window,
                       "examples": {"fit": len(result.split.fit), "validation": len(result.split.validation),
                                    "holdout": len(result.split.holdout), "excluded": examples.excluded,
                                    "counts": examples.counts, "calibrated_on": result.calibrated_on},
                       "holdout_metrics": result.metrics, "baseline_metrics": result.baseline_metrics,
                       "best_achievable_roc_auc": best, "features": bundle.transform.names,
                       "after_contact_excluded": spec.leads.after_contact,
                       "training_data": {"won_leads": plan.counts.won, "lost_leads": plan.counts.lost,
                                         "candidates": list(result.candidates), "reason": plan.reason,
                                         "sample": sample.words() if sample else None},
                       "trained_on": {"dask": on_dask["dask"], "workers": on_dask["workers"]} if on_dask
                       else {"dask": None}}
        sub_scores = bundle.sub_scores
        bundle.card["sub_scores"] = {"fit": sub_scores.fit.figures,
                                     "intent": sub_scores.intent.figures if sub_scores.intent else None,
                                     "grid": sub_scores.grid()}
        for name in ("fit", "intent"):
            score = getattr(sub_scores, name)
            if score is not None:
                metrics |= {f"{name}_holdout_roc_auc": score.figures["holdout_roc_auc"],
                            f"{name}_holdout_ece": score.figures["holdout_ece"]}
        if result.ideal_customer is not None:
            bundle.card["ideal_customer"] = result.ideal_customer
            icp = result.ideal_customer
            metrics |= {k: icp[k] for k in ("won_rate_matching", "won_rate_rest") if icp[k] is not None}
            metrics["ideal_customer_matching"] = icp["matching"]
        if logged is not None:
            bundle.card["logged_outcomes"] = {**logged.counts, "database": store.where}
        bundle.profile = (profile or DataProfile.from_tables(spec, tables)).model_dump(mode="json")
        bundle.spec_yaml = spec_text
        if segments is not None:
            segments.attach_to(bundle)
            metrics |= segment_metrics(segments)

        champion = registry.champion()
        champion_on_new_holdout = None
        if champion is not None:
            try:
                champion_bundle = registry.load_bundle(champion.version)
            except Exception as exc:  # noqa: BLE001 - an unreadable champion fails its gate, no more
                champion_on_new_holdout = ChampionOnHoldout(champion.version, None, f"{type(exc).__name__}: {exc}")
            else:
                champion_on_new_holdout = champion_on_holdout(champion.version, champion_bundle, examples,
                                                              result.split.holdout, tables.activities)
        gates = check_gates(result, config.promotion, champion_on_new_holdout)
        bundle.card["gates"] = [gate_summary(gate) for gate in gates]  # the model page shows them
        decision = decide(promote, gates, champion.version if champion else None,
                          by=current_user(by) if promote == "force" else None)
        step("gates")

        experiment = run.info.experiment_id
        version = None
        try:
            with tempfile.TemporaryDirectory() as tmp:
                bundle_dir = bundle.save(Path(tmp) / "bundle")
                _log_run(mlflow, spec, config, report, cleaning, examples, result, metrics, bundle)
                log_holdout_predictions(mlflow, result, examples)  # for `leadscore stages`
                for trial in result.trials:
                    with mlflow.start_run(experiment_id=experiment, run_name=f"trial-{trial.number}", nested=True):
                        mlflow.log_params(trial.params)
                        mlflow.log_metrics({"validation_roc_auc": trial.validation_roc_auc,
                                            "validation_log_loss": trial.validation_log_loss, "trees": trial.trees})
                tags = _log_decision(mlflow, decision, champion_on_new_holdout, result)
                if on_dask is not None:
                    tags = {**tags, "trained_on": "dask", "dask_workers": str(on_dask["workers"]), **LIGHTGBM_ON_EVERY_LEAD}
                if sample is not None:
                    tags = {**tags, **sample.tags()}
                example = example if example is not None else _input_example(spec, cleaned)
                from serving.model_signature import pyfunc_model

                version = registry.log_model_version(bundle_dir, pyfunc_model(bundle_dir, example), run.info.run_id)
                registry.bundle_path(version)  # fetched back now: a failure here leaves nothing registered
                description = card_description(bundle.card, {k: v.to_dict() for k, v in result.stages.items()},
                                               bundle.card["gates"], f"{registry.model_name}, version {version}")
                registry.describe_version(version, description)
                step("mlflow")
                mlflow.set_tags({"registered_model": registry.model_name, "registered_version": str(version),
                                 "mlflow.note.content": description})
                if decision.promoted:
                    registry.set_champion(version, decision.summary, tags)
                    export_bundle(registry, version, settings.spec_bundles_dir(spec.name))
                else:
                    registry.set_challenger(version, decision.summary, tags)
                step("champion")
                lap("mlflow+champion")
        except BaseException:  # registered, then failed (or stopped): undo it
            registry.discard_run_versions(run.info.run_id, champion.version if champion else None)
            raise

    _print_summary(console, spec.name, registry.model_name, version, result, best, decision, cleaning, examples,
                   config.promotion.metric, bundle.card.get("logged_outcomes"), sample)
    if segments is not None:
        print_segments(console, segments, result)
    if tune > 1 and not result.trials:
        console.print(f"tuning: not done (--tune {tune}): it tunes LightGBM, and with this little data only the "
                      "logistic model is trained (see candidates above)", highlight=False, soft_wrap=True)
    metric = config.promotion.metric
    champion_score = (champion_on_new_holdout.metrics or {}).get(metric) if champion_on_new_holdout else None
    return TrainOutcome(version, decision.promoted, decision.summary, metrics, result.metrics[metric], champion_score,
                        {k: v.to_dict() for k, v in result.stages.items()}, best, run.info.run_id,
                        {**timings, **{f"  {k}": v for k, v in result.timings.items()}}, decision,
                        registry.model_name, result.chosen, result, segments)


def _train_segments(spec, examples, activities, config, result, err: Console, train_model):
    """The segment models of `spec.segment_by` (training.segments), each trained with
    `train_model` (training.trainer.train_model, fitting LightGBM on Dask under --dask), None
    without it."""
    if spec.segment_by is None:
        return None
    from training.segments import train_segments

    return train_segments(spec, examples, activities, config, result, train_model,
                          on_segment=lambda value: err.print(f"  training the segment {spec.segment_by} = {value}",
                                                             highlight=False))


SEGMENT_NAME_CHARS = 64
"""A segment value in a metric name, at most: longer ones keep their start and a digest of the
whole (a 255-character value made MLflow refuse the run's metrics, after all the training)."""


def segment_metrics(segments) -> dict[str, float]:
    """Each segment's holdout figures as run metrics (segment.<value>.holdout_roc_auc, ...)."""
    out = {}
    for s in segments.segments:
        name = "".join(ch if ch.isalnum() else "_" for ch in s.value)
        if len(name) > SEGMENT_NAME_CHARS:  # MLflow refuses metric names over 250 characters
            import hashlib

            name = f"{name[:SEGMENT_NAME_CHARS - 9]}_{hashlib.sha1(s.value.encode()).hexdigest()[:8]}"
        for key in ("holdout_roc_auc", "holdout_ece", "shared_roc_auc", "global_roc_auc"):
            value = getattr(s, key)
            if value is not None:
                out[f"segment.{name}.{key}"] = float(value)
        out[f"segment.{name}.used"] = float(s.used)
    return out


def print_segments(console: Console, segments, result) -> None:
    """One line per segment: its counts, its model's holdout figures, the global model's beside
    them on the shared holdout leads, used or why not."""
    from rich import box

    console.print(f"[bold]Segment models[/] ({segments.column}): each on its own holdout (ROC-AUC, ECE), then both "
                  "models on the holdout leads it shares with the global model's (leads, its ROC-AUC, the global "
                  f"model's); model: its own or the global model; the global model on all leads: ROC-AUC {result.metrics['roc_auc']:.4f}, "
                  f"ECE {result.metrics['ece']:.4f}", soft_wrap=True, highlight=False)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
    for col in ("segment", "won", "lost", "ROC-AUC", "ECE", "shared", "its", "global", "model"):
        table.add_column(col, justify="left" if col in ("segment", "model") else "right", no_wrap=col != "segment")

    def figure(value):
        return "" if value is None else f"{value:.4f}"

    for s in segments.segments:
        table.add_row(s.value, f"{s.won:,}", f"{s.lost:,}", figure(s.holdout_roc_auc), figure(s.holdout_ece),
                      f"{s.shared_leads:,}" if s.result is not None else "", figure(s.shared_roc_auc),
                      figure(s.global_roc_auc), "own" if s.used else "global")
    console.print(table)
    for s in segments.segments:
        if not s.used:
            console.print(f"  {segments.column} = {s.value}: {s.note}", highlight=False, soft_wrap=True)
    for note in segments.notes:
        console.print(f"  {note}", highlight=False, soft_wrap=True)


LOGGED_PARAMS = ("used", "won", "skipped_in_export", "skipped_no_record", "open", "in_examples", "examples",
                 "snapshots_after_record", "too_recent")
"""The counts of card["logged_outcomes"] also logged as run parameters (logged_outcomes_<name>)."""


@dataclass
class _LoggedStore:
    """What the store holds for `--with-logged-outcomes`: the spec's records, every outcome."""
    records: pd.DataFrame
    outcomes: pd.DataFrame
    where: str  # the database URL, without its password


def _no_logged_outcomes(spec, where: str, detail: str) -> LeadscoreError:
    return LeadscoreError(f"no logged outcomes for spec {spec.name!r} in {where} ({detail}); score leads and record "
                          "their outcomes first (POST /outcomes or `leadscore outcomes import`), or leave out "
                          "--with-logged-outcomes")


def _logged_store(spec, settings: Settings) -> _LoggedStore:
    """The spec's logged records and the store's outcomes, read before any training work;
    refused when no lead scored under the spec has an outcome (or the spec cannot place logged
    leads in time)."""
    from serving.store import make_engine
    from serving.store.database import create_tables, safe_url
    from serving.store.report_inputs import logged_records, outcome_frame
    from training.logged_outcomes import lead_ids, refuse_unplaceable

    refuse_unplaceable(spec)
    url = settings.resolved_database_url
    where = safe_url(url)
    engine = make_engine(url)
    try:
        create_tables(engine)
        records = logged_records(engine, spec.name)
        outcomes = outcome_frame(engine)
    finally:
        engine.dispose()
    if records.empty or not set(lead_ids(records["lead_id"])) & set(lead_ids(outcomes["lead_id"])) - {None}:
        raise _no_logged_outcomes(spec, where, f"{len(records):,} leads scored under it, {len(outcomes):,} outcomes "
                                               "recorded, none of them for a lead scored under it")
    return _LoggedStore(records, outcomes, where)


def _logged_history(spec, store: _LoggedStore, export, console: Console):
    """The logged leads that join the export (training.logged_outcomes), read and validated;
    refused when none does, or when their records fail validation."""
    from training.logged_outcomes import choose_logged, logged_history, read_logged

    choice = choose_logged(store.records, store.outcomes, export.leads["lead_id"])
    counts = choice.counts
    if not counts["used"]:
        raise _no_logged_outcomes(spec, store.where, f"the {counts['skipped_in_export']:,} outcomes of leads scored "
                                                     "under it are all for leads the export holds, and the export "
                                                     "is the source of truth for those")
    canonical, report = read_logged(spec, choice)
    if not report.success:
        raise LeadscoreError(f"the records of the {counts['used']:,} logged leads with an outcome (score log in "
                             f"{store.where}) fail validation:\n{report.summary()}\nscore those leads again (a "
                             "later score replaces a lead's record), or leave out --with-logged-outcomes")
    for note in report.notes:
        if "no training profile" not in note and "scoring input" not in note:
            console.print(f"logged leads: {note}", highlight=False, soft_wrap=True)
    return logged_history(choice, canonical, report)


def logged_line(logged: dict) -> str:
    """What the logged outcomes gave, in words (the train summary)."""
    return (f"logged outcomes: {logged['used']:,} leads scored under this spec and closed since joined the export "
            f"({logged['won']:,} won), {logged['in_examples']:,} of them in the examples with "
            f"{logged['examples']:,} snapshots ({logged['snapshots_after_record']:,} snapshots after a record's "
            f"as-of moment not taken, {logged['too_recent']:,} leads too recent); left out: "
            f"{logged['skipped_in_export']:,} outcomes of leads in the export, {logged['skipped_no_record']:,} of "
            f"leads never scored under this spec; {logged['open']:,} logged leads still open ({logged['database']})")


def _log_decision(mlflow, decision, champion, result) -> dict[str, str]:
    """Each gate and the decision as run tags and metrics; returns the tags the registered
    version carries too."""
    for gate in decision.gates:
        mlflow.set_tags({f"gate.{gate.name}": "pass" if gate.passed else "fail",
                         f"gate.{gate.name}.detail": gate.detail[:4000]})
        if gate.values:
            mlflow.log_metrics(gate.values)
    if champion is not None and champion.metrics is not None:
        mlflow.log_metrics({f"champion_holdout_{k}": float(v) for k, v in champion.metrics.items()
                            if np.isfinite(v)})
    mlflow.log_metric("promoted", float(decision.promoted))
    mlflow.log_metric("gates_failed", float(len(decision.failed)))
    tags = {"promotion_mode": decision.mode, "failed_gates": ",".join(decision.failed) or "none",
            "model": result.chosen}
    if champion is not None:
        tags["compared_with_champion"] = f"v{champion.version}"
    if decision.mode == "force":
        tags |= {"promotion_forced": "true", "forced_by": decision.by or "unknown"}
    mlflow.set_tags({"promotion_decision": decision.summary, **tags})
    return tags


def _data_window(examples, result) -> dict:
    if "created_at" not in examples.leads:
        return {"ordered_by": "order_by column", "examples": len(examples)}
    created = examples.leads["created_at"]
    holdout = created.iloc[result.split.holdout]
    return {"first_lead": str(created.min()), "last_lead": str(created.max()),
            "holdout_from": str(holdout.min()), "holdout_to": str(holdout.max())}


def _input_example(spec, cleaned) -> pd.DataFrame:
    """Two leads as POST /score takes them, with their first activities: the registered model's
    input example (serving.model_signature)."""
    columns = [c for c in (spec.leads.id, spec.leads.created_at, *spec.profile_columns) if c in cleaned.leads]
    sample = cleaned.leads[columns].head(2)
    acts = spec.activities
    if acts is not None and cleaned.activities is not None:
        ids = set(sample[spec.leads.id].astype(str))
        fields = [c for c in (acts.time, acts.type, acts.value) if c and c in cleaned.activities]
        theirs = cleaned.activities[cleaned.activities[acts.lead_id].astype(str).isin(ids)]
        by_lead = {str(lead): group[fields].head(3).to_dict("records")
                   for lead, group in theirs.groupby(theirs[acts.lead_id].astype(str), observed=True)}
        sample = sample.assign(activities=[by_lead.get(str(i), []) for i in sample[spec.leads.id]])
    return sample


def _log_run(mlflow, spec, config, report, cleaning, examples, result, metrics, bundle) -> None:
    from training import figures

    params = {"spec": spec.name, "model": result.chosen, "candidates": ",".join(config.candidates),
              "promotion_metric": config.promotion.metric, "logistic_c": config.logistic.c,
              "calibration": config.calibration, "refit_full": config.refit_full,
              "validation_fraction": config.validation_fraction, "holdout_fraction": spec.holdout_fraction,
              "min_category_count": config.min_category_count, "n_features": len(bundle.transform.names),
              "calibration_window": config.calibration_window, "calibration_folds": config.calibration_folds,
              "max_leads": config.max_leads,
              "snapshot_ages": ",".join(f"{a:g}" for a in spec.snapshot_ages or []),
              "evaluation_age_days": spec.features.evaluation_age_days,
              "examples": len(examples), **{f"lgbm_{k}": v for k, v in config.model.model_dump().items()},
              "stage_sql_rule": config.stages.sql.rule, "stage_mql_rule": config.stages.mql.rule}
    logged = bundle.card.get("logged_outcomes")
    if logged:
        params |= {f"logged_outcomes_{k}": v for k, v in logged.items() if k in LOGGED_PARAMS}
        mlflow.set_tags({"logged_outcomes": f"{logged['used']} used", "logged_outcomes_database": logged["database"]})
    mlflow.log_params(params)
    mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})
    if bundle.spec_yaml:
        mlflow.log_text(bundle.spec_yaml, "dataset_spec.yaml")
    mlflow.log_dict(config.model_dump(mode="json"), "training_config.json")
    mlflow.log_dict({"examples": len(examples), "excluded": examples.excluded, "counts": examples.counts,
                     "summary": examples.lines(), "warnings": examples.warnings(),
                     "won_rate": float(examples.label.mean()), "cleaning": cleaning.lines(),
                     "sample": bundle.card.get("training_data", {}).get("sample"),
                     "data_window": bundle.card.get("data_window"), "logged_outcomes": logged}, "data_summary.json")
    mlflow.log_dict({"calibrated_on": result.calibrated_on, "bins": result.reliability,
                     "holdout_by_age": result.holdout_by_age}, "calibration.json")
    mlflow.log_dict({"success": report.success, "checked": report.checked,
                     "failures": [f.describe() for f in report.failures],
                     "notes": report.notes}, "validation.json")
    mlflow.log_dict({"threshold": config.leakage_auc, "columns": [f.as_dict() for f in result.leakage]},
                    "leakage_report.json")
    mlflow.log_dict({k: v.to_dict() for k, v in result.stages.items()}, "stage_definitions.json")
    mlflow.log_dict(result.feature_importance, "feature_importance.json")
    figs = figures.all_figures(result.holdout_label, result.holdout_probability,
                               result.baseline_probability, result.feature_importance)
    try:
        for name, fig in figs.items():
            mlflow.log_figure(fig, f"figures/{name}")
    finally:
        figures.close(figs)


def _print_summary(console: Console, spec_name, model_name, version, result, best, decision, cleaning, examples,
                   metric: str, logged: dict | None = None, sample=None) -> None:
    names = {"lightgbm": "LightGBM", "logistic": "logistic, the baseline",
             "blend": (f"blend, {result.candidates['blend'].bundle.booster.weight:g} x LightGBM"
                       if "blend" in result.candidates else "blend")}
    plan = result.data_plan
    if plan is not None and plan.reason:
        console.print(f"[bold]candidates[/]: {plan.reason}", soft_wrap=True, highlight=False)
    table = Table(title=f"leadscore train: {spec_name}, {model_name} version {version}", show_lines=False)
    table.add_column("holdout metric (calibrated)")
    for name in result.candidates:
        table.add_column(names[name] + (" (chosen)" if name == result.chosen else ""), justify="right")
    candidates = list(result.candidates.values())
    table.add_row(f"{metric}, out of fold (chooses)" if "out-of-fold" in result.calibrated_on
                  else f"validation {metric} (chooses)", *(f"{c.validation_score:.4f}" for c in candidates))
    for key, label in [("roc_auc", "ROC-AUC"), ("pr_auc", "PR-AUC"), ("log_loss", "log loss"),
                       ("brier", "Brier score"), ("ece", "expected calibration error"),
                       ("lift_top10", "lift, top 10%"), ("captured_top10", "buyers in top 10%"),
                       ("lift_top20", "lift, top 20%"), ("captured_top20", "buyers in top 20%")]:
        table.add_row(label, *(f"{c.holdout_metrics[key]:.4f}" for c in candidates))
    if result.trials:
        best_trial = max(result.trials, key=lambda t: t.validation_roc_auc)
        console.print(f"tuning: {len(result.trials)} trials, best validation ROC-AUC {best_trial.validation_roc_auc:.4f} "
                      f"with {best_trial.params}")
    if best is not None:
        table.add_row("best achievable ROC-AUC (truth)", f"{best:.4f}")
        table.add_row("gap to best (chosen model)", f"{best - result.metrics['roc_auc']:.4f}")
    console.print(table)
    split = result.split
    n_training = len(np.unique(examples.lead_of[split.training]))
    console.print(f"training: {len(split.fit) + len(split.validation):,} examples of {n_training:,} leads "
                  f"({len(split.fit):,} fit, {len(split.validation):,} validation); holdout: the "
                  f"{len(split.holdout):,} most recent leads, each counted once"
                  + (f" (at its last snapshot up to {examples_age(examples)} days)" if examples.age_days is not None
                     else ""))
    if sample is not None:
        console.print(f"  sample: {sample.words()}; it holds {result.data_plan.counts.words()}", highlight=False,
                      soft_wrap=True)
    for line in examples.lines():
        console.print(f"  {line}", highlight=False)
    if logged:
        console.print(f"  {logged_line(logged)}", highlight=False, soft_wrap=True)
    for warning in examples.warnings():
        console.print(f"[bold yellow]warning[/]: {warning}", soft_wrap=True)
    _print_calibration(console, result)
    from features.ideal_customer import conversion_words
    from training.sub_scores import sub_score_lines

    if result.bundle.sub_scores is not None:
        for line in sub_score_lines(result.bundle.sub_scores):
            console.print(line, highlight=False, soft_wrap=True)
    if result.ideal_customer is not None:
        console.print(conversion_words(result.ideal_customer), highlight=False, soft_wrap=True)
    for line in cleaning.lines():
        console.print(f"cleaning: {line}")
    flagged = [f for f in result.leakage if f.flagged and not f.after_contact and not f.allowed]
    if flagged:
        console.print("[bold yellow]leakage warning[/]: these features alone predict the outcome suspiciously well: "
                      + ", ".join(f"{f.column} (AUC {max(f.auc, np.nan_to_num(f.auc_where_filled)):.3f})" for f in flagged)
                      + "; mark them as after_contact in the spec if sales fill them in")
    allowed = [f for f in result.leakage if f.flagged and f.allowed]
    if allowed:
        console.print("kept as features although they predict the outcome suspiciously well (allow_leaky): "
                      + ", ".join(f"{f.column} (AUC {max(f.auc, np.nan_to_num(f.auc_where_filled)):.3f})" for f in allowed))
    excluded = [f for f in result.leakage if f.after_contact]
    if excluded:
        console.print("after-contact columns, excluded from the model (single-column ROC-AUC; flagged = would leak): "
                      + ", ".join(f"{f.column} {max(f.auc, np.nan_to_num(f.auc_where_filled)):.3f}"
                                  + (" [bold red]flagged[/]" if f.flagged else "") for f in excluded))
    console.print("[bold]Stage definitions[/] (holdout):")
    for stage in result.stages.values():
        console.print(f"  {stage.words()}")
    console.print(f"[bold]Champion decision[/] ({model_name} version {version}): {decision.summary}", soft_wrap=True)
    for gate in decision.gates:
        console.print(f"  {gate.line()}", soft_wrap=True, highlight=False)


def examples_age(examples) -> str:
    """The evaluation age of the examples' snapshots, for the summary ("30")."""
    ages = examples.age_days[examples.is_evaluated]
    return f"{float(np.max(ages)):g}" if len(ages) else "?"


def _print_calibration(console: Console, result) -> None:
    """What the calibration learnt from, the holdout's reliability table and its figures at
    every snapshot age."""
    console.print(f"calibration: {result.config.calibration if result.config else ''} on {result.calibrated_on}; "
                  f"holdout expected calibration error {result.metrics['ece']:.4f}", highlight=False)
    if result.reliability:
        table = Table(title="reliability on the holdout (chosen model, equal-count bins)", title_justify="left")
        for col in ("leads", "mean probability", "bought"):
            table.add_column(col, justify="right")
        for b in result.reliability:
            table.add_row(f"{b['n']:,}", f"{b['mean_probability']:.3f}", f"{b['won_rate']:.3f}")
        console.print(table)
    if result.holdout_by_age:
        table = Table(title="holdout at every snapshot age (chosen model; each age counts the leads open then)",
                      title_justify="left")
        for col in ("age (days)", "leads", "bought", "mean probability", "ROC-AUC", "ECE"):
            table.add_column(col, justify="right")
        for a in result.holdout_by_age:
            table.add_row("drawn at random" if a["age_days"] is None else f"{a['age_days']:g}", f"{a['n']:,}", f"{a['won_rate']:.3f}", f"{a['mean_probability']:.3f}",
                          "" if a["roc_auc"] is None else f"{a['roc_auc']:.4f}", f"{a['ece']:.4f}")
        console.print(table)
