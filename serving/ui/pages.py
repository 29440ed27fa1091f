"""The web pages for sales and marketing, served by `leadscore serve` under /ui: the lead queue,
a lead's detail, the shared stage definitions, the outcome report and the model card.

Server-rendered HTML (Jinja2 templates in `templates/`, one environment per language with the
gettext catalogue of features.i18n installed), every asset served by the service itself
(`static/`, and plotly.js from the plotly package), so the pages work with no internet. The
only script posts an outcome to /outcomes from the lead's page (`static/ui.js`).

What the pages show comes from the same places as the API: the score log (what each lead was
served: serving.store.lead_queue), the served model (its reasons, rescored from the lead's
logged record as of the moment it was scored: the same `LeadScorer.score_records` for the queue
and the detail), the stage definitions that travel with the model (features.stage_words), and
the outcome report (serving.report_cache's cached `GET /report` body).

Errors: a page asked with a bad parameter answers 400 with the reason; a lead never scored 404.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Mapping

from starlette.responses import HTMLResponse, RedirectResponse, Response

from features.bundle import STAGE_MQL, STAGE_NONE, STAGE_SQL
from features.i18n import (LANGUAGE_NAMES, LANGUAGES, N_, choose_language, number_text, percent_text,
                           translations)
from features.stage_words import rule_words, stage_words

logger = logging.getLogger("leadscore.ui")

HERE = Path(__file__).parent
LANGUAGE_COOKIE = "leadscore_lang"
PAGE_SIZE = 50
OUTCOME_CHOICES = {"open": N_("Open leads"), "won": N_("Won"), "lost": N_("Lost"), "all": N_("All leads")}
"""The queue's outcome filter: leads to call are the open ones (the default)."""
STAGE_KEYS = {STAGE_SQL: "sql", STAGE_MQL: "mql"}
STAGE_LABELS = {STAGE_SQL: N_("SQL"), STAGE_MQL: N_("MQL"), STAGE_NONE: N_("not yet")}
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
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
"""Sent with every page: no other site may frame it (a hidden frame could have the Won and Lost
buttons clicked), no type guessing, no address leaked to other sites."""
RESCORED_LIMIT = 20_000
"""Answers remembered per worker (lead, time scored, version, language): a queue page loaded
again does not write its reasons again (forgotten all at once when full)."""
MAX_MORE = 3
"""The most extra activities of one type tried when looking for what would move a lead."""


