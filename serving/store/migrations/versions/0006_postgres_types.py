"""PostgreSQL keeps times as `timestamptz`, the score log's ids in 64 bits (BIGINT, its sequence
too) and lead ids in the "C" collation:

* a time then means one moment whatever the server's or a session's TimeZone
  (serving.store.tables.UtcDateTime). The times kept so far were written as naive UTC: they are
  read as UTC (`AT TIME ZONE 'UTC'`);
* the log never runs out of ids at 2,147,483,647 rows;
* lead ids compare and sort by code point, as on SQLite, whatever the database's collation
  (serving.store.tables.LEAD_ID): the lead queue's order, and its id search through the index.

Each table is changed in one statement (rewritten once, its indexes rebuilt). SQLite has
nothing to change: its INTEGER PRIMARY KEY is 64-bit already, its times stay the text they
were and its text compares by code point.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIMES = {
    "score_log": ("scored_at",),
    "scored_leads": ("first_scored_at", "last_scored_at"),
    "scored_inputs": ("scored_at", "as_of", "previous_scored_at"),
    "queue_dimensions": (),
    "outcomes": ("closed_at", "recorded_at", "updated_at"),
    "api_keys": ("created_at", "revoked_at"),
}
"""The time columns of each table, as of revision 0005."""
LEAD_IDS = ("score_log", "scored_leads", "scored_inputs", "queue_dimensions", "outcomes")
"""The tables with a lead_id column (VARCHAR(1000))."""


def _alter(time_type: str, collation: str) -> None:
    for table, columns in TIMES.items():
        changes = [f"ALTER COLUMN {column} TYPE {time_type} USING {column} AT TIME ZONE 'UTC'"
                   for column in columns]
        if table in LEAD_IDS:
            changes.append(f'ALTER COLUMN lead_id TYPE VARCHAR(1000) COLLATE "{collation}"')
        op.execute(f"ALTER TABLE {table} {', '.join(changes)}")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE score_log ALTER COLUMN id TYPE BIGINT")
    op.execute("ALTER SEQUENCE score_log_id_seq AS BIGINT")
    _alter("TIMESTAMP WITH TIME ZONE", "C")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _alter("TIMESTAMP WITHOUT TIME ZONE", "default")
    op.execute("ALTER SEQUENCE score_log_id_seq AS INTEGER")
    op.execute("ALTER TABLE score_log ALTER COLUMN id TYPE INTEGER")
