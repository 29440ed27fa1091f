"""What the outcome report reads from the store: the latest score of each lead in a period,
every outcome, and the leads' records as last scored, as pandas frames in the shapes
`monitoring.report` and `features.logged` document."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.engine import Engine

from serving.store.tables import outcomes, score_log, scored_inputs, scored_leads


def _frame(conn, query, columns: list[str]) -> pd.DataFrame:
    """The rows of `query` as a DataFrame, handed to pandas as plain tuples: given SQLAlchemy's
    Row objects, pandas probes each one's attributes, which a Row answers by raising inside
    (1,000,000 logged scores of benchmarks/report.py: 0.9 s instead of 5.3 s). The same frame
    (tests/monitoring/test_report_inputs.py)."""
    return pd.DataFrame(list(map(tuple, conn.execute(query).all())), columns=columns)


def latest_scores(engine: Engine, spec: str | None = None, since: datetime | None = None,
                  until: datetime | None = None) -> pd.DataFrame:
    """One row per lead scored in [since, until) (naive UTC; None: open-ended) by a model of
    the dataset spec `spec` (rows logged before the log kept specs count for every spec; None:
    every row), its latest score there: lead_id, scored_at (datetime64[ns]), probability,
    stage, model_version, first_scored_at (datetime64[ns], the lead's first score ever)."""
    query = select(score_log.c.lead_id, score_log.c.scored_at, score_log.c.probability, score_log.c.stage,
                   score_log.c.model_version, score_log.c.id)
    if spec is not None:
        query = query.where(or_(score_log.c.spec == spec, score_log.c.spec.is_(None)))
    if since is not None:
        query = query.where(score_log.c.scored_at >= since)
    if until is not None:
        query = query.where(score_log.c.scored_at < until)
    with engine.connect() as conn:
        frame = _frame(conn, query, ["lead_id", "scored_at", "probability", "stage", "model_version", "id"])
        first = _frame(conn, select(scored_leads.c.lead_id, scored_leads.c.first_scored_at),
                       ["lead_id", "first_scored_at"])
    frame["scored_at"] = pd.to_datetime(frame["scored_at"]).astype("datetime64[ns]")
    frame = frame.sort_values(["scored_at", "id"], kind="stable").drop_duplicates("lead_id", keep="last")
    frame = frame.drop(columns="id").reset_index(drop=True)
    first["first_scored_at"] = pd.to_datetime(first["first_scored_at"]).astype("datetime64[ns]")
    frame = frame.merge(first.astype({"lead_id": frame["lead_id"].dtype}), on="lead_id", how="left")
    frame["first_scored_at"] = frame["first_scored_at"].fillna(frame["scored_at"]).astype("datetime64[ns]")
    return frame


def outcome_frame(engine: Engine) -> pd.DataFrame:
    """Every recorded outcome: lead_id, outcome ("won"/"lost"), closed_at (datetime64[ns])."""
    with engine.connect() as conn:
        frame = _frame(conn, select(outcomes.c.lead_id, outcomes.c.outcome, outcomes.c.closed_at),
                       ["lead_id", "outcome", "closed_at"])
    frame["closed_at"] = pd.to_datetime(frame["closed_at"]).astype("datetime64[ns]")
    return frame


def logged_records(engine: Engine, spec: str, since: datetime | None = None) -> pd.DataFrame:
    """Every lead's record under `spec` as last scored (features.logged), those last scored at
    or after `since` (naive UTC; None: all), in lead_id order (the primary key's, as SQLite
    read them before the order was asked): lead_id, scored_at and as_of (datetime64[ns]),
    lead (JSON text), activities (JSON text or None); lead_id and the texts as Python objects
    (object dtype), as they are used next, not copied into pandas' own strings and back."""
    query = select(scored_inputs.c.lead_id, scored_inputs.c.scored_at, scored_inputs.c.as_of, scored_inputs.c.lead,
                   scored_inputs.c.activities).where(scored_inputs.c.spec == spec).order_by(scored_inputs.c.lead_id)
    if since is not None:
        query = query.where(scored_inputs.c.scored_at >= since)
    with engine.connect() as conn:
        rows = list(map(tuple, conn.execute(query).all()))
    frame = pd.DataFrame([row[1:3] for row in rows], columns=["scored_at", "as_of"])
    frame.insert(0, "lead_id", pd.Series([row[0] for row in rows], dtype=object))
    frame["lead"] = pd.Series([row[3] for row in rows], dtype=object)
    frame["activities"] = pd.Series([row[4] for row in rows], dtype=object)
    for column in ("scored_at", "as_of"):
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame
