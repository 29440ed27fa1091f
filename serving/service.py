"""The scoring service (BentoML): POST /score, POST /outcomes, GET /stages, GET /model,
GET /report.

BentoML adds /livez, /readyz, /metrics (Prometheus), the OpenAPI document (/docs.json) and
its Swagger page (/). Started by `leadscore serve`, configured by environment variables (see
serving.config); each worker process loads the model bundle once, in `__init__`.

Bad input never gets a 500: body-level problems (malformed JSON, a wrong type at the top
level, unknown top-level keys) are refused by BentoML's pydantic parsing with a 400 whose
`detail` names the field; lead-level problems (unknown fields, a missing id, NaN, text too
long...) by `serving.schema.LeadValidator` with a 400 in the same shape; too many leads or
too large a body with a 413; outcomes for leads never scored with a 404.

Every answer carries a lead's id under the dataset spec's own id column name ("Prospect ID"),
and /outcomes takes it under that name (or `lead_id`, as before): `serving.schema.answer_id_key`.
The OpenAPI document says so, and shows the spec's lead fields and an example request, because
the body models are made for the served spec when this module is imported (`leadscore serve`
sets LEADSCORE_BUNDLE first; without it, `lead_id` and no fields).

What is served (`serving.config.bundle_source`, the one rule): a bundle folder
(LEADSCORE_BUNDLE, `leadscore serve`), or, in a Bento (`leadscore build`, bentofile.yaml), the
champion saved in BentoML's model store, declared below as the class attribute `champion`.

Latency: small requests (a few leads) are scored on the event loop, with no hop to a thread;
larger ones in a worker thread so that health checks and small requests keep flowing. Scores
are logged to the database by a background writer (serving.store). Python's cyclic garbage
collector is tuned once the model is loaded (serving.runtime.tune_gc; docs/api.md).

Each score carries its trend since the lead's previous logged score (serving.trend), read
before the request's scores are logged, in one query (serving.store.previous_scores.TrendReader;
null when the log cannot be read), and says when the lead's intent is cooling (features.intent).

GET /report answers serving.report.report_from_store's report (what `leadscore report --json`
writes) from a cache that a daemon thread recomputes (ReportCache), so /score never waits for
it; a period (`since`, `until`) is computed on demand in a worker thread.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from itertools import repeat
from pathlib import Path
from typing import Any

import anyio
import bentoml
from fastapi import FastAPI, Query, Request
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles
from pydantic import ValidationError
from pydantic_core import to_json
from starlette.responses import Response

from features.i18n import LANGUAGES, choose_language
from serving.config import BENTO_BUNDLE, ServiceConfig, bundle_source, shown_url
from serving.auth import KeyGuard, start_key_watch
from serving.guard import ANSWER_LANGUAGE, RequestGuard
from serving.metrics_labels import bound_request_metric_labels
from serving.lead_schema import score_example, score_request_model
from serving.openapi import SERVICE_DESCRIPTION, PublishedDocument
from serving.runtime import (exit_with_parent, fix_bentoml_request_timers, import_lightgbm_for_scoring, mark_server,
                             tune_gc)
from serving.schema import (LEAD_ID, InputError, LeadValidator, Problem, ScoreRequest, answer_id_key,
                            check_moment, check_outcomes, outcome_models, refuse, score_response_model)
from serving.segments import load_scorer
from serving.report_cache import (PENDING_RETRY_SECONDS, REPORT_PARAMS, ReportCache, failure_reason, iso_utc,
                                  report_answer)
from serving.store import Outcome, Receipt, ScoreLogUnavailable, ScoreStore, make_engine
from serving.store.previous_scores import TrendReader
from serving.store.score_writer import LOG_AHEAD

logger = logging.getLogger("leadscore.service")
if exit_with_parent():  # in a worker, from its start: it stops when `leadscore serve` dies, even by SIGKILL
    import_lightgbm_for_scoring()  # a process that only scores: LightGBM without scikit-learn (1.6 s less)

INLINE_MAX_LEADS = 8
"""Requests with at most this many leads are scored on the event loop (well under a
millisecond each); larger ones in a thread."""
leads_scored = bentoml.metrics.Counter(
    name="leadscore_leads_scored", documentation="Leads scored, by stage and model version.",
    labelnames=["stage", "model_version"])
webhook_deliveries = bentoml.metrics.Counter(
    name="leadscore_webhook_deliveries", documentation="Stage-rise notifications to the webhook, by outcome "
    "(serving.webhook.OUTCOMES).", labelnames=["outcome"])
contributions_path = bentoml.metrics.Gauge(
    name="leadscore_contributions", documentation="1 for how each serving model computes the contributions "
    "behind reasons: path=tables (serving.treeshap), pred_contrib (LightGBM's, slower; GET /model and the log "
    "say why) or logistic; segment is empty for the global model.", labelnames=["model_version", "segment", "path"],
    multiprocess_mode="livemax")  # one series per model, not per worker
outcomes_received = bentoml.metrics.Counter(
    name="leadscore_outcomes", documentation="Outcomes received, by what happened to them.",
    labelnames=["status"])


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def served_spec(folder: Path | None) -> tuple[str, Any, dict | None]:
    """(answers' id key, dataset spec, training profile) of the bundle in `folder`, read from its
    spec.yaml and profile.json: the key is its spec's id column (`lead_id` when there is no spec
    to read: the service then refuses to start anyway); the spec None when it does not validate
    (the lead object is then left undescribed); the profile None when the bundle has none."""
    import json

    import yaml

    from features.spec import DatasetSpec

    if folder is None:
        return LEAD_ID, None, None
    try:
        raw = yaml.safe_load((Path(folder) / "spec.yaml").read_text(encoding="utf-8"))
        key = answer_id_key(str(raw["leads"]["id"]))
    except (OSError, ValueError, TypeError, KeyError, yaml.YAMLError):
        return LEAD_ID, None, None
    try:
        spec = DatasetSpec.model_validate(raw)
    except ValueError:
        return key, None, None
    try:
        profile = json.loads((Path(folder) / "profile.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        profile = None
    return key, spec, profile if isinstance(profile, dict) else None


SOURCE = bundle_source()
ID_KEY, _SPEC, _PROFILE = served_spec(SOURCE.bundle_dir())
ScoreRequest = score_request_model(_SPEC) if _SPEC is not None else ScoreRequest
SCORE_EXAMPLE = score_example(_SPEC, _PROFILE) if _SPEC is not None else None
ScoreResponse = score_response_model(ID_KEY)
OutcomesRequest, OutcomesResponse = outcome_models(ID_KEY)
del _SPEC, _PROFILE  # read for the body models only: the worker's model is its scorer's


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(to_json(payload), status_code=status, media_type="application/json")


def error_response(error: InputError) -> Response:
    return json_response(error.body(), error.status)


class _QuietClientErrors(logging.Filter):
    """BentoML logs every refused body (pydantic ValidationError) at ERROR with a full
    traceback. Keep real errors as they are; turn client errors into one warning line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = "refused %s %s: %s"
            first = exc.errors(include_url=False)[0] if exc.error_count() else {}
            record.args = (record.args[1] if len(record.args) > 1 else "", record.args[0] if record.args else "",
                           f"{'.'.join(map(str, first.get('loc', ()))) or 'body'}: {first.get('msg', exc.title)}")
        return True


