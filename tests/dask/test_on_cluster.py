"""On a Dask LocalCluster, the export partitioned by lead gives what one machine gives, bit for
bit: the training examples and their model rows, the validation report, the batch scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.examples import build_examples
from features.load import load_clean
from features.partitions import examples_on_cluster, model_rows, read_export, tables_on_cluster
from features.spec import load_spec
from features.transform import LeadTransform
from features.validation import validate_tables
from leadscore.cli import app
from tests.conftest import DEMO_SPEC

pytestmark = [pytest.mark.dask, pytest.mark.slow]
AS_OF = "2026-06-01T00:00:00Z"


def test_examples_and_model_rows_are_identical_to_one_machine(client, small_demo_crm, partitioned_crm):
    spec = load_spec(DEMO_SPEC)
    _, tables, _ = load_clean(spec, small_demo_crm)
    single = build_examples(spec, tables)
    on_cluster = examples_on_cluster(client, spec, partitioned_crm, partitions=4)
    examples = on_cluster.to_examples()

    pd.testing.assert_frame_equal(examples.leads, single.leads)
    for name in ("as_of", "label", "order", "lead", "age_days", "evaluated", "drawn"):
        mine, theirs = getattr(examples, name), getattr(single, name)
        assert mine.dtype == theirs.dtype, name
        np.testing.assert_array_equal(mine, theirs, err_msg=name)
    assert examples.excluded == single.excluded and examples.counts == single.counts
    assert on_cluster.spellings == tables.spellings
    from features.partitions import profile_of
    from features.profile import DataProfile

    assert profile_of(on_cluster.tables) == DataProfile.from_tables(spec, tables)  # what the bundle carries
    assert on_cluster.frame.npartitions == 4

    transform = LeadTransform.fit(spec, single.leads, tables.activities)
    rows = pd.concat([part for part in client.gather(client.compute(model_rows(transform, on_cluster).to_delayed()))
                      if len(part)])
    matrix = transform.transform_frame(single.leads, tables.activities, single.as_of)
    # the cluster's rows come partition by partition: put them in the single path's order
    frame = pd.concat([f for f in client.gather(on_cluster.futures) if len(f)])
    position = pd.Series(np.arange(len(single)), index=pd.MultiIndex.from_arrays([single.leads["lead_id"],
                                                                                 single.age_days]))
    mine = np.empty_like(matrix)
    mine[position.loc[pd.MultiIndex.from_arrays([frame["lead_id"], frame["age_days"]])].to_numpy()] = rows.to_numpy()
    np.testing.assert_array_equal(mine, matrix)


def broken_export(small_demo_crm: Path, folder: Path) -> Path:
    """`small_demo_crm` with what validation refuses: a duplicated lead id, activities of unknown
    leads, an unreadable time, an outcome neither won nor lost; as 3 files per table."""
    from tests.dask.conftest import split

    leads = pd.read_parquet(small_demo_crm / "leads.parquet")
    leads = pd.concat([leads, leads.iloc[[5]].assign(industry="Retail")], ignore_index=True)
    activities = pd.read_parquet(small_demo_crm / "activities.parquet")
    activities["lead_id"] = activities["lead_id"].astype(str)
    activities.loc[activities.index[:7], "lead_id"] = [f"X{i}" for i in range(7)]
    outcomes = pd.read_parquet(small_demo_crm / "outcomes.parquet")
    outcomes.loc[outcomes.index[3], "outcome"] = "maybe"
    for name, frame in (("leads", leads), ("activities", activities), ("outcomes", outcomes)):
        split(frame, folder / name, 3)
    return folder


def test_the_validation_report_is_the_one_machine_report(client, small_demo_crm, tmp_path):
    spec = load_spec(DEMO_SPEC)
    folder = broken_export(small_demo_crm, tmp_path / "broken")
    cleaned, canonical, _ = load_clean(spec, folder)
    now = pd.Timestamp("2026-12-01")
    single = validate_tables(spec, cleaned, canonical, purpose="train", now=now)
    cluster = tables_on_cluster(client, spec, read_export(spec, folder), purpose="train", partitions=3)
    report = cluster.validate(now=now)
    assert not single.success and len(single.failures) >= 2  # the test data breaks rules
    assert report.failures == single.failures
    assert (report.success, report.checked, report.rows, report.notes) == (
        single.success, single.checked, single.rows, single.notes)


def score(*args: str):
    return CliRunner().invoke(app, ["score", "--spec", str(DEMO_SPEC), *args, "--as-of", AS_OF, "--no-progress"],
                              catch_exceptions=False)


def test_score_on_the_cluster_writes_the_one_machine_scores(cluster, bundle_dir, small_demo_crm, partitioned_crm,
                                                            tmp_path):
    single = tmp_path / "single.parquet"
    result = score(str(small_demo_crm / "leads.parquet"), str(single), "--bundle", str(bundle_dir), "--activities",
                   str(small_demo_crm / "activities.parquet"), "--no-log")
    assert result.exit_code == 0, result.output
    single_output = result.output
    folder = tmp_path / "scores"
    result = score(str(partitioned_crm / "leads"), str(folder), "--bundle", str(bundle_dir), "--activities",
                   str(partitioned_crm / "activities" / "*.parquet"), "--no-log", "--dask", cluster)
    assert result.exit_code == 0, result.output
    assert "scored 2,000 leads" in result.output.replace("\n", " ")
    single_notes = [line for line in single_output.splitlines() if line.startswith("note:")]
    assert single_notes[0].startswith("note: ") and "created after --as-of" in single_notes[0]
    assert single_notes[0] in result.output  # the same leads created after --as-of, the same example
    files = sorted(folder.glob("*.parquet"))
    assert len(files) >= 2 and not list(tmp_path.glob(".scores.*"))  # partitioned, nothing left behind
    mine = pd.read_parquet(folder).sort_values("lead_id").reset_index(drop=True)
    theirs = pd.read_parquet(single).sort_values("lead_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, theirs)  # same columns, dtypes, values, stages and reasons


def test_scores_that_fail_validation_write_nothing(cluster, bundle_dir, small_demo_crm, tmp_path):
    leads = pd.read_parquet(small_demo_crm / "leads.parquet")
    leads["created_at"] = leads["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")  # times as text
    leads.loc[leads.index[:3], "created_at"] = "yesterday"
    leads.to_parquet(tmp_path / "leads.parquet", index=False)
    folder = tmp_path / "scores"
    result = score(str(tmp_path / "leads.parquet"), str(folder), "--bundle", str(bundle_dir), "--activities",
                   str(small_demo_crm / "activities.parquet"), "--no-log", "--dask", cluster)
    assert result.exit_code == 1
    assert "created_at" in result.output and "yesterday" in result.output
    assert not folder.exists() and not list(tmp_path.glob(".scores.*"))


def test_a_few_leads_scored_against_the_whole_activity_log(cluster, bundle_dir, small_demo_crm, tmp_path):
    """The activities of other leads are left out, counted over the whole log as one machine
    counts them; an activity log of another export is refused as one machine refuses it."""
    leads = pd.read_parquet(small_demo_crm / "leads.parquet").iloc[::40]
    leads.to_parquet(tmp_path / "few.parquet", index=False)
    common = ["--bundle", str(bundle_dir), "--activities", str(small_demo_crm / "activities.parquet"), "--no-log"]
    single = score(str(tmp_path / "few.parquet"), str(tmp_path / "single.parquet"), *common)
    mine = score(str(tmp_path / "few.parquet"), str(tmp_path / "scores"), *common, "--dask", cluster)
    assert (single.exit_code, mine.exit_code) == (0, 0), mine.output
    flat = " ".join(mine.output.split())
    note = " ".join(single.output.split()).split("note: ")[1].split(" note:")[0]
    assert "activities belong to no lead of this file" in note and note in flat
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "scores").sort_values("lead_id").reset_index(drop=True),
        pd.read_parquet(tmp_path / "single.parquet").sort_values("lead_id").reset_index(drop=True))

    other = pd.read_parquet(small_demo_crm / "activities.parquet")
    other["lead_id"] = "Z" + other["lead_id"].astype(str)
    other.to_parquet(tmp_path / "other.parquet", index=False)
    common = ["--bundle", str(bundle_dir), "--activities", str(tmp_path / "other.parquet"), "--no-log"]
    single = score(str(tmp_path / "few.parquet"), str(tmp_path / "single2.parquet"), *common)
    mine = score(str(tmp_path / "few.parquet"), str(tmp_path / "scores2"), *common, "--dask", cluster)
    assert (single.exit_code, mine.exit_code) == (1, 1)
    assert " ".join(mine.output.split()) == " ".join(single.output.split())
    assert "none of its" in mine.output and not (tmp_path / "scores2").exists()


def test_times_written_as_text_are_read_with_the_whole_column_s_format(client, small_demo_crm, tmp_path):
    """Day-first times written as text: the format the whole column shows is stated to every
    partition, which reads them as one machine does."""
    from tests.dask.conftest import split

    spec = load_spec(DEMO_SPEC)
    leads = pd.read_parquet(small_demo_crm / "leads.parquet")
    leads["created_at"] = leads["created_at"].dt.strftime("%d/%m/%Y %H:%M")
    split(leads, tmp_path / "text" / "leads", 4)
    for table in ("activities", "outcomes"):
        split(pd.read_parquet(small_demo_crm / f"{table}.parquet"), tmp_path / "text" / table, 2)
    _, single, _ = load_clean(spec, tmp_path / "text")
    assert single.leads["created_at"].notna().all()
    cluster = tables_on_cluster(client, spec, read_export(spec, tmp_path / "text"), purpose="train", partitions=4)
    parts = client.gather(cluster.parts)
    mine = pd.concat([p.canonical.leads.assign(_place=p.places["leads"]) for p in parts]).sort_values("_place")
    pd.testing.assert_frame_equal(mine.drop(columns="_place").reset_index(drop=True), single.leads)
    assert cluster.spec.leads.date_format == {"created_at": "%d/%m/%Y %H:%M"}


def test_score_never_replaces_an_input_or_a_folder_of_other_files(cluster, bundle_dir, partitioned_crm, tmp_path):
    """OUTPUT is replaced as a whole folder: naming the export's folder, an input table or a
    folder of other files deleted them (exit 0). Now refused before any work; an earlier
    scores folder is still replaced."""
    import shutil

    export = tmp_path / "export"
    for table in ("leads", "activities"):
        shutil.copytree(partitioned_crm / table, export / table)
    (export / "notes.txt").write_text("keep me")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "report.xlsx").write_text("keep me too")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    common = [str(export / "leads"), "--bundle", str(bundle_dir), "--activities", str(export / "activities"),
              "--no-log", "--dask", cluster]
    for output in (export, export / "activities", export / "leads" / "x", mine):
        result = score(common[0], str(output), *common[1:])
        said = result.output.replace("\n", " ")
        assert result.exit_code == 1 and ("overlap" in said or "holding other files than scores" in said), said
    # an input folder that holds only files named as scores are named is still never OUTPUT
    scores_named = shutil.copytree(partitioned_crm / "activities", tmp_path / "acts", ignore=shutil.ignore_patterns("_*"))
    for i, file in enumerate(sorted(scores_named.iterdir())):
        file.rename(scores_named / f"part.{i:05d}.parquet")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = score(common[0], str(scores_named), *common[1:4], str(scores_named), *common[5:])
    assert result.exit_code == 1 and "overlap" in result.output.replace("\n", " "), result.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    for _ in range(2):  # a folder an earlier run wrote is replaced
        result = score(common[0], str(tmp_path / "scores"), *common[1:])
        assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(tmp_path / "scores")) == 2000


def test_files_in_another_column_order_read_as_one_machine_reads_them(client, partitioned_crm, tmp_path):
    import shutil

    from features.partitions import PLACE, read_on_cluster
    from features.read import read_table

    folder = shutil.copytree(partitioned_crm / "leads", tmp_path / "leads")
    part = folder / "part.1.parquet"
    frame = pd.read_parquet(part)
    frame[list(reversed(frame.columns))].to_parquet(part, index=False)
    mine = read_on_cluster(folder, "leads").compute().drop(columns=PLACE).reset_index(drop=True)
    theirs = read_table(folder, "leads")
    theirs.attrs.clear()
    mine.attrs.clear()
    pd.testing.assert_frame_equal(mine, theirs)


def test_the_client_fits_a_sample_while_lightgbm_learns_from_every_lead(client, small_demo_crm, partitioned_crm):
    """train --dask: the client gathers the one-machine sample (the same leads, snapshots and
    activities, nothing else), and LightGBM's fits on the workers learn from every lead of the
    export in the time windows the sample's split names, not from the sample alone."""
    from tests.conftest import FAST_CONFIG
    from training.config import TrainingConfig
    from training.dask_trainer import DaskLightGBM
    from training.minimum_data import lead_sample, training_plan_on_cluster
    from training.trainer import train_model

    spec = load_spec(DEMO_SPEC)
    _, tables, _ = load_clean(spec, small_demo_crm)
    single = build_examples(spec, tables)
    on_cluster = examples_on_cluster(client, spec, partitioned_crm, partitions=4)
    examples, kept_tables, places, sample, plan = training_plan_on_cluster(on_cluster, 1_000)
    expected, expected_sample = lead_sample(single, 1_000)
    assert (sample.kept, sample.of) == (expected_sample.kept, expected_sample.of) and sample.kept == 1_000
    assert plan.counts.leads == 1_000  # the sample's plan
    pd.testing.assert_frame_equal(examples.leads, expected.leads)
    for name in ("as_of", "label", "order", "age_days", "evaluated", "drawn"):
        np.testing.assert_array_equal(getattr(examples, name), getattr(expected, name), err_msg=name)
    assert examples.lead_share == expected.lead_share < 1 and examples.counts == single.counts
    theirs = tables.activities[tables.activities["lead_id"].isin(expected.leads["lead_id"])]
    pd.testing.assert_frame_equal(kept_tables.activities.reset_index(drop=True), theirs.reset_index(drop=True))

    fitting = DaskLightGBM(client, partitioned=(on_cluster, examples, places))
    result = train_model(spec, examples, kept_tables.activities, TrainingConfig.model_validate(FAST_CONFIG),
                         lightgbm=fitting.fitting())
    # Every example of the export older than the sample's first validation lead is in the
    # early-stopping fit; every one older than its first holdout lead in the final refit.
    ranked = single.in_time_order()
    lead_ids = single.leads["lead_id"].to_numpy()[ranked]

    def older_than(sample_row: int) -> int:
        return int(np.flatnonzero(lead_ids == examples.leads["lead_id"].iloc[sample_row])[0])

    first_validation = result.split.validation[np.argmin(examples.order[result.split.validation])]
    first_holdout = result.split.holdout_snapshots[np.argmin(examples.order[result.split.holdout_snapshots])]
    # (the sample holds 61% of the leads: the cluster's fits see about 1.6 times its rows)
    assert fitting.fits[0]["rows"] == older_than(first_validation) > 1.4 * len(result.split.fit)
    assert fitting.fits[-1]["rows"] == older_than(first_holdout) > 1.4 * len(result.split.training)
    # Tree counts scale with the examples the fits learn from on the cluster, not the sample's.
    for refit in fitting.fits[1:]:
        assert refit["trees"] == max(1, round(result.best_iteration * refit["rows"] / fitting.fits[0]["rows"]))


def test_an_undated_export_keeps_its_row_order_as_time_on_the_cluster(client, tmp_path):
    """Without creation times or order_by, a lead's row is its time (the holdout is the last
    rows): the cluster's examples rank the leads as one machine does, not partition by partition."""
    from tests.conftest import ROOT

    text = (ROOT / "data" / "specs" / "x_education.yaml").read_text(encoding="utf-8")
    text = text.replace("  order_by: Lead Number\n", "  decimal: '.'\n")
    text = text.replace("data_dir: ../../../shared/data/x_education", f"data_dir: {ROOT.parent / 'shared' / 'data' / 'x_education'}")
    (tmp_path / "undated.yaml").write_text(text, encoding="utf-8")
    spec = load_spec(tmp_path / "undated.yaml")
    assert spec.leads.order_by is None and spec.leads.created_at is None
    _, tables, _ = load_clean(spec)
    single = build_examples(spec, tables)
    examples = examples_on_cluster(client, spec, partitions=3).to_examples()
    in_time = [e.leads["lead_id"].to_numpy()[e.in_time_order()] for e in (single, examples)]
    np.testing.assert_array_equal(in_time[1], in_time[0])
