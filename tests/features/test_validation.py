"""Validation: a clean export passes; each kind of corruption fails, naming the table, the
column and example values; the training profile catches drift; the CLI exits non-zero.

Great Expectations takes a few seconds to import, once per test session; each validation of
these small tables then takes a fraction of a second."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from features.errors import DataError, LeadscoreError
from features.load import load_clean
from features.profile import DataProfile
from features.spec import DatasetSpec, load_spec
from features.validation import ValidationFailed, ValidationReport, validate_tables

NOW = pd.Timestamp("2026-06-01")
ROOT = Path(__file__).resolve().parents[2]
X_EDUCATION_SPEC = ROOT / "data" / "specs" / "x_education.yaml"

SPEC_DATA = {
    "name": "validation-test",
    "data_dir": ".",
    "leads": {"file": "leads", "id": "lead_id", "created_at": "created_at",
              "categorical": ["industry"], "numeric": ["employees"], "yes_no": ["opt_in"],
              "after_contact": ["rating"]},
    "activities": {"file": "activities", "lead_id": "lead_id", "time": "occurred_at",
                   "type": "activity_type", "value": "value"},
    "outcomes": {"file": "outcomes", "lead_id": "lead_id", "outcome": "outcome",
                 "closed_at": "closed_at"},
}
SPEC = DatasetSpec.model_validate(SPEC_DATA)
N_LEADS, N_WON, N_LOST = 200, 50, 70
"""Leads 0-49 are won, 50-119 lost, 120-199 open."""
STAMP = "%Y-%m-%d %H:%M:%S"


def clean_tables(n_won: int = N_WON, seed: int = 3) -> dict[str, pd.DataFrame]:
    """A small CRM export as text, as a CSV export gives it, that breaks no rule."""
    rng = np.random.default_rng(seed)
    n = N_LEADS
    created = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 300 * 86400, n), unit="s")
    leads = pd.DataFrame({
        "lead_id": [f"L{i:04d}" for i in range(n)],
        "created_at": created.strftime(STAMP),
        "industry": rng.choice(["Software", "healthcare ", "RETAIL", "Select"], n),
        "employees": rng.choice(["12", "250", " 40 ", "", "1e3", "7.5"], n),
        "opt_in": rng.choice(["Yes", "no", "Y", ""], n),
        "rating": rng.choice(["hot", "cold", ""], n),
    })
    m = 5 * n
    who = rng.integers(0, n, m)
    activities = pd.DataFrame({
        "lead_id": leads["lead_id"].to_numpy()[who],
        "occurred_at": (created[who] + pd.to_timedelta(rng.integers(0, 60 * 86400, m), unit="s")).strftime(STAMP),
        "activity_type": rng.choice(["email_open", "web_visit", "Pricing_View"], m),
        "value": rng.choice(["1", "", "2.5"], m),
    })
    closed = N_WON + N_LOST
    outcomes = pd.DataFrame({
        "lead_id": leads["lead_id"][:closed],
        "outcome": ["won"] * n_won + ["Lost"] * (closed - n_won),
        "closed_at": (created[:closed] + pd.to_timedelta(rng.integers(86400, 90 * 86400, closed), unit="s")).strftime(STAMP),
    })
    return {"leads": leads, "activities": activities, "outcomes": outcomes}


def write_export(folder: Path, tables: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def check(tmp_path: Path, tables: dict[str, pd.DataFrame], **kwargs) -> ValidationReport:
    folder = write_export(tmp_path / "export", tables)
    cleaned, canonical, _ = load_clean(SPEC, folder)
    return validate_tables(SPEC, cleaned, canonical, now=NOW, **kwargs)


def failed(report: ValidationReport) -> set[tuple[str, str | None]]:
    return {(f.table, f.column) for f in report.failures}


def the_failure(report: ValidationReport, table: str, column: str):
    matches = [f for f in report.failures if (f.table, f.column) == (table, column)]
    assert matches, report.summary()
    return matches[0]


@pytest.fixture(scope="module")
def training_profile(tmp_path_factory) -> DataProfile:
    folder = write_export(tmp_path_factory.mktemp("training"), clean_tables())
    _, canonical, _ = load_clean(SPEC, folder)
    return DataProfile.from_tables(SPEC, canonical)


# ------------------------------------------------------------------------------ clean data
def test_importing_validation_does_not_import_great_expectations():
    code = ("import sys, features.validation, features.profile, leadscore.jobs.validate; "
            "sys.exit('great_expectations' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0



def test_a_clean_export_passes(tmp_path):
    report = check(tmp_path, clean_tables())
    assert report.success, report.summary()
    assert report.failures == []
    assert report.checked >= 30
    assert report.rows == {"leads": N_LEADS, "activities": 5 * N_LEADS, "outcomes": N_WON + N_LOST}
    assert "passed" in report.summary()
    report.raise_if_failed()  # no exception


# --------------------------------------------------------------------------- corruptions
def _wrong_type(t):
    t["leads"].loc[[3, 17, 150], "employees"] = ["abc", "12 people", "abc"]
    return {("leads", "employees"): ["abc", "12 people"]}


def _unknown_outcome(t):
    t["outcomes"].loc[[5, 60], "outcome"] = ["maybe later", "Maybe Later"]
    return {("outcomes", "outcome"): ["maybe later"]}


def _duplicated_id(t):
    # Same id, different row: not an exact duplicate, so cleaning keeps both.
    leads = t["leads"]
    again = leads.iloc[[170]].assign(industry="Retail", employees="99")
    t["leads"] = pd.concat([leads, again], ignore_index=True)
    return {("leads", "lead_id"): ["L0170"]}


def _future_dates(t):
    t["leads"].loc[[130, 131], "created_at"] = ["2031-01-01 00:00:00", "2030-07-04 12:00:00"]
    t["activities"].loc[[7], "occurred_at"] = ["2029-03-03 10:00:00"]
    return {("leads", "created_at"): ["2031-01-01 00:00:00", "2030-07-04 12:00:00"],
            ("activities", "occurred_at"): ["2029-03-03 10:00:00"]}


def _closed_before_created(t):
    leads, outcomes = t["leads"], t["outcomes"]
    created = pd.to_datetime(leads.loc[[2, 80], "created_at"])
    outcomes.loc[[2, 80], "closed_at"] = (created - pd.Timedelta(days=5)).dt.strftime(STAMP).to_numpy()
    return {("outcomes", "closed_at"): [(created.iloc[0] - pd.Timedelta(days=5)).strftime("%Y-%m-%d")]}


def _unparseable_timestamp(t):
    t["activities"].loc[[11, 12], "occurred_at"] = ["yesterday", ""]
    return {("activities", "occurred_at"): ["yesterday", "(missing)"]}


def _unknown_lead(t):
    # above the default share of 1% that may match no lead: 20 of 1,000 activities, 3 of 120 outcomes
    t["activities"].loc[list(range(4, 24)), "lead_id"] = ["L9999"] * 20
    t["outcomes"].loc[[9, 10, 11], "lead_id"] = ["X0001"] * 3
    return {("activities", "lead_id"): ["L9999"], ("outcomes", "lead_id"): ["X0001"]}


CORRUPTIONS = {
    "wrong type in a numeric column": _wrong_type,
    "unknown outcome value": _unknown_outcome,
    "duplicated id": _duplicated_id,
    "dates in the future": _future_dates,
    "closed before created": _closed_before_created,
    "timestamp that does not parse": _unparseable_timestamp,
    "outcome of an unknown lead": _unknown_lead,
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_each_corruption_fails_naming_column_and_examples(tmp_path, corrupt):
    tables = clean_tables()
    expected = corrupt(tables)
    report = check(tmp_path, tables)
    assert not report.success
    assert failed(report) == set(expected), report.summary()
    for (table, column), examples in expected.items():
        failure = the_failure(report, table, column)
        assert failure.failing and failure.failing >= 1
        shown = " ".join(failure.examples)
        for example in examples:
            assert example in shown, failure
    with pytest.raises(ValidationFailed) as caught:
        report.raise_if_failed()
    assert isinstance(caught.value, LeadscoreError)
    message = str(caught.value)
    for (table, column), examples in expected.items():
        assert f"{table}.{column}" in message and examples[0] in message


def test_too_few_won_leads_to_train_on(tmp_path):
    report = check(tmp_path, clean_tables(n_won=12))
    assert failed(report) == {("outcomes", "outcome")}, report.summary()
    failure = report.failures[0]
    assert failure.failing is None
    assert "12 won" in failure.observed and "40" in failure.observed
    assert "won" in failure.rule


def test_scoring_input_skips_the_outcome_rules(tmp_path):
    tables = clean_tables(n_won=3)
    tables["outcomes"].loc[0, "outcome"] = "unknown"
    report = check(tmp_path, tables, purpose="score")
    assert report.success, report.summary()
    assert "outcomes" not in report.rows


def test_a_missing_column_is_named(tmp_path):
    folder = write_export(tmp_path / "export", clean_tables())
    cleaned, canonical, _ = load_clean(SPEC, folder)
    cleaned.leads = cleaned.leads.drop(columns=["opt_in"])
    report = validate_tables(SPEC, cleaned, canonical, now=NOW)
    assert failed(report) == {("leads", "opt_in")}
    assert "present" in report.failures[0].rule


# ------------------------------------------------------------------------------- profile
def test_profile_records_known_values_and_ranges_and_round_trips(tmp_path, training_profile):
    assert set(training_profile.categorical["industry"]) == {"software", "healthcare", "retail"}
    assert training_profile.numeric["employees"].min == 7.5
    assert training_profile.numeric["employees"].max == 1000
    assert set(training_profile.activity_types) == {"email_open", "web_visit", "pricing_view"}
    path = training_profile.save(tmp_path / "bundle" / "profile.json")
    assert DataProfile.load(path) == training_profile
    (tmp_path / "broken.json").write_text('{"spec_name": "x", "rows": 1, "surprise": 1}')
    with pytest.raises(DataError, match="broken.json"):
        DataProfile.load(tmp_path / "broken.json")


def test_profile_tolerates_a_few_new_categories_but_not_drift(tmp_path, training_profile):
    tables = clean_tables(seed=4)
    tables["leads"].loc[:3, "industry"] = "Mining"  # 2%: within the 95% rule
    report = check(tmp_path / "few", tables, profile=training_profile)
    assert report.success, report.summary()

    tables["leads"].loc[:39, "industry"] = "Mining"  # 20%
    tables["leads"].loc[:9, "employees"] = "250000"  # far beyond the training range
    tables["activities"].loc[:199, "activity_type"] = "chat"  # 20% unknown types
    report = check(tmp_path / "drift", tables, profile=training_profile)
    assert failed(report) == {("leads", "industry"), ("leads", "employees"),
                              ("activities", "activity_type")}, report.summary()
    assert "mining" in the_failure(report, "leads", "industry").examples
    assert "250,000" in the_failure(report, "leads", "employees").examples


def test_a_profile_of_another_spec_is_refused(tmp_path, training_profile):
    other = training_profile.model_copy(update={"spec_name": "someone-else"})
    with pytest.raises(DataError, match="someone-else"):
        check(tmp_path, clean_tables(), profile=other)


# ----------------------------------------------------------------------------- X Education
@pytest.mark.skipif(not (ROOT.parent / "shared" / "data" / "x_education" / "Leads.csv").exists(),
                    reason="the X Education export ../shared/data/x_education/Leads.csv is not "
                           "in this checkout (it is not shipped with the project)")
def test_the_x_education_export_passes():
    spec = load_spec(X_EDUCATION_SPEC)
    cleaned, canonical, _ = load_clean(spec)
    report = validate_tables(spec, cleaned, canonical)
    assert report.success, report.summary()
    profile = DataProfile.from_tables(spec, canonical)
    assert validate_tables(spec, cleaned, canonical, profile=profile, purpose="score").success


# ------------------------------------------------------------------------------------ CLI
def _export_with_spec(folder: Path, tables: dict[str, pd.DataFrame]) -> Path:
    write_export(folder, tables)
    spec_path = folder / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(SPEC_DATA, sort_keys=False))
    return spec_path


def test_cli_exits_non_zero_on_a_corrupted_copy_and_names_the_column(tmp_path, monkeypatch):
    from leadscore.cli import app

    monkeypatch.setenv("LEADSCORE_MODELS_DIR", str(tmp_path / "models"))  # no champion profile
    runner = CliRunner()
    good = _export_with_spec(tmp_path / "good", clean_tables())
    docs = tmp_path / "docs"
    result = runner.invoke(app, ["validate", "--spec", str(good), "--docs", str(docs)])
    assert result.exit_code == 0, result.output
    assert "rules passed" in result.output
    assert (docs / "index.html").is_file()
    assert str(docs / "index.html") in result.output.replace("\n", "")

    tables = clean_tables()
    tables["leads"].loc[[3, 17], "employees"] = ["abc", "abc"]
    bad = _export_with_spec(tmp_path / "bad", tables)
    result = runner.invoke(app, ["validate", "--spec", str(bad), "--docs", str(docs)])
    assert result.exit_code == 1, result.output
    assert "employees" in result.output and "abc" in result.output
    assert "validation failed" in result.output and "leads.employees" in result.output


def test_cli_uses_the_champion_profile_of_the_same_spec(tmp_path, monkeypatch, training_profile):
    from leadscore.cli import app

    models = tmp_path / "models"
    training_profile.save(models / "bundles" / SPEC_DATA["name"] / "champion" / "profile.json")
    monkeypatch.setenv("LEADSCORE_MODELS_DIR", str(models))
    tables = clean_tables()
    tables["leads"]["industry"] = "Mining"
    spec_path = _export_with_spec(tmp_path / "drift", tables)
    runner = CliRunner()
    result = runner.invoke(app, ["validate", "--spec", str(spec_path), "--docs", str(tmp_path / "docs")])
    assert result.exit_code == 1, result.output
    assert "champion" in result.output and "industry" in result.output
    result = runner.invoke(app, ["validate", "--spec", str(spec_path), "--no-profile",
                                 "--docs", str(tmp_path / "docs")])
    assert result.exit_code == 0, result.output
