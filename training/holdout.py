"""The holdout predictions of a trained version, kept with its MLflow run.

One row per holdout lead: its id, whether it bought, the chosen model's calibrated probability,
the logistic baseline's, (for dated leads) when it was created, and the share of the period's
leads the holdout holds (`lead_share`, below 1 when training took a sample: the per-week capacity
rules count the leads that arrive, training.stages). Stage thresholds are a
policy computed on exactly these rows, so `leadscore stages` can re-plan them, and re-check the
promotion gates, without the data or a retrain.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.errors import LeadscoreError

HOLDOUT_ARTIFACT = "holdout_predictions.parquet"
COLUMNS = ("lead_id", "label", "probability", "baseline_probability", "created_at")
"""Columns every stored holdout has; `lead_share` too since training samples (1 when absent)."""


@dataclass(frozen=True)
class HoldoutPredictions:
    lead_id: np.ndarray
    label: np.ndarray  # 1 bought, 0 did not
    probability: np.ndarray  # the chosen model, calibrated
    baseline_probability: np.ndarray  # the logistic baseline, calibrated
    order_ns: np.ndarray | None  # creation time in ns, None for undated leads
    lead_share: float = 1.0  # the share of the period's leads with an outcome the holdout holds

    @classmethod
    def from_training(cls, result: Any, examples: Any) -> "HoldoutPredictions":
        """From a training.trainer.TrainingResult and the examples it was trained on."""
        order_ns = examples.order[result.split.holdout] if examples.as_of is not None else None
        return cls(np.asarray(result.holdout_ids).astype(str), np.asarray(result.holdout_label).astype(np.int8),
                   np.asarray(result.holdout_probability, dtype=np.float64),
                   np.asarray(result.baseline_probability, dtype=np.float64), order_ns, examples.lead_share)

    def frame(self) -> pd.DataFrame:
        created = (pd.to_datetime(np.asarray(self.order_ns).astype(np.int64), unit="ns")
                   if self.order_ns is not None else pd.Series(pd.NaT, index=range(len(self.label))))
        return pd.DataFrame({"lead_id": self.lead_id, "label": self.label, "probability": self.probability,
                             "baseline_probability": self.baseline_probability,
                             "created_at": np.asarray(created, dtype="datetime64[ns]"),
                             "lead_share": np.full(len(self.label), self.lead_share)})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, where: str) -> "HoldoutPredictions":
        missing = [c for c in COLUMNS if c not in frame]
        if missing:
            raise LeadscoreError(f"{where}: the holdout predictions lack {', '.join(missing)}; train the version again")
        created = frame["created_at"]
        dated = created.notna().all() and len(created) > 0
        return cls(frame["lead_id"].astype(str).to_numpy(), frame["label"].to_numpy(np.int8),
                   frame["probability"].to_numpy(np.float64), frame["baseline_probability"].to_numpy(np.float64),
                   created.to_numpy("datetime64[ns]").view(np.int64).astype(np.float64) if dated else None,
                   float(frame["lead_share"].iloc[0]) if "lead_share" in frame and len(frame) else 1.0)

    def log(self, mlflow) -> None:
        """Log as the run's `holdout_predictions.parquet` (the active run)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / HOLDOUT_ARTIFACT
            self.frame().to_parquet(path, index=False)
            mlflow.log_artifact(str(path))

    @classmethod
    def download(cls, mlflow, run_id: str, what: str) -> "HoldoutPredictions":
        """The predictions a run logged; `what` names the version in the error."""
        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=HOLDOUT_ARTIFACT, dst_path=tmp)
            except (MlflowException, OSError):
                raise LeadscoreError(f"{what} has no stored holdout predictions ({HOLDOUT_ARTIFACT} in its MLflow "
                                     "run; versions trained before they were kept have none): train it again with "
                                     "`leadscore train`") from None
            return cls.from_frame(pd.read_parquet(path), what)


def log_holdout_predictions(mlflow, result: Any, examples: Any) -> None:
    """Keep a training run's holdout predictions with it (see the module docstring)."""
    HoldoutPredictions.from_training(result, examples).log(mlflow)
