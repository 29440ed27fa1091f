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
    """Up, down or steady since the previous score (serving.trend.score_trend, the one rule:
    the change of the whole percent shown, 40% to 64% is up 24 points; steady when they show
    the same); None for a lead scored once."""
    from serving.trend import score_trend

    found = score_trend(probability, previous)
    return None if found.direction == "new" else found.as_dict()


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
    in English, "30 nov 2026 alle 18:00" in Italian."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.removesuffix("Z"))
    from babel.dates import format_datetime

    return format_datetime(moment, _MOMENT_PATTERNS.get(language, "d MMM y, HH:mm"), locale=language)


_MOMENT_PATTERNS = {"it": "d MMM y 'alle' HH:mm"}
"""How a time is written where English's "30 Nov 2026, 18:00" would not read naturally."""


def day_text(moment: datetime | str | None, language: str) -> str:
    """A date as people of the language write it: "31 Oct 2024", "31 ott 2024"."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.removesuffix("Z"))
    from babel.dates import format_date

    return format_date(moment, "d MMM y", locale=language)


def month_text(month: str, language: str) -> str:
    """A month of the report ("2026-07") as people of the language write it: "Jul 2026", "lug 2026"."""
    from babel.dates import format_date

    try:
        return format_date(datetime.strptime(month, "%Y-%m"), "MMM y", locale=language)
    except ValueError:
        return month


def json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def history_chart(history: list, language: str) -> dict | None:
    """The score history ((scored_at, probability, ...) oldest first) as a small SVG line chart in
    a 320 x 120 box: time left to right between x 40 and 310, probability from 0 (y 90) to 100%
    (y 10); the first and last dates under it, in `language`."""
    if not history:
        return None
    times = [h[0].timestamp() for h in history]
    start, span = min(times), (max(times) - min(times)) or 1.0
    points = [(round(40 + 270 * (t - start) / span, 1) if len(history) > 1 else 175.0,
               round(90 - 80 * float(h[1]), 1)) for t, h in zip(times, history)]
    return {"points": " ".join(f"{x},{y}" for x, y in points), "dots": points,
            "first": moment_text(history[0][0], language), "last": moment_text(history[-1][0], language)}
