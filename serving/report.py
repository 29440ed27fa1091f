"""The outcome report of a served model, from the store: what `leadscore report` prints and
writes and what `GET /report` answers are this one function's result.

Reads the spec's logged scores of the period, every outcome, and the leads' records as last
scored (for the spec's `report_by` dimensions and drift), and hands them to
`monitoring.build_report` with the model's published stage promises and its training
reference for drift.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from features.profile import DataProfile


@contextmanager
def _collector_paused():
    """The cyclic garbage collector paused (for the whole process) while the report reads and
    reshapes millions of rows: tuples, texts and dicts without reference cycles, which plain
    reference counting frees, and which the collector would only walk again and again as they
    pile up (benchmarks/report.py's store: 23-25 s instead of 27-28 s). It runs again as usual
    afterwards; meanwhile the service's other threads only keep their cyclic garbage longer."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


SCORED_AGAIN = "(scored again after the period)"
"""The report_by value of a lead whose record was replaced by a score after the period."""


def report_from_store(engine: Engine, scorer, since: datetime | None = None,
                      until: datetime | None = None) -> dict[str, Any]:
    """The report (monitoring.report.build_report's keys, plus "model": spec, champion
    version and its holdout figures at training, roc_auc, ece and won_rate, to read the monthly
    figures against) of the leads `scorer`'s spec scored in [since, until) (naive UTC, None: open).

    Drift compares the leads last scored within monitoring.inputs.DRIFT_RECENT_DAYS of the
    period's last score with the model's training reference (none for a model trained before
    references were kept). Raises features.errors.DataError for unusable logged data."""
    with _collector_paused():
        return _report(engine, scorer, since, until)


def _report(engine: Engine, scorer, since: datetime | None, until: datetime | None) -> dict[str, Any]:
    from monitoring.inputs import (DRIFT_RECENT_DAYS, dimensions_and_drift, drift_inputs, logged_canonical,
                                   with_dimensions)
    from monitoring.report import build_report
    from serving.store.report_inputs import latest_scores, logged_records, outcome_frame

    spec = scorer.spec
    scores, outcomes = latest_scores(engine, spec.name, since, until), outcome_frame(engine)
    reference = (DataProfile.model_validate(scorer.bundle.profile).drift_reference
                 if scorer.bundle.profile else {})
    drift: dict = {}
    canonical = logged_canonical(spec, pd.DataFrame())  # no records: no dimension values
    if len(scores) and (spec.report_dimensions or reference):
        last = scores["scored_at"].max().to_pydatetime()
        earliest = scores["scored_at"].min().to_pydatetime() if spec.report_dimensions else \
            last - timedelta(days=DRIFT_RECENT_DAYS)
        records = logged_records(engine, spec.name, since=earliest)
        records = records[records["lead_id"].isin(set(scores["lead_id"].astype(str).tolist()))]
        # A lead keeps its latest record only: one scored again after its last score in the
        # period shows the lead as it was then, not in the period. Left out, and said.
        latest = dict(zip(scores["lead_id"].astype(str).tolist(), scores["scored_at"].tolist()))
        later = (records["scored_at"] > records["lead_id"].astype(str).map(latest)).to_numpy()
        replaced = set(records.loc[later, "lead_id"].astype(str).tolist())
        records = records[~later]
        recent_ids = set(records.loc[records["scored_at"] >= last - timedelta(days=DRIFT_RECENT_DAYS),
                                     "lead_id"].astype(str).tolist()) if reference else None
        # The report_by columns of every lead; every input but the times of the recent leads.
        dimensions, recent = dimensions_and_drift(spec, records, recent_ids)
        canonical = dimensions if dimensions is not None else canonical
        if recent is not None:
            drift = drift_inputs(spec, reference, recent)
    else:
        replaced = set()
    if spec.report_dimensions:
        scores = with_dimensions(scores, spec, canonical)
        again = scores["lead_id"].astype(str).isin(replaced).to_numpy()
        for column in spec.report_dimensions:
            scores[column] = scores[column].astype(object).where(~again, SCORED_AGAIN)
    stages = scorer.stage_definitions()
    capacity = (stages.get("sql") or {}).get("leads_per_week")
    report = build_report(scores, outcomes, stages, dimensions=spec.report_dimensions, since=since, until=until,
                          capacity_per_week=capacity, drift_inputs=drift or None)
    report["period"]["records_replaced"] = len(replaced)
    holdout = scorer.bundle.card.get("holdout_metrics") or {}
    report["model"] = {"spec": spec.name, "champion_version": scorer.version,
                       "holdout": {key: holdout.get(key) for key in ("roc_auc", "ece", "won_rate")}}
    by_segment = getattr(scorer, "segment_stage_definitions", None)  # serving.segments
    if by_segment is not None:
        report["model"]["segments"] = {
            "column": scorer.column,
            "promised_conversion": {value: {key: d.get("conversion") for key, d in stages.items()}
                                    for value, stages in by_segment().items()},
            "note": "each lead is counted in the stage its own model gave it (a segment's by its thresholds), "
                    "and each stage's verdict compares them all with the global model's promise; a segment "
                    "model's own promises are these (a verdict per segment and stage is not computed yet)"}
    return report
