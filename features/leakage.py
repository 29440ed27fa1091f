"""Leakage report: how well each column alone predicts the label, and which columns leak it.

A column's *figure* is its single-column ROC-AUC (features.metrics.roc_auc). Categorical
columns are scored by the won rate of each of their values (in-sample, so an optimistic upper
bound); numeric columns by their value, in whichever direction ranks better. Missing is a value
too. Sales-entered columns are often blank until a salesperson has spoken to the lead, so each
column is also scored over the rows where it is filled in (when at least 5% are); the figure is
the higher of the two.

A column is flagged when any of three rules holds:

1. **Almost perfect**: its figure is `threshold` (0.95 by default) or more.
2. **Far above the rest**: its figure is at least 0.75 and at least 0.10 above the best figure
   of every other model feature (after-contact columns are not features and never count as
   "the rest"; an after-contact column is itself compared with the best feature). On the
   training examples of the shipped data (docs/dataset-spec.md, "Leakage") the two best
   features of X Education stand at 0.747 and 0.693, those of the 20,000-lead demo CRM at 0.759
   and 0.759, and no feature of either stands more than 0.054 above the next; the after-contact
   columns X Education's Lead Quality (0.861) and the demo's sales_rating (0.875) stand 0.114
   and 0.116 above the best feature, the call duration of tests/features/test_leakage.py 0.151
   (0.808 against 0.657). On small data the in-sample figure of a category inflates gaps: 0.093 at most on 20
   random 1,000-example subsets of X Education, 0.103 once in 20 at 500. Two columns carrying
   the same leak hide each other from this rule (each is the other's best other feature);
   rule 1 still applies to them.
3. **Filled in for one outcome**: being filled in predicts the outcome. Either the ROC-AUC of
   the "is filled in" indicator alone is 0.80 or more (filled for, say, every won lead and
   fewer than 40% of lost ones), or the column is filled in at least 10 times as often for one
   outcome as for the other (a share of won leads against a share of lost leads), with enough
   rows for that to mean something: had being filled in nothing to do with the outcome, the
   filled rows would hold at least 10 leads of the outcome they lack. On the shipped data no
   feature comes close: the indicator's ROC-AUC is at most 0.640 (X Education's "What matters
   most to you in choosing a course", filled for 88% of won and 60% of lost leads: 1.46 times
   as often) and 0.537 in the demo (1.08 times as often).

Flagged after-contact columns are expected (the spec already excludes them). A flagged model
feature stops `leadscore train` before fitting (`refuse_leaking_columns`) unless the spec lists
it under `allow_leaky`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pandas as pd

from features.errors import DataError
from features.metrics import roc_auc

if TYPE_CHECKING:
    from features.examples import Examples
    from features.spec import DatasetSpec
    from features.transform import LeadTransform

DEFAULT_LEAKAGE_AUC = 0.95
MIN_FILLED_SHARE = 0.05  # a column is scored where filled in when at least this share is filled

GAP_MIN_AUC = 0.75  # rule 2: a figure at least this high ...
GAP_ABOVE_NEXT = 0.10  # ... and at least this far above every other feature's figure
FILLED_MIN_AUC = 0.80  # rule 3: ROC-AUC of the "is filled in" indicator alone
FILLED_MIN_RATIO = 10.0  # rule 3: filled this many times as often for one outcome as the other
FILLED_MIN_EXPECTED = 10  # rule 3: leads of the lacking outcome the filled rows would hold by chance


@dataclass(frozen=True)
class LeakageFinding:
    column: str
    auc: float  # over all rows, missing counted as a value
    auc_where_filled: float  # over the rows where the column has a value
    filled_share: float
    flagged: bool
    after_contact: bool  # a column the spec marks as known only after sales contact
    filled_auc: float = float("nan")  # ROC-AUC of "is filled in" alone
    filled_won: float = float("nan")  # share of won leads with the column filled in
    filled_lost: float = float("nan")  # share of lost leads with the column filled in
    next_best: float = float("nan")  # best figure among the other model features
    reasons: tuple[str, ...] = ()  # the rules that flag it, in words (see describe)
    allowed: bool = False  # listed under allow_leaky in the spec: a person vouched for it

    @property
    def figure(self) -> float:
        """The column's single-column ROC-AUC: the higher of overall and where filled in."""
        return max(np.nan_to_num(self.auc, nan=0.5), np.nan_to_num(self.auc_where_filled, nan=0.5))

    def describe(self) -> str:
        """The figure and the rules that flag it: 'ROC-AUC 0.952 alone: 0.95 or more; ...'."""
        where = "where filled in" if np.nan_to_num(self.auc_where_filled) > np.nan_to_num(self.auc) else "alone"
        return f"ROC-AUC {self.figure:.3f} {where}" + (": " + "; ".join(self.reasons) if self.reasons else "")

    @property
    def leaks_into_model(self) -> bool:
        """Flagged, used by the model, and not vouched for under allow_leaky."""
        return self.flagged and not self.after_contact and not self.allowed

    def as_dict(self) -> dict:
        def r(x: float) -> float | None:
            return None if np.isnan(x) else round(float(x), 4)

        return {"column": self.column, "auc": r(self.auc), "auc_where_filled": r(self.auc_where_filled),
                "filled_share": r(self.filled_share), "filled_auc": r(self.filled_auc),
                "filled_won": r(self.filled_won), "filled_lost": r(self.filled_lost),
                "next_best": r(self.next_best), "flagged": self.flagged, "reasons": list(self.reasons),
                "after_contact": self.after_contact, "allowed": self.allowed}


