"""One parser per kind of value: numbers, yes/no (and outcome labels), categories, ids, times.

Every path that reads a value calls these: loading a file (`features.load`), validation (which
reports what they refused, with the raw text), the transform of one lead, and the API's input
checks (`serving.schema`). A value is either read (a float, a text, nanoseconds, or missing) or
refused with `Unreadable`, whose message says why in words a user can act on.

The scalar functions are the definition. The column readers (`read_numbers`, `read_yes_no`,
`read_ids`, `read_times`) apply them to each *distinct* value of a column once, so a
20-million-row column costs one call per distinct value. The only vectorised shortcut is for
ISO 8601 times, where columns hold millions of distinct values: rows are first matched with the
same regular expression the scalar parser uses, and only those are handed to pandas'
ISO 8601 reader (tests/features/test_values.py checks both give the same nanoseconds for any
text).

Rules, in short:
- *missing*: None, NaN, blank text, or a placeholder of the spec (`missing_values`).
- *number*: an int or finite float; or text of ASCII digits with an optional sign, decimal
  mark and exponent (`1_000`, Arabic-Indic digits, `inf`, `nan` and `1e400` are refused);
  with a thousands mark stated or detected, only well-grouped numbers (`1.234,5`).
- *yes/no*: true/false; 1/0 (also written `1.0`); or text in the spec's yes or no words (any
  case). An outcome label is read by the same rule with the won and lost words.
- *category*: trimmed, lower case, inner spaces collapsed, spec aliases merged; numbers print
  as numbers (`101.0` is `101`).
- *id*: trimmed text; an integral number, or text such as `101.0`, is `101`; control
  characters are refused.
- *time*: one format per column. ISO 8601 / RFC 3339 (`2026-03-01`, `2026-03-01T09:30:00Z`,
  `2026-03-01 09:30:00+01:00`) always; day/month/year styles (`12/01/2024`) only in files, read
  day first or month first for the whole column (a first field above 12 anywhere means day
  first), or as the spec states; an ambiguous or mixed column is refused. Naive times are UTC;
  years outside 1900-2200 are refused (typing errors; beyond 2262 they no longer fit
  nanoseconds).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
MISSING_TEXT = "(missing)"
ISO8601 = "ISO8601"
AMBIGUOUS = "ambiguous"


class Unreadable(ValueError):
    """A value that cannot be read as its kind. `kind` is a short machine name (number_parsing,
    finite_number, yes_no, datetime_parsing, timestamp_range, type_error, value_error)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


def shown(value: Any, limit: int = 40) -> str:
    """A raw value as an error message quotes it."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def is_missing(value: Any, missing: frozenset[str] | set[str]) -> bool:
    """None, NaN/NaT, blank text or a placeholder (compared after trimming)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if type(value) is float:
        return value != value
    if type(value) is str:
        text = value.strip()
        return not text or text in missing
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return False


def placeholders(values: Iterable[str]) -> frozenset[str]:
    """The spec's `missing_values`, as `is_missing` compares them."""
    return frozenset(v.strip() for v in values)


# ==================================================================================== numbers
@dataclass(frozen=True)
class NumberMarks:
    """How numbers written as text mark decimals and thousands."""

    decimal: str = "."
    thousands: str = ""

    def describe(self) -> str:
        group = {"": "no", ",": "',' as", ".": "'.' as", " ": "space as", "'": "\"'\" as"}[self.thousands]
        return f"'{self.decimal}' as decimal mark, {group} thousands mark"


PLAIN = NumberMarks()
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_GROUPED: dict[NumberMarks, re.Pattern] = {}


def _grouped(marks: NumberMarks) -> re.Pattern:
    pattern = _GROUPED.get(marks)
    if pattern is None:
        t, d = re.escape(marks.thousands), re.escape(marks.decimal)
        pattern = re.compile(rf"[+-]?(?:(?:\d{{1,3}}(?:{t}\d{{3}})+|\d+)(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?",
                             re.ASCII)
        _GROUPED[marks] = pattern
    return pattern


