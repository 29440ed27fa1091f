"""Who the leads are: when each was created, its profile traits and how well it fits the
company's ideal customer."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadscore.synthetic import world


@dataclass
class Profiles:
    """The clean, true profile of every lead, one entry per lead in lead-id order.

    `codes[column]` indexes into the matching `world.Trait.values`; `created_s` is seconds since
    the Unix epoch; `cohort` runs from 0 (oldest lead) to 1 (export moment)."""

    created_s: np.ndarray
    cohort: np.ndarray
    codes: dict[str, np.ndarray]
    employee_count: np.ndarray
    email_opt_in: np.ndarray
    fit: np.ndarray
    hidden: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.created_s)

    def is_value(self, trait: world.Trait, value: str) -> np.ndarray:
        return self.codes[trait.column] == trait.code(value)

    @property
    def home_edition(self) -> np.ndarray:
        return self.is_value(world.PRODUCT_INTEREST, world.HOME_EDITION)

    @property
    def home_edition_recorded(self) -> np.ndarray:
        """Share of Home Edition interest as the export shows it: 1 or 0 when recorded, the
        population share when the answer was left blank."""
        share = world.PRODUCT_INTEREST.shares[world.PRODUCT_INTEREST.code(world.HOME_EDITION)]
        return np.where(self.hidden[world.PRODUCT_INTEREST.column], share, self.home_edition.astype(float))


def creation_times(n_leads: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Creation moments over the history window with linearly growing volume, oldest first.

    The density of the cohort position t in [0, 1) is proportional to 1 + g*t; the inverse of
    its distribution function turns sorted uniforms into sorted creation moments."""
    g = world.VOLUME_GROWTH
    u = np.sort(rng.random(n_leads))
    cohort = (np.sqrt(1.0 + 2.0 * g * (1.0 + g / 2.0) * u) - 1.0) / g
    start = world.EXPORT_END.astype(np.int64) - world.HISTORY_DAYS * world.DAY
    created_s = start + np.floor(cohort * (world.HISTORY_DAYS * world.DAY)).astype(np.int64)
    return created_s, cohort


def draw_trait(trait: world.Trait, n_leads: int, rng: np.random.Generator) -> np.ndarray:
    cumulative = np.cumsum(trait.shares)
    cumulative[-1] = 1.0
    return np.searchsorted(cumulative, rng.random(n_leads), side="right").astype(np.int8)


def employee_counts(size_codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Employees drawn log-uniformly inside the lead's company_size band; some are missing."""
    bounds = np.log(np.array(world.EMPLOYEE_RANGES, dtype=float) + [0.0, 1.0])
    low, high = bounds[size_codes, 0], bounds[size_codes, 1]
    count = np.floor(np.exp(low + (high - low) * rng.random(len(size_codes))))
    count[rng.random(len(size_codes)) < world.EMPLOYEE_COUNT_MISSING] = np.nan
    return count


def fit_score(codes: dict[str, np.ndarray], hidden: dict[str, np.ndarray]) -> np.ndarray:
    """Sum of the trait effects: how well a lead matches the customers the company wins, as
    far as the CRM records it. A trait left blank counts its population-average effect."""
    fit = np.zeros(len(next(iter(codes.values()))))
    for trait in world.TRAITS:
        effects = np.asarray(trait.effects)
        average = float(np.dot(trait.shares, effects))
        fit += np.where(hidden[trait.column], average, effects[codes[trait.column]])
    return fit


def draw_profiles(n_leads: int, rng: np.random.Generator, hidden: dict[str, np.ndarray]) -> Profiles:
    created_s, cohort = creation_times(n_leads, rng)
    codes = {trait.column: draw_trait(trait, n_leads, rng) for trait in world.TRAITS}
    return Profiles(
        created_s=created_s,
        cohort=cohort,
        codes=codes,
        employee_count=employee_counts(codes["company_size"], rng),
        email_opt_in=rng.random(n_leads) < world.EMAIL_OPT_IN_SHARE,
        fit=fit_score(codes, hidden),
        hidden=hidden,
    )
