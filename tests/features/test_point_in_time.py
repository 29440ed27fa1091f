"""Features of a lead as of a moment use only what happened before that moment."""

import numpy as np
import pandas as pd

from features.examples import build_examples
from features.load import clean, coerce, CRMTables
from features.transform import LeadTransform

from .conftest import raw_crm


def canonical(spec, tables):
    cleaned, _ = clean(spec, CRMTables(**tables))
    return coerce(spec, cleaned)


def fitted(spec, seed=0, n=400):
    tables = canonical(spec, raw_crm(n, seed))
    return tables, LeadTransform.fit(spec, tables.leads, tables.activities, min_category_count=1)


def test_events_after_the_as_of_moment_change_no_feature(spec):
    tables, transform = fitted(spec)
    rng = np.random.default_rng(11)
    leads = tables.leads
    as_of = (leads["created_at"] + pd.to_timedelta(rng.integers(1, 60, len(leads)), unit="D")).to_numpy()
    before = transform.transform_frame(leads, tables.activities, as_of)

    acts = tables.activities
    when = dict(zip(leads["lead_id"], as_of))
    lead_as_of = acts["lead_id"].map(when).to_numpy("datetime64[ns]")
    later = acts["occurred_at"].to_numpy("datetime64[ns]") >= lead_as_of
    assert later.any() and (~later).any()

    # remove every later event
    removed = acts[~later]
    # change every later event's type and shift it further into the future
    changed = acts.copy()
    changed.loc[later, "activity_type"] = "demo_request"
    changed.loc[later, "occurred_at"] = changed.loc[later, "occurred_at"] + pd.Timedelta(days=3)
    # add a burst of high-intent events at and after each lead's moment
    added = pd.concat([acts, pd.DataFrame({
        "lead_id": leads["lead_id"].repeat(3).to_numpy(),
        "occurred_at": np.repeat(as_of, 3) + np.tile(np.array([0, 1, 86400], dtype="timedelta64[s]"), len(leads)),
        "activity_type": "pricing_view", "value": np.nan})], ignore_index=True)

    for variant in (removed, changed, added):
        after = transform.transform_frame(leads, variant, as_of)
        np.testing.assert_array_equal(before, after)


def test_events_before_the_moment_do_count(spec):
    tables, transform = fitted(spec)
    leads = tables.leads.iloc[:1]
    as_of = (leads["created_at"] + pd.Timedelta(days=30)).to_numpy()
    pricing = pd.DataFrame({"lead_id": leads["lead_id"].iloc[0], "activity_type": "pricing_view", "value": np.nan,
                            "occurred_at": [as_of[0] - np.timedelta64(d, "D") for d in (1, 2, 3, 20)]})
    row = dict(zip(transform.names, transform.transform_frame(leads, pricing, as_of)[0]))
    assert row["n_pricing_view_7d"] == 3
    assert row["n_pricing_view_30d"] == 4
    assert row["days_since_high_intent"] == 1.0
    assert row["distinct_activity_types"] == 1


def test_examples_are_labelled_by_what_happened_after_the_moment(spec):
    tables = canonical(spec, raw_crm(500, seed=5))
    examples = build_examples(spec, tables, as_of_days=30)
    outcomes = tables.outcomes.set_index("lead_id")
    ids = examples.leads["lead_id"]
    closed_at = outcomes.loc[ids, "closed_at"].to_numpy()
    assert (closed_at > examples.as_of).all()  # closed after the moment
    assert (examples.as_of == (examples.leads["created_at"] + pd.Timedelta(days=30)).to_numpy()).all()
    assert (examples.label == outcomes.loc[ids, "won"].to_numpy()).all()
    early = outcomes["closed_at"] <= outcomes.index.map(
        tables.leads.set_index("lead_id")["created_at"] + pd.Timedelta(days=30))
    assert examples.excluded["closed before the as-of moment"] == int(early.sum()) > 0
    assert examples.excluded["still open"] == len(tables.leads) - len(outcomes) > 0
    assert not set(ids) & set(outcomes.index[early])


def test_the_time_split_holds_out_the_most_recent_leads(spec):
    tables = canonical(spec, raw_crm(500, seed=6))
    examples = build_examples(spec, tables)
    older, recent = examples.split_by_time(0.2)
    assert abs(len(recent) - 0.2 * len(examples)) <= 1
    assert examples.order[older].max() <= examples.order[recent].min()
