"""How the pages write what they show: stage labels, times, ages, trends and the score history
chart, in the reader's language (features.i18n)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from features.bundle import STAGE_MQL, STAGE_NONE, STAGE_SQL
from features.i18n import N_

STAGE_LABELS = {STAGE_SQL: N_("SQL"), STAGE_MQL: N_("MQL"), STAGE_NONE: N_("not yet")}
"""Each stage as the pages name it (translated where shown)."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def trend(probability: float, previous: float | None) -> dict | None:
    """Up, down or steady since the previous score, in points of probability (steady under 1);
    None for a lead scored once."""
    if previous is None:
        return None
    points = round((probability - previous) * 100)
    return {"direction": "up" if points >= 1 else "down" if points <= -1 else "steady", "points": points}


def age_text(delta: timedelta, language: str) -> str:
    """A span as a person says it ("5 months", "5 mesi"; Babel's format_timedelta)."""
    from babel.dates import format_timedelta

    return format_timedelta(max(delta.total_seconds(), 0), threshold=1.5, locale=language)


def created_at(lead: Mapping, column: str | None) -> datetime | None:
    """A logged lead's created time (naive UTC), or None when it has none that reads."""
    from features import values as V

    if column is None or not lead.get(column):
        return None
    try:
        ns = V.iso_time_ns(lead[column])
    except V.Unreadable:
        return None
    return datetime(1970, 1, 1) + timedelta(microseconds=ns // 1000)


def moment_text(moment: datetime | str | None, language: str) -> str:
    """A time (naive UTC, or ISO text) as people of the language write it: "30 Nov 2026, 18:00"
    in English, "30 nov 2026, 18:00" in Italian."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.removesuffix("Z"))
    from babel.dates import format_datetime

    return format_datetime(moment, "d MMM y, HH:mm", locale=language)


def json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def history_chart(history: list) -> dict | None:
    """The score history ((scored_at, probability, ...) oldest first) as points of a small SVG
    line chart: x, y in a 300 x 100 box, time left to right, probability 0 at the bottom."""
    if not history:
        return None
    times = [h[0].timestamp() if hasattr(h[0], "timestamp") else 0 for h in history]
    start, span = min(times), (max(times) - min(times)) or 1.0
    points = [(round(8 + 284 * (t - start) / span, 1) if len(history) > 1 else 150.0,
               round(96 - 92 * float(h[1]), 1)) for t, h in zip(times, history)]
    return {"points": " ".join(f"{x},{y}" for x, y in points), "dots": points}
