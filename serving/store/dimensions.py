"""The value a logged lead has in a dimension of the lead queue, as its filters compare it: the
one rule for what the score-log writer and `index_dimensions` write (serving.store.inserts,
serving.store.dimension_index) and for what a filter asks (serving.store.lead_queue).

A dimension is a column of the spec (its `report_by`), read from the record's `lead` JSON
(features.logged) as the model reads a category: `features.values.category` (trimmed,
case-folded with str.casefold, inner spaces collapsed; numbers and yes/no as their text). A
field that is missing, blank, or not a single value (an object, a list) has no value and
matches no filter; so does a filter value that is blank. Python folds both sides, so SQLite
and PostgreSQL agree (SQLite's lower() folds ASCII letters only). The spec's placeholders and
category aliases are not applied: the store does not know them.

A value longer than VALUE_LENGTH - 1 characters, not encodable as UTF-8, or holding a NUL
character (PostgreSQL's text refuses it) is kept as its first characters and a digest, always VALUE_LENGTH characters long, so it never equals a
shorter one: index entries stay small enough for PostgreSQL's B-trees whatever a CRM sends.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any, Sequence

from features import values as V
from serving.store.tables import VALUE_LENGTH

_PREFIX = VALUE_LENGTH - 33
"""Characters of a long value kept before its digest ("#" and 32 hexadecimal digits)."""


def dimension_key(value: Any) -> str | None:
    """The form `value` (a record's field, or a filter's text) is kept and compared in; None
    when it has none."""
    if value is None or not isinstance(value, (str, int, float, bool)):
        return None
    return _key(value)


@lru_cache(maxsize=16_384, typed=True)  # a dimension has few distinct values: each read once
def _key(value: str | int | float | bool) -> str | None:
    text = V.category(value)
    if text is None:
        return None
    if len(text) < VALUE_LENGTH and "\x00" not in text:
        try:
            text.encode()
            return text
        except UnicodeEncodeError:  # a lone surrogate (JSON allows one): kept by digest
            pass
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
    prefix = text[:_PREFIX].replace("\x00", "\ufffd").encode("utf-8", "replace").decode().ljust(_PREFIX)
    return f"{prefix}#{digest}"


def record_dimensions(lead: str, columns: Sequence[str]) -> list[str | None]:
    """The keys (`dimension_key`) of the record's values in `columns`, one per column, read
    from its `lead` JSON text (None: no value)."""
    try:
        fields = json.loads(lead)
    except (TypeError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        return [None] * len(columns)
    return [dimension_key(fields.get(column)) for column in columns]
