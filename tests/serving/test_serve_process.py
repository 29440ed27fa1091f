"""`leadscore serve` as a user runs it: a real process on a free port, scored over HTTP, stopped
cleanly; and the refusal to start without a model."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from features.errors import LeadscoreError

STARTUP_SECONDS = 90


def leadscore_command() -> list[str]:
    script = Path(sys.executable).with_name("leadscore")
    return [str(script)] if script.exists() else [sys.executable, "-m", "leadscore.cli"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSCORE_")}
    env.update(LEADSCORE_MODELS_DIR=str(tmp_path / "models"), LEADSCORE_DATA_DIR=str(tmp_path / "data"),
               BENTOML_DO_NOT_TRACK="True", MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'models' / 'mlflow.db'}")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server sets up its own
    return env


def wait_until_ready(base: str, process: subprocess.Popen, output: Path | None = None, path: str = "/readyz") -> None:
    """Until the server (`leadscore serve`, or another on `path`: `mlflow models serve` answers
    /ping) answers 200; its output (the file `output`, else its stdout pipe) in the failure when
    it exits or takes longer than STARTUP_SECONDS."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            said = output.read_text()[-5000:] if output is not None else (
                process.stdout.read() if process.poll() is not None and process.stdout else "")
            raise AssertionError(f"{process.args[:3]} did not become ready (exit code {process.poll()}):\n{said}")
        try:
            if httpx.get(f"{base}{path}", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)


