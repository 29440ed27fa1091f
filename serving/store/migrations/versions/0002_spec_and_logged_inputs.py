"""Each score names its dataset spec, and each lead's input as last scored is kept
(`scored_inputs`): the report reads its "report by" dimensions and drift from it, and
`leadscore train --with-logged-outcomes` its profile and activities.

Rows logged before this revision have no spec (NULL): the report counts them for every spec.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("score_log", sa.Column("spec", sa.String(64), nullable=True))
    op.create_table(
        "scored_inputs",
        sa.Column("spec", sa.String(64), primary_key=True),
        sa.Column("lead_id", sa.String(1000), primary_key=True),
        sa.Column("scored_at", sa.DateTime, nullable=False),
        sa.Column("as_of", sa.DateTime, nullable=False),
        sa.Column("lead", sa.Text, nullable=False),
        sa.Column("activities", sa.Text, nullable=True),
    )
    op.create_index("ix_scored_inputs_scored_at", "scored_inputs", ["scored_at"])


def downgrade() -> None:
    op.drop_index("ix_scored_inputs_scored_at", "scored_inputs")
    op.drop_table("scored_inputs")
    op.drop_column("score_log", "spec")
