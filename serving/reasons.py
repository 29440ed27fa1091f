"""Reasons in plain words, from the model's own per-feature contributions.

LightGBM's `pred_contrib` splits each score (in log-odds) into one contribution per model
input. Inputs that come from the same raw field are summed (the 7, 30 and 90-day counts of
pricing-page views are one reason), then the largest positive groups become reasons for and
the largest negative ones reasons against, each phrased from the lead's own values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from features.activity import NEVER_DAYS
from features.transform import OTHER, LeadTransform

# verb phrase (with a count), noun (for "no ... in the last N days")
ACTIVITY_WORDS: dict[str, tuple[str, str]] = {
    "pricing_view": ("viewed the pricing page", "pricing-page views"),
    "demo_request": ("requested a demo", "demo requests"),
    "form_fill": ("filled in a form", "form fills"),
    "email_open": ("opened an email", "email opens"),
    "email_click": ("clicked a link in an email", "email clicks"),
    "web_visit": ("visited the website", "website visits"),
    "content_download": ("downloaded content", "content downloads"),
    "webinar": ("attended a webinar", "webinars attended"),
    "unsubscribe": ("unsubscribed from emails", "unsubscribes"),
}
MIN_CONTRIBUTION = 0.01  # log-odds; smaller effects are not worth a salesperson's attention


@dataclass(frozen=True)
class _Group:
    key: str
    columns: tuple[int, ...]  # model inputs summed into this reason


def _label(column: str) -> str:
    return column.replace("_", " ").strip()


def _times(n: float) -> str:
    n = int(n)
    return "once" if n == 1 else "twice" if n == 2 else f"{n} times"


def _ago(days: float) -> str:
    if days < 1:
        return "today"
    whole = int(round(days))
    return "1 day ago" if whole == 1 else f"{whole} days ago"


class ReasonWriter:
    """Turns one row of contributions into reasons for and against, in words."""

    def __init__(self, transform: LeadTransform, phrases: Mapping[str, Mapping[str, str]] | None = None):
        self.transform = transform
        self.phrases = {c: {k.casefold(): v for k, v in m.items()} for c, m in (phrases or {}).items()}
        self.groups: list[_Group] = []
        by_type: dict[str, list[int]] = {}
        totals: list[int] = []
        for i, info in enumerate(transform.features):
            if info.kind == "count":
                by_type.setdefault(info.activity_type, []).append(i)
            elif info.kind == "total":
                totals.append(i)
            else:
                self.groups.append(_Group(info.name, (i,)))
        if totals:
            self.groups.append(_Group("engagements", tuple(totals)))
        self.groups += [_Group(f"activity:{t}", tuple(cols)) for t, cols in by_type.items()]
        self._index = {info.name: i for i, info in enumerate(transform.features)}
        self._member = np.zeros((len(transform.features), len(self.groups)))
        for g, group in enumerate(self.groups):
            self._member[list(group.columns), g] = 1.0

    def group_contributions(self, contributions: np.ndarray) -> np.ndarray:
        """(n, p+1) per-input contributions (last column: bias) -> (n, groups)."""
        return contributions[:, :-1] @ self._member

    def reasons(self, grouped: np.ndarray, row: np.ndarray, lead: Mapping[str, Any] | None,
                limit: int = 5) -> tuple[list[str], list[str]]:
        """Up to `limit` reasons for and against for one lead."""
        order = np.argsort(-grouped, kind="stable")
        pros: list[str] = []
        for g in order:
            if grouped[g] < MIN_CONTRIBUTION or len(pros) >= limit:
                break
            text = self.phrase(self.groups[g], row, lead)
            if text:
                pros.append(text)
        cons: list[str] = []
        for g in order[::-1]:
            if grouped[g] > -MIN_CONTRIBUTION or len(cons) >= limit:
                break
            text = self.phrase(self.groups[g], row, lead)
            if text:
                cons.append(text)
        return pros, cons

    # ------------------------------------------------------------------------------ phrasing
    def phrase(self, group: _Group, row: np.ndarray, lead: Mapping[str, Any] | None) -> str:
        if any(math.isnan(row[c]) for c in group.columns) and self.transform.features[group.columns[0]].kind not in (
                "categorical", "numeric", "yes_no"):
            return ""  # engagement is not used for a lead we cannot sell to: nothing to say about it
        if group.key.startswith("activity:"):
            return self._activity_phrase(group.key.split(":", 1)[1], group.columns, row)
        if group.key == "engagements":
            return self._windowed(group.columns, row, "{n} marketing {touches} in the last {days} days",
                                  "no marketing touches in the last {days} days")
        i = group.columns[0]
        info = self.transform.features[i]
        value = row[i]
        if info.kind == "categorical":
            return self._category_phrase(info.column, value, lead)
        if info.kind == "numeric":
            return f"{_label(info.column)} not given" if math.isnan(value) else f"{_label(info.column)} is {value:g}"
        if info.kind == "yes_no":
            if math.isnan(value):
                return f"{_label(info.column)}: not answered"
            return f"{_label(info.column)}: {'yes' if value == 1 else 'no'}"
        return self._engagement_phrase(info.kind, info.window_days, value)

    def _category_phrase(self, column: str, value: float, lead: Mapping[str, Any] | None) -> str:
        label = _label(column)
        if math.isnan(value):
            return f"{label} not given"
        known = self.transform.describe_value(self.transform.features[self.transform.categorical.index(column)], value)
        raw = lead.get(column) if lead is not None else None
        cleaned = self.transform.clean_category(column, raw) if raw is not None else known
        special = self.phrases.get(column, {}).get(cleaned or "")
        if special:
            return special
        shown = str(raw).strip() if raw is not None else known
        if known == OTHER:
            return f"{label} is {shown!s}, rare in our history" if raw is not None else f"{label} is rare in our history"
        return f"{label} is {shown}"

    def _activity_phrase(self, activity_type: str, columns: tuple[int, ...], row: np.ndarray) -> str:
        verb, noun = ACTIVITY_WORDS.get(activity_type, (f"{_label(activity_type)}", f"{_label(activity_type)} activities"))
        return self._windowed(columns, row, verb + " {times} in the last {days} days", "no " + noun + " in the last {days} days")

    def _windowed(self, columns: tuple[int, ...], row: np.ndarray, some: str, none: str) -> str:
        """The count in the shortest window that has any, or none in the longest."""
        windows = sorted((self.transform.features[c].window_days, row[c]) for c in columns)
        for days, count in windows:
            if count > 0:
                return some.format(n=int(count), times=_times(count), days=days,
                                   touches="touch" if count == 1 else "touches")
        return none.format(days=windows[-1][0])

    @staticmethod
    def _engagement_phrase(kind: str, window: int | None, value: float) -> str:
        if kind == "days_since_last":
            return "no activity recorded" if value >= NEVER_DAYS else f"last activity {_ago(value)}"
        if kind == "days_since_high_intent":
            return "no high-intent activity yet" if value >= NEVER_DAYS else f"last high-intent action {_ago(value)}"
        if kind == "distinct_types":
            if value <= 0:
                return "no engagement of any kind"
            return "engaged in one way only" if value == 1 else f"engaged in {int(value)} different ways"
        if kind == "trend":
            return "engagement is rising" if value > 0 else "engagement is slowing" if value < 0 else "engagement is flat"
        return kind
