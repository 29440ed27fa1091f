"""scripts/demo_loop.py, the end of `make demo`: weeks of leads scored before their deals close,
the closed deals posted, and the report judging the SQL and MQL promises on them. The commands
run in this process (the script runs them as subprocesses), on a small model."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys

import pandas as pd
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import ROOT

_script = importlib.util.spec_from_file_location("demo_loop", ROOT / "scripts" / "demo_loop.py")
demo_loop = importlib.util.module_from_spec(_script)
sys.modules["demo_loop"] = demo_loop  # its dataclasses look their module up
_script.loader.exec_module(demo_loop)


def test_the_demo_loop_scores_each_week_before_its_deals_close_and_the_report_judges_sql_and_mql(
        tmp_path, monkeypatch, bundle_dir, capsys):
    monkeypatch.chdir(ROOT)  # the script passes paths relative to the repository, as a user in it types them
    monkeypatch.setenv("LEADSCORE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    shutil.copytree(bundle_dir, tmp_path / "models" / "bundles" / "demo-crm" / "champion")
    commands = []

    def in_process(args, env):
        commands.append(args[0])
        result = CliRunner().invoke(app, args, env={**env, "COLUMNS": "200"})
        print(result.output)
        return result.exit_code

    work, html, report_json = tmp_path / "loop", tmp_path / "report.html", tmp_path / "report.json"
    (work / "stale").mkdir(parents=True)  # a rerun starts clean
    code = demo_loop.main(["--leads", "20000", "--seed", "12", "--work", str(work), "--out", str(html),
                           "--json", str(report_json)], run=in_process)
    out = capsys.readouterr().out
    assert code == 0, out
    assert commands == ["generate", "score", "score", "score", "score", "outcomes", "report"]
    assert not (work / "stale").exists() and (work / "leadscore.db").is_file()
    for week in range(1, 5):
        assert f"-- week {week} of 4:" in out

    report = json.loads(report_json.read_text())
    period = report["period"]
    scored = sum(len(pd.read_csv(work / f"week-{k}" / "scores.csv")) for k in range(1, 5))
    assert period["leads"] == scored and period["scored_after_close"] == 0
    assert 0 < period["open"] < 0.1 * scored  # every deal had time to close; those that never do stay open
    assert [week["week"] for week in report["sales_capacity"]] == ["2026-W30", "2026-W31", "2026-W32", "2026-W33"]
    stages = {stage["stage"]: stage for stage in report["stages"]}
    for key in ("sql", "mql"):
        assert stages[key]["judged"], stages[key]
        assert not stages[key]["broken"], stages[key]["verdict"]
        assert stages[key]["verdict"] in out
    assert "<html" in html.read_text()[:500].lower()