def _auc_of_groups(score: np.ndarray, won: np.ndarray, lost: np.ndarray) -> float:
    """roc_auc of rows grouped by score: group i holds won[i] won and lost[i] lost rows, all
    scored score[i]. The same number as scoring every row (ties count half either way; tested
    on random input), from one weighted row per group and outcome: a column takes few distinct
    values (categories, counts, yes/no), so few values are sorted instead of every row."""
    k = len(score)
    return roc_auc(np.r_[np.ones(k, bool), np.zeros(k, bool)], np.r_[score, score], sample_weight=np.r_[won, lost])


def _auc_of_values(score: np.ndarray, label: np.ndarray) -> float:
    """roc_auc(label, score) for a score without missing values."""
    codes, values = pd.factorize(score)
    won = np.bincount(codes, weights=label, minlength=len(values))
    return _auc_of_groups(np.asarray(values, dtype="float64"), won, np.bincount(codes, minlength=len(values)) - won)


def single_column_auc(values: pd.Series | np.ndarray, label: np.ndarray) -> float:
    values = pd.Series(values).reset_index(drop=True)
    label = np.asarray(label).astype(bool)
    if len(values) == 0:
        return float("nan")
    if values.dtype.kind in "biuf":
        filled = values.astype("float64").fillna(values.min() - 1 if values.notna().any() else 0)
        auc = _auc_of_values(filled.to_numpy(), label)
    else:  # each value (as text; missing is "(missing)") scored by its won rate
        codes, uniques = pd.factorize(values)
        names = np.append(np.asarray(uniques, dtype=object).astype(str), "(missing)")
        keys = pd.factorize(names)[0][np.where(codes < 0, len(names) - 1, codes)]
        won = np.bincount(keys, weights=label)
        rows = np.bincount(keys)
        seen = rows > 0
        auc = _auc_of_groups(won[seen] / rows[seen], won[seen], rows[seen] - won[seen])
    return max(auc, 1 - auc) if not np.isnan(auc) else auc


def _filled_in(filled: np.ndarray, label: np.ndarray) -> tuple[float, float, float, bool]:
    """(ROC-AUC of being filled in, share of won filled, share of lost filled, enough rows)."""
    won, lost = int(label.sum()), int((~label).sum())
    if won == 0 or lost == 0:
        return float("nan"), float("nan"), float("nan"), False
    filled_won, filled_lost = filled[label].mean(), filled[~label].mean()
    auc = _auc_of_values(filled, label)
    lacking = lost if filled_won >= filled_lost else won  # the outcome the filled rows lack
    expected = filled.sum() * lacking / len(label)
    return max(auc, 1 - auc), float(filled_won), float(filled_lost), bool(expected >= FILLED_MIN_EXPECTED)


