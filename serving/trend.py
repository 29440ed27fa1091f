"""A lead's trend: how its score moved since its previous logged score. The one rule for the
API's `trend`, batch scoring's trend columns and the web pages' arrows.

The change is counted in the points of the score people see (the probability in whole
percent, `score`): 40% then 64% is up 24 points. A change that leaves the shown score as it
was is "steady": 0.404 then 0.396 both show 40%, and an arrow there would point at noise the
reader cannot see (a calibrated probability moves by fractions of a point when one activity
ages by a day). So steady is exactly "the same score shown": |points| < STEADY_BELOW_POINTS.
"new" when the lead has no previous logged score.

Which score is "previous" follows the score log's own record of each lead (scored_inputs: its
latest score and the one that replaced, serving.store.inserts.upsert_scored_inputs), so that the
answer of /score and the queue's arrow after it agree (`previous_score`): the previous score
is the lead's latest logged score made before this one (of those made at the same moment, the
last logged); a score older than the lead's latest (a backfill) has no trend (None: unknown).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

DIRECTIONS = ("up", "down", "steady", "new")
STEADY_BELOW_POINTS = 1
"""A change of fewer points than this is steady: the score shown (whole percent) is the same."""
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Trend:
    direction: str
    """up, down, steady, or new (no previous score)"""
    points: int | None
    """the change of the score shown (whole percent); None when new"""
    days: float | None
    """days since the previous score (one decimal); None when new or its time is not known"""

    def as_dict(self) -> dict:
        return {"direction": self.direction, "points": self.points, "days": self.days}


NEW = Trend("new", None, None)


def score_points(probability: float) -> int:
    """The score people see: the probability in whole percent, rounded half to even as the
    answers' `score` is (numpy's rint; Python's round rounds alike)."""
    return round(probability * 100)


def score_trend(probability: float, previous: float | None, scored_at: datetime | None = None,
                previous_scored_at: datetime | None = None) -> Trend:
    """The trend of a score `probability` (at `scored_at`) after `previous` (at
    `previous_scored_at`): up, down or steady by the points of the score shown; new without a
    previous score."""
    if previous is None:
        return NEW
    points = score_points(probability) - score_points(previous)
    direction = ("steady" if abs(points) < STEADY_BELOW_POINTS else "up" if points > 0 else "down")
    days = None
    if scored_at is not None and previous_scored_at is not None:
        days = round(max((scored_at - previous_scored_at).total_seconds(), 0.0) / SECONDS_PER_DAY, 1)
    return Trend(direction, points, days)


class KeptScores(NamedTuple):
    """A lead's scores as the log keeps them in scored_inputs: the latest and the one it replaced."""

    probability: float | None
    scored_at: datetime
    previous_probability: float | None
    previous_scored_at: datetime | None


UNKNOWN = object()
"""`previous_score`'s answer when the kept scores cannot say which was the previous one."""


def previous_score(kept: KeptScores | None, scored_at: datetime):
    """(probability, scored_at) of the lead's previous score for a score made at `scored_at`,
    None when it has none (new), or UNKNOWN. The rule of the log's upsert: a later score
    replaces the latest (which becomes the previous); one at the same moment replaces it and
    keeps its previous. A score older than the latest (a backfill) has its previous somewhere
    in the log that the kept ones need not show (scores logged out of time order): UNKNOWN."""
    if kept is None or kept.probability is None:  # a record kept before scores were: no score
        return None
    if scored_at > kept.scored_at:
        return kept.probability, kept.scored_at
    if scored_at == kept.scored_at:
        return None if kept.previous_probability is None else (kept.previous_probability, kept.previous_scored_at)
    return UNKNOWN


def kept_after(kept: KeptScores | None, probability: float, scored_at: datetime) -> KeptScores | None:
    """The kept scores once a score (`probability` at `scored_at`) is logged, by the same rule:
    for a lead sent twice in one request or file."""
    if kept is None or kept.probability is None:
        return KeptScores(probability, scored_at, None, None)
    if scored_at > kept.scored_at:
        return KeptScores(probability, scored_at, kept.probability, kept.scored_at)
    if scored_at == kept.scored_at:
        return KeptScores(probability, scored_at, kept.previous_probability, kept.previous_scored_at)
    return kept


def trends_in_order(lead_ids: list[str], probabilities: list[float], scored_at: datetime,
                    kept: dict[str, KeptScores]) -> list[Trend | None]:
    """The trend of each score, in order, made at `scored_at`, after the kept scores of its lead
    (`kept`, lead id -> KeptScores; a lead absent has none) and the scores before it in the same
    list; None where the previous score is unknown. The API and batch scoring both call this."""
    kept = dict(kept)
    out: list[Trend | None] = []
    for lead_id, probability in zip(lead_ids, probabilities):
        before = kept.get(lead_id)
        previous = previous_score(before, scored_at)
        out.append(None if previous is UNKNOWN else NEW if previous is None
                   else score_trend(probability, previous[0], scored_at, previous[1]))
        kept[lead_id] = kept_after(before, probability, scored_at)
    return out
