"""The report's view of the leads as they were scored: their "report by" dimensions and the
values drift compares, read from the score log's records (features.logged) with the same
cleaning and parsing as an export, so a source spelled "Google" by the API and "google " in a
batch file is one value.

`logged_canonical(spec, records)` -> canonical leads and activities of the records (or only
some columns of the leads);
`logged_canonical_of(spec, records, lead_ids)` -> the same, of some leads only (drift's recent ones);
`dimensions_and_drift(spec, records, lead_ids)` -> the report's two readings of the records at once;
`with_dimensions(scores, spec, canonical)` -> scores with the spec's `report_by` columns;
`drift_inputs(spec, reference, canonical)` -> {feature: (training values, current values)}.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from features import values as V
from features.errors import DataError
from features.load import CRMTables, LEAD_ID
from features.logged import logged_spec, read_records
from features.profile import drift_values
from features.spec import DatasetSpec

DRIFT_RECENT_DAYS = 30
"""Drift compares the leads last scored in the period's final DRIFT_RECENT_DAYS days with training."""


def _reading_spec(spec: DatasetSpec, columns: Sequence[str] | None, times: bool) -> DatasetSpec:
    """The spec that reads records (features.logged.logged_spec), narrowed to the lead id and
    `columns` without activities (None: every column, and the activities), without the
    created time unless `times`."""
    reading = logged_spec(spec)
    lead = reading.leads
    update: dict = {} if times else {"created_at": None}
    if columns is not None:
        wanted = set(columns)
        update.update({"created_at": None, "order_by": None, "label": None, "after_contact": [],
                       "categorical": [c for c in lead.categorical if c in wanted],
                       "numeric": [c for c in lead.numeric if c in wanted],
                       "yes_no": [c for c in lead.yes_no if c in wanted]})
    if not update:
        return reading
    return reading.model_copy(update={"leads": lead.model_copy(update=update),
                                      **({"activities": None} if columns is not None else {})})


def logged_canonical(spec: DatasetSpec, records: pd.DataFrame, columns: Sequence[str] | None = None,
                     times: bool = True) -> CRMTables:
    """Canonical tables (features.load.coerce) of logged records (a frame with lead_id, lead
    and activities, as serving.store.report_inputs.logged_records gives). A value no parser
    can read becomes missing, as in an export.

    For a part of that reading, in a fraction of the time, each value being what the whole
    reading gives it (every profile value is read on its own). The report reads its 600,000
    leads of benchmarks/report.py so in 9 s (the report_by columns of all, everything of the
    recent quarter) instead of 34 s for the whole reading:

    * columns: read only these profile columns (e.g. the spec's report_by) with the lead id,
      and no activities; records of distinct leads, as logged_records gives them;
    * times=False: leave the created and activity times unread (missing; exact duplicate
      activities are still dropped as their times are written)."""
    if records.empty:
        return CRMTables(leads=pd.DataFrame({LEAD_ID: pd.Series(dtype=object)}))
    reading = _reading_spec(spec, columns, times)
    ids = records["lead_id"].astype(str).tolist()  # as iterating it gives them, without pandas' per-item cost
    texts = records["activities"].tolist() if columns is None else itertools.repeat(None)
    return read_records(reading, list(zip(ids, records["lead"].tolist(), texts)), activity_times=times)[1]


def _among(ids: pd.Series, lead_ids: set[str]) -> np.ndarray:
    """Which of the canonical ids `ids`, as text, are in `lead_ids`. Compared as Python objects:
    pandas' own text column turns every member of `lead_ids` into an Arrow scalar first (600,000
    ids among 150,000: 0.64 s a call; as objects 0.17 s), and both take missing ids as missing."""
    return ids.astype(str).astype(object).isin(lead_ids).to_numpy()


def only_leads(canonical: CRMTables, lead_ids: set[str]) -> CRMTables:
    """The tables of the leads in `lead_ids` only (their activities with them)."""
    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[_among(frame[LEAD_ID], lead_ids)]

    return CRMTables(leads=keep(canonical.leads),
                     activities=keep(canonical.activities) if canonical.activities is not None else None)


def _records_of(records: pd.DataFrame, lead_ids: set[str]) -> np.ndarray:
    """Which records can be among the leads `lead_ids` once read (only_leads): those whose id
    (features.values.read_ids, as coerce reads the activities' lead ids; a lead's own id may
    further be a placeholder, hence missing) is among them; all when a missing id would be.
    At least one when there are records, so that their tables have their columns."""
    if records.empty or _among(pd.Series([None], dtype=object), lead_ids)[0]:
        return np.ones(len(records), dtype=bool)
    ids = pd.Series(records["lead_id"].astype(str).tolist(), dtype=object)
    wanted = _among(pd.Series(V.read_ids(ids).values, dtype=object), lead_ids).copy()
    wanted[0] |= not wanted.any()
    return wanted


