"""Leads as the score log keeps them: one record format for the API and batch scoring, and the
way back from records to tables that training and the outcome report read.

A logged lead is two JSON texts (serving.store.tables.scored_inputs):

* `lead`: an object keyed by the spec's own lead column names (id, created time, the columns
  under leads.categorical, numeric and yes_no): times as ISO 8601 UTC, numbers as JSON
  numbers or as the text the API was sent, yes/no as true/false or the text sent, categories
  as text; missing values are null.
* `activities`: an array of [time, type, value or null], the time in nanoseconds since the
  epoch, UTC (written and read in bulk: formatting an ISO text per activity cost 86 ms per
  1,000-lead request of 20 activities each, more than scoring it), only those at or before the
  moment the lead was scored as of (point in time: what the score could see), or null when
  none were sent.

`logged_tables` turns records back into raw tables under the spec's column names, and
`logged_spec` is the spec that reads them (ISO times, "." decimals, no thousands mark), so the
records go through the same `clean` and `coerce` as an export: one reading rule.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic_core import to_json

from features import values as V
from features.activity import positions
from features.load import ACTIVITY_TYPE, CREATED_AT, LEAD_ID, OCCURRED_AT, VALUE, CRMTables
from features.spec import DatasetSpec

def _iso_from_ns(ns: int) -> str:
    return pd.Timestamp(ns).isoformat()


def _time_ns(value: Any) -> int:
    """A time as nanoseconds since the epoch, UTC (V.NAT when missing or unreadable: the API
    refused unreadable times before they get here)."""
    if value is None:
        return V.NAT
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (datetime, pd.Timestamp)):
        stamp = pd.Timestamp(value)
        if pd.isna(stamp):
            return V.NAT
        return (stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp).value
    try:
        return V.iso_time_ns(value)
    except V.Unreadable:
        return V.NAT


def _time_text(value: Any) -> str | None:
    """A time as the record keeps it: ISO 8601 naive UTC text (None when missing)."""
    ns = _time_ns(value)
    return None if ns == V.NAT else _iso_from_ns(ns)


_AS_IS = frozenset({str, int, bool, type(None)})  # JSON as they are: most values, answered at once


def _plain(value: Any) -> Any:
    """A field value as JSON: NaN and NA become null, numpy scalars plain Python."""
    if type(value) in _AS_IS:
        return value
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def lead_columns(spec: DatasetSpec) -> list[str]:
    """The spec's lead columns a record keeps, in order: id, created time, profile columns."""
    lead = spec.leads
    return [c for c in dict.fromkeys([lead.id, lead.created_at, *lead.categorical, *lead.numeric, *lead.yes_no])
            if c is not None]


class LeadRecorder:
    """Records of leads as the API receives them (after `serving.schema.LeadValidator`):
    dicts keyed by the spec's column names, activity times as nanoseconds or ISO text.

    `record(lead, as_of_ns)` -> (lead JSON text, activities JSON text or None)."""

    def __init__(self, spec: DatasetSpec, activities_field: str = "activities"):
        self.columns = lead_columns(spec)
        self.created = spec.leads.created_at
        act = spec.activities
        self.activity_keys = (act.time, act.type, act.value) if act is not None else None
        self.activities_field = activities_field

    def record(self, lead: Mapping[str, Any], as_of_ns: int) -> tuple[str, str | None]:
        fields = {}
        for column in self.columns:
            value = lead.get(column)
            fields[column] = _time_text(value) if column == self.created else _plain(value)
        acts = lead.get(self.activities_field)
        if not acts or self.activity_keys is None:
            return to_json(fields).decode(), None
        time_key, type_key, value_key = self.activity_keys
        kept = []
        keep, plain, nat = kept.append, _plain, V.NAT
        for activity in acts:
            at = activity.get(time_key)
            ns = at if type(at) is int else _time_ns(at)  # the API's validator leaves them as ns
            if ns == nat or ns > as_of_ns:
                continue
            keep((ns, plain(activity.get(type_key)), plain(activity.get(value_key)) if value_key else None))
        return to_json(fields).decode(), to_json(kept).decode()


