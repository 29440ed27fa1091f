"""The grade grid in words (features.sub_scores defines it), in each language leadscore speaks:
what `GET /stages`, the model card and the web pages say each fit letter and intent number
means, with its cut points and how such holdout leads bought."""

from __future__ import annotations

from typing import Any, Mapping

from features.i18n import DEFAULT_LANGUAGE, N_, localized, translations, with_article

GRID = N_("The grade pairs who a lead is (fit, A to D) with what it does now (intent, 1 to 4); A1 is the best. "
          "Fit is the probability of buying from the profile alone, intent from the recent activity alone; the "
          "score reads both together, with the lead's age.")
GRID_FIT_ONLY = N_("The grade says who a lead is (fit, A to D; A is the best): the probability of buying from "
                   "the profile alone. There is no intent number: the data has no activity log.")
FIT = {
    "A": N_("fit A: a fit of {low} or more, the top quarter of our past leads"),
    "B": N_("fit B: a fit from {low} to {high}, the second quarter of our past leads"),
    "C": N_("fit C: a fit from {low} to {high}, the third quarter of our past leads"),
    "D": N_("fit D: a fit below {high}, the bottom quarter of our past leads, or a lead we cannot sell to"),
}
INTENT = {
    "1": N_("intent 1: an intent of {low} or more, the top third of our past leads whose activity counted"),
    "2": N_("intent 2: an intent from {low} to {high}, the middle third of our past leads whose activity counted"),
    "3": N_("intent 3: an intent above {floor} and below {high}, the bottom third of our past leads whose "
            "activity counted"),
    "4": N_("intent 4: activity that adds nothing or says they lost interest (an intent of {floor} or less, as "
            "with no activity in the last {days} days), or a lead we cannot sell to"),
}
BOUGHT = N_("{share} of such leads bought")


def grade_percent(share: float, language: str = DEFAULT_LANGUAGE) -> str:
    """A sub-score or a grade's cut point in percent: one decimal below 10% ("1.5%", where the
    intent of a lead with no activity often lies, so that the page does not show "2%" for a
    lead and "above 2%" for its grade), whole above ("21%"); in the language's marks."""
    text = f"{share * 100:.1f}" if share < 0.1 else f"{share * 100:.0f}"
    return localized(text, language) + "%"


def grade_words(grid: Mapping[str, Any], figures: Mapping[str, Any], days: int | None,
                language: str = DEFAULT_LANGUAGE) -> dict[str, Any]:
    """{"grid": words, "fit": {letter: words}, "intent": {number: words} or None}.

    grid: `SubScores.grid()`; figures: each sub-score's `figures` ({"fit": {"by_grade": ...},
    "intent": ...}: each grade's holdout leads and won rate, appended when known); days: the
    longest activity window."""
    tr = translations(language)
    _ = tr.gettext

    def share(value: float) -> str:
        return grade_percent(value, language)

    def with_the(**numbers: str) -> dict[str, str]:  # each number, and with its article (Italian)
        return {**numbers, **{f"the_{k}": with_article(v, language) if v else v for k, v in numbers.items()}}

    def bought(name: str, grade: str) -> str:
        known = ((figures or {}).get(name) or {}).get("by_grade", {}).get(grade)
        if not known:
            return ""
        text = share(known["won_rate"])
        return f" ({_(BOUGHT).format(share=text, the_share=with_article(text, language))})"

    cuts = list(grid["fit"].values())
    fit = {}
    for i, letter in enumerate(FIT):
        low = share(cuts[i]) if i < len(cuts) else ""
        high = share(cuts[i - 1]) if i else ""
        fit[letter] = _(FIT[letter]).format(**with_the(low=low, high=high)) + bought("fit", letter)
    intent = None
    if grid.get("intent"):
        numbers = grid["intent"]
        cuts = [numbers["1"], numbers["2"]]
        floor = share(numbers["no_activity"])
        intent = {}
        for i, number in enumerate(INTENT):
            low = share(cuts[i]) if i < len(cuts) else ""
            high = share(cuts[i - 1]) if 0 < i <= len(cuts) else ""
            intent[number] = _(INTENT[number]).format(**with_the(low=low, high=high, floor=floor), days=days or "") \
                + bought("intent", number)
    return {"grid": _(GRID if intent else GRID_FIT_ONLY), "fit": fit, "intent": intent}
