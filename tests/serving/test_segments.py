"""Serving with segment models (serving.segments): each lead is scored by its own segment's
model, the global model scores the rest, alone or in a batch, by every door."""

from datetime import datetime

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.bundle import ModelBundle
from serving.scorer import LeadScorer
from serving.segments import SegmentedScorer, load_scorer

AS_OF = "2026-11-01T00:00:00"


@pytest.fixture(scope="module")
def router(segmented):
    return load_scorer(segmented[-1])


@pytest.fixture(scope="module")
def api_leads(segmented):
    """Leads of the CRM as POST /score takes them, with their activities."""
    _, tables, examples, _, _, _ = segmented
    leads = examples.leads.drop_duplicates("lead_id").iloc[-300:]
    records = leads.assign(created_at=leads["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")) \
        .astype(object).where(leads.notna(), None).to_dict("records")
    acts = tables.activities[tables.activities["lead_id"].astype(str).isin(set(leads["lead_id"]))]
    by = {k: [{"occurred_at": t.isoformat(), "activity_type": a} for t, a in zip(g["occurred_at"], g["activity_type"])]
          for k, g in acts.groupby(acts["lead_id"].astype(str), observed=True)}
    return leads, [dict(r, activities=by.get(r["lead_id"], [])) for r in records]


def test_a_bundle_with_segments_loads_a_router_and_one_without_a_plain_scorer(router, bundle_dir):
    assert isinstance(router, SegmentedScorer) and set(router.scorers) >= {"sales cloud", "analytics suite"}
    assert isinstance(load_scorer(bundle_dir), LeadScorer)


def test_each_lead_is_scored_by_its_own_segments_model(router, segmented, api_leads):
    _, leads = api_leads
    folder = segmented[-1]
    own = {value: LeadScorer(bundle) for value, bundle in ModelBundle.load(folder).segments.models.items()}
    global_scorer = LeadScorer(ModelBundle.load(folder))
    lead = next(lead for lead in leads if lead["product_interest"] == "analytics suite")
    lead = dict(lead, product_interest="  Analytics   SUITE ")  # as a CRM may send it: cleaned first
    [answer] = router.score_leads([lead], as_of=AS_OF)
    [theirs] = own["analytics suite"].score_leads([lead], as_of=AS_OF)
    [overall] = global_scorer.score_leads([lead], as_of=AS_OF)
    assert answer["segment"] == "analytics suite"
    assert answer["probability"] == theirs["probability"] != overall["probability"]
    assert answer["stage"] == theirs["stage"] and answer["reasons_for"] == theirs["reasons_for"]
    # the registered version of the whole bundle, not the segment model's
    assert answer["model_version"] == ModelBundle.load(folder).card["version"] != own["analytics suite"].version


@pytest.mark.parametrize("value", ["quantum widgets", None, "Select", "home edition"])
def test_a_lead_without_a_segment_model_gets_the_global_model(router, segmented, api_leads, value):
    _, leads = api_leads
    global_scorer = LeadScorer(ModelBundle.load(segmented[-1]))
    lead = dict(leads[0], product_interest=value)
    [answer] = router.score_leads([lead], as_of=AS_OF)
    [overall] = global_scorer.score_leads([lead], as_of=AS_OF)
    assert answer["segment"] is None
    assert {k: v for k, v in answer.items() if k != "segment"} == overall


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.integers(0, 299), min_size=1, max_size=12),
       values=st.lists(st.sampled_from(["sales cloud", "Marketing Hub", "home edition", "unknown", None, "x"]),
                       min_size=12, max_size=12))
def test_a_lead_alone_gets_the_same_answer_as_inside_any_batch(router, api_leads, picks, values):
    _, leads = api_leads
    batch = [dict(leads[i], lead_id=f"B{n}", product_interest=values[n] if n % 2 else leads[i]["product_interest"])
             for n, i in enumerate(picks)]
    together = router.score_leads(batch, as_of=AS_OF, reasons=2)
    alone = [router.score_leads([lead], as_of=AS_OF, reasons=2)[0] for lead in batch]
    assert together == alone


def test_batch_scoring_and_logged_records_route_as_the_api_does(router, segmented, api_leads):
    _, tables, _, _, _, _ = segmented
    frame, leads = api_leads
    api = router.score_leads(leads, as_of=AS_OF, reasons=0)
    assert {a["segment"] for a in api} >= {"sales cloud", "marketing hub", "analytics suite", None}
    table = router.score_table(frame, tables.activities, AS_OF, reasons=0, chunk=100)
    assert table["lead_id"].tolist() == [a["lead_id"] for a in api]
    assert table["segment"].tolist() == [a["segment"] for a in api]
    np.testing.assert_allclose(table["probability"], [a["probability"] for a in api], atol=1e-6)
    assert table["stage"].tolist() == [a["stage"] for a in api]
    moment = datetime.fromisoformat(AS_OF)
    as_of_ns = int(np.datetime64(moment, "ns").astype(np.int64))
    records = [(lead["lead_id"], *router.recorder.record(lead, as_of_ns)) for lead in leads[:60]]
    logged = router.score_records(records, [moment] * len(records), reasons=0)
    assert [a["segment"] for a in logged] == [a["segment"] for a in api[:60]]
    np.testing.assert_allclose([a["probability"] for a in logged], [a["probability"] for a in api[:60]], atol=1e-6)


def test_the_model_card_and_stages_show_each_segment(router):
    card = router.model_card()
    segments = {e["value"]: e for e in card["segments"]["segments"]}
    assert card["segments"]["column"] == "product_interest"
    assert segments["sales cloud"]["used"] and set(segments["sales cloud"]["stages"]) == {"sql", "mql"}
    assert not segments["home edition"]["used"] and "too few deals" in segments["home edition"]["note"]
    assert set(router.segment_stage_definitions()) == {v for v, e in segments.items() if e["used"]}
    own = router.segment_stage_definitions()["sales cloud"]
    assert router.stage_definitions_of({"product_interest": "Sales Cloud"}) == own != router.stage_definitions()
    assert router.stage_definitions_of({"product_interest": "home edition"}) == router.stage_definitions()
