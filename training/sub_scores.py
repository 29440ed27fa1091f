"""Training the fit and intent sub-scores (features.sub_scores defines and scores them).

Each is the regularised logistic model (training.logistic, the same fit and monotone
constraints as the baseline) on its own columns of the transform's rows:

- fit on the profile columns, one row per training lead (its evaluation snapshot: a lead's
  profile is the same at every age, so more snapshots would only repeat it);
- intent on the activity columns, also one row per training lead, of the leads the company can
  sell to (a not-a-fit lead's activity says nothing of buying from us: it is left out, and
  scored as none). One row per lead, at the evaluation age, rather than every snapshot: the
  intent model does not read the lead's age, so it can be calibrated at one age only, and the
  evaluation age is where the holdout, the stages and the main model's figures are measured.
  On the 6,000-lead test CRM (seed 11) the holdout's expected calibration error was 0.0245
  this way and 0.0686 trained on every snapshot (ROC-AUC 0.8006 and 0.7979). A younger lead's
  activity so far is read as that of a lead at the evaluation age (it has had less time to act).

Calibrated on out-of-fold predictions over the whole training window as the main model is
(training.calibration: `calibration_folds` blocks in time order), with a sigmoid
(`SUB_SCORE_CALIBRATION`), then fitted again on every training row. The grade cuts come from the training leads (one row each), the figures from
the holdout (each lead once, at its evaluation snapshot, as the main model's).
"""

from __future__ import annotations

import numpy as np

from features.examples import Examples
from features.linear import LinearModel
from features.metrics import expected_calibration_error, roc_auc
from features.sub_scores import SubScore, SubScores, fit_columns, intent_columns
from features.transform import LeadTransform
from training.calibration import fit_calibration, out_of_fold
from training.config import TrainingConfig
from training.logistic import fit_logistic
from training.trainer import LOGGED_KINDS, Split

SUB_SCORE_CALIBRATION = "sigmoid"
"""Sub-scores are calibrated with a sigmoid (Platt), whatever the main model's `calibration`:
isotonic calibration is a step function, and on the 6,000-lead test CRM its flat first step
read one form fill yesterday as intent 4 ("no activity that counts") and two pricing views
three weeks ago the same as one. A sigmoid keeps every difference of the logistic model's
log-odds (it is strictly increasing), which the grades need; the logistic model's own
probabilities are nearly calibrated already, so the two-parameter map loses little."""
FIT_QUANTILES = (0.75, 0.5, 0.25)
"""Fit A: at or above the training leads' 75th percentile of fit; B: the 50th; C: the 25th."""
INTENT_QUANTILES = (2 / 3, 1 / 3)
"""Intent 1 and 2: at or above these quantiles of the training leads whose activity raised
their intent above that of no activity."""


def fit_sub_scores(examples: Examples, X: np.ndarray, y: np.ndarray, split: Split, transform: LeadTransform,
                   config: TrainingConfig) -> SubScores:
    """Fit and intent from the examples' model rows X (n, features; `model_input` applied)
    and labels y (n,), on the training rows of `split`; figures on its holdout."""
    scores = SubScores(fit=None, intent=None).ready(transform)  # type: ignore[arg-type]
    training = split.training
    once = training[examples.is_evaluated[training]]  # each training lead once
    unfit = scores.not_a_fit(X)
    scores.fit = _fit_one("fit", fit_columns(transform), X, y, once, examples, transform, config)
    scores.fit.cuts = tuple(float(c) for c in np.quantile(scores.fit.probability(X[once]), FIT_QUANTILES))
    if unfit[once].any():
        scores.not_a_fit_won_rate = float(y[once][unfit[once]].mean())
    p = scores.fit_probability(X[split.holdout], unfit[split.holdout])
    scores.fit.figures = _figures(y[split.holdout], p, scores.fit_grades(p, unfit[split.holdout]))

    columns = intent_columns(transform)
    if columns:
        X_intent = scores.intent_input(X, unfit)
        rows = once[~unfit[once]]
        if not len(rows) or y[rows].min() == y[rows].max():
            from features.errors import DataError

            raise DataError(f"the intent sub-score needs won and lost leads the company can sell to; the "
                            f"{len(rows):,} training leads that are a fit (not leads.not_a_fit) have "
                            f"{int(y[rows].sum()) if len(rows) else 0:,} won")
        intent = scores.intent = _fit_one("intent", columns, X_intent, y, rows, examples, transform, config)
        none = np.zeros((1, X.shape[1]))
        none[0, scores.activity_start:] = scores.no_activity
        intent.floor = float(intent.probability(none)[0])
        p_once = intent.probability(X_intent[once[~unfit[once]]])
        active = p_once[p_once > intent.floor]
        intent.cuts = tuple(float(c) for c in np.quantile(active, INTENT_QUANTILES)) if len(active) else (1.0, 1.0)
        p = intent.probability(X_intent[split.holdout])
        intent.figures = _figures(y[split.holdout], p, scores.intent_grades(p, unfit[split.holdout]))
    return scores


