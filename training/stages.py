"""MQL and SQL thresholds from a stated business rule, applied to the holdout.

The result is the shared definition of each stage in words and numbers: the threshold, how
many of such leads bought (historical conversion), their share of all leads and the share of
all buyers they hold. It travels with the model version, and `leadscore stages` re-plans it from
the stored holdout predictions without retraining.

The default policy (SQL: at least 50% buy; MQL: MQLs and SQLs hold at least 80% of buyers)
gives valid stages on any holdout with buyers, and says in a note when it had to adapt:

- the base rate already meets the SQL precision target, so every lead would be an SQL: the SQL
  stage is the top `stages.sql.capacity_share` of leads instead (20% when unset);
- the default precision target is out of reach: the same capacity rule. A target someone
  *set* is a promise, so then it is refused instead, with the best reachable value;
- SQLs already hold the buyers the MQL rule asks for: MQL is the same as SQL.

A rule that no threshold can meet with the configured keys is refused (`PolicyError`) with the
values that can be met and the key to change. Thresholds are round numbers: the one with the
fewest decimals that takes exactly the same holdout leads, so the published "0.62 and above"
is the threshold applied.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from features.errors import LeadscoreError
from features.metrics import percent
from features.stage_words import Rule, configured_share, plain_threshold, stage_words
from training.config import MqlPolicy, SqlPolicy, StagePolicy

DEFAULT_CAPACITY_SHARE = 0.2  # SQL capacity when a precision rule gives way and capacity_share is unset


class PolicyError(LeadscoreError):
    """A stage policy that no threshold can meet on the holdout."""


@dataclass(frozen=True)
class StageDefinition:
    name: str
    threshold: float
    rule: str  # the business rule, in English words
    conversion: float  # share of holdout leads at or above the threshold that bought
    share_of_leads: float
    share_of_buyers: float
    leads: int
    band_conversion: float | None = None  # MQL only: leads between MQL and SQL thresholds
    band_share_of_leads: float | None = None
    note: str | None = None  # why the rule applied differs from the one configured, in words
    leads_per_week: float | None = None  # the sales capacity the rule was given (capacity_per_week rules)
    rule_kind: str | None = None  # the rule as features.stage_words.Rule, to be written in any language
    rule_args: dict[str, float] | None = None

    def words(self, language: str = "en") -> str:
        return stage_words(asdict(self), language)

    def to_dict(self) -> dict:
        return {**asdict(self), "words": self.words()}


# ------------------------------------------------------------------------------ numbers in words
def _down(value: float) -> float:
    """Rounded down to two decimals (more for tiny values): a value that can still be met."""
    for decimals in range(2, 7):
        rounded = math.floor(value * 10**decimals) / 10**decimals
        if rounded > 0:
            return rounded
    return value


def _up(value: float) -> float:
    """Rounded up to two decimals, at most 1: a share that is enough."""
    return min(1.0, math.ceil(value * 100) / 100)


def _round_down_between(low: float, high: float) -> float:
    """The number with the fewest decimals (at least two) in (low, high]."""
    for decimals in range(2, 13):
        scale = 10**decimals
        rounded = math.floor(high * scale) / scale
        if rounded > high:  # floating point: step back
            rounded = (math.floor(high * scale) - 1) / scale
        if rounded > low:
            return rounded
    return float(high)


def _round_up_between(low: float, high: float) -> float:
    """The number with the fewest decimals (at least two) in [low, high]."""
    for decimals in range(2, 13):
        scale = 10**decimals
        rounded = math.ceil(low * scale) / scale
        if rounded < low:
            rounded = (math.ceil(low * scale) + 1) / scale
        if rounded <= high:
            return rounded
    return float(low)


# ------------------------------------------------------------------------------ the holdout curve
class _Curve:
    """Precision, share and recall for every threshold 'top k leads'."""

    def __init__(self, label: np.ndarray, probability: np.ndarray, min_leads: int, weeks: float | None):
        order = np.argsort(-probability, kind="stable")
        self.p = probability[order]
        won = np.cumsum(label[order])
        self.n = len(order)
        self.buyers = int(label.sum())
        self.base_rate = self.buyers / self.n
        self.k = np.arange(1, self.n + 1)
        self.precision = won / self.k
        self.recall = won / max(self.buyers, 1)
        self.min_leads = min_leads
        self.weeks = weeks
        # Only cut where the probability changes: a threshold takes all leads with equal scores.
        self.valid = np.r_[self.p[1:] < self.p[:-1], True]

    def threshold(self, i: int) -> float:
        """The round threshold that takes exactly the top i + 1 leads (i at a valid cut)."""
        below = float(self.p[i + 1]) if i + 1 < self.n else -math.inf
        return _round_down_between(below, float(self.p[i]))

    def leads_at(self, threshold: float) -> int:
        return int(np.count_nonzero(self.p >= threshold))


@dataclass(frozen=True)
class _Cut:
    threshold: float
    rule: Rule
    note: str | None = None


def _weeks(order_ns: np.ndarray | None) -> float | None:
    if order_ns is None or len(order_ns) < 2:
        return None
    order_ns = np.asarray(order_ns, dtype=np.float64)
    if np.isnan(order_ns).any():
        return None
    span_days = (float(np.max(order_ns)) - float(np.min(order_ns))) / 86_400e9
    return span_days / 7 if span_days > 0 else None


def _capacity_cut(curve: _Curve, share: float, key: str, strict: bool) -> tuple[int, str | None]:
    """The widest stage within `share` of the holdout (and at least min_leads leads): the index
    of its last lead. When ties make that impossible, `strict` refuses naming the smallest share
    that works; otherwise that smallest stage is taken, with a note."""
    asked = int(np.floor(share * curve.n))
    capacity = max(curve.min_leads, asked)
    big_enough = curve.valid & (curve.k >= curve.min_leads)
    fits = np.flatnonzero(big_enough & (curve.k <= capacity))
    if len(fits):
        widened = None
        if asked < curve.min_leads:
            widened = (f"{configured_share(share)} of the {curve.n} holdout leads is {asked}, fewer than the "
                       f"{curve.min_leads} a stage needs to be measured (stages.min_stage_leads), so the stage "
                       f"holds {int(fits[-1]) + 1} leads; lower stages.min_stage_leads, or measure on more history")
        return int(fits[-1]), widened
    smallest = int(np.flatnonzero(big_enough)[0])  # the whole holdout always qualifies
    needed = (smallest + 1) / curve.n
    why = (f"the smallest stage of at least {curve.min_leads} holdout leads (stages.min_stage_leads) "
           f"that does not split equally scored leads holds {smallest + 1} leads, {percent(needed)} of the holdout")
    if strict:
        enough = (f"{_up(needed):g}" if key.endswith("capacity_share") else
                  f"{math.ceil((smallest + 1) / curve.weeks):g}")  # leads a week
        raise PolicyError(f"{key}: a capacity of {percent(share)} of leads ({asked} of {curve.n} holdout leads, "
                          f"{capacity} with stages.min_stage_leads) cannot be met: "
                          f"{why}; set {key} to {enough} or more")
    return smallest, f"{why}, more than the {configured_share(share)} asked; that stage is used"


def _capacity_share_of(policy: SqlPolicy | MqlPolicy, curve: _Curve, where: str) -> tuple[float, str]:
    """The share of leads a capacity rule allows, and the key that sets it."""
    if policy.rule == "capacity_share":
        return policy.capacity_share, f"{where}.capacity_share"
    if curve.weeks is None:
        raise PolicyError(f"{where}.rule: capacity_per_week needs dated leads to count weeks, and this holdout "
                          f"has no lead dates; use {where}.rule: capacity_share with {where}.capacity_share")
    return min(1.0, policy.leads_per_week * curve.weeks / curve.n), f"{where}.leads_per_week"


def _sql_capacity_fallback(policy: SqlPolicy, curve: _Curve, why: str) -> _Cut:
    share = policy.capacity_share or DEFAULT_CAPACITY_SHARE
    i, tie_note = _capacity_cut(curve, share, "stages.sql.capacity_share", strict=False)
    how = ("stages.sql.capacity_share" if policy.capacity_share else
           f"stages.sql.capacity_share, {configured_share(DEFAULT_CAPACITY_SHARE)} when unset")
    note = f"{why}, so the SQL stage is the top {configured_share(share)} of leads instead ({how})"
    return _Cut(curve.threshold(i), Rule("capacity_fallback", {"share": share}),
                note + (f"; {tie_note}" if tie_note else ""))


def sql_cut(policy: SqlPolicy, curve: _Curve) -> _Cut:
    if policy.rule == "min_precision":
        return _sql_precision(policy, curve)
    if policy.rule in ("capacity_share", "capacity_per_week"):
        share, key = _capacity_share_of(policy, curve, "stages.sql")
        i, widened = _capacity_cut(curve, share, key, strict=True)
        rule = (Rule("sql_capacity_share", {"share": share}) if policy.rule == "capacity_share"
                else Rule("sql_capacity_per_week", {"n": policy.leads_per_week}))
        return _Cut(curve.threshold(i), rule, widened)
    return _sql_expected_value(policy, curve)


def _sql_precision(policy: SqlPolicy, curve: _Curve) -> _Cut:
    target = policy.min_precision
    if curve.base_rate >= target:
        return _sql_capacity_fallback(policy, curve, (
            f"{percent(curve.base_rate)} of all holdout leads bought, already at least the {configured_share(target)} asked "
            f"of SQLs (stages.sql.min_precision): every lead would be an SQL"))
    eligible = curve.valid & (curve.k >= curve.min_leads)
    ok = np.flatnonzero(eligible & (curve.precision >= target))
    if len(ok):
        return _Cut(curve.threshold(int(ok[-1])), Rule("min_precision", {"share": target}))
    candidates = np.flatnonzero(eligible)
    best_i = int(candidates[np.argmax(curve.precision[candidates])])
    best = float(curve.precision[best_i])
    at = f"probability {plain_threshold(curve.threshold(best_i))} and above"
    if "min_precision" not in policy.model_fields_set:  # the default target: adapt, and say so
        cut = _sql_capacity_fallback(policy, curve, (
            f"no group of at least {curve.min_leads} holdout leads reaches the {configured_share(target)} asked of SQLs by "
            f"default (the best is {percent(best)}, at {at})"))
        if _down(best) > curve.base_rate:
            cut = _Cut(cut.threshold, cut.rule, f"{cut.note}; to keep a precision rule, set "
                                                f"stages.sql.min_precision to {_down(best):g} or lower")
        return cut
    raise PolicyError(f"stages.sql.min_precision: {target:g} cannot be reached: the best precision with at least "
                      f"{curve.min_leads} leads is {_down(best):g}, at {at} ({best_i + 1} leads); set "
                      f"stages.sql.min_precision to {_down(best):g} or lower, or use stages.sql.rule: capacity_share")


def _sql_expected_value(policy: SqlPolicy, curve: _Curve) -> _Cut:
    rule = Rule("expected_value", {"value": policy.deal_value, "cost": policy.contact_cost})
    break_even = policy.contact_cost / policy.deal_value
    inside = curve.leads_at(break_even)
    if break_even <= 1 and inside >= curve.min_leads:
        # the round threshold at or above break-even that takes the same holdout leads
        return _Cut(_round_up_between(break_even, float(curve.p[inside - 1])), rule)
    m = curve.min_leads
    p_m = float(curve.p[min(m, curve.n) - 1])
    if p_m <= 0:
        raise PolicyError(f"stages.sql: expected value cannot be met: the top {m} holdout leads include leads with "
                          "probability 0, worth nothing at any deal value; use stages.sql.rule: capacity_share")
    cost = math.floor(policy.deal_value * p_m * 100) / 100
    value = math.ceil(policy.contact_cost / p_m * 100) / 100
    raise PolicyError(f"stages.sql: expected value cannot be met: {inside} holdout leads are worth the "
                      f"{policy.contact_cost:g} a contact costs (deal_value {policy.deal_value:g} x probability "
                      f"{plain_threshold(break_even) if break_even <= 1 else f'{break_even:g}'} or more), and a stage "
                      f"needs at least {m} (stages.min_stage_leads); the {m}th best lead has probability "
                      f"{p_m:.4g}, worth {policy.deal_value * p_m:.4g}: set stages.sql.contact_cost to {cost:g} or "
                      f"lower, or stages.sql.deal_value to {value:g} or higher, or use stages.sql.rule: capacity_share")


def mql_cut(policy: MqlPolicy, curve: _Curve, sql: _Cut) -> _Cut:
    sql_leads = curve.leads_at(sql.threshold)
    if policy.rule == "min_recall":
        i = int(np.flatnonzero(curve.valid & (curve.recall >= policy.min_recall))[0])
        rule = Rule("min_recall", {"share": policy.min_recall})
        if i + 1 <= sql_leads:
            held = float(curve.recall[sql_leads - 1])
            return _Cut(sql.threshold, rule, f"SQLs already hold {percent(held)} of buyers, at least the "
                                             f"{configured_share(policy.min_recall)} asked of MQLs and SQLs together "
                                             "(stages.mql.min_recall): MQL is the same as SQL")
        return _Cut(curve.threshold(i), rule)
    share, key = _capacity_share_of(policy, curve, "stages.mql")
    i, widened = _capacity_cut(curve, share, key, strict=True)
    if i + 1 < sql_leads:
        sql_share = sql_leads / curve.n
        if policy.rule == "capacity_share":
            fix = f"set {key} to {_up(sql_share):g} or more"
        else:
            fix = f"set {key} to {math.ceil(sql_leads / curve.weeks):g} or more"
        raise PolicyError(f"{key}: the MQL stage ({percent((i + 1) / curve.n)} of leads) would be narrower than "
                          f"the SQL stage, which takes {percent(sql_share)} of leads ({sql.rule.words()}); MQL must be the "
                          f"broader stage: {fix}, or narrow the SQL stage (stages.sql)")
    if i + 1 == sql_leads:
        return _Cut(sql.threshold, _mql_capacity_words(policy, share), widened)
    return _Cut(curve.threshold(i), _mql_capacity_words(policy, share), widened)


def _mql_capacity_words(policy: MqlPolicy, share: float) -> Rule:
    if policy.rule == "capacity_share":
        return Rule("mql_capacity_share", {"share": share})
    return Rule("mql_capacity_per_week", {"n": policy.leads_per_week})


# ------------------------------------------------------------------------------ the stages
def stage_thresholds(policy: StagePolicy, label: np.ndarray, probability: np.ndarray,
                     order_ns: np.ndarray | None = None, lead_share: float = 1.0) -> dict[str, StageDefinition]:
    """SQL and MQL definitions from the policy, measured on holdout labels and probabilities
    (`order_ns`: each lead's time in ns, for the per-week capacity rules; `lead_share`: the
    share of the period's leads the holdout holds, below 1 when training took a sample
    (training.minimum_data), so that N leads a week means N of all the leads that arrive, not
    of the sample's)."""
    label = np.asarray(label).astype(int)
    probability = np.asarray(probability, dtype=np.float64)
    n, buyers = len(label), int(label.sum())
    if n < policy.min_stage_leads:
        raise PolicyError(f"the holdout has {n} leads, fewer than the {policy.min_stage_leads} a stage needs "
                          f"(stages.min_stage_leads): set stages.min_stage_leads to {max(n, 1)} or lower, or "
                          "train on more history")
    if buyers == 0:
        raise PolicyError(f"none of the {n} holdout leads bought: no stage can be measured; train on more history")
    weeks = _weeks(order_ns)
    curve = _Curve(label, probability, policy.min_stage_leads, weeks * lead_share if weeks is not None else None)
    sql = sql_cut(policy.sql, curve)
    mql = mql_cut(policy.mql, curve, sql)
    def capacity(stage: SqlPolicy | MqlPolicy) -> float | None:
        return stage.leads_per_week if stage.rule == "capacity_per_week" else None

    sql_def = _measure("SQL", sql, label, probability, leads_per_week=capacity(policy.sql))
    band = (probability >= mql.threshold) & (probability < sql.threshold)
    mql_def = _measure("MQL", mql, label, probability,
                       band_conversion=float(label[band].mean()) if band.any() else None,
                       band_share_of_leads=float(band.mean()), leads_per_week=capacity(policy.mql))
    return {"sql": sql_def, "mql": mql_def}


def _measure(name: str, cut: _Cut, label: np.ndarray, probability: np.ndarray, **band) -> StageDefinition:
    inside = probability >= cut.threshold
    n_in = int(inside.sum())
    return StageDefinition(name, cut.threshold, cut.rule.words(), float(label[inside].mean()) if n_in else 0.0,
                           n_in / len(label), float(label[inside].sum() / max(label.sum(), 1)), n_in,
                           note=cut.note, rule_kind=cut.rule.kind, rule_args=dict(cut.rule.args), **band)
