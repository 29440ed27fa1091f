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

Errors: a page asked with a bad parameter answers 400 with the reason; a lead never scored 404;
while the database cannot be reached 503 with Retry-After.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

from sqlalchemy.exc import DBAPIError
from starlette.responses import HTMLResponse, RedirectResponse, Response

from features.bundle import STAGE_MQL, STAGE_SQL
from features.i18n import (LANGUAGE_NAMES, LANGUAGES, N_, choose_language, number_text, percent_text,
                           translations)
from features.stage_words import rule_words, stage_words
from serving.keys import allows
from serving.store.database import RETRY_SECONDS, unavailable
from serving.ui.display import (STAGE_LABELS, age_text, created_at, day_text, history_chart, json_text, moment_text,
                                month_text, trend, utc_now)
from serving.ui.next_stage import NEXT_STAGE, suggestion_words, suggestions
from serving.ui.params import PageError, lead_id_param, score_param, whole_param, with_query, with_value

logger = logging.getLogger("leadscore.ui")

HERE = Path(__file__).parent
LANGUAGE_COOKIE = "leadscore_lang"
PAGE_SIZE = 50
OUTCOME_CHOICES = {"open": N_("Open leads"), "won": N_("Won"), "lost": N_("Lost"), "all": N_("All leads")}
"""The queue's outcome filter: leads to call are the open ones (the default)."""
STAGE_KEYS = {STAGE_SQL: "sql", STAGE_MQL: "mql"}
SECURITY_HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
"""Sent with every page: no other site may frame it (a hidden frame could have the Won and Lost
buttons clicked), no type guessing, no address leaked to other sites."""
CHART_CONFIG = {"displaylogo": False, "showSendToCloud": False,
                "modeBarButtonsToRemove": ["sendDataToCloud", "editInChartStudio"], "responsive": True}
"""The report's charts stay on this machine: no button that sends them to Plotly's cloud."""
SAME_PROBABILITY = 1e-6
"""How far a rescored probability may lie from the logged one (answers are rounded to 6 decimals)."""
RESCORED_LIMIT = 20_000
"""Answers remembered per worker (lead, time scored, version, language): a queue page loaded
again does not write its reasons again (forgotten all at once when full)."""


@lru_cache(maxsize=1)
def _compiled_templates():
    """Jinja's own cache of compiled templates, on disk (a folder of this user's in the temp
    directory, keyed by each template's source): the languages' environments share it, and a
    worker's start reuses what an earlier one compiled. Compiling every template for both
    languages was 0.58 s of a worker's start (cProfile of the service's __init__, 2026-12)."""
    from jinja2 import FileSystemBytecodeCache

    try:
        return FileSystemBytecodeCache()
    except (OSError, RuntimeError) as exc:  # no safe temp folder (a read-only file system...): compile each time
        logger.info("page templates compiled at each start: no cache folder (%s)", exc)
        return None


