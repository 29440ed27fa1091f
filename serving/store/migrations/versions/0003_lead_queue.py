"""Each lead's record as last scored keeps that score, and the one it replaced (`scored_inputs`
gains probability, stage, model_version, previous_probability, previous_scored_at): the lead
queue (serving.store.lead_queue) pages through one row per lead, newest or most ready first
(of all, or of a stage), through the three indexes added here. The index on scored_at alone
goes: the one on (spec, scored_at, lead_id) serves what it served (a spec's records scored
since a moment).

A database of an earlier release gets its records' scores from the score log (the log row of
the same spec, lead and time: the one the record was written with); previous_* stay NULL.
1,000,000 records (benchmarks/lead_queue.py's store, taken back to 0002): 12 s, indexes included.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# On SQLite the join runs from the log to the records' primary key: the `+` keeps SQLite from
# looking log rows up by time, which one batch run shares by the thousand.
FILL_SQLITE = """
UPDATE scored_inputs SET probability = score_log.probability, stage = score_log.stage,
       model_version = score_log.model_version
FROM score_log
WHERE score_log.spec = scored_inputs.spec AND score_log.lead_id = scored_inputs.lead_id
  AND +score_log.scored_at = scored_inputs.scored_at
"""


def upgrade() -> None:
    op.add_column("scored_inputs", sa.Column("probability", sa.Float, nullable=True))
    op.add_column("scored_inputs", sa.Column("stage", sa.String(16), nullable=True))
    op.add_column("scored_inputs", sa.Column("model_version", sa.String(64), nullable=True))
    op.add_column("scored_inputs", sa.Column("previous_probability", sa.Float, nullable=True))
    op.add_column("scored_inputs", sa.Column("previous_scored_at", sa.DateTime, nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(FILL_SQLITE)
    else:
        inputs = sa.table("scored_inputs", sa.column("spec"), sa.column("lead_id"), sa.column("scored_at"),
                          sa.column("probability"), sa.column("stage"), sa.column("model_version"))
        log = sa.table("score_log", sa.column("spec"), sa.column("lead_id"), sa.column("scored_at"),
                       sa.column("probability"), sa.column("stage"), sa.column("model_version"))
        op.execute(inputs.update()
                   .values(probability=log.c.probability, stage=log.c.stage, model_version=log.c.model_version)
                   .where(log.c.spec == inputs.c.spec, log.c.lead_id == inputs.c.lead_id,
                          log.c.scored_at == inputs.c.scored_at))
    op.drop_index("ix_scored_inputs_scored_at", "scored_inputs")
    op.create_index("ix_scored_inputs_spec_scored_at", "scored_inputs", ["spec", "scored_at", "lead_id"])
    op.create_index("ix_scored_inputs_spec_probability", "scored_inputs", ["spec", "probability", "lead_id"])
    op.create_index("ix_scored_inputs_spec_stage_probability", "scored_inputs",
                    ["spec", "stage", "probability", "lead_id"])


def downgrade() -> None:
    op.drop_index("ix_scored_inputs_spec_stage_probability", "scored_inputs")
    op.drop_index("ix_scored_inputs_spec_probability", "scored_inputs")
    op.drop_index("ix_scored_inputs_spec_scored_at", "scored_inputs")
    op.create_index("ix_scored_inputs_scored_at", "scored_inputs", ["scored_at"])
    for column in ("previous_scored_at", "previous_probability", "model_version", "stage", "probability"):
        op.drop_column("scored_inputs", column)
