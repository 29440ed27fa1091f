"""The score log's record of a lead (features.logged) reads back as the lead was scored.

A lead is recorded by the API (`LeadRecorder`, from the validated JSON) or by batch scoring
(`records_from_tables`, from the canonical tables), and read back for the report and for
retraining through `clean` and `coerce` under `logged_spec`. For any value the API or a file
accepts, the read-back record must give the model the same input the score was computed from.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from features.load import CRMTables, clean, coerce
from features.logged import LeadRecorder, records_from_tables
from features.spec import ActivitiesTable
from monitoring.inputs import logged_canonical
from tests.features.test_values import COLUMN, JSON_VALUES, SPEC, TEXTS, TRANSFORM, VALIDATOR, api_reading, \
    batch_reading

AS_OF = datetime(2026, 6, 1)
RECORDED = ("number", "yes_no", "category", "time")


def _read_back(lead_text: str) -> pd.DataFrame:
    records = pd.DataFrame({"lead_id": ["L1"], "lead": [lead_text], "activities": [None]})
    return logged_canonical(SPEC, records).leads


def _input(leads: pd.DataFrame, role: str):
    if role == "time":
        stamp = leads["created_at"].iloc[0]
        return None if pd.isna(stamp) else int(stamp.value)
    return TRANSFORM.transform_frame(leads)[0, TRANSFORM.names.index(COLUMN[role])]


def _same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(role=st.sampled_from(RECORDED), value=JSON_VALUES)
@example(role="number", value=" 12.5 ")
@example(role="number", value=1e300)
@example(role="number", value="1e3")
@example(role="yes_no", value="TRUE")
@example(role="time", value="2024-01-12 10:30:00+01:00")
def test_an_api_record_reads_back_as_the_api_read_the_lead(role, value):
    refused, expected = api_reading(role, value)
    if refused:
        return
    lead = {"id": "L1", COLUMN[role]: value}
    times: list = []
    VALIDATOR._check_lead(lead, ("lead",), times)
    VALIDATOR._parse_times(times) if times else None
    text, _ = LeadRecorder(SPEC).record(lead, int(pd.Timestamp(AS_OF).value))
    assert _same(_input(_read_back(text), role), expected), f"{role} {value!r}: logged as {text}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(role=st.sampled_from(RECORDED), value=TEXTS)
@example(role="number", value="+.5")
@example(role="number", value="5.")
def test_a_batch_record_reads_back_as_the_file_was_read(role, value):
    refused, expected = batch_reading(role, value)
    if refused:
        return
    frame = pd.DataFrame({"id": ["L1"], "created": [None], "industry": [None], "n": [None], "flag": [None],
                          "converted": ["1"]}, dtype=object)
    frame[COLUMN[role]] = pd.Series([copy.copy(value)], dtype=object)
    cleaned, _ = clean(SPEC, CRMTables(leads=frame))
    canonical = coerce(SPEC, cleaned)
    [(text, _)] = records_from_tables(SPEC, canonical.leads, None, AS_OF)
    assert _same(_input(_read_back(text), role), expected), f"{role} {value!r}: logged as {text}"


ACTIVITY_SPEC = SPEC.model_copy(update={"activities": ActivitiesTable.model_validate(
    {"file": "activities.csv", "lead_id": "lead", "time": "at", "type": "kind", "value": "amount"})})
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1.0, 2.5]))
MOMENTS = st.one_of(st.none(), st.integers(-2**62, 2**62),
                    st.sampled_from([0, 1_700_000_000_000_000_000, 1_700_000_000_123_000_000, -1]))
WORDS = st.one_of(st.none(), st.sampled_from(["software", "retail", "Software ", ""]), st.text(max_size=6))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(st.sampled_from(["L1", "L2", "L3", "L4"]), MOMENTS, WORDS, FLOATS, FLOATS),
                     max_size=8, unique_by=lambda row: row[0]),
       acts=st.lists(st.tuples(st.sampled_from(["L1", "L2", "L3", "L9", None]), MOMENTS,
                               st.one_of(st.none(), st.sampled_from(["visit", "demo", "é\"\\"])), FLOATS),
                     max_size=12))
def test_batch_records_are_the_leads_written_one_by_one(rows, acts):
    """records_from_tables writes column by column (each distinct value once, joined by Arrow):
    every text is the one LeadRecorder writes for the same lead, value by value (a lead with no
    activity gets "[]" where the API, sent none, keeps null)."""
    nat = pd.NaT
    leads = pd.DataFrame({
        "lead_id": pd.Series([r[0] for r in rows], dtype=object),
        "created_at": pd.Series([nat if r[1] is None else pd.Timestamp(r[1]) for r in rows], dtype="datetime64[ns]"),
        "industry": pd.Series([r[2] for r in rows], dtype=object),
        "n": pd.Series([r[3] for r in rows], dtype="float64"),
        "flag": pd.Series([r[4] for r in rows], dtype="float64")})
    activities = pd.DataFrame({
        "lead_id": pd.Series([a[0] for a in acts], dtype=object),
        "occurred_at": pd.Series([nat if a[1] is None else pd.Timestamp(a[1]) for a in acts], dtype="datetime64[ns]"),
        "activity_type": pd.Series([a[2] for a in acts], dtype=object),
        "value": pd.Series([a[3] for a in acts], dtype="float64")})
    as_of = datetime(2026, 6, 1)
    got = records_from_tables(ACTIVITY_SPEC, leads, activities, as_of)
    recorder = LeadRecorder(ACTIVITY_SPEC)
    ns = int(pd.Timestamp(as_of).value)
    for i, (lead_id, created, industry, n, flag) in enumerate(rows):  # ids are unique, as validation requires
        mine = [{"at": int(t.value), "kind": k, "amount": v} for (owner, _, k, v), t in
                zip(acts, activities["occurred_at"]) if owner == lead_id and pd.notna(t)]
        lead = {"id": lead_id, "created": None if created is None else created, "industry": industry,
                "n": n, "flag": flag, "activities": mine}
        text, listed = recorder.record(lead, ns)
        assert got[i] == (text, listed or "[]"), (lead, got[i])
