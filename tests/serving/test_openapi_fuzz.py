"""The published OpenAPI document tells the truth, and no input gets a 5xx: Schemathesis
generates requests from GET /docs.json (valid and invalid bodies, parameters, methods) against a
real `leadscore serve`, and every answer must be a non-5xx that the document lists, with the
content type, headers and body schema it gives (serving.openapi)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.serving.live_service import live_service

EXAMPLES_PER_OPERATION = 150
SEED = 13
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance")


def schemathesis_command() -> list[str]:
    script = Path(sys.executable).with_name("schemathesis")
    return [str(script)] if script.exists() else [sys.executable, "-m", "schemathesis.cli"]


@pytest.fixture(scope="module")
def served(bundle_dir, tmp_path_factory):
    with live_service(bundle_dir, tmp_path_factory.mktemp("fuzzed")) as (base, _):
        yield base


def test_the_document_lists_every_answer_of_the_api(served):
    document = httpx.get(f"{served}/docs.json", timeout=10).json()
    paths = document["paths"]
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    assert set(document["components"]["schemas"]["ErrorResponse"]["required"]) == {"error", "detail"}
    for path, statuses in {"/score": {"400", "401", "403", "413", "415", "503"},
                           "/outcomes": {"400", "401", "403", "404", "413", "415", "503"}}.items():
        responses = paths[path]["post"]["responses"]
        assert statuses <= set(responses), (path, sorted(responses))
        assert all(responses[s]["content"]["application/json"]["schema"] == error for s in statuses)
        assert "Retry-After" in responses["503"]["headers"]
    assert "404" not in paths["/score"]["post"]["responses"]  # BentoML's guess: /score never answers it
    assert {"400", "401", "403", "503"} <= set(paths["/report"]["get"]["responses"])
    assert "422" not in paths["/report"]["get"]["responses"]
    for path in ("/livez", "/readyz", "/metrics"):
        assert "401" not in paths[path]["get"]["responses"]
    one_of = paths["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert [branch["required"] for branch in one_of] == [["leads"], ["lead"]]  # `lead` or `leads`, not both


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_list(served, tmp_path):
    result = subprocess.run(
        [*schemathesis_command(), "--no-color", "run", f"{served}/docs.json", "--url", served,
         "--checks", ",".join(CHECKS), "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", str(SEED),
         "--phases", "examples,coverage,fuzzing", "--workers", "2", "--request-timeout", "30",
         "--report", "ndjson", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=170, cwd=tmp_path)  # its cache folder is made in the cwd
    summary = result.stdout[result.stdout.find("SUMMARY"):] or result.stdout[-3000:]
    assert result.returncode == 0, f"schemathesis found problems:\n{result.stdout[-12000:]}\n{result.stderr[-3000:]}"
    assert "generated" in summary and " passed" in summary, summary
    events = [json.loads(line) for path in tmp_path.glob("*.ndjson") for line in path.read_text().splitlines()]
    assert events, "schemathesis wrote no report"
