"""GET /report in-process (ASGI, no sockets): the outcome report of what /score and /outcomes
logged, answered from a cache that a background thread refreshes; a period on demand; 400 for a
bad time; 503 while the report is computed or cannot be, with /score answering all along.

Each test starts its own service on a fresh SQLite file, with the report refreshed every 0.2 s
(unless the test says otherwise). The report reads the log through
`serving.store.report_inputs.latest_scores`; `report_controls` wraps it so that a test can hold
a computation (`gate`) or make it fail (`failure`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pandas as pd
import pytest

# Before bentoml or prometheus_client is imported: /metrics needs a multiprocess folder.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="leadscore-prom-"))
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "True")

WAIT_SECONDS = 30
"""How long a test waits for the refresher before it gives up (a guard against hanging; no
test measures how long anything takes)."""


# =============================================================================== fixtures
from tests.serving.conftest import running_service  # noqa: E402


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'leadscore.db'}"


@pytest.fixture
def report_controls(monkeypatch):
    """`gate` (a threading.Event, open): a computation of the report waits there until it is
    set; `failure`: an exception the computation raises instead of reading the log."""
    import serving.store.report_inputs as inputs

    controls = SimpleNamespace(gate=threading.Event(), failure=None)
    controls.gate.set()
    read = inputs.latest_scores

    def controlled(*args, **kwargs):
        controls.gate.wait(WAIT_SECONDS)
        if controls.failure is not None:
            raise controls.failure
        return read(*args, **kwargs)

    monkeypatch.setattr(inputs, "latest_scores", controlled)
    yield controls
    controls.gate.set()  # never leave a computation waiting


@pytest.fixture(scope="module")
def crm_leads(demo_crm_dir) -> list[dict]:
    """40 demo CRM leads (profile fields only) as JSON objects."""
    leads = pd.read_parquet(demo_crm_dir / "leads.parquet").drop_duplicates("lead_id").head(40)
    out = []
    for record in leads.to_dict("records"):
        out.append({k: (v.isoformat() if isinstance(v, pd.Timestamp) else None if pd.isna(v) else v)
                    for k, v in record.items()})
    return out


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def report_when(client, condition, what: str) -> dict:
    """The body of the first 200 answer of GET /report for which condition(body) holds."""
    def ready():
        response = client.get("/report")
        return response.status_code == 200 and condition(response.json()) and response.json()
    return wait_for(ready, what)


def iso_z(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def score_and_close(client, leads: list[dict]) -> list[dict]:
    """Score the leads, then post an outcome for each (every other one won), closed an hour
    from now (after the score, as a real deal closes). Returns the score answers."""
    response = client.post("/score", json={"leads": leads})
    assert response.status_code == 200, response.text
    scores = response.json()["scores"]
    closed_at = iso_z(datetime.now(timezone.utc) + timedelta(hours=1))
    outcomes = [{"lead_id": answer["lead_id"], "outcome": "won" if i % 2 == 0 else "lost", "closed_at": closed_at}
                for i, answer in enumerate(scores)]
    response = client.post("/outcomes", json={"outcomes": outcomes})
    assert response.status_code == 200 and response.json()["recorded"] == len(leads), response.text
    return scores


def assert_unavailable(response, kind: str, words: str) -> dict:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert set(body) == {"error", "detail"} and body["detail"][0]["type"] == kind, body
    assert words.lower() in body["error"].lower(), body["error"]
    return body


# =============================================================================== the cached report
def test_scores_and_outcomes_show_in_the_report_soon_after_the_outcomes(profiled_bundle_dir, db_url, crm_leads):
    """With the periodic refresh far away (300 s), recording outcomes is what brings the new
    figures in; the answer is report_from_store's report (what `leadscore report --json`
    writes) plus computed_at."""
    with running_service(profiled_bundle_dir, db_url, refresh_seconds=300) as client:
        posted = datetime.now(timezone.utc).replace(tzinfo=None)
        scores = score_and_close(client, crm_leads)
        body = report_when(client, lambda b: b["period"]["closed"] == len(crm_leads), "the outcomes in the report")

        assert body["period"]["leads"] == len(crm_leads) and body["period"]["won"] == len(crm_leads) // 2
        computed_at = datetime.fromisoformat(body.pop("computed_at").removesuffix("Z"))
        assert computed_at >= posted - timedelta(seconds=1)
        sql = [s for s in scores if s["stage"] == "SQL"]
        stages = {s["stage"]: s for s in body["stages"]}
        assert stages["sql"]["name"] == "SQL" and stages["sql"]["closed"] == len(sql)
        won = sum(1 for i, s in enumerate(scores) if s["stage"] == "SQL" and i % 2 == 0)
        assert stages["sql"]["observed_won_rate"] == (pytest.approx(won / len(sql)) if sql else None)
        for stage in body["stages"]:
            assert 0 < stage["promised_won_rate"] < 1
            assert isinstance(stage["verdict"], str) and stage["name"] in stage["verdict"]
        assert set(body["by_dimension"]) == {"lead_source", "campaign"}
        assert body["drift"] and all({"feature", "psi"} <= set(d) for d in body["drift"])

        from serving.report import report_from_store
        from serving.scorer import LeadScorer
        from serving.store import make_engine

        engine = make_engine(db_url)
        try:
            direct = report_from_store(engine, LeadScorer.from_bundle_dir(profiled_bundle_dir))
        finally:
            engine.dispose()
        assert body == json.loads(json.dumps(direct, allow_nan=False))


def test_the_first_request_answers_503_until_the_report_is_computed(bundle_dir, db_url, report_controls):
    report_controls.gate.clear()  # the first computation waits
    with running_service(bundle_dir, db_url) as client:
        assert_unavailable(client.get("/report"), "report_pending", "being computed")
        scored = client.post("/score", json={"lead": {"lead_id": "early-1"}})  # while it computes
        assert scored.status_code == 200 and scored.json()["scores"][0]["lead_id"] == "early-1"
        report_controls.gate.set()
        body = report_when(client, lambda b: b["period"]["leads"] == 1, "the first report")
        assert body["computed_at"].endswith("Z") and body["model"]["champion_version"] == "test"


def test_a_report_that_cannot_be_computed_answers_503_and_scoring_goes_on(bundle_dir, db_url, report_controls,
                                                                         crm_leads):
    from sqlalchemy.exc import OperationalError

    with running_service(bundle_dir, db_url) as client:
        score_and_close(client, crm_leads[:10])
        report_when(client, lambda b: b["period"]["closed"] == 10, "the first report")

        report_controls.failure = OperationalError("SELECT ...", {}, sqlite3.OperationalError("unable to open "
                                                                                               "database file"))
        wait_for(lambda: client.get("/report").status_code == 503, "the failure to show")
        assert_unavailable(client.get("/report"), "report_failed", "unable to open database file")
        assert_unavailable(client.get("/report", params={"since": "2020-01-01"}), "report_failed",
                           "unable to open database file")
        scored = client.post("/score", json={"leads": crm_leads[10:12]})
        assert scored.status_code == 200 and len(scored.json()["scores"]) == 2

        report_controls.failure = None  # the database is back: the refresher never stopped
        report_when(client, lambda b: b["period"]["leads"] == 12, "the report to come back")


# =============================================================================== a period on demand
def test_a_period_is_computed_on_demand(bundle_dir, db_url, crm_leads):
    with running_service(bundle_dir, db_url) as client:
        before = iso_z(datetime.now(timezone.utc) - timedelta(minutes=1))
        score_and_close(client, crm_leads[:10])
        after = iso_z(datetime.now(timezone.utc))  # after the 10 scores, before the next
        response = client.get("/report", params={"since": before, "until": after})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["period"]["since"] == before.removesuffix("Z") and body["period"]["leads"] == 10
        assert body["period"]["closed"] == 10 and body["computed_at"].endswith("Z")
        client.post("/score", json={"lead": {"lead_id": "later-1"}})
        assert client.get("/report", params={"until": after}).json()["period"]["leads"] == 10
        assert "/report" in client.get("/docs.json").json()["paths"]


BAD_PERIODS = [
    ("not a time", {"since": "yesterday"}, "since", "ISO 8601"),
    ("empty", {"since": ""}, "since", "ISO 8601"),
    ("no such month", {"until": "2026-13-01"}, "until", "month"),
    ("until before since", {"since": "2026-03-01", "until": "2026-02-01"}, "until", "not after"),
    ("unknown parameter", {"from": "2026-03-01"}, "from", "unknown parameter"),
]


def test_a_bad_period_gets_400_naming_the_parameter(bundle_dir, db_url):
    with running_service(bundle_dir, db_url) as client:
        for name, params, field, words in BAD_PERIODS:
            response = client.get("/report", params=params)
            assert response.status_code == 400, (name, response.text)
            body = response.json()
            assert body["error"].startswith(f"{field}:") and words.lower() in body["error"].lower(), (name, body)
            assert body["detail"][0]["loc"] == [field], name


# =============================================================================== settings
@pytest.mark.parametrize("value", ["0", "-5", "soon", "100000"])
def test_the_refresh_interval_is_checked(value):
    from serving.config import ConfigError, ServiceConfig

    with pytest.raises(ConfigError, match="LEADSCORE_REPORT_REFRESH_SECONDS"):
        ServiceConfig.from_env({"LEADSCORE_BUNDLE": "models/bundles/x", "LEADSCORE_REPORT_REFRESH_SECONDS": value})
    assert ServiceConfig.from_env({"LEADSCORE_BUNDLE": "x"}).report_refresh_seconds == 300
