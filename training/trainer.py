"""From examples to a calibrated model: time split, three candidate models on the same features
(LightGBM with early stopping, the regularised logistic model that is also the baseline, and
their blend, features.blend), calibration on out-of-fold predictions, the best on them kept,
holdout evaluation of all three, stage thresholds and the leakage report.

Splits, oldest to newest, by lead (every snapshot of a lead on one side): `fit` (the older
training leads), `validation` (the most recent training leads: early stopping), `holdout` (the most recent leads overall: evaluation and stage thresholds). Nothing
is ever shuffled where dates exist. Figures that count leads (validation score, holdout metrics,
stages) take each lead once, at its evaluation snapshot (features.examples); the holdout's
figures at every snapshot age are reported besides (`holdout_by_age`).

Calibration and choice (training.calibration): each candidate is fitted again on all training
leads but one block of consecutive leads, for each of `calibration_folds` blocks in time order,
and predicts that block. The calibration maps these out-of-fold predictions over the whole
training window to what happened; calibrating on the last slice only follows whatever base
rate that slice had (a season), and the holdout may have another. The candidates are compared
on the same predictions, every snapshot of every training lead: the one that ranks leads of
every age best, over the whole window, is kept (the validation slice alone is a fifth of that,
at one age).

How much data there is decides first (training.minimum_data): too few won or lost leads refuse
before anything is fitted; below 1,000 leads only the logistic model is trained (no LightGBM,
no blend, no tuning), and the result says why (`data_plan`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from features.blend import BlendModel, blend_probabilities
from features.bundle import ModelBundle
from features.examples import Examples
from features.ideal_customer import IdealCustomer
from features.leakage import LeakageFinding, training_leakage
from features.metrics import roc_auc
from features.spec import DatasetSpec
from features.transform import LeadTransform
from training.calibration import fit_calibration, out_of_fold
from training.config import TrainingConfig
from features.metrics import reliability_table
from training.evaluation import evaluate, figures_by_age, shortfall
from training.logistic import fit_logistic
from training.minimum_data import DataPlan, examples_plan
from training.stages import StageDefinition, stage_thresholds


REFIT_AUTO_LIMIT = 250_000
"""Training examples (snapshots) below which `refit_full: auto` refits on all of them: the
refit costs as much as the fit again, and above this the most recent slice adds little."""
IMPORTANCE_ROWS = 10_000
"""Most training examples the logistic or blend model's importance (the mean size of each
feature's contribution) is averaged over (`importance_rows`)."""
CANDIDATES = ("lightgbm", "logistic", "blend")


@dataclass
class Split:
    """Row positions of the examples. fit and validation: every snapshot of their leads;
    holdout: one row per holdout lead, its evaluation snapshot (holdout_snapshots: all)."""

    fit: np.ndarray
    validation: np.ndarray
    holdout: np.ndarray
    holdout_snapshots: np.ndarray | None = None
    validation_evaluated: np.ndarray | None = None  # one row per validation lead

    @property
    def training(self) -> np.ndarray:
        return np.r_[self.fit, self.validation]


@dataclass
class Candidate:
    """One candidate model, calibrated, with its scores."""

    name: str  # lightgbm | logistic | blend
    bundle: ModelBundle
    validation_score: float  # the promotion metric on its held-out predictions (out of fold), before calibration
    holdout_metrics: dict[str, float]
    holdout_probability: np.ndarray
    eligible: bool  # listed under `candidates` in the config


@dataclass
class TrainingResult:
    bundle: ModelBundle  # the chosen candidate's
    metrics: dict[str, float]  # holdout metrics of the chosen, calibrated model
    baseline_metrics: dict[str, float]  # the logistic model on the same features and holdout
    validation_metrics: dict[str, float]
    stages: dict[str, StageDefinition]
    leakage: list[LeakageFinding]
    split: Split
    holdout_probability: np.ndarray
    baseline_probability: np.ndarray
    holdout_label: np.ndarray
    holdout_ids: np.ndarray
    feature_importance: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)
    best_iteration: int = 0
    trials: list = field(default_factory=list)
    config: TrainingConfig | None = None  # the settings used (after tuning, if any)
    candidates: dict[str, Candidate] = field(default_factory=dict)
    chosen: str = "lightgbm"
    reliability: list[dict] = field(default_factory=list)  # the chosen model on the holdout, by bin
    holdout_by_age: list[dict] = field(default_factory=list)  # the chosen model at every snapshot age
    calibrated_on: str = ""  # what the calibration learnt from, in words
    data_plan: DataPlan | None = None  # what the amount of data allowed (training.minimum_data)
    ideal_customer: dict | None = None  # how leads matching the spec's ideal customer converted
    lead_share: float = 1.0  # the share of the export's leads trained on (a sample: below 1, training.minimum_data)


