"""`leadscore report`: scores logged by `leadscore score`, outcomes reported back, and the
verdict on each stage's promise, kept or broken, with `--fail-on` for a scheduler."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli import app
from tests.conftest import DEMO_SPEC

runner = CliRunner()
AS_OF = "2026-11-01T00:00:00Z"


@pytest.fixture
def scored(tmp_path, monkeypatch, demo_crm_dir, bundle_dir):
    """Every demo lead scored by `leadscore score` (logged to a fresh database), the model as
    the spec's champion; returns (scores, truth) by lead."""
    monkeypatch.setenv("LEADSCORE_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("LEADSCORE_DATABASE_URL", raising=False)
    shutil.copytree(bundle_dir, tmp_path / "models" / "bundles" / "demo-crm" / "champion")
    out = tmp_path / "scores.parquet"
    result = runner.invoke(app, ["score", str(demo_crm_dir / "leads.parquet"), str(out), "--spec", str(DEMO_SPEC),
                                 "--activities", str(demo_crm_dir / "activities.parquet"),
                                 "--as-of", AS_OF, "--no-progress", "--reasons", "0"])
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(out).set_index("lead_id")
    truth = pd.read_parquet(demo_crm_dir / "truth.parquet").set_index("lead_id")["p_true"]
    return scores, truth.reindex(scores.index)


def post_outcomes(won: pd.Series) -> None:
    from leadscore.settings import get_settings
    from serving.store import Outcome, ScoreStore

    store = ScoreStore(get_settings().resolved_database_url, background=False)
    try:
        closed = datetime(2026, 11, 20)
        store.record_outcomes([Outcome(str(i), "won" if w else "lost", closed) for i, w in won.items()],
                              datetime(2026, 11, 21))
    finally:
        store.close()


def report(*args: str):
    return runner.invoke(app, ["report", "--spec", str(DEMO_SPEC), *args], env={"COLUMNS": "250"})


def stage_line(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.strip().lstrip("BROKEN ").startswith(f"{name} promised"))


def test_stages_keep_their_promise_on_outcomes_drawn_from_the_truth_and_break_when_sqls_buy_half(scored, tmp_path):
    scores, truth = scored
    rng = np.random.default_rng(3)
    draw = rng.random(len(truth))
    post_outcomes(pd.Series(draw < truth.to_numpy(), index=scores.index))
    kept = report("--fail-on", "broken-promise", "--json", str(tmp_path / "report.json"),
                  "--out", str(tmp_path / "report.html"))
    assert kept.exit_code == 0, kept.output
    page = (tmp_path / "report.html").read_text()
    assert "within what chance explains" in page and 'id="stages"' in page and 'id="reliability"' in page
    assert not re.search(r"<script[^>]+src=", page) and len(page) > 1_000_000  # plotly.js is in the page itself
    assert f"{len(scores):,} leads scored" in kept.output
    assert "within what chance explains" in stage_line(kept.output, "SQL")
    written = json.loads((tmp_path / "report.json").read_text())
    sql = next(s for s in written["stages"] if s["stage"] == "sql")
    assert sql["closed"] == (scores["stage"] == "SQL").sum() and not sql["broken"]
    assert sql["low"] <= sql["promised_won_rate"] <= sql["high"]

    # the same leads, but the SQLs buy at half the rate the truth gives them
    sqls = scores["stage"].to_numpy() == "SQL"
    halved = np.where(sqls, truth.to_numpy() / 2, truth.to_numpy())
    post_outcomes(pd.Series(draw < halved, index=scores.index))
    broken = report("--fail-on", "broken-promise")
    assert broken.exit_code == 5, broken.output
    assert "BROKEN" in broken.output and "the promise is broken" in stage_line(broken.output, "SQL")
    assert report().exit_code == 0  # without --fail-on: said, not failed


def test_the_period_and_the_checks_are_read_strictly(scored):
    empty = report("--since", "2027-01-01")
    assert empty.exit_code == 0 and "0 leads scored" in empty.output
    unreadable = report("--since", "last week")  # a malformed value: a usage error, naming the option
    assert unreadable.exit_code == 2 and "--since" in unreadable.output
    backwards = report("--since", "2026-11-02", "--until", "2026-11-01")
    assert backwards.exit_code == 1 and "not after --since" in backwards.output
    unknown = report("--fail-on", "drift-ish")
    assert unknown.exit_code == 1 and "the checks are broken-promise" in unknown.output
    folder = report("--json", str(Path(scored_dir := __import__("tempfile").mkdtemp())))
    assert folder.exit_code == 1 and "--json" in folder.output and "is a folder" in folder.output
    assert folder.exception is None or isinstance(folder.exception, SystemExit)  # an error, not a traceback
    same = report("--json", f"{scored_dir}/r", "--out", f"{scored_dir}/r")
    assert same.exit_code == 1 and "the same file" in same.output


def test_score_no_log_leaves_the_score_log_alone(tmp_path, monkeypatch, demo_crm_dir, bundle_dir):
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("LEADSCORE_DATABASE_URL", raising=False)
    result = runner.invoke(app, ["score", str(demo_crm_dir / "leads.parquet"), str(tmp_path / "s.csv"), "--bundle",
                                 str(bundle_dir), "--activities", str(demo_crm_dir / "activities.parquet"),
                                 "--as-of", AS_OF, "--no-progress", "--no-log", "--reasons", "0"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "data" / "leadscore.db").exists()


def test_outcomes_import_reads_a_crm_export_as_training_does_and_refuses_a_bad_file_whole(scored, tmp_path):
    """Semicolons, day-first dates and the spec's won/lost words in any case: read as training
    reads them; the report then judges the imported outcomes. A file with one unreadable date
    records nothing."""
    scores, truth = scored
    rng = np.random.default_rng(5)
    ids = scores.index.to_numpy()[:2000]
    won = rng.random(len(ids)) < truth.to_numpy()[:2000]
    export = pd.DataFrame({"lead_id": ids, "outcome": np.where(won, "Won", "lost"), "closed_at": "20/11/2026"})
    broken = export.copy()
    broken.loc[7, "closed_at"] = "the 20th"
    broken.loc[11, "lead_id"] = "N/A"  # the spec's placeholder, no lead's id
    broken.to_csv(tmp_path / "broken.csv", sep=";", index=False)
    refused = runner.invoke(app, ["outcomes", "import", str(tmp_path / "broken.csv"), "--spec", str(DEMO_SPEC)])
    assert refused.exit_code == 1 and "nothing imported" in refused.output
    assert "closed_at" in refused.output and "row 9: 'the 20th'" in refused.output
    assert "lead_id: 1 row(s) hold no readable lead id (row 13: 'N/A')" in refused.output
    assert report().output.count("no closed leads yet") >= 1  # nothing was recorded

    export.to_csv(tmp_path / "deals.csv", sep=";", index=False)
    imported = runner.invoke(app, ["outcomes", "import", str(tmp_path / "deals.csv"), "--spec", str(DEMO_SPEC)])
    assert imported.exit_code == 0, imported.output
    assert f"2,000 outcomes ({int(won.sum()):,} won): 2,000 new" in imported.output
    again = runner.invoke(app, ["outcomes", "import", str(tmp_path / "deals.csv"), "--spec", str(DEMO_SPEC)])
    assert "0 new, 0 changed, 2,000 already known" in again.output
    stranger = tmp_path / "strangers.csv"
    pd.DataFrame({"lead_id": ["ZZ1", "ZZ1", ids[0]], "outcome": ["won", "lost", "won" if won[0] else "lost"],
                  "closed_at": "21/11/2026"}).to_csv(stranger, sep=";", index=False)
    mixed = runner.invoke(app, ["outcomes", "import", str(stranger), "--spec", str(DEMO_SPEC)])
    assert mixed.exit_code == 0, mixed.output
    assert "1 rows repeat a lead" in mixed.output and "2 outcomes (0 won): 1 new, 1 changed" in mixed.output
    assert "1 are of leads never scored" in mixed.output
    assert report("--json", str(tmp_path / "r.json")).exit_code == 0
    judged = json.loads((tmp_path / "r.json").read_text())
    assert judged["period"]["closed"] == 2000 and judged["period"]["won"] == int(won.sum())


def test_report_by_dimensions_come_from_the_logged_leads_and_a_drifted_batch_is_flagged(scored, tmp_path,
                                                                                       demo_crm_dir):
    scores, truth = scored
    post_outcomes(pd.Series(np.random.default_rng(4).random(len(truth)) < truth.to_numpy(), index=scores.index))
    same = report("--json", str(tmp_path / "same.json"), "--fail-on", "drift")
    assert same.exit_code == 0, same.output
    figures = json.loads((tmp_path / "same.json").read_text())
    leads = pd.read_parquet(demo_crm_dir / "leads.parquet")
    sources = {row["value"]: row["leads"] for row in figures["by_dimension"]["lead_source"]}
    # as cleaning reads them: trimmed, one case, the spec's placeholders missing, one row per lead
    unique = leads.drop_duplicates("lead_id")["lead_source"].str.strip().str.lower()
    expected = unique.where(~unique.isin(["", "select", "n/a", "-", "unknown"])).value_counts()
    assert {k: v for k, v in sources.items() if k != "(not given)"} == expected.to_dict()
    assert set(figures["by_dimension"]) == {"lead_source", "campaign"}
    drift = {d["feature"]: d for d in figures["drift"]}
    assert {"lead_source", "employee_count", "(activity type)"} <= set(drift)
    assert not any(d["drifted"] for d in drift.values()), drift  # the population the model was trained on

    # a later batch from one source only, and only the larger half of the companies: values
    # training knew (validation passes), in another mix
    unique = leads.drop_duplicates("lead_id")
    size = pd.to_numeric(unique["employee_count"], errors="coerce")
    moved = unique[size >= size.median()].copy()
    moved["lead_id"] = "new-" + moved["lead_id"].astype(str)
    moved["lead_source"] = "Partner"
    moved.to_csv(tmp_path / "moved.csv", index=False)
    acts = pd.read_parquet(demo_crm_dir / "activities.parquet")
    acts = acts[acts["lead_id"].isin(set(moved["lead_id"].str[4:]))].assign(lead_id=lambda a: "new-" + a["lead_id"].astype(str))
    acts.to_parquet(tmp_path / "moved_activities.parquet")
    scored_again = runner.invoke(app, ["score", str(tmp_path / "moved.csv"), str(tmp_path / "moved_scores.csv"),
                                       "--activities", str(tmp_path / "moved_activities.parquet"),
                                       "--spec", str(DEMO_SPEC), "--as-of", "2026-11-15T00:00:00Z", "--no-progress",
                                       "--reasons", "0"])
    assert scored_again.exit_code == 0, scored_again.output
    flagged = report("--since", "2026-11-10", "--json", str(tmp_path / "moved.json"), "--fail-on", "drift")
    assert flagged.exit_code == 5, flagged.output
    assert "failed check(s): drift" in flagged.output and "lead_source" in flagged.output
    drift = {d["feature"]: d for d in json.loads((tmp_path / "moved.json").read_text())["drift"]}
    assert drift["lead_source"]["drifted"] and drift["employee_count"]["drifted"]
    assert not drift["industry"]["drifted"]  # what did not move is not flagged


def test_a_past_period_is_not_rewritten_by_later_scores(scored, tmp_path, demo_crm_dir):
    """The log keeps each lead's latest record: leads scored again after the period (here all
    from one new source) show as scored again, not with their later values."""
    scores, truth = scored
    leads = pd.read_parquet(demo_crm_dir / "leads.parquet").drop_duplicates("lead_id").head(500).copy()
    leads["lead_source"] = "Partner"
    leads.to_csv(tmp_path / "again.csv", index=False)
    again = runner.invoke(app, ["score", str(tmp_path / "again.csv"), str(tmp_path / "again_scores.csv"),
                                "--activities", str(demo_crm_dir / "activities.parquet"), "--spec", str(DEMO_SPEC),
                                "--as-of", "2026-11-10T00:00:00Z", "--no-progress", "--reasons", "0"])
    assert again.exit_code == 0, again.output
    before = report("--until", "2026-11-05", "--json", str(tmp_path / "before.json"))
    assert before.exit_code == 0, before.output
    figures = json.loads((tmp_path / "before.json").read_text())
    assert figures["period"]["leads"] == len(scores) and figures["period"]["records_replaced"] == 500
    sources = {row["value"]: row["leads"] for row in figures["by_dimension"]["lead_source"]}
    assert sources["(scored again after the period)"] == 500
    assert sum(sources.values()) == len(scores)