def _filled_ratio(filled_won: float, filled_lost: float) -> float:
    high, low = max(filled_won, filled_lost), min(filled_won, filled_lost)
    return float("inf") if low == 0 and high > 0 else (high / low if low > 0 else 1.0)


def leakage_report(columns: dict[str, pd.Series | np.ndarray], label: np.ndarray,
                   threshold: float = DEFAULT_LEAKAGE_AUC,
                   after_contact: Iterable[str] = frozenset(),
                   allowed: Iterable[str] = frozenset(),
                   counts: Iterable[str] = frozenset()) -> list[LeakageFinding]:
    """Every column's single-column ROC-AUC and the rules that flag it (see the module
    docstring), the most predictive first. For the columns in `counts` (activity counts),
    "filled in" means above zero: an activity type only won leads have is a count of 0 for
    every other lead, never a missing value."""
    label = np.asarray(label).astype(bool)
    after_contact, allowed, counts = set(after_contact), set(allowed), set(counts)
    measured = []
    for name, values in columns.items():
        values = pd.Series(values).reset_index(drop=True)
        auc = single_column_auc(values, label)
        filled = values.notna().to_numpy()
        share = float(filled.mean()) if len(filled) else 0.0
        auc_filled = single_column_auc(values[filled], label[filled]) if share >= MIN_FILLED_SHARE else float("nan")
        present = (values.fillna(0).to_numpy(dtype="float64") > 0) if name in counts else filled
        measured.append((name, auc, auc_filled, share, *_filled_in(present, label)))

    def figure(auc: float, auc_filled: float) -> float:
        return max(np.nan_to_num(auc, nan=0.5), np.nan_to_num(auc_filled, nan=0.5))

    features = [(m[0], figure(m[1], m[2])) for m in measured if m[0] not in after_contact]
    findings = []
    for name, auc, auc_filled, share, filled_auc, filled_won, filled_lost, enough in measured:
        own = figure(auc, auc_filled)
        others = [f for n, f in features if n != name]
        next_best = max(others) if others else float("nan")
        reasons = []
        if own >= threshold:
            reasons.append(f"{threshold:.2f} or more")
        if others and own >= GAP_MIN_AUC and own - next_best >= GAP_ABOVE_NEXT:
            reasons.append(f"{own - next_best:.3f} above the best other feature ({next_best:.3f})")
        ratio = _filled_ratio(filled_won, filled_lost) if not np.isnan(filled_won) else 1.0
        if (not np.isnan(filled_auc) and filled_auc >= FILLED_MIN_AUC) or (ratio >= FILLED_MIN_RATIO and enough):
            reasons.append(f"filled in for {filled_won:.0%} of won and {filled_lost:.0%} of lost leads "
                           f"(ROC-AUC of being filled in {filled_auc:.3f})")
        findings.append(LeakageFinding(name, auc, auc_filled, share, bool(reasons), name in after_contact,
                                       filled_auc, filled_won, filled_lost, next_best, tuple(reasons),
                                       name in allowed))
    return sorted(findings, key=lambda f: -f.figure)


# ------------------------------------------------------------------------------ training data
def leakage_columns(spec: "DatasetSpec", transform: "LeadTransform", leads: pd.DataFrame,
                    X: np.ndarray) -> dict[str, Any]:
    """The columns the report scores: every model input (transform.names, columns of X), with
    categorical and after-contact columns by their raw values."""
    columns: dict[str, Any] = {name: X[:, i] for i, name in enumerate(transform.names)}
    for column in [*spec.leads.categorical, *spec.leads.after_contact]:  # categories by their values
        columns[column] = leads[column]
    return columns


