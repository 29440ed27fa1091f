"""Fit and intent: two sub-scores beside the main probability, and the grade grid they make.

- **fit**: the calibrated probability of buying from the profile alone (industry, size, role,
  source... every column under leads.categorical, numeric and yes_no): who the lead is.
- **intent**: the calibrated probability of buying from the lead's activity alone (the event
  log's counts per activity type and in total over the spec's windows, 7/30/90 days in the
  demo: `INTENT_KINDS`): what it does now. Old activity fades: an activity counts in every
  window it falls in, so its weight is the sum of the weights of the windows not yet past it,
  which can only shrink as it ages and is nothing after the longest window (the weights of
  engaging types are kept >= 0 and those of negative ones, unsubscribes, <= 0 by the monotone
  constraints; tested: moving an activity into the past never raises intent, and activity all
  older than the longest window is intent 4). A lead the
  company cannot sell to (spec `leads.not_a_fit`) has its activity read as none, as the main
  model does.

Each is a regularised logistic model (features.linear) over the transform's rows that reads
only its own columns, calibrated like the main model, and explained by its own contributions.
The main probability stays the model that reads everything; fit and intent are views of the
same lead, not parts that add up to it (a lead's main probability is usually near what its fit
and intent together suggest, but the main model also reads the lead's age and the time of year
and learns how the two combine).

The grade: fit A to D by the quartiles of the training leads' fit (A: the top quarter); a
not-a-fit lead is D whatever its profile, and its fit is the won rate of such training leads
(the profile model alone does not know the company cannot sell to it: on the 6,000-lead test
CRM it gave a Home Edition lead with the best profile 0.45). Intent 1 to 4: 4 when its activity adds nothing
(intent at or below that of a lead with no activity counted), else 1, 2 and 3 by the thirds of
the training leads whose activity raised it (1: the top third). "A1" is the best. Without an
event log there is no intent, and the grade is the fit letter alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from features.bundle import Calibration
from features.linear import LinearModel
from features.transform import LeadTransform

FILE = "sub_scores.json"
FIT_GRADES = ("A", "B", "C", "D")
INTENT_GRADES = ("1", "2", "3", "4")
PROFILE_KINDS = ("categorical", "numeric", "yes_no")


def fit_columns(transform: LeadTransform) -> list[int]:
    """The transform's profile columns: what the fit model reads."""
    return [i for i, f in enumerate(transform.features) if f.kind in PROFILE_KINDS]


INTENT_KINDS = ("count", "total")
"""What the intent model reads of the activity features: the counts per type and in total over
the spec's windows, nothing else. Days since the last activity, days since the last high-intent
one and the number of distinct types are left out: they remember activity of any age (a visit
three years ago, an unsubscribe), so with them old activity never faded to nothing (a breaker
found every lead whose activity was all older than 90 days at intent 3, and an old unsubscribe
raising intent as one more "way of engaging")."""


def intent_columns(transform: LeadTransform) -> list[int]:
    """The transform's windowed activity counts: what the intent model reads (none without an
    event log)."""
    return [i for i, f in enumerate(transform.features) if f.kind in INTENT_KINDS]


