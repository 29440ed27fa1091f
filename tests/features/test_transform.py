"""One transform: a lead alone gets exactly the row it gets inside a batch."""

import json

import numpy as np
import pandas as pd

from features.activity import NEVER_DAYS
from features.load import CRMTables, clean, coerce
from features.transform import OTHER, LeadTransform

from .conftest import raw_crm


def test_a_lead_alone_scores_exactly_as_inside_a_batch(spec):
    raw = raw_crm(600, seed=21, n_activities=6000)
    cleaned, _ = clean(spec, CRMTables(**raw))
    tables = coerce(spec, cleaned)
    transform = LeadTransform.fit(spec, tables.leads.iloc[:300], tables.activities, min_category_count=5)
    rng = np.random.default_rng(3)
    as_of = (tables.leads["created_at"] + pd.to_timedelta(rng.integers(0, 90, len(tables.leads)), unit="D")).to_numpy()
    batch = transform.transform_frame(tables.leads, tables.activities, as_of)

    by_lead = {k: g.to_dict("records") for k, g in raw["activities"].groupby("lead_id")}
    records = raw["leads"].drop_duplicates().to_dict("records")
    for i, lead in enumerate(records):
        one = transform.transform_one(lead, by_lead.get(lead["lead_id"], []), as_of=as_of[i])
        np.testing.assert_array_equal(one, batch[i], err_msg=f"lead {lead['lead_id']}")
    # the API's batch path over raw dicts gives the same rows too
    many = transform.transform_records(records, [by_lead.get(r["lead_id"], []) for r in records], list(as_of))
    np.testing.assert_array_equal(many, batch)


def test_unknown_categories_missing_fields_and_placeholders_are_scored(spec):
    raw = raw_crm(200, seed=4)
    cleaned, _ = clean(spec, CRMTables(**raw))
    tables = coerce(spec, cleaned)
    transform = LeadTransform.fit(spec, tables.leads, tables.activities, min_category_count=1)
    now = "2026-01-01T00:00:00Z"
    unknown = dict(zip(transform.names, transform.transform_one({"industry": "Space Mining", "employees": "Select"}, [], now)))
    assert unknown["industry"] == transform.category_codes["industry"].index(OTHER)
    assert np.isnan(unknown["source"]) and np.isnan(unknown["employees"]) and np.isnan(unknown["opt_in"])
    assert unknown["n_engagements_30d"] == 0 and unknown["days_since_last_activity"] == NEVER_DAYS
    # activities with an unknown type or an unreadable time are ignored, not fatal
    odd = transform.transform_one({}, [{"activity_type": "fax", "occurred_at": "2025-12-31"},
                                       {"activity_type": "pricing_view", "occurred_at": "not a date"}], now)
    assert odd[transform.names.index("n_engagements_90d")] == 0


def test_the_fitted_transform_survives_a_json_round_trip(spec):
    raw = raw_crm(200, seed=8)
    cleaned, _ = clean(spec, CRMTables(**raw))
    tables = coerce(spec, cleaned)
    transform = LeadTransform.fit(spec, tables.leads, tables.activities, min_category_count=3)
    again = LeadTransform.from_dict(json.loads(json.dumps(transform.to_dict())))
    as_of = (tables.leads["created_at"] + pd.Timedelta(days=30)).to_numpy()
    np.testing.assert_array_equal(transform.transform_frame(tables.leads, tables.activities, as_of),
                                  again.transform_frame(tables.leads, tables.activities, as_of))
    assert again.names == transform.names


def test_a_lead_we_cannot_sell_to_gets_no_engagement_features_however_keen():
    from .conftest import make_spec

    spec = make_spec(leads={**make_spec().leads.model_dump(), "not_a_fit": {"industry": ["Mining"]}})
    raw = raw_crm(300, seed=12)
    cleaned, _ = clean(spec, CRMTables(**raw))
    tables = coerce(spec, cleaned)
    transform = LeadTransform.fit(spec, tables.leads, tables.activities, min_category_count=1)
    keen = [{"occurred_at": "2025-06-0%dT10:00:00" % d, "activity_type": "demo_request"} for d in range(1, 9)]
    miner = transform.transform_one({"industry": " MINING "}, keen, "2025-06-10")
    engaged = transform.transform_one({"industry": "retail"}, keen, "2025-06-10")
    activity = slice(len(transform.names) - len(transform.activity.names), None)
    assert np.isnan(miner[activity]).all() and not np.isnan(engaged[activity]).any()
    assert np.array_equal(miner, transform.transform_one({"industry": "Mining"}, [], "2025-06-10"), equal_nan=True)
    as_of = (tables.leads["created_at"] + pd.Timedelta(days=30)).to_numpy()
    batch = transform.transform_frame(tables.leads, tables.activities, as_of)
    mining = (tables.leads["industry"] == "mining").to_numpy()
    assert mining.any() and np.isnan(batch[mining][:, activity]).all()
    assert not np.isnan(batch[~mining][:, activity]).any()


