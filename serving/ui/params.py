"""Reading a page's address: the lead queue's filters and a lead's id, each read strictly; a
PageError (400) says what is wrong and what to send."""

from __future__ import annotations

import math
import re
from typing import Any
from urllib.parse import urlencode


class PageError(Exception):
    """A page asked wrongly (400) or for something that is not there (404): the message says which."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


_SCORE = re.compile(r"[0-9]{1,3}(\.[0-9]+)?")  # ASCII digits only: "٥" and "５" are not read as 5


def lead_id_param(text: str | None, _) -> str:
    """The lead id of a page address, read as the API reads ids (" 101", "101.0" -> "101")."""
    from features import values as V

    if text is None or not text.strip():
        raise PageError(_("id: give the id of a lead"))
    try:
        lead_id = V.lead_id(text)
    except V.Unreadable:
        lead_id = None
    if not lead_id or not lead_id.isprintable():
        raise PageError(_("id: {value} is not a lead id").format(value=ascii(text)[1:-1][:100]))
    return lead_id


def score_param(params, name: str, _) -> float | None:
    """A score from 0 to 100 as typed: digits, at most one decimal point (no "5_0", no "1e2")."""
    text = (params.get(name) or "").strip()
    if not text:
        return None
    value = float(text) if _SCORE.fullmatch(text) else math.nan
    if not 0 <= value <= 100:
        raise PageError(_("{name}: {value} is not a score; give a number from 0 to 100").format(name=name, value=text))
    return int(value) if value == int(value) else value


def whole_param(params, name: str, _) -> int | None:
    """A page number: ASCII digits, 1 to 1,000,000 ("²" and "１" are not numbers here)."""
    text = (params.get(name) or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1_000_000:
        raise PageError(_("{name}: {value} is not a page number").format(name=name, value=text))
    return int(text)


def with_query(request, **changes: Any) -> str:
    """The request's query with `changes` (for links to another page or language)."""
    params = dict(request.query_params)
    params.update({k: str(v) for k, v in changes.items()})
    return urlencode(params)


def with_value(values: list[str], value: str | None) -> list[str]:
    """A filter's choices (the values training saw), with the one asked when it is not among
    them (a value new since training stays chosen when the form is sent again)."""
    if value is None or any(v.casefold() == value.strip().casefold() for v in values):
        return values
    return [*values, value]
