"""Tell sales when it matters: a lead whose stage rises to SQL is posted to the configured webhook
within seconds, signed; a lead that stays or falls is not; a receiver that is down, answers 500
or hangs costs retries (counted in /metrics), never a /score answer or a logged score."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from serving.webhook import backoff_seconds, retry_after_seconds, signature, signature_matches
from tests.serving.conftest import api_leads, running_service

SECRET = "s3cret-shared-with-the-crm"
AS_OF = "2026-06-01T00:00:00Z"


class Receiver:
    """A tiny HTTP receiver in a thread: keeps what it is sent; answers `statuses` in turn (the
    last one from then on); with `hang`, waits for it to be set before answering."""

    def __init__(self, statuses=(200,), hang: threading.Event | None = None):
        self.statuses, self.hang = list(statuses), hang
        self.received: list[dict] = []
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                receiver.arrived.set()
                if receiver.hang is not None:
                    receiver.hang.wait(30)
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/leadscore"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.received]

    def close(self):
        if self.hang is not None:
            self.hang.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port_url() -> str:
    """The URL of a receiver that is down: a port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/leadscore"


@contextmanager
def service_with_webhook(bundle_dir, tmp_path, url: str, **settings):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEADSCORE_WEBHOOK_URL", url)
        mp.setenv("LEADSCORE_WEBHOOK_SECRET", SECRET)
        for name, value in settings.items():
            mp.setenv(f"LEADSCORE_WEBHOOK_{name.upper()}", str(value))
        with running_service(bundle_dir, f"sqlite:///{tmp_path / 'leadscore.db'}") as client:
            yield client


def wait_until(check, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    return check()


def deliveries(client, outcome: str) -> float:
    text = client.get("/metrics").text
    found = re.search(r'^leadscore_webhook_deliveries_total\{outcome="%s"\} (\S+)$' % outcome, text, re.M)
    return float(found[1]) if found else 0.0


@pytest.fixture(scope="module")
def leads(bundle_dir, demo_crm_dir):
    """(a lead that scores SQL with its activities and MQL without them, two other leads)."""
    from serving.scorer import LeadScorer

    scorer = LeadScorer.from_bundle_dir(bundle_dir)
    candidates = api_leads(demo_crm_dir, AS_OF, 400)
    for lead in candidates:
        bare = {**lead, "activities": []}
        stages = [a["stage"] for a in scorer.score_leads([lead, bare], reasons=0)]
        if stages == ["SQL", "MQL"]:
            others = [c for c in candidates if c is not lead][:2]
            return lead, bare, others
    pytest.skip("no demo lead rises from MQL to SQL with its activities")


def score(client, lead):
    response = client.post("/score", json={"lead": lead})
    assert response.status_code == 200, response.text
    return response.json()["scores"][0]


def logged_scores(tmp_path) -> int:
    import sqlite3

    with sqlite3.connect(tmp_path / "leadscore.db") as db:
        return db.execute("select count(*) from score_log").fetchone()[0]


def test_a_lead_rising_to_sql_is_told_within_seconds_signed_and_one_that_stays_or_falls_is_not(
        bundle_dir, tmp_path, leads):
    lead, bare, _ = leads
    receiver = Receiver()
    try:
        with service_with_webhook(bundle_dir, tmp_path, receiver.url) as client:
            assert score(client, bare)["stage"] == "MQL"  # a first score in MQL: a rise from nothing
            assert wait_until(lambda: receiver.received, 5), "the webhook was not told within 5 seconds"
            first = json.loads(receiver.received[0]["body"])
            assert first["stage"] == "MQL" and first["previous_stage"] is None
            answer = score(client, lead)  # MQL -> SQL
            assert answer["stage"] == "SQL"
            assert wait_until(lambda: len(receiver.received) == 2, 5), "the webhook was not told within 5 seconds"
            sent = receiver.received[1]
            payload = json.loads(sent["body"])
            assert payload["event"] == "lead.stage_rose" and payload["lead_id"] == lead["lead_id"]
            assert payload["stage"] == "SQL" and payload["previous_stage"] == "MQL"
            assert payload["probability"] == answer["probability"] and payload["score"] == answer["score"]
            assert payload["reasons_for"] == answer["reasons_for"][:3] and payload["reasons_for"]
            assert payload["model_version"] == answer["model_version"]
            headers = {k.lower(): v for k, v in sent["headers"].items()}
            assert headers["content-type"] == "application/json"
            assert signature_matches(SECRET, headers["x-leadscore-timestamp"], sent["body"],
                                     headers["x-leadscore-signature"])
            assert not signature_matches("another secret", headers["x-leadscore-timestamp"], sent["body"],
                                         headers["x-leadscore-signature"])

            score(client, lead)  # stays SQL
            score(client, bare)  # falls to MQL
            assert deliveries(client, "delivered") >= 2
            time.sleep(1.0)  # the writer commits every 0.05 s: time enough for a wrong notification
            assert len(receiver.received) == 2, receiver.payloads()
            assert logged_scores(tmp_path) == 4
    finally:
        receiver.close()


def test_a_lead_sent_twice_in_one_request_is_told_only_if_its_last_copy_rises(bundle_dir, tmp_path, leads):
    """The log keeps the last copy of a lead scored twice at one moment: a rise of an earlier copy
    that the last one takes back is not where the lead stands, and nobody is told of it."""
    lead, bare, _ = leads
    receiver = Receiver()
    try:
        with service_with_webhook(bundle_dir, tmp_path, receiver.url) as client:
            none = {**bare, "lead_id": "TWICE-1"}
            response = client.post("/score", json={"leads": [{**lead, "lead_id": "TWICE-1"}, none]})
            assert [s["stage"] for s in response.json()["scores"]] == ["SQL", "MQL"]
            response = client.post("/score", json={"leads": [{**bare, "lead_id": "TWICE-2"},
                                                             {**lead, "lead_id": "TWICE-2"}]})
            assert [s["stage"] for s in response.json()["scores"]] == ["MQL", "SQL"]
            assert wait_until(lambda: len(receiver.received) >= 2, 5)
            time.sleep(1.0)  # time enough for a wrong third notification
            told = sorted((p["lead_id"], p["stage"], p["previous_stage"]) for p in receiver.payloads())
            assert told == [("TWICE-1", "MQL", None), ("TWICE-2", "SQL", None)]
    finally:
        receiver.close()


def test_the_logs_never_show_the_webhook_urls_password(bundle_dir, tmp_path, leads, caplog):
    from serving.config import ConfigError, ServiceConfig, shown_url

    assert shown_url("https://crm:hunter2@hooks.example.com:8443/x") == "https://***@hooks.example.com:8443/x"
    with pytest.raises(ConfigError) as refused:
        ServiceConfig.from_env({"LEADSCORE_BUNDLE": str(bundle_dir),
                                "LEADSCORE_WEBHOOK_URL": "http://crm:hunter2@127.0.0.1:99999/x"})
    assert "port" in str(refused.value) and "hunter2" not in str(refused.value)
    lead, bare, _ = leads
    url = closed_port_url().replace("http://", "http://crm:hunter2@")
    with caplog.at_level("INFO"), service_with_webhook(bundle_dir, tmp_path, url, attempts=2) as client:
        score(client, bare)
        assert wait_until(lambda: deliveries(client, "failed") >= 1, 10)
    said = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("leadscore"))
    assert "***@127.0.0.1" in said and "hunter2" not in said


