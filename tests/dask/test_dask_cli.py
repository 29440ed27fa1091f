"""`--dask` on the command line: what it refuses, `validate --dask` printing the one-machine
report, and Dask never imported without it."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import DEMO_SPEC, ROOT

pytestmark = pytest.mark.dask


def invoke(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_an_empty_address_is_refused(small_demo_crm, tmp_path):
    result = invoke("validate", "--spec", str(DEMO_SPEC), "--data", str(small_demo_crm), "--dask", "")
    assert result.exit_code == 1 and "--dask is empty" in result.output
    result = invoke("validate", "--spec", str(DEMO_SPEC), "--data", str(small_demo_crm),
                    env={"LEADSCORE_DASK_ADDRESS": " "})
    assert result.exit_code == 1 and "LEADSCORE_DASK_ADDRESS is empty" in result.output


def test_an_address_where_no_scheduler_answers_is_refused_naming_it(small_demo_crm, monkeypatch):
    import leadscore.cluster

    monkeypatch.setattr(leadscore.cluster, "CONNECT_TIMEOUT_S", 2)
    result = invoke("validate", "--spec", str(DEMO_SPEC), "--data", str(small_demo_crm), "--dask", "tcp://127.0.0.1:9")
    assert result.exit_code == 1
    assert "--dask tcp://127.0.0.1:9: no Dask scheduler answered" in result.output.replace("\n", " ")


def test_a_server_that_is_not_a_scheduler_is_refused_not_waited_on(small_demo_crm, monkeypatch):
    """An HTTP-like server that accepts and never answers (e.g. the dashboard's port given for
    the scheduler's) made the command wait forever; a malformed address is named as such."""
    import socket
    import threading

    import leadscore.cluster

    monkeypatch.setattr(leadscore.cluster, "CONNECT_TIMEOUT_S", 2)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    try:
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        result = invoke("validate", "--spec", str(DEMO_SPEC), "--data", str(small_demo_crm), "--dask", address)
    finally:
        server.close()
    assert result.exit_code == 1
    assert f"--dask {address}: something accepted the connection but did not answer as a Dask scheduler" in \
        result.output.replace("\n", " ")
    result = invoke("validate", "--spec", str(DEMO_SPEC), "--data", str(small_demo_crm), "--dask", "schedulerhost")
    assert result.exit_code == 1 and "not a scheduler address" in result.output.replace("\n", " ")


def test_score_on_a_cluster_refuses_what_it_cannot_do(small_demo_crm, bundle_dir, tmp_path):
    common = ["score", "--spec", str(DEMO_SPEC), str(small_demo_crm / "leads.parquet")]
    result = invoke(*common, str(tmp_path / "scores"), "--bundle", str(bundle_dir), "--dask", "local")
    assert result.exit_code == 1 and "--dask does not write the score log" in result.output and "--no-log" in result.output
    result = invoke(*common, str(tmp_path / "scores.csv"), "--no-log", "--dask", "local")
    assert result.exit_code == 1 and "a folder of Parquet files" in result.output
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_validate_on_a_cluster_prints_the_one_machine_report(cluster, partitioned_crm, small_demo_crm, tmp_path):
    common = ["validate", "--spec", str(DEMO_SPEC), "--no-profile", "--format", "json", "--docs", str(tmp_path)]
    single = invoke(*common, "--data", str(small_demo_crm))
    mine = invoke(*common, "--data", str(partitioned_crm), "--dask", cluster)
    assert (mine.exit_code, single.exit_code) == (0, 0), mine.output
    facts, theirs = json.loads(mine.stdout), json.loads(single.stdout)
    for key in ("success", "checked", "rows", "failures", "notes", "cleaning", "conclusion"):
        assert facts[key] == theirs[key], key


def test_without_dask_nothing_imports_it(small_demo_crm, bundle_dir, tmp_path):
    """A command run without --dask leaves Dask out of the process (it is an optional install).
    It scores a few of the CRM's leads: what it imports does not depend on how many."""
    pd.read_parquet(small_demo_crm / "leads.parquet").head(50).to_parquet(tmp_path / "leads.parquet", index=False)
    code = f"""
import sys
from typer.testing import CliRunner
from leadscore.cli import app
result = CliRunner().invoke(app, ["score", "--spec", r"{DEMO_SPEC}", r"{tmp_path / 'leads.parquet'}",
                                  r"{tmp_path / 'scores.parquet'}", "--bundle", r"{bundle_dir}", "--no-log",
                                  "--no-progress", "--activities", r"{small_demo_crm / 'activities.parquet'}"])
assert result.exit_code == 0, result.output
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
print("LOADED", loaded)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LOADED []" in done.stdout


def test_a_cluster_without_workers_is_given_up_on_naming_it(small_demo_crm, monkeypatch):
    """Every worker gone (killed mid-run): the tasks waited for one forever."""
    import leadscore.cluster

    distributed = pytest.importorskip("distributed")
    monkeypatch.setattr(leadscore.cluster, "NO_WORKERS_S", 3)
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as empty:
        result = invoke("validate", "--spec", str(DEMO_SPEC), "--data", str(small_demo_crm), "--dask",
                        empty.scheduler_address)
    said = result.output.replace("\n", " ")
    assert result.exit_code == 1 and "the cluster has had no worker for 3 s" in said, said


def test_work_the_cluster_lost_is_a_message_naming_it():
    """A worker killed mid-fit ended `train --dask` in a 60-line traceback."""
    from features.errors import LeadscoreError
    from leadscore.cluster import connect

    distributed = pytest.importorskip("distributed")
    with pytest.raises(LeadscoreError) as err:
        with connect("local"):
            raise distributed.client.FutureCancelledError("fit-1", reason="already forgotten")
    assert str(err.value).startswith("--dask local: the cluster lost work in progress (FutureCancelledError")
    assert "run the command again" in str(err.value)
