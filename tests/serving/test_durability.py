"""No lost scores: every score and outcome a client was answered 200 for is in the database
after a SIGKILL of a worker and of the whole server; the workers stop with the server, so the
port is free for the restart; scores wait in the journal while the database cannot take them;
and /outcomes answers known and unknown leads alike (no waiting for other workers' logs)."""

from __future__ import annotations

import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from serving.store import ScoreLogUnavailable, ScoreStore
from tests.serving.conftest import running_service
from tests.serving.test_serve_process import environment, free_port, leadscore_command, wait_until_ready

psutil = pytest.importorskip("psutil")

AS_OF = "2026-05-10T00:00:00Z"
NOW = datetime(2026, 6, 1, 12, 0, 0)


def lead(lead_id: str) -> dict:
    return {"lead_id": lead_id, "industry": "Software", "company_size": "51-200",
            "activities": [{"occurred_at": "2026-05-01T10:00:00Z", "activity_type": "pricing_view"}]}


class Clients:
    """Threads sending /score (one lead, or three) with new ids and, now and then, an outcome
    for a lead just scored; they keep every id answered 200, whatever else happens."""

    def __init__(self, base: str, threads: int = 3):
        self.base = base
        self.scores: set[str] = set()
        self.outcomes: set[str] = set()
        self.requests = self.errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def __enter__(self) -> "Clients":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _run(self, n: int) -> None:
        # a new connection per request: the kernel hands each to either worker
        with httpx.Client(base_url=self.base, timeout=10, headers={"connection": "close"}) as client:
            for i in range(10**9):
                if self._stop.is_set():
                    return
                ids = [f"c{n}-{i}-{k}" for k in range(1 if i % 3 else 3)]
                body = {"lead": lead(ids[0])} if len(ids) == 1 else {"leads": [lead(x) for x in ids]}
                answered = self._post(client, "/score", {**body, "as_of": AS_OF})
                if answered:
                    with self._lock:
                        self.scores.update(a["lead_id"] for a in answered["scores"])
                    if i % 4 == 0:
                        outcome = {"lead_id": ids[0], "outcome": "won", "closed_at": "2026-05-20T00:00:00Z"}
                        if self._post(client, "/outcomes", {"outcomes": [outcome]}):
                            with self._lock:
                                self.outcomes.add(ids[0])

    def _post(self, client: httpx.Client, path: str, body: dict) -> dict | None:
        try:
            response = client.post(path, json=body)
        except httpx.HTTPError:
            response = None
        with self._lock:
            self.requests += 1
            if response is None or response.status_code != 200:
                self.errors += 1
        if response is None:
            time.sleep(0.02)  # the server is gone or restarting
            return None
        return response.json() if response.status_code == 200 else None


def workers_of(process: subprocess.Popen) -> list:
    """The server's worker processes (its descendants running the service)."""
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    workers = []
    for child in children:
        try:
            if "_bentoml_impl.worker" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:  # gone, or a zombie not reaped yet
            pass
    return workers


