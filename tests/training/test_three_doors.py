"""One model, three doors, identical answers: the same 200 leads, with their activities and
one as-of moment, scored by `leadscore serve` (POST /score), by the registered MLflow model
(`mlflow.pyfunc.load_model("models:/leadscore-<spec>@champion")`) and by `leadscore score`
get the same probabilities and stages."""

from __future__ import annotations

import copy

import pandas as pd
import pytest

from tests.conftest import DEMO_SPEC, scratch_workspace
from tests.serving.conftest import api_leads, running_service

AS_OF = "2026-06-01T00:00:00Z"
LEADS = 200


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, empty_mlflow_db, demo_crm_dir):
    """A champion of demo-crm trained and registered by `leadscore train` in a scratch registry:
    (folder, training config file, get_settings, TrainOutcome)."""
    from leadscore.jobs.train import run_train
    from leadscore.settings import get_settings

    tmp_path = tmp_path_factory.mktemp("registered")
    with pytest.MonkeyPatch.context() as mp:
        config = scratch_workspace(tmp_path, mp, empty_mlflow_db)
        outcome = run_train(DEMO_SPEC, config, data=demo_crm_dir, show_progress=False)
        yield tmp_path, config, get_settings, outcome


def batch_files(leads: list[dict], folder) -> tuple:
    """The same leads as a leads file and an activities file, as `leadscore score` reads them."""
    table = pd.DataFrame([{k: v for k, v in lead.items() if k != "activities"} for lead in leads])
    table["created_at"] = pd.to_datetime(table["created_at"])
    acts = pd.DataFrame([{"lead_id": lead["lead_id"], **a} for lead in leads for a in lead["activities"]])
    acts["occurred_at"] = pd.to_datetime(acts["occurred_at"])
    table.to_parquet(folder / "leads.parquet", index=False)
    acts.to_parquet(folder / "activities.parquet", index=False)
    return folder / "leads.parquet", folder / "activities.parquet"


def test_serve_mlflow_model_and_batch_give_identical_answers(workspace, demo_crm_dir):
    tmp, config, get_settings, _ = workspace
    from leadscore.jobs.score import run_score
    from mlflow.types.schema import Array, DataType

    from training.registry import Registry

    settings = get_settings()
    champion_bundle = settings.champion_bundle_dir("demo-crm")  # what `leadscore serve` serves
    assert (champion_bundle / "bundle.json").is_file()
    leads = api_leads(demo_crm_dir, AS_OF, LEADS, last=None, values=True)
    assert len(leads) == LEADS and sum(bool(lead["activities"]) for lead in leads) > LEADS // 2

    # door 1: leadscore serve
    with running_service(champion_bundle, f"sqlite:///{tmp / 'serve.db'}") as client:
        response = client.post("/score", json={"leads": copy.deepcopy(leads), "as_of": AS_OF})
    assert response.status_code == 200, response.text
    served = pd.DataFrame(response.json()["scores"])

    # door 2: the registered MLflow model, loaded by its alias
    mlflow = Registry.from_settings(settings).mlflow
    model = mlflow.pyfunc.load_model("models:/leadscore-demo-crm@champion")
    inputs = model.metadata.get_input_schema()
    assert {"activities", "as_of"} <= set(inputs.input_names())
    types = {c.name: c.type for c in inputs.inputs}
    assert types["employee_count"] == DataType.double and isinstance(types["activities"], Array)
    frame = pd.DataFrame(copy.deepcopy(leads)).assign(as_of=AS_OF)
    from_mlflow = model.predict(frame)
    assert list(from_mlflow.columns[:4]) == ["lead_id", "probability", "score", "stage"]
    bare = model.predict(frame.drop(columns=["activities"]), params={"reasons": 0})
    assert (bare["probability"] != from_mlflow["probability"]).sum() > LEADS // 2  # activities are read
    with pytest.raises(Exception, match="as_of"):  # refused as /score refuses it, naming the field
        model.predict(frame.head(1).assign(as_of="31/02/2026"))
    as_params = model.predict(frame.drop(columns=["as_of"]), params={"as_of": AS_OF, "reasons": 0})

    # door 3: leadscore score
    leads_file, activities_file = batch_files(leads, tmp)
    run_score(DEMO_SPEC, leads_file, tmp / "scores.csv", bundle=champion_bundle, as_of=AS_OF,
              activities=activities_file, settings=settings, show_progress=False, log=False)
    batch = pd.read_csv(tmp / "scores.csv", dtype={"lead_id": str})

    ids = [lead["lead_id"] for lead in leads]
    for door in (served, from_mlflow, as_params, batch):
        assert door["lead_id"].astype(str).tolist() == ids
    assert served["probability"].tolist() == from_mlflow["probability"].tolist() == batch["probability"].tolist() \
        == as_params["probability"].tolist()
    assert served["stage"].tolist() == from_mlflow["stage"].tolist() == batch["stage"].tolist()
    assert served["score"].tolist() == from_mlflow["score"].tolist() == batch["score"].tolist()
    assert served["reasons_for"].tolist() == from_mlflow["reasons_for"].map(list).tolist()
    assert served["stage"].nunique() > 1  # more than one stage: the thresholds are exercised too