def split_examples(examples: Examples, holdout_fraction: float, validation_fraction: float) -> Split:
    older, holdout = examples.split_by_time(holdout_fraction)
    fit, validation = examples.split_by_time(validation_fraction, rows=older)
    counted = examples.is_evaluated
    return Split(fit=fit, validation=validation, holdout=holdout[counted[holdout]], holdout_snapshots=holdout,
                 validation_evaluated=validation[counted[validation]])


SLICES = {"fit": "the older training leads", "validation": "the most recent training leads",
          "holdout": "the most recent leads overall"}


def _check_classes(label: np.ndarray, where: str, plan: DataPlan) -> None:
    """Refuse a slice of the time split that holds only won or only lost examples, with the
    counts: the whole history passed the minimum (training.minimum_data), but the split cuts it
    by time and each slice needs both."""
    won = int(label.sum())
    if won == 0 or won == len(label):
        from features.errors import DataError

        lacking = "won" if won == 0 else "lost"
        raise DataError(f"the {where} slice ({SLICES[where]}) has no {lacking} lead: {len(label):,} examples, all "
                        f"{'lost' if won == 0 else 'won'}, while the history has {plan.counts.words()}; each slice of "
                        f"the time split needs both, and the {lacking} deals all fell elsewhere. Add older closed "
                        "deals to the export, or wait for more deals to close")


def _classifier(config: TrainingConfig, transform: LeadTransform, n_features: int, trees: int):
    """The LightGBM classifier of the config. Histograms are built column-wise (force_col_wise):
    left to choose, LightGBM sometimes takes its row-wise layout here, which copies the sampled
    columns (colsample_bytree) out of it before every tree: a third of a 100,000-lead training's
    time in a profile (py-spy). Measured on the 100,000-lead demo CRM (configs/demo.yaml,
    566,258 examples, 2026-12-03): the early-stopping fit 27.2 s -> 23.3 s, a refit of 875 trees
    28.9 s -> 20.5 s, the same trees chosen and the same holdout ROC-AUC (0.81322)."""
    import lightgbm as lgb

    params = config.model
    monotone = transform.monotone_constraints if params.monotone_activity else [0] * n_features
    return lgb.LGBMClassifier(
        n_estimators=trees, learning_rate=params.learning_rate, num_leaves=params.num_leaves,
        min_child_samples=params.min_child_samples, colsample_bytree=params.colsample_bytree,
        subsample=params.subsample, subsample_freq=1, reg_lambda=params.reg_lambda,
        cat_smooth=params.cat_smooth, cat_l2=params.cat_smooth, monotone_constraints=monotone,
        monotone_constraints_method="intermediate", n_jobs=params.n_jobs, random_state=params.seed,
        force_col_wise=True, verbose=-1)


def fit_lightgbm(X: np.ndarray, y: np.ndarray, split: Split, transform: LeadTransform,
                 config: TrainingConfig):
    import lightgbm as lgb

    model = _classifier(config, transform, X.shape[1], config.model.max_trees)
    model.fit(X[split.fit], y[split.fit], eval_X=(X[split.validation],), eval_y=(y[split.validation],),
              eval_metric="binary_logloss", categorical_feature=transform.categorical_indices or "auto",
              feature_name=[_safe(n) for n in transform.names],
              callbacks=[lgb.early_stopping(config.model.early_stopping_rounds, verbose=False)])
    return model


def refit_lightgbm(X: np.ndarray, y: np.ndarray, rows: np.ndarray, transform: LeadTransform,
                   config: TrainingConfig, trees: int):
    model = _classifier(config, transform, X.shape[1], trees)
    model.fit(X[rows], y[rows], categorical_feature=transform.categorical_indices or "auto",
              feature_name=[_safe(n) for n in transform.names])
    return model.booster_


@dataclass(frozen=True)
class LightGBMFitting:
    """Where the LightGBM candidates are fitted. The default fits them in this process
    (fit_lightgbm, refit_lightgbm); training.dask_trainer gives one that fits them on a Dask
    cluster. Everything else train_model does is the same whichever is used.

    fit(X, y, split, transform, config) -> a fitted model with `booster_` and `best_iteration_`
    (the trees early stopping chose on the validation slice); refit(X, y, rows, transform,
    config, trees) -> a Booster of `trees` trees learnt from `rows`; examples(rows) -> how many
    examples a fit naming `rows` learns from (after the first fit: on a cluster that learns from
    every lead, more than len(rows)), what the tree counts and `refit_full: auto` go by."""

    fit: Callable = fit_lightgbm
    refit: Callable = refit_lightgbm
    examples: Callable = len


