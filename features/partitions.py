"""A CRM export on a Dask cluster: every table split by lead id, each partition computed by the
single-machine code.

Layout. Each table (leads, activities, outcomes) is read with `dask.dataframe.read_parquet`
(`features.read.table_files` decides what a table path means: one file, a folder of `.parquet`
files with hive-style subfolders, or a glob). Every row gets the canonical lead id as
`features.values.read_ids` reads it (so ' 101', 101 and '101.0' are one lead in every table) and
its place in the export; the rows are then shuffled on that id into `partitions` partitions,
the same number for every table, so partition i of the leads, of the activities and of the
outcomes hold all the rows of the same leads, in the export's order. Each partition then runs
the one definition: `features.load.clean` and `coerce`, `features.validation.validate_tables`,
`features.examples.build_examples`, the scorer's `score_table`.

What a partition cannot know alone is computed once over the whole export and given to every
partition, so that its result equals the single-machine one bit for bit:

- how each column is written (a time column's format, a table's number marks): the one
  detection (`features.values.infer_time_format`, `detect_marks`) on the column's distinct
  values over all partitions, then stated to every partition. Parquet timestamps and numbers
  need no detection; a CSV-like text time column in Parquet has its distinct texts gathered
  once (state `date_format` in the spec to skip that);
- a category's most common spelling (`features.values.category_spellings`), from value counts
  summed over the partitions;
- the export's end (`features.load.export_end`) and `features.outcome_maturity_days: auto`
  (a quantile over every closed lead);
- the random snapshot ages come from a hash of each lead's own id (`lead_uniforms`): no global
  view needed.

`leads.id: row_number` (ids from the file's row order) is refused on a cluster: give the leads
an id column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from features.spec import DatasetSpec

if TYPE_CHECKING:  # pragma: no cover - Dask is the optional leadscore[dask] install
    import dask.dataframe as dd
    from distributed import Client

    from features.examples import Examples
    from features.transform import LeadTransform

EXAMPLE_COLUMNS = ("as_of", "label", "order", "age_days", "evaluated", "drawn")
"""The columns `examples_on_cluster` adds beside the canonical lead columns, one per field of
`features.examples.Examples` (as_of datetime64[ns], label int8, order float64, age_days float64
(NaN without snapshots), evaluated bool, drawn bool)."""


@dataclass
class PartitionedExamples:
    """Training examples on a cluster (`examples_on_cluster`).

    frame: one row per example, partitioned by lead (every snapshot of a lead in one partition):
        the columns of `Examples.leads` (lead_id, created_at, the profile columns, with the
        dtypes `features.load.coerce` gives) then EXAMPLE_COLUMNS. Within a partition, rows are
        in the order `build_examples` gives them (leads by time, a lead's snapshots by age);
        across partitions there is no global time order: the time split sorts on `order`.
    activities: canonical activities (lead_id, occurred_at, activity_type, value), partition i
        holding the activities of the leads in partition i of `frame`; None without an event log.
    excluded, counts: what `Examples.excluded` and `Examples.counts` hold for the whole export
        (summed over partitions; the same numbers as the single-machine path).
    spellings: `CRMTables.spellings` of the whole export (what reasons show).
    spec: the spec with what was learnt globally stated in it (time formats, number marks,
        `outcome_maturity_days`), as every partition read the export.
    export_end: `features.load.export_end` of the whole export."""

    frame: "dd.DataFrame"
    activities: "dd.DataFrame | None"
    excluded: dict[str, int]
    counts: dict
    spellings: dict[str, dict[str, str]]
    spec: DatasetSpec
    export_end: pd.Timestamp
    notes: list[str] = field(default_factory=list)

    def to_examples(self) -> "Examples":
        """All the examples on this machine as one `features.examples.Examples` (for small data
        and tests): rows ordered by lead time, ties by lead id, snapshots by age; `lead`
        numbers 0, 1, ... in that order."""
        raise NotImplementedError


def examples_on_cluster(client: "Client", spec: DatasetSpec, data: Path | None = None, *,
                        partitions: int | None = None) -> PartitionedExamples:
    """The training examples of the export `spec` names (under `data` when given), computed on
    the cluster `client` is connected to: read, partition by lead id, clean, coerce, validate
    (refused with `features.validation.ValidationFailed`, as `leadscore train` does), then
    `build_examples` on each partition.

    partitions: how many lead partitions (default: the leads table's own file/row-group count,
    at least the number of workers).

    Raises DataError naming the path when a table is missing or a folder/glob holds no Parquet
    files, LeadscoreError for `leads.id: row_number`."""
    raise NotImplementedError


def model_rows(transform: "LeadTransform", examples: PartitionedExamples) -> "dd.DataFrame":
    """The model matrix of `examples`, one float64 row per example in the same partitions and
    order: `LeadTransform.transform_frame(leads, activities, as_of)` on each partition (columns
    `transform.names`), the same numbers as the single-machine matrix."""
    raise NotImplementedError