# ------------------------------------------------------------------------------ the model as MLflow users use it
MODEL_URI = "models:/leadscore-demo-crm@champion"
RUN_IN_BARE_PYTHON = r"""
import ast, importlib.metadata, importlib.util, json, os, sys
assert importlib.util.find_spec("serving") is None and importlib.util.find_spec("features") is None
import mlflow.pyfunc, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
leads = pd.read_json(sys.argv[2], orient="records", dtype=False)
answers = model.predict(leads, params={"as_of": sys.argv[3], "reasons": 3})
code = os.path.join(sys.argv[1], "code")
ours = [m.__file__ for m in list(sys.modules.values()) if (getattr(m, "__file__", None) or "").startswith(code)]
names, seen = set(), set()  # what the model's code can import: its loaded files, and every project
while ours:                 # file they import, even inside a function these answers did not call
    path = ours.pop()
    if path in seen:
        continue
    seen.add(path)
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:  # `from features import x`: x may be a module
            modules = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for module in modules:
            names.add(module.split(".")[0])
            if module.split(".")[0] in ("features", "serving"):
                base = os.path.join(code, *module.split("."))
                ours += [f for f in (base + ".py", os.path.join(base, "__init__.py")) if os.path.exists(f)]
found = importlib.metadata.packages_distributions()
imported = names - set(sys.stdlib_module_names) - {"features", "serving"}
print(json.dumps({"answers": json.loads(answers.to_json(orient="records")),
                  "code_from": sorted({sys.modules[p].__file__.rsplit("/", 3)[-3] for p in ("serving", "features")}),
                  "distributions": sorted({d for top in imported for d in found.get(top, [top])})}))
"""


def requirement_closure(requirements: list[str]) -> set[str]:
    """The distributions that installing `requirements` brings: each and its dependencies, as
    installed here (normalised names)."""
    import re
    from importlib import metadata

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    todo = [re.split(r"[\s;<>=!~\[]", r, maxsplit=1)[0] for r in requirements]
    seen: set[str] = set()
    while todo:
        name = norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [re.split(r"[\s;<>=!~\[(]", n, maxsplit=1)[0] for n in needs if "extra ==" not in n]
    return seen


