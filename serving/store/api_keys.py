"""The API keys kept in the service database (the `api_keys` table): create, list, revoke, and
read them all for the service's key ring (serving.keys). Only a hash of each secret is kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from serving.keys import ID_CHARS, PREFIX, KeyProblem, NewKey, StoredKey, check_scope, new_key
from serving.store.tables import api_keys

NAME_CHARS = 100


def read_keys(engine: Engine) -> list[StoredKey]:
    """Every key, revoked ones included, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)).mappings().all()
    return [StoredKey(**row) for row in rows]


def create_key(engine: Engine, name: str, scope: str, now: datetime) -> tuple[NewKey, StoredKey]:
    """Make and store a key named `name` (1-100 printable characters, unique among valid keys)
    allowing `scope`. Returns the new key (its `token` is shown once and kept nowhere) and its
    row. KeyProblem for a bad name or scope, or a name in use."""
    check_scope(scope)
    name = name.strip()
    if not name or len(name) > NAME_CHARS or not name.isprintable():
        raise KeyProblem(f"--name {name!r}: give 1 to {NAME_CHARS} printable characters saying who uses the key "
                         "(e.g. crm, website, sales-pages)")
    if name.startswith(PREFIX) or (len(name) == ID_CHARS and all(c in "0123456789abcdef" for c in name)):
        raise KeyProblem(f"--name {name!r} looks like a key or a key id, so `leadscore keys revoke` could not tell "
                         "them apart: choose a name that says who uses the key (e.g. crm)")
    made = new_key()
    stored = StoredKey(made.key_id, name, scope, made.salt, made.secret_hash, made.iterations, now)
    with engine.begin() as conn:
        taken = conn.execute(select(api_keys.c.key_id).where(api_keys.c.name == name,
                                                             api_keys.c.revoked_at.is_(None))).first()
        if taken is not None:
            raise KeyProblem(f"a valid key is already named {name!r} (id {taken[0]}): choose another name, or "
                             f"revoke it first with `leadscore keys revoke {taken[0]}`")
        conn.execute(api_keys.insert().values(**stored.__dict__))
    return made, stored


def revoke_key(engine: Engine, which: str, now: datetime) -> StoredKey:
    """Revoke the valid key whose id (or name) is `which`; returns its row as revoked.
    KeyProblem when no valid key has that id or name, or several share the name."""
    which = which.strip().removeprefix("lsk_").split("_")[0] if which.startswith("lsk_") else which.strip()
    with engine.begin() as conn:
        rows = conn.execute(select(api_keys).where(api_keys.c.revoked_at.is_(None),
                                                   (api_keys.c.key_id == which) | (api_keys.c.name == which))
                            ).mappings().all()
        if not rows:
            raise KeyProblem(f"no valid key has the id or name {which!r}: `leadscore keys list` shows them")
        if len(rows) > 1:
            raise KeyProblem(f"{which!r} names several keys ({', '.join(r['key_id'] for r in rows)}): revoke by id")
        conn.execute(update(api_keys).where(api_keys.c.key_id == rows[0]["key_id"]).values(revoked_at=now))
    return StoredKey(**{**rows[0], "revoked_at": now})
