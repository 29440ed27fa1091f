"""The model bundle: everything needed to score a lead, in one folder of plain files.

Training writes it; the service and batch scoring read it, with or without an MLflow server.

    bundle.json     format, model kind, calibration, stage definitions, model card
    booster.txt     the LightGBM model (its own text format), and/or
    linear_model.json  the logistic model (features.linear); both for the blend of the two
                    (features.blend; its weight in bundle.json)
    transform.json  the fitted LeadTransform
    profile.json    the training data's profile for validation (optional)
    spec.yaml       the dataset spec the model was trained with
    sub_scores.json the fit and intent sub-scores and their grade grid (features.sub_scores;
                    bundles trained before them have none)
    segments.json, segments/<n>/  the segment models, with the spec's `segment_by` (optional;
                    features.segment_models)

No pickles: a bundle written by one version of the code is readable by the next.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from features.errors import LeadscoreError
from features.linear import MODEL_FILE as LINEAR_MODEL_FILE
from features.blend import BlendModel
from features.linear import LinearModel
from features.transform import LeadTransform

BUNDLE_FORMAT = 1
STAGE_SQL, STAGE_MQL, STAGE_NONE = "SQL", "MQL", "not yet"


class BundleError(LeadscoreError):
    """A model bundle that is missing or unreadable."""


@dataclass(frozen=True)
class Calibration:
    """Maps the booster's probability to a calibrated one."""

    method: str  # isotonic | sigmoid | identity
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def apply(self, raw_probability: np.ndarray) -> np.ndarray:
        p = np.asarray(raw_probability, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(p, self.x, self.y)
        if self.method == "sigmoid":
            logit = np.log(np.clip(p, 1e-12, 1 - 1e-12) / np.clip(1 - p, 1e-12, 1))
            return 1.0 / (1.0 + np.exp(-(self.a * logit + self.b)))
        return p

    def apply_one(self, raw_probability: float) -> float:
        return float(self.apply(np.array([raw_probability]))[0])

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "x": list(self.x), "y": list(self.y), "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Calibration":
        return cls(data["method"], tuple(data.get("x", ())), tuple(data.get("y", ())),
                   float(data.get("a", 1.0)), float(data.get("b", 0.0)))


@dataclass
class ModelBundle:
    transform: LeadTransform
    booster: Any  # lightgbm.Booster, or features.linear.LinearModel (same predict calls)
    calibration: Calibration
    stages: dict[str, Any]  # {"sql": {...threshold...}, "mql": {...}}
    card: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    spec_yaml: str | None = None
    sub_scores: Any = None  # features.sub_scores.SubScores, or None
    segments: Any = None  # features.segment_models.SegmentModels, None without segment_by

    # ------------------------------------------------------------------------------ scoring
    @property
    def version(self) -> str:
        return str(self.card.get("version", "unregistered"))

    @property
    def model_kind(self) -> str:
        """lightgbm, logistic or blend: which candidate model training chose."""
        if isinstance(self.booster, BlendModel):
            return "blend"
        return "logistic" if isinstance(self.booster, LinearModel) else "lightgbm"

    @property
    def sql_threshold(self) -> float:
        return float(self.stages["sql"]["threshold"])

    @property
    def mql_threshold(self) -> float:
        return float(self.stages["mql"]["threshold"])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probability of buying for each row of the transform's matrix (n, features):
        (n,), missing values filled as the transform says (`LeadTransform.model_input`)."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        X = self.transform.model_input(X)
        return self.calibration.apply(self.booster.predict(X, num_threads=1 if len(X) < 500 else 0))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature contributions in log-odds (LightGBM pred_contrib); last column is the bias."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        X = self.transform.model_input(X)
        return self.booster.predict(X, pred_contrib=True, num_threads=1 if len(X) < 500 else 0)

    def stage_of(self, probability: float) -> str:
        if probability >= self.sql_threshold:
            return STAGE_SQL
        if probability >= self.mql_threshold:
            return STAGE_MQL
        return STAGE_NONE

    def stages_of(self, probability: np.ndarray) -> np.ndarray:
        out = np.full(len(probability), STAGE_NONE, dtype=object)
        out[probability >= self.mql_threshold] = STAGE_MQL
        out[probability >= self.sql_threshold] = STAGE_SQL
        return out

    # ------------------------------------------------------------------------------ storage
    def save(self, folder: str | Path) -> Path:
        """Write the bundle atomically: a half-written bundle is never left at `folder`."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            parts = {"lightgbm": self.booster, "logistic": self.booster}
            if isinstance(self.booster, BlendModel):
                parts = {"lightgbm": self.booster.booster, "logistic": self.booster.linear}
            for kind, file in (("lightgbm", "booster.txt"), ("logistic", LINEAR_MODEL_FILE)):
                if self.model_kind in (kind, "blend"):
                    parts[kind].save_model(str(tmp / file))
            (tmp / "transform.json").write_text(json.dumps(self.transform.to_dict(), indent=1))
            meta = {"format": BUNDLE_FORMAT, "model": self.model_kind, "calibration": self.calibration.to_dict(),
                    "stages": self.stages, "card": self.card}
            if isinstance(self.booster, BlendModel):
                meta["blend_weight"] = self.booster.weight
            (tmp / "bundle.json").write_text(json.dumps(meta, indent=1, default=_json_default))
            if self.profile is not None:
                (tmp / "profile.json").write_text(json.dumps(self.profile, indent=1, default=_json_default))
            if self.spec_yaml is not None:
                (tmp / "spec.yaml").write_text(self.spec_yaml)
            if self.sub_scores is not None:
                from features.sub_scores import FILE as SUB_SCORES_FILE

                (tmp / SUB_SCORES_FILE).write_text(json.dumps(self.sub_scores.to_dict(), indent=1,
                                                              default=_json_default))
            if self.segments is not None:
                self.segments.save_into(tmp)
            if folder.exists():
                old = folder.with_name(f".{folder.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(folder, old)
                os.replace(tmp, folder)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "ModelBundle":
        import lightgbm as lgb

        folder = Path(folder)
        meta_path = folder / "bundle.json"
        if not meta_path.is_file():
            raise BundleError(f"{folder}: not a model bundle (no bundle.json); train a model with "
                              f"`leadscore train` and export it with `leadscore export`")
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("format") != BUNDLE_FORMAT:
                raise BundleError(f"{meta_path}: bundle format {meta.get('format')} is not {BUNDLE_FORMAT}; re-export it")
            transform = LeadTransform.from_dict(json.loads((folder / "transform.json").read_text()))
            kind = meta.get("model", "lightgbm")
            if kind == "logistic":
                booster = LinearModel.load(folder / LINEAR_MODEL_FILE)
            elif kind == "blend":
                booster = BlendModel(lgb.Booster(model_file=str(folder / "booster.txt")),
                                     LinearModel.load(folder / LINEAR_MODEL_FILE), float(meta["blend_weight"]))
            else:
                booster = lgb.Booster(model_file=str(folder / "booster.txt"))
            from features.sub_scores import FILE as SUB_SCORES_FILE, SubScores

            sub_path = folder / SUB_SCORES_FILE
            sub_scores = SubScores.from_dict(json.loads(sub_path.read_text()), transform) \
                if sub_path.exists() else None
        except (OSError, ValueError, KeyError) as exc:
            raise BundleError(f"{folder}: the model bundle is damaged ({exc}); re-export it") from None
        profile_path = folder / "profile.json"
        spec_path = folder / "spec.yaml"
        from features.segment_models import SegmentModels

        return cls(transform=transform, booster=booster, calibration=Calibration.from_dict(meta["calibration"]),
                   stages=meta["stages"], card=meta.get("card", {}),
                   profile=json.loads(profile_path.read_text()) if profile_path.exists() else None,
                   spec_yaml=spec_path.read_text() if spec_path.exists() else None, sub_scores=sub_scores,
                   segments=SegmentModels.load_from(folder))


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
