"""A synthetic B2B CRM whose true probability of buying is known.

`generate_crm(n_leads, seed, won_rate)` returns the four tables as pandas DataFrames in memory;
`build_crm` returns them as Arrow tables with a summary (what `leadscore generate` writes).
How the funnel behaves, with every formula and constant: docs/synthetic-crm.md.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

from leadscore.synthetic.crm import DEFAULT_WON_RATE, MAX_LEADS, STAGES, CRMExport, build_crm, check_arguments
from leadscore.synthetic.world import ACTIVITY_TYPES, EXPORT_END, HOME_EDITION, QUALIFICATION_DAYS

__all__ = [
    "ACTIVITY_TYPES", "CRMExport", "DEFAULT_WON_RATE", "EXPORT_END", "HOME_EDITION", "MAX_LEADS",
    "QUALIFICATION_DAYS", "STAGES", "SyntheticCRM", "build_crm", "check_arguments",
    "generate_crm",
]


class SyntheticCRM(NamedTuple):
    """The generated tables as DataFrames, in the order leads, activities, outcomes, truth."""

    leads: pd.DataFrame
    activities: pd.DataFrame
    outcomes: pd.DataFrame
    truth: pd.DataFrame


def generate_crm(n_leads: int, seed: int = 7, won_rate: float = DEFAULT_WON_RATE,
                 seasonality: float = 0.0) -> SyntheticCRM:
    """Generate a CRM in memory, without writing anything.

    The frames match what `pd.read_parquet` returns for the files `leadscore generate` writes:
    timestamps are datetime64[ms], activities' lead_id and activity_type are categorical."""
    export = build_crm(n_leads, seed, won_rate, seasonality=seasonality)
    return SyntheticCRM(*(table.to_pandas() for table in
                          (export.leads, export.activities, export.outcomes, export.truth)))
