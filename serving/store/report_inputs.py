"""What the outcome report reads from the store: the latest score of each lead in a period and
every outcome, as pandas frames in the shapes `monitoring.report` documents."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.engine import Engine

from serving.store.tables import outcomes, score_log


def latest_scores(engine: Engine, since: datetime | None = None, until: datetime | None = None) -> pd.DataFrame:
    """One row per lead scored in [since, until) (naive UTC; None: open-ended), its latest
    score there: lead_id, scored_at (datetime64[ns]), probability, stage, model_version."""
    query = select(score_log.c.lead_id, score_log.c.scored_at, score_log.c.probability, score_log.c.stage,
                   score_log.c.model_version, score_log.c.id)
    if since is not None:
        query = query.where(score_log.c.scored_at >= since)
    if until is not None:
        query = query.where(score_log.c.scored_at < until)
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(query).all(), columns=["lead_id", "scored_at", "probability", "stage",
                                                                 "model_version", "id"])
    frame["scored_at"] = pd.to_datetime(frame["scored_at"]).astype("datetime64[ns]")
    frame = frame.sort_values(["scored_at", "id"], kind="stable").drop_duplicates("lead_id", keep="last")
    return frame.drop(columns="id").reset_index(drop=True)


def outcome_frame(engine: Engine) -> pd.DataFrame:
    """Every recorded outcome: lead_id, outcome ("won"/"lost"), closed_at (datetime64[ns])."""
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(select(outcomes.c.lead_id, outcomes.c.outcome, outcomes.c.closed_at)).all(),
                             columns=["lead_id", "outcome", "closed_at"])
    frame["closed_at"] = pd.to_datetime(frame["closed_at"]).astype("datetime64[ns]")
    return frame