def _fit_one(name: str, columns: list[int], X: np.ndarray, y: np.ndarray, rows: np.ndarray, examples: Examples,
             transform: LeadTransform, config: TrainingConfig) -> SubScore:
    """The logistic model of `columns` on `rows`, calibrated out of fold, widened to read full rows."""
    categorical = set(transform.categorical_indices)
    monotone = transform.monotone_constraints if config.model.monotone_activity else [0] * X.shape[1]
    categories = {k: len(transform.category_codes[transform.features[j].column])
                  for k, j in enumerate(columns) if j in categorical}
    logged = frozenset(k for k, j in enumerate(columns) if transform.features[j].kind in LOGGED_KINDS)
    own = X[:, columns]

    def fit(on: np.ndarray) -> LinearModel:
        return fit_logistic(own[on], y[on], categories, [monotone[j] for j in columns], c=config.logistic.c,
                            max_iterations=config.logistic.max_iterations, logged=logged)

    folds = examples.time_folds(rows, config.calibration_folds)
    held_out = out_of_fold(folds, lambda train, held: fit(rows[train]).predict(own[rows[held]]))
    calibration = fit_calibration(SUB_SCORE_CALIBRATION, held_out, y[rows])
    return SubScore(name, _widened(fit(rows), columns, X.shape[1]), calibration, cuts=())


def _widened(model: LinearModel, columns: list[int], width: int) -> LinearModel:
    """`model`, fitted on X[:, columns], as a model of full rows: the other columns weigh nothing."""
    means = [0.0] * width
    for k, j in enumerate(columns):
        means[j] = model.term_means[k]
    return LinearModel(width, model.intercept, {columns[k]: w for k, w in model.categories.items()},
                       {columns[k]: t for k, t in model.numbers.items()}, means)


def _figures(label: np.ndarray, probability: np.ndarray, grades: np.ndarray) -> dict:
    """Holdout ROC-AUC, ECE and, per grade, leads and won rate."""
    by_grade = {}
    for grade in sorted(set(grades.tolist())):
        at = grades == grade
        by_grade[grade] = {"leads": int(at.sum()), "won_rate": float(label[at].mean())}
    return {"holdout_roc_auc": roc_auc(label, probability), "holdout_ece": expected_calibration_error(label, probability),
            "holdout_leads": int(len(label)), "by_grade": by_grade}


def sub_score_lines(scores: SubScores) -> list[str]:
    """The sub-scores' holdout figures in words (training's summary): ROC-AUC, ECE, and per
    grade the share of leads and how many of them bought."""
    from features.metrics import percent

    lines = []
    for score in (scores.fit, scores.intent):
        if score is None:
            continue
        f = score.figures
        grades = ", ".join(f"{grade} {percent(g['leads'] / max(f['holdout_leads'], 1))} of leads, "
                           f"{percent(g['won_rate'])} bought" for grade, g in f["by_grade"].items())
        lines.append(f"{score.name} (holdout): ROC-AUC {f['holdout_roc_auc']:.4f}, expected calibration error "
                     f"{f['holdout_ece']:.4f}; {grades}")
    return lines
