"""`leadscore score --dask`: batch scoring on a Dask cluster.

The leads (one file, or a folder or glob of Parquet files) and their activities are partitioned
by lead id (`features.partitions`); each partition is read as `leadscore score` reads its input
(`_read_leads`, `_read_activities`: the activities of other leads left out), cleaned, coerced,
validated with the whole export's rules judged once (`PartitionedTables.validate`), and scored
by the champion's own `score_table`, on the workers. Each partition's scores are written as one
Parquet file, with the same columns, dtypes and values as the single-machine output, into a
temporary folder beside OUTPUT that is renamed to OUTPUT only when every partition is written:
on any failure nothing is left half-written. Rows come partition by partition (in the export's
order within one), not in the input's order.

The workers write the files themselves, so OUTPUT must be on storage every worker and this
machine see (always true of `--dask local`). The score log is not written on a cluster (the
scores would all pass through this machine): `--no-log` is required, and the trends that need
the log are left out.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import shutil
import uuid
from datetime import datetime
from pathlib import Path

import pandas as pd
from rich.console import Console

from features.errors import DataError, LeadscoreError

_PART = re.compile(r"part\.\d{5,}\.parquet")
"""The name of each file `score --dask` writes; a folder holding only these is its output."""
_GLOB = re.compile(r"[*?\[]")


def check_cluster_options(output_path: Path, log: bool) -> None:
    """Refuse what `score --dask` cannot do, before any work: a score log, an OUTPUT that is a
    file (it is a folder of Parquet files)."""
    if log:
        raise LeadscoreError("--dask does not write the score log (every score would pass through this machine): "
                             "add --no-log, or score without --dask to log the scores")
    if output_path.suffix.lower() in (".csv", ".xlsx"):
        raise DataError(f"OUTPUT {output_path}: with --dask the scores are written as a folder of Parquet files; "
                        "name a folder (e.g. scores/ or scores.parquet)")
    if output_path.exists() and not output_path.is_dir():
        raise DataError(f"OUTPUT {output_path} is a file; with --dask the scores are written as a folder of "
                        "Parquet files: name a folder, or remove the file")
    if output_path.is_dir():
        other = next((p for p in sorted(output_path.rglob("*")) if not _PART.fullmatch(p.name)), None)
        if other is not None:
            raise DataError(f"OUTPUT {output_path} is a folder holding other files than scores (e.g. {other}); "
                            "--dask replaces OUTPUT as a whole, so name a new folder, or one an earlier "
                            "`leadscore score --dask` wrote")
    parent = next(p for p in (output_path.absolute(), *output_path.absolute().parents) if p.exists())
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"OUTPUT {output_path}: {parent} is not writable; name a folder you can write to")


def check_apart(output_path: Path, inputs: list[Path | None]) -> None:
    """Refuse an OUTPUT folder that is, holds or lies inside an input table (a folder, a glob's
    folder or a file): replacing OUTPUT would delete the input."""
    out = output_path.absolute().resolve()
    for given in inputs:
        if given is None:
            continue
        base = Path(*[p for p in itertools.takewhile(lambda part: not _GLOB.search(part), Path(given).parts)])
        table = base.absolute().resolve()
        if out == table or out in table.parents or table in out.parents:
            raise DataError(f"OUTPUT {output_path} and the input {given} overlap: --dask replaces OUTPUT as a "
                            "whole folder, which would delete the input; write the scores to a folder of their own")


def _activities_path(spec, activities: Path | None) -> Path | None:
    """The activities table to read beside the leads, as `leadscore score` chooses it."""
    from features.read import table_exists

    act = spec.activities
    if act is None:
        if activities is not None:
            raise DataError(f"--activities {activities}: the spec {spec.name!r} has no activities table; "
                            "leave --activities out")
        return None
    path = Path(activities) if activities is not None else spec.table_path(act.file)
    if not table_exists(path):
        raise DataError(f"{path}: the activities table of the spec {spec.name!r} is missing; the model counts "
                        "activities, so pass --activities FILE (or put the file there)")
    return path


def _score_raw(spec, purpose: str, frames: dict, *, input_path: Path, activities_path: Path | None):
    """One partition's raw tables as `leadscore score` reads its input (a RawBuilder)."""
    from features.load import CRMTables
    from leadscore.jobs.score import _read_activities, _read_leads

    from features.partitions import PLACE

    leads = _read_leads(spec, input_path, leads=frames["leads"])
    given = frames.get("activities")
    acts, facts = None, {}
    if given is not None:
        acts, _, _ = _read_activities(spec, activities_path, leads[spec.leads.id], activities=given)
        orphans = given[~given[PLACE].isin(acts[PLACE])]
        ids = orphans[spec.activities.lead_id].astype(str)
        first = pd.Series(orphans[PLACE].to_numpy(), index=ids.to_numpy()).groupby(level=0).min().nsmallest(5)
        facts = {"activities": len(given), "left_out": len(orphans),
                 "examples": list(zip(first.tolist(), first.index.tolist()))}
    raw = CRMTables(leads=leads, activities=acts,
                    paths={"leads": input_path, **({"activities": activities_path} if activities_path else {})})
    raw.facts = facts  # read back by features.partitions into Part.facts
    return raw


def _activity_facts(part) -> dict:
    return part.facts


