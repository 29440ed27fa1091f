"""Hyperparameter search: random trials scored on the validation slice, never the holdout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.config import TrainingConfig


@dataclass(frozen=True)
class Trial:
    number: int
    params: dict
    validation_roc_auc: float
    validation_log_loss: float
    trees: int


def sample_params(rng: np.random.Generator) -> dict:
    return {
        "learning_rate": float(np.exp(rng.uniform(np.log(0.02), np.log(0.1)))),
        "num_leaves": int(rng.choice([4, 7, 15, 31])),
        "min_child_samples": int(rng.choice([20, 50, 100, 200])),
        "colsample_bytree": float(rng.uniform(0.5, 1.0)),
        "reg_lambda": float(rng.choice([0.0, 1.0, 5.0, 10.0])),
        "cat_smooth": float(rng.choice([5.0, 10.0, 30.0, 50.0])),
    }


def tune(X, y, split, transform, config: TrainingConfig, trials: int,
         fit=None, on_trial=None) -> tuple[TrainingConfig, list[Trial]]:
    """Try `trials` random settings (the configured ones first); return the config with the
    best validation ROC-AUC and every trial, for the run's nested records."""
    from sklearn.metrics import log_loss

    from features.metrics import roc_auc
    from training.trainer import fit_lightgbm

    fit = fit or fit_lightgbm
    rng = np.random.default_rng(config.model.seed)
    candidates = [config.model.model_dump()] + [{**config.model.model_dump(), **sample_params(rng)}
                                                 for _ in range(max(trials - 1, 0))]
    results: list[Trial] = []
    for number, params in enumerate(candidates[:trials], start=1):
        trial_config = config.model_copy(update={"model": config.model.model_validate(params)})
        model = fit(X, y, split, transform, trial_config)
        p = model.booster_.predict(X[split.validation], num_iteration=model.best_iteration_ or None)
        trial = Trial(number, {k: params[k] for k in ("learning_rate", "num_leaves", "min_child_samples",
                                                        "colsample_bytree", "reg_lambda", "cat_smooth")},
                      roc_auc(y[split.validation], p),
                      float(log_loss(y[split.validation], np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
                      int(model.best_iteration_ or model.n_estimators))
        results.append(trial)
        if on_trial:
            on_trial(trial)
    best = max(results, key=lambda t: (t.validation_roc_auc, -t.validation_log_loss))
    tuned = config.model_copy(update={"model": config.model.model_validate({**config.model.model_dump(), **best.params})})
    return tuned, results