def test_a_receiver_that_is_down_costs_retries_counted_in_metrics_never_a_score(bundle_dir, tmp_path, leads):
    lead, bare, others = leads
    with service_with_webhook(bundle_dir, tmp_path, closed_port_url(), attempts=3) as client:
        retried, failed = deliveries(client, "retried"), deliveries(client, "failed")
        assert score(client, lead)["stage"] == "SQL"  # a first score in SQL: a rise from nothing
        # 3 attempts: 2 retries after 0.25-0.5 s and 0.5-1 s, then given up
        assert wait_until(lambda: deliveries(client, "failed") >= failed + 1, 10)
        assert deliveries(client, "retried") == retried + 2
        for other in [bare, *others]:  # meanwhile and after, /score answers and logs as ever
            assert client.post("/score", json={"lead": other}).status_code == 200
        assert logged_scores(tmp_path) == 4


def test_a_receiver_answering_500_then_200_gets_the_notification_on_a_retry(bundle_dir, tmp_path, leads):
    lead, _, _ = leads
    receiver = Receiver(statuses=(500, 200))
    try:
        with service_with_webhook(bundle_dir, tmp_path, receiver.url) as client:
            retried, delivered = deliveries(client, "retried"), deliveries(client, "delivered")
            score(client, lead)
            assert wait_until(lambda: len(receiver.received) >= 2, 10), receiver.payloads()
            first, second = receiver.received[:2]
            assert first["body"] == second["body"]  # the same notification, again
            assert first["headers"]["X-Leadscore-Delivery"] == second["headers"]["X-Leadscore-Delivery"]
            assert [r["headers"]["X-Leadscore-Attempt"] for r in receiver.received[:2]] == ["1", "2"]
            assert wait_until(lambda: deliveries(client, "delivered") >= delivered + 1, 5)
            assert deliveries(client, "retried") == retried + 1
    finally:
        receiver.close()


