"""What would move a lead to the next stage, computed with the model: the lead page's "what would
move it up". Only high-intent activities are tried, never profile changes, and each suggestion
is a score the model gives (tests/serving/test_ui_pages.py tries each through the API)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from features.bundle import STAGE_MQL, STAGE_NONE, STAGE_SQL
from features.i18n import N_, translations
from serving.ui.display import STAGE_LABELS, json_text, json_value

NEXT_STAGE = {STAGE_NONE: STAGE_MQL, STAGE_MQL: STAGE_SQL}
MOVE_WORDS: dict[str, tuple[str, str]] = {
    "pricing_view": (N_("a pricing-page view would make this lead an {stage}"),
                     N_("{n} pricing-page views would make this lead an {stage}")),
    "demo_request": (N_("a demo request would make this lead an {stage}"),
                     N_("{n} demo requests would make this lead an {stage}")),
    "form_fill": (N_("a form fill would make this lead an {stage}"),
                  N_("{n} form fills would make this lead an {stage}")),
    "webinar": (N_("attending a webinar would make this lead an {stage}"),
                N_("attending {n} webinars would make this lead an {stage}")),
}
"""What would move a lead to the next stage, per high-intent activity type: the words for one
more such activity and for `n` more (English and Italian both set 1 apart from other numbers);
another type reads MOVE_ANY with its name."""
MOVE_ANY = (N_("one more “{name}” would make this lead an {stage}"),
            N_("{n} more “{name}” would make this lead an {stage}"))
MAX_MORE = 3
"""The most extra activities of one type tried when looking for what would move a lead."""
_ORDER = [STAGE_NONE, STAGE_MQL, STAGE_SQL]


@dataclass
class Suggestion:
    """One way a lead would reach the next stage: `count` more activities of `activity_type`."""

    activity_type: str
    count: int
    stage: str
    probability: float


def suggestions(scorer, row, high_intent: list[str]) -> list[Suggestion]:
    """What would move a logged lead (a serving.store.lead_queue.QueueRow) to the next stage,
    computed with `scorer` (serving.scorer.LeadScorer): for each of `high_intent` (the spec's
    high-intent activity types), the fewest more of it (up to MAX_MORE), done in the seconds
    before the moment the lead was scored as of, that would. Fewest first."""
    target = NEXT_STAGE.get(row.stage)
    if target is None or not high_intent:
        return []
    activities = list(json_value(row.activities) or [])
    # seconds before the moment it was scored as of (an activity counts strictly before it), each
    # at its own moment: reading a record drops exact duplicate activities, as reading an export does
    moment = (row.as_of - datetime(1970, 1, 1)) // timedelta(microseconds=1) * 1000
    records, moments, tried = [], [], []
    for activity_type in high_intent:
        for count in range(1, MAX_MORE + 1):
            more = activities + [[moment - k * 1_000_000_000, activity_type, None] for k in range(1, count + 1)]
            records.append((f"what-if {len(records)}", json_text(row.lead), json.dumps(more)))
            moments.append(row.as_of)
            tried.append((activity_type, count))
    answers = scorer.score_records(records, moments, reasons=0)
    found: dict[str, Suggestion] = {}
    for (activity_type, count), answer in zip(tried, answers):
        if activity_type not in found and _ORDER.index(answer["stage"]) >= _ORDER.index(target):
            found[activity_type] = Suggestion(activity_type, count, answer["stage"], answer["probability"])
    return sorted(found.values(), key=lambda s: (s.count, -s.probability))


def suggestion_words(scorer, suggestion: Suggestion, language: str) -> str:
    """"a demo request would make this lead an SQL", "2 demo requests would ..." in `language`."""
    from serving.reasons import display_name

    tr = translations(language)
    n = suggestion.count
    stage = tr.gettext(STAGE_LABELS[suggestion.stage])
    one, many = MOVE_WORDS.get(suggestion.activity_type, MOVE_ANY)
    name = scorer.reasons_in(language).activity_names.get(suggestion.activity_type) or \
        display_name(suggestion.activity_type)
    return tr.gettext(one if n == 1 else many).format(n=n, name=name, stage=stage)
