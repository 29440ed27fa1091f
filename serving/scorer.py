"""Scoring leads with a model bundle: probability, score, stage and reasons.

The one place the service and batch scoring turn raw leads into answers. It reads the bundle
folder only (never training code): the fitted transform, the booster, the calibration and the
stage definitions that travel with the model version.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import yaml

from features import values as V
from features.activity import positions
from features.blend import probability as blend_probability
from features.bundle import ModelBundle
from features.i18n import DEFAULT_LANGUAGE
from features.intent import cooling_arrays
from features.logged import LeadRecorder, logged_spec, read_records
from features.spec import DatasetSpec
from features.ideal_customer import IdealCustomer
from features.sub_scores import activity_start, not_a_fit_rows
from serving.cooling import cooling_text
from serving.grades import BATCH_COLUMNS, GradeWriter
from serving.reasons import ReasonWriter
from serving.schema import answer_id_key
from serving.treeshap import tabulate

ACTIVITIES_FIELD = "activities"


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class LeadScorer:
    def __init__(self, bundle: ModelBundle, tables: bool = True):
        """`tables=False`: the booster is not turned into lookup tables (scores and reasons then
        come from LightGBM's predict and pred_contrib): for a process that only checks that the
        bundle loads, such as `leadscore serve` before it starts its workers."""
        self.bundle = bundle
        if not bundle.spec_yaml:
            from features.bundle import BundleError

            raise BundleError("the model bundle carries no dataset spec (spec.yaml); re-export it")
        self.spec = DatasetSpec.model_validate(yaml.safe_load(bundle.spec_yaml))
        self.transform = bundle.transform
        # Category spellings come from the training profile; bundles exported before it kept
        # them have none, and reasons show the cleaned value.
        self._spellings = (bundle.profile or {}).get("spellings") or {}
        self._writers: dict[str, ReasonWriter] = {}
        self.reasons = self.reasons_in(DEFAULT_LANGUAGE)
        # The booster as lookup tables: score and exact contributions in one pass (None: the
        # trees are too large for tables, and LightGBM's predict and pred_contrib are used; a
        # logistic model answers the same calls itself).
        # A blend's LightGBM part is tabulated the same way; its logistic part is cheap as it is.
        self.blend = bundle.booster if bundle.model_kind == "blend" else None
        trees = {"lightgbm": bundle.booster, "blend": getattr(self.blend, "booster", None)}.get(bundle.model_kind)
        made = tabulate(trees) if trees is not None and tables else None
        self.tables = made.tables if made is not None else None
        # How contributions are computed, in words (GET /model, the contributions metric).
        self.contributions = made.path if made is not None else "the logistic model's own (exact)"
        self.version = bundle.version
        # Fit, intent and the grade (features.sub_scores); models trained before them have none.
        self.grades = GradeWriter(bundle.sub_scores, self.transform, IdealCustomer.of(self.spec, self.transform)) \
            if bundle.sub_scores is not None else None
        self.recorder = LeadRecorder(self.spec, ACTIVITIES_FIELD)
        self._logged_reading: DatasetSpec | None = None
        lead = self.spec.leads
        self.id_field = lead.id
        self.id_key = answer_id_key(lead.id)  # the id's key in answers and batch files
        self.lead_fields = [f for f in [lead.id, lead.created_at, *self.spec.profile_columns, *lead.after_contact]
                            if f is not None]
        act = self.spec.activities
        self.activity_fields = {"time": act.time, "type": act.type, **({"value": act.value} if act.value else {})} \
            if act is not None else {}

    def reasons_in(self, language: str) -> ReasonWriter:
        """The reason writer of `language` (one of features.i18n.LANGUAGES), made once: each
        keeps its own phrases, so the languages never share a cached phrase."""
        writer = self._writers.get(language)
        if writer is None:
            writer = self._writers[language] = ReasonWriter(self.transform, self.spec.reason_phrases,
                                                            self.spec.display_names, self._spellings, language)
        return writer

    @classmethod
    def from_bundle_dir(cls, path: str | Path) -> "LeadScorer":
        return cls(ModelBundle.load(path))

    # ------------------------------------------------------------------------------ metadata
    def stage_definitions(self) -> dict[str, Any]:
        return self.bundle.stages

    def grade_definitions(self, language: str = DEFAULT_LANGUAGE) -> dict[str, Any] | None:
        """The fit/intent grade grid in words (features.grade_words), None for a model without
        sub-scores."""
        if self.grades is None:
            return None
        from features.grade_words import grade_words

        activity, subs = self.transform.activity, self.bundle.sub_scores
        return grade_words(subs.grid(), {"fit": subs.fit.figures, "intent": subs.intent.figures if subs.intent else None},
                           activity.windows[-1] if activity is not None and activity.windows else None, language)

    def grade_definitions_of(self, lead: Mapping[str, Any], language: str = DEFAULT_LANGUAGE) -> dict[str, Any] | None:
        """The grade grid in words of the model that scores `lead`: this one (a segmented scorer
        answers with the lead's segment model's, serving.segments)."""
        return self.grade_definitions(language)

    def model_card(self) -> dict[str, Any]:
        card = dict(self.bundle.card)
        card["version"] = self.version
        card["contributions"] = self.contributions
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

    def _read_activities(self, leads: list[Mapping[str, Any]]):
        """The activities of `leads` as the features read them (ActivityAggregator.read_records)."""
        return self.transform.activity.read_records([self._canonical_activities(lead.get(ACTIVITIES_FIELD))
                                                     for lead in leads])

    def score_leads(self, leads: list[Mapping[str, Any]], as_of: datetime | None = None,
                    reasons: int = 5, language: str = DEFAULT_LANGUAGE,
                    cooling: bool = False) -> list[dict[str, Any]]:
        """Score raw leads (the API's JSON shape). One lead takes the single-lead path; many are
        transformed together; both give the same rows (tested in features). Reasons are
        written in `language`; with `cooling`, each answer says whether its intent is cooling
        (`cooling`: words, or None; features.intent)."""
        if not leads:
            return []
        moment = as_of or utc_now()
        transform = self.transform
        aggregator = transform.activity
        read = None  # the activities of many leads, read once for the features and for cooling
        if len(leads) == 1:
            lead = leads[0]
            X = transform.transform_one(lead, self._canonical_activities(lead.get(ACTIVITIES_FIELD)), moment)[None, :]
        else:
            read = self._read_activities(leads) if aggregator is not None else None
            X = transform.transform_records(leads, read, moment)
        field = self.id_field  # text ids were read by the API's validator (features.values.lead_id)
        ids = [value if type(value := lead.get(field)) is str else _id_text(value) for lead in leads]
        answers = self._answers(X, leads, ids, reasons, language)
        if cooling:
            found = aggregator.cooling_records(read or self._read_activities(leads),
                                               np.full(len(leads), _ns(moment), dtype=np.int64)) \
                if aggregator is not None else None
            for answer, words in zip(answers, self.cooling_words(X, found, language)):
                answer["cooling"] = words
        return answers

    def cooling_words(self, X: np.ndarray, found, language: str) -> list[str | None]:
        """Per model row, the words of cooling intent (serving.cooling) from `found`
        (features.intent.Cooling, or None: no activities); None for a lead that is not cooling
        or whose engagement the model does not use (not a fit: its activity inputs are NaN)."""
        aggregator = self.transform.activity
        if found is None or aggregator is None or not aggregator.high_intent:
            return [None] * len(X)
        unfit = not_a_fit_rows(X, activity_start(self.transform))
        return [None if unfit[i] or not burst else cooling_text(burst, quiet, language)
                for i, (burst, quiet) in enumerate(zip(found.burst.tolist(), found.quiet_days.tolist()))]

    def score_records(self, records: Sequence[tuple[str, str, str | None]], as_of: Sequence[datetime],
                      reasons: int = 5, language: str = DEFAULT_LANGUAGE,
                      cooling: bool = False) -> list[dict[str, Any]]:
        """Score leads as the score log keeps them (features.logged: (lead id, lead JSON,
        activities JSON or None)), each as of its own moment (naive UTC), read back with the one
        reading of records (`read_records`): the web pages' reasons and what-ifs. Answers in
        the order of `records`, as score_leads gives them. Each record needs its own id
        (ValueError otherwise; the model never reads the id, so a what-if may make one up)."""
        if not records:
            return []
        reading = self._logged_reading
        if reading is None:
            reading = self._logged_reading = logged_spec(self.spec)
        _, canonical = read_records(reading, records)
        ids = [str(lead_id) for lead_id, _, _ in records]
        if len(set(ids)) != len(ids):
            raise ValueError("score_records: each record needs its own lead id")
        leads = canonical.leads
        position = {lead_id: i for i, lead_id in enumerate(leads["lead_id"].astype(str).tolist())}
        order = [position[lead_id] for lead_id in ids]
        if order != list(range(len(leads))):
            leads = leads.iloc[order].reset_index(drop=True)
        moments = pd.to_datetime(pd.Series(list(as_of))).to_numpy("datetime64[ns]")
        X = self.transform.transform_frame(leads, canonical.activities, moments)
        sent = [json.loads(lead) if isinstance(lead, str) else lead for _, lead, _ in records]  # a rare
        answers = self._answers(X, sent, ids, reasons, language)  # category's reason quotes the text as sent
        if cooling:  # (with `cooling`: whether each lead's intent was cooling then, as score_leads says it)
            aggregator = self.transform.activity
            found = aggregator.cooling_batch(leads["lead_id"], moments, canonical.activities) \
                if aggregator is not None else None
            for answer, words in zip(answers, self.cooling_words(X, found, language)):
                answer["cooling"] = words
        return answers

    def probability_and_reasons(self, X: np.ndarray, reasons: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated probabilities of model rows and, when asked, their contributions summed
        per reason (log-odds; one column per ReasonWriter group)."""
        bundle = self.bundle
        if self.tables is not None:
            X = self.transform.model_input(X)
            raw, grouped = self.tables.raw_and_groups(X, self.reasons.group_of if reasons else None,
                                                      len(self.reasons.groups))
            if self.blend is None:
                return bundle.calibration.apply(self.tables.probability(raw)), grouped
            linear = self.blend.linear.predict(X, pred_contrib=True)  # sums to its log-odds
            raw = self.blend.combine(raw, linear.sum(axis=1))
            if grouped is not None:
                grouped = self.blend.combine(grouped, self.reasons.group_contributions(linear))
            return bundle.calibration.apply(blend_probability(raw)), grouped
        probability = bundle.predict_proba(X)
        return probability, self.reasons.group_contributions(bundle.contributions(X)) if reasons else None

    def _answers(self, X: np.ndarray, leads: list[Mapping[str, Any]] | None, ids: list[str],
                 reasons: int, language: str = DEFAULT_LANGUAGE) -> list[dict[str, Any]]:
        probability, grouped = self.probability_and_reasons(X, reasons > 0)
        writer = self.reasons_in(language)
        written = writer.reasons_many(grouped, X, leads, reasons) if grouped is not None else None
        answers = self.answer_dicts(ids, probability, written)
        if self.grades is not None:
            for answer, parts in zip(answers, self.grades.answer_parts(self.grades.grade(X, leads, reasons, writer))):
                answer.update(parts)
        return answers

    def answer_dicts(self, ids: list[str], probability: np.ndarray,
                     written: list[tuple[list[str], list[str]]] | None) -> list[dict[str, Any]]:
        """The API's answer per lead from its probability and its reasons (for, against); the
        id under `id_key`, the spec's own id column name."""
        probability, scores = published(probability)
        stages = self.bundle.stages_of(probability).tolist()
        rounded, scores = probability.tolist(), scores.tolist()
        version, key = self.version, self.id_key
        out = []
        for i, lead_id in enumerate(ids):
            pros, cons = written[i] if written is not None else ([], [])
            out.append({key: lead_id, "probability": rounded[i], "score": scores[i], "stage": stages[i],
                        "reasons_for": pros, "reasons_against": cons, "model_version": version})
        return out

    def score_table(self, leads: pd.DataFrame, activities: pd.DataFrame | None, as_of: datetime,
                    reasons: int = 3, progress: Callable[[int], None] | None = None,
                    chunk: int = 100_000, language: str = DEFAULT_LANGUAGE,
                    on_chunk: Callable[[pd.DataFrame], None] | None = None) -> pd.DataFrame:
        """Batch scoring of canonical frames (features.load): one row per lead, its id in the
        column `id_key` (the spec's id column name), in chunks so that memory stays bounded.
        Each activity is assigned to its lead once, up front. `on_chunk(frame)`: each chunk's
        rows as soon as they are scored, in order (the score log writes them meanwhile)."""
        moment = pd.Timestamp(as_of)
        if moment.tzinfo is not None:
            moment = moment.tz_convert("UTC").tz_localize(None)
        as_of_all = np.full(len(leads), moment.to_datetime64().astype("datetime64[ns]"))
        ids = leads["lead_id"].astype(str)
        # Each activity is matched to its lead and type once; chunks then take their share.
        owner = type_code = t_ns = None
        aggregator = self.transform.activity
        if activities is not None and len(activities) and aggregator is not None:
            owner = positions(pd.Index(ids), activities["lead_id"])
            type_code = positions(pd.Index(aggregator.types), activities["activity_type"])
            t_ns = activities["occurred_at"].to_numpy("datetime64[ns]").view(np.int64)
            if len(leads) > chunk:  # grouped by chunk (a radix sort: chunk numbers are small)
                matched = owner >= 0
                owner, type_code, t_ns = owner[matched], type_code[matched], t_ns[matched]
                order = np.argsort((owner // chunk).astype(np.int16 if len(leads) // chunk < 30_000 else np.int64),
                                   kind="stable")
                owner, type_code, t_ns = owner[order], type_code[order], t_ns[order]
        bundle = self.bundle
        frames = []
        for start in range(0, len(leads), chunk):
            part = leads.iloc[start:start + chunk]
            part_ids = ids.iloc[start:start + chunk]
            located = None
            if owner is not None:
                lo, hi = (np.searchsorted(owner, [start, start + len(part)]) if len(leads) > chunk
                          else (0, len(owner)))
                located = (owner[lo:hi] - start, type_code[lo:hi], t_ns[lo:hi])
            X = self.transform.transform_frame(part, None, as_of_all[start:start + chunk], located=located)
            p, grouped = self.probability_and_reasons(X, reasons > 0)
            shown, score = published(p)
            frame = pd.DataFrame({self.id_key: part_ids.to_numpy(), "probability": shown, "score": score,
                                  "stage": bundle.stages_of(shown)})
            if grouped is not None:
                frame["reasons_for"], frame["reasons_against"] = self.reasons_in(language).reasons_joined(
                    grouped, X, reasons)
            else:
                frame["reasons_for"], frame["reasons_against"] = "", ""
            frame["model_version"] = self.version
            if self.grades is not None:
                graded = self.grades.grade(X, None, reasons, self.reasons_in(language))
                for column, values in self.grades.columns(graded).items():
                    frame[column] = values
            if aggregator is not None:
                found = cooling_arrays(len(part), *located, as_of_all[start:start + chunk].view(np.int64),
                                       aggregator.is_high_intent) if located is not None else None
                frame["cooling"] = self.cooling_words(X, found, language)
            frames.append(frame)
            if on_chunk is not None:
                on_chunk(frame)
            if progress:
                progress(len(part))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=[self.id_key, "probability", "score", "stage", "reasons_for", "reasons_against", "model_version",
                     *(BATCH_COLUMNS if self.grades is not None else []),
                     *(["cooling"] if aggregator is not None else [])])


PUBLISHED_DECIMALS = 6


def published(probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The probability as answers, batch files and the score log carry it (rounded to
    PUBLISHED_DECIMALS) and the score (n,) derived from that same number: the whole percent,
    half to even. Stages are read from it too, so an answer agrees with itself and with its
    logged copy: a trend or a stage recomputed from the log gives what the answer said (from
    the unrounded probability, about 45 scores in a million showed a point the log's copy did
    not)."""
    shown = np.round(np.asarray(probability, dtype=np.float64), PUBLISHED_DECIMALS)
    return shown, np.rint(shown * 100).astype(int)


def _ns(moment: datetime) -> int:
    """A naive UTC datetime in integer nanoseconds since the epoch."""
    return int(np.datetime64(moment, "ns").astype(np.int64))


def _id_text(value: Any) -> str:
    """`features.values.lead_id` as text ("" when missing; an unreadable one as it is: the API
    refuses both before they get here)."""
    try:
        return V.lead_id(value) or ""
    except V.Unreadable:
        return str(value)

