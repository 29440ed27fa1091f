"""How much history a model needs, decided once before anything is fitted or registered.

- Fewer than MIN_WON won or MIN_LOST lost leads: training refuses, naming the counts and what
  is missing ("28 more won deals"). 40 of each: the holdout (a fifth of the leads) then holds
  about 8 of the rarer class, and the training folds about 6 each; below that a holdout ROC-AUC,
  a calibration curve or a stage's conversion is a handful of deals, and the better-than-chance
  gate cannot tell a model from a coin.
- From there up to ALL_CANDIDATES_FROM_LEADS leads: the logistic model only. LightGBM stops
  early on the validation slice (a fifth of the training leads) and needs `min_child_samples`
  leads per leaf; below about 1,000 leads its trees learn the few deals by heart, and the blend
  inherits that. The regularised logistic model, with its monotone constraints, is the safe
  choice on little data; it is also the baseline, so the gates still run.

Counts are leads with an outcome (each lead once, whatever its number of snapshots). The rule
takes label counts (`data_plan`), so a part of the data (a segment) can be checked the same way.

And how much is used at most (`lead_sample`): above the config's `max_leads` (auto: AUTO_MAX_LEADS)
training takes a random sample of that many leads,
drawn over the whole window, every snapshot of a kept lead kept; the time split, folds and holdout
are then made within the sample as without it. The draw is a hash of each lead's id
(features.examples.lead_uniforms), so the same leads are kept in every run on the same export; as
the export grows, a lead once left out stays out, and a kept lead gives way only to a new lead
that draws lower (the sample's size stays max_leads). On a Dask cluster
(`training_plan_on_cluster`) the sample is what the client fits, while LightGBM learns from
every lead on the workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.errors import DataError
from features.validation_rules import MIN_CLOSED_PER_OUTCOME

MIN_WON = MIN_LOST = MIN_CLOSED_PER_OUTCOME
"""Won leads, and lost leads, below which training refuses (40). One number with the export's
validation rule (features.validation_rules), which counts closed deals in the export before any
example is built; this rule counts the leads that made it into the training examples (a deal
closed too recently, or before the lead's first snapshot, is not one)."""
ALL_CANDIDATES_FROM_LEADS = 1_000
"""Leads with an outcome from which every candidate model is trained; below: logistic only."""
SMALL_DATA_CANDIDATES = ("logistic",)


class NotEnoughData(DataError):
    """Too few won or lost leads to train on."""


@dataclass(frozen=True)
class LabelCounts:
    """Leads with an outcome, each once."""

    won: int
    lost: int

    @property
    def leads(self) -> int:
        return self.won + self.lost

    def words(self) -> str:
        return f"{self.won:,} won and {self.lost:,} lost leads"


@dataclass(frozen=True)
class DataPlan:
    """What the data allows: refused (with `missing`, in words) or the candidates to train,
    and why they are limited (`reason`, empty when every candidate is trained)."""

    counts: LabelCounts
    where: str
    missing: str = ""  # "28 more won deals and 3 more lost deals"; empty when enough
    candidates: tuple[str, ...] | None = None  # None: the configured candidates
    reason: str = ""

    @property
    def refused(self) -> bool:
        return bool(self.missing)

    @property
    def logistic_only(self) -> bool:
        return self.candidates == SMALL_DATA_CANDIDATES

    def refusal(self) -> str:
        return (f"not enough history to train on {self.where}: {self.counts.words()} (at least {MIN_WON} won and "
                f"{MIN_LOST} lost are needed); missing: {self.missing}. Add older closed deals to the export, "
                "or wait for more deals to close")

    def raise_if_refused(self) -> None:
        if self.refused:
            raise NotEnoughData(self.refusal())


def data_plan(won: int, lost: int, where: str = "the training data") -> DataPlan:
    """The rule, on label counts (won and lost leads) of the data or of a part of it (`where`
    names it in the messages)."""
    counts = LabelCounts(int(won), int(lost))
    short = [f"{need - have:,} more {word} deal{'s' if need - have != 1 else ''}"
             for have, need, word in ((counts.won, MIN_WON, "won"), (counts.lost, MIN_LOST, "lost")) if have < need]
    if short:
        return DataPlan(counts, where, missing=" and ".join(short))
    if counts.leads < ALL_CANDIDATES_FROM_LEADS:
        return DataPlan(counts, where, candidates=SMALL_DATA_CANDIDATES,
                        reason=f"logistic model only: {counts.leads:,} leads with an outcome in {where}, fewer than "
                               f"{ALL_CANDIDATES_FROM_LEADS:,} (LightGBM and the blend need more to learn more than "
                               "these deals by heart)")
    return DataPlan(counts, where)


def label_counts(lead: np.ndarray, label: np.ndarray) -> LabelCounts:
    """Won and lost leads among examples (per example: its lead, its label 1/0): each lead once."""
    _, first = np.unique(np.asarray(lead), return_index=True)
    won = int(np.asarray(label)[first].astype(int).sum())
    return LabelCounts(won, len(first) - won)


AUTO_MAX_LEADS = 60_000
"""Leads with an outcome one machine trains on at most when the config says `max_leads: auto`.
The time of a training grows with its leads (six LightGBM fits of the default out-of-fold
calibration, each of about as many trees as early stopping chose), and the demo CRM's holdout is
ranked no better with more of them. `benchmarks/train_model.py --leads 1000000` (810,352 leads
with an outcome, configs/demo.yaml, 2026-12-03): a sample of 60,000, 263 s and 5.56 GiB, holdout
ROC-AUC 0.8262 (0.0068 short of the best achievable on the same holdout), ECE 0.0165; of 100,000,
389 s and 5.67 GiB, 0.8242 (0.0071 short), ECE 0.0141. On 200,000 demo leads (162,307 with an
outcome) every lead took 619 s, 0.0061 short, ECE 0.0123; the sample of 60,000, 210 s, 0.0070
short, ECE 0.0129 (docs/promotion.md, "How much data")."""
SAMPLE_TAGS = ("sampled_leads", "leads_with_outcome")
"""Version tags of a model trained on a sample (LeadSample.tags); a version re-planned from it
(`leadscore stages`) carries them over."""
SAMPLE_DRAW = 1_000
"""The lead_uniforms stream the sample is drawn from (snapshot ages use streams 0, 1, 2, ...)."""


@dataclass(frozen=True)
class LeadSample:
    """Training on `kept` of the `of` leads with an outcome, by the config's `max_leads`
    (`setting`); `on_cluster`: the sample is what the client fits (the logistic model, the
    calibration, stages and gates) while LightGBM learns from every lead on a Dask cluster."""

    kept: int
    of: int
    setting: int | str
    on_cluster: bool = False

    @property
    def share(self) -> float:
        """The share of the leads the sample keeps (kept / of)."""
        return self.kept / self.of

    def tags(self) -> dict[str, str]:
        """The run's and the registered version's tags saying the version learnt from a sample
        (SAMPLE_TAGS; `leadscore models` shows them)."""
        return {"sampled_leads": str(self.kept), "leads_with_outcome": str(self.of)}

    def words(self) -> str:
        where = "on the client" if self.on_cluster else "on one machine"
        said = f"auto in the training config, {self.kept:,} {where}" if self.setting == "auto" \
            else f"{self.kept:,} in the training config"
        if self.on_cluster:
            return (f"a random {self.kept:,} of the {self.of:,} leads with an outcome, drawn over the whole window, "
                    "for the logistic model, calibration, holdout and stages; LightGBM learns from every lead on "
                    f"the cluster (max_leads: {said}; null fits every lead on this machine too)")
        return (f"a random {self.kept:,} of the {self.of:,} leads with an outcome, drawn over the whole window "
                f"(max_leads: {said}; null trains on every lead)")


def max_leads(setting: int | str | None) -> int | None:
    """The most leads training fits on one machine: the config's `max_leads`, with auto
    resolved to AUTO_MAX_LEADS. On a Dask cluster the same number bounds what the client fits;
    LightGBM learns from every lead on the workers (training.dask_trainer)."""
    return AUTO_MAX_LEADS if setting == "auto" else setting


def sample_cut(draws: np.ndarray, most: int | None, leads: int | None = None) -> float | None:
    """The rule of the sample: a lead is kept when its draw (`features.examples.lead_uniforms`
    with SAMPLE_DRAW, one per lead with an outcome; `features.examples.drawn_at_most` tests it)
    is at most the returned number, the `most`-th smallest draw; None (every lead kept) when
    there are at most `most` leads or `most` is None. `leads`: how many leads there are when
    `draws` holds only the smallest of theirs (default len(draws)). Two leads draw the same
    number with odds of about 2**-53 per pair."""
    draws = np.asarray(draws, dtype=np.float64)
    if most is None or (len(draws) if leads is None else leads) <= most:
        return None
    return float(np.partition(draws, most - 1)[most - 1])


def lead_sample(examples, setting: int | str | None):
    """(examples, None) when they hold at most max_leads(setting) leads, else (the examples of
    the leads `sample_cut` keeps, LeadSample). The kept examples carry the whole export's
    counts and exclusions (what the export held and left out), each kept lead all its
    snapshots, in their order."""
    from dataclasses import replace

    from features.examples import drawn_at_most, lead_uniforms

    lead = examples.lead_of
    leads, first = np.unique(lead, return_index=True)
    ids = examples.leads["lead_id"].iloc[first]
    cut = sample_cut(lead_uniforms(ids, SAMPLE_DRAW), max_leads(setting))
    if cut is None:
        return examples, None
    kept = leads[drawn_at_most(ids, SAMPLE_DRAW, cut)]
    sample = LeadSample(len(kept), len(leads), setting)
    share = examples.lead_share * sample.share  # of the export's leads, whatever part `examples` already were
    return (replace(examples.of_leads(np.isin(lead, kept)), excluded=examples.excluded, counts=examples.counts,
                    lead_share=share), sample)


def training_plan(examples, setting: int | str | None):
    """(the examples to train on, LeadSample or None, DataPlan): the export's leads checked
    against the minimum (NotEnoughData naming its counts), then the sample above max_leads
    checked again (`checked_sample`)."""
    plan = examples_plan(examples)
    plan.raise_if_refused()
    kept, sample = lead_sample(examples, setting)
    return kept, sample, (plan if sample is None else checked_sample(examples_plan(kept), sample, plan))


def checked_sample(sampled: DataPlan, sample: LeadSample, plan: DataPlan) -> DataPlan:
    """The sample's plan, refused when it is short of won or lost leads the export has, with the
    fix (raise max_leads), not with advice to export more history."""
    if sampled.refused:
        raise NotEnoughData(f"{sample.words()} hold {sampled.counts.words()}, fewer than the {MIN_WON} won and "
                            f"{MIN_LOST} lost a model needs (the export has {plan.counts.words()}): raise max_leads "
                            "in the training config, or set it to null to train on every lead")
    return sampled


def training_plan_on_cluster(examples, setting: int | str | None):
    """`training_plan` for examples on a Dask cluster (features.partitions.PartitionedExamples):
    the export's won and lost leads counted partition by partition and checked, the leads
    `sample_cut` keeps gathered to this machine. Returns (Examples of the kept leads, their
    canonical CRMTables, each example's lead PLACE, LeadSample or None, DataPlan); the
    examples' `lead_share` is the share kept."""
    from dataclasses import replace

    counts = examples.per_partition(_partition_counts)
    plan = data_plan(sum(won for won, _ in counts), sum(lost for _, lost in counts))
    plan.raise_if_refused()
    most = max_leads(setting)
    cut = sample_cut(examples.lead_draws(SAMPLE_DRAW, most), most, plan.counts.leads)
    kept, tables, places = examples.gather(SAMPLE_DRAW, cut)
    if cut is None:
        return kept, tables, places, None, plan
    sample = LeadSample(len(np.unique(kept.lead_of)), plan.counts.leads, setting, on_cluster=True)
    kept = replace(kept, lead_share=sample.share)
    return kept, tables, places, sample, checked_sample(examples_plan(kept), sample, plan)


def _partition_counts(frame) -> tuple[int, int]:
    """On a worker: (won, lost) leads of one partition of examples (`label_counts`)."""
    counts = label_counts(frame["lead_id"].to_numpy(), frame["label"].to_numpy())
    return counts.won, counts.lost


def examples_plan(examples) -> DataPlan:
    """The rule on training examples (features.examples.Examples)."""
    counts = label_counts(examples.lead_of, examples.label)
    return data_plan(counts.won, counts.lost)
