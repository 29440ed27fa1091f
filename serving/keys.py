"""API keys: how one is made, kept and checked (no I/O here; the table is
serving.store.api_keys, the request check serving.auth).

A key is `lsk_<key id>_<secret>`: the id (12 hex characters) is public and finds the key's row;
the secret is 32 random bytes (`secrets.token_urlsafe`) shown once, when the key is created.
The database keeps only a salted PBKDF2-HMAC-SHA256 of the secret (hashlib, the standard
library's implementation of RFC 8018), never the secret: a copy of the database gives no key.

Why PBKDF2 with ITERATIONS rounds and not a slow password setting: the secret has 256 bits of
randomness, so no guessing attack needs slowing down; the rounds only make each check cost the
same known amount. 10,000 rounds took 3.8 ms on this machine (`python -c "import hashlib, os,
time; t = time.perf_counter(); hashlib.pbkdf2_hmac('sha256', os.urandom(32), os.urandom(16),
10_000); print(time.perf_counter() - t)"`); scrypt's usual n=2**14 took 86 ms and 16 MiB a check.

Same time whether a key exists or not: `KeyRing.check` hashes the secret once on every path
(against a stand-in key when the id is unknown) and compares with `hmac.compare_digest`, so an
unknown id, a wrong secret, a revoked key and a key of too narrow a scope all cost one hash. A
key that checked out is remembered (by the SHA-256 of the whole key) so that the next requests
with it cost a dictionary lookup; a revoked key is refused from the next refresh of the ring.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from features.errors import LeadscoreError

PREFIX = "lsk_"
SCOPES = ("score", "outcomes", "admin")
"""What a key allows, each including the ones before it: `score` scores leads and reads the
stages, the model card, the report and the pages; `outcomes` also records won and lost deals;
`admin` everything."""
ITERATIONS = 10_000
"""PBKDF2 rounds of a new key's hash (see the module docstring for the measured cost)."""
ID_CHARS = 12
MAX_KEY_CHARS = 200
"""Longer credentials are refused without hashing (a key is 60 characters)."""


class KeyProblem(LeadscoreError):
    """A key name, scope or id that cannot be used."""


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise KeyProblem(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)} (each allows what the ones "
                        "before it allow)")
    return scope


def allows(scope: str, needed: str) -> bool:
    """Whether a key of `scope` may do what needs `needed` (scopes are ordered, SCOPES)."""
    return SCOPES.index(scope) >= SCOPES.index(needed)


def secret_hash(secret: str, salt: str, iterations: int) -> str:
    """Hex PBKDF2-HMAC-SHA256 of `secret` with the hex `salt`."""
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), iterations).hex()


@dataclass(frozen=True)
class NewKey:
    """A key just made: `token` is what the client sends (shown once); the rest is stored."""
    token: str
    key_id: str
    salt: str
    secret_hash: str
    iterations: int


def new_key() -> NewKey:
    key_id = secrets.token_hex(ID_CHARS // 2)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    return NewKey(f"{PREFIX}{key_id}_{secret}", key_id, salt, secret_hash(secret, salt, ITERATIONS), ITERATIONS)


def split_token(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    if len(token) > MAX_KEY_CHARS or not token.startswith(PREFIX):
        return None
    key_id, sep, secret = token[len(PREFIX):].partition("_")
    if not sep or len(key_id) != ID_CHARS or not secret:
        return None
    return key_id, secret


@dataclass(frozen=True)
class StoredKey:
    """A row of api_keys as the ring needs it."""
    key_id: str
    name: str
    scope: str
    salt: str
    secret_hash: str
    iterations: int
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


_STAND_IN = StoredKey("0" * ID_CHARS, "", "score", "00" * 16, "", ITERATIONS, datetime(1970, 1, 1))
"""Hashed against when a key's id is unknown, so that costs what a known id costs."""


@dataclass(frozen=True)
class Verdict:
    """What a presented key is: `status` 200 (allowed), 401 (no such valid key) or 403 (a valid
    key whose scope is too narrow); `key` the key's row when it is valid."""
    status: int
    key: StoredKey | None = None


class KeyRing:
    """The keys of the service database as last read (`replace`), and the check of a key."""

    def __init__(self, keys: Iterable[StoredKey] = ()):
        self._keys: dict[str, StoredKey] = {}
        self._checked: dict[bytes, str] = {}
        self.replace(keys)

    def replace(self, keys: Iterable[StoredKey]) -> None:
        """Take the keys as read now (revoked ones included: they keep keys required)."""
        self._keys = {key.key_id: key for key in keys}
        self._checked = {digest: key_id for digest, key_id in self._checked.items()
                         if key_id in self._keys and self._keys[key_id].active}

    @property
    def required(self) -> bool:
        """Keys are asked for as soon as one was ever created (revoking the last one keeps the
        service closed, it does not open it)."""
        return bool(self._keys)

    def remembered(self, token: str, needed: str) -> Verdict | None:
        """The verdict for a key already checked (no hashing), else None."""
        key_id = self._checked.get(hashlib.sha256(token.encode()).digest())
        key = self._keys.get(key_id) if key_id else None
        if key is None or not key.active:
            return None
        return Verdict(200 if allows(key.scope, needed) else 403, key)

    def check(self, token: str, needed: str) -> Verdict:
        """Verdict for `token` on a route needing scope `needed`: one hash on every path."""
        parts = split_token(token)
        key_id, secret = parts if parts else ("", token[:MAX_KEY_CHARS])
        stored = self._keys.get(key_id, _STAND_IN)
        matches = hmac.compare_digest(secret_hash(secret, stored.salt, stored.iterations), stored.secret_hash)
        if not (matches and parts and stored is not _STAND_IN and stored.active):
            return Verdict(401)
        self._checked[hashlib.sha256(token.encode()).digest()] = key_id
        return Verdict(200 if allows(stored.scope, needed) else 403, stored)
