"""The scoring service as a Bento: `leadscore build` saves the champion in BentoML's model store
and builds the Bento from bentofile.yaml; `bentoml serve <bento>` then answers /score exactly as
the service `leadscore serve` runs, and publishes leadscore's own OpenAPI document and Swagger
page (no script from the internet, an example request that is answered 200 as it is)."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.serving.conftest import api_leads, running_service
from tests.serving.live_service import server_process
from tests.serving.test_serve_process import environment, free_port, leadscore_command

AS_OF = "2026-06-01T00:00:00Z"
LEADS = 60


def bentoml_command() -> list[str]:
    script = Path(sys.executable).with_name("bentoml")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bentoml"]


@pytest.fixture(scope="module")
def bento(bundle_dir, tmp_path_factory):
    """(base URL, Bento tag, model tag, BENTOML_HOME, `leadscore build`'s output) of the session's
    model built into a Bento in a scratch BentoML home and served by `bentoml serve`."""
    tmp = tmp_path_factory.mktemp("bento")
    env = {**environment(tmp), "BENTOML_HOME": str(tmp / "bentoml")}
    built = subprocess.run([*leadscore_command(), "build", "--bundle", str(bundle_dir)], env=env,
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    tag = re.search(r"built the Bento (\S+) ", built.stdout).group(1)
    model_tag = re.search(r"model store as (\S+)", built.stdout).group(1)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env["LEADSCORE_DATABASE_URL"] = f"sqlite:///{tmp / 'bento.db'}"
    with server_process([*bentoml_command(), "serve", tag, "--host", "127.0.0.1", "--port", str(port)], env,
                        tmp / "bento-serve.log", base, cwd=tmp):
        yield base, tag, model_tag, tmp / "bentoml", built.stdout


def test_the_bento_answers_score_as_the_service_does(bento, bundle_dir, demo_crm_dir, tmp_path):
    base, *_ = bento
    leads = api_leads(demo_crm_dir, AS_OF, LEADS, last=None, values=True)
    assert sum(bool(lead["activities"]) for lead in leads) > LEADS // 2
    body = {"leads": leads, "as_of": AS_OF}
    from_bento = httpx.post(f"{base}/score", json=copy.deepcopy(body), timeout=60)
    assert from_bento.status_code == 200, from_bento.text
    with running_service(bundle_dir, f"sqlite:///{tmp_path / 'serve.db'}") as client:  # `leadscore serve`'s service
        served = client.post("/score", json=copy.deepcopy(body))
    assert served.status_code == 200, served.text
    bento_scores, served_scores = from_bento.json()["scores"], served.json()["scores"]
    assert [s["lead_id"] for s in bento_scores] == [lead["lead_id"] for lead in leads]
    for key in ("probability", "score", "stage", "reasons_for", "reasons_against", "model_version"):
        assert [s[key] for s in bento_scores] == [s[key] for s in served_scores], key
    assert len({s["stage"] for s in bento_scores}) > 1


def test_the_bento_holds_the_service_its_code_and_the_champion(bento):
    _, tag, model_tag, home, said = bento
    name, version = tag.split(":")
    folder = home / "bentos" / name / version
    info = yaml.safe_load((folder / "bento.yaml").read_text())
    assert info["service"] == "serving.service:LeadScoringService"
    assert info["args"] == {"model": model_tag}  # what `bentoml serve` serves, whatever is saved later
    assert [m["tag"] for m in info["services"][0]["models"]] == [model_tag]
    assert model_tag.startswith("leadscore-demo-crm:")
    model = yaml.safe_load(next((home / "models").glob(f"{model_tag.replace(':', '/')}/model.yaml")).read_text())
    assert model["labels"]["spec"] == "demo-crm" and model["labels"]["model_version"] == "test"
    assert (home / "models" / model_tag.replace(":", "/") / "bundle" / "bundle.json").is_file()
    src = {p.name for p in (folder / "src").iterdir()}
    assert {"features", "serving", "monitoring"} <= src
    assert not src & {"tests", "data", "models", "training", "leadscore", ".venv"}
    assert (folder / "src" / "serving" / "ui" / "templates").is_dir()
    assert "bentoml serve " + tag in said and "bentoml containerize " + tag in said


def test_the_bento_publishes_leadscores_document_and_page(bento, bundle_dir):
    from importlib.metadata import version

    from features.spec import DatasetSpec
    from serving.model_signature import lead_columns

    base, *_ = bento
    document = httpx.get(f"{base}/docs.json", timeout=10).json()
    assert document["info"]["title"].startswith("leadscore") and document["info"]["version"] == version("leadscore")
    assert "BentoML" not in str(document["info"]) and document["info"]["description"]
    request = document["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]
    spec = DatasetSpec.model_validate(yaml.safe_load((bundle_dir / "spec.yaml").read_text()))
    lead = request["schema"]["properties"]["leads"]["items"]
    assert [c for c, _, _ in lead_columns(spec)] == [c for c in lead["properties"] if c != "activities"]
    assert lead["properties"]["employee_count"]["type"] == "number"
    assert set(lead["properties"]["activities"]["items"]["properties"]) == {"occurred_at", "activity_type", "value"}
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerKey"] == {**schemes["bearerKey"], "type": "http", "scheme": "bearer"}
    assert schemes["headerKey"] == {**schemes["headerKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    either = [{"bearerKey": []}, {"headerKey": []}]
    for path, method, scope in (("/score", "post", "score"), ("/outcomes", "post", "outcomes"),
                                ("/report", "get", "score")):
        operation = document["paths"][path][method]
        assert operation["security"] == either, path
        assert f"scope `{scope}`" in operation["description"], path
    for path in ("/livez", "/readyz", "/metrics"):
        assert "security" not in document["paths"][path]["get"], path
    assert "security" not in document  # nothing asked of the open paths
    answer = httpx.post(f"{base}/score", json=request["example"], timeout=30)  # "Try it out", as pre-filled
    assert answer.status_code == 200, answer.text
    page = httpx.get(f"{base}/", timeout=10)
    assert page.status_code == 200 and "leadscore" in page.text
    assert not re.search(r"<(script|iframe|link)[^>]+(src|href)=[\"']?(https?:)?//", page.text, re.I), page.text
    for asset in re.findall(r"(?:src|href)=\"\./([^\"]+)\"", page.text):
        assert httpx.get(f"{base}/{asset}", timeout=10).status_code == 200, asset


def test_the_swagger_page_offers_to_authorize_with_a_key(bento):
    """Once keys exist, "Try it out" needs one: the page's Authorize button takes it, either way."""
    from playwright.sync_api import sync_playwright

    from tests.serving.test_ui_browser import _chromium

    base, *_ = bento
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.goto(f"{base}/")
            page.locator("button.authorize").first.click()
            dialog = page.locator(".dialog-ux .modal-ux")
            dialog.wait_for()
            assert "bearerKey" in dialog.inner_text() and "X-API-Key" in dialog.inner_text()
        finally:
            browser.close()


def machine_address() -> str | None:
    """This machine's IPv4 address on its network (the one it would reach others from), or None."""
    import ipaddress
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # UDP: only a route is chosen, nothing is sent
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback or address == "0.0.0.0" else address


def test_a_bento_served_as_bentoml_does_answers_other_machines_only_with_keys(bento, tmp_path):
    """`bentoml serve <bento>` with no --host listens on 0.0.0.0: while no key exists, a request
    arriving over the machine's network address is refused; health stays open, this machine in."""
    address = machine_address()
    if address is None:
        pytest.skip("this machine has no network address but loopback")
    _, tag, _, home, _ = bento
    port = free_port()
    env = {**environment(tmp_path), "BENTOML_HOME": str(home),
           "LEADSCORE_DATABASE_URL": f"sqlite:///{tmp_path / 'lan.db'}"}
    lead = {"lead": {"lead_id": "LAN-1"}}
    with server_process([*bentoml_command(), "serve", tag, "--port", str(port)], env, tmp_path / "serve.log",
                        f"http://127.0.0.1:{port}", cwd=tmp_path), httpx.Client(trust_env=False, timeout=30) as http:
        far = http.post(f"http://{address}:{port}/score", json=lead)
        assert far.status_code == 403, far.text
        assert "leadscore keys create" in far.json()["error"] and "LEADSCORE_INSECURE_NO_AUTH" in far.json()["error"]
        assert http.get(f"http://{address}:{port}/livez").status_code == 200
        assert http.post(f"http://127.0.0.1:{port}/score", json=lead).status_code == 200


def test_build_without_a_champion_says_how_to_make_one(tmp_path):
    env = {**environment(tmp_path), "BENTOML_HOME": str(tmp_path / "bentoml")}
    done = subprocess.run([*leadscore_command(), "build", "--spec", "demo-crm"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "leadscore train" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("spec_file", ["demo_crm.yaml", "x_education.yaml"])
def test_each_specs_example_request_is_one_the_service_takes(spec_file):
    """The Swagger page's example for any spec (ids named with spaces, no event log, yes/no
    columns) passes the body model and the lead checks the service runs, and names only the
    fields the schema lists."""
    from features.spec import load_spec
    from serving.lead_schema import lead_json_schema, score_example, score_request_model
    from serving.schema import LeadValidator

    spec = load_spec(Path(__file__).resolve().parents[2] / "data" / "specs" / spec_file)
    example = score_example(spec)
    request = score_request_model(spec).model_validate(example)
    act = spec.activities
    validator = LeadValidator(
        id_field=spec.leads.id, created_at=spec.leads.created_at, categorical=list(spec.leads.categorical),
        numeric=list(spec.leads.numeric), yes_no=list(spec.leads.yes_no), after_contact=list(spec.leads.after_contact),
        yes_values=list(spec.leads.yes_values), no_values=list(spec.leads.no_values),
        missing_values=list(spec.missing_values),
        activity_fields={"time": act.time, "type": act.type, **({"value": act.value} if act.value else {})} if act else {})
    validator.check_leads(request.leads)
    schema = lead_json_schema(spec)
    assert set(example["leads"][0]) <= set(schema["properties"]) and schema["required"] == [spec.leads.id]
    assert set(schema["properties"]) - {"activities"} == set(validator.roles)  # the fields the checks take