def _left_out(client, export, activities_path: Path | None) -> str | None:
    """The note on activities of no lead being scored, over the whole table; refused as one
    machine refuses it when none belongs to a lead (`none_belong`)."""
    from leadscore.jobs.score import left_out_note, none_belong

    facts = [f for f in client.gather([client.submit(_activity_facts, p) for p in export.parts]) if f]
    rows = sum(f["activities"] for f in facts)
    left_out = sum(f["left_out"] for f in facts)
    examples = [name for _, name in sorted(e for f in facts for e in f["examples"])[:5]]
    if rows and left_out == rows:
        raise none_belong(activities_path, rows, examples)
    return left_out_note(left_out, rows, examples) if left_out else None


@functools.lru_cache(maxsize=4)
def _scorer(bundle: str):
    """The champion, loaded once per worker process."""
    from serving.segments import load_scorer

    return load_scorer(Path(bundle))


def _score_part(part, bundle: str, moment: datetime, reasons: int, language: str, folder: str,
                number: int) -> tuple[int, dict[str, int]]:
    """Score one partition and write its file (none for a partition without leads)."""
    scores = _scorer(bundle).score_table(part.canonical.leads, part.canonical.activities, moment, reasons=reasons,
                                         language=language)
    if len(scores):
        scores.to_parquet(Path(folder) / f"part.{number:05d}.parquet", index=False, compression="zstd")
    return len(scores), {str(k): int(v) for k, v in scores["stage"].value_counts().items()}


def _unborn(part, moment: datetime) -> tuple[int, int, str | None, pd.Timestamp | None]:
    """(leads created after `moment`, then the first one's PLACE, id and creation time)."""
    leads = part.canonical.leads
    if "created_at" not in leads:
        return 0, 0, None, None
    later = (leads["created_at"] > pd.Timestamp(moment)).to_numpy()
    if not later.any():
        return 0, 0, None, None
    first = int(later.nonzero()[0][0])
    return int(later.sum()), int(part.places["leads"][first]), leads["lead_id"].iloc[first], leads["created_at"].iloc[first]


def _replace_folder(tmp: Path, output: Path) -> None:
    """`tmp` becomes `output`; a folder already there is replaced (moved aside, then removed)."""
    old = None
    if output.exists():
        old = output.parent / f".{output.name}.old-{uuid.uuid4().hex[:8]}"
        output.rename(old)
    tmp.rename(output)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def score_on_cluster(address: str, spec, bundle: Path, input_path: Path, output_path: Path, *,
                     activities: Path | None, moment: datetime, reasons: int, language: str,
                     console: Console, partitions: int | None = None):
    """Score `input_path` on the Dask cluster at `address` ('local': a LocalCluster) with the
    model bundle at `bundle`, writing the Parquet folder `output_path`. Returns the
    `leadscore.jobs.score.ScoreResult`; raises ValidationFailed when the input breaks the rules
    (nothing written), DataError naming the path for unreadable input."""
    import time

    from features.partitions import read_on_cluster, tables_on_cluster
    from features.profile import DataProfile
    from features.validation import ValidationFailed
    from leadscore.cluster import connect
    from leadscore.jobs.score import ScoreResult, _print_summary, unborn_note
    from leadscore.jobs.signals import sigterm_as_interrupt

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    activities_path = _activities_path(spec, activities)
    check_apart(output_path, [input_path, activities_path])
    scorer = _scorer(str(bundle))
    with connect(address) as client:
        tables = {"leads": read_on_cluster(input_path, "leads", spec.leads)}
        if activities_path is not None:
            tables["activities"] = read_on_cluster(activities_path, "activities", spec.activities)
        build = functools.partial(_score_raw, input_path=input_path, activities_path=activities_path)
        export = tables_on_cluster(client, spec, tables, purpose="score", partitions=partitions, build=build)
        left_out = _left_out(client, export, activities_path)
        seconds["load"] = time.perf_counter() - started
        started = time.perf_counter()
        profile = DataProfile.model_validate(scorer.bundle.profile) if scorer.bundle.profile else None
        report = export.validate(profile=profile)
        seconds["validate"] = time.perf_counter() - started
        if not report.success:
            raise ValidationFailed(report)
        unborn = [u for u in client.gather([client.submit(_unborn, part, moment) for part in export.parts]) if u[0]]
        started = time.perf_counter()
        output_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = output_path.parent / f".{output_path.name}.partial-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        futures = []
        try:
            with sigterm_as_interrupt():  # SIGTERM as Ctrl-C: the partial folder is removed, not left growing
                futures = [client.submit(_score_part, part, str(bundle), moment, reasons, language, str(tmp), number)
                           for number, part in enumerate(export.parts)]
                done = client.gather(futures)
                _replace_folder(tmp, output_path)
        except BaseException:
            client.cancel(futures)  # the workers stop writing into the folder removed below
            try:  # a task already running is not stopped by cancel: let it end before removing its folder
                from distributed import wait

                wait(futures, timeout=30)
            except Exception:  # noqa: BLE001 - a timeout or a lost cluster: remove what is there anyway
                pass
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        seconds["score and write"] = time.perf_counter() - started
    stages: dict[str, int] = {}
    for _, counts in done:
        for stage, n in counts.items():
            stages[stage] = stages.get(stage, 0) + n
    result = ScoreResult(output_path, sum(n for n, _ in done), scorer.version, moment, stages, seconds)
    notes = [left_out] if left_out else []
    if unborn:
        first = min(unborn, key=lambda u: u[1])
        notes.append(unborn_note(sum(u[0] for u in unborn), first[2], first[3], moment))
    _print_summary(console, result, export.cleaning_lines(),
                   [*notes, *report.notes, f"scored on the Dask cluster in {len(export.parts)} partitions; the score log "
                                   "was not written (--no-log)"])
    return result
