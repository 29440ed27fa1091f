"""The registered MLflow model: a pyfunc around the model bundle, returning probabilities.

Logged as models-from-code: MLflow copies this file into the model and runs it at load time,
so nothing is pickled. Input: one row per lead with the raw fields of the dataset spec, an
optional `activities` column (a list of {occurred_at, activity_type} or its JSON text) and an
optional `as_of` (default: now, UTC). Output: the calibrated probability of buying.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import mlflow
import numpy as np
import pandas as pd


class LeadScorerModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from features.bundle import ModelBundle

        self.bundle = ModelBundle.load(context.artifacts["bundle"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        transform = self.bundle.transform
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        rows = []
        for lead in model_input.to_dict("records"):
            activities = lead.pop("activities", None) or []
            if isinstance(activities, str):
                activities = json.loads(activities)
            as_of = lead.pop("as_of", None) or now
            rows.append(transform.transform_one(lead, activities, as_of=as_of))
        X = np.vstack(rows) if rows else np.empty((0, len(transform.names)))
        return pd.DataFrame({"probability": self.bundle.predict_proba(X)})


mlflow.models.set_model(LeadScorerModel())