def logged_canonical_of(spec: DatasetSpec, records: pd.DataFrame, lead_ids: set[str],
                        times: bool = True) -> CRMTables:
    """`only_leads(logged_canonical(spec, records, times=times), lead_ids)` in every profile
    column and in the activities' types (what drift reads), reading only the records that can
    be among them. Each profile value and activity type is read on its own and exact duplicate
    activities are those of one lead, so the other records change none of them; only times may
    read otherwise, their format being inferred from a whole column (the records' times are all
    ISO 8601: features.logged writes them so), and a column's dtype, inferred from its values
    (text or object). The recent leads drift compares are a quarter of a 26-week log's
    (benchmarks/report.py)."""
    return only_leads(logged_canonical(spec, records[_records_of(records, lead_ids)], times=times), lead_ids)


def dimensions_and_drift(spec: DatasetSpec, records: pd.DataFrame,
                         lead_ids: set[str] | None) -> tuple[CRMTables | None, CRMTables | None]:
    """What the report reads from the records, reading each record's lead once:

    * the report_by columns of every record, as `logged_canonical(spec, records,
      columns=spec.report_by)` reads them (None when the spec has no report_by);
    * the tables of the leads `lead_ids`, as `logged_canonical_of(spec, records, lead_ids,
      times=False)` reads them, for drift (None when lead_ids is None).

    The dimensions of the records read for drift are taken from that reading (the same values:
    each is read on its own), the others' read alone (benchmarks/report.py: 9.0 s instead of
    10.3 s for the two readings apart); records of distinct leads, as logged_records gives
    them."""
    columns = list(spec.report_dimensions)
    if lead_ids is None:
        return (logged_canonical(spec, records, columns=columns) if columns else None), None
    wanted = _records_of(records, lead_ids)
    read = logged_canonical(spec, records[wanted], times=False)
    drift = only_leads(read, lead_ids)
    if not columns:
        return None, drift
    others = records[~wanted]
    rest = logged_canonical(spec, others, columns=columns).leads if len(others) else None
    if records.empty or len(read.leads) + (len(rest) if rest is not None else 0) != len(records):
        return logged_canonical(spec, records, columns=columns), drift  # none, or not one record per lead
    leads = read.leads[[LEAD_ID, *columns]]
    if rest is not None:
        leads = pd.concat([leads, rest[[LEAD_ID, *columns]]], ignore_index=True)
        leads = leads.iloc[np.argsort(np.concatenate([np.flatnonzero(wanted), np.flatnonzero(~wanted)]))]
    return CRMTables(leads=leads.reset_index(drop=True)), drift


def with_dimensions(scores: pd.DataFrame, spec: DatasetSpec, canonical: CRMTables) -> pd.DataFrame:
    """`scores` (one row per lead, lead_id) with one column per `spec.report_by` dimension:
    the lead's value as last logged, missing for leads without a record."""
    out = scores.copy()
    leads = canonical.leads.drop_duplicates(LEAD_ID, keep="last").set_index(LEAD_ID)
    for column in spec.report_dimensions:
        values = leads[column] if column in leads else pd.Series(dtype=object)
        out[column] = out["lead_id"].astype(str).map(values)
    return out


def drift_inputs(spec: DatasetSpec, reference: Mapping[str, list], canonical: CRMTables) -> dict[str, tuple]:
    """{feature: (training values, current values)} for every feature the training reference
    (features.profile.DataProfile.drift_reference) holds, in its order, current values read
    from `canonical` with the same rule (features.profile.drift_values). Empty when the
    reference is (a model trained before references were kept)."""
    if not reference:
        return {}
    current = drift_values(spec, canonical)
    unknown = [f for f in reference if not isinstance(reference[f], list)]
    if unknown:
        raise DataError(f"drift reference: {unknown[0]!r} holds no list of values; retrain to write a new profile")
    numeric = {*spec.leads.numeric, *spec.leads.yes_no}

    def array(values: list, feature: str):
        series = pd.Series(values, dtype=object)
        return (pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64") if feature in numeric
                else series.to_numpy())

    return {feature: (array(values, feature), array(current.get(feature, []), feature))
            for feature, values in reference.items()}