def records_from_tables(spec: DatasetSpec, leads: pd.DataFrame, activities: pd.DataFrame | None,
                        as_of: datetime) -> list[tuple[str, str | None]]:
    """Records of canonical tables (features.load.coerce, as batch scoring has them), one per
    lead in `leads` order: (lead JSON text, activities JSON text or None), activities at or
    before `as_of` (naive UTC) only.

    Built column by column: each distinct value of a column is written once, as `to_json`
    writes it in a record (`_plain`, `_fragments`), and Arrow's string kernels join the pieces;
    the texts are those of `to_json` on each lead's dict and activity list (property-tested
    in tests/features/test_logged.py). Writing each lead's dict and list in Python took 11.2 s
    of 75 s for 100,000 leads and 2M activities (cProfile of `leadscore score`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lead = spec.leads
    names = {lead.id: LEAD_ID, **({lead.created_at: CREATED_AT} if lead.created_at else {})}
    n = len(leads)
    pieces: list[Any] = []
    for column in lead_columns(spec):
        key = to_json(column).decode() + ":"
        source = names.get(column, column)
        if source not in leads:
            pieces.append(key + "null")
        elif source == CREATED_AT:
            pieces.append(_time_fragments(pd.to_datetime(leads[source]), key))
        else:
            pieces.append(_column_fragments(leads[source], key))
    texts = _joined(["{", *_commas(pieces), "}"], n) if pieces else ["{}"] * n
    if activities is None or spec.activities is None:
        return [(text, None) for text in texts]
    moment = pd.Timestamp(as_of)
    known = activities[(activities[OCCURRED_AT] <= moment).to_numpy()]
    ids = leads[LEAD_ID].astype(str)
    owner = positions(pd.Index(ids), known[LEAD_ID])
    order = np.argsort(owner, kind="stable")
    owner = owner[order]
    ns = known[OCCURRED_AT].to_numpy("datetime64[ns]").view(np.int64)[order]
    kinds = pd.Series(known[ACTIVITY_TYPE].astype(object).to_numpy()[order], dtype=object)
    amounts = (pd.to_numeric(known[VALUE], errors="coerce").to_numpy(dtype="float64")[order] if VALUE in known
               else np.full(len(known), np.nan))
    entries = _joined(["[", pc.cast(pa.array(ns, type=pa.int64()), pa.large_string()), ",",
                       _column_fragments(kinds, "", lambda k: None if pd.isna(k) else str(k)), ",",
                       _fragments(amounts.view(np.int64), lambda bits: to_json(_plain(_float(bits))).decode(), "",
                                  missing=np.isnan(amounts)), "]"], len(ns), as_list=False)
    # owner -1 (an activity of no lead here) sorts first and belongs to no record
    bounds = np.searchsorted(owner, np.arange(n + 1))
    lists = pa.ListArray.from_arrays(pa.array(bounds - bounds[0], type=pa.int32()), entries.slice(bounds[0]))
    acts = _joined(["[", pc.binary_join(lists, pa.scalar(",", pa.large_string())), "]"], n)
    return list(zip(texts, acts))


def _float(bits: int) -> float:
    return float(np.array(bits, dtype=np.int64).view(np.float64))


def _commas(pieces: list) -> list:
    out: list = []
    for i, piece in enumerate(pieces):
        out += [","] * (i > 0) + [piece]
    return out


def _joined(parts: list, n: int, as_list: bool = True):
    """Element-wise concatenation of Arrow large_string arrays (n,) and constant texts: a list
    of str (or the Arrow array with as_list=False). Large strings: the activity texts of a
    batch pass 2 GiB from about 50M activities."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = [p if isinstance(p, (pa.Array, pa.ChunkedArray)) else pa.scalar(p, type=pa.large_string())
              for p in parts]
    if not any(isinstance(p, (pa.Array, pa.ChunkedArray)) for p in arrays):
        arrays[0] = pa.array([parts[0]] * n, type=pa.large_string())
    joined = pc.binary_join_element_wise(*arrays, pa.scalar("", type=pa.large_string()))
    return joined.to_pylist() if as_list else joined


def _column_fragments(values: pd.Series, key: str, plain=None):
    """Per row, `key` then the JSON of the value as a record writes it (`_plain`, or `plain`):
    an Arrow string array, each distinct value written once."""
    import pyarrow as pa

    if values.dtype.kind == "f" and not isinstance(values.dtype, pd.CategoricalDtype):
        # -0.0 and 0.0 are one value to factorize but not to JSON: tell them apart by their bits
        floats = values.to_numpy(dtype=np.float64, na_value=np.nan)
        return _fragments(floats.view(np.int64), lambda bits: to_json(_plain(_float(bits))).decode(), key,
                          missing=np.isnan(floats))
    codes, uniques = V.distinct(values)
    write = plain or _plain
    table = [key + to_json(write(u)).decode() for u in uniques.tolist()] + [key + "null"]
    return pa.DictionaryArray.from_arrays(pa.array(np.where(codes < 0, len(table) - 1, codes), type=pa.int64()),
                                          pa.array(table, type=pa.large_string())).cast(pa.large_string())


