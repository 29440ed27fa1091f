"""Scoring with segment models (the spec's `segment_by`, features.segment_models): each lead is
scored by its segment's own model, with that model's calibration, stages and reasons, and by the
global model when its segment has none (a value training did not keep, an unseen or missing
value).

`load_scorer(folder)` is the one constructor the service, batch scoring, the report and the
registered MLflow model use: a plain `serving.scorer.LeadScorer` for a bundle without
segments, a `SegmentedScorer` for one with them. A SegmentedScorer answers every question a
LeadScorer does (spec, id key, validator inputs, reasons, the global model's card and stages),
and routes the three scoring calls (`score_leads`, `score_records`, `score_table`): the leads
of a call are grouped by segment, each group scored by its own LeadScorer with the same
arguments, and the answers put back in the order sent. A lead's segment is its cleaned value
of the column (`LeadTransform.clean_category`: placeholders are missing, aliases merged), so a
lead scores the same alone or in any batch (tested). Each answer says which model scored it:
`segment` is the value, or None for the global model; `model_version` is the registered
version of the whole bundle, whichever model scored.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from features.bundle import ModelBundle
from features.i18n import DEFAULT_LANGUAGE
from features.segment_models import SegmentModels
from serving.scorer import LeadScorer

SEGMENT = "segment"
"""The key (and batch column) saying which model scored a lead: the segment's value, or None."""


def load_scorer(folder: str | Path, tables: bool = True) -> "LeadScorer | SegmentedScorer":
    """The scorer of the bundle at `folder`: routed by segment when the bundle has segments.
    `tables`: as LeadScorer's."""
    bundle = ModelBundle.load(folder)
    scorer = LeadScorer(bundle, tables=tables)
    if bundle.segments is None:
        return scorer
    return SegmentedScorer(scorer, bundle.segments, tables=tables)


