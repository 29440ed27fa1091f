"""One parser per kind of value: the API and the batch path read every value alike.

The API path is the service's input check (`serving.schema.LeadValidator`) followed by the
transform of one lead; the batch path is a file's column going through `features.load.clean`
and `coerce`, then the transform of a frame. For any text or JSON value, both must accept it
or both refuse it, and when accepted both must give the model the same number.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from features import values as V
from features.load import CREATED_AT, CRMTables, clean, coerce
from features.spec import DatasetSpec
from features.transform import OTHER, LeadTransform
from serving.schema import LeadValidator

# Files whose numbers use '.' decimals and whose times are ISO 8601: the API's own conventions
# (a file may state or detect others: "1.234,5" or "04/03/2026" are tested below).
SPEC = DatasetSpec.model_validate({
    "name": "values-test",
    "leads": {"file": "leads.csv", "id": "id", "created_at": "created", "categorical": ["industry"],
              "numeric": ["n"], "yes_no": ["flag"], "label": "converted", "decimal": ".",
              "date_format": "ISO8601"},
})
COLUMN = {"number": "n", "yes_no": "flag", "category": "industry", "time": "created", "id": "id"}
TRANSFORM = LeadTransform(
    categorical=["industry"], numeric=["n"], yes_no=["flag"], yes_values=SPEC.leads.yes_values,
    no_values=SPEC.leads.no_values, missing_values=SPEC.missing_values, category_aliases={},
    category_codes={"industry": ["1", "software", "true", OTHER]}, activity=None)
VALIDATOR = LeadValidator(
    id_field="id", created_at="created", categorical=["industry"], numeric=["n"], yes_no=["flag"],
    after_contact=[], yes_values=SPEC.leads.yes_values, no_values=SPEC.leads.no_values,
    missing_values=SPEC.missing_values, activity_fields={})

TRICKY = ["1_000", "١٢٣", "inf", "-inf", "Infinity", "nan", "1e400", "-1e400", "1e3", " 12.5 ", "+.5", "5.",
          "0x10", "1,5", "1.234,5", "", "  ", "Select", "N/A", "null", "None", "-", "TRUE", "False", "yes", "No",
          "1.0", "0.0", "01", "2", "101.0", " 101 ", "1e2", "L\x00", "\u00a0", "2024-01-12", "2024-01-12T10:30:00Z",
          "2024-01-12 10:30:00+01:00", "2024-02-30", "04/03/2026", "9999-12-31T23:59:59-23:59",
          "1899-12-31T23:59:59Z", "2024-01-12T10:30:00.1234567Z", "2024-01-12T24:00:00", "Software ", "SOFTWARE"]
TEXTS = st.one_of(
    st.sampled_from(TRICKY),
    st.text(max_size=12),
    st.from_regex(r"[+-]?\d{0,4}([.,_]\d{0,4})?([eE][+-]?\d{1,3})?", fullmatch=True),
    st.from_regex(V.ISO_PATTERN, fullmatch=True),
)
JSON_VALUES = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
                        st.floats(allow_nan=False, allow_infinity=False), TEXTS)


def api_reading(role: str, value) -> tuple[bool, float | None]:
    """(refused, model input or None) for a lead sent to the API with this value."""
    column = COLUMN[role]
    lead = {"id": "L1", column: value} if role != "id" else {"id": value}
    times: list = []
    problems = VALIDATOR._check_lead(copy.deepcopy(lead), ("lead",), times)
    problems += VALIDATOR._parse_times(times) if times else []
    if role == "id" and value is not None and not isinstance(value, (str, int, float, bool)):
        return True, None
    if problems:
        return True, None
    if role == "time":
        return False, V.iso_time_ns(value) if not V.is_missing(value, VALIDATOR.missing) else None
    if role == "id":
        return False, None
    row = TRANSFORM.transform_one(lead)
    return False, row[TRANSFORM.names.index(column)]


def batch_reading(role: str, value) -> tuple[bool, float | None]:
    """(refused, model input or None) for a one-row file with this value in its column."""
    frame = pd.DataFrame({"id": ["L1"], "created": [None], "industry": [None], "n": [None], "flag": [None],
                          "converted": ["1"]}, dtype=object)
    frame[COLUMN[role]] = pd.Series([value], dtype=object)
    cleaned, _ = clean(SPEC, CRMTables(leads=frame))
    canonical = coerce(SPEC, cleaned)
    if role == "category":
        return False, TRANSFORM.transform_frame(canonical.leads)[0, 0]
    reading = canonical.readings["leads"][COLUMN[role]]
    if role == "id":
        return bool(reading.refused[0]) or reading.values[0] is None, None
    if reading.refused[0]:
        return True, None
    if role == "time":
        stamp = canonical.leads[CREATED_AT].iloc[0]
        return False, None if pd.isna(stamp) else int(stamp.value)
    return False, TRANSFORM.transform_frame(canonical.leads)[0, TRANSFORM.names.index(COLUMN[role])]


def same(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(role=st.sampled_from(sorted(COLUMN)), value=JSON_VALUES)
@example(role="number", value="1_000")
@example(role="number", value="١٢٣")
@example(role="number", value="inf")
@example(role="number", value="1e400")
@example(role="id", value="101.0")
@example(role="time", value="04/03/2026")
@example(role="yes_no", value="1.0")
def test_api_and_batch_give_the_same_answer_for_any_value(role, value):
    api, batch = api_reading(role, value), batch_reading(role, value)
    assert api[0] == batch[0], f"{role} {value!r}: API refused={api[0]}, batch refused={batch[0]}"
    assert same(api[1], batch[1]), f"{role} {value!r}: API read {api[1]!r}, batch read {batch[1]!r}"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.from_regex(V.ISO_PATTERN, fullmatch=True), TEXTS), min_size=1, max_size=20))
def test_the_vectorised_iso_reader_is_the_scalar_definition(texts):
    fast = V.iso_times_ns(pd.Series(texts, dtype=object))
    for text, ns in zip(texts, fast):
        try:
            expected = V.iso_time_ns(text)
        except V.Unreadable:
            expected = V.NAT
        assert ns == expected, text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(JSON_VALUES, st.from_regex(r"[ -~]{0,8}", fullmatch=True)), min_size=1, max_size=20))
def test_reading_a_column_of_ids_is_lead_id_on_each(values):
    reading = V.read_ids(pd.Series(values, dtype=object))
    for value, read, refused in zip(values, reading.values, reading.refused):
        try:
            expected, expected_refused = V.lead_id(value), False
        except V.Unreadable:
            expected, expected_refused = None, True
        assert (read, bool(refused)) == (expected, expected_refused), repr(value)


@pytest.mark.parametrize("text", ["inf", "-inf", "1e400", "Infinity", "nan"])
def test_non_finite_numbers_are_not_numbers_anywhere(text):
    with pytest.raises(V.Unreadable):
        V.number(text)
    reading = V.read_numbers(pd.Series([text, "3"], dtype=object))
    assert reading.refused.tolist() == [True, False]
    assert np.isnan(reading.values[0]) and reading.values[1] == 3.0


def test_a_numeric_column_written_with_infinity_is_refused_not_read():
    reading = V.read_numbers(pd.Series([1.0, np.inf, np.nan]))
    assert reading.refused.tolist() == [False, True, False]


def test_decimal_commas_are_detected_per_table_and_can_be_stated():
    texts = pd.Series(["1.234,5", "7,25", "12"], dtype=object)
    marks, ambiguous, why = V.detect_marks([texts], frozenset())
    assert marks == V.NumberMarks(",", ".") and not ambiguous and why is None
    assert V.read_numbers(texts, marks=marks).values.tolist() == [1234.5, 7.25, 12.0]
    assert V.detect_marks([pd.Series(["1.5", "2"], dtype=object)], frozenset())[0] == V.PLAIN
    us = pd.Series(["1,250", "7.5"], dtype=object)  # '.' decimals shown by 7.5: 1,250 is 1250
    assert V.read_numbers(us, frozenset(), *V.detect_marks([us], frozenset())).values.tolist() == [1250.0, 7.5]
    with pytest.raises(V.Unreadable):
        V.number("1.23.4", marks=V.NumberMarks(",", "."))


@pytest.mark.parametrize("texts", [["1,250", "80", "2,500"], ["1.250", "80"]])
def test_numbers_that_could_be_thousands_or_decimals_are_refused_not_guessed(texts):
    series = pd.Series(texts, dtype=object)
    marks, ambiguous, why = V.detect_marks([series], frozenset())
    reading = V.read_numbers(series, frozenset(), marks, ambiguous, why)
    assert reading.refused.tolist() == [True, False] + [True] * (len(texts) - 2)
    assert reading.values[1] == 80.0 and "no value of the table tells" in reading.problem


def test_label_words_win_over_the_meaning_of_1_and_0():
    won, lost = V.words(["0"]), V.words(["1"])  # a churn export: 0 is the good outcome
    assert [V.yes_no(v, won, lost) for v in ["1", "1.0", "0", "0.0", 1, 0.0]] == [0.0, 0.0, 1.0, 1.0, 0.0, 1.0]


def test_a_stated_dayfirst_the_values_contradict_is_refused():
    reading = V.read_times(pd.Series(["05/03/2024", "13/01/2024"], dtype=object), dayfirst=False)
    assert reading.problem is not None and "dayfirst: false" in reading.problem and reading.refused.all()


def test_a_stated_format_with_offsets_reads_each_offset():
    reading = V.read_times(pd.Series(["2024-01-12T10:00:00+01:00", "2024-01-12T10:00:00-05:00"], dtype=object),
                           stated="%Y-%m-%dT%H:%M:%S%z")
    assert [str(pd.Timestamp(v)) for v in reading.values] == ["2024-01-12 09:00:00", "2024-01-12 15:00:00"]


@pytest.mark.parametrize("written,read", [("101", "101"), ("101.0", "101"), (" 101 ", "101"), (101, "101"),
                                          (101.0, "101"), ("00101", "00101"), ("L-7", "L-7"), ("", None)])
def test_ids_are_one_key_however_a_spreadsheet_wrote_them(written, read):
    assert V.lead_id(written) == read


def test_spreadsheet_yes_no_and_labels():
    yes, no = V.words(["yes", "y", "true", "1"]), V.words(["no", "n", "false", "0"])
    for text, expected in [("1.0", 1.0), ("0.0", 0.0), ("TRUE", 1.0), ("False", 0.0), ("Yes", 1.0), ("NO", 0.0),
                           (True, 1.0), (0, 0.0)]:
        assert V.yes_no(text, yes, no) == expected, text
    with pytest.raises(V.Unreadable):
        V.yes_no("maybe", yes, no)
    won, lost = V.words(["converted"]), V.words(["not converted"])
    assert V.yes_no("Converted", won, lost) == 1.0 and V.yes_no("1.0", won, lost) == 1.0


@pytest.mark.parametrize("texts,first", [
    (["12/01/2024", "13/01/2024"], "2024-01-12"),  # a first field above 12: day first
    (["01/12/2024", "01/13/2024"], "2024-01-12"),  # a second field above 12: month first
    (["12.01.24 10:30", "31.12.23 09:00"], "2024-01-12 10:30"),
])
def test_a_time_column_has_one_format_inferred_from_all_its_values(texts, first):
    reading = V.read_times(pd.Series(texts, dtype=object))
    assert reading.problem is None and not reading.refused.any()
    assert pd.Timestamp(reading.values[0]) == pd.Timestamp(first)


@pytest.mark.parametrize("texts,words", [
    (["12/01/2024", "01/02/2024"], "ambiguous"),
    (["2024-01-12", "13/01/2024"], "mixed styles"),
    (["13/01/2024", "01/13/2024"], "mixed styles"),
])
def test_an_ambiguous_time_column_is_refused_whole(texts, words):
    reading = V.read_times(pd.Series(texts, dtype=object))
    assert reading.problem is not None and words in reading.problem
    assert reading.refused.all()


def test_a_stated_dayfirst_settles_an_ambiguous_column():
    reading = V.read_times(pd.Series(["12/01/2024", "01/02/2024"], dtype=object), dayfirst=True)
    assert [str(pd.Timestamp(v).date()) for v in reading.values] == ["2024-01-12", "2024-02-01"]
    reading = V.read_times(pd.Series(["12/01/2024"], dtype=object), stated="%m/%d/%Y")
    assert str(pd.Timestamp(reading.values[0]).date()) == "2024-12-01"


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12))
def test_an_id_or_a_category_typed_composed_or_decomposed_is_one_value(text):
    """"é" as one character or as "e" plus a combining accent (NFC or NFD) is one lead id and
    one category, in the API's reading (lead_id) and a file's (read_ids) alike."""
    import unicodedata

    nfc, nfd = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    try:
        one = V.lead_id(nfc)
    except V.Unreadable:
        return
    assert V.lead_id(nfd) == one
    assert V.read_ids(pd.Series([nfc, nfd], dtype=object)).values.tolist() == [one, one]
    assert V.category(nfd) == V.category(nfc)