def number(value: Any, missing: frozenset[str] = frozenset(), marks: NumberMarks = PLAIN) -> float:
    """A number as float64; NaN when missing. Raises Unreadable (see the module docstring)."""
    kind = type(value)
    if kind is bool or isinstance(value, np.bool_):
        raise Unreadable("must be a number, not true/false", "type_error")
    if kind is float or kind is int or isinstance(value, (int, float, np.number)):
        try:
            result = float(value)
        except OverflowError:
            raise Unreadable(f"{shown(value)} is too large to be a number", "finite_number") from None
        if result != result:
            return math.nan
        if math.isinf(result):
            raise Unreadable(f"{shown(value)} is not a finite number: send a number, or nothing when "
                             "unknown", "finite_number")
        return result
    if is_missing(value, missing):
        return math.nan
    if kind is not str:
        raise Unreadable(f"must be a number or text, not {kind_of(value)}", "type_error")
    text = value.strip()
    if marks is not PLAIN and marks != PLAIN:
        if not _grouped(marks).fullmatch(text):
            raise Unreadable(f"not a number: {shown(value)} (numbers are read with {marks.describe()})",
                             "number_parsing")
        if marks.thousands:
            text = text.replace(marks.thousands, "")
        text = text.replace(marks.decimal, ".")
    elif not _NUMBER.fullmatch(text):
        raise Unreadable(f"not a number: {shown(value)}", "number_parsing")
    result = float(text)
    if math.isinf(result):
        raise Unreadable(f"{shown(value)} is too large to be a number", "finite_number")
    return result


def number_text(value: float) -> str:
    """How a number prints as a category or id: 101.0 -> '101', 0.5 -> '0.5'."""
    if value.is_integer():
        return str(int(value))
    return repr(value)


# ==================================================================================== yes/no
def yes_no(value: Any, yes: frozenset[str], no: frozenset[str], missing: frozenset[str] = frozenset()) -> float:
    """1.0 for yes, 0.0 for no, NaN when missing. `yes`/`no` are case-folded words (for an
    outcome label: the won and lost words). A value is compared with the words as written
    (any case), then, when it is a number, as that number prints (`1.0` is `1`, true is
    `true`); only when the words name neither 0 nor 1 do 1 and 0 (and true/false) mean yes
    and no. Raises Unreadable for anything else."""
    if value is True or value is False or isinstance(value, np.bool_):
        text, read = ("true", 1.0) if value else ("false", 0.0)
    elif is_missing(value, missing):
        return math.nan
    elif type(value) is str:
        text = value.strip().casefold()
        try:
            read = number(text)
        except Unreadable:
            read = math.nan
    elif isinstance(value, (int, float, np.number)):
        try:
            read = number(value)
        except Unreadable:
            read = math.nan
        text = number_text(read) if read == read else str(value)
    else:
        raise Unreadable(f"must be yes/no, a number or text, not {kind_of(value)}", "type_error")
    for word in (text, number_text(read) if read == read else None):
        if word in yes:
            return 1.0
        if word in no:
            return 0.0
    if not ({"0", "1"} & (yes | no)) and read in (0.0, 1.0):
        return read
    listed = ", ".join(sorted(yes | no))
    raise Unreadable(f"{shown(value)} is neither yes nor no: use one of {listed}, true/false, 1/0, or "
                     "nothing when unknown", "yes_no")


def words(values: Iterable[str]) -> frozenset[str]:
    """Spec words (yes_values, won, ...) as `yes_no` compares them."""
    return frozenset(str(v).strip().casefold() for v in values)


# ================================================================================ categories
_SPACES = re.compile(r"\s+")


