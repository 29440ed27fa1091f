"""The leads' activities are checked for the whole body at once when every one is good
(`LeadValidator._activities_at_once`), else one by one: whatever a client sends, the answer is
the same either way, the same leads with the same times read, or the same refusal."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from serving import request_checks
from serving.problems import InputError
from serving.request_checks import LeadValidator

TIME, TYPE, VALUE = "occurred_at", "activity_type", "value"
MAX_CHARS = 40


def validator(max_activities: int = 8) -> LeadValidator:
    return LeadValidator(id_field="lead_id", created_at="created_at", categorical=["industry"], numeric=[],
                         yes_no=[], after_contact=[], yes_values=["yes"], no_values=["no"], missing_values=[""],
                         activity_fields={"time": TIME, "type": TYPE, "value": VALUE},
                         max_field_chars=MAX_CHARS, max_activities=max_activities)


iso_times = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1)).map(
    lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000)).flatmap(
    lambda moment: st.sampled_from([moment.isoformat(), moment.isoformat() + "Z",
                                    moment.replace(tzinfo=timezone(timedelta(hours=2))).isoformat(),
                                    " " + moment.strftime("%Y-%m-%d") + " "]))
odd = st.one_of(st.sampled_from([None, True, "", "   ", "\t", "x" * (MAX_CHARS + 1), "1999-02-30T00:00:00Z",
                                 "0001-01-01", "2026-03-01T09:30:00+25:00", "2026-03-01 09:30", 10**400,
                                 float("nan"), float("inf"), [], {}]),
                st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=MAX_CHARS + 4),
                st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))

bad = {TIME: st.one_of(st.sampled_from(["1999-02-30T00:00:00Z", "0001-01-01", "2026-03-01T09:30:00+25:00",
                                         "2026-03-01 09:30", "x" * (MAX_CHARS + 1), "", None, 1.5])),
       TYPE: st.sampled_from(["", "   ", "\t", "x" * (MAX_CHARS + 1), None, 3, True]),
       VALUE: st.sampled_from([float("nan"), float("inf"), 10**400, True, "3", [], {}])}
good_types = st.sampled_from(["email_open", "pricing_view", "demo"])
good_amounts = st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6))


@st.composite
def activity_list(draw):
    """Good activities with at most a few things wrong: a bad value, a missing or unknown key,
    an item that is not an object, or not a list at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(odd)
    out = [{TIME: draw(iso_times), TYPE: draw(good_types), VALUE: draw(good_amounts)}
           for _ in range(draw(st.integers(0, 9)))]
    for _ in range(draw(st.integers(0, 2)) if out else 0):
        j = draw(st.integers(0, len(out) - 1))
        how = draw(st.sampled_from(["value"] * 6 + ["missing", "unknown", "item"]))
        key = draw(st.sampled_from([TIME, TYPE, VALUE]))
        if how == "item":
            out[j] = draw(odd)
        elif type(out[j]) is dict and how == "missing":
            out[j].pop(key, None)
        elif type(out[j]) is dict and how == "unknown":
            out[j][draw(st.sampled_from(["other", "y" * 70]))] = 1
        elif type(out[j]) is dict:
            out[j][key] = draw(bad[key])
    return out


leads = st.lists(st.fixed_dictionaries(
    {"lead_id": st.sampled_from(["L1", 7, " 8 "]),
     "created_at": st.one_of(iso_times, iso_times, iso_times, st.sampled_from([None, "soon"]))},
    optional={"activities": activity_list(), "industry": st.sampled_from(["Software", "Software", None, "z" * 50])}),
    min_size=1, max_size=4)


def outcome(check, body):
    try:
        return "accepted", check(body)
    except InputError as exc:
        return "refused", (exc.status, exc.body())


@settings(max_examples=500, deadline=None)
@given(leads, st.booleans())
def test_at_once_and_one_by_one_agree(body, in_bulk):
    """Accepted or refused alike, with the same problems in the same words and the same times
    read (ns), for any activities: bad types, long or blank text, NaN, huge integers, missing
    or unknown keys, too many; times read one by one and together (pandas)."""
    check = validator()
    bulk = request_checks.BULK_TIMES
    request_checks.BULK_TIMES = 0 if in_bulk else bulk
    try:
        at_once = outcome(lambda b: check.check_leads(b, at_once=True), copy.deepcopy(body))
        one_by_one = outcome(lambda b: check.check_leads(b, at_once=False), copy.deepcopy(body))
        read = check._activities_at_once(copy.deepcopy(body))
    finally:
        request_checks.BULK_TIMES = bulk
    assert at_once == one_by_one
    if read is not None:  # "all good" is only said of activities the one-by-one checks accept
        assert one_by_one[0] == "accepted" or all("activities" not in p["loc"] for p in one_by_one[1][1]["detail"])


def test_good_body_reads_every_time_at_once():
    """A good body takes the whole-body path: every activity's time becomes ns."""
    body = [{"lead_id": f"L{i}", "created_at": "2026-01-01T00:00:00Z",
             "activities": [{TIME: "2026-02-01T10:00:00Z", TYPE: "email_open", VALUE: None},
                            {TIME: "2026-02-02T10:00:00+01:00", TYPE: "demo", VALUE: 2.5}]} for i in range(3)]
    assert validator()._activities_at_once(body) is not None
    checked = validator().check_leads(body)
    nine_utc = datetime(2026, 2, 2, 9, tzinfo=timezone.utc)
    assert checked[0]["activities"][1][TIME] == int(nine_utc.timestamp()) * 10**9
