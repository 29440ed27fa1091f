"""What the leads do: marketing activities before qualification (the intent the truth is
computed from) and after it (which depends on how the deal ends).

Counts are Poisson per lead and activity type, driven by two latent traits: an engagement level
that scales every activity and a buying propensity that scales the high-intent ones. Both lean
towards good-fit leads. Rows are expanded from the counts with np.repeat; no loop runs over
leads or activities.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadscore.synthetic import world
from leadscore.synthetic.profiles import Profiles

N_TYPES = len(world.ACTIVITY_TYPES)
WINDOW_S = world.QUALIFICATION_DAYS * world.DAY
RECENT_FROM_S = (world.QUALIFICATION_DAYS - world.RECENT_DAYS) * world.DAY


@dataclass
class Latents:
    """Unobserved traits of each lead that drive its activity."""

    engagement: np.ndarray
    propensity: np.ndarray
    tilt: np.ndarray


@dataclass
class Events:
    """Activity rows: lead index, seconds since the lead's creation, activity type code."""

    lead: np.ndarray
    offset_s: np.ndarray
    type_code: np.ndarray


@dataclass
class ActivityLog:
    """The exported event log, sorted by lead, then time, then type."""

    lead: np.ndarray
    occurred_s: np.ndarray
    type_code: np.ndarray
    value: np.ndarray

    def __len__(self) -> int:
        return len(self.lead)


def _lognormal_mean_one(sigma: float, z: np.ndarray) -> np.ndarray:
    return np.exp(sigma * z - sigma**2 / 2.0)


def draw_latents(profiles: Profiles, rng: np.random.Generator) -> Latents:
    n = len(profiles)
    fit_z = (profiles.fit - profiles.fit.mean()) / max(profiles.fit.std(), 1e-9)
    # A consumer's keenness has nothing to do with how well their employer fits.
    fit_z = np.where(profiles.home_edition, 0.0, fit_z)
    rho, rest = world.FIT_LOADING, np.sqrt(1.0 - world.FIT_LOADING**2)
    engagement = _lognormal_mean_one(world.ENGAGEMENT_SIGMA, rho * fit_z + rest * rng.standard_normal(n))
    propensity = _lognormal_mean_one(world.PROPENSITY_SIGMA, rho * fit_z + rest * rng.standard_normal(n))
    keen = np.where(profiles.home_edition, world.HOME_EDITION_ENGAGEMENT, 1.0)
    mean, spread = world.TIMING_TILT
    return Latents(engagement=engagement * keen, propensity=propensity * keen,
                   tilt=mean + spread * rng.standard_normal(n))


def _expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a (lead x type) count matrix: lead index and type code of every event."""
    n = counts.shape[0]
    lead = np.repeat(np.arange(n, dtype=np.int32), counts.sum(axis=1))
    type_code = np.repeat(np.tile(np.arange(N_TYPES, dtype=np.int8), n), counts.ravel())
    return lead, type_code


def _tilted_positions(tilt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positions in [0, 1) with density proportional to exp(tilt * x), by inverting the CDF."""
    u = rng.random(len(tilt))
    flat = np.abs(tilt) < 1e-6
    safe = np.where(flat, 1.0, tilt)
    x = np.log1p(u * np.expm1(safe)) / safe
    x = np.where(flat, u, x)
    return np.clip(x, 0.0, np.nextafter(1.0, 0.0))


def pre_qualification(profiles: Profiles, latents: Latents, rng: np.random.Generator) -> Events:
    """Activity in the 30 days from creation to qualification."""
    rates = (world.PRE_RATES[None, :] * latents.engagement[:, None]
             * latents.propensity[:, None] ** world.INTENT_EXPONENT[None, :])
    lead, type_code = _expand(rng.poisson(rates))
    position = _tilted_positions(latents.tilt[lead], rng)
    offset_s = np.floor(position * WINDOW_S).astype(np.int64)
    return Events(lead=lead, offset_s=offset_s, type_code=type_code)


def post_qualification(profiles: Profiles, latents: Latents, won: np.ndarray,
                       closes_s: np.ndarray, rng: np.random.Generator) -> Events:
    """Activity from qualification until the deal closes (or the export, for open deals), at
    most POST_QUALIFICATION_CAP_DAYS. Its mix depends on the outcome."""
    qualified_s = profiles.created_s + WINDOW_S
    until_s = np.minimum(closes_s, world.EXPORT_END.astype(np.int64))
    span_s = np.clip(until_s - qualified_s, 0, int(world.POST_QUALIFICATION_CAP_DAYS * world.DAY))
    base = np.where(won[:, None], world.POST_RATES_WON[None, :], world.POST_RATES_LOST[None, :])
    rates = base * (latents.engagement * span_s / WINDOW_S)[:, None]
    lead, type_code = _expand(rng.poisson(rates))
    offset_s = WINDOW_S + np.floor(rng.random(len(lead)) * span_s[lead]).astype(np.int64)
    return Events(lead=lead, offset_s=offset_s, type_code=type_code)


def _seconds_on_page(type_code: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    value = np.full(len(type_code), np.nan)
    for name, median in world.TIMED_TYPES.items():
        rows = np.flatnonzero(type_code == world.ACTIVITY_TYPES.index(name))
        seconds = median * np.exp(0.9 * rng.standard_normal(len(rows)))
        value[rows] = np.maximum(1.0, np.round(seconds))
    return value


def event_log(profiles: Profiles, pre: Events, post: Events, rng: np.random.Generator) -> ActivityLog:
    """Merge both phases, drop what would happen after the export and sort by lead, time, type.

    Lead, offset and type are packed into one int64 (27 + 32 + 4 bits) so that a single
    np.sort orders twenty million rows."""
    end_s = world.EXPORT_END.astype(np.int64)
    keys = []
    for events in (pre, post):
        visible = profiles.created_s[events.lead] + events.offset_s < end_s
        keys.append((events.lead[visible].astype(np.int64) << 36)
                    | (events.offset_s[visible] << 4) | events.type_code[visible])
    key = np.concatenate(keys)
    del keys
    key.sort()
    lead = (key >> 36).astype(np.int32)
    type_code = (key & 0xF).astype(np.int8)
    occurred_s = profiles.created_s[lead] + ((key >> 4) & 0xFFFFFFFF)
    del key
    return ActivityLog(lead=lead, occurred_s=occurred_s, type_code=type_code,
                       value=_seconds_on_page(type_code, rng))