class SegmentedScorer:
    """The global LeadScorer and one per segment model; see the module's docstring."""

    def __init__(self, scorer: LeadScorer, segments: SegmentModels, tables: bool = True):
        self.global_scorer = scorer
        self.segment_models = segments
        self.column = segments.column
        if self.column not in scorer.spec.leads.categorical:
            from features.bundle import BundleError

            raise BundleError(f"the bundle's segments are by {self.column!r}, which is not a categorical column "
                              "of its spec; re-export the bundle")
        self.scorers: dict[str, LeadScorer] = {}
        for value, bundle in segments.models.items():
            segment = LeadScorer(bundle, tables=tables)
            segment.version = scorer.version  # answers name the registered version of the whole bundle
            self.scorers[value] = segment

    def __getattr__(self, name: str) -> Any:  # spec, id_key, recorder, reasons_in, bundle, ...: the global's
        return getattr(self.global_scorer, name)

    # ------------------------------------------------------------------------------ routing
    def segment_of(self, value: Any) -> str | None:
        """The segment whose model scores a lead with this raw value of the column; None: the
        global model."""
        cleaned = self.global_scorer.transform.clean_category(self.column, value)
        return cleaned if cleaned in self.scorers else None

    def _scorer(self, segment: str | None) -> LeadScorer:
        return self.global_scorer if segment is None else self.scorers[segment]

    def _groups(self, segments: Sequence[str | None]) -> dict[str | None, list[int]]:
        groups: dict[str | None, list[int]] = {}
        for i, segment in enumerate(segments):
            groups.setdefault(segment, []).append(i)
        return groups

    def score_leads(self, leads: list[Mapping[str, Any]], as_of: datetime | None = None, reasons: int = 5,
                    language: str = DEFAULT_LANGUAGE, cooling: bool = False) -> list[dict[str, Any]]:
        """`LeadScorer.score_leads`, each lead by its segment's model, `segment` in each answer."""
        if not leads:
            return []
        if as_of is None:
            from serving.scorer import utc_now

            as_of = utc_now()  # one moment for every group
        answers: list[dict[str, Any] | None] = [None] * len(leads)
        for segment, rows in self._groups([self.segment_of(lead.get(self.column)) for lead in leads]).items():
            scored = self._scorer(segment).score_leads([leads[i] for i in rows], as_of=as_of, reasons=reasons,
                                                       language=language, cooling=cooling)
            for i, answer in zip(rows, scored):
                answer[SEGMENT] = segment
                answers[i] = answer
        return answers  # type: ignore[return-value]

    def score_records(self, records: Sequence[tuple[str, str, str | None]], as_of: Sequence[datetime],
                      reasons: int = 5, language: str = DEFAULT_LANGUAGE,
                      cooling: bool = False) -> list[dict[str, Any]]:
        """`LeadScorer.score_records`, each record by its segment's model."""
        if not records:
            return []
        moments = list(as_of)
        segments = []
        for _, lead, _ in records:
            fields = json.loads(lead) if isinstance(lead, str) else lead
            segments.append(self.segment_of(fields.get(self.column) if isinstance(fields, dict) else None))
        answers: list[dict[str, Any] | None] = [None] * len(records)
        for segment, rows in self._groups(segments).items():
            scored = self._scorer(segment).score_records([records[i] for i in rows], [moments[i] for i in rows],
                                                         reasons=reasons, language=language, cooling=cooling)
            for i, answer in zip(rows, scored):
                answer[SEGMENT] = segment
                answers[i] = answer
        return answers  # type: ignore[return-value]

    def score_table(self, leads: pd.DataFrame, activities: pd.DataFrame | None, as_of: datetime,
                    reasons: int = 3, progress: Callable[[int], None] | None = None,
                    chunk: int = 100_000, language: str = DEFAULT_LANGUAGE,
                    on_chunk: Callable[[pd.DataFrame], None] | None = None) -> pd.DataFrame:
        """`LeadScorer.score_table`, each lead by its segment's model, a `segment` column added;
        rows in the order of `leads`. `on_chunk` is given the whole table, once, at the end (the
        segments' rows come back in their own order)."""
        table = self._score_table(leads, activities, as_of, reasons, progress, chunk, language)
        if on_chunk is not None:
            on_chunk(table)
        return table

    def _score_table(self, leads: pd.DataFrame, activities: pd.DataFrame | None, as_of: datetime, reasons: int,
                     progress: Callable[[int], None] | None, chunk: int, language: str) -> pd.DataFrame:
        values = leads[self.column] if self.column in leads else pd.Series([None] * len(leads), index=leads.index)
        segment_of = {}
        segments = [segment_of.setdefault(v, self.segment_of(v)) if isinstance(v, str) else self.segment_of(v)
                    for v in values.astype(object).tolist()]
        parts, positions = [], []
        for segment, rows in self._groups(segments).items():
            rows = np.asarray(rows)
            part = leads.iloc[rows].reset_index(drop=True)
            theirs = activities
            if activities is not None and len(rows) < len(leads):
                theirs = activities[activities["lead_id"].astype(str).isin(set(part["lead_id"].astype(str)))]
            frame = self._scorer(segment).score_table(part, theirs, as_of, reasons=reasons, progress=progress,
                                                      chunk=chunk, language=language)
            frame[SEGMENT] = segment
            parts.append(frame)
            positions.append(rows)
        if not parts:
            frame = self.global_scorer.score_table(leads, activities, as_of, reasons=reasons, chunk=chunk,
                                                   language=language)
            frame[SEGMENT] = pd.Series(dtype=object)
            return frame
        out = pd.concat(parts, ignore_index=True)
        return out.iloc[np.argsort(np.concatenate(positions), kind="stable")].reset_index(drop=True)

    # ------------------------------------------------------------------------------ metadata
    def stage_definitions_of(self, lead: Mapping[str, Any]) -> dict[str, Any]:
        """The stage definitions of the model that scores `lead` (raw fields): the lead page
        shows the definition its stage was given by."""
        return self._scorer(self.segment_of(lead.get(self.column))).stage_definitions()

    def grade_definitions_of(self, lead: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> dict[str, Any] | None:
        """The fit/intent grid in words of the model that scores `lead` (each segment model has
        its own cut points)."""
        return self._scorer(self.segment_of(lead.get(self.column))).grade_definitions(language)

    def segment_stage_definitions(self) -> dict[str, dict[str, Any]]:
        """Each segment model's stage definitions, by segment value."""
        return {value: scorer.stage_definitions() for value, scorer in self.scorers.items()}

    def model_card(self) -> dict[str, Any]:
        """The global model's card; its `segments` (what training found for every segment) with
        each used segment model's stages in words."""
        card = self.global_scorer.model_card()
        entries = []
        for entry in self.segment_models.figures:
            entry = {k: v for k, v in entry.items() if k != "folder"}
            scorer = self.scorers.get(entry.get("value"))
            if scorer is not None:
                entry["stages"] = {k: v.get("words") for k, v in scorer.bundle.stages.items()}
                entry["contributions"] = scorer.contributions
            entries.append(entry)
        card["segments"] = {"column": self.column, "segments": entries, "notes": list(self.segment_models.notes)}
        return card
