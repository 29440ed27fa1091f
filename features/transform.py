"""The one transform: raw lead (+ its activities, as of a moment) -> the model's input row.

Fitted once on training data and stored with the model (as JSON), then used by training,
batch scoring and the API alike. Two entry points with one definition:

- `transform_frame` for many leads: cleaned, canonical pandas frames (see features.load);
- `transform_one` for one lead as the API receives it (a dict of raw field values and a list of
  activity dicts): plain Python lookups, no DataFrame, about a hundred microseconds.

Both give the same row to the last bit (tested over many random leads). Unknown categories,
missing fields and placeholders are encoded, never fatal.

What the model reads is `model_input(X)`: the same rows with a missing value of a field
training (almost) never saw missing filled with its typical value (`learn_missing`, fitted on
the training rows); the rows themselves keep the missing value so that reasons can say "not
given". `ModelBundle.predict_proba`, `ModelBundle.contributions` and the serving tables all
call it: one rule.

When training sees leads at several ages (features.examples), the lead's age as of the moment
of scoring is an input too: days from its created time to the as-of moment, by
`lead_age_days` in every path (missing without a created time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from features import values as V
from features.activity import DAYS, ActivityAggregator, timestamp_ns
from features.spec import DatasetSpec

OTHER = "(other)"
LEAD_AGE = "lead_age_days"
SEASON = ("created_season_sin", "created_season_cos")
SEASON_MIN_HISTORY_DAYS = 365
"""features.season auto: the time of year is an input when the training leads were created over
at least this many days (every month of the year seen at least once)."""
_NAT = np.iinfo(np.int64).min
_UNSEEN = object()
_CACHE_LIMIT = 20_000  # distinct raw spellings remembered per categorical column
MIN_MISSING_SEEN = 10
"""A field training saw missing fewer times than this is filled with its typical value when
missing (`LeadTransform.learn_missing`): too few examples to learn what missing means."""


@dataclass(frozen=True)
class FeatureInfo:
    """One model input and the raw field it comes from, for reasons in plain words."""

    name: str
    kind: str  # categorical | numeric | yes_no | lead_age | activity kinds (see ActivityFeature)
    column: str | None = None
    activity_type: str | None = None
    window_days: int | None = None
    monotone: int = 0


class LeadTransform:
    def __init__(self, *, categorical: list[str], numeric: list[str], yes_no: list[str],
                 yes_values: list[str], no_values: list[str], missing_values: list[str],
                 category_aliases: dict[str, dict[str, str]], category_codes: dict[str, list[str]],
                 activity: ActivityAggregator | None, not_a_fit: dict[str, list[str]] | None = None,
                 lead_age: str | None = None, typical: dict[str, float] | None = None,
                 missing_buys: list[str] | None = None, season: str | None = None):
        """lead_age: the raw lead field holding the created time when the lead's age is an
        input (the spec's leads.created_at), else None. season: the same field when the time of
        year the lead was created is an input (`season_inputs`). typical and missing_buys: what
        `learn_missing` found (none before it runs)."""
        self.categorical = list(categorical)
        self.numeric = list(numeric)
        self.yes_no = list(yes_no)
        self.yes_values = V.words(yes_values)
        self.no_values = V.words(no_values)
        self.missing_values = V.placeholders(missing_values)
        self.category_aliases = {c: V.folded_aliases(a) for c, a in category_aliases.items()}
        # Known values per categorical column, in code order; the last code is "(other)".
        self.category_codes = {c: list(v) for c, v in category_codes.items()}
        self._code = {c: {v: float(i) for i, v in enumerate(vals)} for c, vals in self.category_codes.items()}
        self.activity = activity
        self.lead_age = lead_age
        self.season = season
        # Leads the company cannot sell to: their engagement features are missing by design.
        self.not_a_fit = {c: sorted({self._normalise(c, v) for v in vals}) for c, vals in (not_a_fit or {}).items()}
        self._not_a_fit_sets = {c: set(v) for c, v in self.not_a_fit.items()}
        self.features = self._describe()
        self.names = [f.name for f in self.features]
        self.typical: dict[str, float] = {}
        self.missing_buys: list[str] = []
        self._set_missing(typical or {}, missing_buys or [])
        self._clean_cache: dict[str, dict[Any, str | None]] = {c: {} for c in self.categorical}
        self._code_memo: dict[str, dict] = {}
        self._yes_no_memo: dict[str, dict] = {}
        self._unfit_memo: dict[str, dict] = {}

    # ------------------------------------------------------------------------------ fitting
    @classmethod
    def fit(cls, spec: DatasetSpec, leads: pd.DataFrame, activities: pd.DataFrame | None = None,
            min_category_count: int = 10, activity_types: Iterable[str] | None = None) -> "LeadTransform":
        """Learn the category codes and activity types from canonical training frames.
        activity_types: the export's activity types when `activities` holds only some of its
        rows (a sample gathered from a Dask cluster: features.partitions), else those of
        `activities`."""
        codes: dict[str, list[str]] = {}
        for column in spec.leads.categorical:
            counts = leads[column].value_counts(dropna=True)
            frequent = sorted(str(v) for v, n in counts.items() if n >= min_category_count)
            codes[column] = [*frequent, OTHER]
        aggregator = None
        if spec.activities is not None:
            seen = sorted(str(t) for t in pd.unique(activities["activity_type"].dropna())) \
                if activities is not None and len(activities) else []
            seen = sorted(set(seen) | {str(t) for t in activity_types or ()})
            types = sorted(set(seen) | set(spec.activities.high_intent) | set(spec.activities.negative))
            aggregator = ActivityAggregator(types, spec.features.windows_days,
                                            spec.activities.high_intent, spec.activities.negative)
        season = spec.features.season
        if season == "auto":
            created = leads["created_at"] if "created_at" in leads else pd.Series(dtype="datetime64[ns]")
            span = created.max() - created.min() if created.notna().any() else pd.Timedelta(0)
            season = span >= pd.Timedelta(days=SEASON_MIN_HISTORY_DAYS)
        return cls(categorical=spec.leads.categorical, numeric=spec.leads.numeric, yes_no=spec.leads.yes_no,
                   yes_values=spec.leads.yes_values, no_values=spec.leads.no_values,
                   missing_values=spec.missing_values, category_aliases=spec.category_aliases,
                   category_codes=codes, activity=aggregator, not_a_fit=spec.leads.not_a_fit,
                   lead_age=spec.leads.created_at if spec.uses_lead_age else None,
                   season=spec.leads.created_at if season and spec.leads.created_at else None)

    def learn_missing(self, X: np.ndarray, label: np.ndarray) -> None:
        """The second step of fitting, on the training rows of `transform_frame` (n, features),
        one per training lead (its evaluation snapshot: counted in snapshots, a lead seen seven
        times would make a chance difference look significant), and their labels (n,), 1 = won:

        - a profile field, the lead's age or the time of year that training saw missing for
          fewer than `MIN_MISSING_SEEN` leads gets a typical value (median; for a category its most
          common code) that `model_input` puts in for a missing one: a tree model would
          otherwise send it down whichever branch its split happened to choose (LightGBM reads
          a missing value it never saw as 0), so a lead with empty fields scored anything;
        - a field whose being missing itself went with buying (won rate of the missing rows
          above the others' by three standard errors, so that one field in hundreds by chance) is
          listed in `missing_buys`: only there
          may "not given" be a reason *for* buying (serving.reasons)."""
        label = np.asarray(label, dtype=np.float64)
        typical: dict[str, float] = {}
        missing_buys: list[str] = []
        for i, info in enumerate(self.features):
            if info.kind not in ("categorical", "numeric", "yes_no", "lead_age", "season"):
                continue
            values = X[:, i]
            missing = np.isnan(values)
            n_missing = int(missing.sum())
            if n_missing < MIN_MISSING_SEEN:
                given = values[~missing]
                if len(given) == 0:
                    continue
                if info.kind == "categorical":
                    codes, counts = np.unique(given, return_counts=True)
                    typical[info.name] = float(codes[np.argmax(counts)])
                else:
                    typical[info.name] = float(np.median(given))
            elif n_missing < len(values):
                rate_missing, rate_given = label[missing].mean(), label[~missing].mean()
                error = math.sqrt(rate_given * (1 - rate_given) * (1 / n_missing + 1 / (len(values) - n_missing)))
                if rate_missing > rate_given + 3 * error:
                    missing_buys.append(info.name)
        season = [self.names.index(name) for name in SEASON if name in typical]
        if season:  # the typical time of year: the mean direction, a point on the circle
            angle = math.atan2(float(np.nanmean(X[:, season[0]])), float(np.nanmean(X[:, season[1]])))
            typical[SEASON[0]], typical[SEASON[1]] = math.sin(angle), math.cos(angle)
        self._set_missing(typical, missing_buys)

    def _set_missing(self, typical: Mapping[str, float], missing_buys: list[str]) -> None:
        self.typical = {name: float(v) for name, v in typical.items() if name in self.names}
        self.missing_buys = [name for name in missing_buys if name in self.names]
        self._fill_index = np.array([self.names.index(n) for n in self.typical], dtype=np.int64)
        self._fill_value = np.array(list(self.typical.values()), dtype=np.float64)

    def model_input(self, X: np.ndarray) -> np.ndarray:
        """The rows the model reads: `X` (n, features) from any transform path with each
        missing value of a field training (almost) never saw missing replaced by its typical
        value (`learn_missing`). `X` itself is left as it is: reasons still see "not given".
        Returns `X` unchanged (not a copy) when there is nothing to fill."""
        if not len(self._fill_index):
            return X
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        cells = X[:, self._fill_index]
        missing = np.isnan(cells)
        if not missing.any():
            return X
        X = X.copy()
        X[:, self._fill_index] = np.where(missing, self._fill_value, cells)
        return X

    def _describe(self) -> list[FeatureInfo]:
        out = [FeatureInfo(c, "categorical", column=c) for c in self.categorical]
        out += [FeatureInfo(c, "numeric", column=c) for c in self.numeric]
        out += [FeatureInfo(c, "yes_no", column=c) for c in self.yes_no]
        if self.lead_age is not None:
            out.append(FeatureInfo(LEAD_AGE, "lead_age", column=self.lead_age))
        if self.season is not None:
            out += [FeatureInfo(name, "season", column=self.season) for name in SEASON]
        if self.activity is not None:
            out += [FeatureInfo(f.name, f.kind, activity_type=f.activity_type, window_days=f.window_days,
                                monotone=f.monotone) for f in self.activity.features]
        return out

    @property
    def categorical_indices(self) -> list[int]:
        return list(range(len(self.categorical)))

    @property
    def monotone_constraints(self) -> list[int]:
        return [f.monotone for f in self.features]

    # ------------------------------------------------------------------------------ batch
    def transform_frame(self, leads: pd.DataFrame, activities: pd.DataFrame | None = None,
                        as_of: np.ndarray | pd.Series | None = None,
                        located: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Model rows for cleaned, canonical leads (see features.load.coerce).

        as_of: one moment per lead (datetime64[ns]); required with activity features or lead age.
        located: instead of `activities`, the activities already matched to these leads: (row
        of the lead in `leads`, type code in the aggregator's types, time in ns), as batch
        scoring computes them once for all chunks."""
        n = len(leads)
        blocks: list[np.ndarray] = []
        for column in self.categorical:
            codes = self._code[column]
            other = codes[OTHER]
            values = leads[column] if column in leads else pd.Series([None] * n)
            uniques = pd.unique(values.dropna())
            mapping = {u: codes.get(u, other) for u in uniques}
            blocks.append(values.map(mapping).astype("float64").to_numpy().reshape(n, 1))
        for column in [*self.numeric, *self.yes_no]:
            values = leads[column].to_numpy(dtype="float64") if column in leads else np.full(n, np.nan)
            blocks.append(values.reshape(n, 1))
        if self.lead_age is not None:
            if as_of is None:
                raise ValueError("as_of is required: this transform has the lead's age as an input")
            created = leads["created_at"].to_numpy("datetime64[ns]") if "created_at" in leads \
                else np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
            as_of_ns = np.broadcast_to(np.asarray(as_of, dtype="datetime64[ns]"), (n,))
            blocks.append(lead_age_days(created.view(np.int64), as_of_ns.view(np.int64)).reshape(n, 1))
        if self.season is not None:
            created = leads["created_at"].to_numpy("datetime64[ns]") if "created_at" in leads \
                else np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
            blocks.append(season_inputs(created.view(np.int64)))
        if self.activity is not None:
            if as_of is None:
                raise ValueError("as_of is required: this transform has activity features")
            if located is not None:
                as_of_ns = np.asarray(as_of, dtype="datetime64[ns]").view(np.int64)
                engagement = self.activity.aggregate_arrays(n, *located, as_of_ns)
            else:
                engagement = self.activity.aggregate_batch(leads["lead_id"], np.asarray(as_of), activities)
            if self.not_a_fit:
                unfit = np.zeros(n, dtype=bool)
                for column, values in self.not_a_fit.items():
                    if column in leads:
                        unfit |= leads[column].isin(values).to_numpy(dtype=bool)
                engagement[unfit] = np.nan
            blocks.append(engagement)
        return np.hstack(blocks) if blocks else np.empty((n, 0))

    # ------------------------------------------------------------------------------ one lead
    def _normalise(self, column: str, value: str) -> str | None:
        return V.category(value, frozenset(), self.category_aliases.get(column))

    def is_not_a_fit(self, lead: Mapping[str, Any]) -> bool:
        """A lead the company cannot sell to (spec `leads.not_a_fit`)."""
        return any(self._is_unfit(column, lead.get(column)) for column in self._not_a_fit_sets)

    def clean_category(self, column: str, value: Any) -> str | None:
        """`features.values.category` with this transform's placeholders and aliases (the
        cleaning step's rule), remembered per text value."""
        if type(value) is str:
            cache = self._clean_cache.get(column)
            if cache is not None:
                cleaned = cache.get(value, _UNSEEN)
                if cleaned is not _UNSEEN:
                    return cleaned
                cleaned = V.category(value, self.missing_values, self.category_aliases.get(column))
                if len(cache) < _CACHE_LIMIT:
                    cache[value] = cleaned
                return cleaned
        return V.category(value, self.missing_values, self.category_aliases.get(column))

    def _number(self, value: Any) -> float:
        """`features.values.number`; a value it refuses (the API refuses it earlier) is missing."""
        try:
            return V.number(value, self.missing_values)
        except V.Unreadable:
            return math.nan

    def _yes_no(self, value: Any) -> float:
        """`features.values.yes_no`; a value it refuses (the API refuses it earlier) is missing."""
        try:
            return V.yes_no(value, self.yes_values, self.no_values, self.missing_values)
        except V.Unreadable:
            return math.nan

    def transform_one(self, lead: Mapping[str, Any], activities: Iterable[Mapping[str, Any]] = (),
                      as_of: Any = None) -> np.ndarray:
        """The model row of one lead given as raw field values (the API's JSON shape).

        as_of: a datetime, ISO string or nanoseconds; required with activity features."""
        row = np.empty(len(self.features), dtype=np.float64)
        i = len(self.categorical) + len(self.numeric) + len(self.yes_no)
        row[:i] = self._profile_row(lead)
        if self.season is not None:  # (a time of its own: needs no as_of)
            j = i + (self.lead_age is not None)
            row[j:j + 2] = season_inputs(np.array([_ns_or_nat(lead.get(self.season))], dtype=np.int64))[0]
        if self.lead_age is None and self.activity is None:
            return row
        as_of_ns = timestamp_ns(as_of)
        if as_of_ns is None:
            raise ValueError("as_of is required: this transform has activity features or the lead's age")
        if self.lead_age is not None:
            row[i] = _lead_age_one(_ns_or_nat(lead.get(self.lead_age)), _ns_or_nat(as_of_ns))
            i += 1
        if self.season is not None:
            i += 2
        if self.activity is not None:
            row[i:] = np.nan if self.is_not_a_fit(lead) else self.activity.aggregate_one(as_of_ns, activities)
        return row

    def transform_records(self, leads: list[Mapping[str, Any]], activities_per_lead: Any = None,
                          as_of: Any = None) -> np.ndarray:
        """Model rows of many leads given as raw dicts (the API's batch shape): the rows
        `transform_one` gives each of them, with the activity features vectorised.
        `activities_per_lead`: a list of raw activity dicts per lead, or what
        `ActivityAggregator.read_records` made of such lists."""
        n = len(leads)
        width = len(self.features)
        n_profile = len(self.categorical) + len(self.numeric) + len(self.yes_no)
        X = np.empty((n, width), dtype=np.float64)
        X[:, :n_profile] = self._profile_columns(leads)
        if self.season is not None:
            j = n_profile + (self.lead_age is not None)
            X[:, j:j + 2] = season_inputs(np.array([_ns_or_nat(lead.get(self.season)) for lead in leads],
                                                   dtype=np.int64))
        if self.lead_age is None and self.activity is None:
            return X
        if as_of is None:
            raise ValueError("as_of is required: this transform has activity features or the lead's age")
        as_of_ns = np.array([timestamp_ns(a) for a in as_of], dtype=np.int64) \
            if isinstance(as_of, (list, tuple, np.ndarray)) else np.full(n, timestamp_ns(as_of), dtype=np.int64)
        if self.lead_age is not None:
            field = self.lead_age
            created = np.array([_ns_or_nat(lead.get(field)) for lead in leads], dtype=np.int64)
            X[:, n_profile] = lead_age_days(created, np.array([_ns_or_nat(a) for a in as_of_ns.tolist()],
                                                              dtype=np.int64))
            n_profile += 1
        if self.season is not None:
            n_profile += 2
        if self.activity is not None:
            X[:, n_profile:] = self.activity.aggregate_records(activities_per_lead or [()] * n, as_of_ns)
            if self.not_a_fit:
                unfit = np.zeros(n, dtype=bool)
                for column in self._not_a_fit_sets:
                    unfit |= np.array(self._memo_column(column, leads, self._unfit_memo, self._is_unfit), dtype=bool)
                X[unfit, n_profile:] = np.nan
        return X

    # The profile columns of many raw leads, column by column: each distinct raw value is
    # cleaned and looked up once (the same functions as `_profile_row`, so the same numbers).
    def _profile_columns(self, leads: list[Mapping[str, Any]]) -> np.ndarray:
        columns = [self._memo_column(c, leads, self._code_memo, self._category_code) for c in self.categorical]
        columns += [[self._number(lead.get(c)) for lead in leads] for c in self.numeric]
        columns += [self._memo_column(c, leads, self._yes_no_memo, lambda _c, v: self._yes_no(v)) for c in self.yes_no]
        if not columns:
            return np.empty((len(leads), 0))
        return np.array(columns, dtype=np.float64).T

    @staticmethod
    def _memo_column(column: str, leads: list[Mapping[str, Any]], memo: dict, compute) -> list:
        seen = memo.setdefault(column, {})
        out = []
        for value in [lead.get(column) for lead in leads]:
            try:
                result = seen[value]
            except KeyError:
                result = compute(column, value)
                if len(seen) < _CACHE_LIMIT and (value is None or type(value) is str):  # 1 == True: not keys
                    seen[value] = result
            except TypeError:  # an unhashable value
                result = compute(column, value)
            out.append(result)
        return out

    def _category_code(self, column: str, value: Any) -> float:
        cleaned = self.clean_category(column, value)
        codes = self._code[column]
        return math.nan if cleaned is None else codes.get(cleaned, codes[OTHER])

    def _is_unfit(self, column: str, value: Any) -> bool:
        return self.clean_category(column, value) in self._not_a_fit_sets[column]

    def _profile_row(self, lead: Mapping[str, Any]) -> list[float]:
        row: list[float] = []
        for column in self.categorical:
            row.append(self._category_code(column, lead.get(column)))
        row += [self._number(lead.get(c)) for c in self.numeric]
        row += [self._yes_no(lead.get(c)) for c in self.yes_no]
        return row

    def describe_value(self, info: FeatureInfo, value: float) -> str | None:
        """The raw value behind an encoded categorical input (for reasons)."""
        if info.kind != "categorical" or math.isnan(value):
            return None
        return self.category_codes[info.column][int(value)]

    # ------------------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        return {
            "categorical": self.categorical, "numeric": self.numeric, "yes_no": self.yes_no,
            "yes_values": sorted(self.yes_values), "no_values": sorted(self.no_values),
            "missing_values": sorted(self.missing_values), "category_aliases": self.category_aliases,
            "category_codes": self.category_codes,
            "activity": self.activity.to_dict() if self.activity else None,
            "not_a_fit": self.not_a_fit,
            "lead_age": self.lead_age,
            "typical": self.typical, "missing_buys": self.missing_buys, "season": self.season,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LeadTransform":
        activity = ActivityAggregator.from_dict(data["activity"]) if data.get("activity") else None
        return cls(categorical=data["categorical"], numeric=data["numeric"], yes_no=data["yes_no"],
                   yes_values=data["yes_values"], no_values=data["no_values"],
                   missing_values=data["missing_values"], category_aliases=data["category_aliases"],
                   category_codes=data["category_codes"], activity=activity,
                   not_a_fit=data.get("not_a_fit"), lead_age=data.get("lead_age"),
                   typical=data.get("typical"), missing_buys=data.get("missing_buys"), season=data.get("season"))


def season_inputs(created_ns: np.ndarray) -> np.ndarray:
    """The time of year a lead was created (UTC) as a point on a circle: (n, 2) of sin and cos
    of 2 pi x its place in the year, counted in months: (month - 1 + share of the month gone
    by) / 12, so each month is a twelfth of the circle and 31 December and 1 January are
    neighbours; NaN for no created time (int64 NaT). The one definition for every path: the
    single lead goes through it as a one-row array, so the same bits."""
    created_ns = np.asarray(created_ns, dtype=np.int64)
    missing = created_ns == _NAT
    t = np.where(missing, 0, created_ns).view("datetime64[ns]")
    month = t.astype("datetime64[M]")
    start = month.astype("datetime64[ns]")
    end = (month + 1).astype("datetime64[ns]")
    month_index = (month - t.astype("datetime64[Y]").astype("datetime64[M]")).astype(np.float64)
    share = (month_index + (t - start).astype(np.float64) / (end - start).astype(np.float64)) / 12.0
    angle = 2.0 * np.pi * share
    out = np.column_stack([np.sin(angle), np.cos(angle)])
    out[missing] = np.nan
    return out


def month_of_season(sin: float, cos: float) -> int:
    """The month (1-12) of a point of `season_inputs`. The angle is read back to within about
    1e-14 of a month; a margin of 1e-11 month is given to that error, so the first moment of a
    month reads as that month and only the last 26 microseconds of a month read as the next."""
    months = (math.atan2(sin, cos) / (2.0 * math.pi)) % 1.0 * 12.0
    return min(int(months + 1e-11), 11) + 1


def lead_age_days(created_ns: np.ndarray, as_of_ns: np.ndarray) -> np.ndarray:
    """The lead's age as of the moment, in days: (as_of - created) / one day, the two times
    in nanoseconds since the epoch (int64, NaT for none). Missing (NaN) when either time is;
    0 for a moment before the lead was created (no lead is younger than new). The one
    definition for every path; differences are taken in float64, so no time overflows."""
    created_ns = np.asarray(created_ns, dtype=np.int64)
    as_of_ns = np.asarray(as_of_ns, dtype=np.int64)
    age = np.maximum((as_of_ns.astype(np.float64) - created_ns.astype(np.float64)) / DAYS, 0.0)
    age[(created_ns == _NAT) | (as_of_ns == _NAT)] = np.nan
    return age


def _lead_age_one(created_ns: int, as_of_ns: int) -> float:
    """`lead_age_days` of one lead in plain Python, for the single-lead hot path: the same
    float64 operations, so the same bits (tested against it over random times)."""
    if created_ns == _NAT or as_of_ns == _NAT:
        return math.nan
    return max((float(as_of_ns) - float(created_ns)) / DAYS, 0.0)


def _ns_or_nat(value: Any) -> int:
    """A time as int64 nanoseconds (features.values.time_ns), NaT when missing or unreadable."""
    ns = timestamp_ns(value)
    return _NAT if ns is None or not -_INT64_MAX <= ns <= _INT64_MAX else ns


_INT64_MAX = np.iinfo(np.int64).max
