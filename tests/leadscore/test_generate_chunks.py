"""`leadscore generate --chunk-leads`: a CRM too big for memory, generated a chunk at a time into
partitioned Parquet, with the generator's own distributions."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from leadscore.cli import app

runner = CliRunner()


def generate(out, *args: str):
    result = runner.invoke(app, ["generate", "--out", str(out), "--seed", "3", *args])
    assert result.exit_code == 0, result.output
    return result


def table(folder, name: str) -> pd.DataFrame:
    return pd.read_parquet(folder / f"{name}.parquet")


@pytest.fixture(scope="module")
def chunked(tmp_path_factory):
    out = tmp_path_factory.mktemp("chunks") / "crm"
    generate(out, "--leads", "5000", "--chunk-leads", "2000")
    return out


def test_each_table_is_a_folder_of_one_file_per_chunk_with_ids_running_on(chunked):
    for name in ("leads", "activities", "outcomes", "truth"):
        assert sorted(p.name for p in (chunked / f"{name}.parquet").iterdir()) == [
            "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    leads = table(chunked, "leads")
    ids = leads["lead_id"].drop_duplicates()
    assert list(ids.sort_values()) == [f"L{i:07d}" for i in range(1, 5001)]
    assert set(table(chunked, "activities")["lead_id"].astype(str)) <= set(ids)
    assert set(table(chunked, "outcomes")["lead_id"].astype(str)) <= set(ids)
    assert set(table(chunked, "truth")["lead_id"]) == set(ids)


def test_one_chunk_is_the_unchunked_crm_and_the_same_seed_gives_the_same_chunks(tmp_path, chunked):
    generate(tmp_path / "plain", "--leads", "2000")
    generate(tmp_path / "one", "--leads", "2000", "--chunk-leads", "2000")
    generate(tmp_path / "again", "--leads", "5000", "--chunk-leads", "2000")
    for name in ("leads", "activities", "outcomes", "truth"):
        pd.testing.assert_frame_equal(table(tmp_path / "one", name), table(tmp_path / "plain", name))
        pd.testing.assert_frame_equal(table(tmp_path / "again", name), table(chunked, name))


def test_chunks_keep_the_generator_s_distributions(tmp_path, chunked):
    """Chunked, the CRM differs draw by draw from the unchunked one, not in what it looks like."""
    generate(tmp_path / "plain", "--leads", "5000")
    plain, chunks = tmp_path / "plain", chunked
    won = {f: (table(f, "outcomes")["outcome"] == "won").mean() for f in (plain, chunks)}
    assert abs(won[plain] - won[chunks]) < 0.03
    per_lead = {f: len(table(f, "activities")) / 5000 for f in (plain, chunks)}
    assert abs(per_lead[plain] - per_lead[chunks]) < 2
    industry = {f: table(f, "leads")["industry"].value_counts(normalize=True) for f in (plain, chunks)}
    assert (industry[plain] - industry[chunks]).abs().max() < 0.03
    created = {f: table(f, "leads")["created_at"] for f in (plain, chunks)}
    assert abs((created[plain].median() - created[chunks].median()) / pd.Timedelta(days=1)) < 20


def test_a_chunk_size_or_format_that_cannot_work_is_refused_and_nothing_is_written(tmp_path):
    refused = runner.invoke(app, ["generate", "--out", str(tmp_path / "x"), "--leads", "100", "--chunk-leads", "0"])
    assert refused.exit_code == 2 and "--chunk-leads" in refused.output
    csv = runner.invoke(app, ["generate", "--out", str(tmp_path / "y"), "--leads", "100", "--chunk-leads", "50",
                              "--format", "csv"])
    assert csv.exit_code == 2 and "Parquet only" in csv.output
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