def composed(text: str) -> str:
    """Text in Unicode's composed form (NFC): "é" typed as one character or as "e" and a
    combining accent (macOS file names, some exports) is one spelling, so one category or one
    lead id. ASCII text is returned as it is (nothing to compose)."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def category(value: Any, missing: frozenset[str] = frozenset(), aliases: dict[str, str] | None = None) -> str | None:
    """A category value as text: trimmed, case-folded, spaces collapsed, aliases merged (alias
    keys and targets case-folded); None when missing."""
    if is_missing(value, missing):
        return None
    if value is True or value is False:
        text = "true" if value else "false"
    elif isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        text = number_text(float(value))
    else:
        text = _SPACES.sub(" ", composed(str(value)).strip().casefold())
    if aliases:
        return aliases.get(text, text)
    return text


def folded_aliases(aliases: dict[str, str] | None) -> dict[str, str]:
    """Spec aliases spelled as `category` compares them."""
    return {_SPACES.sub(" ", composed(k).strip().casefold()): _SPACES.sub(" ", composed(v).strip().casefold())
            for k, v in (aliases or {}).items()}


# ======================================================================================= ids
_INTEGRAL_TEXT = re.compile(r"([+-]?\d+)\.0+", re.ASCII)
UNPRINTABLE_ID = ("the lead id has a control character or unprintable text in it (such as \\u0000 or a lone "
                  "surrogate): send the id as plain text")


def lead_id(value: Any) -> str | None:
    """A lead id as the one key of every table: trimmed text in composed form (`composed`);
    integral numbers and text such as '101.0' (as spreadsheets write ids) are '101'. None when blank or missing; raises
    Unreadable for true/false, non-finite numbers, objects and control characters."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if value is True or value is False or isinstance(value, np.bool_):
        raise Unreadable("the lead id must be text or a number, not true/false", "type_error")
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if value != value:
            return None
        if not float(value).is_integer():
            raise Unreadable(f"the lead id must be text or an integer, not {shown(value)}", "type_error")
        return number_text(float(value))
    if not isinstance(value, str):
        raise Unreadable(f"the lead id must be text or a number, not {kind_of(value)}", "type_error")
    text = composed(value.strip())
    if not text:
        return None
    if not text.isprintable():
        raise Unreadable(UNPRINTABLE_ID, "value_error")
    integral = _INTEGRAL_TEXT.fullmatch(text)
    return integral.group(1) if integral else text


# ===================================================================================== times
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
                  r"(Z|[+-]\d{2}:?\d{2})?", re.ASCII)
ISO_PATTERN = _ISO.pattern
_EPOCH = datetime(1970, 1, 1)
_MIN_NS = int((datetime(EARLIEST_YEAR, 1, 1) - _EPOCH).total_seconds()) * 10**9
_MAX_NS = int((datetime(LATEST_YEAR + 1, 1, 1) - _EPOCH).total_seconds()) * 10**9 - 1
ISO_EXAMPLE = "2026-03-01T09:30:00Z"


def iso_time_ns(value: Any) -> int:
    """An ISO 8601 (RFC 3339) time as nanoseconds since the epoch, UTC (naive times are UTC;
    precision one microsecond). Raises Unreadable for anything else, as the API requires."""
    if isinstance(value, datetime):
        return _in_range(_datetime_ns(value), value)
    if type(value) is not str:
        raise Unreadable(f"must be an ISO 8601 time such as {ISO_EXAMPLE}, not {kind_of(value)}", "type_error")
    text = value.strip()
    match = _ISO.fullmatch(text)
    if match is None:
        raise Unreadable(f"not an ISO 8601 time: {shown(value)}; write it like {ISO_EXAMPLE}",
                         "datetime_parsing")
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                          int((fraction or "0")[:6].ljust(6, "0")))
    except ValueError as exc:
        raise Unreadable(f"not a time: {shown(value)} ({exc})", "datetime_parsing") from None
    ns = _datetime_ns(moment)
    if zone and zone != "Z":
        hours, minutes = int(zone[1:3]), int(zone[-2:])
        if hours > 23 or minutes > 59:
            raise Unreadable(f"not a time: {shown(value)} (time-zone offset out of range)", "datetime_parsing")
        offset = (hours * 3600 + minutes * 60) * 10**9
        ns = ns - offset if zone[0] == "+" else ns + offset
    return _in_range(ns, value)