# --------------------------------------------------------------------------- the lead's age
from datetime import datetime, timedelta, timezone  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from features.transform import LEAD_AGE  # noqa: E402

_NS_RANGE = (-(2**62), 2**62)  # well inside datetime64[ns]
_READABLE = (-2_208_988_800 * 10**9, 7_258_118_400 * 10**9 - 1)  # times read from text: 1900 to 2199


@st.composite
def lead_and_moment(draw):
    """A created time (or none) in one of the forms a raw lead carries, and an as-of moment."""
    created = draw(st.one_of(st.none(), st.integers(*_READABLE)))
    as_of = draw(st.integers(*_NS_RANGE) if created is None else
                 st.one_of(st.integers(*_NS_RANGE), st.integers(created - 5 * 10**15, created + 5 * 10**15)
                           .filter(lambda v: _NS_RANGE[0] <= v <= _NS_RANGE[1])))
    form = draw(st.sampled_from(["ns", "iso", "iso_offset", "datetime", "placeholder"]))
    if created is None:
        raw = draw(st.sampled_from([None, "", "Select", "not a date"]))
    elif form == "ns":
        raw = created
    elif form in ("iso", "iso_offset"):
        moment = datetime(1970, 1, 1) + timedelta(microseconds=created // 1000)
        created = created // 1000 * 1000  # ISO text carries microseconds
        if form == "iso":
            raw = moment.isoformat()
        else:
            raw = (moment + timedelta(hours=2)).isoformat() + "+02:00"
    elif form == "datetime":
        created = created // 1000 * 1000
        raw = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=created // 1000)
    else:
        raw, created = "N/A", None
    return raw, created, as_of


def age_transform(spec):
    raw = raw_crm(50, seed=2)
    tables = coerce(spec, clean(spec, CRMTables(**raw))[0])
    return LeadTransform.fit(spec, tables.leads, tables.activities, min_category_count=1)


@settings(max_examples=200, deadline=None)
@given(st.lists(lead_and_moment(), min_size=1, max_size=6))
def test_the_lead_age_is_the_same_alone_in_a_batch_and_in_a_frame(cases):
    from .conftest import make_spec

    if "t" not in _AGE_TRANSFORM:  # fitted once: setdefault would fit it again for every example
        _AGE_TRANSFORM["t"] = age_transform(make_spec())
    transform = _AGE_TRANSFORM["t"]
    i = transform.names.index(LEAD_AGE)
    leads = [{"created_at": raw} for raw, _, _ in cases]
    moments = [as_of for _, _, as_of in cases]
    alone = np.array([transform.transform_one(lead, [], as_of)[i] for lead, as_of in zip(leads, moments)])
    many = transform.transform_records(leads, [[] for _ in leads], moments)[:, i]
    frame = pd.DataFrame({"lead_id": [f"L{k}" for k in range(len(cases))],
                          "created_at": np.array([np.datetime64("NaT") if c is None else c for _, c, _ in cases],
                                                 dtype="datetime64[ns]")})
    batch = transform.transform_frame(frame, None, np.array(moments, dtype="datetime64[ns]"))[:, i]
    np.testing.assert_array_equal(alone, batch)
    np.testing.assert_array_equal(many, batch)
    for (raw, created, as_of), age in zip(cases, batch):
        if created is None:
            assert np.isnan(age)
        else:
            assert age == max(0.0, (float(as_of) - float(created)) / 86_400e9)


_AGE_TRANSFORM: dict = {}


def test_the_lead_age_is_an_input_only_when_training_sees_several_ages():
    from .conftest import make_spec

    assert LEAD_AGE in age_transform(make_spec()).names
    one_age = make_spec(features={"as_of_days_after_created": 30})
    assert one_age.features.as_of_days_after_created == [30.0]
    assert LEAD_AGE not in age_transform(one_age).names
    old_bundle = age_transform(make_spec()).to_dict()
    del old_bundle["lead_age"]  # a bundle written before the age was an input
    assert LEAD_AGE not in LeadTransform.from_dict(old_bundle).names


@settings(max_examples=500, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2199, 12, 31)))
def test_the_time_of_year_reads_back_as_the_month_it_was(moment):
    """A reason says "created in March" from the two season inputs alone (batch files have no
    raw lead): that month is the calendar month of the created time, leap years and the first
    moment of a month included."""
    from features.transform import month_of_season, season_inputs

    moment = moment.replace(microsecond=0)
    ns = np.array([pd.Timestamp(moment).as_unit("ns").value], dtype=np.int64)
    sin, cos = season_inputs(ns)[0]
    assert month_of_season(sin, cos) == moment.month
    assert abs(sin * sin + cos * cos - 1) < 1e-12
