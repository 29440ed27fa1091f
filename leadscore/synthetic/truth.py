"""The true probability of buying, a documented function of what the CRM shows:

    logit(p_true) = b0 + fit + intent_term + drift + season

fit is the sum of the profile trait effects, intent_term = a * log1p(I) - c * [unsubscribed
before qualification] with I the recency-weighted count of intent activity, drift a slow
shift across cohorts, and season (zero unless asked for) a swing with the month of creation.
Leads interested in the Home Edition get no intent term and a penalty.
Everything is read from the lead as the CRM records it: a trait left blank (exported as a
placeholder) counts its population-average effect, so the truth is the best any model of the
export could know, and its AUC is a ceiling a model can approach.
b0 is solved so that the mean probability equals the requested won rate.
"""

from __future__ import annotations

import numpy as np

from leadscore.synthetic import world
from leadscore.synthetic.activities import RECENT_FROM_S, Events
from leadscore.synthetic.profiles import Profiles


def intent_index(pre: Events, n_leads: int) -> tuple[np.ndarray, np.ndarray]:
    """I = sum over types of w_type * (n_last7 + 0.5 * n_days8_30), and whether the lead
    unsubscribed before qualification."""
    recency = np.where(pre.offset_s >= RECENT_FROM_S, 1.0, world.OLDER_INTENT_WEIGHT)
    weights = world.INTENT_WEIGHTS[pre.type_code] * recency
    intent = np.bincount(pre.lead, weights=weights, minlength=n_leads)
    unsubscribes = np.bincount(pre.lead[pre.type_code == world.UNSUBSCRIBE], minlength=n_leads)
    return intent, unsubscribes > 0


def drift(profiles: Profiles) -> np.ndarray:
    """Log-odds shift growing linearly from -half to +half of each drift over the cohorts."""
    centred = profiles.cohort - 0.5
    source, source_change = world.DRIFT_IMPROVING_SOURCE
    campaign, campaign_change = world.DRIFT_DECAYING_CAMPAIGN
    return centred * (world.DRIFT_BASE
                      + source_change * profiles.is_value(world.LEAD_SOURCE, source)
                      + campaign_change * profiles.is_value(world.CAMPAIGN, campaign))


def creation_month(profiles: Profiles) -> np.ndarray:
    """Calendar month (1-12) each lead was created in."""
    return profiles.created_s.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12 + 1


def season(profiles: Profiles, amplitude: float) -> np.ndarray:
    """Log-odds shift by the month of creation: amplitude * cos(2 pi (month - peak) / 12)."""
    return amplitude * np.cos(2.0 * np.pi * (creation_month(profiles) - world.SEASON_PEAK_MONTH) / 12.0)


def logit_before_base(profiles: Profiles, intent: np.ndarray, unsubscribed: np.ndarray,
                      seasonality: float = 0.0) -> np.ndarray:
    """Everything in logit(p_true) except the intercept b0."""
    intent_term = world.INTENT_SCALE * np.log1p(intent) - world.UNSUBSCRIBE_PENALTY * unsubscribed
    home = profiles.home_edition_recorded
    intent_term = home * -world.HOME_EDITION_PENALTY + (1.0 - home) * intent_term
    logit = profiles.fit + intent_term + drift(profiles)
    return logit + season(profiles, seasonality) if seasonality else logit


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def solve_intercept(logit_rest: np.ndarray, won_rate: float, iterations: int = 60) -> float:
    """b0 such that the mean of sigmoid(b0 + logit_rest) is won_rate, by bisection (the mean is
    increasing in b0)."""
    low, high = -30.0, 30.0
    for _ in range(iterations):
        middle = (low + high) / 2.0
        if sigmoid(middle + logit_rest).mean() < won_rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0

