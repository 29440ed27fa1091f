"""API keys as an operator and a salesperson meet them: made and revoked with `leadscore keys`,
asked for by every route once one exists, scopes that hold, the pages' key form, the same cost
whether a key exists or not, and no listening beyond this machine without keys."""

from __future__ import annotations

import statistics
import subprocess
import time
from datetime import datetime

import pytest
from typer.testing import CliRunner

from features.errors import LeadscoreError
from serving.keys import KeyRing, StoredKey, new_key
from tests.serving.conftest import LOCAL_BASE, running_service
from tests.serving.test_serve_process import environment, free_port, leadscore_command

NOW = datetime(2026, 11, 30, 12)


def _settings_env(monkeypatch, tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'data' / 'leadscore.db'}"
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", url)
    return url


def _create(url: str, name: str, scope: str) -> str:
    from serving.store import create_tables, make_engine
    from serving.store.api_keys import create_key

    engine = make_engine(url)
    create_tables(engine)
    try:
        return create_key(engine, name, scope, NOW)[0].token
    finally:
        engine.dispose()


def test_keys_are_made_listed_and_revoked_and_only_their_hash_is_kept(monkeypatch, tmp_path):
    from leadscore.cli import app

    url = _settings_env(monkeypatch, tmp_path)
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "create", "--name", "crm", "--scope", "outcomes"])
    assert made.exit_code == 0, made.output
    token = next(line for line in made.output.splitlines() if line.startswith("lsk_"))
    secret = token.split("_", 2)[2]
    database = (tmp_path / "data" / "leadscore.db").read_bytes()
    assert secret.encode() not in database and token.encode() not in database

    again = runner.invoke(app, ["keys", "create", "--name", "crm"])
    assert again.exit_code == 1 and "already named 'crm'" in again.output
    bad = runner.invoke(app, ["keys", "create", "--name", "x", "--scope", "root"])
    assert bad.exit_code == 2
    for confusing in ("lsk_crm", "d05c35f38c9f"):  # a name `keys revoke` could not tell from a key or an id
        assert runner.invoke(app, ["keys", "create", "--name", confusing]).exit_code == 1, confusing

    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and "crm" in listed.output and "outcomes" in listed.output
    assert secret not in listed.output

    revoked = runner.invoke(app, ["keys", "revoke", "crm"])
    assert revoked.exit_code == 0, revoked.output
    assert runner.invoke(app, ["keys", "revoke", "crm"]).exit_code == 1  # no valid key of that name left
    from serving.store import make_engine
    from serving.store.api_keys import read_keys

    engine = make_engine(url)
    keys = read_keys(engine)
    engine.dispose()
    assert len(keys) == 1 and keys[0].revoked_at is not None
    assert KeyRing(keys).required  # revoking the last key keeps keys asked for
    assert KeyRing(keys).check(token, "score").status == 401