def test_the_registered_model_carries_its_code_and_requirements(workspace, demo_crm_dir, tmp_path):
    """Loaded by a Python where leadscore is not installed (site-packages without its .pth
    files), the model runs the code logged with it, answers as in this process, and what that
    code imports is installed by the model's requirements: every import in the files it loaded,
    not only those these answers reached (Babel, imported by a reason naming the month a lead
    was created, was missing from the requirements of a model that gave such reasons)."""
    import json
    import re
    import subprocess
    import sys
    import sysconfig

    from training.registry import Registry

    _, _, get_settings, _ = workspace
    mlflow = Registry.from_settings(get_settings()).mlflow
    local = mlflow.artifacts.download_artifacts(MODEL_URI, dst_path=str(tmp_path / "model"))
    requirements = (tmp_path / "model" / "requirements.txt").read_text().split()
    assert not [r for r in requirements if r.startswith("leadscore")]  # not on the package registry
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][^=]*", r) for r in requirements), requirements  # pinned

    leads = api_leads(demo_crm_dir, AS_OF, 20, last=None, values=True)
    (tmp_path / "leads.json").write_text(json.dumps(leads))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": sysconfig.get_paths()["purelib"], "HOME": str(tmp_path),
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    done = subprocess.run([sys.executable, "-S", "-c", RUN_IN_BARE_PYTHON, local, str(tmp_path / "leads.json"),
                           AS_OF], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    bare = json.loads(done.stdout.strip().splitlines()[-1])
    assert bare["code_from"] == ["code"]  # serving and features came from the model's own folder

    here = mlflow.pyfunc.load_model(MODEL_URI).predict(pd.DataFrame(leads), params={"as_of": AS_OF, "reasons": 3})
    assert [a["probability"] for a in bare["answers"]] == here["probability"].tolist()
    assert [a["stage"] for a in bare["answers"]] == here["stage"].tolist()
    installed = requirement_closure(requirements)
    missing = {d for d in bare["distributions"] if re.sub(r"[-_.]+", "-", d).lower() not in installed}
    assert not missing, f"imported by the model but not brought by its requirements: {missing}"


def test_mlflow_models_serve_answers_as_the_model(workspace, demo_crm_dir, tmp_path):
    """`mlflow models serve -m models:/leadscore-demo-crm@champion --env-manager local` answers
    /invocations with leads and their activities as the loaded model does."""
    import os
    import sys
    from pathlib import Path

    import httpx

    from tests.serving.live_service import server_process
    from tests.serving.test_serve_process import free_port
    from training.registry import Registry

    _, _, get_settings, _ = workspace
    settings = get_settings()
    port = free_port()
    bin_dir = Path(sys.executable).parent  # as in an activated virtual environment (it runs uvicorn)
    env = {**os.environ, "MLFLOW_TRACKING_URI": settings.resolved_tracking_uri,
           "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", MODEL_URI, "--env-manager", "local", "--port",
               str(port), "--host", "127.0.0.1"]
    base = f"http://127.0.0.1:{port}"
    with server_process(command, env, tmp_path / "serve.log", base, ready_path="/ping"):
        leads = api_leads(demo_crm_dir, AS_OF, 30, last=None, values=True)
        response = httpx.post(f"{base}/invocations", timeout=60,
                              json={"dataframe_records": leads, "params": {"as_of": AS_OF}})
        assert response.status_code == 200, response.text
        served = pd.DataFrame(response.json()["predictions"])
        bad = httpx.post(f"{base}/invocations", timeout=60,
                         json={"dataframe_records": leads[:1], "params": {"as_of": "31/02/2026"}})
    model = Registry.from_settings(settings).mlflow.pyfunc.load_model(MODEL_URI)
    loaded = model.predict(pd.DataFrame(leads), params={"as_of": AS_OF})
    assert served["lead_id"].tolist() == [lead["lead_id"] for lead in leads]
    assert served["probability"].tolist() == loaded["probability"].tolist()
    assert served["stage"].tolist() == loaded["stage"].tolist()
    assert bad.status_code == 400 and "as_of" in bad.text  # refused naming the field, not a 500


def test_the_run_tells_what_trained_on_what_and_how_it_did(workspace, demo_crm_dir):
    """The champion's run: its name, the code and configuration it ran with, the tables it
    learnt from (digest and source), and the model card as the run's and the version's
    description."""
    import re
    import subprocess

    from features.load import load_clean
    from features.spec import load_spec
    from training.config import load_config
    from training.registry import Registry
    from training.tracking import config_hash, table_digest, text_hash

    _, config, get_settings, outcome = workspace
    registry = Registry.from_settings(get_settings(), "leadscore-demo-crm")
    run = registry.client.get_run(outcome.run_id)
    assert re.fullmatch(rf"demo-crm-\d{{8}}-{outcome.run_id[:8]}", run.info.run_name)
    tags = run.data.tags
    assert tags["config_hash"] == config_hash(load_config(config).model_dump(mode="json"))
    assert tags["spec_hash"] == text_hash(DEMO_SPEC.read_text(encoding="utf-8"))
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=DEMO_SPEC.parent)
    if head.returncode == 0:  # a git checkout (a fresh clone in CI)
        assert tags["mlflow.source.git.commit"] == head.stdout.strip()

    _, tables, _ = load_clean(load_spec(DEMO_SPEC), demo_crm_dir)
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"demo-crm.leads", "demo-crm.activities", "demo-crm.outcomes"}
    leads = inputs["demo-crm.leads"]
    assert leads.dataset.digest == table_digest(tables.leads)
    assert str(tables.paths["leads"].resolve()) in leads.dataset.source
    assert {t.key: t.value for t in leads.tags}["rows"] == str(len(tables.leads))

    version = registry.client.get_model_version("leadscore-demo-crm", str(outcome.version))
    description = version.description
    assert description == tags["mlflow.note.content"]
    card = registry.load_bundle(outcome.version).card
    assert f"| ROC-AUC | {card['holdout_metrics']['roc_auc']:.4f} |" in description
    assert card["data_window"]["holdout_from"] in description
    for stage in outcome.stages.values():
        assert stage["words"] in description
    assert "better than chance" in description and "passed" in description


