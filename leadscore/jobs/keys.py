"""`leadscore keys create|list|revoke`: the API keys of the service database (the one
`leadscore serve` uses: LEADSCORE_DATABASE_URL, else data/leadscore.db).

A key is shown once, when created; the database keeps only its hash (serving.keys). A running
service sees a new or revoked key within `serving.auth.REFRESH_SECONDS`.
"""

from __future__ import annotations

from datetime import datetime, timezone

from leadscore.settings import Settings, get_settings


def _engine(settings: Settings):
    from serving.store import create_tables, make_engine

    engine = make_engine(settings.resolved_database_url)
    create_tables(engine)
    return engine


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def run_create(name: str, scope: str, settings: Settings | None = None, echo=print) -> str:
    """Create a key; prints it once with how to send it; returns the key."""
    from serving.store.api_keys import create_key

    engine = _engine(settings or get_settings())
    try:
        made, stored = create_key(engine, name, scope, _now())
    finally:
        engine.dispose()
    echo(f"created key {stored.key_id} ({stored.name!r}, scope {stored.scope}). It is shown only now; keep it "
         "secret:")
    echo(made.token)
    echo("Send it as `Authorization: Bearer <key>` (or `X-API-Key: <key>`). From now on every request but "
         "/livez, /readyz and /metrics needs a key.")
    return made.token


def run_list(settings: Settings | None = None, echo=print) -> list:
    """Print every key (never a secret); returns the rows."""
    from serving.store.api_keys import read_keys

    engine = _engine(settings or get_settings())
    try:
        keys = read_keys(engine)
    finally:
        engine.dispose()
    if not keys:
        echo("no API keys: the service asks for none and listens on this machine only "
             "(create one with `leadscore keys create --name crm --scope score`)")
        return keys
    echo(f"{'id':<12}  {'scope':<8}  {'created (UTC)':<16}  {'revoked (UTC)':<16}  name")
    for key in keys:
        revoked = f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "-"
        echo(f"{key.key_id:<12}  {key.scope:<8}  {key.created_at:%Y-%m-%d %H:%M}  {revoked:<16}  {key.name}")
    return keys


def run_revoke(which: str, settings: Settings | None = None, echo=print) -> None:
    from serving.store.api_keys import revoke_key

    engine = _engine(settings or get_settings())
    try:
        key = revoke_key(engine, which, _now())
    finally:
        engine.dispose()
    echo(f"revoked key {key.key_id} ({key.name!r}); a running service refuses it within a few seconds")
