"""`leadscore score`: batch scoring of a leads file, checked the way a user would notice."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from leadscore.cli import app

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "data" / "specs" / "demo_crm.yaml"
AS_OF = "2026-06-01T00:00:00Z"


@pytest.fixture(scope="module")
def leads_csv(demo_crm_dir, tmp_path_factory) -> Path:
    """400 demo leads as a CSV export (text everywhere, as a CRM writes it)."""
    leads = pd.read_parquet(demo_crm_dir / "leads.parquet").head(400)
    path = tmp_path_factory.mktemp("score-input") / "leads.csv"
    leads.to_csv(path, index=False)
    return path


def run(*args: str):
    return CliRunner().invoke(app, ["score", "--spec", str(SPEC), *args, "--no-progress"], catch_exceptions=False)


def test_scores_a_parquet_file_with_stages_and_reasons(demo_crm_dir, bundle_dir, tmp_path, monkeypatch):
    # a score log of its own: scored later by another test, these leads would have no trend (a backfill)
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", f"sqlite:///{tmp_path / 'log.db'}")
    output = tmp_path / "out" / "scores.parquet"
    result = run(str(demo_crm_dir / "leads.parquet"), str(output), "--bundle", str(bundle_dir),
                 "--activities", str(demo_crm_dir / "activities.parquet"), "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(output)
    leads = pd.read_parquet(demo_crm_dir / "leads.parquet").drop_duplicates()
    assert len(scores) == len(leads) and scores["lead_id"].is_unique
    assert list(scores.columns) == ["lead_id", "probability", "score", "stage", "reasons_for",
                                    "reasons_against", "model_version", "grade", "fit", "fit_grade",
                                    "fit_reasons_for", "fit_reasons_against", "intent", "intent_grade",
                                    "intent_reasons_for", "intent_reasons_against", "cooling", "trend", "trend_points",
                                    "trend_days"]
    assert set(scores["grade"]) <= {f + i for f in "ABCD" for i in "1234"} and scores["grade"].nunique() >= 8
    assert set(scores["trend"]) <= {"up", "down", "steady", "new"}
    assert scores["probability"].between(0, 1).all()
    assert (scores["score"] == (scores["probability"] * 100).round().astype(int)).all()
    assert set(scores["stage"]) <= {"SQL", "MQL", "not yet"} and len(set(scores["stage"])) >= 2
    assert (scores["reasons_for"].str.len() > 0).mean() > 0.9
    assert "scored" in result.output and "model version test" in result.output
    assert not list(output.parent.glob(".*partial"))  # no temporary file left behind


def test_a_file_scored_again_later_carries_each_lead_s_trend(demo_crm_dir, bundle_dir, tmp_path, leads_csv,
                                                                monkeypatch):
    """Scored twice, a month apart while the leads are young and active, into one score log:
    new the first time, then each lead's change in the points of its score (serving.trend) and
    30 days; with --no-log, no trend."""
    monkeypatch.setenv("LEADSCORE_DATABASE_URL", f"sqlite:///{tmp_path / 'trend.db'}")
    common = ["--bundle", str(bundle_dir), "--activities", str(demo_crm_dir / "activities.parquet")]
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    assert run(str(leads_csv), str(first), *common, "--as-of", "2025-01-01T00:00:00Z").exit_code == 0
    assert run(str(leads_csv), str(second), *common, "--as-of", "2025-01-31T00:00:00Z").exit_code == 0
    before, after = pd.read_csv(first).set_index("lead_id"), pd.read_csv(second).set_index("lead_id")
    assert (before["trend"] == "new").all() and before["trend_points"].isna().all()
    points = after["score"] - before["score"]
    assert (after["trend_points"] == points).all() and (after["trend_days"] == 30.0).all()
    expected = points.map(lambda p: "up" if p > 0 else "down" if p < 0 else "steady")
    assert (after["trend"] == expected).all() and len(set(expected)) >= 2
    unlogged = tmp_path / "unlogged.csv"
    assert run(str(leads_csv), str(unlogged), *common, "--as-of", AS_OF, "--no-log").exit_code == 0
    assert "trend" not in pd.read_csv(unlogged).columns


def test_batch_scores_match_the_api_path(demo_crm_dir, bundle_dir, tmp_path, leads_csv):
    """The same lead scores the same in a file and as JSON (the service's code path)."""
    from serving.scorer import LeadScorer

    output = tmp_path / "scores.csv"
    result = run(str(leads_csv), str(output), "--bundle", str(bundle_dir),
                 "--activities", str(demo_crm_dir / "activities.parquet"), "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(output).set_index("lead_id")
    raw = pd.read_csv(leads_csv, dtype=str, keep_default_na=False).head(5)
    acts = pd.read_parquet(demo_crm_dir / "activities.parquet")
    scorer = LeadScorer.from_bundle_dir(bundle_dir)
    records = []
    for lead in raw.to_dict("records"):
        mine = acts[acts["lead_id"].astype(str) == lead["lead_id"]]
        lead["activities"] = [{"occurred_at": t.isoformat(), "activity_type": str(a)}
                              for t, a in zip(mine["occurred_at"], mine["activity_type"])]
        records.append(lead)
    answers = scorer.score_leads(records, as_of=pd.Timestamp(AS_OF).tz_localize(None).to_pydatetime(), reasons=3)
    for answer in answers:
        row = scores.loc[answer["lead_id"]]
        assert row["probability"] == pytest.approx(answer["probability"], abs=1e-6)
        assert row["stage"] == answer["stage"]


def test_a_lead_without_created_time_is_scored_as_the_api_scores_it_and_an_unreadable_one_refused(
        demo_crm_dir, bundle_dir, tmp_path, leads_csv):
    """As the API: no created time means the typical training age and time of year; a time
    that cannot be read is an error naming the column, and nothing is written."""
    from serving.scorer import LeadScorer

    leads = pd.read_csv(leads_csv, dtype=str, keep_default_na=False).head(30)
    leads.loc[:9, "created_at"] = ""
    blank = tmp_path / "blank.csv"
    leads.to_csv(blank, index=False)
    output = tmp_path / "scores.csv"
    result = run(str(blank), str(output), "--bundle", str(bundle_dir), "--as-of", AS_OF,
                 "--activities", str(demo_crm_dir / "activities.parquet"))
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(output).set_index("lead_id")
    scorer = LeadScorer.from_bundle_dir(bundle_dir)
    as_of = pd.Timestamp(AS_OF).tz_localize(None).to_pydatetime()
    acts = pd.read_parquet(demo_crm_dir / "activities.parquet")
    for lead in leads.head(10).to_dict("records"):
        mine = acts[acts["lead_id"].astype(str) == lead["lead_id"]]
        lead["activities"] = [{"occurred_at": t.isoformat(), "activity_type": str(a)}
                              for t, a in zip(mine["occurred_at"], mine["activity_type"])]
        [answer] = scorer.score_leads([lead], as_of=as_of)
        assert scores.loc[lead["lead_id"], "probability"] == pytest.approx(answer["probability"], abs=1e-6)
    leads.loc[0, "created_at"] = "last tuesday"
    unreadable = tmp_path / "unreadable.csv"
    leads.to_csv(unreadable, index=False)
    refused = run(str(unreadable), str(tmp_path / "refused.csv"), "--bundle", str(bundle_dir), "--as-of", AS_OF,
                  "--activities", str(demo_crm_dir / "activities.parquet"))
    assert refused.exit_code == 1 and "created_at" in refused.output and "last tuesday" in refused.output
    assert not (tmp_path / "refused.csv").exists()


def test_corrupted_input_fails_and_writes_nothing(demo_crm_dir, bundle_dir, tmp_path, leads_csv):
    broken = pd.read_csv(leads_csv, dtype=str, keep_default_na=False)
    broken.loc[3, "created_at"] = "not a date"
    broken.loc[7, "employee_count"] = "lots"
    broken.loc[9, "email_opt_in"] = "maybe"
    source = tmp_path / "broken.csv"
    broken.to_csv(source, index=False)
    output = tmp_path / "scores.csv"
    output.write_text("previous results\n")
    result = run(str(source), str(output), "--bundle", str(bundle_dir),
                 "--activities", str(demo_crm_dir / "activities.parquet"))
    assert result.exit_code == 1
    assert "created_at" in result.output and "employee_count" in result.output and "email_opt_in" in result.output
    assert "not a date" in result.output and "lots" in result.output
    assert output.read_text() == "previous results\n"  # untouched
    assert not list(tmp_path.glob(".*partial"))


def test_missing_columns_and_wrong_files_are_named(demo_crm_dir, bundle_dir, tmp_path, leads_csv):
    no_industry = tmp_path / "no_industry.csv"
    pd.read_csv(leads_csv, dtype=str).drop(columns=["industry"]).to_csv(no_industry, index=False)
    result = run(str(no_industry), str(tmp_path / "s.csv"), "--bundle", str(bundle_dir),
                 "--activities", str(demo_crm_dir / "activities.parquet"))
    assert result.exit_code == 1 and "'industry'" in result.output
    assert not (tmp_path / "s.csv").exists()

    result = run(str(leads_csv), str(tmp_path / "s.xlsx"), "--bundle", str(bundle_dir))
    assert result.exit_code == 1 and ".xlsx" in result.output
    result = run(str(tmp_path / "nope.csv"), str(tmp_path / "s.csv"), "--bundle", str(bundle_dir))
    assert result.exit_code == 1 and "no such file" in result.output
    result = run(str(leads_csv), str(tmp_path / "s.csv"), "--bundle", str(bundle_dir), "--as-of", "someday")
    assert result.exit_code == 2 and "--as-of" in result.output  # a malformed value: a usage error


def test_activities_default_to_the_spec_data_folder(bundle_dir, tmp_path, leads_csv, monkeypatch):
    """Without --activities the spec's own data folder is read; a missing file is a clear error."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text().replace("data_dir: ../demo", f"data_dir: {tmp_path / 'nowhere'}"))
    result = CliRunner().invoke(app, ["score", "--spec", str(spec), str(leads_csv), str(tmp_path / "s.csv"),
                                      "--bundle", str(bundle_dir), "--no-progress"])
    assert result.exit_code == 1 and "--activities" in result.output
    assert not (tmp_path / "s.csv").exists()


def test_the_champion_of_the_spec_scores_by_default(demo_crm_dir, bundle_dir, tmp_path, leads_csv, monkeypatch):
    """Without --bundle the spec's own exported champion scores the file; with one spec, --spec
    may be left out (the model carries its spec) and with several it must say which."""
    import shutil

    models = tmp_path / "models"
    monkeypatch.setenv("LEADSCORE_MODELS_DIR", str(models))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    acts = ["--activities", str(demo_crm_dir / "activities.parquet"), "--as-of", AS_OF, "--no-progress"]
    shutil.copytree(bundle_dir, models / "bundles" / "demo-crm" / "champion")
    by_spec = CliRunner().invoke(app, ["score", "--spec", str(SPEC), str(leads_csv), str(tmp_path / "a.csv"), *acts])
    assert by_spec.exit_code == 0, by_spec.output
    alone = CliRunner().invoke(app, ["score", str(leads_csv), str(tmp_path / "b.csv"), *acts])
    assert alone.exit_code == 0, alone.output
    assert pd.read_csv(tmp_path / "a.csv").equals(pd.read_csv(tmp_path / "b.csv"))

    shutil.copytree(bundle_dir, models / "bundles" / "other-crm" / "champion")
    ambiguous = CliRunner().invoke(app, ["score", str(leads_csv), str(tmp_path / "c.csv"), *acts])
    assert ambiguous.exit_code == 1 and "leadscore-other-crm" in ambiguous.output
    by_name = CliRunner().invoke(app, ["score", "--spec", "demo-crm", str(leads_csv), str(tmp_path / "c.csv"), *acts])
    assert by_name.exit_code == 0, by_name.output


def test_reasons_come_in_the_language_asked_and_an_unknown_one_is_refused(demo_crm_dir, bundle_dir, tmp_path,
                                                                          leads_csv, monkeypatch):
    """--language it writes the reasons in Italian, the probabilities unchanged; LEADSCORE_LANGUAGE
    is the default; a language leadscore does not speak is refused and nothing is written."""
    common = ["--bundle", str(bundle_dir), "--activities", str(demo_crm_dir / "activities.parquet"),
              "--as-of", AS_OF, "--no-log"]
    italian, english = tmp_path / "it.csv", tmp_path / "en.csv"
    assert run(str(leads_csv), str(italian), *common, "--language", "it").exit_code == 0
    monkeypatch.setenv("LEADSCORE_LANGUAGE", "it")
    assert run(str(leads_csv), str(tmp_path / "default.csv"), *common).exit_code == 0
    monkeypatch.delenv("LEADSCORE_LANGUAGE")
    assert run(str(leads_csv), str(english), *common).exit_code == 0
    it, en = pd.read_csv(italian, keep_default_na=False), pd.read_csv(english, keep_default_na=False)
    assert (it["probability"] == en["probability"]).all()
    assert it["reasons_for"].str.contains("negli ultimi").any() and not en["reasons_for"].str.contains("negli").any()
    assert it.equals(pd.read_csv(tmp_path / "default.csv", keep_default_na=False))

    refused = run(str(leads_csv), str(tmp_path / "fr.csv"), *common, "--language", "fr")
    assert refused.exit_code != 0 and "--language: 'fr'" in refused.output and "en, it" in refused.output
    assert not (tmp_path / "fr.csv").exists()


ID_SPELLINGS = {"101": ["101", " 101 ", "101.0"], "102": ["102", "102.00"], "L7": ["L7", " L7"], "9": ["9"]}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(owners=st.lists(st.sampled_from([s for spellings in ID_SPELLINGS.values() for s in spellings] + [None]),
                       min_size=1, max_size=30),
       scored=st.lists(st.sampled_from(sorted(ID_SPELLINGS)), min_size=1, max_size=4, unique=True),
       dictionary=st.booleans())
def test_only_the_activities_of_the_scored_leads_are_read_however_their_ids_are_written(tmp_path_factory, owners,
                                                                                          scored, dictionary):
    """From Parquet, `leadscore score` reads only the activity rows of the leads it scores (the
    filter pushed down to the reader, on the raw ids that read as theirs): the same rows, in file
    order, as reading the whole file and keeping those whose id reads, row by row, as a scored
    lead's (' 101 ' and '101.0' are lead 101), with the same note on the rows left out."""
    from features import values as V
    from features.spec import load_spec
    from leadscore.jobs.score import _read_activities

    spec = load_spec(SPEC)
    act = spec.activities
    folder = tmp_path_factory.mktemp("pushdown")
    frame = pd.DataFrame({act.lead_id: pd.Series(owners, dtype=object),
                          act.time: pd.date_range("2026-01-01", periods=len(owners), freq="h"),
                          act.type: ["email_open"] * len(owners), **({act.value: 1.0} if act.value else {})})
    if dictionary:  # as pandas writes a categorical column (the demo CRM's): a Parquet dictionary
        frame[act.lead_id] = frame[act.lead_id].astype("category")
    frame.to_parquet(folder / "activities.parquet", index=False)
    wanted = [V.lead_id(o) in scored if o is not None else False for o in owners]
    if not any(wanted):
        with pytest.raises(Exception, match="none of its"):
            _read_activities(spec, folder / "activities.parquet", pd.Series(scored))
        return
    read, _, note = _read_activities(spec, folder / "activities.parquet", pd.Series(scored))
    expected = pd.read_parquet(folder / "activities.parquet")[wanted].reset_index(drop=True)
    pd.testing.assert_frame_equal(read.astype({act.lead_id: object}), expected.astype({act.lead_id: object}))
    left_out = len(owners) - sum(wanted)
    assert (note is None) == (left_out == 0)
    if note:
        assert note.startswith(f"{left_out:,} of {len(owners):,} activities belong to no lead of this file")
