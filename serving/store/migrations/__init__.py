"""The store's schema history, as Alembic migrations (`serving.store.database.create_tables`
runs them on start). `versions/` holds one file per change, oldest first."""