def test_score_answers_while_the_receiver_hangs(bundle_dir, tmp_path, leads):
    lead, bare, others = leads
    hang = threading.Event()
    receiver = Receiver(hang=hang)
    try:
        with service_with_webhook(bundle_dir, tmp_path, receiver.url, timeout_seconds=30) as client:
            score(client, lead)
            assert receiver.arrived.wait(5)  # the sender is now stuck on the receiver
            for other in [bare, *others]:  # the same lead falling to MQL, two other leads
                response = client.post("/score", json={"lead": other})
                assert response.status_code == 200, response.text
            assert not hang.is_set() and len(receiver.received) == 1  # still hanging meanwhile
            assert logged_scores(tmp_path) == 4
            hang.set()
            assert wait_until(lambda: deliveries(client, "delivered") >= 1, 5) or receiver.received
    finally:
        receiver.close()


def test_bad_webhook_settings_are_refused_at_start_with_the_setting_named(bundle_dir):
    from serving.config import ConfigError, ServiceConfig

    for env, words in [({"LEADSCORE_WEBHOOK_URL": "ftp://crm.example.com/hook"}, "http:// or https://"),
                       ({"LEADSCORE_WEBHOOK_URL": "crm.example.com/hook"}, "http:// or https://"),
                       ({"LEADSCORE_WEBHOOK_URL": "https://x.example", "LEADSCORE_WEBHOOK_STAGES": "SQL,hot"}, "MQL, SQL"),
                       ({"LEADSCORE_WEBHOOK_TIMEOUT_SECONDS": "0"}, "LEADSCORE_WEBHOOK_TIMEOUT_SECONDS"),
                       # a secret, or any webhook setting, without the URL would silently do nothing
                       ({"LEADSCORE_WEBHOOK_SECRET": "s3cret"}, "LEADSCORE_WEBHOOK_SECRET set without "
                                                                "LEADSCORE_WEBHOOK_URL, so nobody would be told"),
                       ({"LEADSCORE_WEBHOOK_STAGES": "SQL"}, "LEADSCORE_WEBHOOK_STAGES set without")]:
        with pytest.raises(ConfigError, match=re.escape(words)) as refused:
            ServiceConfig.from_env({"LEADSCORE_BUNDLE": str(bundle_dir), **env})
        assert "LEADSCORE_WEBHOOK_" in str(refused.value)
    config = ServiceConfig.from_env({"LEADSCORE_BUNDLE": str(bundle_dir), "LEADSCORE_WEBHOOK_URL": "https://x.example/h",
                                     "LEADSCORE_WEBHOOK_STAGES": " sql "})
    assert config.notify_stages == {"SQL"}
    assert ServiceConfig.from_env({"LEADSCORE_BUNDLE": str(bundle_dir)}).notify_stages == frozenset()
    # what a worker process is given (every setting, defaults included) is taken back as it was
    assert ServiceConfig.from_env(ServiceConfig.from_env({"LEADSCORE_BUNDLE": str(bundle_dir)}).to_env())


def test_backoff_doubles_with_jitter_and_honours_retry_after():
    import random

    rng = random.Random(1)
    waits = [backoff_seconds(attempt, rng=rng) for attempt in (1, 2, 3, 4)]
    for attempt, wait in zip((1, 2, 3, 4), waits):
        ceiling = 0.5 * 2 ** (attempt - 1)
        assert ceiling / 2 <= wait <= ceiling
    assert backoff_seconds(1, retry_after=7) == 7 and backoff_seconds(1, retry_after=10_000) == 60
    assert retry_after_seconds("3") == 3 and retry_after_seconds("soon") is None
    assert signature("k", "1700000000", b"{}").startswith("sha256=")