@dataclass
class SubScore:
    """One sub-score: its model (reading only its columns of a full row), its calibration, the
    cut points of its grades (descending probabilities: grade i when p >= cuts[i]) and its
    holdout figures."""

    name: str  # fit | intent
    model: LinearModel
    calibration: Calibration
    cuts: tuple[float, ...]
    floor: float | None = None  # intent: the intent of a lead with no activity counted
    figures: dict[str, Any] = field(default_factory=dict)

    def probability(self, X: np.ndarray) -> np.ndarray:
        """(n,) calibrated probabilities of model rows X (n, features) as `model_input` gives them."""
        return self.calibration.apply(self.model.predict(X))

    def probability_and_contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`probability(X)` and the (n, features + 1) contributions in log-odds (bias last; zero
        outside its columns) from one reading of X."""
        raw, contributions = self.model.raw_and_contributions(X)
        return self.calibration.apply(1.0 / (1.0 + np.exp(-raw))), contributions

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "calibration": self.calibration.to_dict(), "cuts": list(self.cuts),
                "floor": self.floor, "figures": self.figures}

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> "SubScore":
        return cls(name, LinearModel.from_dict(data["model"]), Calibration.from_dict(data["calibration"]),
                   tuple(float(c) for c in data["cuts"]), data.get("floor"), data.get("figures", {}))


@dataclass
class SubScores:
    """Fit and (with an event log) intent, and the grade grid."""

    fit: SubScore
    intent: SubScore | None
    not_a_fit_won_rate: float | None = None  # the fit of a not-a-fit lead: how such training leads bought
    activity_start: int = 0  # the first activity column (set by `ready`)
    _transform: LeadTransform | None = field(default=None, repr=False, compare=False)
    _no_activity: np.ndarray | None = field(default=None, repr=False, compare=False)

    def ready(self, transform: LeadTransform) -> "SubScores":
        """Bind to the transform the models were trained with: what "no activity" reads as
        (`no_activity`, worked out when first needed)."""
        self._transform, self._no_activity = transform, None
        self.activity_start = activity_start(transform) or 0
        return self

    @property
    def no_activity(self) -> np.ndarray | None:
        """The activity inputs of a lead with none ((activity features,) float64); None without
        an event log. Computed on first use by the activity kernel, not when a bundle is loaded:
        the kernel's first call in a process sets numba up (about 1.2 s of CPU here), which
        `leadscore serve`'s check that the bundle loads does not need (benchmarks/startup.py)."""
        if self._no_activity is None and self._transform is not None and self._transform.activity is not None:
            self._no_activity = self._transform.activity.aggregate_one(0, ())
        return self._no_activity

    def not_a_fit(self, X: np.ndarray) -> np.ndarray:
        """(n,) bool: rows of leads the company cannot sell to (`not_a_fit_rows`)."""
        return not_a_fit_rows(X, activity_start(self._transform) if self._transform is not None else None)

    def intent_input(self, X: np.ndarray, unfit: np.ndarray) -> np.ndarray:
        """X with the activity of not-a-fit rows read as none (a copy only when there are some)."""
        if not unfit.any():
            return X
        X = X.copy()
        X[unfit, self.activity_start:] = self.no_activity
        return X

    def fit_probability(self, X: np.ndarray, unfit: np.ndarray, p: np.ndarray | None = None) -> np.ndarray:
        """(n,) fit of model rows X (or of the fit model's probabilities `p` of them); a
        not-a-fit lead's is the won rate of such training leads."""
        p = self.fit.probability(X) if p is None else p
        if unfit.any() and self.not_a_fit_won_rate is not None:
            p[unfit] = self.not_a_fit_won_rate
        return p

    def fit_grades(self, probability: np.ndarray, unfit: np.ndarray) -> np.ndarray:
        grades = _grades(probability, self.fit.cuts, FIT_GRADES)
        grades[unfit] = FIT_GRADES[-1]
        return grades

    def intent_grades(self, probability: np.ndarray, unfit: np.ndarray) -> np.ndarray:
        grades = _grades(probability, self.intent.cuts, INTENT_GRADES[:-1])
        grades[(probability <= self.intent.floor) | unfit] = INTENT_GRADES[-1]
        return grades

    def grid(self) -> dict[str, Any]:
        """The grid in numbers (`GET /stages`; features.stage_words puts it in words)."""
        out = {"fit": {g: cut for g, cut in zip(FIT_GRADES, self.fit.cuts)}, "intent": None}
        if self.intent is not None:
            out["intent"] = {**{g: cut for g, cut in zip(INTENT_GRADES, self.intent.cuts)},
                             "no_activity": self.intent.floor}
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"fit": self.fit.to_dict(), "intent": self.intent.to_dict() if self.intent else None,
                "not_a_fit_won_rate": self.not_a_fit_won_rate}

    @classmethod
    def from_dict(cls, data: dict[str, Any], transform: LeadTransform) -> "SubScores":
        intent = SubScore.from_dict("intent", data["intent"]) if data.get("intent") else None
        return cls(SubScore.from_dict("fit", data["fit"]), intent, data.get("not_a_fit_won_rate")).ready(transform)


def not_a_fit_rows(X: np.ndarray, activity_start: int | None) -> np.ndarray:
    """(n,) bool: rows of transform rows X (n, features) of leads the company cannot sell to
    (spec `leads.not_a_fit`): the transform leaves their activity inputs, from column
    `activity_start`, missing. None (no event log): no row can tell, none is."""
    if activity_start is None:
        return np.zeros(len(X), dtype=bool)
    return np.isnan(X[:, activity_start])


def activity_start(transform: LeadTransform) -> int | None:
    """The first activity column of the transform's rows; None without an event log."""
    if transform.activity is None:
        return None
    return len(transform.features) - len(transform.activity.features)


def _grades(probability: np.ndarray, cuts: tuple[float, ...], names: tuple[str, ...]) -> np.ndarray:
    """names[i] for p >= cuts[i] (the first that holds), the last name below every cut;
    len(cuts) == len(names) - 1."""
    index = np.searchsorted(-np.asarray(cuts, dtype=np.float64), -np.asarray(probability), side="left")
    return np.asarray(names, dtype=object)[np.minimum(index, len(names) - 1)]
