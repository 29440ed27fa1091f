"""Point-in-time activity features: what a lead did before a moment, never after it.

For a lead and an as-of moment m, only activities strictly before m count. Per activity type
and window (7/30/90 days by default) the number of activities in [m - window, m); over all
engagement types the same totals; days since the last activity and since the last high-intent
one; and the number of distinct activity types. Each can only move one way when one more
activity is added (counts and totals up, days since down), so with the model's monotone
constraints one more engaging activity never lowers a score (tested). Models trained before
carried an engagement trend (the daily rate of the last week minus that of the three weeks
before), which one more older activity lowers; they still compute it (`trend`).

The rule is written once, in `_activity_features`: a numba kernel over one entry per activity
(lead position, type code, time in integer nanoseconds) and one as-of moment per lead, which
fills the (leads, features) matrix in one pass. The four entry paths are thin wrappers that only
put their input into those arrays: `aggregate_batch` (canonical frames, training),
`aggregate_arrays` (activities already matched to leads, batch scoring), `aggregate_records`
(the API's raw dicts for many leads) and `aggregate_one` (one lead on the scoring hot path; a
call of the kernel costs a few microseconds). So a lead gets the same bits alone or in any
batch; the tests check every path against a plain reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from itertools import chain
from operator import methodcaller
from typing import Any, Iterable, Mapping, NamedTuple

import numba
import numpy as np
import pandas as pd

from features.values import category, time_ns

NS_PER_DAY = 86_400 * 10**9
DAYS = float(NS_PER_DAY)
NEVER_DAYS = 3650.0
"""Days since the last activity of a lead that never had one: "ten years ago" rather than
missing, so that the model's monotone constraints hold (a first activity can only help)."""


class ReadActivities(NamedTuple):
    """The activities of n leads as the kernel reads them, one entry per kept activity:
    its lead's position (0..n-1), its type code and its time (ns since the epoch, UTC)."""

    n: int
    lead_pos: np.ndarray
    type_code: np.ndarray
    t_ns: np.ndarray


@dataclass(frozen=True)
class ActivityFeature:
    name: str
    kind: str  # count | total | days_since_last | days_since_high_intent | distinct_types | trend
    activity_type: str | None
    window_days: int | None
    monotone: int  # +1: more engagement never lowers the score; -1: the opposite; 0: free


