"""Leakage report: how well each column alone predicts the label.

A column that on its own ranks won above lost leads almost perfectly (ROC-AUC above 0.95 by
default) is nearly always filled in after the fact: by sales after the call, or by the CRM when
the deal closed. Such columns are flagged for a person to look at. Categorical columns are
scored by the won rate of each of their values (in-sample, so an optimistic upper bound);
numeric columns by their value, in whichever direction ranks better. Missing is a value too.

Sales-entered columns are often blank until a salesperson has spoken to the lead, so each
column is also scored over the rows where it is filled in (when at least 5% are): a column
that predicts the outcome almost perfectly wherever it is filled is flagged as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

DEFAULT_LEAKAGE_AUC = 0.95


MIN_FILLED_SHARE = 0.05


@dataclass(frozen=True)
class LeakageFinding:
    column: str
    auc: float  # over all rows, missing counted as a value
    auc_where_filled: float  # over the rows where the column has a value
    filled_share: float
    flagged: bool
    after_contact: bool  # a column the spec marks as known only after sales contact

    def as_dict(self) -> dict:
        return {"column": self.column, "auc": round(self.auc, 4),
                "auc_where_filled": round(self.auc_where_filled, 4),
                "filled_share": round(self.filled_share, 4), "flagged": self.flagged,
                "after_contact": self.after_contact}


def roc_auc(label: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC with ties counted half (Mann-Whitney); nan when one class is absent."""
    label = np.asarray(label).astype(bool)
    n_pos, n_neg = int(label.sum()), int((~label).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = pd.Series(score).rank(method="average").to_numpy()
    return float((ranks[label].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def single_column_auc(values: pd.Series | np.ndarray, label: np.ndarray) -> float:
    values = pd.Series(values).reset_index(drop=True)
    label = np.asarray(label)
    if values.dtype.kind in "biuf":
        filled = values.astype("float64").fillna(values.min() - 1 if values.notna().any() else 0)
        auc = roc_auc(label, filled.to_numpy())
    else:
        keys = values.astype(object).where(values.notna(), "(missing)").astype(str)
        rate = pd.Series(label, dtype="float64").groupby(keys.to_numpy()).transform("mean")
        auc = roc_auc(label, rate.to_numpy())
    return max(auc, 1 - auc) if not np.isnan(auc) else auc


def leakage_report(columns: dict[str, pd.Series | np.ndarray], label: np.ndarray,
                   threshold: float = DEFAULT_LEAKAGE_AUC,
                   after_contact: set[str] | frozenset[str] = frozenset()) -> list[LeakageFinding]:
    """Every column's single-column ROC-AUC, the most predictive first."""
    label = np.asarray(label)
    findings = []
    for name, values in columns.items():
        values = pd.Series(values).reset_index(drop=True)
        auc = single_column_auc(values, label)
        filled = values.notna().to_numpy()
        share = float(filled.mean()) if len(filled) else 0.0
        auc_filled = single_column_auc(values[filled], label[filled]) if share >= MIN_FILLED_SHARE else float("nan")
        worst = np.nanmax([auc, auc_filled]) if not (np.isnan(auc) and np.isnan(auc_filled)) else 0.0
        findings.append(LeakageFinding(name, auc, auc_filled, share, bool(worst >= threshold),
                                       name in after_contact))
    return sorted(findings, key=lambda f: -np.nan_to_num(max(f.auc, np.nan_to_num(f.auc_where_filled))))
