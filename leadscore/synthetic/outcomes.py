"""How deals end: won or lost as a coin flip with the true probability, closed some days after
qualification, or still open at the export."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadscore.synthetic import world
from leadscore.synthetic.activities import WINDOW_S
from leadscore.synthetic.profiles import Profiles

WON_LAG_BETA = (2.6, 2.2)
LOST_LAG_BETA = (1.5, 2.5)
"""Shapes of the Beta distributions placing the close within CLOSE_LAG_DAYS: won deals take
longer (about 33 days on average) than lost ones (about 23)."""


@dataclass
class Deals:
    """Every lead's deal. `won` and `closes_s` are drawn for every lead; only the leads with
    `closed` set have an outcome row, the rest are open at the export."""

    won: np.ndarray
    closes_s: np.ndarray
    closed: np.ndarray
    sales_rating: np.ndarray
    """Index into world.SALES_RATINGS, -1 for open leads (the column is left empty)."""


def close_deals(profiles: Profiles, p_true: np.ndarray, rng: np.random.Generator) -> Deals:
    n = len(profiles)
    won = rng.random(n) < p_true
    low, high = world.CLOSE_LAG_DAYS
    lag = np.where(won, rng.beta(*WON_LAG_BETA, size=n), rng.beta(*LOST_LAG_BETA, size=n))
    closes_s = profiles.created_s + WINDOW_S + np.floor((low + (high - low) * lag) * world.DAY).astype(np.int64)
    never = rng.random(n) < world.NEVER_CLOSE_SHARE
    closed = (closes_s <= world.EXPORT_END.astype(np.int64)) & ~never
    return Deals(won=won, closes_s=closes_s, closed=closed,
                 sales_rating=_sales_ratings(won, closed, rng))


def _sales_ratings(won: np.ndarray, closed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The rating sales typed in after talking to the lead: it mirrors the outcome (a leak)."""
    cumulative = np.where(won[:, None], np.cumsum(world.SALES_RATING_GIVEN_WON),
                          np.cumsum(world.SALES_RATING_GIVEN_LOST))
    rating = (rng.random(len(won))[:, None] > cumulative[:, :-1]).sum(axis=1).astype(np.int8)
    return np.where(closed, rating, np.int8(-1))
