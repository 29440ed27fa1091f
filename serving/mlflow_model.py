"""The registered MLflow model: the model bundle behind the same door as POST /score.

Logged as models-from-code: MLflow copies this file into the model and runs it at load time,
so nothing is pickled. It loads the bundle from the model's own artifacts and scores through
the one scoring path of the service (`serving.scorer.LeadScorer.score_leads`, after the
service's own checks, `serving.schema.LeadValidator`): no second copy of feature logic, so a
lead gets the same probability, stage and reasons here as from `/score` and `leadscore score`.

Input (`serving.model_signature`): one row per lead with the dataset spec's lead columns,
`activities` (a list of {occurred_at, activity_type[, value]} objects, in the spec's activity
column names) and `as_of` (ISO 8601; else `params["as_of"]`; else now, UTC).
Output: one row per lead, in order: id, probability, score, stage, reasons_for,
reasons_against, model_version, for a model with sub-scores (features.sub_scores) grade, fit,
fit_grade, intent and intent_grade (the sub-scores' reasons are /score's and the batch's), and
segment with segment models (serving.segments). Input /score would refuse raises `serving.schema.InputError`
naming the row and field.
"""

from __future__ import annotations

import math
from typing import Any

import mlflow
import pandas as pd

from serving.model_signature import ACTIVITIES, AS_OF, GRADE_COLUMNS, REASONS


class LeadScorerModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from serving.schema import LeadValidator
        from serving.segments import load_scorer

        self.scorer = load_scorer(context.artifacts["bundle"])  # routed by segment when it has segments
        self.validator = LeadValidator.for_scorer(self.scorer)

    def predict(self, context, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        from serving.schema import check_moment
        from serving.scorer import utc_now

        params = params or {}
        reasons = int(params.get(REASONS) if params.get(REASONS) is not None else 5)
        default = params.get(AS_OF)
        now = utc_now()
        leads, moments = [], []
        for lead in model_input.to_dict("records"):
            lead = {key: _plain(value) for key, value in lead.items()}
            when = lead.pop(AS_OF, None) or default
            activities = lead.get(ACTIVITIES)
            if activities is not None:  # optional keys MLflow filled in as missing are left out
                lead[ACTIVITIES] = [{k: v for k, v in (_plain(a) or {}).items() if v is not None}
                                    for a in list(activities)]
            leads.append(lead)
            moments.append(when)
        answers: list[dict[str, Any] | None] = [None] * len(leads)
        groups: dict[Any, list[int]] = {}
        for i, when in enumerate(moments):  # leads scored as of the same moment go together, as in /score
            groups.setdefault(when, []).append(i)
        for when, rows in groups.items():
            moment = check_moment(when, (AS_OF,)) if when is not None else now
            batch = [leads[i] for i in rows]
            self.validator.check_leads(batch)
            for i, answer in zip(rows, self.scorer.score_leads(batch, as_of=moment, reasons=reasons)):
                answers[i] = answer
        columns = [self.scorer.id_key, "probability", "score", "stage", "reasons_for", "reasons_against",
                   "model_version", *(["segment"] if hasattr(self.scorer, "segment_of") else [])]
        if self.scorer.grades is not None:
            columns += list(GRADE_COLUMNS)
            for answer in answers:
                fit, intent = answer["fit"], answer["intent"] or {}
                answer.update(fit=fit["probability"], fit_grade=fit["grade"], intent=intent.get("probability"),
                              intent_grade=intent.get("grade"))
        return pd.DataFrame(answers, columns=columns)


def _plain(value: Any) -> Any:
    """A DataFrame cell as /score's JSON carries it: None for missing, Python numbers, lists."""
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy scalars and arrays
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


mlflow.models.set_model(LeadScorerModel())