class PageError(Exception):
    """A page asked wrongly (400) or for something that is not there (404): the message says which."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Suggestion:
    """One way a lead would reach the next stage: `count` more activities of `activity_type`."""

    activity_type: str
    count: int
    stage: str
    probability: float


def _environment(language: str):
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(language), newstyle=True)
    env.globals.update(percent=lambda share: percent_text(share, language),
                       number=lambda value, decimals=0: number_text(value, language, decimals))
    return env


class Pages:
    """The pages of one worker: `scorer` (serving.scorer.LeadScorer), `engine` (SQLAlchemy, its
    own connections), `report_body` (a callable giving the cached report's JSON bytes or None),
    `default_language` (LEADSCORE_LANGUAGE's)."""

    def __init__(self, scorer, engine, report_body: Callable[[], bytes | None], default_language: str):
        self.scorer = scorer
        self.engine = engine
        self.report_body = report_body
        self.default_language = default_language
        self.envs = {language: _environment(language) for language in LANGUAGES}
        spec = scorer.spec
        self.dimensions = list(spec.report_by)
        spellings = (scorer.bundle.profile or {}).get("spellings") or {}
        self.dimension_values = {c: sorted(set((spellings.get(c) or {}).values()), key=str.casefold)
                                 for c in self.dimensions}
        act = spec.activities
        self.high_intent = list(act.high_intent) if act is not None else []
        self._rescored: dict[tuple, dict] = {}  # see RESCORED_LIMIT

    def warm_up(self) -> None:
        """Compile every template once (before the service freezes its start-up heap)."""
        for env in self.envs.values():
            for name in env.list_templates():
                env.get_template(name)

    # ------------------------------------------------------------------------------ plumbing
    def language(self, request) -> str:
        """?lang=, else the language cookie the switch set, else Accept-Language, else the default."""
        asked = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
        return choose_language(asked, request.headers.get("accept-language"), self.default_language)

    def render(self, request, template: str, status: int = 200, **context: Any) -> Response:
        language = self.language(request)
        env = self.envs[language]
        _ = translations(language).gettext
        here = request.url.path
        switch = {code: f"{here}?{_with_query(request, lang=code)}" for code in LANGUAGES}
        body = env.get_template(template).render(
            lang=language, languages=LANGUAGE_NAMES, switch=switch, page=template.removesuffix(".html"),
            when=lambda moment: _moment_text(moment, language),
            model_version=self.scorer.version, spec=self.scorer.spec.name,
            stage_label=lambda stage: _(STAGE_LABELS.get(stage, stage)) if stage in STAGE_LABELS else stage,
            **context)
        response = HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
        response.headers["Content-Language"] = language
        response.headers["Vary"] = "Accept-Language, Cookie"
        asked = request.query_params.get("lang")
        if asked and choose_language(asked, None, None) == language and asked.strip().lower()[:2] == language:
            # Lax: a link from the CRM or an e-mail opens the page in the language chosen here
            response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, httponly=True, samesite="lax",
                                path="/ui")
        return response

    def page(self, request, build: Callable[[Any, str], tuple[str, dict]]) -> Response:
        """Render `build(request, language)`'s template and context; a PageError as its page."""
        language = self.language(request)
        try:
            template, context = build(request, language)
        except PageError as error:
            return self.render(request, "error.html", status=error.status, message=str(error))
        return self.render(request, template, **context)

    # ------------------------------------------------------------------------------ the queue
    def queue(self, request) -> Response:
        return self.page(request, self._queue)

    def _queue(self, request, language: str) -> tuple[str, dict]:
        from serving.store.lead_queue import QueueQuery, queue_page

        params = request.query_params
        _ = translations(language).gettext
        stage = params.get("stage") or None
        if stage is not None and stage not in STAGE_LABELS:
            raise PageError(_("stage: {value} is not a stage; use SQL, MQL or “not yet”").format(value=stage))
        low, high = _score_param(params, "min", _), _score_param(params, "max", _)
        if low is not None and high is not None and low > high:
            raise PageError(_("the lowest score ({low}) is above the highest ({high})").format(low=low, high=high))
        order = params.get("order") or "ready"
        if order not in ("ready", "newest"):
            raise PageError(_("order: use “ready” or “newest”"))
        outcome = params.get("outcome") or "open"
        if outcome not in OUTCOME_CHOICES:
            raise PageError(_("outcome: use “open”, “won”, “lost” or “all”"))
        page = _whole_param(params, "page", _) or 1
        dimensions = {c: params[f"dim.{c}"] for c in self.dimensions if params.get(f"dim.{c}")}
        query = QueueQuery(spec=self.scorer.spec.name, stage=stage, dimensions=dimensions,
                           min_probability=None if low is None else low / 100,
                           max_probability=None if high is None else high / 100,
                           lead_id=(params.get("q") or "").strip() or None, order=order, page=page,
                           page_size=PAGE_SIZE, outcome=None if outcome == "all" else outcome)
        try:
            result = queue_page(self.engine, query)
        except ValueError as exc:
            raise PageError(str(exc)) from None
        answers = self.rescored(result.rows, language, reasons=1)
        now = _utc_now()
        rows = [self._row(row, answers.get(row.lead_id), now, language) for row in result.rows]
        filters = {"stage": stage or "", "min": "" if low is None else low, "max": "" if high is None else high,
                   "q": params.get("q") or "", "order": order, "dimensions": dimensions, "outcome": outcome}
        return "queue.html", {
            "rows": rows, "filters": filters, "page_number": page, "has_next": result.has_next,
            "previous_url": f"?{_with_query(request, page=page - 1)}" if page > 1 else None,
            "next_url": f"?{_with_query(request, page=page + 1)}" if result.has_next else None,
            "dimension_values": {c: _with_value(values, dimensions.get(c)) for c, values in self.dimension_values.items()},
            "dimension_names": self._dimension_names(language),
            "stages": list(STAGE_LABELS), "outcome_choices": OUTCOME_CHOICES}

    def _dimension_names(self, language: str) -> dict[str, str]:
        names = self.scorer.reasons_in(language).names
        return {c: names.get(c, c) for c in self.dimensions}

    def _row(self, row, answer: Mapping | None, now: datetime, language: str) -> dict:
        created = _created_at(row.lead, self.scorer.spec.leads.created_at)
        pros, cons = (answer["reasons_for"], answer["reasons_against"]) if answer is not None else ([], [])
        return {"lead_id": row.lead_id, "probability": row.probability, "stage": row.stage,
                "reason_for": pros[0] if pros else None, "reason_against": cons[0] if cons else None,
                "reasons_note": None if answer is not None else "other_model",
                "trend": _trend(row.probability, row.previous_probability),
                "age": _age(now - created, language) if created is not None else None,
                "scored": _age(now - row.scored_at, language), "outcome": row.outcome,
                "dimensions": {c: row.lead.get(c) for c in self.dimensions}}

    # ------------------------------------------------------------------------------ rescoring
    def rescored(self, rows, language: str, reasons: int) -> dict[str, dict]:
        """The served model's answers for queue rows scored by it (id -> answer), rescored from
        their logged records as of the moment each was scored: their reasons in `language`.
        Rows scored by another model version get none (their reasons would not be theirs)."""
        mine = [row for row in rows if row.model_version == self.scorer.version]
        found, missing = {}, []
        for row in mine:
            answer = self._rescored.get((row.lead_id, row.scored_at, reasons, language))
            if answer is None:
                missing.append(row)
            else:
                found[row.lead_id] = answer
        if missing:
            answers = self.scorer.score_records([(row.lead_id, _json_text(row.lead), _json_text(row.activities))
                                                 for row in missing], [row.as_of for row in missing],
                                                reasons=reasons, language=language)
            if len(self._rescored) + len(missing) > RESCORED_LIMIT:
                self._rescored.clear()
            for row, answer in zip(missing, answers):
                found[row.lead_id] = self._rescored[(row.lead_id, row.scored_at, reasons, language)] = answer
        return found

    def suggestions(self, row, stage: str) -> list[Suggestion]:
        """What would move the lead to the next stage, computed with the model: for each
        high-intent activity type, the fewest more of it (up to MAX_MORE), done just before the
        moment it was scored as of, that would. Profile changes are never suggested."""
        target = NEXT_STAGE.get(stage)
        if target is None or not self.high_intent:
            return []
        activities = list(_json_value(row.activities) or [])
        # a second before the moment it was scored as of: an activity counts strictly before it
        at = (row.as_of - datetime(1970, 1, 1)) // timedelta(microseconds=1) * 1000 - 1_000_000_000
        records, moments, tried = [], [], []
        for activity_type in self.high_intent:
            for count in range(1, MAX_MORE + 1):
                more = activities + [[at, activity_type, None]] * count
                records.append((f"what-if {len(records)}", _json_text(row.lead), json.dumps(more)))
                moments.append(row.as_of)
                tried.append((activity_type, count))
        answers = self.scorer.score_records(records, moments, reasons=0)
        found: dict[str, Suggestion] = {}
        order = [STAGE_NONE, STAGE_MQL, STAGE_SQL]
        for (activity_type, count), answer in zip(tried, answers):
            if activity_type in found:
                continue
            if order.index(answer["stage"]) >= order.index(target):
                found[activity_type] = Suggestion(activity_type, count, answer["stage"], answer["probability"])
        return sorted(found.values(), key=lambda s: (s.count, -s.probability))

    def suggestion_words(self, suggestion: Suggestion, language: str) -> str:
        """"a demo request would make this lead an SQL", "2 demo requests would ..." in `language`."""
        from serving.reasons import display_name

        tr = translations(language)
        n = suggestion.count
        stage = tr.gettext(STAGE_LABELS[suggestion.stage])
        one, many = MOVE_WORDS.get(suggestion.activity_type, MOVE_ANY)
        name = self.scorer.reasons_in(language).activity_names.get(suggestion.activity_type) or \
            display_name(suggestion.activity_type)
        return tr.gettext(one if n == 1 else many).format(n=n, name=name, stage=stage)

    # ------------------------------------------------------------------------------ one lead
    def lead(self, request) -> Response:
        return self.page(request, self._lead)

    def _lead(self, request, language: str) -> tuple[str, dict]:
        from serving.store.lead_queue import latest_record, lead_history

        _ = translations(language).gettext
        lead_id = _lead_id_param(request.query_params.get("id"), _)
        row = latest_record(self.engine, self.scorer.spec.name, lead_id)
        if row is None:
            raise PageError(_("no lead {id} has been scored with this model's data set").format(id=lead_id), 404)
        answers = self.rescored([row], language, reasons=5)
        answer = answers.get(row.lead_id)
        history = lead_history(self.engine, self.scorer.spec.name, lead_id)
        definitions = self.scorer.stage_definitions()
        key = STAGE_KEYS.get(row.stage)
        definition = stage_words(definitions[key], language) if key in definitions else None
        suggestions = [self.suggestion_words(s, language) for s in self.suggestions(row, row.stage)] \
            if row.model_version == self.scorer.version else []
        created = _created_at(row.lead, self.scorer.spec.leads.created_at)
        now = _utc_now()
        return "lead.html", {
            "row": row, "answer": answer, "definition": definition, "history": _chart(history),
            "history_rows": history, "suggestions": suggestions, "id_key": self.scorer.id_key,
            "trend": _trend(row.probability, row.previous_probability),
            "age": _age(now - created, language) if created is not None else None,
            "scored": _age(now - row.scored_at, language), "next_stage": NEXT_STAGE.get(row.stage),
            "fields": self._fields(row.lead, language)}

    def _fields(self, lead: Mapping, language: str) -> list[tuple[str, str]]:
        """The lead's profile as it was scored, each field by its display name: a category in
        the export's most common spelling, a number as reasons write it, yes/no in words."""
        from features import values as V
        from serving.reasons import readable_number

        _ = translations(language).gettext
        names = self.scorer.reasons_in(language).names
        spellings = (self.scorer.bundle.profile or {}).get("spellings") or {}
        lead_spec = self.scorer.spec.leads
        missing = V.placeholders(self.scorer.spec.missing_values)
        out = []
        for column in self.scorer.spec.profile_columns:
            value = lead.get(column)
            if V.is_missing(value, missing):  # a placeholder ("Select") is no value: the reasons say "not given"
                continue
            try:
                if column in lead_spec.numeric and not isinstance(value, str):
                    text = readable_number(float(value), language)
                elif column in lead_spec.yes_no and isinstance(value, (bool, int, float)):
                    text = _("yes") if value else _("no")
                else:
                    text = (spellings.get(column) or {}).get(V.category(value), str(value)) \
                        if column in lead_spec.categorical else str(value)
            except (TypeError, ValueError, V.Unreadable):
                text = str(value)
            out.append((names.get(column, column), text))
        return out

    # ------------------------------------------------------------------------------ stages
    def stages(self, request) -> Response:
        return self.page(request, self._stages)

    def _stages(self, request, language: str) -> tuple[str, dict]:
        from monitoring.report import verdict_words

        definitions = self.scorer.stage_definitions()
        report = self._report()
        checks = {c["stage"]: c for c in (report or {}).get("stages", [])}
        stages = []
        for key in ("sql", "mql"):
            if key not in definitions:
                continue
            d = definitions[key]
            keys = [key] + (["mql_band"] if key == "mql" else [])
            stages.append({"key": key, "name": d["name"], "threshold": d["threshold"],
                           "words": stage_words(d, language), "rule": rule_words(d, language),
                           "verdicts": [{"words": verdict_words(checks[k], language, definitions),
                                         "broken": checks[k]["broken"]} for k in keys if k in checks]})
        return "stages.html", {"stages": stages, "report_ready": report is not None}

    # ------------------------------------------------------------------------------ report
    def _report(self) -> dict | None:
        body = self.report_body()
        return json.loads(body) if body else None

    def report(self, request) -> Response:
        return self.page(request, self._report_page)

    def _report_page(self, request, language: str) -> tuple[str, dict]:
        from monitoring.html import report_figures
        from monitoring.report import NOT_GIVEN, verdict_words
        from serving.report import SCORED_AGAIN

        report = self._report()
        if report is None:
            return "report.html", {"report": None, "figures": [], "verdicts": [], "dimensions": []}
        definitions = self.scorer.stage_definitions()
        figures = [(name, figure.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False}))
                   for name, figure in report_figures(report, language)]
        verdicts = [{"words": verdict_words(c, language, definitions), "broken": c["broken"]}
                    for c in report.get("stages", [])]
        names = self.scorer.reasons_in(language).names
        spellings = (self.scorer.bundle.profile or {}).get("spellings") or {}
        _ = translations(language).gettext
        labels = {NOT_GIVEN: _("(not given)"), SCORED_AGAIN: _("(scored again after the period)")}
        dimensions = [(names.get(column, column), [{**row, "value": labels.get(row["value"]) or
                                                    (spellings.get(column) or {}).get(row["value"], row["value"])}
                                                   for row in rows])
                      for column, rows in (report.get("by_dimension") or {}).items()]
        return "report.html", {"report": report, "figures": figures, "verdicts": verdicts, "dimensions": dimensions}

    # ------------------------------------------------------------------------------ model
    def model(self, request) -> Response:
        return self.page(request, self._model)

    def _model(self, request, language: str) -> tuple[str, dict]:
        card = self.scorer.model_card()
        definitions = self.scorer.stage_definitions()
        return "model.html", {"card": card, "stage_words": [stage_words(definitions[k], language)
                                                           for k in ("sql", "mql") if k in definitions]}