def _datetime_ns(moment: datetime) -> int:
    if moment.tzinfo is not None:
        offset = moment.utcoffset() or timedelta(0)
        moment = moment.replace(tzinfo=None) - offset
    return ((moment - _EPOCH) // timedelta(microseconds=1)) * 1000


def _in_range(ns: int, value: Any) -> int:
    if not _MIN_NS <= ns <= _MAX_NS:
        raise Unreadable(f"{shown(str(value))} is out of range ({EARLIEST_YEAR} to {LATEST_YEAR})",
                         "value_error.timestamp_range")
    return ns


def time_ns(value: Any) -> int | None:
    """Nanoseconds of an already-checked time (ns int, datetime, pandas/numpy time or ISO text),
    None when missing or unreadable: the features' view of a time."""
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, pd.Timestamp):
        if value is pd.NaT:
            return None
        return int(value.tz_convert("UTC").tz_localize(None).value if value.tzinfo else value.value)
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else int(value.astype("datetime64[ns]").view(np.int64))
    if isinstance(value, datetime):
        ns = _datetime_ns(value)
    elif type(value) is str:
        try:
            ns = iso_time_ns(value)
        except Unreadable:
            return None
    else:
        return None
    return ns if -_INT64_MAX <= ns <= _INT64_MAX else None  # outside datetime64[ns]: unreadable


# ------------------------------------------------------------------ day/month/year columns
_DMY = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?:([ T])(\d{1,2}):(\d{2})(?::(\d{2}))?)?", re.ASCII)


@dataclass(frozen=True)
class TimeFormat:
    """How one column's times are written: ISO 8601, or a strftime format."""

    format: str
    words: str
    day_first: bool | None = None
    """For a day/month/year format whose order the values themselves showed (a field above
    12): True day first, False month first; else None."""

    def read(self, texts: pd.Series) -> np.ndarray:
        """int64 ns per text (int64 min where unreadable); `texts` are distinct, non-missing."""
        if self.format == ISO8601:
            return iso_times_ns(texts)
        parsed = pd.to_datetime(texts.astype(object), format=self.format, errors="coerce", utc=True)
        ns = parsed.dt.tz_localize(None).to_numpy("datetime64[ns]").view(np.int64).copy()
        return _range_checked(ns)


NAT = np.iinfo(np.int64).min
_INT64_MAX = 2**63 - 1


def _range_checked(ns: np.ndarray) -> np.ndarray:
    bad = (ns < _MIN_NS) | (ns > _MAX_NS)
    ns[bad] = NAT
    return ns


def iso_times_ns(texts: pd.Series) -> np.ndarray:
    """`iso_time_ns` over many texts: the same regular expression selects the rows pandas'
    ISO 8601 reader may see; the rest are unreadable (int64 min)."""
    stripped = texts.astype("string").str.strip()
    ok = stripped.str.fullmatch(ISO_PATTERN).fillna(False).to_numpy(dtype=bool)
    out = np.full(len(texts), NAT, dtype=np.int64)
    if ok.any():
        parsed = pd.to_datetime(stripped[ok].astype(object), utc=True, format="ISO8601", errors="coerce")
        parsed = parsed.dt.tz_localize(None).dt.floor("us")
        out[ok] = parsed.to_numpy("datetime64[ns]").view(np.int64)
    return _range_checked(out)