def test_a_digest_sees_a_change_anywhere_in_a_table():
    """MLflow's own pandas digest reads the first 10,000 rows; a change in row 20,000 must show."""
    from training.tracking import table_digest

    table = pd.DataFrame({"lead_id": [f"L{i}" for i in range(20_000)], "employees": range(20_000)})
    changed = table.copy()
    changed.loc[19_999, "employees"] = 1
    assert table_digest(table) == table_digest(table.copy())
    assert table_digest(table) != table_digest(changed)


def test_a_training_that_fails_leaves_a_failed_run_and_registers_nothing(workspace, tmp_path):
    from leadscore.jobs.train import run_train
    from training.registry import Registry

    _, config, get_settings, _ = workspace
    registry = Registry.from_settings(get_settings(), "leadscore-demo-crm")
    before = [v.version for v in registry.versions()]
    (tmp_path / "leads.parquet").write_bytes(b"not a parquet file")
    with pytest.raises(Exception) as failure:
        run_train(DEMO_SPEC, config, data=tmp_path, show_progress=False)
    runs = registry.mlflow.search_runs(experiment_names=["leadscore"], order_by=["start_time DESC"])
    latest = runs.iloc[0]
    assert latest["status"] == "FAILED" and latest["tags.leadscore.kind"] == "train"
    assert latest["tags.error"].startswith(type(failure.value).__name__)
    assert [v.version for v in registry.versions()] == before


def test_the_latest_unpromoted_version_is_the_challenger(workspace, small_demo_crm):
    from leadscore.jobs.train import run_train
    from training.registry import Registry

    _, config, get_settings, first = workspace
    second = run_train(DEMO_SPEC, config, data=small_demo_crm, promote="never", show_progress=False)
    registry = Registry.from_settings(get_settings(), "leadscore-demo-crm")
    assert registry.challenger().version == second.version == first.version + 1
    assert registry.champion().version == first.version


def test_stopped_while_registering_leaves_nothing_registered(workspace, small_demo_crm, monkeypatch):
    """Ctrl-C after MLflow registered the version but before `leadscore train` learnt its number:
    the version is removed and the run ends FAILED."""
    from leadscore.jobs.train import run_train
    from training.registry import Registry

    _, config, get_settings, _ = workspace
    registry = Registry.from_settings(get_settings(), "leadscore-demo-crm")
    before = [v.version for v in registry.versions()]
    champion = registry.champion().version
    real = Registry.log_model_version

    def registered_then_interrupted(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(Registry, "log_model_version", registered_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_train(DEMO_SPEC, config, data=small_demo_crm, show_progress=False)
    assert [v.version for v in registry.versions()] == before and registry.champion().version == champion
    latest = registry.mlflow.search_runs(experiment_names=["leadscore"], order_by=["start_time DESC"]).iloc[0]
    assert latest["status"] == "FAILED" and latest["tags.error"] == "KeyboardInterrupt: interrupted (Ctrl-C)"


def test_sigterm_ends_the_run_failed(workspace, demo_crm_dir, tmp_path):
    """`timeout`, `docker stop` and Kubernetes stop a command with SIGTERM: the run it opened ends
    FAILED with the reason (Python's default would leave it RUNNING), and the command exits 130."""
    import os
    import signal
    import subprocess
    import time

    from tests.serving.test_serve_process import leadscore_command
    from training.registry import Registry

    folder, config, get_settings, _ = workspace
    settings = get_settings()
    mlflow = Registry.from_settings(settings).mlflow
    known = set(mlflow.search_runs(experiment_names=["leadscore"])["run_id"])
    env = {**os.environ, "LEADSCORE_MODELS_DIR": str(folder / "models"), "LEADSCORE_DATA_DIR": str(folder / "data")}
    env.pop("MLFLOW_TRACKING_URI", None)
    with open(tmp_path / "train.log", "w") as log:
        process = subprocess.Popen([*leadscore_command(), "train", "--spec", str(DEMO_SPEC), "--config", str(config),
                                    "--data", str(demo_crm_dir)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:  # until its run exists
            runs = mlflow.search_runs(experiment_names=["leadscore"])
            new = runs[~runs["run_id"].isin(known)]
            if len(new) or process.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(new) == 1, (tmp_path / "train.log").read_text()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    run = mlflow.get_run(new["run_id"].iloc[0])
    assert code == 130, (tmp_path / "train.log").read_text()
    assert run.info.status == "FAILED" and run.data.tags["error"] == "KeyboardInterrupt: stopped by SIGTERM"
