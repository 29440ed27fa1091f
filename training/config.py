"""Training configuration: YAML validated strictly, every field with a sensible default.

A config file only needs the keys it changes. Errors name the file, the key and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.errors import LeadscoreError
from training.minimum_data import AUTO_MAX_LEADS


class ConfigError(LeadscoreError, ValueError):
    """A training config that cannot be used."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelParams(_Strict):
    """LightGBM through its scikit-learn API; early stopping on the validation slice."""

    learning_rate: float = Field(0.05, gt=0, le=1)
    num_leaves: int = Field(15, ge=2)
    min_child_samples: int = Field(50, ge=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    subsample: float = Field(0.8, gt=0, le=1)
    reg_lambda: float = Field(1.0, ge=0)
    cat_smooth: float = Field(10.0, ge=0)
    max_trees: int = Field(2000, ge=1)
    early_stopping_rounds: int = Field(100, ge=1)
    monotone_activity: bool = Field(True, description="More engagement never lowers a score.")
    n_jobs: int = Field(2, ge=1)
    seed: int = 7


class SqlPolicy(_Strict):
    """How the SQL threshold is chosen on the holdout."""

    rule: Literal["min_precision", "capacity_share", "capacity_per_week", "expected_value"] = "min_precision"
    min_precision: float | None = Field(0.5, gt=0, le=1, description="Share of SQLs that must buy.")
    capacity_share: float | None = Field(None, gt=0, le=1, description="Share of leads sales can take.")
    leads_per_week: float | None = Field(None, gt=0, description="Leads sales can contact per week.")
    deal_value: float | None = Field(None, gt=0, description="Value of a won deal.")
    contact_cost: float | None = Field(None, gt=0, description="Cost of one sales contact.")

    @model_validator(mode="after")
    def _needs(self):
        _require(self.rule, {"min_precision": ["min_precision"], "capacity_share": ["capacity_share"],
                             "capacity_per_week": ["leads_per_week"],
                             "expected_value": ["deal_value", "contact_cost"]}, self, "stages.sql")
        return self


class MqlPolicy(_Strict):
    rule: Literal["min_recall", "capacity_share", "capacity_per_week"] = "min_recall"
    min_recall: float | None = Field(0.8, gt=0, le=1, description="Share of buyers that must be MQL or better.")
    capacity_share: float | None = Field(None, gt=0, le=1)
    leads_per_week: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _needs(self):
        _require(self.rule, {"min_recall": ["min_recall"], "capacity_share": ["capacity_share"],
                             "capacity_per_week": ["leads_per_week"]}, self, "stages.mql")
        return self


def _require(rule: str, needs: dict[str, list[str]], policy: BaseModel, where: str) -> None:
    for key in needs[rule]:
        if getattr(policy, key) is None:
            raise ValueError(f"{where}.rule is {rule!r}, which needs {where}.{key}: add it")


class StagePolicy(_Strict):
    sql: SqlPolicy = Field(default_factory=SqlPolicy)
    mql: MqlPolicy = Field(default_factory=MqlPolicy)
    min_stage_leads: int = Field(20, ge=1, description="A stage must hold at least this many holdout leads.")


Metric = Literal["roc_auc", "pr_auc", "log_loss", "brier"]


class PromotionRule(_Strict):
    """The gates a new version passes to become champion, the first one included (see
    training.promotion): no leaking feature, better than chance, not below the logistic
    baseline, calibrated, and at least as good as the current champion on the same holdout."""

    metric: Metric = Field("roc_auc", description="Holdout metric that picks the candidate model (on "
                           "validation) and compares with the baseline and the champion: roc_auc, "
                           "pr_auc (higher is better), log_loss, brier (lower is better).")
    max_drop: float = Field(0.005, ge=0, description="Largest shortfall against the current champion's "
                            "score on the same holdout still accepted, in units of `metric`.")
    max_baseline_drop: float = Field(0.005, ge=0, description="Largest shortfall against the logistic "
                                     "baseline on the holdout still accepted, in units of `metric`.")
    max_ece: float = Field(0.03, gt=0, le=1, description="Largest expected calibration error accepted "
                           "on the holdout.")
    bootstrap_resamples: int = Field(500, ge=100, le=10_000, description="Resamples of the holdout for "
                                     "the 95% interval of its ROC-AUC (the better-than-chance gate).")
    bootstrap_seed: int = Field(7, description="Seed of the resampling: the same data gives the same interval.")


class LogisticParams(_Strict):
    """The regularised logistic model: the baseline, and a candidate when it does better."""

    c: float = Field(1.0, gt=0, description="Inverse regularisation strength (as scikit-learn's C).")
    max_iterations: int = Field(500, ge=10)


MIN_SAMPLE_LEADS = 10_000
"""The smallest `max_leads`: a sample exists to save time on large data, and a smaller one makes
the gates measure the sample's noise (a breaker's 1,000-lead sample of a 3,249-lead CRM flagged
a column as leaking, at ROC-AUC 0.594, and failed the calibration gate on a 200-lead holdout,
where every lead passed both)."""


class TrainingConfig(_Strict):
    validation_fraction: float = Field(0.2, gt=0, lt=1, description="Most recent share of the training "
                                       "leads used for early stopping and to choose the candidate model "
                                       "(and to calibrate, with calibration_window: last_slice).")
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    calibration_window: Literal["out_of_fold", "last_slice"] = Field(
        "out_of_fold", description="What the calibration learns from. out_of_fold: predictions of every "
        "training lead by models that did not see it (calibration_folds blocks of leads in time order), over "
        "the whole training window; last_slice: the validation slice only (the most recent training leads), "
        "which copies that slice's won rate, a season's say.")
    calibration_folds: int = Field(5, ge=2, le=20, description="Blocks of training leads, in time order, "
                                   "for out-of-fold calibration: each is predicted by models fitted on the others.")
    refit_full: bool | Literal["auto"] = Field(
        "auto", description="After early stopping, refit on fit + validation examples with "
        "proportionally more trees. auto: only below 250,000 training examples (snapshots), where the most "
        "recent slice still adds something and the refit is cheap.")
    max_leads: int | None | Literal["auto"] = Field(
        "auto", description="Leads with an outcome trained on, at most: above it, a random sample of this many "
        "over the whole window (drawn from a hash of each lead's id: the same leads in every run on the same export). "
        f"auto: {AUTO_MAX_LEADS:,}; null: every lead. With --dask it bounds what the client fits (the logistic "
        "model, calibration, holdout, stages and gates), while LightGBM learns from every lead on the workers. "
        f"The minimum is {MIN_SAMPLE_LEADS:,}.")
    min_category_count: int = Field(10, ge=1, description="Rarer category values are pooled as (other).")
    leakage_auc: float = Field(0.95, gt=0.5, le=1)
    model: ModelParams = Field(default_factory=ModelParams)
    logistic: LogisticParams = Field(default_factory=LogisticParams)
    candidates: list[Literal["lightgbm", "logistic", "blend"]] = Field(
        default_factory=lambda: ["lightgbm", "logistic", "blend"], min_length=1,
        description="Models that may be chosen; the one with the best held-out `promotion.metric` wins "
        "(all three are fitted and reported either way: the logistic model is the baseline, the blend "
        "averages the log-odds of the other two, features.blend).")
    stages: StagePolicy = Field(default_factory=StagePolicy)
    promotion: PromotionRule = Field(default_factory=PromotionRule)
    experiment: str = "leadscore"

    @field_validator("max_leads", mode="before")
    @classmethod
    def _whole_leads(cls, value):
        if value is None or value == "auto" or (isinstance(value, int) and not isinstance(value, bool)
                                                 and value >= MIN_SAMPLE_LEADS):
            return value
        raise ValueError(f"{value!r} is not a number of leads of at least {MIN_SAMPLE_LEADS:,}, auto or null")


def with_leakage_auc(config: TrainingConfig, value: float, where: str) -> TrainingConfig:
    """`config` with leakage_auc set to `value`, checked by the config's own rule; ConfigError
    naming `where` (an option) when it breaks it."""
    try:
        return TrainingConfig.model_validate({**config.model_dump(), "leakage_auc": value})
    except ValidationError as exc:
        raise ConfigError(f"{where} {value:g}: {exc.errors()[0]['msg'].lower()}") from None


def load_config(path: str | Path | None) -> TrainingConfig:
    if path is None:
        return TrainingConfig()
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such training config; see configs/ for examples")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    try:
        return TrainingConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{path}: the training config is not valid:"]
        for item in exc.errors():
            key = ".".join(str(p) for p in item["loc"]) or "(top level)"
            if item["type"] == "extra_forbidden":
                lines.append(f"  - key `{key}` is not a config key: remove it or fix its spelling")
            else:
                lines.append(f"  - key `{key}`: {item['msg'].removeprefix('Value error, ')}")
        raise ConfigError("\n".join(lines)) from None
