"""A LocalCluster of two single-threaded worker processes, and tests/conftest.py's small CRM
(one file per table) written again as partitioned Parquet, shared by the Dask tests (`pytest -m dask`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def cluster():
    """The scheduler address of a LocalCluster: 2 workers, 1 thread each, processes."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit="2GiB",
                                  dashboard_address=":0") as local:  # any free port
        yield local.scheduler_address


@pytest.fixture(scope="session")
def client(cluster):
    from distributed import Client

    with Client(cluster) as connected:
        yield connected


def split(frame: pd.DataFrame, folder: Path, parts: int) -> Path:
    """`frame` written as `parts` Parquet files in `folder`, as Spark and Dask write a table."""
    folder.mkdir(parents=True)
    n = len(frame)
    for i in range(parts):
        frame.iloc[i * n // parts:(i + 1) * n // parts].to_parquet(folder / f"part.{i}.parquet", index=False)
    return folder


@pytest.fixture(scope="session")
def partitioned_crm(small_demo_crm, tmp_path_factory) -> Path:
    """`small_demo_crm` as folders of Parquet files (3 leads files, 4 activities, 2 outcomes) with
    Spark's `_SUCCESS` marker beside them."""
    out = tmp_path_factory.mktemp("dask-crm-parts")
    for table, parts in (("leads", 3), ("activities", 4), ("outcomes", 2)):
        folder = split(pd.read_parquet(small_demo_crm / f"{table}.parquet"), out / table, parts)
        (folder / "_SUCCESS").write_text("")
    return out
