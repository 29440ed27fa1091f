"""The store's tables (SQLAlchemy Core): the score log, one row per lead ever scored, each
lead's input as last scored, and the outcomes sales report back. Times are naive UTC in
Python, kept as `timestamptz` on PostgreSQL (UtcDateTime). Ids are 64-bit. Lead ids compare
and sort by code point on both databases (LEAD_ID).

This is the schema the code reads and writes; `serving/store/migrations` builds it (a test
checks that the two agree)."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator

SPEC_LENGTH = 64
"""Longest dataset spec name the tables hold (features.spec limits names to fewer)."""
ID_LENGTH = 1000
"""Longest lead id the tables hold (the API refuses longer ones)."""
DIMENSION_LENGTH = 255
"""Longest column name the lead queue indexes as a dimension (serving.store.dimensions)."""
VALUE_LENGTH = 121
"""Longest dimension value key (serving.store.dimensions.dimension_key: longer values are kept
by digest)."""
IN_CHUNK = 500
"""Ids per `IN (...)` query: below every database's bound-parameter limit."""
OUTCOME_VALUES = ("won", "lost")


class UtcDateTime(TypeDecorator):
    """A moment in UTC, a naive datetime in Python (as the code keeps times). PostgreSQL keeps it
    as `timestamptz`: it goes in marked UTC and comes out in UTC, whatever the server's or the
    session's TimeZone. SQLite keeps the naive text as it always has (SQLAlchemy's format).
    An aware datetime is taken in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value if dialect.name == "sqlite" else value.replace(tzinfo=timezone.utc)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(timezone.utc).replace(tzinfo=None)
        return value


ROW_ID = BigInteger().with_variant(Integer, "sqlite")
"""A 64-bit row id the database numbers (SQLite's INTEGER PRIMARY KEY is its 64-bit rowid)."""
LEAD_ID = String(ID_LENGTH).with_variant(String(ID_LENGTH, collation="C"), "postgresql")
"""A lead id: compared and sorted by code point, as SQLite compares text, on PostgreSQL too
(the "C" collation, whatever the database's own): the lead queue orders leads alike on both,
and an id prefix search (LIKE 'prefix%') is served by the id's index."""

metadata = MetaData()

score_log = Table(
    "score_log", metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("lead_id", LEAD_ID, nullable=False),
    Column("scored_at", UtcDateTime, nullable=False, doc="When the score was served (UTC)."),
    Column("probability", Float, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("spec", String(SPEC_LENGTH), nullable=True,
           doc="The dataset spec of the model that scored (NULL: logged before specs were kept)."),
    Index("ix_score_log_scored_at", "scored_at"),
)
LOG_KEYS = ("lead_id", "scored_at", "probability", "stage", "model_version", "spec")
"""The score log's columns in the order rows are logged (the id is the database's)."""

# The log only grows at its end (time order). Looking leads up goes through `scored_leads`,
# one row per lead: an index on the log's lead_id would take a random page write for every
# score of a lead scored again (benchmarks/score_log.py measures both layouts).
scored_leads = Table(
    "scored_leads", metadata,
    Column("lead_id", LEAD_ID, primary_key=True),
    Column("first_scored_at", UtcDateTime, nullable=False),
    Column("last_scored_at", UtcDateTime, nullable=False),
)

# The lead as the model read it when last scored, per spec, with that score: the report's
# "report by" dimensions and drift read it, retraining with logged outcomes takes its profile and
# activities (features.logged), and the lead queue (serving.store.lead_queue) pages through it.
# One row per lead, replaced by a later score (serving.store.inserts.upsert_scored_inputs).
scored_inputs = Table(
    "scored_inputs", metadata,
    Column("spec", String(SPEC_LENGTH), primary_key=True),
    Column("lead_id", LEAD_ID, primary_key=True),
    Column("scored_at", UtcDateTime, nullable=False, doc="When the lead was last scored (UTC)."),
    Column("as_of", UtcDateTime, nullable=False, doc="The moment its features were computed at (UTC)."),
    Column("lead", Text, nullable=False, doc="JSON object: the lead's fields, keyed by the spec's column names."),
    Column("activities", Text, nullable=True,
           doc="JSON array of [time ISO 8601 UTC, type, value or null], known at as_of; NULL: none sent."),
    Column("probability", Float, nullable=True,
           doc="The score of scored_at (NULL: a record kept before scores were, not in the lead queue)."),
    Column("stage", String(16), nullable=True),
    Column("model_version", String(64), nullable=True),
    Column("previous_probability", Float, nullable=True,
           doc="The score this one replaced (NULL: the first score kept for the lead)."),
    Column("previous_scored_at", UtcDateTime, nullable=True, doc="When that score was made (UTC)."),
    # the lead queue's orders (serving.store.lead_queue): newest, ready to call, ready within a
    # stage; the first also serves a spec's records scored since a moment
    Index("ix_scored_inputs_spec_scored_at", "spec", "scored_at", "lead_id"),
    Index("ix_scored_inputs_spec_probability", "spec", "probability", "lead_id"),
    Index("ix_scored_inputs_spec_stage_probability", "spec", "stage", "probability", "lead_id"),
)
INPUT_KEYS = ("spec", "lead_id", "scored_at", "as_of", "lead", "activities", "probability", "stage",
              "model_version", "previous_probability", "previous_scored_at")
"""The columns a record is written with (previous_*: the score it replaced among those written
in the same batch, if any; serving.store.inserts.upsert_scored_inputs)."""

# The lead queue's filters on a record's "report by" dimensions (serving.store.lead_queue): per
# spec, lead and indexed column, the value of the lead's latest record as the filter compares it
# (serving.store.dimensions). Kept by the score-log writer in the transaction that writes
# scored_inputs, for the columns listed in queue_dimension_columns (serving.store.inserts);
# filled for the records already kept when a column is listed (dimensions.index_dimensions).
# The key is the lead's (a rescore replaces its values); the index finds a value's leads.
queue_dimensions = Table(
    "queue_dimensions", metadata,
    Column("spec", String(SPEC_LENGTH), primary_key=True),
    Column("lead_id", LEAD_ID, primary_key=True),
    Column("dimension", String(DIMENSION_LENGTH), primary_key=True, doc="The spec's column name."),
    Column("value", String(VALUE_LENGTH), nullable=False,
           doc="The field's value as filters compare it (serving.store.dimensions.dimension_key)."),
    Index("ix_queue_dimensions_value", "spec", "dimension", "value", "lead_id"),
    sqlite_with_rowid=False,  # the key is the row: one b-tree less to write
)

# The columns queue_dimensions holds per spec (the writer keeps these), and whether the records
# kept before a column was listed have their values yet (ready: filters may use it).
queue_dimension_columns = Table(
    "queue_dimension_columns", metadata,
    Column("spec", String(SPEC_LENGTH), primary_key=True),
    Column("dimension", String(DIMENSION_LENGTH), primary_key=True),
    Column("ready", Boolean, nullable=False, doc="Every record of the spec has its value in queue_dimensions."),
)

outcomes = Table(
    "outcomes", metadata,
    Column("lead_id", LEAD_ID, primary_key=True),
    Column("outcome", String(8), nullable=False, doc="won or lost"),
    Column("closed_at", UtcDateTime, nullable=False, doc="When the deal was closed (UTC)."),
    Column("recorded_at", UtcDateTime, nullable=False, doc="When the outcome was first reported."),
    Column("updated_at", UtcDateTime, nullable=False, doc="When it last changed."),
)
OUTCOME_KEYS = ("lead_id", "outcome", "closed_at", "recorded_at", "updated_at")

# The API keys a client sends (serving.auth): only a salted PBKDF2 hash of each key's secret is
# kept (serving.keys); `key_id`, the key's public part, finds the row. A revoked key keeps its row.
api_keys = Table(
    "api_keys", metadata,
    Column("key_id", String(32), primary_key=True, doc="The key's public id (the part after `lsk_`)."),
    Column("name", String(100), nullable=False, doc="Who or what the key is for (unique among active keys)."),
    Column("scope", String(16), nullable=False, doc="score, outcomes or admin (serving.keys.SCOPES)."),
    Column("salt", String(64), nullable=False, doc="Hex salt of the hash."),
    Column("secret_hash", String(128), nullable=False, doc="Hex PBKDF2-HMAC-SHA256 of the secret."),
    Column("iterations", Integer, nullable=False, doc="PBKDF2 iterations the hash was made with."),
    Column("created_at", UtcDateTime, nullable=False, doc="When the key was created (UTC)."),
    Column("revoked_at", UtcDateTime, nullable=True, doc="When it was revoked (UTC); NULL while it is valid."),
)


def ids_among(engine, column, lead_ids: list[str]) -> set[str]:
    """The ids among `lead_ids` (distinct) found in `column` (a lead-id column of a table),
    asked IN_CHUNK at a time."""
    from sqlalchemy import select

    found: set[str] = set()
    with engine.connect() as conn:
        for start in range(0, len(lead_ids), IN_CHUNK):
            found.update(conn.execute(select(column).where(column.in_(lead_ids[start:start + IN_CHUNK]))).scalars())
    return found
