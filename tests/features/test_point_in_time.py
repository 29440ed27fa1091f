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


def test_the_time_split_holds_out_the_most_recent_leads_with_all_their_snapshots(spec):
    tables = canonical(spec, raw_crm(500, seed=6))
    examples = build_examples(spec, tables)
    assert len(examples) > 2 * examples.counts["leads"]  # several snapshots per lead
    older, recent = examples.split_by_time(0.2)
    assert len(older) + len(recent) == len(examples)
    ids = examples.leads["lead_id"].to_numpy()
    n_leads = len(set(ids))
    assert abs(len(set(ids[recent])) - 0.2 * n_leads) <= 1  # a fifth of the leads, not of the rows
    assert not set(ids[older]) & set(ids[recent])  # every snapshot of a lead on one side
    assert examples.order[older].max() <= examples.order[recent].min()


def with_outcomes_closing(tables, days):
    """The same CRM with every outcome closing `days` after its lead was created."""
    created = tables.leads.set_index("lead_id")["created_at"]
    outcomes = tables.outcomes.copy()
    outcomes["closed_at"] = outcomes["lead_id"].map(created).to_numpy() + pd.Timedelta(days=days)
    return type(tables)(**{**tables.__dict__, "outcomes": outcomes})


def test_training_sees_leads_at_every_age_so_90_day_counts_differ_from_30_day_counts(spec):
    tables = with_outcomes_closing(canonical(spec, raw_crm(400, seed=9, n_activities=12_000)), 120)
    examples = build_examples(spec, tables)
    listed, drawn = examples.age_days[~examples.drawn], examples.age_days[examples.drawn]
    assert set(listed) == {0, 1, 7, 30, 90}
    assert len(drawn) == 3 * examples.counts["leads"] and 0 <= drawn.min() and drawn.max() < 90  # 3 more each
    transform = LeadTransform.fit(spec, examples.leads, tables.activities, min_category_count=1)
    X = transform.transform_frame(examples.leads, tables.activities, examples.as_of)
    column = dict(zip(transform.names, X.T))
    assert (column["lead_age_days"][~examples.drawn] == listed).all()
    np.testing.assert_allclose(column["lead_age_days"], examples.age_days, rtol=0, atol=1e-9)
    at_90 = examples.age_days == 90
    assert (column["n_engagements_90d"][at_90] > column["n_engagements_30d"][at_90]).mean() > 0.9
    assert (column["n_engagements_90d"] != column["n_engagements_30d"]).any()


