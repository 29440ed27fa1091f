"""`leadscore train --dask`: the export read, validated and turned into examples on the cluster,
a sample of its leads brought to this machine (the client).

What `run_train` gets from here is what it gets from the single-machine reading, for the leads
the client fits on (training.minimum_data.training_plan_on_cluster: at most the config's
`max_leads`, auto 60,000): their examples and canonical tables, the whole export's validation
report, cleaning counts, export counts and training profile, and the LightGBM fitting that
learns from every lead on the workers (training.dask_trainer.PartitionedInputs). The client
never holds the whole export's examples or model inputs (docs/scale.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pandas as pd
from rich.console import Console

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

    from features.spec import DatasetSpec


@dataclass
class ClusterTraining:
    """What `run_train` trains from under --dask (see the module docstring)."""

    examples: Any  # features.examples.Examples of the client's leads (a sample, or every lead)
    tables: Any  # features.load.CRMTables of those leads, with the export's file paths
    sample: Any  # training.minimum_data.LeadSample, None when the client holds every lead
    plan: Any  # training.minimum_data.DataPlan
    report: Any  # features.validation.ValidationReport of the whole export
    cleaning: Any  # features.load.CleaningReport of the whole export
    profile: Any  # features.profile.DataProfile of the whole export
    input_example: pd.DataFrame
    lightgbm: Any  # training.dask_trainer.DaskLightGBM learning from every lead on the workers
    partitions: int
    activity_types: list[str]  # every activity type of the export (the transform's, as on one machine)

    def release(self) -> None:
        """Let the workers drop the examples and model inputs (after the global model)."""
        self.lightgbm.release()


def _input_example_of(part, spec: "DatasetSpec") -> pd.DataFrame | None:
    """On a worker: the registered model's input example from one partition's cleaned tables
    (`leadscore.jobs.train._input_example`), None for a partition without leads."""
    from leadscore.jobs.train import _input_example

    return _input_example(spec, part.cleaned) if len(part.cleaned.leads) else None


def examples_on_the_cluster(client: "Client", spec: "DatasetSpec", data: Path | None, max_leads: Any,
                            console: Console, step: Callable[[str], None]) -> ClusterTraining:
    """Read, validate (the report printed and ValidationFailed raised when it fails, as
    without --dask) and build the examples on the cluster; check the export's won and lost
    leads and bring the sample to this machine (NotEnoughData when short)."""
    from features.load import CleaningReport
    from features.partitions import examples_on_cluster, profile_of
    from training.dask_trainer import DaskLightGBM
    from training.minimum_data import training_plan_on_cluster

    reports = []

    def on_report(report) -> None:
        reports.append(report)
        step("load")
        step("validate")
        if not report.success:
            console.print(report.summary())

    partitioned = examples_on_cluster(client, spec, data, on_report=on_report)
    step("examples")
    examples, tables, places, sample, plan = training_plan_on_cluster(partitioned, max_leads)
    stated = partitioned.spec
    tables.paths = {"leads": stated.table_path(stated.leads.file, data)}
    if stated.activities is not None:
        tables.paths["activities"] = stated.table_path(stated.activities.file, data)
    if stated.outcomes is not None:
        tables.paths["outcomes"] = stated.table_path(stated.outcomes.file, data)
    parted = partitioned.tables
    examples_found = client.gather([client.submit(_input_example_of, part, spec) for part in parted.parts])
    input_example = next(e for e in examples_found if e is not None)
    lightgbm = DaskLightGBM(client, partitioned=(partitioned, examples, places))
    cleaning = CleaningReport(parted.duplicates, parted.placeholders)
    return ClusterTraining(examples, tables, sample, plan, reports[0], cleaning, profile_of(parted), input_example,
                           lightgbm, len(parted.parts), partitioned.activity_types())
