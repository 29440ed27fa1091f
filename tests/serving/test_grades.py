"""Fit, intent and the grade, as a salesperson reads them (features.sub_scores, serving.grades),
on the session's model of the 6,000-lead demo CRM."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.scorer import LeadScorer
from tests.serving.conftest import as_api_leads

AS_OF = datetime(2026, 11, 1)
HIGH_INTENT = ["pricing_view", "demo_request", "form_fill"]
ENGAGING = ["email_open", "email_click", "web_visit", "pricing_view", "content_download", "webinar", "form_fill",
            "demo_request"]
PROFILES = {
    "industry": ["Software", "Financial Services", "Retail", "Government", "Select", None],
    "company_size": ["1-10", "51-200", "201-1000", "5000+", None],
    "country": ["United States", "India", "Japan", None],
    "job_role": ["IT", "HR", "Executive", None],
    "seniority": ["Intern", "Director", "C-Level", None],
    "lead_source": ["Referral", "Purchased List", "Paid Search", None],
    "campaign": ["Webinar Series", "Black Friday Promo", None],
    "product_interest": ["Sales Cloud", "Analytics Suite", "Service Desk", None],
    "email_opt_in": ["Yes", "No", None],
    "employee_count": [5, 120, 900, 20_000, None],
}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def scorer(profiled_bundle_dir):
    return LeadScorer.from_bundle_dir(profiled_bundle_dir)


profiles = st.fixed_dictionaries({column: st.sampled_from(values) for column, values in PROFILES.items()})


def activity(kind: str, days_ago: float) -> dict:
    return {"occurred_at": (AS_OF - timedelta(days=days_ago)).isoformat(), "activity_type": kind}


activities = st.lists(st.tuples(st.sampled_from(ENGAGING), st.floats(0.01, 200)), max_size=25)


def score_one(scorer, lead: dict, acts: list[tuple[str, float]], **options) -> dict:
    return scorer.score_leads([{"lead_id": "G1", **lead, "activities": [activity(k, d) for k, d in acts]}],
                              as_of=AS_OF, **options)[0]


@SETTINGS
@given(profile=profiles, acts=activities, burst=st.lists(st.sampled_from(HIGH_INTENT), max_size=20))
def test_a_home_edition_lead_is_fit_d_however_engaged(scorer, profile, acts, burst):
    answer = score_one(scorer, {**profile, "product_interest": "Home Edition"}, acts + [(k, 1.0) for k in burst])
    assert answer["fit"]["grade"] == "D" and answer["grade"] == "D4"
    assert answer["intent"]["reasons_against"] == ["activity not counted: we don't sell what this lead is interested in"]
    assert answer["intent"]["reasons_for"] == []


def test_a_home_edition_lead_has_the_fit_such_leads_had(scorer):
    """The spec's not_a_fit rule makes it D, with the won rate of such training leads as its
    fit; the profile model alone would have rated the best profile A."""
    best = {"industry": "Software", "company_size": "201-1000", "country": "United States", "job_role": "IT",
            "seniority": "VP", "lead_source": "Referral", "campaign": "Partner Co-Marketing", "email_opt_in": "Yes",
            "employee_count": 400}
    home = score_one(scorer, {**best, "product_interest": "Home Edition"}, [])
    sold = score_one(scorer, {**best, "product_interest": "Analytics Suite"}, [])
    subs = scorer.bundle.sub_scores
    assert sold["fit"]["grade"] == "A"
    assert home["fit"]["probability"] == round(subs.not_a_fit_won_rate, 6) < subs.fit.cuts[-1]
    X = scorer.transform.transform_one({**best, "product_interest": "Home Edition"}, [], AS_OF)[None, :]
    assert subs.fit.probability(scorer.transform.model_input(X))[0] > subs.fit.cuts[0]  # the model alone: A


@SETTINGS
@given(profile=profiles, acts=activities,
       burst=st.lists(st.tuples(st.sampled_from(HIGH_INTENT), st.floats(0.01, 6.99)), min_size=4, max_size=10))
def test_a_lead_with_four_high_intent_actions_this_week_is_intent_1_or_2(scorer, profile, acts, burst):
    """On this CRM four pricing-page views, demo requests or form fills in the last week, in
    any mix and whatever else the lead did (short of unsubscribing), make intent 1 or 2."""
    answer = score_one(scorer, profile, acts + burst)
    assert answer["intent"]["grade"] in (1, 2), answer["intent"]
    assert answer["grade"][1] in "12"


@SETTINGS
@given(acts=st.lists(st.tuples(st.sampled_from(ENGAGING + ["unsubscribe"]), st.floats(90.01, 4000)), max_size=25),
       unsubscribes=st.lists(st.floats(0.01, 4000), max_size=3))
def test_activity_older_than_the_longest_window_or_only_unsubscribes_is_intent_4(scorer, acts, unsubscribes):
    floor = scorer.bundle.sub_scores.intent.floor
    answer = score_one(scorer, {}, acts + [("unsubscribe", d) for d in unsubscribes])
    assert answer["intent"]["grade"] == 4
    assert answer["intent"]["probability"] <= round(floor, 6)
    if not any(d < 90 for d in unsubscribes):
        assert answer["intent"]["probability"] == round(floor, 6)  # old activity is no activity


def test_a_lead_with_no_activity_is_intent_4_and_one_action_lifts_it(scorer):
    quiet = score_one(scorer, {}, [])
    assert quiet["intent"]["grade"] == 4
    assert quiet["intent"]["probability"] == pytest.approx(scorer.bundle.sub_scores.intent.floor, abs=1e-6)
    assert score_one(scorer, {}, [("form_fill", 1.0)])["intent"]["grade"] < 4


@SETTINGS
@given(acts=activities, which=st.integers(0, 24), older=st.floats(0.01, 400))
def test_old_activity_fades_moving_an_activity_into_the_past_never_raises_intent(scorer, acts, which, older):
    if not acts:
        return
    kind, days = acts[which % len(acts)]
    moved = list(acts)
    moved[which % len(acts)] = (kind, days + older)
    before = score_one(scorer, {}, acts, reasons=0)["intent"]["probability"]
    after = score_one(scorer, {}, moved, reasons=0)["intent"]["probability"]
    assert after <= before + 1e-12


@SETTINGS
@given(profile=profiles, acts=activities, extra=st.tuples(st.sampled_from(ENGAGING), st.floats(0.01, 200)))
def test_more_engagement_never_lowers_intent_nor_changes_fit(scorer, profile, acts, extra):
    before = score_one(scorer, profile, acts, reasons=0)
    after = score_one(scorer, profile, acts + [extra], reasons=0)
    assert after["intent"]["probability"] >= before["intent"]["probability"] - 1e-12
    assert after["fit"] == before["fit"]


@SETTINGS
@given(leads=st.lists(st.tuples(profiles, activities), min_size=2, max_size=8))
def test_sub_scores_are_the_same_alone_or_in_a_batch(scorer, leads):
    sent = [{"lead_id": f"G{i}", **profile, "activities": [activity(k, d) for k, d in acts]}
            for i, (profile, acts) in enumerate(leads)]
    batch = scorer.score_leads(sent, as_of=AS_OF)
    alone = [scorer.score_leads([lead], as_of=AS_OF)[0] for lead in sent]
    assert batch == alone


def test_the_grades_split_the_holdout_into_leads_that_buy_more_or_less(scorer):
    """Holdout won rates fall from A to D and from 1 to 4 (the card's figures, from training)."""
    figures = scorer.bundle.card["sub_scores"] if "sub_scores" in scorer.bundle.card else None
    subs = scorer.bundle.sub_scores
    for score, names in ((subs.fit, "ABCD"), (subs.intent, "1234")):
        rates = [score.figures["by_grade"][g]["won_rate"] for g in names]
        assert rates == sorted(rates, reverse=True), (score.name, rates)
        assert score.figures["holdout_roc_auc"] > 0.65
    assert figures is None or figures["fit"] == subs.fit.figures


def test_batch_files_carry_the_same_grades_as_the_api(scorer, trained):
    _, tables, examples, _ = trained
    leads = examples.leads.drop_duplicates("lead_id").iloc[:300]
    table = scorer.score_table(leads, tables.activities, AS_OF, reasons=3, chunk=120)
    api = scorer.score_leads(as_api_leads(leads, tables.activities), as_of=AS_OF, reasons=3)
    assert table["grade"].tolist() == [a["grade"] for a in api]
    np.testing.assert_allclose(table["fit"], [a["fit"]["probability"] for a in api], atol=1e-6)
    np.testing.assert_allclose(table["intent"], [a["intent"]["probability"] for a in api], atol=1e-6)
    assert table["intent_grade"].tolist() == [a["intent"]["grade"] for a in api]
    assert table["fit_reasons_for"].tolist() == ["; ".join(a["fit"]["reasons_for"]) for a in api]
    assert set(table["grade"]) - {f + i for f in "ABCD" for i in "1234"} == set()


def test_a_lead_matching_the_ideal_customer_is_told_so_first(scorer):
    icp = {"industry": "Software", "employee_count": 300, "seniority": "Director", "product_interest": "Sales Cloud"}
    answer = score_one(scorer, icp, [])
    assert answer["fit"]["reasons_for"][0] == ("matches our ideal customer: industry is Software, "
                                                "employee count is 300, seniority is Director")
    italian = score_one(scorer, icp, [], language="it")
    assert italian["fit"]["reasons_for"][0].startswith("corrisponde al nostro cliente ideale: ")
    for off in ({"employee_count": 6000}, {"seniority": "Manager"}, {"industry": "Retail"}, {"industry": None},
                {"product_interest": "Home Edition"}):  # a lead we cannot sell to is never our ideal customer
        other = score_one(scorer, {**icp, **off}, [])
        assert not any("ideal customer" in r for r in other["fit"]["reasons_for"]), off
    # its fields are said once, in the ideal customer's reason, never again for or against
    said = answer["fit"]["reasons_for"][1:] + answer["fit"]["reasons_against"]
    assert not [r for r in said if r.startswith(("industry ", "employee count ", "seniority "))], said


def test_no_reasons_asked_means_no_sub_score_reasons(scorer):
    answer = score_one(scorer, {"industry": "Software"}, [("demo_request", 1)], reasons=0)
    assert answer["fit"]["reasons_for"] == answer["intent"]["reasons_for"] == []
    assert answer["grade"] == answer["fit"]["grade"] + str(answer["intent"]["grade"])


def test_the_grid_is_described_in_words_in_both_languages(scorer):
    english = scorer.grade_definitions("en")
    assert set(english["fit"]) == set("ABCD") and set(english["intent"]) == set("1234")
    cut = scorer.bundle.sub_scores.fit.cuts[0]
    assert english["fit"]["A"].startswith(f"fit A: a fit of {round(cut * 100)}% or more")
    assert "bought" in english["fit"]["D"] and "cannot sell" in english["fit"]["D"]
    italian = scorer.grade_definitions("it")
    assert italian["fit"]["A"].startswith("affinità A") and italian["grid"] != english["grid"]


def test_a_saved_bundle_gives_the_same_sub_scores(scorer, tmp_path):
    from features.bundle import ModelBundle

    again = LeadScorer(ModelBundle.load(scorer.bundle.save(tmp_path / "copy")))
    lead = {"industry": "Software", "seniority": "VP"}
    assert score_one(again, lead, [("pricing_view", 2)]) == score_one(scorer, lead, [("pricing_view", 2)])


def test_a_model_trained_before_sub_scores_answers_without_a_grade(scorer, tmp_path):
    import shutil

    from features.bundle import ModelBundle
    from features.sub_scores import FILE

    folder = scorer.bundle.save(tmp_path / "old")
    (folder / FILE).unlink()
    old = LeadScorer(ModelBundle.load(folder))
    answer = score_one(old, {"industry": "Software"}, [])
    assert "grade" not in answer and "fit" not in answer
    assert old.grade_definitions() is None
    assert answer["probability"] == score_one(scorer, {"industry": "Software"}, [])["probability"]
    shutil.rmtree(folder)