def infer_time_format(texts: pd.Series, stated: str | None = None, dayfirst: bool | None = None
                      ) -> tuple[TimeFormat | None, str | None]:
    """The one format of a column of distinct, non-missing time texts: (format, None), or
    (None, why it stays ambiguous). ISO 8601 wins when every value is written so; a
    day/month/year column is day first when a first field is above 12 anywhere, month first
    when a second one is; `dayfirst` settles a column where neither is; a stated format is
    used as it is."""
    if stated:
        if stated.upper() == ISO8601:
            return TimeFormat(ISO8601, "ISO 8601"), None
        return TimeFormat(stated, f"the stated format {stated}"), None
    if len(texts) == 0:
        return TimeFormat(ISO8601, "ISO 8601"), None
    stripped = texts.astype("string").str.strip()
    iso = stripped.str.fullmatch(ISO_PATTERN).fillna(False).to_numpy(dtype=bool)
    if iso.all():
        return TimeFormat(ISO8601, "ISO 8601"), None
    dmy = stripped.str.fullmatch(_DMY.pattern).fillna(False).to_numpy(dtype=bool)
    if iso.any() and dmy.any():
        return None, "mixed styles: some times are ISO 8601 (2024-01-12), others day/month/year (12/01/2024)"
    if not dmy.any():
        return TimeFormat(ISO8601, "ISO 8601"), None  # unreadable values are refused one by one
    parts = stripped[dmy].str.extract(_DMY.pattern)
    shapes = set(zip(parts[1], parts[3].str.len(), parts[4].fillna(""), parts[7].notna()))
    if len(shapes) > 1:
        return None, "mixed styles: the times are not all written the same way (separators, years, time of day)"
    separator, year_digits, clock, has_seconds = shapes.pop()
    first = pd.to_numeric(parts[0]).max()
    second = pd.to_numeric(parts[2]).max()
    if first > 12 and second > 12:
        return None, "mixed styles: some times have a day first and others a month first"
    if first > 12:
        day_first, why = True, "day first (a first field above 12)"
    elif second > 12:
        day_first, why = False, "month first (a second field above 12)"
    elif dayfirst is not None:
        day_first, why = dayfirst, ("day first" if dayfirst else "month first") + " (as the spec states)"
    else:
        return None, (AMBIGUOUS + ": no field above 12 tells day from month (04/03/2026 may be 4 March or "
                      "3 April)")
    if dayfirst is not None and dayfirst != day_first and (first > 12 or second > 12):
        return None, (f"the spec says dayfirst: {str(dayfirst).lower()}, but the values are written "
                      f"{'day' if day_first else 'month'} first (a {'first' if day_first else 'second'} "
                      "field above 12)")
    date = f"%d{separator}%m" if day_first else f"%m{separator}%d"
    fmt = date + separator + ("%Y" if year_digits == 4 else "%y")
    if clock:
        fmt += f"{clock}%H:%M" + (":%S" if has_seconds else "")
    return TimeFormat(fmt, f"{why}: {fmt}", day_first if (first > 12 or second > 12) else None), None


# ==================================================================================== columns
@dataclass
class Reading:
    """A column read by one of the parsers above.

    values: the parsed values, one per row (float64 for numbers and yes/no, object text or None
    for ids, int64 ns with int64 min for missing times); refused: True where a non-missing raw
    value could not be read; how: the format used, in words; problem: why the whole column could
    not be read (an ambiguous time format), else None."""

    values: np.ndarray
    refused: np.ndarray
    how: str = ""
    problem: str | None = None
    day_first: bool | None = None
    """For a time column: the day/month order its own values showed, else None."""


def distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(codes (n,) int64, uniques): each distinct value of a column once, as every column
    parser here sees them (`True` and `1` stay apart); code -1 for missing (None/NaN). A check
    of a column's values may run on `uniques` and be mapped back with `codes`."""
    return _distinct(values)


def _distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(codes, uniques): codes -1 for missing (None/NaN)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64), pd.Series(values.cat.categories, dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) in ("mixed", "mixed-integer",
                                                                                   "mixed-integer-float"):
        # True == 1 and False == 0 for hashing, but not for reading: keep them apart
        keyed = values.map(lambda v: (_BOOL, v) if type(v) is bool else v)
        codes, keys = pd.factorize(keyed, use_na_sentinel=True)
        uniques = [k[1] if type(k) is tuple and len(k) == 2 and k[0] is _BOOL else k for k in keys]
    return codes.astype(np.int64), pd.Series(uniques, dtype=object)


