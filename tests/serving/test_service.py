"""The scoring API in-process (ASGI, no sockets): every endpoint and every kind of bad input.

One service instance for the module, on the session's trained bundle and a fresh SQLite file.
Limits are lowered (50 leads, 200 kB bodies, 20 activities) so that the limit tests are cheap.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

# Before bentoml or prometheus_client is imported: /metrics needs a multiprocess folder.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="leadscore-prom-"))
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")

from tests.serving.conftest import LOCAL_BASE  # noqa: E402

MAX_LEADS = 50
MAX_BODY = 200_000
MAX_ACTIVITIES = 20
AS_OF = "2026-06-01T00:00:00Z"


@pytest.fixture(scope="module")
def db_url(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('service-db') / 'leadscore.db'}"


@pytest.fixture(scope="module")
def client(bundle_dir, db_url):
    with warnings.catch_warnings():  # starlette 1.10: "Using httpx with TestClient is deprecated"
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEADSCORE_BUNDLE", str(bundle_dir))
        mp.setenv("LEADSCORE_DATABASE_URL", db_url)
        mp.setenv("LEADSCORE_MAX_LEADS", str(MAX_LEADS))
        mp.setenv("LEADSCORE_MAX_BODY_BYTES", str(MAX_BODY))
        mp.setenv("LEADSCORE_MAX_ACTIVITIES", str(MAX_ACTIVITIES))
        mp.setenv("LEADSCORE_LOG_FLUSH_SECONDS", "0.05")
        mp.setenv("LEADSCORE_GC", "default")  # never freeze the test process's heap
        from serving.service import LeadScoringService

        app = LeadScoringService.to_asgi()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with TestClient(app, base_url=LOCAL_BASE, raise_server_exceptions=False) as test_client:
                yield test_client


def _json_value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


@pytest.fixture(scope="module")
def demo_leads(demo_crm_dir) -> list[dict]:
    """30 raw leads of the demo CRM as JSON objects, each with its activities."""
    leads = pd.read_parquet(demo_crm_dir / "leads.parquet").drop_duplicates("lead_id").head(30)
    acts = pd.read_parquet(demo_crm_dir / "activities.parquet")
    acts = acts[acts["lead_id"].astype(str).isin(set(leads["lead_id"]))]
    by_lead: dict[str, list[dict]] = {}
    for row in acts.itertuples(index=False):
        by_lead.setdefault(str(row.lead_id), []).append(
            {"occurred_at": row.occurred_at.isoformat(), "activity_type": str(row.activity_type),
             "value": _json_value(row.value)})
    out = []
    for record in leads.to_dict("records"):
        lead = {k: _json_value(v) for k, v in record.items()}
        lead["activities"] = by_lead.get(lead["lead_id"], [])[-MAX_ACTIVITIES:]
        out.append(lead)
    return out


def post_json(client, path: str, body: bytes | str, content_type: str = "application/json"):
    data = body.encode() if isinstance(body, str) else body
    return client.post(path, content=data, headers={"content-type": content_type})


def assert_refused(response, status: int, field: str | None, words: str | None = None) -> dict:
    """A 4xx JSON answer whose `error` names the field and the problem."""
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error", "detail"}, body
    assert body["detail"] and all({"loc", "msg", "type"} <= set(d) for d in body["detail"])
    if field is not None:
        assert field in body["error"], body["error"]
    if words is not None:
        assert words.lower() in body["error"].lower(), body["error"]
    return body


# =============================================================================== scoring
def test_one_lead_gets_probability_score_stage_reasons_and_version(client, demo_leads):
    response = client.post("/score", json={"lead": demo_leads[0], "as_of": AS_OF})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == "test" and body["as_of"] == "2026-06-01T00:00:00Z"
    (answer,) = body["scores"]
    assert answer["lead_id"] == demo_leads[0]["lead_id"]
    assert 0.0 <= answer["probability"] <= 1.0
    assert answer["score"] == round(answer["probability"] * 100)
    assert answer["stage"] in ("SQL", "MQL", "not yet")
    assert 0 < len(answer["reasons_for"]) + len(answer["reasons_against"])
    assert len(answer["reasons_for"]) <= 5 and len(answer["reasons_against"]) <= 5
    assert all(isinstance(r, str) and r for r in answer["reasons_for"] + answer["reasons_against"])
    assert answer["model_version"] == "test"


def test_a_lead_scores_the_same_alone_and_in_a_batch(client, demo_leads):
    batch = client.post("/score", json={"leads": demo_leads, "as_of": AS_OF}).json()["scores"]
    assert [a["lead_id"] for a in batch] == [lead["lead_id"] for lead in demo_leads]
    for lead, in_batch in zip(demo_leads[:5], batch[:5]):
        alone = client.post("/score", json={"leads": [lead], "as_of": AS_OF}).json()["scores"][0]
        assert alone == in_batch


def test_stages_follow_the_published_thresholds(client, demo_leads):
    stages = client.get("/stages").json()["stages"]
    scores = client.post("/score", json={"leads": demo_leads, "as_of": AS_OF}).json()["scores"]
    for answer in scores:
        p = answer["probability"]
        expected = ("SQL" if p >= stages["sql"]["threshold"] else
                    "MQL" if p >= stages["mql"]["threshold"] else "not yet")
        assert answer["stage"] == expected


def test_activities_after_as_of_do_not_count(client, demo_leads):
    lead = dict(demo_leads[0], activities=[{"occurred_at": "2026-05-30T10:00:00Z", "activity_type": "pricing_view"}] * 3)
    without = dict(lead, activities=[])
    before = client.post("/score", json={"lead": lead, "as_of": "2026-05-01T00:00:00Z"}).json()["scores"][0]
    bare = client.post("/score", json={"lead": without, "as_of": "2026-05-01T00:00:00Z"}).json()["scores"][0]
    assert before["probability"] == bare["probability"]
    after = client.post("/score", json={"lead": lead, "as_of": "2026-06-01T00:00:00Z"}).json()["scores"][0]
    assert after["probability"] >= bare["probability"]  # pricing views never lower a score


def test_reasons_can_be_left_out(client, demo_leads):
    answer = client.post("/score", json={"lead": demo_leads[1], "reasons": 0}).json()["scores"][0]
    assert answer["reasons_for"] == [] and answer["reasons_against"] == []
    two = client.post("/score", json={"lead": demo_leads[1], "reasons": 2}).json()["scores"][0]
    assert len(two["reasons_for"]) <= 2 and len(two["reasons_against"]) <= 2


def test_unknown_categories_missing_fields_and_placeholders_are_scored(client):
    leads = [
        {"lead_id": "odd-1", "industry": "Quantum Basket Weaving", "country": "Atlantis", "company_size": "huge"},
        {"lead_id": "odd-2"},
        {"lead_id": "odd-3", "industry": "Select", "employee_count": "N/A", "email_opt_in": "",
         "created_at": None, "activities": [{"occurred_at": "2026-01-01T00:00:00", "activity_type": "hologram_call"}]},
        {"lead_id": "odd-4", "employee_count": " 40 ", "email_opt_in": True, "industry": 7, "activities": None},
    ]
    response = client.post("/score", json={"leads": leads})
    assert response.status_code == 200, response.text
    assert [a["lead_id"] for a in response.json()["scores"]] == ["odd-1", "odd-2", "odd-3", "odd-4"]


def test_integer_ids_come_back_as_text(client):
    answer = client.post("/score", json={"lead": {"lead_id": 12345}}).json()["scores"][0]
    assert answer["lead_id"] == "12345"


def test_only_json_bodies_are_taken_so_other_sites_pages_cannot_post(client, demo_leads):
    """A page on another site can make a browser post text, form or multipart bodies anywhere,
    but not application/json: those are refused with 415 on both write routes, and nothing is
    recorded; JSON (with or without a charset) is taken."""
    body = json.dumps({"lead": {"lead_id": "ct-1"}})
    outcome = json.dumps({"outcomes": [{"lead_id": demo_leads[0]["lead_id"], "outcome": "won",
                                        "closed_at": "2026-05-20T10:00:00Z"}]})
    for path, data in (("/score", body), ("/outcomes", outcome)):
        for content_type in ("text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                             "application/vnd.bentoml+pickle", "multipart/form-data; boundary=x", "application/jsonx"):
            response = post_json(client, path, data, content_type)
            assert response.status_code == 415, (path, content_type, response.text)
            assert "Content-Type: application/json" in response.json()["error"]
        assert client.post(path, content=data.encode()).status_code == 415  # no content type at all
    assert post_json(client, "/score", body, "application/json; charset=utf-8").status_code == 200
    assert post_json(client, "/score", body, "Application/JSON").status_code == 200


# =============================================================================== bad input
BAD_BODIES = [
    # (name, body, status, field named in the error, words in the error)
    ("malformed JSON", b"{not json", 400, "body", "invalid json"),
    ("truncated JSON", b'{"leads": [{"lead_id": "a"', 400, "body", "json"),
    ("not UTF-8", b'{"lead": {"lead_id": "\xff\xfe"}}', 400, "body", None),
    ("NUL in the id", b'{"lead": {"lead_id": "L1\\u0000x"}}', 400, "lead.lead_id", "control character"),
    ("lone surrogate in the id", b'{"lead": {"lead_id": "L\\ud800"}}', 400, "body", "json"),
    ("empty body", b"", 400, "leads", "missing"),
    ("JSON null", b"null", 400, None, None),
    ("JSON array body", b'[{"lead_id": "a"}]', 400, None, None),
    ("leads not a list", b'{"leads": 5}', 400, "leads", "array"),
    ("a lead not an object", b'{"leads": [5]}', 400, "leads[0]", "object"),
    ("empty list", b'{"leads": []}', 400, "leads", "empty"),
    ("neither lead nor leads", b'{"as_of": "2026-01-01T00:00:00Z"}', 400, "leads", "missing"),
    ("both lead and leads", b'{"lead": {"lead_id": "a"}, "leads": [{"lead_id": "b"}]}', 400, "lead", "not both"),
    ("unknown top-level field", b'{"lead": {"lead_id": "a"}, "priority": 1}', 400, "priority", None),
    ("missing id", b'{"leads": [{"lead_id": "a"}, {"industry": "software"}]}', 400, "leads[1].lead_id", "missing"),
    ("null id", b'{"lead": {"lead_id": null}}', 400, "lead.lead_id", "missing"),
    ("blank id", b'{"lead": {"lead_id": "   "}}', 400, "lead.lead_id", "empty"),
    ("float id", b'{"lead": {"lead_id": 1.5}}', 400, "lead.lead_id", "text or an integer"),
    ("unknown lead field", b'{"lead": {"lead_id": "a", "favourite_colour": "red"}}', 400,
     "lead.favourite_colour", "unknown field"),
    ("object as a value", b'{"lead": {"lead_id": "a", "industry": {"name": "x"}}}', 400, "lead.industry", "object"),
    ("list as a value", b'{"lead": {"lead_id": "a", "country": ["de", "fr"]}}', 400, "lead.country", "list"),
    ("NaN", b'{"lead": {"lead_id": "a", "employee_count": NaN}}', 400, "lead.employee_count", "finite"),
    ("Infinity", b'{"lead": {"lead_id": "a", "employee_count": Infinity}}', 400, "lead.employee_count", "finite"),
    ("-Infinity", b'{"lead": {"lead_id": "a", "employee_count": -Infinity}}', 400, "lead.employee_count", "finite"),
    ("overflowing number", b'{"lead": {"lead_id": "a", "employee_count": 1e400}}', 400, "lead.employee_count", "finite"),
    ("NaN as text", b'{"lead": {"lead_id": "a", "employee_count": "nan"}}', 400, "lead.employee_count",
     "not a number"),
    ("thousands with underscores", b'{"lead": {"lead_id": "a", "employee_count": "1_000"}}', 400,
     "lead.employee_count", "not a number"),
    ("day/month/year created_at", b'{"lead": {"lead_id": "a", "created_at": "04/03/2026"}}', 400, "lead.created_at",
     "iso 8601"),
    ("day/month/year as_of", b'{"lead": {"lead_id": "a"}, "as_of": "04/03/2026"}', 400, "as_of", "iso 8601"),
    ("extreme time-zone offset", b'{"lead": {"lead_id": "a"}, "as_of": "9999-12-31T23:59:59-23:59"}', 400, "as_of",
     "out of range"),
    ("text for a number", b'{"lead": {"lead_id": "a", "employee_count": "lots"}}', 400, "lead.employee_count",
     "not a number"),
    ("true/false for a number", b'{"lead": {"lead_id": "a", "employee_count": true}}', 400, "lead.employee_count",
     "true/false"),
    ("neither yes nor no", b'{"lead": {"lead_id": "a", "email_opt_in": "maybe"}}', 400, "lead.email_opt_in",
     "neither yes nor no"),
    ("bad created_at", b'{"lead": {"lead_id": "a", "created_at": "last tuesday"}}', 400, "lead.created_at",
     "iso 8601"),
    ("number for created_at", b'{"lead": {"lead_id": "a", "created_at": 1700000000}}', 400, "lead.created_at",
     "iso 8601"),
    ("bad as_of", b'{"lead": {"lead_id": "a"}, "as_of": "soon"}', 400, "as_of", None),
    ("as_of out of range", b'{"lead": {"lead_id": "a"}, "as_of": "9999-01-01T00:00:00"}', 400, "as_of", "out of range"),
    ("reasons out of range", b'{"lead": {"lead_id": "a"}, "reasons": 9}', 400, "reasons", None),
    ("activities not a list", b'{"lead": {"lead_id": "a", "activities": "many"}}', 400, "lead.activities", "list"),
    ("activity not an object", b'{"lead": {"lead_id": "a", "activities": [3]}}', 400, "lead.activities[0]", "object"),
    ("activity without time", b'{"lead": {"lead_id": "a", "activities": [{"activity_type": "web_visit"}]}}', 400,
     "lead.activities[0].occurred_at", "missing"),
    ("activity with a bad time",
     b'{"lead": {"lead_id": "a", "activities": [{"occurred_at": "31/02/2026", "activity_type": "web_visit"}]}}',
     400, "lead.activities[0].occurred_at", "iso 8601"),
    ("activity without type", b'{"lead": {"lead_id": "a", "activities": [{"occurred_at": "2026-01-01T00:00:00Z"}]}}',
     400, "lead.activities[0].activity_type", "missing"),
    ("activity with an unknown field",
     b'{"lead": {"lead_id": "a", "activities": [{"occurred_at": "2026-01-01T00:00:00Z", "activity_type": "x", '
     b'"channel": "web"}]}}', 400, "lead.activities[0].channel", "unknown field"),
    ("activity value NaN",
     b'{"lead": {"lead_id": "a", "activities": [{"occurred_at": "2026-01-01T00:00:00Z", "activity_type": "x", '
     b'"value": NaN}]}}', 400, "lead.activities[0].value", "finite"),
    ("deeply nested JSON", b'{"lead": {"lead_id": "a", "industry": ' + b"[" * 5000 + b"]" * 5000 + b"}}", 400, None, None),
]


@pytest.mark.parametrize("name,body,status,field,words", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_input_gets_a_4xx_naming_the_field(client, name, body, status, field, words):
    assert_refused(post_json(client, "/score", body), status, field, words)


def test_huge_strings_are_refused(client):
    for field in ("industry", "lead_id", "created_at", "employee_count"):
        response = client.post("/score", json={"lead": {"lead_id": "a", field: "x" * 5_000}})
        assert_refused(response, 400, f"lead.{field}", "at most 1,000")
    long_type = {"occurred_at": "2026-01-01T00:00:00Z", "activity_type": "y" * 5_000}
    response = client.post("/score", json={"lead": {"lead_id": "a", "activities": [long_type]}})
    assert_refused(response, 400, "lead.activities[0].activity_type", "at most 1,000")


def test_every_problem_is_listed_up_to_a_limit(client):
    leads = [{"lead_id": f"b{i}", "employee_count": "lots"} for i in range(40)]
    body = assert_refused(client.post("/score", json={"leads": leads}), 400, "leads[0].employee_count")
    assert "and 39 more problems" in body["error"]
    assert len(body["detail"]) == 20


def test_too_many_leads_gets_413(client):
    leads = [{"lead_id": f"m{i}"} for i in range(MAX_LEADS + 1)]
    assert_refused(client.post("/score", json={"leads": leads}), 413, "leads", f"at most {MAX_LEADS}")
    assert client.post("/score", json={"leads": leads[:MAX_LEADS]}).status_code == 200


def test_too_many_activities_gets_400(client):
    activities = [{"occurred_at": "2026-01-01T00:00:00Z", "activity_type": "web_visit"}] * (MAX_ACTIVITIES + 1)
    response = client.post("/score", json={"lead": {"lead_id": "a", "activities": activities}})
    assert_refused(response, 400, "lead.activities", f"at most {MAX_ACTIVITIES}")


def test_too_large_a_body_gets_413_by_length_and_by_stream(client):
    big = json.dumps({"lead": {"lead_id": "a", "industry": "x" * (MAX_BODY + 10)}}).encode()
    assert_refused(post_json(client, "/score", big), 413, "body", "at most")

    def chunks():  # no Content-Length: the limit is applied while reading
        for start in range(0, len(big), 16_384):
            yield big[start:start + 16_384]

    response = client.post("/score", content=chunks(), headers={"content-type": "application/json"})
    assert_refused(response, 413, "body", "at most")


def test_wrong_method_is_405_not_500(client):
    assert client.get("/score").status_code == 405
    assert client.post("/stages").status_code == 405


def test_service_keeps_serving_after_a_barrage_of_bad_requests(client, demo_leads):
    for _ in range(3):
        for _, body, status, _, _ in BAD_BODIES:
            assert post_json(client, "/score", body).status_code == status
        assert post_json(client, "/outcomes", b"{oops").status_code == 400
        assert post_json(client, "/score", b"x" * (MAX_BODY + 1)).status_code == 413
    response = client.post("/score", json={"lead": demo_leads[2]})
    assert response.status_code == 200 and response.json()["scores"][0]["lead_id"] == demo_leads[2]["lead_id"]
    assert client.get("/livez").status_code == 200 and client.get("/readyz").status_code == 200


# =============================================================================== GET routes
def test_stages_are_published_in_words_and_numbers(client):
    body = client.get("/stages").json()
    assert body["model_version"] == "test"
    sql, mql = body["stages"]["sql"], body["stages"]["mql"]
    assert 0 < mql["threshold"] <= sql["threshold"] < 1
    for stage, name in ((sql, "SQL"), (mql, "MQL")):
        assert stage["words"].startswith(name)
        assert {"conversion", "share_of_leads", "share_of_buyers"} <= set(stage)


def test_model_card(client):
    card = client.get("/model").json()
    assert card["version"] == "test" and card["spec"] == "demo-crm"
    assert "sql" in card["stages"]
    assert card["contributions"] == "tables"  # reasons from the exact tables, not pred_contrib


def test_health_metrics_and_openapi(client):
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    client.post("/score", json={"lead": {"lead_id": "metrics-1"}})
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "bentoml_service_request_total" in metrics.text
    assert "leadscore_leads_scored_total" in metrics.text
    assert 'leadscore_contributions{model_version="test",path="tables",segment=""} 1.0' in metrics.text
    assert "leadscore_refused_requests_total" in metrics.text
    spec = client.get("/docs.json").json()
    assert {"/score", "/outcomes", "/stages", "/model", "/livez", "/readyz", "/metrics"} <= set(spec["paths"])
    assert "leads" in json.dumps(spec["paths"]["/score"])
    assert client.get("/").status_code == 200  # the Swagger page


# =============================================================================== score log
def _wait_for(predicate, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_every_score_served_is_logged(client, db_url):
    from serving.store import ScoreStore

    ids = [f"log-{i}" for i in range(12)]
    answers = client.post("/score", json={"leads": [{"lead_id": i} for i in ids]}).json()["scores"]
    client.post("/score", json={"lead": {"lead_id": "log-0"}})
    store = ScoreStore(db_url, background=False)
    try:
        rows = _wait_for(lambda: store.scores_of("log-0") if len(store.scores_of("log-0")) == 2 else None)
        assert rows and len(rows) == 2
        first = rows[0]
        assert first["probability"] == pytest.approx(answers[0]["probability"])
        assert first["stage"] == answers[0]["stage"] and first["model_version"] == "test"
        assert first["scored_at"] is not None
        assert _wait_for(lambda: all(store.scores_of(i) for i in ids))
    finally:
        store.close()


# =============================================================================== outcomes
def _outcome(lead_id, outcome="won", closed_at="2026-05-20T10:00:00Z"):
    return {"lead_id": lead_id, "outcome": outcome, "closed_at": closed_at}


def test_outcomes_are_recorded_once_per_lead(client, db_url):
    from serving.store import ScoreStore

    client.post("/score", json={"leads": [{"lead_id": "deal-1"}, {"lead_id": "deal-2"}]})
    first = client.post("/outcomes", json={"outcomes": [_outcome("deal-1"), _outcome("deal-2", "LOST")]})
    assert first.status_code == 200, first.text
    assert first.json()["recorded"] == 2
    again = client.post("/outcomes", json={"outcomes": [_outcome("deal-1"), _outcome("deal-2", "lost")]}).json()
    assert again["unchanged"] == 2 and again["recorded"] == 0
    assert [o["status"] for o in again["outcomes"]] == ["unchanged", "unchanged"]
    changed = client.post("/outcomes", json={"outcomes": [_outcome("deal-2", "won", "2026-05-21T00:00:00")]}).json()
    assert changed["updated"] == 1
    store = ScoreStore(db_url, background=False)
    try:
        assert store.outcome_of("deal-1")["outcome"] == "won"
        row = store.outcome_of("deal-2")
        assert row["outcome"] == "won" and str(row["closed_at"]) == "2026-05-21 00:00:00"
    finally:
        store.close()


def test_outcome_for_a_lead_just_scored_is_known(client):
    client.post("/score", json={"lead": {"lead_id": "fresh-1"}})
    response = client.post("/outcomes", json={"outcomes": [_outcome("fresh-1")]})
    assert response.status_code == 200 and response.json()["recorded"] == 1


def test_outcomes_for_unknown_leads_are_refused_and_nothing_is_stored(client, db_url):
    from serving.store import ScoreStore

    client.post("/score", json={"lead": {"lead_id": "known-1"}})
    response = client.post("/outcomes", json={"outcomes": [_outcome("known-1"), _outcome("never-scored")]})
    body = assert_refused(response, 404, "outcomes[1].lead_id", "never scored")
    assert body["detail"][0]["loc"] == ["outcomes", 1, "lead_id"]
    store = ScoreStore(db_url, background=False)
    try:
        assert store.outcome_of("known-1") is None
    finally:
        store.close()


BAD_OUTCOMES = [
    ("empty list", {"outcomes": []}, 400, "outcomes", "empty"),
    ("no outcomes key", {}, 400, "outcomes", None),
    ("invalid outcome", {"outcomes": [_outcome("known-1", "maybe")]}, 400, "outcomes[0].outcome", "won or lost"),
    ("control character in the id", {"outcomes": [_outcome("known\x00", "won")]}, 400, "outcomes[0].lead_id",
     "control character"),
    ("missing outcome", {"outcomes": [{"lead_id": "known-1", "closed_at": "2026-05-01T00:00:00Z"}]}, 400,
     "outcomes[0].outcome", None),
    ("missing closing time", {"outcomes": [{"lead_id": "known-1", "outcome": "won"}]}, 400,
     "outcomes[0].closed_at", None),
    ("bad closing time", {"outcomes": [_outcome("known-1", closed_at="yesterday")]}, 400, "outcomes[0].closed_at", None),
    ("closing time in the future", {"outcomes": [_outcome("known-1", closed_at="2999-01-01T00:00:00Z")]}, 400,
     "outcomes[0].closed_at", None),
    ("blank lead id", {"outcomes": [_outcome(" ")]}, 400, "outcomes[0].lead_id", "empty"),
    ("lead id as an object", {"outcomes": [_outcome({"id": 1})]}, 400, "outcomes[0].lead_id", None),
    ("huge lead id", {"outcomes": [_outcome("z" * 5_000)]}, 400, "outcomes[0].lead_id", "at most"),
    ("unknown field", {"outcomes": [dict(_outcome("known-1"), amount=5)]}, 400, "outcomes[0].amount", None),
    ("too many", {"outcomes": [_outcome(f"k{i}") for i in range(MAX_LEADS + 1)]}, 413, "outcomes", "at most"),
]


@pytest.mark.parametrize("name,body,status,field,words", BAD_OUTCOMES, ids=[b[0] for b in BAD_OUTCOMES])
def test_bad_outcomes_get_a_4xx_naming_the_field(client, name, body, status, field, words):
    client.post("/score", json={"lead": {"lead_id": "known-1"}})
    assert_refused(client.post("/outcomes", json=body), status, field, words)


# =============================================================================== GC tuning
def test_gc_tuning_freezes_the_start_up_heap_and_can_be_turned_off():
    import gc

    from serving.runtime import GC_THRESHOLDS, tune_gc

    before = gc.get_threshold()
    assert tune_gc("default") == {"gc": "default", "thresholds": before}
    try:
        info = tune_gc("tuned")
        assert info["gc"] == "tuned" and info["frozen_objects"] > 10_000
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_missing_bundle_setting_is_a_clear_error(monkeypatch):
    from serving.config import ConfigError, ServiceConfig

    with pytest.raises(ConfigError, match="leadscore serve"):
        ServiceConfig.from_env({})
    with pytest.raises(ConfigError, match="LEADSCORE_MAX_LEADS"):
        ServiceConfig.from_env({"LEADSCORE_BUNDLE": "x", "LEADSCORE_MAX_LEADS": "lots"})
    assert ServiceConfig.from_env({"LEADSCORE_BUNDLE": str(Path("x"))}).max_leads == 10_000


def test_a_backfill_is_logged_as_of_its_moment_and_a_future_moment_refused(client, db_url):
    """A score as of a past moment stands for a forecast made then (the report judges it so);
    one dated ahead would stand for the lead's later scores, and is refused."""
    from serving.store import ScoreStore

    answer = client.post("/score", json={"lead": {"lead_id": "backfill-1"}, "as_of": "2026-03-05T10:00:00Z"})
    assert answer.status_code == 200, answer.text
    store = ScoreStore(db_url, background=False)
    try:
        deadline = time.monotonic() + 30  # the service's writer flushes every 0.05 s
        while not (found := store.scores_of("backfill-1")) and time.monotonic() < deadline:
            time.sleep(0.05)
        [logged] = found
        assert str(logged["scored_at"]) == "2026-03-05 10:00:00"
        assert logged["spec"] == "demo-crm"
    finally:
        store.close()
    ahead = client.post("/score", json={"lead": {"lead_id": "future-1"}, "as_of": "2099-01-01T00:00:00Z"})
    assert_refused(ahead, 400, "as_of", "in the future")
