"""Training configuration: YAML validated strictly, every field with a sensible default.

A config file only needs the keys it changes. Errors name the file, the key and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.errors import LeadscoreError


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


class PromotionRule(_Strict):
    """A new version becomes champion only if it is at least as good on the same holdout."""

    metric: Literal["roc_auc", "pr_auc"] = "roc_auc"
    max_drop: float = Field(0.005, ge=0, description="Largest drop from the champion's score still accepted.")


class TrainingConfig(_Strict):
    validation_fraction: float = Field(0.2, gt=0, lt=1, description="Most recent share of the training "
                                       "examples used for early stopping and calibration.")
    calibration: Literal["isotonic", "sigmoid"] = "isotonic"
    refit_full: bool | Literal["auto"] = Field(
        "auto", description="After early stopping, refit on fit + validation examples with "
        "proportionally more trees. auto: only below 250,000 training examples, where the most "
        "recent slice still adds something and the refit is cheap.")
    min_category_count: int = Field(10, ge=1, description="Rarer category values are pooled as (other).")
    leakage_auc: float = Field(0.95, gt=0.5, le=1)
    model: ModelParams = Field(default_factory=ModelParams)
    stages: StagePolicy = Field(default_factory=StagePolicy)
    promotion: PromotionRule = Field(default_factory=PromotionRule)
    experiment: str = "leadscore"


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
                lines.append(f"  - key `{key}`: {item['msg']}")
        raise ConfigError("\n".join(lines)) from None