def test_each_snapshot_is_labelled_by_what_happened_after_its_moment(spec):
    tables = canonical(spec, raw_crm(500, seed=5))
    examples = build_examples(spec, tables)
    outcomes = tables.outcomes.set_index("lead_id")
    ids = examples.leads["lead_id"]
    closed_at = outcomes.loc[ids, "closed_at"].to_numpy()
    created = examples.leads["created_at"].to_numpy()
    at_creation = examples.age_days == 0
    assert (closed_at[~at_creation] > examples.as_of[~at_creation]).all()
    assert (examples.as_of[at_creation] == created[at_creation]).all()
    # each lead's drawn ages are its own, whatever else the export holds
    again = build_examples(spec, canonical(spec, {k: v.iloc[: len(v) // 2] for k, v in raw_crm(500, seed=5).items()}))
    shared = sorted(set(again.leads["lead_id"][again.drawn]) & set(ids[examples.drawn]))
    assert len(shared) > 50
    for lead in shared[:50]:
        assert sorted(again.age_days[(again.leads["lead_id"] == lead).to_numpy() & again.drawn]) == \
            sorted(examples.age_days[(ids == lead).to_numpy() & examples.drawn])
    offset = (examples.as_of - created) - (examples.age_days * 86_400e9).astype("timedelta64[ns]")
    assert (np.abs(offset.astype(np.int64)) <= 1000).all()  # ages drawn at random: to the microsecond
    assert (examples.label == outcomes.loc[ids, "won"].to_numpy()).all()
    # every closed lead is seen at its creation: none is left out for closing early
    assert set(ids[at_creation]) == set(outcomes.index) and examples.excluded.get("closed before the as-of moment", 0) == 0
    assert examples.counts["wins_excluded"] == 0 and not examples.warnings()
    # and counted once: its last snapshot at or before 30 days
    evaluated = examples.leads.loc[examples.evaluated]
    assert evaluated["lead_id"].is_unique and len(evaluated) == len(outcomes)
    early = (examples.age_days <= 30) & ~examples.drawn  # at a listed age
    last = pd.Series(examples.age_days[early]).groupby(ids[early].to_numpy()).max()
    assert (pd.Series(examples.age_days[examples.evaluated], index=evaluated["lead_id"]).sort_index()
            == last.sort_index()).all()


def test_without_an_event_log_every_closed_lead_is_one_example_as_of_its_creation():
    from .conftest import make_spec

    spec = make_spec(activities=None)
    raw = raw_crm(300, seed=3)
    tables = canonical(spec, {"leads": raw["leads"], "outcomes": raw["outcomes"]})
    examples = build_examples(spec, tables)
    assert len(examples) == len(tables.outcomes) == examples.counts["leads"]
    assert (examples.as_of == examples.leads["created_at"].to_numpy()).all()
    assert "lead_age_days" not in LeadTransform.fit(spec, examples.leads).names


def test_the_summary_warns_when_many_wins_are_left_out(spec):
    tables = canonical(spec, raw_crm(500, seed=5))
    examples = build_examples(spec, tables, as_of_days=30)  # the old single 30-day moment
    c = examples.counts
    assert c["wins_excluded"] == c["wins_excluded_by"]["closed before the as-of moment"] > 0.1 * c["wins"]
    [warning] = examples.warnings()
    assert "of the won leads" in warning and "add 0 to features.as_of_days_after_created" in warning
    assert any("wins:" in line and "excluded" in line for line in examples.lines())


def test_a_lead_closed_before_the_first_listed_age_is_counted_at_an_age_drawn_for_it(spec):
    late = spec.model_copy(update={"features": spec.features.model_copy(
        update={"as_of_days_after_created": [30.0], "random_snapshots": 2})})
    tables = canonical(late, raw_crm(400, seed=8))
    examples = build_examples(late, tables)
    ids = examples.leads["lead_id"]
    assert ids[examples.evaluated].is_unique and set(ids[examples.evaluated]) == set(ids)  # every lead once
    early = set(ids[examples.drawn]) - set(ids[~examples.drawn])  # closed before 30 days: drawn ages only
    assert early and (examples.age_days[examples.evaluated & ids.isin(early).to_numpy()] < 30).all()


def test_leads_too_recent_for_their_deals_to_have_closed_are_left_out_and_counted(spec):
    """The most recent leads that have closed are the quick closers; kept, they would show a
    won rate that is too low. Left out (and said) by default; `0` keeps them; a window that
    leaves nothing is refused naming the key."""
    import pytest

    from features.errors import DataError
    from features.examples import outcome_maturity_days

    full = canonical(spec, raw_crm(500, seed=5))
    end = full.leads["created_at"].max() + pd.Timedelta(days=10)  # exported ten days after the last lead
    tables = type(full)(**{**full.__dict__, "activities": full.activities[full.activities["occurred_at"] <= end],
                           "outcomes": full.outcomes[full.outcomes["closed_at"] <= end]})
    examples = build_examples(spec, tables)
    merged = tables.leads.merge(tables.outcomes, on="lead_id")
    days = ((merged["closed_at"] - merged["created_at"]) / pd.Timedelta(days=1)).to_numpy()
    maturity = outcome_maturity_days(spec, merged["created_at"], merged["closed_at"], np.ones(len(merged), bool))
    assert maturity == pytest.approx(np.quantile(days, 0.95))
    recent = set(tables.leads.loc[tables.leads["created_at"] > end - pd.Timedelta(days=maturity), "lead_id"])
    assert recent and not recent & set(examples.leads["lead_id"])
    [left_out] = [k for k in examples.excluded if "outcome not known yet" in k]
    assert examples.excluded[left_out] == len(recent) and "features.outcome_maturity_days" in examples.lines()[0]

    def with_maturity(value):
        return spec.model_copy(update={"features": spec.features.model_copy(update={"outcome_maturity_days": value})})

    kept = build_examples(with_maturity(0.0), tables)
    assert recent & set(kept.leads["lead_id"]) and not [k for k in kept.excluded if "not known yet" in k]
    with pytest.raises(DataError, match=r"features.outcome_maturity_days 3000 leaves out every closed lead"):
        build_examples(with_maturity(3000.0), tables)
