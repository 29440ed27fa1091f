"""The ideal customer profile (ICP) marketing and sales agreed on, matched against leads.

The spec states it (`ideal_customer`: per lead column, the values, range or yes/no answer the
ideal customer has). A lead matches when every stated column does: a categorical value among
the listed ones (cleaned as the transform cleans it: case, spaces, aliases), a number within
the range (bounds included), a yes/no answer equal to the stated one. A missing value never
matches.

Matched on the transform's rows (n, features), the one encoding every path (API, batch, pages,
training) already shares, so the same lead matches or not however it arrives. A lead the company cannot sell to (spec
`leads.not_a_fit`) never matches, whatever its other fields. A listed value
that training saw too rarely to give it its own code (it reads as "(other)") cannot be told
apart from other rare values: it is left out of the match and `unmatchable` names it (training
prints it), rather than matching every rare value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from features.spec import DatasetSpec, NumberRange
from features.sub_scores import activity_start, not_a_fit_rows
from features.transform import OTHER, LeadTransform


@dataclass(frozen=True)
class _Rule:
    column: str
    index: int  # the column's position in the transform's rows
    codes: tuple[float, ...] = ()  # categorical: the matching codes
    low: float = -np.inf  # numeric: the range; yes/no: both the stated answer (1 or 0)
    high: float = np.inf
    categorical: bool = False


class IdealCustomer:
    """The spec's `ideal_customer`, ready to match model rows."""

    def __init__(self, stated: Mapping[str, list[str] | NumberRange | bool], transform: LeadTransform):
        self.stated = dict(stated)
        self.unmatchable: dict[str, list[str]] = {}  # column -> listed values training saw too rarely
        rules = []
        for column, value in self.stated.items():
            index = transform.names.index(column)
            if isinstance(value, bool):
                rules.append(_Rule(column, index, low=float(value), high=float(value)))
            elif isinstance(value, NumberRange):
                rules.append(_Rule(column, index, low=-np.inf if value.min is None else value.min,
                                   high=np.inf if value.max is None else value.max))
            else:
                codes = transform.category_codes[column]
                cleaned = {transform.clean_category(column, v) for v in value} - {None}
                known = sorted(float(codes.index(v)) for v in cleaned if v in codes and v != OTHER)
                missing = sorted(v for v in cleaned if v not in codes)
                if missing:
                    self.unmatchable[column] = missing
                rules.append(_Rule(column, index, codes=tuple(known), categorical=True))
        self._rules = rules
        self._activity_start = activity_start(transform)

    @classmethod
    def of(cls, spec: DatasetSpec, transform: LeadTransform) -> "IdealCustomer | None":
        """The spec's ideal customer, None when the spec states none."""
        return cls(spec.ideal_customer, transform) if spec.ideal_customer else None

    @property
    def columns(self) -> list[str]:
        return [rule.column for rule in self._rules]

    def matches(self, X: np.ndarray) -> np.ndarray:
        """(n,) bool: which rows of `X` (n, features; the transform's rows, before
        `model_input` fills anything in) match every stated column."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        out = ~not_a_fit_rows(X, self._activity_start)
        for rule in self._rules:
            value = X[:, rule.index]
            if rule.categorical:
                out &= np.isin(value, rule.codes)
            else:
                out &= (value >= rule.low) & (value <= rule.high)  # NaN: False
        return out

    def conversion(self, X: np.ndarray, label: np.ndarray) -> dict:
        """How matching leads converted against the rest: rows `X` (n, features), one per lead,
        and their outcomes (n,), 1 = won. Counts, won rates, and the difference's 95% interval
        (normal approximation to two proportions; None with fewer than one lead on a side)."""
        label = np.asarray(label, dtype=np.float64)
        match = self.matches(X)
        n_in, n_out = int(match.sum()), int((~match).sum())
        rate_in = float(label[match].mean()) if n_in else None
        rate_out = float(label[~match].mean()) if n_out else None
        interval = None
        if n_in and n_out:
            error = np.sqrt(rate_in * (1 - rate_in) / n_in + rate_out * (1 - rate_out) / n_out)
            difference = rate_in - rate_out
            interval = [float(difference - 1.96 * error), float(difference + 1.96 * error)]
        return {"leads": int(len(label)), "matching": n_in, "won_matching": int(label[match].sum()),
                "won_rate_matching": rate_in, "rest": n_out, "won_rest": int(label[~match].sum()),
                "won_rate_rest": rate_out, "difference_interval": interval,
                "unmatchable": self.unmatchable}


def conversion_words(figures: dict) -> str:
    """`IdealCustomer.conversion` in words (training's summary)."""
    from features.metrics import percent

    if not figures["matching"]:
        line = f"ideal customer: none of the {figures['leads']:,} leads matches it"
    else:
        line = (f"ideal customer: {figures['matching']:,} of {figures['leads']:,} leads match; "
                f"{percent(figures['won_rate_matching'])} of them bought")
        if figures["rest"]:
            line += f", against {percent(figures['won_rate_rest'])} of the other {figures['rest']:,}"
        if figures["difference_interval"]:
            low, high = figures["difference_interval"]
            verdict = ("they convert better" if low > 0 else "they convert worse" if high < 0
                       else "a difference chance alone could make")
            line += f" (difference {low * 100:+.1f} to {high * 100:+.1f} points, 95% interval: {verdict})"
    for column, values in figures["unmatchable"].items():
        line += (f"; ideal_customer.{column}: {', '.join(repr(v) for v in values)} never seen in training, or too "
                 "rarely to be recognised (left out of the match)")
    return line
