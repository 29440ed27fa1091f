"""The mess real CRM exports carry: placeholders for missing answers, inconsistent case, stray
spaces, typos, and leads exported twice.

Each dirty column is produced as a dictionary of spellings plus one index per row, so the dirt
costs a few vectorised draws however many leads there are."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from leadscore.synthetic import world


def _spellings(value: str, column: str) -> list[tuple[str, float]]:
    """The ways one value gets written, with their share; the rest is the canonical spelling."""
    lower, upper = world.CASE_SHARE.get(column, world.CASE_SHARE["default"])
    variants = [(value.lower(), lower), (value.upper(), upper), (value + " ", world.PADDED_SHARE)]
    if column == "industry":
        variants += list(world.INDUSTRY_TYPOS.get(value, ()))
    return [(value, 1.0 - sum(share for _, share in variants)), *variants]


def draw_hidden(n_leads: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Which answers each lead left blank (exported as a placeholder), per column.

    Drawn before the truth, because the truth is a function of what the CRM records: a lead
    whose industry nobody recorded is, to anyone reading the export, a lead of unknown
    industry."""
    return {column: rng.random(n_leads) < share for column, share in world.PLACEHOLDER_SHARE.items()}


def _column(spellings_per_value: list[list[tuple[str, float]]], codes: np.ndarray,
            placeholder: np.ndarray, rng: np.random.Generator) -> pa.Array:
    dictionary: list[str] = list(world.PLACEHOLDERS)
    width = max(len(s) for s in spellings_per_value)
    index = np.zeros((len(spellings_per_value), width), dtype=np.int32)
    cumulative = np.full((len(spellings_per_value), width), 2.0)
    for value_code, spellings in enumerate(spellings_per_value):
        for j, (text, share) in enumerate(spellings):
            index[value_code, j] = len(dictionary)
            dictionary.append(text)
        cumulative[value_code, : len(spellings)] = np.cumsum([share for _, share in spellings])
        cumulative[value_code, len(spellings) - 1] = 2.0
    pick = (rng.random(len(codes))[:, None] > cumulative[codes]).sum(axis=1)
    rows = index[codes, pick]
    rows[placeholder] = rng.integers(0, len(world.PLACEHOLDERS), size=int(placeholder.sum()))
    return pa.array(dictionary, pa.string()).take(pa.array(rows))


def dirty_category(trait: world.Trait, codes: np.ndarray, hidden: np.ndarray,
                   rng: np.random.Generator) -> pa.Array:
    """A categorical column as exported: case variants, padding, typos, placeholders."""
    spellings = [_spellings(value, trait.column) for value in trait.values]
    return _column(spellings, codes, hidden, rng)


def dirty_yes_no(flags: np.ndarray, hidden: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """A yes/no answer: mostly "Yes"/"No", sometimes "yes", "Y", "N", or a placeholder."""
    spellings = []
    for value in ("No", "Yes"):
        variants = list(world.EMAIL_OPT_IN_VARIANTS[value])
        spellings.append([(value, 1.0 - sum(s for _, s in variants)), *variants])
    return _column(spellings, flags.astype(np.int8), hidden, rng)


def duplicate_rows(n_leads: int, rng: np.random.Generator) -> np.ndarray:
    """Row order of the exported leads table: every lead once, a few twice in a row."""
    twice = rng.random(n_leads) < world.DUPLICATE_SHARE
    return np.repeat(np.arange(n_leads, dtype=np.int64), 1 + twice)
