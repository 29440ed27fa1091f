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