def _quiet_client_errors() -> None:
    target = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, _QuietClientErrors) for f in target.filters):
        target.addFilter(_QuietClientErrors())


# ====================================================================== 503 answers
def unavailable_response(message: str, kind: str, retry_after: float) -> Response:
    """A 503 in the service's error shape, with Retry-After (whole seconds)."""
    response = error_response(refuse((), message, kind, status=503))
    response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response



# ====================================================================== the service
routes = FastAPI(title="leadscore", docs_url=None, redoc_url=None, openapi_url=None)


@bentoml.asgi_app(routes, path="/")
@bentoml.service(
    description=SERVICE_DESCRIPTION,
    workers=1,
    traffic={"timeout": 300},
    http={"cors": {"enabled": False}},
)
class LeadScoringService:
    """Scores leads with the champion model: probability, stage (SQL, MQL, not yet) and the
    reasons for and against, in words; records won/lost outcomes."""

    if SOURCE.model_tag is not None:  # served from BentoML's model store: the Bento's model
        champion = bentoml.models.BentoModel(SOURCE.model_tag)

    def __init__(self) -> None:
        _quiet_client_errors()
        stored = Path(self.champion.path) / BENTO_BUNDLE if SOURCE.model_tag is not None else None
        self.config = ServiceConfig.from_env(bundle=stored)
        if stored is not None and "database_url" not in self.config.model_fields_set:
            logger.warning("served from a Bento with no LEADSCORE_DATABASE_URL: the score log and outcomes go to %s, "
                           "inside this Bento's folder (a new log per build, deleted with the Bento, not the one "
                           "`leadscore report` reads); set LEADSCORE_DATABASE_URL to keep them",
                           self.config.database_url)
        self.scorer = load_scorer(self.config.bundle)  # routed by segment when the bundle has segments
        if self.scorer.id_key != ID_KEY:  # the bodies were made for another bundle's spec
            from serving.config import ConfigError

            raise ConfigError(f"this process imported the service for answers keyed {ID_KEY!r}, but the "
                              f"bundle's spec keys them {self.scorer.id_key!r}: set LEADSCORE_BUNDLE before "
                              "serving.service is imported (`leadscore serve` does)")
        for segment, scorer in [("", getattr(self.scorer, "global_scorer", self.scorer)),
                                *getattr(self.scorer, "scorers", {}).items()]:
            path = "tables" if scorer.tables is not None else \
                "pred_contrib" if scorer.contributions.startswith("LightGBM") else "logistic"
            contributions_path.labels(model_version=scorer.version, segment=segment, path=path).set(1)
        self.validator = LeadValidator.for_scorer(self.scorer, self.config.max_field_chars,
                                                  self.config.max_activities)
        self.stage_watch = self._stage_watch()
        self.store = ScoreStore(self.config.database_url, flush_seconds=self.config.log_flush_seconds,
                                max_buffered=self.config.log_max_buffered, stage_watch=self.stage_watch)
        self.store.index_dimensions(self.scorer.spec.name, self.scorer.spec.report_dimensions)  # the lead queue's filters
        self._warm_up()
        self.report_engine = make_engine(self.config.database_url)  # its own connections: never the writer's
        self.trends = TrendReader(self.report_engine, self.scorer.spec.name)  # each score's trend, read at /score
        self.trends.trends(["warm-up"], [0.5], utc_now())  # its statement compiled before the heap is frozen
        self.report_cache = ReportCache(self._report_answer, self.config.report_refresh_seconds)
        self._period_reports: anyio.CapacityLimiter | None = None
        from serving.ui.pages import Pages

        self.pages = Pages(self.scorer, self.report_engine, lambda: self.report_cache.state.body, self.config.language)
        self.pages.warm_up()
        import monitoring.inputs  # noqa: F401 - what the report imports, loaded before the heap is frozen
        import monitoring.report  # noqa: F401
        import serving.report  # noqa: F401

        start_key_watch(self.config.database_url)  # API keys (serving.auth), read before the heap is frozen
        self.gc = tune_gc(self.config.gc)
        self.report_cache.start()  # after the freeze: the report's passing objects are never frozen
        if self.stage_watch is not None:
            self.stage_watch.sender.start()  # after the freeze too
        logger.info("serving model version %s from %s (%s)", self.scorer.version, self.config.bundle, self.gc)

    def _stage_watch(self):
        """The webhook told of stage rises (serving.webhook), None when none is configured."""
        if not self.config.webhook_url:
            return None
        from serving.webhook import StageWatch, WebhookSender

        def count(outcome: str, n: int) -> None:
            webhook_deliveries.labels(outcome=outcome).inc(n)

        config = self.config
        sender = WebhookSender(config.webhook_url, secret=config.webhook_secret,
                               timeout=config.webhook_timeout_seconds, attempts=config.webhook_attempts,
                               max_queued=config.webhook_queue, count=count)
        logger.info("stage rises to %s are posted to %s", config.webhook_stages, shown_url(config.webhook_url))
        return StageWatch(sender, config.notify_stages, self.scorer.id_key)

    def _warm_up(self) -> None:
        """Score a throw-away lead once in each language, so the first real request pays no lazy
        set-up (an Italian catalogue read, its reason writer built) after the heap is frozen."""
        lead = {self.scorer.id_field: "warm-up"}
        for language in LANGUAGES:
            self.scorer.score_leads([lead], reasons=5, language=language, cooling=True)
            self.scorer.score_leads([dict(lead), dict(lead)], reasons=5, language=language, cooling=True)

    # ------------------------------------------------------------------------- /score
    @bentoml.api(route="/score", input_spec=ScoreRequest, output_spec=ScoreResponse)
    async def score(self, **request: Any) -> ScoreResponse:
        """Score one lead (`lead`) or many (`leads`, up to the configured limit, default
        10,000): probability, score 0-100, stage, reasons for and against, model version.
        Every score served is logged with the lead id, time, probability, stage and model
        version, durably before the answer is sent (serving.store.score_writer). Errors: 400
        (the body or a field is wrong), 413 (too many leads or too large a body); the body
        names the field and the problem; 503 with Retry-After when the scores cannot be
        logged (the database is down and the local journal full); 422 when the database
        refused to log them for their values (its reason in the body: sent again, they would
        be refused again)."""
        from serving.store import ScoreLogRefused

        try:
            leads, single, as_of, reasons = self._score_input(request)
            if len(leads) <= INLINE_MAX_LEADS:
                answers, logged = self._score(leads, single, as_of, reasons)
            else:
                answers, logged = await anyio.to_thread.run_sync(self._score, leads, single, as_of, reasons)
        except InputError as error:
            return error_response(error)
        try:
            await logged.durable()  # on the event loop: the writer thread wakes it
        except ScoreLogUnavailable as error:
            logger.warning("score: answered 503: %s", error)
            return unavailable_response(f"the scores could not be logged ({error}): send the request again in "
                                        f"{math.ceil(error.retry_after)} seconds", "score_log_unavailable",
                                        error.retry_after)
        except ScoreLogRefused as error:
            message = f"the scores could not be logged: {error}; they were not served"
            logger.warning("score: answered 422: %s", error)
            return error_response(refuse((), message, "score_log_refused", status=422))
        response = json_response({"model_version": self.scorer.version, "as_of": as_of.isoformat() + "Z",
                                  "scores": answers})
        response.headers["Content-Language"] = ANSWER_LANGUAGE.get()
        return response

    def _score_input(self, request: dict[str, Any]) -> tuple[list[dict], bool, datetime, int]:
        leads, one = request.get("leads"), request.get("lead")
        if leads is not None and one is not None:
            raise refuse(("lead",), "send either `leads` (a list) or `lead` (one object), not both", "value_error")
        if leads is None and one is None:
            raise refuse(("leads",), "missing: send `leads` (a list of leads) or `lead` (one lead)", "missing")
        if one is not None:
            leads = [one]
        else:
            loc = ("leads",)
            if not leads:
                raise refuse(loc, "the list is empty: send at least one lead", "too_short")
            if len(leads) > self.config.max_leads:
                raise refuse(loc, f"{len(leads):,} leads in one request; at most {self.config.max_leads:,} "
                             "are allowed (LEADSCORE_MAX_LEADS): split the batch", "too_long", status=413)
        as_of, now = request.get("as_of"), utc_now()
        as_of = check_moment(as_of, ("as_of",)) if as_of is not None else now
        if as_of > now + LOG_AHEAD:
            raise refuse(("as_of",), f"{as_of:%Y-%m-%dT%H:%M:%S}Z is in the future: scores are logged as of their "
                         "moment, and one dated ahead would stand for the lead's later scores in the report; send "
                         "a moment up to now", "value_error")
        return leads, one is not None, as_of, int(request.get("reasons", 5))

    def _score(self, leads: list[dict], single: bool, as_of: datetime, reasons: int) -> tuple[list[dict], Receipt]:
        """The answers, and the Receipt of their scores in the log."""
        self.validator.check_leads(leads, single=single)
        answers = self.scorer.score_leads(leads, as_of=as_of, reasons=reasons, language=ANSWER_LANGUAGE.get(),
                                          cooling=True)
        scored_at = as_of  # the moment the score stands for: now, or the backfill's as_of
        key = self.scorer.id_key
        # each score's trend since the lead's previous logged score (serving.trend), read before
        # this request's scores are logged; None when the log cannot be read (the scores still go)
        trends = self.trends.trends([a[key] for a in answers], [a["probability"] for a in answers], scored_at)
        for answer, trend in zip(answers, trends or repeat(None)):
            answer["trend"] = trend.as_dict() if trend is not None else None
        logged = self.store.log_scores(((a[key], a["probability"], a["stage"], a["model_version"]) for a in answers),
                                       scored_at, spec=self.scorer.spec.name, as_of=as_of,
                                       inputs=leads, recorder=self.scorer.recorder,  # recorded by the writer
                                       watched=self.stage_watch.watched(answers) if self.stage_watch else None)
        stages: dict[str, int] = {}
        for answer in answers:
            stages[answer["stage"]] = stages.get(answer["stage"], 0) + 1
        for stage, count in stages.items():
            leads_scored.labels(stage=stage, model_version=self.scorer.version).inc(count)
        return answers, logged

    # ------------------------------------------------------------------------- /outcomes
    @bentoml.api(route="/outcomes", input_spec=OutcomesRequest, output_spec=OutcomesResponse)
    async def outcomes(self, **request: Any) -> OutcomesResponse:
        """Record won or lost, with the closing time, for leads this service has scored.
        Idempotent per lead: the same outcome again is "unchanged"; a different one replaces
        the old ("updated"). All or nothing: 404 if any lead was never scored, 400 for
        invalid values, 503 with Retry-After while the database cannot be reached; nothing
        is stored then."""
        from sqlalchemy.exc import DBAPIError

        from serving.store.database import RETRY_SECONDS, unavailable

        try:
            return await anyio.to_thread.run_sync(self._record, request["outcomes"])
        except InputError as error:
            return error_response(error)
        except DBAPIError as error:
            if not unavailable(error):
                raise
            logger.warning("outcomes: the database is unavailable (%s); answered 503", error.orig)
            return unavailable_response("the database cannot be reached: the outcomes were not recorded; send them "
                                      f"again in {RETRY_SECONDS} seconds", "database_unavailable", RETRY_SECONDS)

    def _record(self, items: list) -> Response:
        if not items:
            raise refuse(("outcomes",), "the list is empty: send at least one outcome", "too_short")
        if len(items) > self.config.max_leads:
            raise refuse(("outcomes",), f"{len(items):,} outcomes in one request; at most "
                         f"{self.config.max_leads:,} are allowed: split the batch", "too_long", status=413)
        now = utc_now()
        checked, keys = check_outcomes(items, self.config.max_field_chars, now, ID_KEY)
        ids = [lead_id for lead_id, _, _ in checked]
        known = self.store.known_leads(ids)  # every score answered by any worker is in the log already
        unknown = [(i, lead_id) for i, lead_id in enumerate(ids) if lead_id not in known]
        if unknown:
            raise InputError([Problem(("outcomes", i, keys[i]), f"unknown lead {lead_id!r}: this service has "
                                      "never scored it (score it first, or check the id)", "unknown_lead")
                              for i, lead_id in unknown], status=404, total=len(unknown))
        statuses = self.store.record_outcomes([Outcome(*item) for item in checked], now)
        counts = {s: statuses.count(s) for s in ("recorded", "unchanged", "updated")}
        if counts["recorded"] or counts["updated"]:
            self.report_cache.refresh_soon()
        for status, count in counts.items():
            if count:
                outcomes_received.labels(status=status).inc(count)
        return json_response({**counts, "outcomes": [{ID_KEY: lead_id, "status": status}
                                                     for lead_id, status in zip(ids, statuses)]})

    # ------------------------------------------------------------------------- GET routes
    @routes.get("/stages", summary="The MQL/SQL definitions of the serving model, in words and numbers")
    def stages(self, request: Request) -> Response:
        """Each stage's numbers, rule and `words`, and the fit/intent grade grid in words
        (`grades`; null for a model without it), in the language of Accept-Language (else
        LEADSCORE_LANGUAGE); Content-Language says which."""
        from features.stage_words import stage_words

        language = choose_language(None, request.headers.get("accept-language"), self.config.language)
        stages = {key: {**definition, "words": stage_words(definition, language)}
                  for key, definition in self.scorer.stage_definitions().items()}
        body = {"model_version": self.scorer.version, "stages": stages,
                "grades": self.scorer.grade_definitions(language)}
        by_segment = getattr(self.scorer, "segment_stage_definitions", None)  # serving.segments
        if by_segment is not None:
            body["segment_by"] = self.scorer.column
            body["segments"] = {value: {key: {**definition, "words": stage_words(definition, language)}
                                        for key, definition in definitions.items()}
                                for value, definitions in by_segment().items()}
        response = json_response(body)
        response.headers["Content-Language"] = language
        return response

    @routes.get("/model", summary="The model card: version, when trained, data window, holdout metrics")
    def model(self) -> dict:
        return self.scorer.model_card()

    # ------------------------------------------------------------------------- /ui pages
    @routes.get("/ui", include_in_schema=False)
    def ui_index(self, request: Request) -> Response:
        from serving.ui.pages import index

        return index(request)

    @routes.get("/ui/leads", include_in_schema=False)
    def ui_leads(self, request: Request) -> Response:
        return self.pages.queue(request)

    @routes.get("/ui/lead", include_in_schema=False)
    def ui_lead(self, request: Request) -> Response:
        return self.pages.lead(request)

    @routes.get("/ui/stages", include_in_schema=False)
    def ui_stages(self, request: Request) -> Response:
        return self.pages.stages(request)

    @routes.get("/ui/report", include_in_schema=False)
    def ui_report(self, request: Request) -> Response:
        return self.pages.report(request)

    @routes.get("/ui/model", include_in_schema=False)
    def ui_model(self, request: Request) -> Response:
        return self.pages.model(request)

    @routes.get("/ui/key", include_in_schema=False)
    def ui_key(self, request: Request) -> Response:
        from serving.ui.key_page import key_form

        return key_form(self.pages, request)

    @routes.post("/ui/key", include_in_schema=False)
    async def ui_take_key(self, request: Request) -> Response:
        from serving.ui.key_page import take_key

        return await take_key(self.pages, request)

    @routes.get("/ui/static/plotly.min.js", include_in_schema=False)
    def ui_plotly(self) -> Response:
        from serving.ui.pages import plotly_js

        return FileResponse(plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    # ------------------------------------------------------------------------- /report
    @routes.get("/report", summary="The outcome report: do the stages keep their promise (as `leadscore report --json`)")
    async def report(self, request: Request,
                     since: str | None = Query(None, description="ISO 8601 time: report the leads scored from "
                                               "then on, computed on demand (not cached)"),
                     until: str | None = Query(None, description="ISO 8601 time: report the leads scored "
                                               "before then, computed on demand (not cached)")) -> Response:
        """Without `since` and `until`: the report of the whole score log from the cache (its
        `computed_at` says when), 503 with Retry-After until the first computation is done or
        while the last one failed. With either: that period's report, computed now in a worker
        thread (one at a time per worker). 400 for a bad time or an unknown parameter."""
        try:
            period = self._report_period(request, since, until)
        except InputError as error:
            return error_response(error)
        if period == (None, None):
            return self._cached_report()
        if self._period_reports is None:
            self._period_reports = anyio.CapacityLimiter(1)
        computed_at = iso_utc(utc_now())
        try:
            body = await anyio.to_thread.run_sync(self._report_answer, computed_at, *period,
                                                  limiter=self._period_reports)
        except Exception as exc:  # noqa: BLE001 - the database or the logged data: say why, never 500
            reason = failure_reason(exc)
            logger.warning("report of %s to %s could not be computed: %s", since, until, reason)
            return unavailable_response(f"the report could not be computed: {reason}", "report_failed",
                                      PENDING_RETRY_SECONDS)
        return Response(body, media_type="application/json")

    def _report_period(self, request: Request, since: str | None,
                       until: str | None) -> tuple[datetime | None, datetime | None]:
        unknown = [key for key in request.query_params if key not in REPORT_PARAMS]
        if unknown:
            raise refuse((unknown[0],), f"unknown parameter {unknown[0]!r}: /report takes `since` and `until` "
                         "(ISO 8601 times)", "extra_forbidden")
        start = check_moment(since, ("since",)) if since is not None else None
        end = check_moment(until, ("until",)) if until is not None else None
        if start is not None and end is not None and end <= start:
            raise refuse(("until",), f"{until} is not after `since` ({since}): the period is empty", "value_error")
        return start, end

    def _cached_report(self) -> Response:
        state = self.report_cache.state
        if state.error is not None:
            return unavailable_response(f"the report could not be computed at {state.failed_at}: {state.error}; "
                                      f"it is tried again every {self.report_cache.refresh_seconds:g} s",
                                      "report_failed", self.report_cache.refresh_seconds)
        if state.body is None:
            return unavailable_response("the report is being computed; ask again in a few seconds",
                                      "report_pending", PENDING_RETRY_SECONDS)
        return Response(state.body, media_type="application/json")

    def _report_answer(self, computed_at: str, since: datetime | None = None,
                       until: datetime | None = None) -> bytes:
        """The report of [since, until) as Each score carries its trend since the lead's previous logged score (serving.trend), read
before the request's scores are logged, in one query (serving.store.previous_scores.TrendReader;
null when the log cannot be read), and says when the lead's intent is cooling (features.intent).

GET /report answers it (in a worker thread)."""
        from serving.report import report_from_store

        return report_answer(report_from_store(self.report_engine, self.scorer, since, until), computed_at)

    # ------------------------------------------------------------------------- health
    def __is_ready__(self) -> bool:
        return self.store.healthy

    @bentoml.on_deployment
    def _name_the_server() -> None:
        """In `leadscore serve`'s main process, before the workers start: they exit with it."""
        mark_server()

    @bentoml.on_shutdown
    def close(self) -> None:
        """Write what is left of the score log before the worker exits."""
        self.report_cache.stop()
        self.report_engine.dispose()
        self.store.close()
        if self.stage_watch is not None:
            self.stage_watch.sender.close()
        logger.info("score log flushed (%d rows written by this worker)", self.store.rows_logged)


routes.mount("/ui/static", StaticFiles(directory=Path(__file__).parent / "ui" / "static"), name="ui-static")
LeadScoringService.add_asgi_middleware(KeyGuard)  # the outer of the two: no key, nothing else is looked at
LeadScoringService.add_asgi_middleware(RequestGuard)
LeadScoringService.add_asgi_middleware(  # GET /docs.json as the service answers, GET / its Swagger page
    PublishedDocument, examples={("post", "/score"): SCORE_EXAMPLE} if SCORE_EXAMPLE is not None else {})
fix_bentoml_request_timers()
bound_request_metric_labels()
