"""The lead queue filters by a record's "report by" dimensions through an index of their
values (`queue_dimensions`: per spec, lead and column, the value of the lead's latest record
as filters compare it), and `queue_dimension_columns` lists the columns indexed per spec.

Both start empty: which columns a spec reports by is the spec's, not the database's. The
service lists its spec's report_by when it starts (serving.store.dimension_index), which fills
the values of the records already kept (1,000,000 records, 2 columns: 16.5 s,
benchmarks/lead_queue.py); until then the queue refuses filters on those columns rather than
answer without them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "queue_dimensions",
        sa.Column("spec", sa.String(64), primary_key=True),
        sa.Column("lead_id", sa.String(1000), primary_key=True),
        sa.Column("dimension", sa.String(255), primary_key=True),
        sa.Column("value", sa.String(121), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_queue_dimensions_value", "queue_dimensions", ["spec", "dimension", "value", "lead_id"])
    op.create_table(
        "queue_dimension_columns",
        sa.Column("spec", sa.String(64), primary_key=True),
        sa.Column("dimension", sa.String(255), primary_key=True),
        sa.Column("ready", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("queue_dimension_columns")
    op.drop_index("ix_queue_dimensions_value", "queue_dimensions")
    op.drop_table("queue_dimensions")
