"""The activity features: every entry path gives the bits of one plain definition."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from features.activity import DAYS, NEVER_DAYS, NS_PER_DAY, ActivityAggregator, normalise_type, timestamp_ns

INT64_MAX = 2**63 - 1
NAT = -(2**63)
MOMENT = 1_767_225_600 * 10**9  # 2026-01-01
KNOWN = ["email_open", "web_visit", "pricing_view", "demo_request", "unsubscribe"]
RAW_TYPES = KNOWN + ["chat", "fax", " Pricing_View ", "WEB_VISIT", None]  # unknown ones, other spellings


def reference(aggregator: ActivityAggregator, as_of_ns: int, activities: list[dict]) -> list[float]:
    """The specification, written plainly: only activities strictly before the moment count,
    and only those a datetime64[ns] can hold (younger than about 292 years)."""
    seen = []  # (type, age in ns)
    for activity in activities:
        kind = normalise_type(activity.get("activity_type"))
        t = timestamp_ns(activity.get("occurred_at"))
        if kind not in aggregator.types or t is None or not -INT64_MAX <= t <= INT64_MAX:
            continue
        age = as_of_ns - t
        if 0 < age <= INT64_MAX:
            seen.append((kind, age))
    engaging = [k for k in aggregator.types if k not in aggregator.negative]

    def n_within(days: int, kinds: list[str]) -> int:
        return sum(1 for kind, age in seen if kind in kinds and age <= days * NS_PER_DAY)

    def days_since(kinds: list[str]) -> float:
        ages = [age for kind, age in seen if kind in kinds]
        return min(min(ages) / DAYS, NEVER_DAYS) if ages else NEVER_DAYS

    row = [float(n_within(w, [kind])) for w in aggregator.windows for kind in aggregator.types]
    totals = [n_within(w, engaging) for w in aggregator.windows]
    row += [float(total) for total in totals]
    row.append(days_since(engaging))
    if aggregator.high_intent:
        row.append(days_since(aggregator.high_intent))
    row.append(float(len({kind for kind, _ in seen})))
    if len(aggregator.windows) > 1:
        short, long = aggregator.windows[:2]
        row.append(totals[0] / short - (totals[1] - totals[0]) / (long - short))
    return row


def bits(x) -> bytes:
    return np.asarray(x, dtype=np.float64).tobytes()


@st.composite
def situations(draw):
    """An aggregator, some leads with their own as-of moments, and activities around them."""
    types = draw(st.lists(st.sampled_from(KNOWN), unique=True, max_size=len(KNOWN)))
    windows = draw(st.lists(st.integers(1, 120), unique=True, max_size=4))
    config = {"types": types, "windows_days": windows, "high_intent": ["pricing_view", "demo_request"],
              "negative": ["unsubscribe"]}
    n = draw(st.integers(1, 5))
    as_of = draw(st.lists(st.one_of(
        st.integers(-3, 3).map(lambda d: MOMENT + d * NS_PER_DAY),
        st.sampled_from([-INT64_MAX, -1, 0, INT64_MAX, NAT]),
        st.integers(-INT64_MAX, INT64_MAX)), min_size=n, max_size=n))
    edges = [0, 1, -1] + [w * NS_PER_DAY + d for w in windows for d in (-1, 0, 1)]  # ages
    when = st.one_of(  # an age before the lead's moment, or a time whatever the moment
        st.tuples(st.just("age"), st.sampled_from(edges)),  # at, just before or after the moment or a window edge
        st.tuples(st.just("age"), st.integers(-200 * NS_PER_DAY, 10 * NS_PER_DAY)),
        st.tuples(st.just("at"), st.sampled_from([-INT64_MAX, INT64_MAX])),  # 1677 and 2262
        st.tuples(st.just("at"), st.integers(-INT64_MAX, INT64_MAX)),
        st.none())
    count = draw(st.integers(0, 40))  # one strategy drawn `count` times (built per activity, the test took 13.5 s, now 9.6 s)
    drawn = draw(st.lists(st.tuples(st.integers(0, n), when, st.sampled_from(RAW_TYPES)), min_size=count, max_size=count))
    activities = []  # (lead; lead n is not in the batch, time in ns or None, raw type)
    for lead, moment, kind in drawn:
        base = as_of[lead] if lead < n and as_of[lead] != NAT else MOMENT
        t = None if moment is None else base - moment[1] if moment[0] == "age" else moment[1]
        if t is not None and not -INT64_MAX <= t <= INT64_MAX:
            t = None
        activities.append((lead, t, kind))
    return config, as_of, activities, draw(st.sampled_from(["int", "datetime64", "Timestamp"])), draw(st.booleans())


def raw_time(t: int | None, form: str):
    if form == "int":
        return t
    if form == "datetime64":
        return np.datetime64("NaT", "ns") if t is None else np.datetime64(t, "ns")
    return pd.NaT if t is None else pd.Timestamp(t)


@settings(max_examples=400, deadline=None)
@given(situations())
def test_every_entry_path_gives_the_bits_of_the_definition(situation):
    config, as_of, activities, time_form, categorical = situation
    aggregator = ActivityAggregator.from_dict(config)
    n = len(as_of)
    per_lead = [[{"occurred_at": raw_time(t, time_form), "activity_type": kind}
                 for lead, t, kind in activities if lead == i] for i in range(n)]
    as_of_ns = np.array(as_of, dtype=np.int64)

    expected = np.array([reference(aggregator, as_of[i], per_lead[i]) for i in range(n)], dtype=np.float64)
    ones = np.array([aggregator.aggregate_one(as_of[i], per_lead[i]) for i in range(n)], dtype=np.float64)
    records = aggregator.aggregate_records(per_lead, as_of_ns)
    frame = pd.DataFrame({  # canonical: cleaned types, times as datetime64[ns] (NaT when unreadable)
        "lead_id": [f"L{lead}" for lead, _, _ in activities],
        "occurred_at": pd.Series([NAT if t is None else t for _, t, _ in activities], dtype=np.int64)
        .to_numpy().view("datetime64[ns]"),
        "activity_type": [normalise_type(kind) for _, _, kind in activities],
    })
    if categorical:
        frame = frame.astype({"lead_id": "category", "activity_type": "category"})
    batch = aggregator.aggregate_batch(pd.Series([f"L{i}" for i in range(n)]), as_of_ns.view("datetime64[ns]"), frame)

    assert expected.shape == (n, len(aggregator.names))
    assert bits(ones) == bits(expected)
    assert bits(records) == bits(expected)
    assert bits(batch) == bits(expected)


def test_the_definition_on_one_lead_by_hand():
    aggregator = ActivityAggregator(["web_visit", "pricing_view", "unsubscribe"], [30, 7],
                                    ["pricing_view"], ["unsubscribe"], trend=True)  # as older models
    day = NS_PER_DAY
    activities = [
        {"occurred_at": MOMENT - 2 * day, "activity_type": "Pricing_View"},
        {"occurred_at": MOMENT - 7 * day, "activity_type": "web_visit"},  # on the edge of 7 days: inside
        {"occurred_at": MOMENT - 7 * day - 1, "activity_type": "web_visit"},
        {"occurred_at": MOMENT - day, "activity_type": "unsubscribe"},  # not engagement
        {"occurred_at": MOMENT, "activity_type": "web_visit"},  # at the moment: not before it
        {"occurred_at": MOMENT - day, "activity_type": "chat"},  # a type not seen in training
    ]
    row = dict(zip(aggregator.names, aggregator.aggregate_one(MOMENT, activities)))
    assert row == {
        "n_web_visit_7d": 1.0, "n_pricing_view_7d": 1.0, "n_unsubscribe_7d": 1.0,
        "n_web_visit_30d": 2.0, "n_pricing_view_30d": 1.0, "n_unsubscribe_30d": 1.0,
        "n_engagements_7d": 2.0, "n_engagements_30d": 3.0,
        "days_since_last_activity": 2.0, "days_since_high_intent": 2.0, "distinct_activity_types": 3.0,
        "engagement_trend": 2 / 7 - 1 / 23,
    }
    assert aggregator.aggregate_one(MOMENT, activities).tobytes() == np.array(
        reference(aggregator, MOMENT, activities)).tobytes()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400 * 86400), st.sampled_from(["web_visit", "pricing_view", "email_open",
                                                                         "unsubscribe"])), max_size=25),
       st.integers(0, 365 * 86400), st.sampled_from(["web_visit", "pricing_view", "email_open"]))
def test_one_more_engaging_activity_moves_every_feature_only_the_way_its_constraint_allows(history, age_s, kind):
    """With the model's monotone constraints this is what makes "more engagement never lowers a
    score" hold by construction: no feature a new activity changes goes against its sign."""
    aggregator = ActivityAggregator(["web_visit", "pricing_view", "email_open", "unsubscribe"], [7, 30, 90],
                                    ["pricing_view"], ["unsubscribe"])
    activities = [{"occurred_at": MOMENT - seconds * 10**9, "activity_type": t} for seconds, t in history]
    before = aggregator.aggregate_one(MOMENT, activities)
    after = aggregator.aggregate_one(MOMENT, [*activities, {"occurred_at": MOMENT - max(age_s, 1) * 10**9,
                                                            "activity_type": kind}])
    signs = np.array([f.monotone for f in aggregator.features])
    assert (np.sign(after - before) * signs >= 0).all(), dict(zip(aggregator.names, after - before))
    assert "engagement_trend" not in aggregator.names


ID_TEXTS = st.sampled_from(["L1", "L2", "L10", " L1", "101", "x", ""])


@settings(max_examples=200, deadline=None)
@given(st.lists(ID_TEXTS, max_size=8, unique=True), st.lists(st.one_of(ID_TEXTS, st.none(), st.integers(100, 102)),
                                                                max_size=40),
       st.sampled_from(["object", "str", "category"]))
def test_positions_are_each_value_s_place_among_the_leads_compared_as_text(leads, owners, dtype):
    """Every activity finds its lead's row (the lookup of each row's text, done once per
    distinct value), whatever the column's dtype; a missing or unknown owner is -1."""
    from features.activity import positions

    index = pd.Index(leads, dtype=object)
    values = pd.Series(owners, dtype=object)
    if dtype != "object":
        values = values.map(lambda v: v if v is None else str(v)).astype(dtype)
    expected = [-1 if v is None or pd.isna(v) or str(v) not in leads else leads.index(str(v)) for v in owners]
    assert positions(index, values).tolist() == expected
