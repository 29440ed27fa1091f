"""Segment models (the spec's `segment_by`): one model per value of a lead column, each trained,
calibrated, staged and gated on its own leads exactly as the global model is on all of them
(training.trainer.train_model, training.promotion.check_gates), and the global model for every
lead no segment model takes.

The rule, decided here and nowhere else:

- The segments are the MAX_SEGMENTS values of the column (cleaned: placeholders missing,
  aliases merged) with the most leads in the training examples; other values, and leads with
  no value, are scored by the global model (said in `notes`).
- A segment needs the minimum data on its own (training.minimum_data: MIN_WON won and MIN_LOST
  lost leads, logistic only below 1,000 leads); one short of it falls back to the global model
  with a note naming its counts. The whole training is refused only when all the data together
  is short (the global model's own rule).
- A segment model trained, then failing any of its gates (no leak, better than chance, not
  below its logistic baseline, calibrated, as the global model's; and not below the global
  model on the same leads: a segment model that ranks its leads worse than the global model
  does would make their scores worse), is not used: the segment falls back to the global
  model with a note naming the gates. A segment whose training stops for want of one class in
  a slice, or whose holdout cannot meet the configured stage rules (training.stages, e.g. no
  group of its leads reaches the SQL precision), falls back the same way, with the reason. The version's promotion is decided by the global model's
  gates and the champion comparison only.

Figures: each segment model's holdout (the most recent `holdout_fraction` of its own leads,
each once at its evaluation snapshot) ROC-AUC and ECE, and, on the leads of that holdout that
are also in the global model's holdout (so that neither model learnt from them), both models'
ROC-AUC side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from features import values as V

from features.bundle import ModelBundle
from features.errors import DataError
from features.examples import Examples
from features.segment_models import SegmentModels
from features.spec import DatasetSpec
from training.config import PromotionRule, TrainingConfig
from training.minimum_data import MIN_LOST, MIN_WON, data_plan, label_counts
from training.evaluation import evaluate, shortfall
from training.promotion import GATE_TITLES, Gate, check_gates, gate_summary
from training.stages import PolicyError

MAX_SEGMENTS = 10
"""Segments trained at most: the values of `segment_by` with the most leads."""


@dataclass
class SegmentOutcome:
    """One segment: its value and counts, its model when trained, and whether it is used."""

    value: str
    won: int
    lost: int
    used: bool = False
    note: str = ""  # why it falls back to the global model; empty when used
    result: object | None = None  # training.trainer.TrainingResult
    gates: list[Gate] = field(default_factory=list)
    shared_leads: int = 0  # holdout leads shared with the global holdout
    shared_roc_auc: float | None = None  # this segment model's ROC-AUC on them
    global_roc_auc: float | None = None  # the global model's ROC-AUC on them

    @property
    def holdout_roc_auc(self) -> float | None:
        return float(self.result.metrics["roc_auc"]) if self.result is not None else None

    @property
    def holdout_ece(self) -> float | None:
        return float(self.result.metrics["ece"]) if self.result is not None else None

    def figures(self) -> dict:
        """What segments.json and the model card keep of it."""
        out = {"value": self.value, "used": self.used, "note": self.note, "won": self.won, "lost": self.lost,
               "holdout_roc_auc": self.holdout_roc_auc, "holdout_ece": self.holdout_ece,
               "shared_holdout_leads": self.shared_leads, "shared_holdout_roc_auc": self.shared_roc_auc,
               "global_model_shared_holdout_roc_auc": self.global_roc_auc}
        if self.result is not None:
            out["model"] = self.result.chosen
            out["gates"] = [gate_summary(g) for g in self.gates]
        return out


@dataclass
class SegmentTraining:
    column: str
    segments: list[SegmentOutcome]
    notes: list[str]  # leads the global model scores besides the segments that fall back

    @property
    def used(self) -> list[SegmentOutcome]:
        return [s for s in self.segments if s.used]

    def attach_to(self, bundle: ModelBundle) -> None:
        """Put the segment models into the global `bundle` (saved with it) and what training found
        for every segment into its card (`segments`); after its card, profile and spec are set:
        each segment bundle carries the same profile and spec."""
        bundle.segments = self.models(bundle.card, bundle.profile, bundle.spec_yaml)
        bundle.card["segments"] = {"column": self.column, "segments": bundle.segments.figures, "notes": self.notes}

    def models(self, card: dict | None = None, profile: dict | None = None,
               spec_yaml: str | None = None) -> SegmentModels:
        """The segment models to store in the global bundle (features.segment_models), each
        segment bundle carrying the global bundle's profile and spec and its own card."""
        models = {}
        for s in self.used:
            bundle: ModelBundle = s.result.bundle
            bundle.card = {**(card or {}), "segment": {"column": self.column, **s.figures()},
                           "model": s.result.chosen, "holdout_metrics": s.result.metrics,
                           "baseline_metrics": s.result.baseline_metrics,
                           "gates": [gate_summary(g) for g in s.gates]}
            bundle.profile, bundle.spec_yaml = profile, spec_yaml
            models[s.value] = bundle
        return SegmentModels(self.column, models, [s.figures() for s in self.segments], list(self.notes))


