"""Training examples as of a moment, labelled by what happened after it.

With an event log, each lead is looked at as of `as_of_days_after_created` days after it was
created (30 by default): its features use only what was known then, and its label is whether
the deal it became was won. A lead that closed before that moment is no example (its outcome
was already known), and a lead still open has no label yet. A flat export without dates (a
label column) gives one example per labelled lead, ordered by `order_by` when the spec has it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.load import CLOSED_AT, CREATED_AT, LEAD_ID, ORDER, WON, CRMTables
from features.spec import DatasetSpec


@dataclass
class Examples:
    leads: pd.DataFrame  # canonical lead rows, one per example, in time order
    as_of: np.ndarray | None  # datetime64[ns] per example, None for a flat export
    label: np.ndarray  # 1 won, 0 lost
    order: np.ndarray  # increasing with time: created_at (ns) or the spec's order_by
    excluded: dict[str, int]

    def __len__(self) -> int:
        return len(self.label)

    def split_by_time(self, holdout_fraction: float) -> tuple[np.ndarray, np.ndarray]:
        """Row positions of (older, most recent holdout_fraction) examples."""
        ranked = np.argsort(self.order, kind="stable")
        cut = int(round(len(ranked) * (1 - holdout_fraction)))
        return ranked[:cut], ranked[cut:]


def build_examples(spec: DatasetSpec, tables: CRMTables, as_of_days: float | None = None) -> Examples:
    leads = tables.leads
    excluded: dict[str, int] = {}
    if spec.leads.label is not None:
        labelled = leads[WON].notna().to_numpy()
        excluded["no label"] = int((~labelled).sum())
        chosen = leads[labelled].reset_index(drop=True)
        if ORDER in chosen:
            order = chosen[ORDER].to_numpy(dtype="float64")
        elif CREATED_AT in chosen:
            order = chosen[CREATED_AT].to_numpy("datetime64[ns]").view(np.int64).astype("float64")
        else:
            order = np.arange(len(chosen), dtype="float64")
        as_of = None
        if CREATED_AT in chosen and spec.activities is not None:
            days = spec.features.as_of_days_after_created if as_of_days is None else as_of_days
            as_of = (chosen[CREATED_AT] + pd.Timedelta(days=days)).to_numpy("datetime64[ns]")
        return Examples(chosen, as_of, chosen[WON].to_numpy(dtype="int8"), order, excluded)

    days = spec.features.as_of_days_after_created if as_of_days is None else as_of_days
    known = tables.outcomes[WON].notna()
    excluded["unknown outcome value"] = int((~known).sum())
    outcomes = tables.outcomes[known].drop_duplicates(LEAD_ID, keep="last")
    merged = leads.merge(outcomes[[LEAD_ID, WON, CLOSED_AT]], on=LEAD_ID, how="left", validate="one_to_one")
    as_of_all = merged[CREATED_AT] + pd.Timedelta(days=days)
    closed = merged[CLOSED_AT].notna().to_numpy()
    after = (merged[CLOSED_AT] > as_of_all).fillna(False).to_numpy(bool)
    excluded["still open"] = int((~closed).sum())
    excluded["closed before the as-of moment"] = int((closed & ~after).sum())
    chosen = merged[after].reset_index(drop=True)
    as_of = as_of_all[after].to_numpy("datetime64[ns]")
    order = chosen[CREATED_AT].to_numpy("datetime64[ns]").view(np.int64).astype("float64")
    label = chosen[WON].to_numpy(dtype="float64").astype("int8")
    return Examples(chosen.drop(columns=[WON, CLOSED_AT]), as_of, label, order, excluded)