def fit_baseline(X: np.ndarray, y: np.ndarray, rows: np.ndarray, transform: LeadTransform,
                 config: TrainingConfig):
    """The regularised logistic model on the given rows (training.logistic), with the same
    monotone constraints as LightGBM."""
    n_features = X.shape[1]
    monotone = transform.monotone_constraints if config.model.monotone_activity else [0] * n_features
    categories = {i: len(transform.category_codes[c]) for i, c in zip(transform.categorical_indices,
                                                                       transform.categorical)}
    logged = frozenset(i for i, f in enumerate(transform.features) if f.kind in LOGGED_KINDS)
    return fit_logistic(X[rows], y[rows], categories, monotone, c=config.logistic.c,
                        max_iterations=config.logistic.max_iterations, logged=logged)


LOGGED_KINDS = ("count", "total", "days_since_last", "days_since_high_intent", "lead_age")
"""Inputs the logistic model reads as log(1 + x): counts and numbers of days, never negative,
whose effect flattens as they grow (the tenth visit says less than the first). Chosen after a
one-off comparison on the 20,000-lead demo CRM (seed 7, configs/demo.yaml) ranked the holdout
better with it; benchmarks/train_model.py prints the logistic model's figures as they are now."""


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def train_model(spec: DatasetSpec, examples: Examples, activities: pd.DataFrame | None,
                config: TrainingConfig, step: Callable[[str], None] = lambda _: None,
                tune_trials: int = 0, on_trial: Callable | None = None,
                lightgbm: LightGBMFitting = LightGBMFitting(), activity_types=None) -> TrainingResult:
    """Train the candidates on `examples` (see the module docstring). activities: the canonical
    activities of their leads (or more); activity_types: the export's activity types when
    `activities` holds only the examples' leads' rows (features.transform.LeadTransform.fit)."""
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now
        step(name)

    # Enough won and lost leads, and which candidates they allow: before anything is fitted.
    plan = examples_plan(examples)
    plan.raise_if_refused()
    trained = plan.candidates or CANDIDATES  # the candidates fitted (all three, or logistic only)
    if plan.candidates:
        config = config.model_copy(update={"candidates": list(plan.candidates)})
        tune_trials = 0  # tuning tunes LightGBM, not trained here

    split = split_examples(examples, spec.holdout_fraction, config.validation_fraction)
    y = examples.label.astype(int)
    for name in ("fit", "validation", "holdout"):
        _check_classes(y[getattr(split, name)], name, plan)

    training_rows = split.training
    # Category codes count leads, not snapshots: each training lead once.
    once = training_rows[examples.is_evaluated[training_rows]]
    transform = LeadTransform.fit(spec, examples.leads.iloc[once], activities, min_category_count=config.min_category_count,
                                  activity_types=activity_types)
    X = transform.transform_frame(examples.leads, activities, examples.as_of)
    transform.learn_missing(X[once], y[once])  # leads, not snapshots: each counted once
    ideal = IdealCustomer.of(spec, transform)  # matched before missing values are filled in
    counted_once = examples.is_evaluated  # every lead with an outcome, once
    ideal_figures = ideal.conversion(X[counted_once], y[counted_once]) if ideal is not None else None
    X = transform.model_input(X)  # what every candidate learns from and is scored on
    lap("features")

    trials = []
    if tune_trials > 1:
        from training.tuning import tune

        config, trials = tune(X, y, split, transform, config, tune_trials, fit=lightgbm.fit, on_trial=on_trial)
        lap("tuning")

    booster, best = None, 0
    if "lightgbm" in trained:
        model = lightgbm.fit(X, y, split, transform, config)
        booster = model.booster_
        best = int(model.best_iteration_ or booster.current_iteration())
        lap("lightgbm")

    logistic = fit_baseline(X, y, split.fit, transform, config)
    lap("logistic")

    # Predictions of leads each candidate did not see (out of fold, over the whole window, or the
    # validation slice) calibrate it and choose between the two, every snapshot counted: the
    # candidate that ranks leads of every age best is kept.
    raw, rows, calibrated_on = held_out_predictions(examples, X, y, split, transform, config, best, booster,
                                                     logistic, refit=lightgbm.refit, learnt_from=lightgbm.examples)
    if "blend" in trained:
        blend_weight = choose_blend_weight(raw, y[rows], config.promotion.metric)
        raw["blend"] = blend_probabilities(raw["lightgbm"], raw["logistic"], blend_weight)
    calibration = {name: fit_calibration(config.calibration, p, y[rows]) for name, p in raw.items()}
    metric = config.promotion.metric
    validation_score = {name: evaluate(y[rows], p)[metric] for name, p in raw.items()}
    counted = split.validation_evaluated
    lap("calibration")

    from training.sub_scores import fit_sub_scores

    sub_scores = fit_sub_scores(examples, X, y, split, transform, config)
    lap("sub-scores")

    learnt_from = lightgbm.examples if booster is not None else len  # the examples LightGBM's fits see
    refit = config.refit_full if config.refit_full != "auto" else learnt_from(training_rows) < REFIT_AUTO_LIMIT
    if refit:
        # Early stopping and calibration told us how many trees and how to read their output;
        # the final models learn from every training example, the most recent included.
        final = {"logistic": fit_baseline(X, y, training_rows, transform, config)}
        if booster is not None:
            trees = _trees_for(best, learnt_from(training_rows), learnt_from(split.fit))
            final["lightgbm"] = lightgbm.refit(X, y, training_rows, transform, config, trees)
        lap("refit")
    else:
        # Keep only the trees early stopping chose, so every later caller scores the same model.
        final = {"logistic": logistic}
        if booster is not None:
            final["lightgbm"] = booster.__class__(model_str=booster.model_to_string(num_iteration=best))
    if "blend" in trained:
        final["blend"] = BlendModel(final["lightgbm"], final["logistic"], blend_weight)
    candidates: dict[str, Candidate] = {}
    for name in (n for n in CANDIDATES if n in trained):
        candidate_bundle = ModelBundle(transform=transform, booster=final[name], calibration=calibration[name],
                                       stages={})
        p = candidate_bundle.predict_proba(X[split.holdout])
        candidates[name] = Candidate(name, candidate_bundle, validation_score[name], evaluate(y[split.holdout], p),
                                     p, name in config.candidates)
    chosen = choose_candidate(candidates, config.candidates, metric)
    bundle = candidates[chosen].bundle
    bundle.sub_scores = sub_scores
    p_holdout = candidates[chosen].holdout_probability
    metrics = candidates[chosen].holdout_metrics
    validation_metrics = evaluate(y[counted], bundle.predict_proba(X[counted]))
    p_baseline = candidates["logistic"].holdout_probability
    baseline_metrics = candidates["logistic"].holdout_metrics

    order_ns = examples.order[split.holdout] if examples.as_of is not None else None
    stages = stage_thresholds(config.stages, y[split.holdout], p_holdout, order_ns, examples.lead_share)
    bundle.stages = {k: v.to_dict() for k, v in stages.items()}
    by_age = []
    if examples.age_days is not None and split.holdout_snapshots is not None:
        p_all = np.full(len(y), np.nan)
        p_all[split.holdout_snapshots] = bundle.predict_proba(X[split.holdout_snapshots])
        by_age = figures_by_age(y, p_all, examples.age_groups(split.holdout_snapshots))
    lap("stages")

    leakage = training_leakage(spec, examples, activities, config.leakage_auc, rows=training_rows,
                               transform=transform, X=X)
    lap("leakage")

    if chosen == "lightgbm":  # total gain of each feature's splits
        gains = booster.feature_importance(importance_type="gain")
    else:  # mean size of each feature's contribution to the log-odds
        gains = np.abs(bundle.contributions(X[importance_rows(training_rows)])[:, :-1]).mean(axis=0)
    importance = {n: float(g) for n, g in sorted(zip(transform.names, gains), key=lambda kv: -kv[1])}
    return TrainingResult(
        bundle=bundle, metrics=metrics, baseline_metrics=baseline_metrics,
        validation_metrics=validation_metrics, stages=stages, leakage=leakage, split=split,
        holdout_probability=p_holdout, baseline_probability=p_baseline, holdout_label=y[split.holdout],
        holdout_ids=examples.leads["lead_id"].to_numpy()[split.holdout],
        feature_importance=importance, timings=timings, best_iteration=best, trials=trials, config=config,
        candidates=candidates, chosen=chosen, reliability=reliability_table(y[split.holdout], p_holdout),
        holdout_by_age=by_age, calibrated_on=calibrated_on, data_plan=plan, ideal_customer=ideal_figures,
        lead_share=examples.lead_share)


