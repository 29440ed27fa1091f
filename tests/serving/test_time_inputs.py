"""Any time a client sends (as_of, an activity's time, a deal's closed_at, the report's since)
is read or refused with a 400 that names the field: never a 5xx, whatever the year, the offset
or the text (the probe: `9999-12-31T23:59:59-23:59` as a time once gave a 500)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.serving.conftest import running_service

PROBES = ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "0000-01-01T00:00:00Z",
          "10000-01-01T00:00:00Z", "1677-09-21T00:12:43Z", "2262-04-11T23:47:16.854775808Z",
          "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+99:99", "2026-01-01T00:00:00-24:00"]


def _two(top: int) -> st.SearchStrategy[str]:
    return st.integers(0, top).map(lambda n: f"{n:02d}")


iso_ish = st.one_of(
    st.builds(lambda y, mo, d, sep, h, mi, s, frac, off: f"{y}-{mo}-{d}{sep}{h}:{mi}:{s}{frac}{off}",
              st.one_of(st.integers(0, 10_999).map(lambda y: f"{y:04d}"), st.integers(-99_999, 999_999).map(str)),
              _two(13), _two(32), st.sampled_from(["T", " ", "t", ""]), _two(25), _two(61), _two(61),
              st.sampled_from(["", ".5", ".999999999", ".1234567890123"]),
              st.one_of(st.sampled_from(["", "Z", "z", "+00:00"]),
                        st.builds(lambda sign, h, m: f"{sign}{h}:{m}", st.sampled_from("+-"), _two(99), _two(99)))),
    st.datetimes(timezones=st.builds(lambda minutes: timezone(timedelta(minutes=minutes)),
                                     st.integers(-(24 * 60 - 1), 24 * 60 - 1))).map(lambda t: t.isoformat()),
    st.text(max_size=40),
    st.sampled_from(PROBES),
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def client(bundle_dir, tmp_path_factory):
    with running_service(bundle_dir, f"sqlite:///{tmp_path_factory.mktemp('times') / 'leadscore.db'}") as client:
        yield client


def assert_read_or_refused(response, field: list, allowed=(200,)) -> None:
    assert response.status_code < 500, response.text
    if response.status_code == 400:
        body = response.json()
        assert body["detail"][0]["loc"] == field, body
        assert ".".join(str(part) for part in field if isinstance(part, str)).split(".")[-1] in body["error"], body
    else:
        assert response.status_code in allowed, response.text


@pytest.mark.parametrize("text", PROBES)
def test_out_of_range_times_are_a_400_naming_the_field(client, text):
    response = client.post("/score", json={"lead": {"lead_id": "t"}, "as_of": text})
    assert response.status_code == 400, response.text
    assert response.json()["detail"][0]["loc"] == ["as_of"]


@FUZZ
@given(text=iso_ish)
def test_any_as_of_is_read_or_refused_naming_it(client, text):
    assert_read_or_refused(client.post("/score", json={"lead": {"lead_id": "t"}, "as_of": text}), ["as_of"])


@FUZZ
@given(text=iso_ish)
def test_any_activity_time_is_read_or_refused_naming_it(client, text):
    lead = {"lead_id": "t", "activities": [{"occurred_at": text, "activity_type": "webinar"}]}
    assert_read_or_refused(client.post("/score", json={"leads": [lead], "as_of": "2026-04-01T00:00:00Z"}),
                           ["leads", 0, "activities", 0, "occurred_at"])


@FUZZ
@given(text=iso_ish)
def test_any_closed_at_is_read_or_refused_naming_it(client, text):
    outcome = {"lead_id": "never-scored", "outcome": "won", "closed_at": text}
    assert_read_or_refused(client.post("/outcomes", json={"outcomes": [outcome]}), ["outcomes", 0, "closed_at"],
                           allowed=(404,))


@FUZZ
@given(text=iso_ish)
def test_any_report_period_is_read_or_refused_naming_it(client, text):
    assert_read_or_refused(client.get("/report", params={"since": text}), ["since"], allowed=(200, 503))


def test_a_time_the_model_reads_is_scored(client):
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=23, minutes=59))).isoformat()
    lead = {"lead_id": "t", "activities": [{"occurred_at": moment, "activity_type": "webinar"}]}
    assert client.post("/score", json={"lead": lead, "as_of": "2026-04-01T00:00:00Z"}).status_code == 200