_BOOL = object()


def _apply(values: pd.Series, parse: Callable[[Any], Any], missing_value: Any, dtype: Any) -> Reading:
    codes, uniques = _distinct(values)
    parsed = np.empty(len(uniques) + 1, dtype=dtype)
    bad = np.zeros(len(uniques) + 1, dtype=bool)
    for i, raw in enumerate(uniques.tolist()):
        try:
            parsed[i] = parse(raw)
        except Unreadable:
            parsed[i] = missing_value
            bad[i] = True
    parsed[-1] = missing_value
    return Reading(parsed[codes], bad[codes])


def read_numbers(values: pd.Series, missing: frozenset[str] = frozenset(), marks: NumberMarks = PLAIN,
                 ambiguous: frozenset[str] = frozenset(), problem: str | None = None) -> Reading:
    """`number` over a column (float64; NaN when missing or refused). Texts in `ambiguous`
    (see `detect_marks`) are refused, with `problem` saying why."""
    if ambiguous:
        reading = read_numbers(values, missing, marks)
        stripped = values.astype("string").str.strip()
        unsure = stripped.isin(list(ambiguous)).fillna(False).to_numpy(dtype=bool)
        reading.values[unsure] = np.nan
        reading.refused |= unsure
        reading.problem = problem if unsure.any() else None
        return reading
    if values.dtype.kind in "biuf" and not isinstance(values.dtype, pd.CategoricalDtype):
        floats = values.to_numpy(dtype="float64", na_value=np.nan)
        bad = np.isinf(floats)
        floats = np.where(bad, np.nan, floats)
        return Reading(floats, bad, how="numbers")
    if values.dtype.kind == "b":
        return Reading(np.full(len(values), np.nan), values.to_numpy(dtype=bool) | True, how="numbers")
    reading = _apply(values, lambda v: number(v, missing, marks), np.nan, np.float64)
    reading.how = f"numbers with {marks.describe()}"
    return reading


_ONE_GROUP = re.compile(r"[+-]?\d{1,3}[.,]\d{3}", re.ASCII)
_DOT_GROUPS = re.compile(r"[+-]?\d{1,3}(?:\.\d{3}){2,}(?:,\d*)?", re.ASCII)
_COMMA_GROUPS = re.compile(r"[+-]?\d{1,3}(?:,\d{3}){2,}(?:\.\d*)?", re.ASCII)


def detect_marks(columns: list[pd.Series], missing: frozenset[str]) -> tuple[NumberMarks, frozenset[str], str | None]:
    """The decimal and thousands marks of a table's numbers written as text, from what the
    values show: (marks, values that stay ambiguous, why, or None).

    A value shows ',' decimals when it is written `7,25`, `1.234,5` or `1.234.567`; '.'
    decimals when `7.25`, `1,234.5` or `1,234,567`. With ',' decimals the thousands mark is
    '.'; with '.' decimals it is ',' when some value has one. `1.250` or `1,250` alone could be
    either (1.25 or 1250): when nothing in the table tells, those values are refused (the
    spec's `decimal` settles them); when the table shows both styles, the '.' reading is used
    and the values it cannot read are refused."""
    texts: set[str] = set()
    for values in columns:
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
            texts.update(t.strip() for t in pd.unique(values.dropna()).tolist()
                         if type(t) is str and not is_missing(t, missing))
    comma = dot = False
    ambiguous = set()
    for text in texts:
        if _ONE_GROUP.fullmatch(text):
            ambiguous.add(text)
        elif _DOT_GROUPS.fullmatch(text):
            comma = True
        elif _COMMA_GROUPS.fullmatch(text):
            dot = True
        elif "," in text and "." in text:
            comma, dot = comma or text.rfind(",") > text.rfind("."), dot or text.rfind(".") > text.rfind(",")
        elif "," in text:
            comma = True
        elif "." in text and _NUMBER.fullmatch(text):
            dot = True
    if comma and not dot:
        return NumberMarks(",", "."), frozenset(), None
    if dot and not comma:
        return (NumberMarks(".", ",") if any("," in t for t in texts) else PLAIN), frozenset(), None
    if ambiguous and not (comma or dot):
        example = sorted(ambiguous)[0]
        return PLAIN, frozenset(ambiguous), (
            f"numbers such as {example} may have '.' or ',' as decimal mark or as thousands mark, and no "
            "value of the table tells which")
    return PLAIN, frozenset(), None


