"""The score log, scored_leads and outcomes, as the first versions of the store wrote them.

A database from before migrations has some of these tables already: they are kept, the
missing ones created. A log from before `scored_leads` fills it once and loses its old
lead_id index (see serving.store.tables.scored_leads).

Revision ID: 0001
Revises: (none)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    from serving.store.inserts import upsert_scored_leads

    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    if "score_log" not in existing:
        op.create_table(
            "score_log",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("lead_id", sa.String(1000), nullable=False),
            sa.Column("scored_at", sa.DateTime, nullable=False),
            sa.Column("probability", sa.Float, nullable=False),
            sa.Column("stage", sa.String(16), nullable=False),
            sa.Column("model_version", sa.String(64), nullable=False),
        )
        op.create_index("ix_score_log_scored_at", "score_log", ["scored_at"])
    elif "ix_score_log_scored_at" not in {i["name"] for i in sa.inspect(bind).get_indexes("score_log")}:
        op.create_index("ix_score_log_scored_at", "score_log", ["scored_at"])
    if "scored_leads" not in existing:
        op.create_table(
            "scored_leads",
            sa.Column("lead_id", sa.String(1000), primary_key=True),
            sa.Column("first_scored_at", sa.DateTime, nullable=False),
            sa.Column("last_scored_at", sa.DateTime, nullable=False),
        )
        log = sa.table("score_log", sa.column("lead_id"), sa.column("scored_at"))
        bind.execute(upsert_scored_leads(bind.dialect, log))
        op.execute("DROP INDEX IF EXISTS ix_score_log_lead_id")
    if "outcomes" not in existing:
        op.create_table(
            "outcomes",
            sa.Column("lead_id", sa.String(1000), primary_key=True),
            sa.Column("outcome", sa.String(8), nullable=False),
            sa.Column("closed_at", sa.DateTime, nullable=False),
            sa.Column("recorded_at", sa.DateTime, nullable=False),
            sa.Column("updated_at", sa.DateTime, nullable=False),
        )


def downgrade() -> None:
    op.drop_table("outcomes")
    op.drop_table("scored_leads")
    op.drop_table("score_log")