def test_every_route_but_health_asks_for_a_key_once_one_exists(bundle_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    scorer_key = _create(url, "website", "score")
    recorder_key = _create(url, "crm", "outcomes")
    lead = {"lead": {"lead_id": "K-1"}}
    with running_service(bundle_dir, url) as client:
        for path in ("/livez", "/readyz", "/metrics", "/docs.json"):
            assert client.get(path).status_code == 200, path

        anonymous = client.post("/score", json=lead)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert "leadscore keys create" in anonymous.json()["error"]
        for path in ("/stages", "/model", "/report"):
            assert client.get(path).status_code == 401, path
        assert client.post("/score", json=lead, headers={"Authorization": "Bearer lsk_000000000000_nope"}
                           ).status_code == 401
        assert client.post("/score", json=lead, headers={"Authorization": f"Basic {scorer_key}"}).status_code == 401

        assert client.post("/score", json=lead, headers={"Authorization": f"Bearer {scorer_key}"}).status_code == 200
        assert client.post("/score", json=lead, headers={"X-API-Key": recorder_key}).status_code == 200
        outcome = {"outcomes": [{"lead_id": "K-1", "outcome": "won", "closed_at": "2026-01-05T00:00:00Z"}]}
        narrow = client.post("/outcomes", json=outcome, headers={"X-API-Key": scorer_key})
        assert narrow.status_code == 403 and "outcomes" in narrow.json()["error"]
        assert client.post("/outcomes", json=outcome, headers={"X-API-Key": recorder_key}).status_code == 200

        # a page on another site posting text through a salesperson's browser: no key, refused;
        # with the salesperson's key in the cookie, still refused (JSON only)
        cross_site = {"content-type": "text/plain"}
        assert client.post("/outcomes", content=b'{"outcomes": []}', headers=cross_site).status_code == 401
        client.cookies.set("leadscore_key", recorder_key)
        assert client.post("/outcomes", content=b'{"outcomes": []}', headers=cross_site).status_code == 415
        client.cookies.clear()

        from serving.auth import key_watch
        from serving.store import make_engine
        from serving.store.api_keys import revoke_key

        engine = make_engine(url)
        revoke_key(engine, "crm", NOW)
        engine.dispose()
        key_watch().refresh()  # what the worker's refresh thread does every few seconds
        assert client.post("/score", json=lead, headers={"X-API-Key": recorder_key}).status_code == 401
        assert client.post("/score", json=lead, headers={"X-API-Key": scorer_key}).status_code == 200


def test_the_pages_ask_for_the_key_once_and_keep_it_in_the_browser(bundle_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    scorer_key = _create(url, "sales-pages", "score")
    with running_service(bundle_dir, url) as client:
        client.post("/score", json={"lead": {"lead_id": "P-1"}}, headers={"X-API-Key": scorer_key})
        asked = client.get("/ui/lead?id=P-1&lang=it", follow_redirects=False)
        assert asked.status_code == 303
        form = client.get(asked.headers["location"])
        assert form.status_code == 200 and 'name="key"' in form.text and "/ui/lead?id=P-1" in form.text

        wrong = client.post("/ui/key", data={"key": "lsk_123456789012_wrong", "next": "/ui/lead?id=P-1"},
                            follow_redirects=False)
        assert wrong.status_code == 401 and "leadscore_key" not in wrong.headers.get("set-cookie", "")
        other_site = client.post("/ui/key", data={"key": scorer_key}, headers={"Origin": "https://evil.example"},
                                 follow_redirects=False)
        assert other_site.status_code == 403

        taken = client.post("/ui/key", data={"key": scorer_key, "next": "/ui/lead?id=P-1"}, follow_redirects=False)
        assert taken.status_code == 303 and taken.headers["location"] == "/ui/lead?id=P-1"
        cookie = taken.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        page = client.get("/ui/lead?id=P-1")
        assert page.status_code == 200 and "sales-pages" in page.text
        assert 'data-outcome="won"' not in page.text  # a score key cannot record: no buttons offered

        for elsewhere in ("https://evil.example/", "//evil.example/ui/leads", "/\\evil.example"):
            away = client.post("/ui/key", data={"key": scorer_key, "next": elsewhere}, follow_redirects=False)
            assert away.headers["location"] == "/ui/leads", elsewhere

        forgot = client.post("/ui/key", data={"forget": "1"}, follow_redirects=False)
        assert forgot.status_code == 303
        client.cookies.clear()
        assert client.get("/ui/leads", follow_redirects=False).status_code == 303


def _median_seconds(check, cases: dict[str, tuple], repeats: int = 41) -> dict[str, float]:
    """Median time of `check(token, needed)` per case, the cases taking turns (so that the
    machine's load changing during the test weighs on every case alike)."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, (token, needed, _status) in cases.items():
            start = time.perf_counter()
            check(token, needed)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(taken) for name, taken in times.items()}


def test_an_unknown_key_costs_what_a_known_one_costs():
    """401 for an unknown id, a wrong secret or a revoked key, 403 for a narrow scope: one hash
    each, so the time does not tell whether a key id exists."""
    made = new_key()
    valid = StoredKey(made.key_id, "crm", "score", made.salt, made.secret_hash, made.iterations, NOW)
    gone = new_key()
    revoked = StoredKey(gone.key_id, "old", "admin", gone.salt, gone.secret_hash, gone.iterations, NOW, NOW)
    ring = KeyRing([valid, revoked])
    cases = {
        "unknown id": (f"lsk_{'f' * 12}_{made.token.split('_', 2)[2]}", "score", 401),
        "known id, wrong secret": (f"lsk_{made.key_id}_not-the-secret", "score", 401),
        "revoked": (gone.token, "score", 401),
        "narrow scope": (made.token, "outcomes", 403),
        "malformed": ("hello", "score", 401),
    }
    for name, (token, needed, status) in cases.items():
        assert ring.check(token, needed).status == status, name
    medians = _median_seconds(ring.check, cases)
    fastest, slowest = min(medians.values()), max(medians.values())
    assert slowest < fastest * 1.5, medians
    assert ring.remembered(made.token, "score").status == 200  # a key that checked out is not hashed again


def test_the_service_listens_beyond_this_machine_only_with_keys(bundle_dir, tmp_path):
    from leadscore.jobs.serve import check_exposure

    port = free_port()
    env = environment(tmp_path)
    refused = subprocess.run([*leadscore_command(), "serve", "--host", "0.0.0.0", "--port", str(port),
                              "--bundle", str(bundle_dir)], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1
    assert "leadscore keys create" in refused.stderr and "--insecure-no-auth" in refused.stderr
    assert "warning" in (check_exposure("0.0.0.0", keys=False, insecure_no_auth=True) or "")
    assert check_exposure("0.0.0.0", keys=True, insecure_no_auth=False) is None
    assert check_exposure("127.0.0.1", keys=False, insecure_no_auth=False) is None
    with pytest.raises(LeadscoreError, match="no API keys"):
        check_exposure("::", keys=False, insecure_no_auth=False)


def test_without_keys_only_requests_addressed_to_this_machine_are_taken(bundle_dir, tmp_path, monkeypatch):
    """DNS rebinding: a web page whose own name now points at 127.0.0.1 is same-origin with the
    service and may send JSON; it cannot make its Host header say localhost."""
    from leadscore.jobs.serve import check_port

    url = f"sqlite:///{tmp_path / 'open.db'}"
    lead = {"lead": {"lead_id": "H-1"}}
    with running_service(bundle_dir, url) as client:
        rebound = client.post("/score", json=lead, headers={"Host": "attacker.example:3000"})
        assert rebound.status_code == 403 and "DNS rebinding" in rebound.json()["error"]
        assert client.get("/ui/leads", headers={"Host": "attacker.example"}).status_code == 403
        for here in ("localhost:3000", "127.0.0.1:3000", "[::1]:3000", "127.0.0.1"):
            assert client.post("/score", json=lead, headers={"Host": here}).status_code == 200, here
        _create(url, "crm", "score")
        from serving.auth import key_watch

        key_watch().refresh()
        # with keys the key decides, whatever the name the service is reached by
        assert client.post("/score", json=lead, headers={"Host": "leads.example.com"}).status_code == 401
    with pytest.raises(LeadscoreError, match="cannot be listened on"):
        check_port("192.0.2.1", free_port())  # an address of another machine (TEST-NET-1)
    import socket

    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return  # this machine has no IPv6 loopback
    check_port("::1", free_port())  # IPv6 is probed as IPv6


FAR = ("203.0.113.9", 1234)
"""A client address of another machine (TEST-NET-3)."""


def _from(client, address: tuple[str, int]):
    """A test client of the same running service whose requests come from `address` (the ASGI
    scope's `client`, as the server sets it from the connection)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        other = TestClient(client.app, client=address, base_url=LOCAL_BASE, raise_server_exceptions=False)
    other.portal = client.portal  # the running service's event loop
    return other


def test_without_keys_other_machines_are_refused_unless_the_operator_says_so(bundle_dir, tmp_path, monkeypatch):
    """A service started any way at all (`bentoml serve <bento>` listens on 0.0.0.0) answers only
    this machine while no key exists; health, metrics and the docs stay open."""
    url = f"sqlite:///{tmp_path / 'open.db'}"
    lead = {"lead": {"lead_id": "N-1"}}
    with running_service(bundle_dir, url) as client:
        far = _from(client, FAR)
        refused = far.post("/score", json=lead)
        assert refused.status_code == 403
        said = refused.json()
        assert "leadscore keys create" in said["error"] and "LEADSCORE_INSECURE_NO_AUTH=true" in said["error"]
        assert said["detail"][0]["loc"] == ["client"] and said["error"].startswith("client: ")
        assert far.get("/report").status_code == 403 and far.get("/ui/leads").status_code == 403
        assert _from(client, ("::ffff:203.0.113.9", 1234)).get("/stages").status_code == 403  # IPv4 as IPv6
        for path in ("/livez", "/readyz", "/metrics", "/docs.json", "/"):
            assert far.get(path).status_code == 200, path
        for here in (("127.0.0.1", 50000), ("::1", 50000), ("::ffff:127.0.0.1", 50000)):
            assert _from(client, here).post("/score", json=lead).status_code == 200, here
        assert client.post("/score", json=lead).status_code == 200  # in-process: no network address

        key = _create(url, "crm", "score")
        from serving.auth import key_watch

        key_watch().refresh()
        anonymous = far.post("/score", json=lead)  # with keys the key decides, wherever the request is from
        assert anonymous.status_code == 401 and anonymous.json()["detail"][0]["loc"] == ["header", "Authorization"]
        assert anonymous.json()["error"].startswith("header.Authorization: no valid API key")
        assert far.post("/score", json=lead, headers={"Authorization": f"Bearer {key}"}).status_code == 200

    monkeypatch.setenv("LEADSCORE_INSECURE_NO_AUTH", "true")  # as `leadscore serve --insecure-no-auth` sets it
    with running_service(bundle_dir, f"sqlite:///{tmp_path / 'insecure.db'}") as client:
        assert _from(client, FAR).post("/score", json=lead).status_code == 200


def test_the_insecure_setting_is_true_or_false_and_absent_means_closed():
    from serving.auth import from_this_machine, insecure_no_auth
    from serving.config import ConfigError, ServiceConfig

    assert insecure_no_auth({}) is False and insecure_no_auth({"LEADSCORE_INSECURE_NO_AUTH": ""}) is False
    for value, meant in (("true", True), ("1", True), ("False", False), ("no", False)):
        assert insecure_no_auth({"LEADSCORE_INSECURE_NO_AUTH": value}) is meant, value
        assert ServiceConfig(bundle="b", insecure_no_auth=value).insecure_no_auth is meant, value  # the same rule
    with pytest.raises(ConfigError, match="LEADSCORE_INSECURE_NO_AUTH"):
        insecure_no_auth({"LEADSCORE_INSECURE_NO_AUTH": "sure"})
    assert from_this_machine(None) and from_this_machine(("127.0.0.2", 1)) and from_this_machine(("::1", 1))
    assert not from_this_machine(("10.0.0.7", 1)) and not from_this_machine(("2001:db8::1", 1))


def test_insecure_no_auth_lets_other_machines_in(bundle_dir, tmp_path):
    """`leadscore serve --insecure-no-auth` tells its workers (LEADSCORE_INSECURE_NO_AUTH), so a
    request over the machine's network address is answered without a key."""
    import httpx

    from tests.serving.live_service import server_process
    from tests.serving.test_bento import machine_address

    address = machine_address()
    if address is None:
        pytest.skip("this machine has no network address but loopback")
    port = free_port()
    command = [*leadscore_command(), "serve", "--host", address, "--port", str(port), "--bundle", str(bundle_dir),
               "--insecure-no-auth"]
    base = f"http://{address}:{port}"
    with server_process(command, environment(tmp_path), tmp_path / "serve.log", base), \
            httpx.Client(trust_env=False, timeout=30) as http:
        answer = http.post(f"{base}/score", json={"lead": {"lead_id": "I-1"}})
        assert answer.status_code == 200, answer.text
    assert "warning" in (tmp_path / "serve.log").read_text()
