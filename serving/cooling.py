"""The words of cooling intent (features.intent): "cooling: 4 high-intent activities within 7
days, then none in the last 41 days", in the reader's language (features.i18n)."""

from __future__ import annotations

from features.i18n import N_, translations
from features.intent import BURST_DAYS

COOLING = N_("cooling: {count} high-intent activities within {window} days, then none in the last {days} days")


def cooling_text(burst: int, quiet_days: int, language: str) -> str | None:
    """The line for a lead whose latest burst had `burst` high-intent activities, the last of
    them `quiet_days` whole days ago; None when it is not cooling (burst 0)."""
    if burst <= 0:
        return None
    return translations(language).gettext(COOLING).format(count=int(burst), window=BURST_DAYS, days=int(quiet_days))