class ActivityAggregator:
    """The definition of the activity features, fitted to the activity types seen in training."""

    def __init__(self, types: list[str], windows_days: list[int], high_intent: list[str], negative: list[str],
                 trend: bool = False):
        self.types = list(types)
        self.windows = sorted(int(w) for w in windows_days)
        self.high_intent = [t for t in types if t in set(high_intent)]
        self.negative = [t for t in types if t in set(negative)]
        self._type_index = {t: i for i, t in enumerate(self.types)}
        # The trend compared the shortest window with the one after it (7 vs 30 days). It is no
        # longer fitted: one more activity 8-30 days old lowers it, so with it "more engagement
        # never lowers a score" did not hold (54 of 12,800 random cases, issue 10). Models
        # trained with it (`trend` true in their transform) still compute it.
        self._trend = (self.windows[0], self.windows[1]) if trend and len(self.windows) > 1 else None
        self._kernel_params = (  # the rest of the kernel's arguments, fixed by the fit
            np.array([min(max(w * NS_PER_DAY, 0), _INT64_MAX) for w in self.windows], dtype=np.int64),
            np.array([t not in set(negative) for t in self.types], dtype=np.bool_),
            np.array([t in set(high_intent) for t in self.types], dtype=np.bool_),
            bool(self.high_intent),
            np.array([float(self._trend[0]), float(self._trend[1] - self._trend[0])] if self._trend else [],
                     dtype=np.float64))
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
                "high_intent": self.high_intent, "negative": self.negative, "trend": self._trend is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ActivityAggregator":
        # Transforms stored before "trend" was a key all had the trend feature.
        return cls(data["types"], data["windows_days"], data["high_intent"], data["negative"],
                   trend=data.get("trend", True))

    # ------------------------------------------------------------------------------ entry paths
    # Each only puts its input into the kernel's arrays; the features are computed there.
    def aggregate_batch(self, lead_ids: pd.Series, as_of: np.ndarray, activities: pd.DataFrame | None,
                        progress: Any = None) -> np.ndarray:
        """Features for many leads at once.

        lead_ids: (n,) ids; as_of: (n,) datetime64[ns] (each lead its own moment);
        activities: canonical frame (lead_id, occurred_at, activity_type)."""
        n = len(lead_ids)
        if activities is None or len(activities) == 0 or not self.types:
            empty = np.empty(0, dtype=np.int64)
            return self.aggregate_arrays(n, empty, empty, empty, np.asarray(as_of, dtype="datetime64[ns]").view(np.int64))
        ids = pd.Index(pd.Series(lead_ids).astype(str))
        type_code = positions(pd.Index(self.types), activities["activity_type"])
        t_ns = activities["occurred_at"].to_numpy("datetime64[ns]").view(np.int64)
        as_of_ns = np.asarray(as_of, dtype="datetime64[ns]").view(np.int64)
        if progress:
            progress()
        if ids.is_unique:
            return self.aggregate_arrays(n, positions(ids, activities["lead_id"]), type_code, t_ns, as_of_ns)
        # A lead several times (training snapshots, one per age): in layers of distinct leads,
        # the first row of each lead, then the second, ...; each activity is matched once.
        codes, uniques = pd.factorize(ids)
        unique_pos = positions(pd.Index(uniques), activities["lead_id"])
        layer = pd.Series(codes).groupby(codes).cumcount().to_numpy()
        out = np.empty((n, len(self.features)), dtype=np.float64)
        for k in range(int(layer.max()) + 1):
            rows = np.flatnonzero(layer == k)
            row_of = np.full(len(uniques) + 1, -1, dtype=np.int64)  # the last entry: no lead
            row_of[codes[rows]] = np.arange(len(rows))
            out[rows] = self.aggregate_arrays(len(rows), row_of[unique_pos], type_code, t_ns, as_of_ns[rows])
        return out

    def aggregate_arrays(self, n: int, lead_pos: np.ndarray, type_code: np.ndarray, t_ns: np.ndarray,
                         as_of_ns: np.ndarray) -> np.ndarray:
        """Features of n leads from one entry per activity (lead position or -1, type code or
        -1, time in ns or NaT) and one as-of moment (ns) per lead: (n, p) float64."""
        as_of_ns = np.ascontiguousarray(as_of_ns, dtype=np.int64)
        if len(as_of_ns) != n:
            raise ValueError(f"{len(as_of_ns)} as-of moments for {n} leads")
        if not len(lead_pos) == len(type_code) == len(t_ns):
            raise ValueError(f"activities of {len(lead_pos)} leads, {len(type_code)} types and {len(t_ns)} times")
        return _activity_features(np.ascontiguousarray(lead_pos, dtype=np.int64),
                                  np.ascontiguousarray(type_code, dtype=np.int64),
                                  np.ascontiguousarray(t_ns, dtype=np.int64), as_of_ns, *self._kernel_params)

    def aggregate_records(self, activities: list | ReadActivities, as_of_ns: np.ndarray) -> np.ndarray:
        """Features of many leads from raw activity dicts (the API's shape: one list per lead,
        or what `read_records` made of them): the rows `aggregate_one` gives each lead."""
        read = activities if isinstance(activities, ReadActivities) else self.read_records(activities)
        return self.aggregate_arrays(read.n, read.lead_pos, read.type_code, read.t_ns,
                                     np.asarray(as_of_ns, dtype=np.int64))

    def read_records(self, activities_per_lead: list) -> ReadActivities:
        """(lead position, type code, time ns) of every activity of many leads' raw activity
        dicts, kept as `_read` keeps them (a type seen in training, a time in datetime64[ns]).
        Read once per request and handed to both `aggregate_records` and `cooling_records`:
        reading the ~20,000 activities of a 1,000-lead call twice cost 13% of the scoring
        service's CPU (py-spy on `leadscore serve`, 2026-12-02). Each step runs over all the
        activities at once (map in C, numpy), not activity by activity."""
        lists = [found or () for found in activities_per_lead]
        counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        flat = list(chain.from_iterable(lists))
        index = self._type_index
        codes = list(map(index.get, map(normalise_type, map(methodcaller("get", "activity_type"), flat))))
        times = list(map(timestamp_ns, map(methodcaller("get", "occurred_at"), flat)))
        keep = np.fromiter(map(_kept, codes, times), dtype=bool, count=len(flat))
        lead_pos = np.repeat(np.arange(len(lists), dtype=np.int64), counts)[keep]
        if keep.all():
            return ReadActivities(len(lists), lead_pos, np.array(codes, dtype=np.int64),
                                  np.array(times, dtype=np.int64))
        kept = np.flatnonzero(keep).tolist()
        return ReadActivities(len(lists), lead_pos, np.array([codes[i] for i in kept], dtype=np.int64),
                              np.array([times[i] for i in kept], dtype=np.int64))

    def aggregate_one(self, as_of_ns: int, activities: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Features of one lead from its raw activities (dicts with occurred_at and
        activity_type), for the scoring hot path: (p,) float64."""
        type_code: list[int] = []
        t_ns: list[int] = []
        self._read(activities, type_code, t_ns)
        if not -_INT64_MAX <= as_of_ns <= _INT64_MAX:
            as_of_ns = _NAT  # no moment in datetime64[ns]: nothing is before it (as in exact arithmetic)
        return _activity_features(np.zeros(len(type_code), dtype=np.int64), np.array(type_code, dtype=np.int64),
                                  np.array(t_ns, dtype=np.int64), np.array([as_of_ns], dtype=np.int64),
                                  *self._kernel_params)[0]

    def cooling_records(self, activities: list | ReadActivities, as_of_ns: np.ndarray):
        """Cooling intent (features.intent) of many leads from raw activity dicts (the API's
        shape, or what `read_records` made of them), read as the features read them."""
        from features.intent import cooling_arrays

        read = activities if isinstance(activities, ReadActivities) else self.read_records(activities)
        return cooling_arrays(read.n, read.lead_pos, read.type_code, read.t_ns,
                              np.asarray(as_of_ns, dtype=np.int64), self.is_high_intent)

    def cooling_batch(self, lead_ids: pd.Series, as_of: np.ndarray, activities: pd.DataFrame | None):
        """Cooling intent (features.intent) of leads with distinct ids from a canonical activity
        frame (lead_id, occurred_at, activity_type), each lead as of its own moment (n,)
        datetime64[ns]: the web pages' logged records."""
        from features.intent import cooling_arrays

        as_of_ns = np.asarray(as_of, dtype="datetime64[ns]").view(np.int64)
        if activities is None or len(activities) == 0:
            empty = np.empty(0, dtype=np.int64)
            return cooling_arrays(len(lead_ids), empty, empty, empty, as_of_ns, self.is_high_intent)
        ids = pd.Index(pd.Series(lead_ids).astype(str))
        return cooling_arrays(len(lead_ids), positions(ids, activities["lead_id"]),
                              positions(pd.Index(self.types), activities["activity_type"]),
                              activities["occurred_at"].to_numpy("datetime64[ns]").view(np.int64), as_of_ns,
                              self.is_high_intent)

    @property
    def is_high_intent(self) -> np.ndarray:
        """Per type code: a high-intent type (the spec's activities.high_intent)."""
        return self._kernel_params[2]

    def _read(self, activities: Iterable[Mapping[str, Any]] | None, type_code: list[int], t_ns: list[int]) -> None:
        """Appends the type code and time of each raw activity whose type was seen in training
        and whose time is readable (a time outside datetime64[ns] is not)."""
        index = self._type_index
        for activity in activities or ():
            code = index.get(normalise_type(activity.get("activity_type")))
            t = timestamp_ns(activity.get("occurred_at")) if code is not None else None
            if not _kept(code, t):
                continue
            type_code.append(code)
            t_ns.append(t)


# ---------------------------------------------------------------------------------- the kernel
_INT64_MAX = 2**63 - 1


def _kept(code: int | None, t: int | None) -> bool:
    """Whether an activity counts: its type was seen in training (a code) and its time reads
    and lies within datetime64[ns]. The one rule of `_read` and `read_records`."""
    return code is not None and t is not None and -_INT64_MAX <= t <= _INT64_MAX
_NAT = -(2**63)  # NaT as int64


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _activity_features(lead_pos, type_code, t_ns, as_of_ns, window_ns, engaging, is_high, with_high, trend):
    """The definition of the activity features, for every entry path.

    One entry per activity: lead_pos (row of its lead, -1 for none here), type_code (position
    in the fitted types, -1 for a type not seen in training), t_ns (ns since the epoch, NaT
    for none); as_of_ns: one moment per lead. window_ns: the windows in ns, ascending, within
    [0, int64 max]; engaging, is_high: per type; trend: () or (shortest window in days,
    days from it to the next).

    An activity counts when its age, as-of minus time, is above zero (strictly before the
    moment) and at most int64 max (no wrap-around: an as-of of NaT counts nothing); those of no
    lead, unknown type or no time are skipped. Columns, as `ActivityAggregator._describe`:
    count per window and type; total per window over the engaging types; days since the last
    engaging and the last high-intent activity (age / DAYS, capped at NEVER_DAYS, NEVER_DAYS
    when none); distinct types; trend `recent / short - (total_long - recent) / (long - short)`.
    Counts are summed as floats: exact integers below 2**53."""
    n, n_types, n_windows = as_of_ns.shape[0], engaging.shape[0], window_ns.shape[0]
    c_total = n_windows * n_types
    c_last = c_total + n_windows
    c_distinct = c_last + 1 + (1 if with_high else 0)
    out = np.zeros((n, c_distinct + 1 + (1 if trend.shape[0] > 0 else 0)), dtype=np.float64)
    ever = np.zeros((n, n_types), dtype=np.bool_)
    last = np.full(n, -1, dtype=np.int64)
    last_high = np.full(n, -1, dtype=np.int64)
    for k in range(lead_pos.shape[0]):
        i, j, t = lead_pos[k], type_code[k], t_ns[k]
        if i < 0 or j < 0 or t == _NAT:
            continue
        if i >= n or j >= n_types:
            raise IndexError("activity of a lead position or type code out of range")
        moment = as_of_ns[i]
        if t >= moment or (moment >= 0 and t < moment - _INT64_MAX):
            continue  # not strictly before the moment, or older than int64 nanoseconds
        age = moment - t
        ever[i, j] = True
        for w in range(n_windows - 1, -1, -1):
            if age > window_ns[w]:
                break
            out[i, w * n_types + j] += 1.0
        if engaging[j] and (last[i] < 0 or age < last[i]):
            last[i] = age
        if is_high[j] and (last_high[i] < 0 or age < last_high[i]):
            last_high[i] = age
    for i in range(n):
        for w in range(n_windows):
            total = 0.0
            for j in range(n_types):
                if engaging[j]:
                    total += out[i, w * n_types + j]
            out[i, c_total + w] = total
        out[i, c_last] = min(last[i] / DAYS, NEVER_DAYS) if last[i] >= 0 else NEVER_DAYS
        if with_high:
            out[i, c_last + 1] = min(last_high[i] / DAYS, NEVER_DAYS) if last_high[i] >= 0 else NEVER_DAYS
        distinct = 0
        for j in range(n_types):
            if ever[i, j]:
                distinct += 1
        out[i, c_distinct] = float(distinct)
        if trend.shape[0] > 0:
            recent = out[i, c_total]
            earlier = out[i, c_total + 1] - recent
            out[i, c_distinct + 1] = recent / trend[0] - earlier / trend[1]
    return out


# ---------------------------------------------------------------------------------- helpers
def positions(index: pd.Index, values: pd.Series) -> np.ndarray:
    """Position (n,) int64 of each value of `values` (n,) in `index` (-1 if absent or missing),
    values compared as text. Each distinct value is looked up once (its categories, or
    `pd.factorize`): on the 19.9M activity lead ids of benchmarks/batch_score.py's 1M leads,
    1.1 s against 4.0 s for a lookup of every row's text, with the same positions (held to
    that lookup by a property test in tests/features/test_activity.py)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes, distinct = values.cat.codes.to_numpy(), pd.Index(values.cat.categories)
    else:
        codes, distinct = pd.factorize(values)
        distinct = pd.Index(distinct)
    # one more position, -1, for code -1 (a missing value), also with no distinct value at all
    return np.append(index.get_indexer(distinct.astype(str)), -1)[codes].astype(np.int64)


_TYPE_CACHE: dict[Any, str | None] = {}
_UNSEEN = object()


def normalise_type(value: Any) -> str | None:
    """`features.values.category`, the rule the cleaning step gives activity types,
    remembered per text value."""
    if type(value) is not str:
        return category(value)
    cached = _TYPE_CACHE.get(value, _UNSEEN)
    if cached is _UNSEEN:
        cached = category(value)
        if len(_TYPE_CACHE) < 10_000:
            _TYPE_CACHE[value] = cached
    return cached




def timestamp_ns(value: Any) -> int | None:
    """`features.values.time_ns`: nanoseconds since the epoch, UTC, of a time already read
    (ns, datetime, pandas or numpy time) or of ISO 8601 text; None if it cannot be read."""
    return time_ns(value)
