"""Point-in-time activity features: what a lead did before a moment, never after it.

For a lead and an as-of moment m, only activities strictly before m count. Per activity type
and window (7/30/90 days by default) the number of activities in (m - window, m); over all
engagement types the same totals; days since the last activity and since the last high-intent
one; the number of distinct activity types; and an engagement trend (the daily rate of the
last week minus that of the three weeks before).

Two implementations share one definition: `aggregate_batch` (vectorised, for millions of
activities) and `aggregate_one` (plain Python, for one lead on the scoring hot path). They use
the same integer nanosecond arithmetic and the same float operations in the same order, so
their outputs are identical to the last bit (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

NS_PER_DAY = 86_400 * 10**9
DAYS = float(NS_PER_DAY)
NEVER_DAYS = 3650.0
"""Days since the last activity of a lead that never had one: "ten years ago" rather than
missing, so that the model's monotone constraints hold (a first activity can only help)."""


@dataclass(frozen=True)
class ActivityFeature:
    name: str
    kind: str  # count | total | days_since_last | days_since_high_intent | distinct_types | trend
    activity_type: str | None
    window_days: int | None
    monotone: int  # +1: more engagement never lowers the score; -1: the opposite; 0: free


class ActivityAggregator:
    """The definition of the activity features, fitted to the activity types seen in training."""

    def __init__(self, types: list[str], windows_days: list[int], high_intent: list[str], negative: list[str]):
        self.types = list(types)
        self.windows = sorted(int(w) for w in windows_days)
        self.high_intent = [t for t in types if t in set(high_intent)]
        self.negative = [t for t in types if t in set(negative)]
        self._type_index = {t: i for i, t in enumerate(self.types)}
        self._engaging = np.array([t not in set(negative) for t in self.types])
        self._is_high = np.array([t in set(high_intent) for t in self.types])
        self._engaging_list, self._high_list = self._engaging.tolist(), self._is_high.tolist()
        self._window_ns = [w * NS_PER_DAY for w in self.windows]
        # The trend compares the shortest window with the one after it (7 vs 30 by default).
        self._trend = (self.windows[0], self.windows[1]) if len(self.windows) > 1 else None
        self.features = self._describe()

    # ------------------------------------------------------------------------------ schema
    def _describe(self) -> list[ActivityFeature]:
        out: list[ActivityFeature] = []
        for w in self.windows:
            for t in self.types:
                sign = -1 if t in self.negative else 1
                out.append(ActivityFeature(f"n_{t}_{w}d", "count", t, w, sign))
        for w in self.windows:
            out.append(ActivityFeature(f"n_engagements_{w}d", "total", None, w, 1))
        out.append(ActivityFeature("days_since_last_activity", "days_since_last", None, None, -1))
        if self.high_intent:
            out.append(ActivityFeature("days_since_high_intent", "days_since_high_intent", None, None, -1))
        out.append(ActivityFeature("distinct_activity_types", "distinct_types", None, None, 1))
        if self._trend:
            out.append(ActivityFeature("engagement_trend", "trend", None, None, 1))
        return out

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def to_dict(self) -> dict[str, Any]:
        return {"types": self.types, "windows_days": self.windows,
                "high_intent": self.high_intent, "negative": self.negative}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ActivityAggregator":
        return cls(data["types"], data["windows_days"], data["high_intent"], data["negative"])

    # ------------------------------------------------------------------------------ shared math
    def _assemble(self, counts: list[np.ndarray], last_ns: np.ndarray, last_high_ns: np.ndarray,
                  ever: np.ndarray) -> np.ndarray:
        """counts[w]: (n, T) int64 per window; last_ns / last_high_ns: (n,) int64 age of the
        latest engagement (-1 if none); ever: (n, T) bool. Returns (n, p) float64."""
        n = ever.shape[0]
        cols: list[np.ndarray] = [c[:, j].astype(np.float64) for c in counts for j in range(len(self.types))]
        totals = [c[:, self._engaging].sum(axis=1) for c in counts]
        cols += [t.astype(np.float64) for t in totals]
        cols.append(np.where(last_ns >= 0, np.minimum(last_ns.astype(np.float64) / DAYS, NEVER_DAYS), NEVER_DAYS))
        if self.high_intent:
            cols.append(np.where(last_high_ns >= 0, np.minimum(last_high_ns.astype(np.float64) / DAYS, NEVER_DAYS),
                                 NEVER_DAYS))
        cols.append(ever.sum(axis=1).astype(np.float64))
        if self._trend:
            short, long = self._trend
            i_short, i_long = self.windows.index(short), self.windows.index(long)
            recent = totals[i_short].astype(np.float64)
            earlier = totals[i_long].astype(np.float64) - recent
            cols.append(recent / float(short) - earlier / float(long - short))
        if not cols:
            return np.empty((n, 0))
        return np.column_stack(cols)

    # ------------------------------------------------------------------------------ batch
    def aggregate_batch(self, lead_ids: pd.Series, as_of: np.ndarray, activities: pd.DataFrame | None,
                        progress: Any = None) -> np.ndarray:
        """Features for many leads at once.

        lead_ids: (n,) ids; as_of: (n,) datetime64[ns] (each lead its own moment);
        activities: canonical frame (lead_id, occurred_at, activity_type)."""
        n = len(lead_ids)
        if activities is None or len(activities) == 0 or not self.types:
            empty = np.empty(0, dtype=np.int64)
            return self.aggregate_arrays(n, empty, empty, empty, np.asarray(as_of, dtype="datetime64[ns]").view(np.int64))
        lead_pos = positions(pd.Index(pd.Series(lead_ids).astype(str)), activities["lead_id"])
        type_code = positions(pd.Index(self.types), activities["activity_type"])
        t_ns = activities["occurred_at"].to_numpy("datetime64[ns]").view(np.int64)
        as_of_ns = np.asarray(as_of, dtype="datetime64[ns]").view(np.int64)
        if progress:
            progress()
        return self.aggregate_arrays(n, lead_pos, type_code, t_ns, as_of_ns)

    def aggregate_arrays(self, n: int, lead_pos: np.ndarray, type_code: np.ndarray, t_ns: np.ndarray,
                         as_of_ns: np.ndarray) -> np.ndarray:
        """The vectorised definition: one entry per activity (lead position, type code or -1,
        time in ns or NaT), one as-of moment (ns) per lead."""
        T = len(self.types)
        keep = (lead_pos >= 0) & (type_code >= 0) & (t_ns != np.iinfo(np.int64).min)
        lead_pos, type_code, t_ns = lead_pos[keep], type_code[keep], t_ns[keep]
        age = as_of_ns[lead_pos] - t_ns
        before = age > 0  # strictly before the as-of moment
        lead_pos, type_code, age = lead_pos[before], type_code[before], age[before]

        cell = lead_pos * T + type_code
        counts = []
        for w_ns in self._window_ns:
            inside = age <= w_ns
            counts.append(np.bincount(cell[inside], minlength=n * T).reshape(n, T).astype(np.int64))
        ever = np.bincount(cell, minlength=n * T).reshape(n, T) > 0

        engaging = self._engaging[type_code]
        last_ns = _min_per_lead(lead_pos[engaging], age[engaging], n)
        high = self._is_high[type_code]
        last_high_ns = _min_per_lead(lead_pos[high], age[high], n)
        return self._assemble(counts, last_ns, last_high_ns, ever)

    def aggregate_records(self, activities_per_lead: list, as_of_ns: np.ndarray) -> np.ndarray:
        """Features of many leads from raw activity dicts (the API's shape), vectorised: the
        same numbers as `aggregate_one` for each lead, at a fraction of the cost per lead."""
        lead_pos, type_code, t_ns = [], [], []
        index = self._type_index
        for i, activities in enumerate(activities_per_lead):
            for activity in activities or ():
                code = index.get(normalise_type(activity.get("activity_type")))
                t = timestamp_ns(activity.get("occurred_at"))
                if code is None or t is None:
                    continue
                lead_pos.append(i)
                type_code.append(code)
                t_ns.append(t)
        return self.aggregate_arrays(len(activities_per_lead), np.array(lead_pos, dtype=np.int64),
                                     np.array(type_code, dtype=np.int64), np.array(t_ns, dtype=np.int64),
                                     np.asarray(as_of_ns, dtype=np.int64))

    # ------------------------------------------------------------------------------ one lead
    def aggregate_one(self, as_of_ns: int, activities: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Features of one lead from its raw activities (dicts with occurred_at and
        activity_type). Plain Python on small lists (numpy's per-call cost would dominate);
        the same integer and float operations as `_assemble`, so the same bits."""
        T = len(self.types)
        counts = [[0] * T for _ in self.windows]
        ever = [False] * T
        last, last_high = -1, -1
        engaging, high = self._engaging_list, self._high_list
        for activity in activities:
            code = self._type_index.get(normalise_type(activity.get("activity_type")))
            t_ns = timestamp_ns(activity.get("occurred_at"))
            if code is None or t_ns is None:
                continue
            age = as_of_ns - t_ns
            if age <= 0 or age > _INT64_MAX:  # (numpy's int64 arithmetic drops such ages too)
                continue
            ever[code] = True
            for i, w_ns in enumerate(self._window_ns):
                if age <= w_ns:
                    counts[i][code] += 1
            if engaging[code] and (last < 0 or age < last):
                last = age
            if high[code] and (last_high < 0 or age < last_high):
                last_high = age
        row = [float(c) for window in counts for c in window]
        totals = [sum(c for c, e in zip(window, engaging) if e) for window in counts]
        row += [float(t) for t in totals]
        row.append(min(float(last) / DAYS, NEVER_DAYS) if last >= 0 else NEVER_DAYS)
        if self.high_intent:
            row.append(min(float(last_high) / DAYS, NEVER_DAYS) if last_high >= 0 else NEVER_DAYS)
        row.append(float(sum(ever)))
        if self._trend:
            short, long = self._trend
            recent = float(totals[self.windows.index(short)])
            earlier = float(totals[self.windows.index(long)]) - recent
            row.append(recent / float(short) - earlier / float(long - short))
        return np.array(row, dtype=np.float64)


# ---------------------------------------------------------------------------------- helpers
def positions(index: pd.Index, values: pd.Series) -> np.ndarray:
    """Position of each value in index (-1 if absent), fast for categorical columns."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        cat_pos = index.get_indexer(pd.Index(values.cat.categories.astype(str)))
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, cat_pos[codes], -1).astype(np.int64)
    return index.get_indexer(values.astype(str)).astype(np.int64)


def _min_per_lead(lead_pos: np.ndarray, age: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, lead_pos, age)
    out[out == np.iinfo(np.int64).max] = -1
    return out


_INT64_MAX = 2**63 - 1
_TYPE_CACHE: dict[Any, str | None] = {}


def normalise_type(value: Any) -> str | None:
    """The same normalisation the cleaning step gives activity types."""
    if value is None:
        return None
    cached = _TYPE_CACHE.get(value)
    if cached is None and value not in _TYPE_CACHE:
        cached = " ".join(str(value).strip().casefold().split()) or None
        if len(_TYPE_CACHE) < 10_000:
            _TYPE_CACHE[value] = cached
    return cached


_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def timestamp_ns(value: Any) -> int | None:
    """Nanoseconds since the epoch, UTC, for an ISO 8601 string or a datetime; None if it
    cannot be read. Naive times are taken as UTC, as in the batch path."""
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            return None
        return int(value.tz_convert("UTC").tz_localize(None).value if value.tzinfo else value.value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip())
        except ValueError:
            try:
                return timestamp_ns(pd.Timestamp(value))
            except (ValueError, TypeError):
                return None
    elif isinstance(value, datetime):
        dt = value
    elif isinstance(value, np.datetime64):
        return None if np.isnat(value) else int(value.astype("datetime64[ns]").view(np.int64))
    else:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    ns = ((dt - _EPOCH) // _MICROSECOND) * 1000
    return ns if -_INT64_MAX <= ns <= _INT64_MAX else None  # outside datetime64[ns]: unreadable
