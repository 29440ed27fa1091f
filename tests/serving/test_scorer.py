"""Scores, stages and reasons as a salesperson reads them."""

import numpy as np
import pytest

from serving.scorer import LeadScorer
from tests.serving.conftest import as_api_leads

AS_OF = "2026-11-01T00:00:00"


@pytest.fixture(scope="module")
def scorer(profiled_bundle_dir):
    """The model as `leadscore train` exports it: with its training profile (its spellings)."""
    return LeadScorer.from_bundle_dir(profiled_bundle_dir)


def good_lead(**changes):
    lead = {"lead_id": "A1", "industry": "Software", "company_size": "201-1000", "country": "Germany",
            "job_role": "IT", "seniority": "Director", "lead_source": "Referral", "campaign": "Webinar Series",
            "product_interest": "Analytics Suite", "email_opt_in": "Yes", "employee_count": 400,
            "activities": [{"occurred_at": f"2026-10-{d:02d}T10:00:00Z", "activity_type": t}
                           for d, t in [(28, "pricing_view"), (29, "pricing_view"), (30, "pricing_view"),
                                        (20, "webinar"), (12, "email_open"), (30, "demo_request")]]}
    lead.update(changes)
    return lead


def test_an_answer_has_probability_score_stage_reasons_and_version(scorer):
    [answer] = scorer.score_leads([good_lead()], as_of=AS_OF)
    assert answer["lead_id"] == "A1"
    assert 0 <= answer["probability"] <= 1 and answer["score"] == round(answer["probability"] * 100)
    assert answer["stage"] in {"SQL", "MQL", "not yet"}
    assert answer["model_version"] == "test"
    assert 0 < len(answer["reasons_for"]) <= 5 and len(answer["reasons_against"]) <= 5
    assert all(isinstance(r, str) and r for r in answer["reasons_for"] + answer["reasons_against"])


def test_the_stage_follows_the_published_thresholds(scorer):
    answers = scorer.score_leads([good_lead(lead_id=str(i), seniority=s, lead_source=src, activities=acts)
                                  for i, (s, src, acts) in enumerate([
                                      ("Director", "Referral", good_lead()["activities"]),
                                      ("Intern", "Purchased List", []),
                                      ("Manager", "Paid Search", good_lead()["activities"][:2])])], as_of=AS_OF)
    stages = scorer.stage_definitions()
    for a in answers:
        expected = "SQL" if a["probability"] >= stages["sql"]["threshold"] else \
            "MQL" if a["probability"] >= stages["mql"]["threshold"] else "not yet"
        assert a["stage"] == expected


def test_a_lead_alone_gets_the_same_answer_as_inside_a_batch(scorer):
    leads = [good_lead(lead_id=f"L{i}", seniority=s, activities=good_lead()["activities"][: i % 7])
             for i, s in enumerate(["Intern", "Director", "VP", "Manager", "C-Level", "Select", "??"] * 3)]
    batch = scorer.score_leads(leads, as_of=AS_OF)
    alone = [scorer.score_leads([lead], as_of=AS_OF)[0] for lead in leads]
    assert batch == alone


def test_the_unsold_product_line_is_named_as_a_reason_against(scorer):
    [answer] = scorer.score_leads([good_lead(product_interest="Home Edition")], as_of=AS_OF)
    assert "interested in a product line we don't sell" in answer["reasons_against"]
    [sold] = scorer.score_leads([good_lead()], as_of=AS_OF)
    assert answer["probability"] < sold["probability"] / 2


def test_recent_pricing_views_are_phrased_with_their_count_and_window(scorer):
    writer = scorer.reasons
    lead = good_lead()
    X = scorer.transform.transform_one(lead, lead["activities"], AS_OF)
    group = next(g for g in writer.groups if g.key == "activity:pricing_view")
    assert writer.phrase(group, X, lead) == "viewed the pricing page 3 times in the last 7 days"
    quiet = scorer.transform.transform_one(lead, [], AS_OF)
    assert writer.phrase(group, quiet, lead) == "no pricing-page views in the last 90 days"


