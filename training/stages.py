"""MQL and SQL thresholds from a stated business rule, applied to the holdout.

The result is the shared definition of each stage in words and numbers: the threshold, how
many of such leads bought (historical conversion), their share of all leads and the share of
all buyers they hold. It travels with the model version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from features.errors import LeadscoreError
from training.config import MqlPolicy, SqlPolicy, StagePolicy


class PolicyError(LeadscoreError):
    """A stage policy that no threshold can meet on the holdout."""


@dataclass(frozen=True)
class StageDefinition:
    name: str
    threshold: float
    rule: str  # the business rule, in words
    conversion: float  # share of holdout leads at or above the threshold that bought
    share_of_leads: float
    share_of_buyers: float
    leads: int
    band_conversion: float | None = None  # MQL only: leads between MQL and SQL thresholds
    band_share_of_leads: float | None = None

    def words(self) -> str:
        text = (f"{self.name}: probability {self.threshold:.2f} and above; {self.conversion:.0%} of such "
                f"leads bought; they were {self.share_of_leads:.0%} of leads and {self.share_of_buyers:.0%} "
                f"of buyers (rule: {self.rule})")
        if self.band_conversion is not None:
            text += (f". MQLs not yet SQL ({self.band_share_of_leads:.0%} of leads) bought at "
                     f"{self.band_conversion:.0%}")
        return text

    def to_dict(self) -> dict:
        return {**asdict(self), "words": self.words()}


class _Curve:
    """Precision, share and recall for every threshold 'top k leads'."""

    def __init__(self, label: np.ndarray, probability: np.ndarray):
        order = np.argsort(-probability, kind="stable")
        self.p = probability[order]
        won = np.cumsum(label[order])
        self.k = np.arange(1, len(order) + 1)
        self.precision = won / self.k
        self.share = self.k / len(order)
        self.recall = won / max(label.sum(), 1)
        self.n = len(order)
        # Only cut where the probability changes: a threshold takes all leads with equal scores.
        self.valid = np.r_[self.p[1:] < self.p[:-1], True]

    def stats_at(self, threshold: float, label: np.ndarray, probability: np.ndarray) -> tuple[float, float, float, int]:
        inside = probability >= threshold
        n_in = int(inside.sum())
        conversion = float(label[inside].mean()) if n_in else 0.0
        return conversion, n_in / len(label), float(label[inside].sum() / max(label.sum(), 1)), n_in


def _weeks(order_ns: np.ndarray | None) -> float | None:
    if order_ns is None or len(order_ns) < 2:
        return None
    span_days = (float(np.max(order_ns)) - float(np.min(order_ns))) / 86_400e9
    return span_days / 7 if span_days > 0 else None


def _share_threshold(curve: _Curve, share: float, min_leads: int, what: str) -> float:
    k = max(min_leads, int(np.floor(share * curve.n)))
    candidates = np.flatnonzero(curve.valid & (curve.k <= k))
    if len(candidates) == 0:
        raise PolicyError(f"{what}: a capacity of {share:.1%} of leads ({k} holdout leads) is less than "
                          f"the smallest group of equally scored leads; raise the capacity")
    return float(curve.p[candidates[-1]])


def sql_threshold(policy: SqlPolicy, curve: _Curve, min_leads: int, weeks: float | None) -> tuple[float, str]:
    eligible = curve.valid & (curve.k >= min_leads)
    if policy.rule == "min_precision":
        ok = np.flatnonzero(eligible & (curve.precision >= policy.min_precision))
        if len(ok) == 0:
            best = curve.precision[eligible].max() if eligible.any() else float("nan")
            raise PolicyError(f"stages.sql.min_precision {policy.min_precision:.0%} cannot be met: the best "
                              f"precision with at least {min_leads} holdout leads is {best:.1%}; lower it")
        return float(curve.p[ok[-1]]), f"at least {policy.min_precision:.0%} of SQLs buy"
    if policy.rule == "capacity_share":
        return (_share_threshold(curve, policy.capacity_share, min_leads, "stages.sql.capacity_share"),
                f"sales can take the top {policy.capacity_share:.0%} of leads")
    if policy.rule == "capacity_per_week":
        if weeks is None:
            raise PolicyError("stages.sql.capacity_per_week needs dated leads; use capacity_share")
        share = min(1.0, policy.leads_per_week * weeks / curve.n)
        return (_share_threshold(curve, share, min_leads, "stages.sql.leads_per_week"),
                f"sales can contact {policy.leads_per_week:g} leads a week")
    # expected value: contact when deal value x probability exceeds the cost of a contact
    threshold = policy.contact_cost / policy.deal_value
    if threshold >= 1 or not (curve.p >= threshold).sum() >= min_leads:
        best = float(curve.p[min(min_leads, curve.n) - 1]) * policy.deal_value
        raise PolicyError(f"stages.sql expected value: a contact costs {policy.contact_cost:g} but the "
                          f"expected value of the top {min_leads} leads is at most {best:.0f}; "
                          f"lower contact_cost or check deal_value")
    return threshold, (f"expected deal value ({policy.deal_value:g} x probability) above the "
                       f"{policy.contact_cost:g} cost of a sales contact")


def mql_threshold(policy: MqlPolicy, curve: _Curve, min_leads: int, weeks: float | None) -> tuple[float, str]:
    if policy.rule == "min_recall":
        ok = np.flatnonzero(curve.valid & (curve.recall >= policy.min_recall))
        return float(curve.p[ok[0]]), f"MQLs and SQLs hold at least {policy.min_recall:.0%} of buyers"
    if policy.rule == "capacity_share":
        return (_share_threshold(curve, policy.capacity_share, min_leads, "stages.mql.capacity_share"),
                f"marketing can nurture the top {policy.capacity_share:.0%} of leads")
    if weeks is None:
        raise PolicyError("stages.mql.capacity_per_week needs dated leads; use capacity_share")
    share = min(1.0, policy.leads_per_week * weeks / curve.n)
    return (_share_threshold(curve, share, min_leads, "stages.mql.leads_per_week"),
            f"marketing can work {policy.leads_per_week:g} leads a week")


def stage_thresholds(policy: StagePolicy, label: np.ndarray, probability: np.ndarray,
                     order_ns: np.ndarray | None = None) -> dict[str, StageDefinition]:
    """SQL and MQL definitions from the policy, measured on holdout labels and probabilities."""
    label = np.asarray(label).astype(int)
    probability = np.asarray(probability, dtype=np.float64)
    curve = _Curve(label, probability)
    weeks = _weeks(order_ns)
    sql, sql_rule = sql_threshold(policy.sql, curve, policy.min_stage_leads, weeks)
    mql, mql_rule = mql_threshold(policy.mql, curve, policy.min_stage_leads, weeks)
    if mql > sql:
        raise PolicyError(f"the MQL rule ({mql_rule}) gives a threshold {mql:.3f} above the SQL threshold "
                          f"{sql:.3f}: MQL must be the broader stage; loosen stages.mql or tighten stages.sql")
    conv, share, captured, n_in = curve.stats_at(sql, label, probability)
    sql_def = StageDefinition("SQL", sql, sql_rule, conv, share, captured, n_in)
    conv, share, captured, n_in = curve.stats_at(mql, label, probability)
    band = (probability >= mql) & (probability < sql)
    mql_def = StageDefinition("MQL", mql, mql_rule, conv, share, captured, n_in,
                              band_conversion=float(label[band].mean()) if band.any() else 0.0,
                              band_share_of_leads=float(band.mean()))
    return {"sql": sql_def, "mql": mql_def}
