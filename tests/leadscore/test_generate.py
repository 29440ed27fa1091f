"""`leadscore generate` and the synthetic CRM behind it, checked the way a user would notice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from features.errors import DataError
from leadscore.cli import app
from leadscore.jobs.generate import run_generate
from leadscore.synthetic import EXPORT_END, QUALIFICATION_DAYS, generate_crm

ROOT = Path(__file__).resolve().parents[2]
SPEC = yaml.safe_load((ROOT / "data" / "specs" / "demo_crm.yaml").read_text())
END = pd.Timestamp(str(EXPORT_END))
QUALIFICATION = pd.Timedelta(days=QUALIFICATION_DAYS)
assert QUALIFICATION_DAYS == SPEC["features"]["evaluation_age_days"]  # the truth is fixed where the holdout is evaluated
PLACEHOLDERS = {"Select", "", "N/A"}
CATEGORICAL = SPEC["leads"]["categorical"]

LEAD_COLUMNS = ["lead_id", "created_at", "industry", "company_size", "employee_count", "country",
                "job_role", "seniority", "lead_source", "campaign", "product_interest",
                "email_opt_in", "sales_rating"]
ACTIVITY_COLUMNS = ["lead_id", "occurred_at", "activity_type", "value"]
OUTCOME_COLUMNS = ["lead_id", "outcome", "closed_at"]
TRUTH_COLUMNS = ["lead_id", "p_true"]
ACTIVITY_TYPES = {"email_open", "email_click", "web_visit", "pricing_view", "content_download",
                  "webinar", "form_fill", "demo_request", "unsubscribe"}


def clean_text(values: pd.Series) -> pd.Series:
    """What the cleaning step does to a category: trim, lower-case, spec aliases."""
    text = values.astype(str).str.strip().str.lower()
    return text.replace(SPEC["category_aliases"].get(values.name, {}))


@pytest.fixture(scope="module")
def crm():
    return generate_crm(20_000, seed=3)


@pytest.fixture(scope="module")
def unique_leads(crm):
    return crm.leads.drop_duplicates().set_index("lead_id")


def generate_args(*options: str) -> list[str]:
    return ["generate", *options]


def write(out: Path, n_leads: int = 3000, seed: int = 5, file_format: str = "parquet", **kwargs):
    return run_generate(out, n_leads, seed=seed, file_format=file_format,
                        show_progress=False, print_summary=False, **kwargs)


# ----------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("file_format", ["parquet", "csv"])
def test_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path, file_format):
    first = write(tmp_path / "a", file_format=file_format)
    second = write(tmp_path / "b", file_format=file_format)
    other = write(tmp_path / "c", seed=6, file_format=file_format)

    assert sorted(p.name for p in first.out.iterdir()) == sorted(
        [f"{t}.{file_format}" for t in ("leads", "activities", "outcomes", "truth")] + ["summary.json"])
    for key, path in first.paths.items():
        assert path.read_bytes() == second.paths[key].read_bytes(), f"{path.name} differs"
    for table in ("leads", "activities", "truth"):
        assert first.paths[table].read_bytes() != other.paths[table].read_bytes()


# ---------------------------------------------------------------------------------- schema
def test_every_column_the_demo_spec_names_is_in_the_tables(crm):
    leads_spec, act_spec, out_spec = SPEC["leads"], SPEC["activities"], SPEC["outcomes"]
    named = [leads_spec["id"], leads_spec["created_at"], *leads_spec["categorical"],
             *leads_spec["numeric"], *leads_spec["yes_no"], *leads_spec["after_contact"]]
    assert sorted(named) == sorted(crm.leads.columns)
    assert {act_spec[k] for k in ("lead_id", "time", "type", "value")} == set(crm.activities.columns)
    assert {out_spec[k] for k in ("lead_id", "outcome", "closed_at")} == set(crm.outcomes.columns)
    assert set(act_spec["high_intent"] + act_spec["negative"]) <= set(crm.activities.activity_type.cat.categories)


def test_parquet_tables_have_their_columns_and_types(tmp_path):
    result = write(tmp_path / "demo")
    schemas = {t: pq.read_schema(result.paths[t]) for t in ("leads", "activities", "outcomes", "truth")}
    assert schemas["leads"].names == LEAD_COLUMNS
    assert schemas["activities"].names == ACTIVITY_COLUMNS
    assert schemas["outcomes"].names == OUTCOME_COLUMNS
    assert schemas["truth"].names == TRUTH_COLUMNS
    for table, column in [("leads", "created_at"), ("activities", "occurred_at"), ("outcomes", "closed_at")]:
        assert str(schemas[table].field(column).type) == "timestamp[ms]", (table, column)
    assert str(schemas["leads"].field("employee_count").type) == "double"
    assert str(schemas["activities"].field("value").type) == "double"
    assert str(schemas["truth"].field("p_true").type) == "double"
    for column in ["lead_id", *CATEGORICAL, "email_opt_in", "sales_rating"]:
        assert str(schemas["leads"].field(column).type) == "string", column

    leads = pd.read_parquet(result.paths["leads"])
    activities = pd.read_parquet(result.paths["activities"])
    assert leads.lead_id.str.fullmatch(r"L\d{7}").all()
    assert set(activities.activity_type.unique()) == ACTIVITY_TYPES
    timed = activities.activity_type.isin(["web_visit", "pricing_view"])
    assert (activities.value[timed] > 0).all() and activities.value[~timed].isna().all()
    assert set(pd.read_parquet(result.paths["outcomes"]).outcome) == {"won", "lost"}


def test_csv_tables_hold_the_same_data_with_plain_timestamps(tmp_path):
    parquet = write(tmp_path / "p")
    csv = write(tmp_path / "c", file_format="csv")
    for table, time_column in [("leads", "created_at"), ("activities", "occurred_at"),
                               ("outcomes", "closed_at"), ("truth", None)]:
        text = pd.read_csv(csv.paths[table], dtype=str, keep_default_na=False)
        frame = pd.read_parquet(parquet.paths[table])
        assert list(text.columns) == list(frame.columns)
        assert len(text) == len(frame)
        assert (text.lead_id == frame.lead_id.astype(str)).all()
        if time_column:
            assert text[time_column].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()
            assert (pd.to_datetime(text[time_column]) == frame[time_column]).all()
    truth = pd.read_csv(csv.paths["truth"])
    np.testing.assert_allclose(truth.p_true, pd.read_parquet(parquet.paths["truth"]).p_true)


# ------------------------------------------------------------------------ outcomes and truth
@pytest.mark.parametrize("won_rate", [0.10, 0.20])
def test_won_rate_among_closed_leads_lands_near_the_target(won_rate):
    crm = generate_crm(8000, seed=1, won_rate=won_rate)
    observed = (crm.outcomes.outcome == "won").mean()
    assert observed == pytest.approx(won_rate, abs=0.025)


def test_truth_ranks_outcomes_well_but_not_perfectly(crm):
    closed = crm.outcomes.merge(crm.truth, on="lead_id")
    auc = roc_auc_score(closed.outcome == "won", closed.p_true)
    assert 0.75 < auc < 0.95
    assert crm.truth.p_true.between(0, 1, inclusive="neither").all()
    assert crm.truth.lead_id.is_unique and set(crm.truth.lead_id) == set(crm.leads.lead_id)


def test_summary_reports_the_figures_of_the_tables(tmp_path):
    result = write(tmp_path / "demo")
    summary = result.summary
    outcomes = pd.read_parquet(result.paths["outcomes"])
    truth = pd.read_parquet(result.paths["truth"])
    leads = pd.read_parquet(result.paths["leads"])
    closed = outcomes.merge(truth, on="lead_id")
    assert summary["leads"] == truth.shape[0] == 3000
    assert summary["duplicates_injected"] == len(leads) - 3000
    assert summary["activities"] == pq.read_metadata(result.paths["activities"]).num_rows
    assert summary["outcomes"] == {"won": int((outcomes.outcome == "won").sum()),
                                   "lost": int((outcomes.outcome == "lost").sum()),
                                   "open": 3000 - len(outcomes)}
    assert summary["best_achievable_auc"] == pytest.approx(
        roc_auc_score(closed.outcome == "won", closed.p_true), abs=1e-4)
    assert json.loads(result.paths["summary"].read_text()) == {**summary, "format": "parquet"}


def test_a_lead_interested_in_a_product_we_dont_sell_scores_low_however_engaged(crm, unique_leads):
    activity = crm.activities.groupby("lead_id", observed=True).size()
    p_true = crm.truth.set_index("lead_id").p_true
    frame = pd.DataFrame({"p_true": p_true, "activities": activity.reindex(p_true.index, fill_value=0),
                          "home": clean_text(unique_leads.product_interest).reindex(p_true.index) == "home edition"})
    most_engaged = frame.activities >= frame.activities.quantile(0.9)
    home_engaged = frame[frame.home & most_engaged]
    others_engaged = frame[~frame.home & most_engaged]
    assert len(home_engaged) > 50
    assert home_engaged.p_true.median() < 0.04
    assert home_engaged.p_true.mean() < 0.06
    assert others_engaged.p_true.mean() > 5 * home_engaged.p_true.mean()


def test_sources_and_campaigns_differ_in_quality(crm, unique_leads):
    won = crm.outcomes.set_index("lead_id").outcome.eq("won")
    source = clean_text(unique_leads.lead_source).reindex(won.index)
    rate = won.groupby(source).mean()
    assert rate["referral"] > 2 * rate["paid search"] > 2 * rate["purchased list"]


def test_later_cohorts_drift_from_earlier_ones(crm, unique_leads):
    """Organic search gets better and retargeting wears out, relative to the other leads."""
    p_true = crm.truth.set_index("lead_id").p_true
    first_year = unique_leads.created_at.reindex(p_true.index) < END - pd.Timedelta(days=365)

    def advantage(column: str, value: str, cohort: pd.Series) -> float:
        members = clean_text(unique_leads[column]).reindex(p_true.index) == value
        return p_true[members & cohort].mean() / p_true[~members & cohort].mean()

    assert advantage("lead_source", "organic search", ~first_year) > 1.15 * advantage("lead_source", "organic search", first_year)
    assert advantage("campaign", "retargeting", ~first_year) < 0.92 * advantage("campaign", "retargeting", first_year)


# ---------------------------------------------------------------------------------- time
def test_nothing_happens_after_the_export_or_before_its_lead_was_created(crm, unique_leads):
    created = unique_leads.created_at
    assert created.max() < END and created.min() >= END - pd.Timedelta(days=730)
    activities = crm.activities
    lead_created = created.reindex(activities.lead_id.astype(str)).to_numpy()
    assert (activities.occurred_at.to_numpy() >= lead_created).all()
    assert activities.occurred_at.max() <= END
    assert crm.outcomes.closed_at.max() <= END


def test_deals_close_after_qualification_and_open_leads_have_no_outcome(crm, unique_leads):
    outcomes = crm.outcomes.set_index("lead_id")
    created = unique_leads.created_at.reindex(outcomes.index)
    lag = outcomes.closed_at - (created + QUALIFICATION)
    assert lag.min() >= pd.Timedelta(days=1) and lag.max() <= pd.Timedelta(days=60)
    assert lag[outcomes.outcome == "won"].mean() > lag[outcomes.outcome == "lost"].mean()

    open_leads = unique_leads.index.difference(outcomes.index)
    assert 0.05 < len(open_leads) / len(unique_leads) < 0.3
    assert (unique_leads.loc[open_leads, "sales_rating"] == "").all()
    assert (unique_leads.created_at[unique_leads.created_at + QUALIFICATION > END].index.isin(open_leads)).all()
    hot = unique_leads.loc[outcomes.index, "sales_rating"] == "hot"
    assert (outcomes.outcome == "won")[hot].mean() > 0.5  # the after-contact column leaks


def test_activity_after_qualification_depends_on_the_outcome(crm, unique_leads):
    activities = crm.activities.assign(lead_id=crm.activities.lead_id.astype(str))
    qualified = (unique_leads.created_at + QUALIFICATION).reindex(activities.lead_id).to_numpy()
    after = activities[activities.occurred_at.to_numpy() >= qualified]
    won = crm.outcomes.set_index("lead_id").outcome.eq("won")
    demos = (after[after.activity_type == "demo_request"].groupby("lead_id").size()
             .reindex(won.index, fill_value=0))
    assert demos[won].mean() > 3 * demos[~won].mean()


def test_activity_volume_and_mix_look_like_a_marketing_funnel(crm):
    counts = crm.activities.activity_type.value_counts()
    assert 15 < len(crm.activities) / len(crm.truth) < 25
    assert counts.idxmax() == "email_open"
    assert counts["demo_request"] < 0.05 * len(crm.activities)


# ----------------------------------------------------------------------------------- dirt
def test_exports_carry_placeholders_and_duplicate_rows(crm):
    leads = crm.leads
    for column in [*CATEGORICAL, "email_opt_in"]:
        share = leads[column].isin(PLACEHOLDERS).mean()
        assert 0.01 < share < 0.08, column
    assert set(leads.industry) >= PLACEHOLDERS
    duplicates = leads.duplicated()
    assert 0.001 < duplicates.mean() < 0.01
    assert duplicates.sum() == leads.lead_id.duplicated().sum()  # duplicates are whole rows
    assert leads.employee_count.isna().mean() == pytest.approx(0.08, abs=0.02)


def test_industry_spellings_clean_up_with_the_spec_aliases_but_one(crm):
    industry = crm.leads.industry[~crm.leads.industry.isin(PLACEHOLDERS)]
    assert industry.str.islower().any() and industry.str.isupper().any()
    assert set(SPEC["category_aliases"]["industry"]) <= set(industry.str.lower())
    cleaned = set(clean_text(industry))
    assert len(cleaned) == 11  # ten industries and one typo the spec does not list yet


def test_employee_count_agrees_with_company_size(unique_leads):
    bands = {"1-10": (1, 10), "11-50": (11, 50), "51-200": (51, 200), "201-1000": (201, 1000),
             "1001-5000": (1001, 5000), "5000+": (5001, np.inf)}
    size = unique_leads.company_size.str.strip()
    for band, (low, high) in bands.items():
        counts = unique_leads.employee_count[size == band].dropna()
        assert counts.between(low, high).all(), band


# ------------------------------------------------------------------------------------- CLI
runner = CliRunner()


def test_cli_generates_and_prints_the_summary(tmp_path):
    out = tmp_path / "demo"
    result = runner.invoke(app, generate_args("--out", str(out), "--leads", "2000", "--seed", "4"))
    assert result.exit_code == 0, result.output
    assert "best achievable ROC-AUC" in result.output and "won rate" in result.output
    assert (out / "truth.parquet").exists() and (out / "summary.json").exists()


@pytest.mark.parametrize("options, named", [
    (["--leads", "-5"], "--leads"),
    (["--leads", "0"], "--leads"),
    (["--format", "xlsx"], "--format"),
    (["--won-rate", "1.5"], "--won-rate"),
    (["--won-rate", "0"], "--won-rate"),
    (["--seasonality", "-0.5"], "--seasonality"),
    (["--seasonality", "4"], "--seasonality"),
])
def test_cli_refuses_bad_arguments_and_writes_nothing(tmp_path, options, named):
    out = tmp_path / "demo"
    result = runner.invoke(app, generate_args("--out", str(out), "--leads", "500", *options))
    assert result.exit_code != 0
    assert named in result.output
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_folder_under_a_regular_file(tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("not a folder")
    result = runner.invoke(app, generate_args("--out", str(blocker / "demo"), "--leads", "500"))
    assert result.exit_code == 1
    assert "--out" in result.output and "is a file" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_run_generate_refuses_an_unknown_format(tmp_path):
    with pytest.raises(DataError, match="--format"):
        write(tmp_path / "demo", file_format="xlsx")
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
    import leadscore.jobs.generate as job

    out = tmp_path / "deep" / "demo"
    def disk_full(table, path, bar):
        path.write_bytes(b"half a table")
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(job, "_write_parquet", disk_full)
    with pytest.raises(DataError, match="No space left"):
        write(out)
    assert list(tmp_path.iterdir()) == []

    out.mkdir(parents=True)
    (out / "leads.parquet").write_bytes(b"an earlier export")
    with pytest.raises(DataError):
        write(out)
    assert [p.name for p in out.parent.iterdir()] == ["demo"]
    assert [p.name for p in out.iterdir()] == ["leads.parquet"]
    assert (out / "leads.parquet").read_bytes() == b"an earlier export"


def test_regenerating_in_another_format_replaces_the_earlier_tables(tmp_path):
    out = tmp_path / "demo"
    write(out, n_leads=500)
    (out / "notes.md").write_text("kept")
    write(out, n_leads=500, file_format="csv")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["leads.csv", "activities.csv", "outcomes.csv", "truth.csv", "summary.json", "notes.md"])


def test_careless_history_changes_only_older_recorded_outcomes():
    from leadscore.synthetic import build_crm

    clean = build_crm(3000, seed=5)
    careless = build_crm(3000, seed=5, careless_history=0.7)
    assert clean.leads.equals(careless.leads) and clean.activities.equals(careless.activities)
    a, b = clean.outcomes.to_pandas(), careless.outcomes.to_pandas()
    changed = a["outcome"] != b["outcome"]
    assert changed.sum() > 100
    created = a["lead_id"].map(clean.leads.to_pandas().drop_duplicates("lead_id").set_index("lead_id")["created_at"])
    assert created[changed].max() < created.quantile(0.8)  # the most recent deals stay true


def test_seasonality_swings_the_won_rate_by_month_and_is_off_by_default():
    from leadscore.synthetic import build_crm

    plain = build_crm(12_000, seed=5)
    seasonal = build_crm(12_000, seed=5, seasonality=1.0)
    profile = [c for c in plain.leads.column_names if c != "sales_rating"]  # the rating follows the outcome
    assert plain.leads.select(profile).equals(seasonal.leads.select(profile))  # the same leads; only who buys changes
    by_month = seasonal.summary["won_rate_by_month"]
    spring, autumn = np.mean([by_month[m] for m in ("04", "05", "06")]), np.mean([by_month[m] for m in ("10", "11", "12")])
    assert spring > 1.8 * autumn  # May is the best month, November the worst
    assert abs(seasonal.summary["won_rate_closed"] - plain.summary["won_rate_closed"]) < 0.02  # the same on average
    assert "won_rate_by_month" not in plain.summary and "seasonality" not in plain.summary
    truth = seasonal.truth.to_pandas()["p_true"].to_numpy()
    assert not np.allclose(truth, plain.truth.to_pandas()["p_true"].to_numpy())