def start_server(bundle_dir: Path, port: int, env: dict, output: Path) -> subprocess.Popen:
    """`leadscore serve` with 2 workers, its output to a file (a pipe nobody reads while the
    clients run would fill up with the access log and stall the workers)."""
    with output.open("a") as sink:
        return subprocess.Popen([*leadscore_command(), "serve", "--port", str(port), "--host", "127.0.0.1",
                                 "--bundle", str(bundle_dir), "--workers", "2"],
                                env=env, stdout=sink, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def stop_group(process: subprocess.Popen) -> None:
    """Stop what is left of a server's process group."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def test_no_answered_score_or_outcome_is_lost_when_a_worker_and_the_server_are_killed(bundle_dir, tmp_path):
    port, env, output = free_port(), environment(tmp_path), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    server = start_server(bundle_dir, port, env, output)
    restarted = None
    try:
        wait_until_ready(base, server, output)
        first = workers_of(server)
        assert len(first) == 2, first
        with Clients(base) as clients:
            deadline = time.monotonic() + 10
            while len(clients.scores) < 150 and time.monotonic() < deadline:
                time.sleep(0.05)
            first[0].kill()  # SIGKILL a worker in mid-stream
            at_worker_kill = len(clients.scores)
            time.sleep(2.0)
            workers = workers_of(server)  # the survivor, and the worker started in place of the killed one
            server.kill()  # SIGKILL the main process
            at_server_kill = len(clients.scores)
            time.sleep(1.0)
        gone, orphans = psutil.wait_procs(workers, timeout=20)
        for orphan in orphans:  # reported below; killed here so that the restart can be tried
            orphan.kill()
        restarted = start_server(bundle_dir, port, env, output)  # the same port: nobody holds it
        wait_until_ready(base, restarted, output)
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=60)
    finally:
        stop_group(server)
        if restarted is not None:
            stop_group(restarted)
    with sqlite3.connect(tmp_path / "data" / "leadscore.db") as conn:
        logged = {row[0] for row in conn.execute("select lead_id from score_log")}
        recorded = {row[0] for row in conn.execute("select lead_id from outcomes")}
    lost_scores, lost_outcomes = clients.scores - logged, clients.outcomes - recorded
    print(f"\nanswered 200: {len(clients.scores)} scores ({at_worker_kill} before the worker's SIGKILL, "
          f"{at_server_kill} before the server's), {len(clients.outcomes)} outcomes; {clients.requests} requests, "
          f"{clients.errors} not answered 200; {len(gone)} workers stopped with the server, {len(orphans)} did not; "
          f"lost: {len(lost_scores)} scores, {len(lost_outcomes)} outcomes")
    assert at_server_kill > at_worker_kill > 0 and clients.outcomes, "the clients were not served"
    assert not lost_scores, f"{len(lost_scores)} answered scores are not in the log, e.g. {sorted(lost_scores)[:5]}"
    assert not lost_outcomes, f"{len(lost_outcomes)} answered outcomes were lost: {sorted(lost_outcomes)[:5]}"
    assert not orphans, f"workers outlived the server: {[p.pid for p in orphans]}"
    log = output.read_text()
    assert "Traceback" not in log, log[-3000:]


KILLED_WHILE_THE_DATABASE_IS_DOWN = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime
    from sqlalchemy import text
    from serving.store import ScoreStore

    store = ScoreStore(sys.argv[1])
    with store.engine.begin() as conn:  # the database refuses the score log from now on
        conn.execute(text("ALTER TABLE score_log RENAME TO score_log_away"))
    receipt = store.log_scores([("journaled-1", 0.7, "SQL", "1"), ("journaled-2", 0.2, "MQL", "1")],
                               datetime(2026, 6, 1, 12), spec="s", inputs=[('{"a": 1}', None), ('{"a": 2}', None)])
    receipt.wait(30)  # durable: the request would be answered now
    print(store.scores.rows_journaled, flush=True)
    os.write(store.scores.journal._fd, b'{"scores": [["torn", ')  # killed in the middle of the next batch
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_scores_wait_in_the_journal_while_the_database_is_down_and_the_next_start_writes_them(tmp_path):
    """A process answers while its database refuses the log, is killed (in the middle of
    journaling another batch, never answered), and the next process puts the answered scores
    (and the leads' records) in the database."""
    url = f"sqlite:///{tmp_path / 'leadscore.db'}"
    result = subprocess.run([sys.executable, "-c", KILLED_WHILE_THE_DATABASE_IS_DOWN, url],
                            capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[2])
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    assert result.stdout.strip() == "2", result.stderr[-3000:]
    journal = tmp_path / "leadscore-score-journal"
    assert len(list(journal.glob("scores-*.jsonl"))) == 1
    with sqlite3.connect(tmp_path / "leadscore.db") as conn:
        conn.execute("ALTER TABLE score_log_away RENAME TO score_log")  # the database is back
    store = ScoreStore(url, flush_seconds=0.05)
    try:
        deadline = time.monotonic() + 20
        while store.count_scores() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [(r["lead_id"], r["stage"]) for r in store.scores_of("journaled-1")] == [("journaled-1", "SQL")]
        assert store.count_scores() == 2 and store.healthy
        with store.engine.connect() as conn:
            records = conn.execute(text("select lead_id, lead from scored_inputs order by lead_id")).all()
        assert [tuple(r) for r in records] == [("journaled-1", '{"a": 1}'), ("journaled-2", '{"a": 2}')]
        assert not list(journal.glob("scores-*.jsonl"))  # replayed once, then removed
    finally:
        store.close()


def test_a_full_journal_refuses_the_request_instead_of_filling_the_disk(tmp_path):
    store = ScoreStore(f"sqlite:///{tmp_path / 'leadscore.db'}", max_buffered=1_000)
    store.scores.retry_seconds = 0.0  # each batch tries the database again
    try:
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE score_log RENAME TO score_log_away"))
        rows = [(f"L{i}", 0.5, "MQL", "1") for i in range(600)]
        store.log_scores(rows, NOW).wait(30)  # in the journal: 600 of 1,000
        with pytest.raises(ScoreLogUnavailable, match="at most 1,000") as refused:
            store.log_scores(rows, NOW).wait(30)
        assert refused.value.retry_after >= 1 and not store.healthy
        with store.engine.begin() as conn:
            conn.execute(text("ALTER TABLE score_log_away RENAME TO score_log"))
        store.log_scores([("after", 0.5, "MQL", "1")], NOW).wait(30)  # the journal first, then this one
        assert store.count_scores() == 601 and store.healthy
    finally:
        store.close()


def test_known_and_unknown_leads_answer_outcomes_alike(bundle_dir, tmp_path, monkeypatch):
    """With several workers, an unknown lead is refused as soon as a known one is recorded:
    an answered score is in the log already, so nothing waits for another worker's."""
    monkeypatch.setenv("LEADSCORE_WORKERS", "2")
    with running_service(bundle_dir, f"sqlite:///{tmp_path / 'leadscore.db'}") as client:
        assert client.post("/score", json={"lead": lead("known"), "as_of": AS_OF}).status_code == 200
        known = {"outcomes": [{"lead_id": "known", "outcome": "won", "closed_at": "2026-05-20T00:00:00Z"}]}
        unknown = {"outcomes": [{"lead_id": "never-scored", "outcome": "won", "closed_at": "2026-05-20T00:00:00Z"}]}
        times: dict[int, list[float]] = {200: [], 404: []}
        for _ in range(30):  # alternating, so that the machine's load weighs on both alike
            for body in (known, unknown):
                started = time.perf_counter()
                status = client.post("/outcomes", json=body).status_code
                times[status].append(time.perf_counter() - started)
    assert len(times[200]) == len(times[404]) == 30
    known_median, unknown_median = statistics.median(times[200]), statistics.median(times[404])
    assert unknown_median < 2 * known_median, (known_median, unknown_median)


def test_score_answers_503_with_retry_after_once_the_journal_is_full(bundle_dir, tmp_path, monkeypatch):
    """The database refuses the log: scores are answered while they fit in the journal, then
    refused with 503 and Retry-After (never 500); once the database is back they are all logged."""
    monkeypatch.setenv("LEADSCORE_LOG_MAX_BUFFERED", "1000")
    url = f"sqlite:///{tmp_path / 'leadscore.db'}"
    with running_service(bundle_dir, url) as client:
        check = ScoreStore(url, background=False)
        try:
            with check.engine.begin() as conn:
                conn.execute(text("ALTER TABLE score_log RENAME TO score_log_away"))
            first = client.post("/score", json={"leads": [lead(f"a{i}") for i in range(600)], "as_of": AS_OF})
            assert first.status_code == 200, first.text
            refused = client.post("/score", json={"leads": [lead(f"b{i}") for i in range(600)], "as_of": AS_OF})
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) >= 1
            assert refused.json()["detail"][0]["type"] == "score_log_unavailable"
            assert "send the request again" in refused.json()["error"]
            with check.engine.begin() as conn:
                conn.execute(text("ALTER TABLE score_log_away RENAME TO score_log"))
            deadline = time.monotonic() + 20
            while check.count_scores() < 600 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert check.count_scores() == 600  # the first batch, from the journal
            assert client.post("/score", json={"lead": lead("c"), "as_of": AS_OF}).status_code == 200
        finally:
            check.close()