def test_the_writer_compares_each_score_with_the_one_logged_before_it(tmp_path):
    """In the store alone: a first score in a watched stage rises from nothing; several scores of
    one lead in one batch are taken in time order; a backfill dated before the latest never rises."""
    from datetime import datetime, timedelta

    from serving.store import ScoreStore

    class Watch:
        stages = frozenset({"MQL", "SQL"})
        rises: list = []

        def rose(self, rises):
            self.rises.extend((row[0], row[3], previous, told) for row, previous, told in rises)

        def not_checked(self, n):
            raise AssertionError("nothing is journaled here")

    watch = Watch()
    store = ScoreStore(f"sqlite:///{tmp_path / 'store.db'}", flush_seconds=0.02, stage_watch=watch)
    t0 = datetime(2026, 6, 1, 9)

    def log(lead, stage, at, told="why"):
        watched = {lead: told} if stage in watch.stages else None
        return store.log_scores([(lead, 0.5, stage, "1")], at, spec="demo", inputs=[('{"x": 1}', None)],
                                watched=watched)

    try:
        log("a", "MQL", t0).wait()  # first score, MQL: a rise from nothing
        log("b", "not yet", t0).wait()
        receipts = [log("b", "SQL", t0 + timedelta(minutes=1), "b1"), log("b", "not yet", t0 + timedelta(minutes=2)),
                    log("b", "MQL", t0 + timedelta(minutes=3), "b3")]  # likely one batch; either way the same
        for receipt in receipts:
            receipt.wait()
        log("a", "SQL", t0 - timedelta(days=1)).wait()  # a backfill before a's latest: not where it stands
        log("a", "MQL", t0 + timedelta(minutes=5)).wait()  # stays MQL
        assert wait_until(lambda: len(watch.rises) >= 3, 2)
        time.sleep(0.2)
        assert watch.rises == [("a", "MQL", None, "why"), ("b", "SQL", "not yet", "b1"), ("b", "MQL", "not yet", "b3")]
    finally:
        store.close()


def test_leadscore_serve_refuses_a_webhook_url_that_is_not_http_before_starting(bundle_dir):
    from typer.testing import CliRunner

    from leadscore.cli import app

    result = CliRunner().invoke(app, ["serve", "--bundle", str(bundle_dir), "--webhook-url", "ftp://crm.example.com/hook"])
    assert result.exit_code == 1, result.output
    assert "LEADSCORE_WEBHOOK_URL" in result.output and "is not an http:// or https:// URL" in result.output


def test_a_real_leadscore_serve_with_two_workers_and_its_tuned_gc_tells_the_webhook(bundle_dir, tmp_path, leads):
    """`leadscore serve --webhook-url` as users run it: two worker processes, the heap frozen
    (LEADSCORE_GC tuned, the default), the secret from the environment."""
    import httpx

    from tests.serving.live_service import server_process
    from tests.serving.test_serve_process import environment, free_port, leadscore_command

    lead, bare, others = leads
    receiver = Receiver()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**environment(tmp_path), "LEADSCORE_WEBHOOK_SECRET": SECRET, "LEADSCORE_WEBHOOK_STAGES": "SQL"}
    command = [*leadscore_command(), "serve", "--port", str(port), "--bundle", str(bundle_dir), "--workers", "2",
               "--webhook-url", receiver.url]
    try:
        with server_process(command, env, tmp_path / "serve.log", base):
            with httpx.Client(base_url=base, timeout=30) as client:
                assert client.post("/score", json={"lead": bare}).json()["scores"][0]["stage"] == "MQL"  # not watched
                assert client.post("/score", json={"lead": lead}).json()["scores"][0]["stage"] == "SQL"
                assert wait_until(lambda: receiver.received, 10), (tmp_path / "serve.log").read_text()[-3000:]
                payload = receiver.payloads()[0]
                assert (payload["stage"], payload["previous_stage"]) == ("SQL", "MQL")
                sent = receiver.received[0]
                assert signature_matches(SECRET, sent["headers"]["X-Leadscore-Timestamp"], sent["body"],
                                         sent["headers"]["X-Leadscore-Signature"])
                metrics = wait_until(lambda: 'leadscore_webhook_deliveries_total{outcome="delivered"} 1.0'
                                     in client.get("/metrics").text, 5)
                assert metrics, client.get("/metrics").text[-2000:]
        assert "stage rises to SQL are posted to" in (tmp_path / "serve.log").read_text()
    finally:
        receiver.close()


def test_scores_journaled_while_the_database_is_down_are_counted_not_checked(tmp_path):
    from datetime import datetime

    from serving.store import ScoreStore

    class Watch:
        stages = frozenset({"SQL"})
        unchecked = 0

        def rose(self, rises):
            raise AssertionError("a journaled score cannot be compared with the one before")

        def not_checked(self, n):
            self.unchecked += n

    watch = Watch()
    store = ScoreStore(f"sqlite:///{tmp_path / 'store.db'}", flush_seconds=0.02, stage_watch=watch,
                       journal_dir=tmp_path / "journal")
    try:
        store.scores._retry_at = time.monotonic() + 3600  # the database failed a moment ago: batches go to the journal
        store.log_scores([("a", 0.9, "SQL", "1")], datetime(2026, 6, 1), spec="demo", inputs=[('{"x": 1}', None)],
                         watched={"a": {}}).wait()
        assert store.scores.rows_journaled == 1 and watch.unchecked == 1
    finally:
        store.close()