def segment_values(spec: DatasetSpec, examples: Examples) -> tuple[list[str], list[str]]:
    """The segments (cleaned values, the most leads first, at most MAX_SEGMENTS; ties by value)
    and notes on the leads left to the global model."""
    column = spec.segment_by
    if column is None:
        return [], []
    first = np.unique(examples.lead_of, return_index=True)[1]
    values = examples.leads[column].iloc[first].astype(object)
    missing = int(values.isna().sum())
    counts = values.dropna().astype(str).value_counts()
    notes = []
    # A value we cannot sell to (leads.not_a_fit) is no business line: its leads' activity is
    # not read, so a model of their own could learn nothing of intent.
    unsold = {V.category(v) for v in spec.leads.not_a_fit.get(column, [])}
    for value in sorted(unsold & set(counts.index)):
        notes.append(f"{column} = {value} is not a fit (leads.not_a_fit): its {int(counts[value]):,} leads are scored "
                     "by the global model")
    counts = counts[~counts.index.isin(unsold)]
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    chosen = [value for value, _ in ranked[:MAX_SEGMENTS]]
    rest = ranked[MAX_SEGMENTS:]
    if rest:
        notes.append(f"{len(rest)} more values of {column} beyond the {MAX_SEGMENTS} largest "
                     f"({sum(n for _, n in rest):,} leads, e.g. {', '.join(v for v, _ in rest[:3])}) are scored by "
                     "the global model")
    if missing:
        notes.append(f"{missing:,} leads with no {column} are scored by the global model")
    return chosen, notes


def segment_config(config: TrainingConfig, segment_leads: int, all_leads: int) -> TrainingConfig:
    """The training config of a segment: a stage rule that counts leads a week (sales or
    marketing capacity) gets the segment's share of it, by its share of the leads, so that the
    segments together ask for what the rule says and not that many times over (a breaker found
    10 leads a week per segment giving sales 37 a week); other rules are shares or precisions,
    the same for a part as for the whole."""
    share = segment_leads / max(all_leads, 1)
    stages = config.stages
    update = {}
    for key in ("sql", "mql"):
        rule = getattr(stages, key)
        if rule.rule == "capacity_per_week" and rule.leads_per_week:
            update[key] = rule.model_copy(update={"leads_per_week": max(round(rule.leads_per_week * share, 2), 0.01)})
    if not update:
        return config
    return config.model_copy(update={"stages": stages.model_copy(update=update)})