def _trees_for(best: int, rows: int, fit_rows: int) -> int:
    """Trees for a model learning from `rows` examples, when early stopping chose `best` on
    `fit_rows`: proportionally more for more data."""
    return max(1, int(round(best * rows / max(fit_rows, 1))))


def importance_rows(rows: np.ndarray, most: int = IMPORTANCE_ROWS) -> np.ndarray:
    """At most `most` of the example indices `rows` (n,), evenly spaced through them in their
    order (the same every run), for the mean-contribution importance: the blend's contributions
    come from LightGBM's pred_contrib, whose time grows with every row. Measured on the tests'
    6,000-lead CRM (FAST_CONFIG, the blend chosen; 2026-12-03): all 27,286 training examples
    2.78 s, 10,000 of them 1.05 s, the same ten most important features in the same order, no
    feature's figure off by more than 0.5% of the largest. At that rate (about 9,800 rows/s,
    for a model of at most 300 trees) the ~6M examples of 1M leads would take 10 minutes; the
    demo model of 1,004 trees scores 3,620 rows/s per thread with pred_contrib (README)."""
    rows = np.asarray(rows)
    if len(rows) <= most:
        return rows
    return rows[np.linspace(0, len(rows) - 1, most).round().astype(np.int64)]


def held_out_predictions(examples: Examples, X: np.ndarray, y: np.ndarray, split: Split,
                         transform: LeadTransform, config: TrainingConfig, best: int, booster, logistic,
                         refit: Callable = refit_lightgbm, learnt_from: Callable = len):
    """Each candidate's raw predictions of training snapshots it did not learn from, which rows
    they are, and what they are in words: the calibration learns from them and the candidates
    are compared on them.

    out_of_fold (the default): the training leads in `calibration_folds` consecutive blocks in
    time; each candidate is fitted on all blocks but one, with as many trees as early stopping
    chose (scaled to the data), and predicts the block left out: every training snapshot, over
    the whole window. last_slice: the fit-slice models (booster with `best` trees, logistic)
    predicting the validation slice (the most recent training leads). Without a booster (too little data
    for LightGBM), the logistic model's alone. learnt_from(rows): how many examples a LightGBM fit
    naming `rows` learns from (LightGBMFitting.examples), which scales the tree counts."""
    training = split.training
    if config.calibration_window == "last_slice":
        rows = split.validation
        raw = {"logistic": logistic.predict(X[rows])}
        if booster is not None:
            raw["lightgbm"] = booster.predict(X[rows], num_iteration=best)
        words = f"the most recent training slice ({len(rows):,} snapshots)"
    else:
        rows = training
        folds = examples.time_folds(rows, config.calibration_folds)

        def lightgbm(train: np.ndarray, held: np.ndarray) -> np.ndarray:
            trees = _trees_for(best, learnt_from(rows[train]), learnt_from(split.fit))
            return refit(X, y, rows[train], transform, config, trees).predict(X[rows[held]])

        def logistic(train: np.ndarray, held: np.ndarray) -> np.ndarray:
            return fit_baseline(X, y, rows[train], transform, config).predict(X[rows[held]])

        raw = {"logistic": out_of_fold(folds, logistic)}
        if booster is not None:
            raw["lightgbm"] = out_of_fold(folds, lightgbm)
        words = (f"out-of-fold predictions of all {len(rows):,} training examples "
                 f"({config.calibration_folds} folds in time order)")
    return raw, rows, words