def test_unknown_categories_and_missing_fields_are_scored(scorer):
    [answer] = scorer.score_leads([{"lead_id": "Z", "industry": "Space Mining", "country": "Atlantis"}], as_of=AS_OF)
    assert 0 < answer["probability"] < 1
    lead = {"industry": "Space Mining"}
    X = scorer.transform.transform_one(lead, [], AS_OF)
    group = next(g for g in scorer.reasons.groups if g.key == "industry")
    assert scorer.reasons.phrase(group, X, lead) == "industry is Space Mining, rare in our history"
    assert scorer.reasons.phrase(group, scorer.transform.transform_one({}, [], AS_OF), {}) == "industry not given"


def test_contributions_add_up_to_the_model_score(scorer):
    lead = good_lead()
    X = scorer.transform.transform_one(lead, lead["activities"], AS_OF)[None, :]
    raw = scorer.bundle.booster.predict(scorer.transform.model_input(X), raw_score=True)  # what the model reads
    contributions = scorer.bundle.contributions(X)
    np.testing.assert_allclose(contributions.sum(axis=1), raw, rtol=1e-9, atol=1e-9)


def test_counts_are_phrased_in_good_english(scorer):
    writer = scorer.reasons
    lead = {"activities": [{"occurred_at": "2026-10-30T10:00:00", "activity_type": "email_open"}]}
    X = scorer.transform.transform_one(lead, lead["activities"], AS_OF)
    phrases = {g.key: writer.phrase(g, X, lead) for g in writer.groups}
    assert phrases["engagements"] == "1 marketing touch in the last 7 days"
    assert phrases["distinct_activity_types"] == "engaged in one way only"
    assert phrases["days_since_last_activity"] == "last activity 2 days ago"
    assert phrases["activity:email_open"] == "opened an email once in the last 7 days"


def test_batch_scoring_of_frames_matches_the_api(scorer, trained):
    _, tables, examples, _ = trained
    leads = examples.leads.drop_duplicates("lead_id").iloc[:250]  # one row per lead, as a file has
    table = scorer.score_table(leads, tables.activities, AS_OF, reasons=0, chunk=100)
    with_reasons = scorer.score_table(leads, tables.activities, AS_OF, reasons=3, chunk=100)
    assert (table["probability"] == with_reasons["probability"]).all() and (table["stage"] == with_reasons["stage"]).all()
    api = scorer.score_leads(as_api_leads(leads, tables.activities), as_of=AS_OF, reasons=0)
    np.testing.assert_allclose(table["probability"], [a["probability"] for a in api], atol=1e-6)


def test_categories_sent_as_numbers_or_booleans_are_phrased_as_sent_alone_or_in_a_batch(scorer):
    writer = scorer.reasons
    industry = next(g for g, group in enumerate(writer.groups) if group.key == "industry")
    values = [True, 1, 1.0, "Space Mining", None, "Software"] * 3  # 18 leads: the many-lead path
    leads = [{"lead_id": f"N{i}", "industry": v} for i, v in enumerate(values)]
    X = scorer.transform.transform_records(leads, [[] for _ in leads], AS_OF)
    grouped = np.zeros((len(leads), len(writer.groups)))
    grouped[:, industry] = -1.0  # industry is the one reason against
    batch = writer.reasons_many(grouped, X, leads, 1)
    alone = [writer.reasons_many(grouped[i:i + 1], X[i:i + 1], [lead], 1)[0] for i, lead in enumerate(leads)]
    assert batch == alone
    assert [cons for _, cons in batch[:6]] == [
        ["industry is True, rare in our history"], ["industry is 1, rare in our history"],
        ["industry is 1.0, rare in our history"], ["industry is Space Mining, rare in our history"],
        ["industry not given"], ["industry is Software"]]


from hypothesis import given, settings, strategies as st  # noqa: E402