def _environment(language: str):
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
                      bytecode_cache=_compiled_templates())
    env.install_gettext_translations(translations(language), newstyle=True)
    from features.grade_words import grade_percent

    env.globals.update(percent=lambda share: percent_text(share, language),
                       grade_percent=lambda share: grade_percent(share, language),
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
        self.dimensions = list(spec.report_dimensions)
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
        switch = {code: f"{here}?{with_query(request, lang=code)}" for code in LANGUAGES}
        key = (request.scope.get("state") or {}).get("api_key")  # the key serving.auth took, if keys are asked
        body = env.get_template(template).render(
            lang=language, languages=LANGUAGE_NAMES, switch=switch, page=template.removesuffix(".html"),
            when=lambda moment: moment_text(moment, language), day=lambda moment: day_text(moment, language),
            month=lambda month: month_text(month, language),
            model_version=self.scorer.version, spec=self.scorer.spec.name,
            key_name=key.name if key else None, can_record=key is None or allows(key.scope, "outcomes"),
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
        except DBAPIError as error:
            if not unavailable(error):
                raise
            logger.warning("page %s: the database is unavailable (%s); answered 503", request.url.path, error.orig)
            _ = translations(language).gettext
            response = self.render(request, "error.html", status=503, message=_(
                "The database cannot be reached just now: try again in a few seconds."))
            response.headers["Retry-After"] = str(RETRY_SECONDS)
            return response
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
        low, high = score_param(params, "min", _), score_param(params, "max", _)
        if low is not None and high is not None and low > high:
            raise PageError(_("the lowest score ({low}) is above the highest ({high})").format(low=low, high=high))
        order = params.get("order") or "ready"
        if order not in ("ready", "newest"):
            raise PageError(_("order: use “ready” or “newest”"))
        outcome = params.get("outcome") or "open"
        if outcome not in OUTCOME_CHOICES:
            raise PageError(_("outcome: use “open”, “won”, “lost” or “all”"))
        page = whole_param(params, "page", _) or 1
        dimensions = {c: params[f"dim.{c}"] for c in self.dimensions if (params.get(f"dim.{c}") or "").strip()}
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
        now = utc_now()
        rows = [self._row(row, answers.get(row.lead_id), now, language) for row in result.rows]
        filters = {"stage": stage or "", "min": "" if low is None else low, "max": "" if high is None else high,
                   "q": params.get("q") or "", "order": order, "dimensions": dimensions, "outcome": outcome}
        return "queue.html", {
            "rows": rows, "filters": filters, "page_number": page, "has_next": result.has_next,
            "previous_url": f"?{with_query(request, page=page - 1)}" if page > 1 else None,
            "next_url": f"?{with_query(request, page=page + 1)}" if result.has_next else None,
            "dimension_values": {column: with_value(values, dimensions.get(column))
                                 for column, values in self.dimension_values.items()},
            "dimension_names": self._dimension_names(language),
            "stages": list(STAGE_LABELS), "outcome_choices": OUTCOME_CHOICES}

    def _dimension_names(self, language: str) -> dict[str, str]:
        names = self.scorer.reasons_in(language).names
        return {c: names.get(c, c) for c in self.dimensions}

    def _row(self, row, answer: Mapping | None, now: datetime, language: str) -> dict:
        created = created_at(row.lead, self.scorer.spec.leads.created_at)
        pros, cons = (answer["reasons_for"], answer["reasons_against"]) if answer is not None else ([], [])
        return {"lead_id": row.lead_id, "probability": row.probability, "stage": row.stage,
                "reason_for": pros[0] if pros else None, "reason_against": cons[0] if cons else None,
                "grade": answer.get("grade") if answer is not None else None,
                "reasons_note": None if answer is not None else
                "other_model" if row.model_version != self.scorer.version else "not_rebuilt",
                "trend": trend(row.probability, row.previous_probability),
                "age": age_text(now - created, language) if created is not None else None,
                "scored": age_text(now - row.scored_at, language), "outcome": row.outcome,
                "dimensions": {c: row.lead.get(c) for c in self.dimensions}}

    # ------------------------------------------------------------------------------ rescoring
    def rescored(self, rows, language: str, reasons: int) -> dict[str, dict]:
        """The served model's answers for queue rows scored by it (id -> answer), rescored from
        their logged records as of the moment each was scored: their reasons in `language`.
        Rows scored by another model version get none (their reasons would not be theirs), nor
        rows whose record does not give back their logged probability."""
        probabilities = {row.lead_id: row.probability for row in rows}
        mine = [row for row in rows if row.model_version == self.scorer.version]
        found = self._rescore(mine, language, reasons)
        # Only reasons that belong to the score shown: the record, read back, must give the logged
        # probability (it may not: the API counts activities a file or a record would drop as
        # exact duplicates).
        return {lead_id: answer for lead_id, answer in found.items()
                if abs(answer["probability"] - probabilities[lead_id]) <= SAME_PROBABILITY}

    def _rescore(self, mine, language: str, reasons: int) -> dict[str, dict]:
        found, missing = {}, []
        for row in mine:
            answer = self._rescored.get((row.lead_id, row.scored_at, reasons, language))
            if answer is None:
                missing.append(row)
            else:
                found[row.lead_id] = answer
        if missing:
            answers = self.scorer.score_records([(row.lead_id, json_text(row.lead), json_text(row.activities))
                                                 for row in missing], [row.as_of for row in missing],
                                                reasons=reasons, language=language, cooling=True)
            if len(self._rescored) + len(missing) > RESCORED_LIMIT:
                self._rescored.clear()
            for row, answer in zip(missing, answers):
                found[row.lead_id] = self._rescored[(row.lead_id, row.scored_at, reasons, language)] = answer
        return found

    # ------------------------------------------------------------------------------ one lead
    def lead(self, request) -> Response:
        return self.page(request, self._lead)

    def _lead(self, request, language: str) -> tuple[str, dict]:
        from serving.store.lead_queue import latest_record, lead_history

        _ = translations(language).gettext
        lead_id = lead_id_param(request.query_params.get("id"), _)
        row = latest_record(self.engine, self.scorer.spec.name, lead_id)
        if row is None:
            raise PageError(_("no lead {id} has been scored with this model's data set").format(id=lead_id), 404)
        answers = self.rescored([row], language, reasons=5)
        answer = answers.get(row.lead_id)
        history = lead_history(self.engine, self.scorer.spec.name, lead_id)
        of_lead = getattr(self.scorer, "stage_definitions_of", None)  # serving.segments: its own model's
        definitions = of_lead(row.lead) if of_lead is not None else self.scorer.stage_definitions()
        key = STAGE_KEYS.get(row.stage)
        definition = stage_words(definitions[key], language) if key in definitions else None
        # what-ifs start from the lead as scored: only when its record gives back its score
        moves = [suggestion_words(self.scorer, move, language)
                 for move in (suggestions(self.scorer, row, self.high_intent) if answer is not None else [])]
        created = created_at(row.lead, self.scorer.spec.leads.created_at)
        now = utc_now()
        return "lead.html", {
            "row": row, "answer": answer, "other_model": row.model_version != self.scorer.version,
            "definition": definition, "history": history_chart(history, language),
            "history_rows": history, "suggestions": moves, "id_key": self.scorer.id_key,
            "trend": trend(row.probability, row.previous_probability),
            "age": age_text(now - created, language) if created is not None else None,
            "scored": age_text(now - row.scored_at, language), "next_stage": NEXT_STAGE.get(row.stage),
            "fields": self._fields(row.lead, language),
            "grades": self.scorer.grade_definitions_of(row.lead, language)}

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
        return "stages.html", {"stages": stages, "report_ready": report is not None,
                               "grades": self.scorer.grade_definitions(language)}

    # ------------------------------------------------------------------------------ report
    def _report(self) -> dict | None:
        body = self.report_body()
        return json.loads(body) if body else None

    def report(self, request) -> Response:
        return self.page(request, self._report_page)

    def _report_page(self, request, language: str) -> tuple[str, dict]:
        from features.profile import ACTIVITY_TYPE_KEY
        from monitoring.html import report_figures
        from monitoring.report import NOT_GIVEN, verdict_words
        from serving.report import SCORED_AGAIN

        report = self._report()
        if report is None:
            return "report.html", {"report": None, "figures": [], "verdicts": [], "dimensions": []}
        definitions = self.scorer.stage_definitions()
        names = self.scorer.reasons_in(language).names
        _ = translations(language).gettext
        figures = []
        for name, figure in report_figures(report, language, {**names, ACTIVITY_TYPE_KEY: _("(activity type)")},
                                           definitions):
            title = figure.layout.title.text  # above the chart, where a narrow screen wraps it
            figure.update_layout(title=None, margin={"t": 30})
            figures.append((name, title, figure.to_html(full_html=False, include_plotlyjs=False,
                                                        config=CHART_CONFIG)))
        verdicts = [{"words": verdict_words(c, language, definitions), "broken": c["broken"]}
                    for c in report.get("stages", [])]
        spellings = (self.scorer.bundle.profile or {}).get("spellings") or {}
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
