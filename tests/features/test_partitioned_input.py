"""A table given as partitioned Parquet (a folder, hive-style subfolders, a glob) reads as the
same table in one file; what cannot be read is refused naming the path."""

from __future__ import annotations

import pandas as pd
import pytest

from features.errors import DataError
from features.load import load_clean
from features.read import read_table
from features.spec import load_spec
from tests.conftest import DEMO_SPEC


@pytest.fixture()
def leads() -> pd.DataFrame:
    return pd.DataFrame({"lead_id": [f"L{i:03d}" for i in range(30)],
                         "country": ["IT", "DE", "US"] * 10,
                         "employee_count": [float(i) for i in range(30)],
                         "note": ["x", None, "y"] * 10})


def write_parts(frame: pd.DataFrame, folder, parts: int) -> None:
    folder.mkdir(parents=True)
    n = len(frame)
    for i in range(parts):  # part.10 after part.9, as Spark and Dask number them
        frame.iloc[i * n // parts:(i + 1) * n // parts].to_parquet(folder / f"part.{i}.parquet", index=False)


def test_a_folder_of_parts_reads_as_the_one_file(leads, tmp_path):
    leads.to_parquet(tmp_path / "leads.parquet", index=False)
    write_parts(leads, tmp_path / "leads", 12)
    (tmp_path / "leads" / "_SUCCESS").write_text("")
    (tmp_path / "leads" / ".part.0.parquet.crc").write_text("checksum")
    whole = read_table(tmp_path / "leads.parquet", "leads")
    pd.testing.assert_frame_equal(read_table(tmp_path / "leads", "leads"), whole)
    pd.testing.assert_frame_equal(read_table(tmp_path / "leads" / "part.*.parquet", "leads"), whole)


def test_hive_style_subfolders_give_their_column(leads, tmp_path):
    leads.to_parquet(tmp_path / "leads", partition_cols=["country"], index=False)
    read = read_table(tmp_path / "leads", "leads")
    assert sorted(read.columns) == sorted(leads.columns)
    mine = read.astype({"country": str}).sort_values("lead_id").reset_index(drop=True)[list(leads.columns)]
    pd.testing.assert_frame_equal(mine, leads, check_dtype=False)


def test_a_spec_table_may_be_a_folder(small_crm_parts):
    spec = load_spec(DEMO_SPEC)
    _, from_parts, _ = load_clean(spec, small_crm_parts["parts"])
    _, from_files, _ = load_clean(spec, small_crm_parts["files"])
    for table in ("leads", "activities", "outcomes"):
        pd.testing.assert_frame_equal(getattr(from_parts, table), getattr(from_files, table))


@pytest.fixture(scope="module")
def small_crm_parts(tmp_path_factory):
    from leadscore.jobs.generate import run_generate

    files = tmp_path_factory.mktemp("crm-files")
    run_generate(files, 300, seed=3, show_progress=False, print_summary=False)
    parts = tmp_path_factory.mktemp("crm-parts")
    for table in ("leads", "activities", "outcomes"):
        write_parts(pd.read_parquet(files / f"{table}.parquet"), parts / table, 3)
    return {"files": files, "parts": parts}


def test_what_cannot_be_read_is_refused_naming_the_path(leads, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "leads.csv").write_text("lead_id\nL1\n")
    with pytest.raises(DataError, match=r"empty: the folder for the leads table holds no \.parquet files"):
        read_table(tmp_path / "empty", "leads")
    with pytest.raises(DataError, match=r"nowhere/\*\.parquet: the glob for the leads table matches no file"):
        read_table(tmp_path / "nowhere" / "*.parquet", "leads")
    write_parts(leads, tmp_path / "mixed", 2)
    (tmp_path / "mixed" / "extra.csv").write_text("lead_id\nL1\n")
    with pytest.raises(DataError, match=r"mixed: the leads table's files must all be \.parquet, but .*extra\.csv"):
        read_table(tmp_path / "mixed", "leads")


@pytest.mark.parametrize("change, words", [
    (lambda f: f.drop(columns=["note"]), "has no column 'note', which"),
    (lambda f: f.assign(extra=1), "has a column 'extra' that"),
    (lambda f: f.assign(employee_count=f["employee_count"].astype(str)), "column 'employee_count' is text in"),
])
@pytest.mark.parametrize("changed", [0, 2])
def test_files_of_one_table_with_other_columns_are_refused_naming_file_and_column(leads, tmp_path, change, words,
                                                                                  changed):
    """pyarrow read a folder with its first file's columns: a column missing from a later file
    came back empty and one only later files had was dropped, silently."""
    write_parts(leads, tmp_path / "leads", 3)
    part = tmp_path / "leads" / f"part.{changed}.parquet"
    change(pd.read_parquet(part)).to_parquet(part, index=False)
    with pytest.raises(DataError) as err:
        read_table(tmp_path / "leads", "leads")
    message = str(err.value)
    assert str(tmp_path / "leads") in message and "part." in message
    assert "write every file of a table with the same columns" in message
    if changed == 2:  # said of the later file against the first
        assert words in message and str(part) in message


def test_column_order_and_empty_files_do_not_change_the_table(leads, tmp_path):
    write_parts(leads, tmp_path / "leads", 3)
    part = tmp_path / "leads" / "part.1.parquet"
    frame = pd.read_parquet(part)
    frame[list(reversed(frame.columns))].to_parquet(part, index=False)
    pd.DataFrame().to_parquet(tmp_path / "leads" / "part.3.parquet")  # no rows, no columns
    leads.iloc[:0].to_parquet(tmp_path / "leads" / "part.4.parquet", index=False)
    pd.testing.assert_frame_equal(read_table(tmp_path / "leads", "leads"), leads)