@settings(max_examples=2000, deadline=None)
@given(st.floats(0, 1))
def test_an_answer_agrees_with_itself_and_with_its_logged_copy(p):
    """Score, stage and trend points read from the published probability (what the score log
    keeps) give what the answer says, at any probability, the half-point edges included."""
    from serving.scorer import published
    from serving.trend import score_points

    shown, score = published(np.array([p, 0.125, 0.4050000004, 0.0049999996]))
    for value, points in zip(shown.tolist(), score.tolist()):
        assert value == round(value, 6) and points == score_points(value) == score_points(float(repr(value)))


def test_the_stage_is_read_from_the_published_probability(scorer):
    sql = scorer.bundle.sql_threshold
    answers = scorer.answer_dicts(["a", "b"], np.array([sql - 4e-7, sql - 6e-7]), None)
    assert answers[0]["probability"] == round(sql, 6) and answers[0]["stage"] == "SQL"
    assert answers[1]["stage"] == "MQL" and answers[1]["probability"] < sql


DAYS = st.one_of(st.floats(-3, 40), st.sampled_from([0.5, 0.99, 1.0, 1.5, 2.5, 3.5, float("nan")]),
                 st.floats(9000, 20000))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(DAYS, DAYS, DAYS, st.floats(0, 9).map(lambda v: round(v * 2) / 2),
                          st.floats(-1, 1), st.floats(-1, 1)), min_size=20, max_size=40))
def test_engagement_reasons_in_a_batch_are_those_of_each_lead_alone(scorer, rows):
    """Batch scoring writes an engagement reason once per value it shows (whole days, the sign of
    a trend: serving.reasons.shown_engagement); every lead still reads what it would alone, at
    any age, time since its last activity, number of kinds of engagement and trend, half days,
    under a day, never and missing included."""
    from serving.reasons import ENGAGEMENT_KINDS

    writer = scorer.reasons
    kinds = {scorer.transform.features[group.columns[0]].kind: g for g, group in enumerate(writer.groups)
             if len(group.columns) == 1 and scorer.transform.features[group.columns[0]].kind in ENGAGEMENT_KINDS}
    assert {"lead_age", "days_since_last", "distinct_types"} <= set(kinds)
    X = np.tile(scorer.transform.transform_one(good_lead(), [], AS_OF), (len(rows), 1))
    grouped = np.zeros((len(rows), len(writer.groups)))
    for i, (age, last, intent, types, trend, push) in enumerate(rows):
        for kind, value in zip(("lead_age", "days_since_last", "days_since_high_intent", "distinct_types", "trend"),
                               (age, last, intent, types, trend)):
            if kind in kinds:
                X[i, writer.groups[kinds[kind]].columns[0]] = value
                grouped[i, kinds[kind]] = push + (0.2 if push >= 0 else -0.2) * (1 + list(kinds).index(kind))
    batch = writer.reasons_many(grouped, X, None, 5)
    alone = [writer.reasons_many(grouped[i:i + 1], X[i:i + 1], None, 5)[0] for i in range(len(rows))]
    assert batch == alone


@settings(max_examples=40, deadline=None)
@given(st.integers(17, 60), st.integers(0, 5), st.integers(0, 2**32 - 1))
def test_a_batch_file_s_reasons_are_each_lead_s_reasons_joined(scorer, n, limit, seed):
    """The reasons columns of a batch file (joined by Arrow past a few leads) are each lead's
    reasons for and against, as the API lists them, joined by "; ": none, one or several,
    contributions of any sign, missing values included."""
    rng = np.random.default_rng(seed)
    writer = scorer.reasons
    X = np.tile(scorer.transform.transform_one(good_lead(), [], AS_OF), (n, 1))
    X[rng.random(X.shape) < 0.1] = np.nan
    grouped = rng.normal(0, 0.3, (n, len(writer.groups))) * (rng.random((n, len(writer.groups))) < 0.5)
    pros, cons = writer.reasons_joined(grouped, X, limit)
    listed = writer.reasons_many(grouped, X, None, limit)
    assert pros == ["; ".join(p) for p, _ in listed] and cons == ["; ".join(c) for _, c in listed]
    assert any(pros) or limit == 0 or not (grouped >= 0.01).any()
