"""Scoring leads with a model bundle: probability, score, stage and reasons.

The one place the service and batch scoring turn raw leads into answers. It reads the bundle
folder only (never training code): the fitted transform, the booster, the calibration and the
stage definitions that travel with the model version.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import yaml

from features.activity import positions
from features.bundle import ModelBundle
from features.spec import DatasetSpec
from serving.reasons import ReasonWriter

ACTIVITIES_FIELD = "activities"


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class LeadScorer:
    def __init__(self, bundle: ModelBundle):
        self.bundle = bundle
        if not bundle.spec_yaml:
            from features.bundle import BundleError

            raise BundleError("the model bundle carries no dataset spec (spec.yaml); re-export it")
        self.spec = DatasetSpec.model_validate(yaml.safe_load(bundle.spec_yaml))
        self.transform = bundle.transform
        self.reasons = ReasonWriter(self.transform, self.spec.reason_phrases)
        self.version = bundle.version
        lead = self.spec.leads
        self.id_field = lead.id
        self.lead_fields = [f for f in [lead.id, lead.created_at, *self.spec.profile_columns, *lead.after_contact]
                            if f is not None]
        act = self.spec.activities
        self.activity_fields = {"time": act.time, "type": act.type, **({"value": act.value} if act.value else {})} \
            if act is not None else {}

    @classmethod
    def from_bundle_dir(cls, path: str | Path) -> "LeadScorer":
        return cls(ModelBundle.load(path))

    # ------------------------------------------------------------------------------ metadata
    def stage_definitions(self) -> dict[str, Any]:
        return self.bundle.stages

    def model_card(self) -> dict[str, Any]:
        card = dict(self.bundle.card)
        card["version"] = self.version
        card["stages"] = {k: v.get("words") for k, v in self.bundle.stages.items()}
        return card

    # ------------------------------------------------------------------------------ scoring
    def _canonical_activities(self, activities: Any) -> list[Mapping[str, Any]]:
        if not activities:
            return []
        time_field, type_field = self.activity_fields.get("time"), self.activity_fields.get("type")
        if time_field == "occurred_at" and type_field == "activity_type":
            return activities
        return [{"occurred_at": a.get(time_field), "activity_type": a.get(type_field)} for a in activities]

    def score_leads(self, leads: list[Mapping[str, Any]], as_of: datetime | None = None,
                    reasons: int = 5) -> list[dict[str, Any]]:
        """Score raw leads (the API's JSON shape). One lead takes the single-lead path; many are
        transformed together; both give the same rows (tested in features)."""
        if not leads:
            return []
        moment = as_of or utc_now()
        transform = self.transform
        if len(leads) == 1:
            lead = leads[0]
            X = transform.transform_one(lead, self._canonical_activities(lead.get(ACTIVITIES_FIELD)), moment)[None, :]
        else:
            X = transform.transform_records(
                leads, [self._canonical_activities(lead.get(ACTIVITIES_FIELD)) for lead in leads], moment)
        return self._answers(X, leads, [str(lead.get(self.id_field)) for lead in leads], reasons)

    def _answers(self, X: np.ndarray, leads: list[Mapping[str, Any]] | None, ids: list[str],
                 reasons: int) -> list[dict[str, Any]]:
        bundle = self.bundle
        probability = bundle.predict_proba(X)
        stages = bundle.stages_of(probability)
        out = []
        grouped = None
        if reasons > 0:
            contributions = bundle.booster.predict(X, pred_contrib=True, num_threads=1 if len(X) < 500 else 0)
            grouped = self.reasons.group_contributions(contributions)
        for i, lead_id in enumerate(ids):
            p = float(probability[i])
            answer = {"lead_id": lead_id, "probability": round(p, 6), "score": int(round(p * 100)),
                      "stage": str(stages[i]), "reasons_for": [], "reasons_against": [],
                      "model_version": self.version}
            if grouped is not None:
                pros, cons = self.reasons.reasons(grouped[i], X[i], leads[i] if leads else None, reasons)
                answer["reasons_for"], answer["reasons_against"] = pros, cons
            out.append(answer)
        return out

    def score_table(self, leads: pd.DataFrame, activities: pd.DataFrame | None, as_of: datetime,
                    reasons: int = 3, progress: Callable[[int], None] | None = None,
                    chunk: int = 100_000) -> pd.DataFrame:
        """Batch scoring of canonical frames (features.load): one row per lead, in chunks so
        that memory stays bounded. Each activity is assigned to its lead once, up front."""
        moment = pd.Timestamp(as_of)
        if moment.tzinfo is not None:
            moment = moment.tz_convert("UTC").tz_localize(None)
        as_of_all = np.full(len(leads), moment.to_datetime64().astype("datetime64[ns]"))
        ids = leads["lead_id"].astype(str)
        owner = None
        if activities is not None and len(activities) and len(leads) > chunk:
            owner = positions(pd.Index(ids), activities["lead_id"])
        bundle = self.bundle
        frames = []
        for start in range(0, len(leads), chunk):
            part = leads.iloc[start:start + chunk]
            part_ids = ids.iloc[start:start + chunk]
            part_acts = activities
            if owner is not None:
                part_acts = activities[(owner >= start) & (owner < start + len(part))]
            X = self.transform.transform_frame(part, part_acts, as_of_all[start:start + chunk])
            if reasons > 0:
                frame = pd.DataFrame(self._answers(X, None, part_ids.tolist(), reasons))
                for key in ("reasons_for", "reasons_against"):
                    frame[key] = frame[key].map("; ".join)
            else:
                p = bundle.predict_proba(X)
                frame = pd.DataFrame({"lead_id": part_ids.to_numpy(), "probability": np.round(p, 6),
                                      "score": np.rint(p * 100).astype(int), "stage": bundle.stages_of(p),
                                      "reasons_for": "", "reasons_against": "", "model_version": self.version})
            frames.append(frame)
            if progress:
                progress(len(part))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["lead_id", "probability", "score", "stage", "reasons_for", "reasons_against", "model_version"])