def read_yes_no(values: pd.Series, yes: frozenset[str], no: frozenset[str],
                missing: frozenset[str] = frozenset()) -> Reading:
    """`yes_no` over a column (float64 1/0; NaN when missing or refused)."""
    return _apply(values, lambda v: yes_no(v, yes, no, missing), np.nan, np.float64)


def read_categories(values: pd.Series, missing: frozenset[str] = frozenset(),
                    aliases: dict[str, str] | None = None) -> np.ndarray:
    """`category` over a column: object array of text or None."""
    return _apply(values, lambda v: category(v, missing, aliases), None, object).values


def category_spellings(values: pd.Series, missing: frozenset[str] = frozenset(),
                       aliases: dict[str, str] | None = None, counts: list[int] | None = None) -> dict[str, str]:
    """Per category value (as `category` reads it), the column's most common way of writing it,
    trimmed with inner spaces collapsed: what people read in reasons ("Financial Services", not
    the reading "financial services"). A spelling merged in by an alias ("fin services") is
    used only when the value is never written otherwise; then the reading itself is. Ties go
    to the first spelling in sort order. Each distinct value is read once. With `counts`,
    `values` are distinct values and `counts` how often each occurs (a column's value counts
    summed over the partitions of a table on a cluster: `features.partitions`)."""
    if counts is None:
        codes, uniques = _distinct(values)
        counts = np.bincount(codes[codes >= 0], minlength=len(uniques)).tolist()
    else:
        uniques = pd.Series(list(values), dtype=object)
    tally: dict[str, dict[str, int]] = {}
    for raw, n in zip(uniques.tolist(), counts):
        read = category(raw, missing, aliases) if n else None
        if read is None:
            continue
        spellings = tally.setdefault(read, {})
        if category(raw, missing) == read:  # not an alias's spelling ("fin services")
            written = _SPACES.sub(" ", raw.strip()) if type(raw) is str else read
            spellings[written] = spellings.get(written, 0) + n
    return {read: min(spellings.items(), key=lambda kv: (-kv[1], kv[0]))[0] if spellings else read
            for read, spellings in tally.items()}


_PLAIN_ID = r"[!-~](?:[ -~]*[!-~])?"
"""Printable ASCII with no space at either end: text `lead_id` returns unchanged unless it is
integral text such as '101.0'."""


def read_ids(values: pd.Series) -> Reading:
    """`lead_id` over a column: object array of text, None when missing or refused.

    Distinct ids that are plain printable ASCII and not integral text are, by `lead_id`'s
    definition, their own reading; only the others are passed to it one by one (on 2.85M
    distinct ids of a 1M-lead demo CRM, calling `lead_id` on each took 8 s of 27 s of
    loading: cProfile of `load_clean`). tests/features/test_values.py checks both agree."""
    codes, uniques = _distinct(values)
    text = uniques.astype(object)
    plain = np.zeros(len(text), dtype=bool)
    if len(text):
        strings = pd.Series(text.where(text.map(type) == str), dtype="string")
        plain = (strings.str.fullmatch(_PLAIN_ID) & ~strings.str.fullmatch(_INTEGRAL_TEXT.pattern)) \
            .fillna(False).to_numpy(dtype=bool)
    parsed = np.empty(len(text) + 1, dtype=object)
    bad = np.zeros(len(text) + 1, dtype=bool)
    parsed[:-1][plain] = text.to_numpy()[plain]
    for i in np.flatnonzero(~plain):
        try:
            parsed[i] = lead_id(text.iat[i])
        except Unreadable:
            parsed[i], bad[i] = None, True
    parsed[-1] = None
    return Reading(parsed[codes], bad[codes])