def train_segments(spec: DatasetSpec, examples: Examples, activities: pd.DataFrame | None,
                   config: TrainingConfig, global_result, train: Callable,
                   on_segment: Callable[[str], None] = lambda _: None) -> SegmentTraining | None:
    """Train each segment of `spec.segment_by` with `train` (training.trainer.train_model, passed
    in so tests and callers use the one training) and decide which models are used. None when
    the spec has no segment_by."""
    column = spec.segment_by
    if column is None:
        return None
    chosen, notes = segment_values(spec, examples)
    value_of = examples.leads[column].astype(object)
    global_holdout = set(np.asarray(global_result.holdout_ids).astype(str).tolist())
    outcomes = []
    for value in chosen:
        on_segment(value)
        keep = (value_of == value).to_numpy(dtype=bool)
        part = examples.of_leads(keep)
        counts = label_counts(part.lead_of, part.label)
        outcome = SegmentOutcome(value, counts.won, counts.lost)
        outcomes.append(outcome)
        plan = data_plan(counts.won, counts.lost, f"the segment {column} = {value}")
        if plan.refused:
            sampled = ("; these are the sample's (raise max_leads in the training config to train on more leads)"
                       if examples.lead_share < 1 else "")
            outcome.note = (f"too few deals for a model of its own: {counts.words()}, at least {MIN_WON} won and "
                            f"{MIN_LOST} lost are needed (missing {plan.missing}){sampled}; scored by the global model")
            continue
        try:
            result = train(spec, part, activities, segment_config(config, len(np.unique(part.lead_of)),
                                                                  len(np.unique(examples.lead_of))))
        except (DataError, PolicyError) as error:  # a slice with one class, a stage rule its holdout cannot meet
            outcome.note = f"could not be trained on its own: {error}; scored by the global model"
            continue
        outcome.result = result
        against_global = _compare_with_global(outcome, result, part, activities, global_result, global_holdout,
                                              config.promotion)
        outcome.gates = [g for g in check_gates(result, config.promotion, None) if g.name != "champion"]
        outcome.gates.append(against_global)
        failed = [g for g in outcome.gates if not g.passed]
        if failed:
            outcome.note = ("failed its gates (" + "; ".join(f"{GATE_TITLES[g.name]}: {g.detail}" for g in failed)
                            + "); scored by the global model")
        else:
            outcome.used = True
    return SegmentTraining(column, outcomes, notes)


def _compare_with_global(outcome: SegmentOutcome, result, part: Examples, activities, global_result,
                         global_holdout: set[str], rule: PromotionRule) -> Gate:
    """Both models on the segment's holdout leads that are in the global holdout too (neither
    learnt from them): their ROC-AUC into `outcome`, and the gate "not below the global model":
    the segment model's configured metric there no worse than the global model's by more than
    `max_drop` (the champion gate's allowance). Without such leads of both outcomes the two
    cannot be compared, and the gate fails."""
    ids = np.asarray(result.holdout_ids).astype(str)
    shared = np.isin(ids, list(global_holdout))
    outcome.shared_leads = int(shared.sum())
    label = result.holdout_label[shared]
    if not shared.any() or label.min() == label.max():
        return Gate("global", False, f"its holdout shares {outcome.shared_leads} leads of both outcomes with the "
                                     "global model's holdout: the two cannot be compared")
    rows = result.split.holdout[shared]
    leads = part.leads.iloc[rows]
    as_of = part.as_of[rows] if part.as_of is not None else None
    bundle = global_result.bundle
    p_global = bundle.predict_proba(bundle.transform.transform_frame(leads, activities, as_of))
    ours, theirs = evaluate(label, result.holdout_probability[shared]), evaluate(label, p_global)
    outcome.shared_roc_auc, outcome.global_roc_auc = ours["roc_auc"], theirs["roc_auc"]
    metric = rule.metric
    gap = shortfall(metric, ours[metric], theirs[metric])
    return Gate("global", gap <= rule.max_drop,
                f"{metric} {ours[metric]:.4f} vs the global model's {theirs[metric]:.4f} on the same "
                f"{outcome.shared_leads:,} holdout leads ({'worse' if gap > 0 else 'better'} by {abs(gap):.4f}, "
                f"allowed drop {rule.max_drop})")