def _time_fragments(stamps: pd.Series, key: str):
    """Per row, `key` then the JSON of the time's `Timestamp.isoformat()` (null when missing):
    numpy writes the whole seconds (the same text: 4-digit years, nothing after the seconds),
    `isoformat` the others."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ns = stamps.to_numpy("datetime64[ns]").view(np.int64)
    missing = np.asarray(pd.isna(stamps))
    text = np.datetime_as_string(ns.view("datetime64[ns]"), unit="s").astype(object)
    fractional = np.flatnonzero((ns % 1_000_000_000 != 0) & ~missing)
    text[fractional] = [pd.Timestamp(int(t)).isoformat() for t in ns[fractional].tolist()]
    large = pa.large_string()
    written = pc.binary_join_element_wise(pa.scalar(key + '"', large), pa.array(text, type=large),
                                          pa.scalar('"', large), pa.scalar("", large))
    return pc.if_else(pa.array(missing), pa.scalar(key + "null", large), written)


def _fragments(exact: np.ndarray, write, key: str, missing: np.ndarray):
    """Per row, `key` then `write(value)` ("null" where `missing`), each distinct int64 value of
    `exact` written once: an Arrow string array."""
    import pyarrow as pa

    codes, uniques = pd.factorize(exact)
    table = [key + write(int(u)) for u in uniques.tolist()] + [key + "null"]
    codes = np.where(missing, len(table) - 1, codes)
    return pa.DictionaryArray.from_arrays(pa.array(codes, type=pa.int64()),
                                          pa.array(table, type=pa.large_string())).cast(pa.large_string())


def logged_spec(spec: DatasetSpec) -> DatasetSpec:
    """The spec that reads records (`logged_tables`): the same columns and words, with ISO
    times and "." decimals stated so nothing is inferred from the records."""
    updates = {"date_format": None, "dayfirst": None, "decimal": ".", "thousands": ""}
    leads = spec.leads.model_copy(update=updates)
    activities = spec.activities.model_copy(update=updates) if spec.activities is not None else None
    return spec.model_copy(update={"leads": leads, "activities": activities})


def _text(value: Any) -> Any:
    """A record's value as an export would have it: numbers and yes/no as text."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return repr(value)
    return value


def logged_tables(spec: DatasetSpec, records: Sequence[tuple[str, str, str | None]]) -> CRMTables:
    """Raw tables (the spec's column names, text values, as `features.load` reads a file) of
    logged leads: records are (lead_id, lead JSON, activities JSON or None). Read them with
    `clean` and `coerce` under `logged_spec(spec)`."""
    import json

    lead = spec.leads
    columns = lead_columns(spec)
    rows, acts = [], []
    for lead_id, lead_text, acts_text in records:
        fields = json.loads(lead_text)
        row = {column: _text(fields.get(column)) for column in columns}
        row[lead.id] = lead_id
        rows.append(row)
        for at, kind, amount in (json.loads(acts_text) if acts_text else ()):
            acts.append((lead_id, at, kind, _text(amount)))
    # activity times: nanoseconds in the record, ISO 8601 text for reading, all at once
    counted = [i for i, a in enumerate(acts) if type(a[1]) is int]
    if counted:
        texts = np.datetime_as_string(np.array([acts[i][1] for i in counted], dtype=np.int64).view("datetime64[ns]"),
                                      unit="us")
        for i, text in zip(counted, texts.tolist()):
            acts[i] = (acts[i][0], text, *acts[i][2:])
    leads = pd.DataFrame(rows, columns=columns, dtype=object)
    for column in [*lead.after_contact, lead.order_by, lead.label]:  # not logged: what reading expects, empty
        if column is not None and column not in leads:
            leads[column] = None
    activities = None
    if spec.activities is not None:
        act = spec.activities
        names = [act.lead_id, act.time, act.type, *([act.value] if act.value else [])]
        activities = pd.DataFrame([a[:len(names)] for a in acts], columns=names, dtype=object)
    return CRMTables(leads=leads, activities=activities)


def read_records(reading: DatasetSpec, records: Sequence[tuple[str, str, str | None]],
                 activity_times: bool = True) -> tuple[CRMTables, CRMTables]:
    """(cleaned, canonical) tables of records ((lead_id, lead JSON, activities JSON or None)):
    `logged_tables`, then `clean` and `coerce` under `reading`, which is `logged_spec(spec)`
    or a narrowing of it (fewer columns). The one reading of records: the report's and
    retraining's. A value no parser can read becomes missing, as in an export; the cleaned
    tables are what validation reads. activity_times=False leaves the activities' times
    unread (missing) once exact duplicates are dropped: for who needs only their types."""
    from features.load import clean, coerce

    cleaned, _ = clean(reading, logged_tables(reading, records))
    if not activity_times and cleaned.activities is not None:
        cleaned.activities[reading.activities.time] = None
    return cleaned, coerce(reading, cleaned)