def read_times(values: pd.Series, missing: frozenset[str] = frozenset(), stated: str | None = None,
               dayfirst: bool | None = None) -> Reading:
    """A time column as int64 ns (int64 min when missing or refused), read with one format
    inferred from all its distinct values (`infer_time_format`)."""
    if values.dtype.kind == "M":
        stamps = values
        if getattr(stamps.dt, "tz", None) is not None:
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        ns = stamps.to_numpy("datetime64[ns]").view(np.int64).copy()
        present = ns != NAT
        checked = _range_checked(ns.copy())
        return Reading(checked, present & (checked == NAT), how="times")
    codes, uniques = _distinct(values)
    is_text = np.array([type(u) is str for u in uniques.tolist()], dtype=bool)
    blank = np.array([is_missing(u, missing) for u in uniques.tolist()], dtype=bool)
    texts = uniques[is_text & ~blank].astype(str)
    fmt, problem = infer_time_format(texts, stated, dayfirst)
    parsed = np.full(len(uniques) + 1, NAT, dtype=np.int64)
    refused = np.append(~blank, False)
    if fmt is not None and len(texts):
        parsed[texts.index.to_numpy()] = fmt.read(texts)
    for i, raw in enumerate(uniques.tolist()):  # times a reader already parsed (Excel cells, Parquet)
        if not is_text[i] and not blank[i] and isinstance(raw, (datetime, np.datetime64)):
            try:
                parsed[i] = iso_time_ns(raw) if isinstance(raw, datetime) else _in_range(time_ns(raw), raw)
            except Unreadable:
                parsed[i] = NAT
    refused &= parsed == NAT
    return Reading(parsed[codes], refused[codes], how=fmt.words if fmt else "", problem=problem,
                   day_first=fmt.day_first if fmt else None)


_MONTHS = {name: i + 1 for names in (
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"],
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
     "ottobre", "novembre", "dicembre"],
    ["gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"])
    for i, name in enumerate(names)}


def month(value: Any, missing: frozenset[str] = frozenset()) -> float:
    """A month name (English or Italian, full or three letters, any case) as 1-12; NaN when
    missing. Raises Unreadable otherwise."""
    if is_missing(value, missing):
        return math.nan
    found = _MONTHS.get(str(value).strip().casefold().rstrip("."))
    if found is None:
        raise Unreadable(f"not a month name: {shown(value)}", "value_error")
    return float(found)


def read_order(values: pd.Series, missing: frozenset[str] = frozenset(), stated: str | None = None,
               dayfirst: bool | None = None) -> Reading:
    """The column that orders leads in time when there is no created time (`leads.order_by`),
    as float64 increasing with time: numbers when every value is one; else times (ns) when the
    column reads as times; else month names (1-12). Refusals are those of the number reading
    when none fits."""
    numbers = read_numbers(values, missing)
    if not numbers.refused.any():
        return numbers
    times = read_times(values, missing, stated, dayfirst)
    if times.problem is None and not times.refused.any():
        ns = times.values.astype(np.float64)
        ns[times.values == NAT] = np.nan
        return Reading(ns, times.refused, how=f"times ({times.how})")
    months = _apply(values, lambda v: month(v, missing), np.nan, np.float64)
    if not months.refused.any():
        months.how = "month names"
        return months
    numbers.how += " (not times nor month names either)"
    numbers.problem = times.problem
    return numbers


def kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return "text"