def training_leakage(spec: "DatasetSpec", examples: "Examples", activities: pd.DataFrame | None,
                     threshold: float = DEFAULT_LEAKAGE_AUC, min_category_count: int = 10, *,
                     rows: np.ndarray | None = None, transform: "LeadTransform | None" = None,
                     X: np.ndarray | None = None, activity_types=None) -> list[LeakageFinding]:
    """The leakage report over the examples training learns from, at each listed snapshot
    age on its own (and the ages drawn at random together): a leak that appears later in a
    lead's life (an activity recorded after the sale) is as plain at 30 days as it ever was, and
    snapshots of younger leads do not water it down. Per column, its finding at the age where
    it stands out most (flagged first), the most predictive first.

    rows: the training examples (default: all but the most recent holdout_fraction of leads);
    transform and X: the fitted transform and its matrix of *all* examples (len(examples),
    features), as training has them; without them the transform is fitted on the training
    leads, each once, as training fits it (`activity_types`: as LeadTransform.fit takes them).
    `leadscore leakage`, the check `leadscore train` makes before fitting and the trainer's
    report all call this."""
    from features.transform import LeadTransform

    if rows is None:
        rows, _ = examples.split_by_time(spec.holdout_fraction)
    rows = np.asarray(rows)
    if not len(rows):
        raise DataError("no training examples to check for leakage: the export has no closed leads older than "
                        "the holdout (see what `leadscore train` lists as left out)")
    if transform is None:
        once = rows[examples.is_evaluated[rows]]
        transform = LeadTransform.fit(spec, examples.leads.iloc[once], activities, min_category_count=min_category_count,
                                      activity_types=activity_types)
    if X is None:  # the matrix of the training rows only, found through `where`
        as_of = examples.as_of[rows] if examples.as_of is not None else None
        X = transform.transform_frame(examples.leads.iloc[rows], activities, as_of)
        where = np.full(len(examples), -1, dtype=np.int64)
        where[rows] = np.arange(len(rows))
    else:
        where = np.arange(len(examples))
    label = np.asarray(examples.label)
    counts = counted_features(transform)
    strongest: dict[str, LeakageFinding] = {}
    for _, group in examples.age_groups(rows):
        if not 0 < label[group].sum() < len(group):
            continue
        leads = examples.leads.iloc[group]
        for finding in leakage_report(leakage_columns(spec, transform, leads, X[where[group]]), label[group],
                                      threshold, spec.leads.after_contact, spec.allow_leaky, counts):
            known = strongest.get(finding.column)
            if known is None or (finding.flagged, finding.figure) > (known.flagged, known.figure):
                strongest[finding.column] = finding
    return sorted(strongest.values(), key=lambda f: -f.figure)


def counted_features(transform: "LeadTransform") -> set[str]:
    """The model inputs that count activities (per type or in total): "filled in" is above zero."""
    return {f.name for f in transform.features if f.kind in ("count", "total")}


def refuse_leaking_columns(spec: "DatasetSpec", findings: list[LeakageFinding]) -> None:
    """Raise DataError naming every flagged lead column that would be a model input and is not
    listed under allow_leaky: its figure, why it is flagged and the two fixes."""
    leaks = [f for f in findings if f.leaks_into_model and f.column in spec.profile_columns]
    if not leaks:
        return
    where = spec.source or "the dataset spec"
    names = ", ".join(f.column for f in leaks)
    one = len(leaks) == 1
    lines = [f"{where}: training refused: {'this lead column predicts' if one else 'these lead columns predict'} "
             "the outcome too well to be known before sales contact:"]
    lines += [f"  - {f.column}: {f.describe()}" for f in leaks]
    it, they = ("it", "it") if one else ("them", "they")
    lines.append(f"If sales fill {it} in after contacting the lead, exclude {it} with `after_contact: [{names}]` "
                 f"under `leads`; if {they} {'is' if one else 'are'} known before contact and you have checked "
                 f"{it}, keep {it} with `allow_leaky: [{names}]` at the top of the spec. "
                 f"`leadscore leakage --spec {where}` shows every column's figures.")
    raise DataError("\n".join(lines))