BLEND_WEIGHTS = (0.25, 0.5, 0.75)
"""Weights of the LightGBM part of the blend tried out of fold (features.blend)."""


def choose_blend_weight(raw: dict[str, np.ndarray], label: np.ndarray, metric: str) -> float:
    """The weight of BLEND_WEIGHTS whose blend of the held-out predictions scores best on
    `metric`; on a tie, the first listed."""
    best, best_score = BLEND_WEIGHTS[0], None
    for weight in BLEND_WEIGHTS:
        score = evaluate(label, blend_probabilities(raw["lightgbm"], raw["logistic"], weight))[metric]
        if best_score is None or shortfall(metric, score, best_score) < 0:
            best, best_score = weight, score
    return best


def choose_candidate(candidates: dict[str, Candidate], eligible: list[str], metric: str) -> str:
    """The eligible candidate with the best held-out score; on a tie, the one listed first."""
    best = eligible[0]
    for name in eligible[1:]:
        if shortfall(metric, candidates[name].validation_score, candidates[best].validation_score) < 0:
            best = name
    return best


def best_achievable(truth: pd.DataFrame, holdout_ids: np.ndarray, holdout_label: np.ndarray) -> float | None:
    """ROC-AUC of the true probability on the same holdout: the ceiling for any model."""
    p = pd.Series(truth["p_true"].to_numpy(), index=truth["lead_id"].astype(str)).reindex(holdout_ids)
    if p.isna().any():
        return None
    return roc_auc(holdout_label, p.to_numpy())