# ---------------------------------------------------------------------------------- helpers
def plotly_js() -> Path:
    """plotly.js as the plotly package ships it (the report page's charts; no CDN)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def index(request) -> Response:
    return RedirectResponse(f"/ui/leads{'?' + request.url.query if request.url.query else ''}", status_code=307)


def _with_value(values: list[str], value: str | None) -> list[str]:
    """A filter's choices (the values training saw), with the one asked when it is not among
    them (a value new since training stays chosen when the form is sent again)."""
    if value is None or any(v.casefold() == value.strip().casefold() for v in values):
        return values
    return [*values, value]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _with_query(request, **changes: Any) -> str:
    from urllib.parse import urlencode

    params = dict(request.query_params)
    params.update({k: str(v) for k, v in changes.items()})
    return urlencode(params)


_SCORE = re.compile(r"\d{1,3}(\.\d+)?")


def _lead_id_param(text: str | None, _) -> str:
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


def _score_param(params, name: str, _) -> float | None:
    """A score from 0 to 100 as typed: digits, at most one decimal point (no "5_0", no "1e2")."""
    text = (params.get(name) or "").strip()
    if not text:
        return None
    value = float(text) if _SCORE.fullmatch(text) else math.nan
    if not 0 <= value <= 100:
        raise PageError(_("{name}: {value} is not a score; give a number from 0 to 100").format(name=name, value=text))
    return int(value) if value == int(value) else value


def _whole_param(params, name: str, _) -> int | None:
    text = (params.get(name) or "").strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 1_000_000:
        raise PageError(_("{name}: {value} is not a page number").format(name=name, value=text))
    return int(text)


def _trend(probability: float, previous: float | None) -> dict | None:
    """Up, down or steady since the previous score, in points of probability (steady under 1)."""
    if previous is None:
        return None
    points = round((probability - previous) * 100)
    return {"direction": "up" if points >= 1 else "down" if points <= -1 else "steady", "points": points}


def _age(delta, language: str) -> str:
    from babel.dates import format_timedelta

    return format_timedelta(max(delta.total_seconds(), 0), threshold=1.5, locale=language)


def _created_at(lead: Mapping, column: str | None) -> datetime | None:
    from features import values as V

    if column is None or not lead.get(column):
        return None
    try:
        ns = V.iso_time_ns(lead[column])
    except V.Unreadable:
        return None
    return datetime(1970, 1, 1) + timedelta(microseconds=ns // 1000)


def _moment_text(moment: datetime | str | None, language: str) -> str:
    """A time (naive UTC, or ISO text) as people of the language write it: "30 Nov 2026, 18:00"
    in English, "30 nov 2026, 18:00" in Italian."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.removesuffix("Z"))
    from babel.dates import format_datetime

    return format_datetime(moment, "d MMM y, HH:mm", locale=language)


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _json_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _chart(history: list) -> dict | None:
    """The score history as points of a small SVG line chart (x, y in a 0-300 x 0-100 box)."""
    if not history:
        return None
    times = [h[0].timestamp() if hasattr(h[0], "timestamp") else 0 for h in history]
    start, span = min(times), (max(times) - min(times)) or 1.0
    points = [(round(8 + 284 * (t - start) / span, 1) if len(history) > 1 else 150.0,
               round(96 - 92 * float(h[1]), 1)) for t, h in zip(times, history)]
    return {"points": " ".join(f"{x},{y}" for x, y in points), "dots": points}
