"""Alembic's entry point for the store: migrations run on the connection the caller passes in
`config.attributes["connection"]` (serving.store.database.create_tables); no alembic.ini."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