def test_serve_scores_over_http_and_stops_cleanly(bundle_dir, tmp_path):
    """Two workers on one SQLite file: a lead scored by one is known to the other at once."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([*leadscore_command(), "serve", "--port", str(port), "--host", "127.0.0.1",
                                "--bundle", str(bundle_dir), "--workers", "2"],
                               env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        wait_until_ready(base, process)
        lead = {"lead_id": "over-http", "industry": "Software", "company_size": "51-200",
                "activities": [{"occurred_at": "2026-05-01T10:00:00Z", "activity_type": "pricing_view"}]}
        response = httpx.post(f"{base}/score", json={"lead": lead, "as_of": "2026-05-10T00:00:00Z"}, timeout=10)
        assert response.status_code == 200, response.text
        answer = response.json()["scores"][0]
        assert answer["lead_id"] == "over-http" and 0 <= answer["probability"] <= 1
        assert answer["stage"] in ("SQL", "MQL", "not yet") and answer["model_version"] == "test"
        assert httpx.post(f"{base}/score", content=b"{bad", headers={"content-type": "application/json"}, timeout=10).status_code == 400
        outcome = {"lead_id": "over-http", "outcome": "won", "closed_at": "2026-05-20T00:00:00Z"}
        with httpx.Client(base_url=base, timeout=10) as client:  # new connections: either worker
            statuses = [client.post("/outcomes", json={"outcomes": [outcome]}, headers={"connection": "close"})
                        for _ in range(4)]
        assert [r.status_code for r in statuses] == [200] * 4, [r.text for r in statuses]
        assert [r.json()["recorded"] for r in statuses] == [1, 0, 0, 0]
        assert httpx.get(f"{base}/stages", timeout=10).json()["stages"]["sql"]["threshold"] > 0
        assert httpx.get(f"{base}/model", timeout=10).json()["version"] == "test"
        metrics = httpx.get(f"{base}/metrics", timeout=10).text
        assert 'leadscore_leads_scored_total' in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            output, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            raise AssertionError(f"leadscore serve did not stop on SIGTERM:\n{output}")
    assert process.returncode == 0, output
    assert "service stopped" in output
    # The score log was flushed on shutdown.
    with sqlite3.connect(tmp_path / "data" / "leadscore.db") as conn:
        logged = conn.execute("select lead_id, stage, model_version from score_log").fetchall()
        assert ("over-http", answer["stage"], "test") in logged
        assert conn.execute("select outcome from outcomes where lead_id='over-http'").fetchone() == ("won",)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{base}/livez", timeout=2)


def test_serve_refuses_to_start_without_a_model(tmp_path):
    result = subprocess.run([*leadscore_command(), "serve", "--port", str(free_port())],
                            env=environment(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "no champion model: train one with `leadscore train --spec ...`" in result.stderr
    assert not (tmp_path / "models" / "mlflow.db").exists()  # nothing was created to find that out


def test_serve_refuses_a_folder_that_is_not_a_bundle(tmp_path):
    result = subprocess.run([*leadscore_command(), "serve", "--bundle", str(tmp_path)],
                            env=environment(tmp_path), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "not a model bundle" in result.stderr


@pytest.mark.parametrize("damage", ["booster cut short", "spec not YAML", "transform not JSON"])
def test_serve_refuses_a_damaged_bundle_with_one_line_naming_it(bundle_dir, tmp_path, damage):
    """The bundle is loaded in a child process (leadscore.jobs.serve_check): whatever breaks
    there, even LightGBM aborting that process on a model file cut short, is one `error:` line
    naming the bundle, exit code 1, and no worker is started."""
    bundle = shutil.copytree(bundle_dir, tmp_path / "damaged")
    if damage == "booster cut short":
        text = (bundle / "booster.txt").read_bytes()
        (bundle / "booster.txt").write_bytes(text[: len(text) // 3])
    elif damage == "spec not YAML":
        (bundle / "spec.yaml").write_text("leads: [\n")
    else:
        (bundle / "transform.json").write_text("{")
    result = subprocess.run([*leadscore_command(), "serve", "--bundle", str(bundle), "--port", str(free_port())],
                            env=environment(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(bundle) in errors[0] and "re-export it" in errors[0], result.stderr
    assert "Traceback" not in result.stderr and "serving " not in result.stdout  # it never said it serves


def test_the_exported_champion_is_served_by_default(bundle_dir, tmp_path):
    from leadscore.jobs.serve import prepare, resolve_bundle
    from leadscore.settings import Settings

    settings = Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data", database_url=None,
                        tracking_uri=f"sqlite:///{tmp_path / 'models' / 'mlflow.db'}")
    with pytest.raises(LeadscoreError, match="no champion model"):
        resolve_bundle(settings)
    champion = settings.bundles_dir / "demo-crm" / "champion"  # each spec has its own champion
    shutil.copytree(bundle_dir, champion)
    assert resolve_bundle(settings) == champion  # the only one: no --spec needed
    assert resolve_bundle(settings, spec="demo-crm") == champion
    shutil.copytree(bundle_dir, settings.bundles_dir / "other-crm" / "champion")
    with pytest.raises(LeadscoreError, match="leadscore-demo-crm, leadscore-other-crm; say which with --spec"):
        resolve_bundle(settings)
    check, env = prepare(settings, None, workers=2, spec="leadscore-demo-crm")
    with check:
        assert check.result().version == "test" and env["LEADSCORE_WORKERS"] == "2"
    assert env["LEADSCORE_BUNDLE"] == str(champion.resolve())
    assert (tmp_path / "data" / "leadscore.db").exists()  # tables are created before the workers start


def test_a_busy_port_is_refused_before_starting(tmp_path):
    from leadscore.jobs.serve import check_port

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(LeadscoreError, match="pass --port"):
            check_port("127.0.0.1", busy.getsockname()[1])


def test_the_service_listens_on_this_machine_only_unless_told(bundle_dir, tmp_path):
    """No --host: it listens on 127.0.0.1 and says so; a non-loopback address is accepted only
    with a warning that the service has no API keys yet."""
    from leadscore.jobs.serve import is_loopback

    port = free_port()
    process = subprocess.Popen([*leadscore_command(), "serve", "--port", str(port), "--bundle", str(bundle_dir)],
                               env=environment(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=60)[0]
    assert f"on http://127.0.0.1:{port} with 1 worker" in output and "warning" not in output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("10.0.0.5")


def test_a_worker_imports_lightgbm_without_scikit_learn_and_scores_the_same(bundle_dir):
    """serving.runtime.import_lightgbm_for_scoring, in a fresh process as a worker calls it:
    scikit-learn is not imported with LightGBM, imports normally afterwards, and the bundle's
    booster gives the same raw scores as in this process (LightGBM imported the usual way)."""
    import lightgbm
    import numpy as np

    script = (
        "import sys, json, numpy as np\n"
        "from serving.runtime import import_lightgbm_for_scoring\n"
        "assert import_lightgbm_for_scoring() is True\n"
        "assert 'sklearn' not in sys.modules\n"
        "import lightgbm\n"
        f"booster = lightgbm.Booster(model_file={str(bundle_dir / 'booster.txt')!r})\n"
        "X = np.linspace(-3, 50, 40 * booster.num_feature()).reshape(40, -1)\n"
        "raw = booster.predict(X, raw_score=True).tolist()\n"
        "import sklearn.metrics\n"  # still importable, for the report's ROC-AUC
        "print(json.dumps(raw))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    booster = lightgbm.Booster(model_file=str(bundle_dir / "booster.txt"))
    X = np.linspace(-3, 50, 40 * booster.num_feature()).reshape(40, -1)
    import json

    assert json.loads(result.stdout.strip().splitlines()[-1]) == booster.predict(X, raw_score=True).tolist()
