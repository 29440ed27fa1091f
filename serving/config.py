"""How the scoring service is configured: environment variables, read once per worker.

`leadscore serve` sets them from its options and the project settings; every BentoML worker
process inherits them. The service reads nothing else (no training code, no registry).

    LEADSCORE_BUNDLE            model bundle folder to serve (required, unless the service runs
                                from a Bento: see `bundle_source`)
    LEADSCORE_DATABASE_URL      SQLAlchemy URL of the score log and outcomes
    LEADSCORE_MAX_LEADS         most leads in one POST /score or /outcomes (default 10,000)
    LEADSCORE_MAX_BODY_BYTES    largest request body (default 64 MiB)
    LEADSCORE_MAX_BYTES_IN_FLIGHT
                                request-body bytes one worker takes at once, across the
                                requests it is answering (default 96 MiB; at least
                                LEADSCORE_MAX_BODY_BYTES); a body that does not fit is answered
                                503 with Retry-After (serving.guard). A worker's memory grows
                                about 10 times the JSON it is parsing and checking.
    LEADSCORE_MAX_FIELD_CHARS   longest text value of a field (default 1,000)
    LEADSCORE_MAX_ACTIVITIES    most activities sent with one lead (default 10,000)
    LEADSCORE_LOG_FLUSH_SECONDS how often the score log is written (default 0.25)
    LEADSCORE_REPORT_REFRESH_SECONDS
                                how often GET /report's cached report is recomputed in the
                                background (default 300; see serving.service.ReportCache)
    LEADSCORE_HOST              the address `leadscore serve` listens on (set by it, for the logs)
    LEADSCORE_INSECURE_NO_AUTH  true: while no API key exists, answer other machines too (set by
                                `leadscore serve --insecure-no-auth`); unset or false (default):
                                a request from another machine's address, or addressed to another
                                name (Host header: DNS rebinding), is refused (403) until a key
                                exists, whoever started the service (`bentoml serve`, a
                                container; serving.auth)
    LEADSCORE_LANGUAGE          the language of reasons and pages when the request does not say
                                (Accept-Language, a page's ?lang=): en (default) or it
    LEADSCORE_GC                "tuned" (default): freeze the start-up heap and collect less
                                often; "freeze": freeze only; "default": Python's own settings
                                (the last two for comparison, see serving.runtime)
    LEADSCORE_WEBHOOK_URL       http(s) URL told when a lead's stage rises (serving.webhook;
                                default: none, nobody is told)
    LEADSCORE_WEBHOOK_SECRET    shared secret signing each body (HMAC-SHA256; default: unsigned)
    LEADSCORE_WEBHOOK_STAGES    the stages whose reaching is told, comma-separated (default MQL,SQL)
    LEADSCORE_WEBHOOK_TIMEOUT_SECONDS
                                how long one delivery attempt may take (default 5)
    LEADSCORE_WEBHOOK_ATTEMPTS  attempts per notification before it is given up (default 5)
    LEADSCORE_WEBHOOK_QUEUE     notifications a worker keeps waiting; more are dropped and
                                counted (default 10,000)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.errors import LeadscoreError

ENV_PREFIX = "LEADSCORE_"
DEFAULT_DATABASE = Path("data") / "leadscore.db"


class ConfigError(LeadscoreError):
    """A service setting that cannot be used."""


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bundle: Path = Field(description="Model bundle folder to serve.")
    database_url: str = Field(f"sqlite:///{DEFAULT_DATABASE.resolve()}",
                              description="SQLAlchemy URL of the score log and outcomes.")
    max_leads: int = Field(10_000, ge=1, le=1_000_000)
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    max_bytes_in_flight: int = Field(96 * 1024 * 1024, ge=1024,
                                     description="Request-body bytes one worker takes at once (serving.guard).")
    max_field_chars: int = Field(1_000, ge=1)
    max_activities: int = Field(10_000, ge=0)
    log_flush_seconds: float = Field(0.25, gt=0, le=60)
    log_max_buffered: int = Field(100_000, ge=1_000)
    report_refresh_seconds: float = Field(300.0, gt=0, le=86_400,
                                          description="How often GET /report's cached report is recomputed.")
    language: Literal["en", "it"] = Field("en", description="Language of reasons and pages when the request "
                                          "does not say (features.i18n).")
    gc: Literal["tuned", "freeze", "default"] = "tuned"
    workers: int = Field(1, ge=1, description="Worker processes (set by `leadscore serve`).")
    host: str = Field("", description="The address `leadscore serve` listens on (for the logs).")
    insecure_no_auth: bool = Field(False, description="While no API key exists, answer other machines too "
                                   "(serving.auth; `leadscore serve --insecure-no-auth`).")
    webhook_url: str = Field("", description="http(s) URL told when a lead's stage rises (serving.webhook); "
                             "empty: nobody is told.")
    webhook_secret: str = Field("", repr=False, description="Shared secret signing each webhook body (HMAC-SHA256).")
    webhook_stages: str = Field("MQL,SQL", description="Stages whose reaching is told, comma-separated.")
    webhook_timeout_seconds: float = Field(5.0, gt=0, le=60)
    webhook_attempts: int = Field(5, ge=1, le=20)
    webhook_queue: int = Field(10_000, ge=1, le=1_000_000)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        from urllib.parse import urlsplit

        value = value.strip()
        if not value:
            return value
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - raises for a port out of range
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{shown_url(value)!r} is not an http:// or https:// URL with a host (and a port "
                             "from 1 to 65535, if any): give the full address the notifications are posted to, "
                             "such as https://crm.example.com/hooks/leadscore")
        return value

    @field_validator("webhook_stages")
    @classmethod
    def _webhook_stages(cls, value: str) -> str:
        from features.bundle import STAGE_MQL, STAGE_SQL

        names = [v.strip().upper() for v in value.split(",") if v.strip()]
        unknown = [n for n in names if n not in (STAGE_MQL, STAGE_SQL)]
        if unknown or not names:
            raise ValueError(f"{value!r}: list MQL, SQL or both, comma-separated (a lead reaching one of them is told)")
        return ",".join(dict.fromkeys(names))

    @model_validator(mode="after")
    def _webhook_settings_need_a_url(self) -> "ServiceConfig":
        """Webhook settings without LEADSCORE_WEBHOOK_URL would do nothing: refused, not ignored."""
        if not self.webhook_url:
            given = [name for name in ("webhook_secret", "webhook_stages", "webhook_timeout_seconds",
                                       "webhook_attempts", "webhook_queue")
                     if getattr(self, name) != type(self).model_fields[name].default]
            if given:
                names = ", ".join(ENV_PREFIX + name.upper() for name in given)
                raise ValueError(f"{names} set without {ENV_PREFIX}WEBHOOK_URL, so nobody would be told: set the "
                                 "URL the notifications are posted to (`leadscore serve --webhook-url`), or unset them")
        return self

    @property
    def notify_stages(self) -> frozenset[str]:
        """The stages whose reaching the webhook is told of (none without a webhook URL)."""
        return frozenset(self.webhook_stages.split(",")) if self.webhook_url else frozenset()

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: object) -> object:
        """"IT", " it ", "it-IT" are Italian, as everywhere else (features.i18n.check_language)."""
        from features.i18n import LanguageError, check_language

        if isinstance(value, str):
            try:
                return check_language(value, "LEADSCORE_LANGUAGE")
            except LanguageError:
                return value  # refused by the field's type, with the choices
        return value

    @field_validator("max_bytes_in_flight")
    @classmethod
    def _room_for_one_body(cls, value: int, info) -> int:
        largest = info.data.get("max_body_bytes")
        if largest is not None and value < largest:
            raise ValueError(f"{value:,} bytes is less than the largest body ({largest:,}, LEADSCORE_MAX_BODY_BYTES), "
                             f"which could then never be taken: set it to at least {largest}")
        return value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, bundle: Path | None = None) -> "ServiceConfig":
        """The settings `env` (default: this process's environment) gives; `bundle`: the folder
        of the Bento's model to serve, in place of LEADSCORE_BUNDLE (`bundle_source`)."""
        env = os.environ if env is None else env
        values = {}
        for name in cls.model_fields:
            key = ENV_PREFIX + name.upper()
            if key in env and env[key] != "":
                values[name] = env[key]
        if bundle is not None:  # a Bento's model comes first (`bundle_source`)
            values["bundle"] = str(bundle)
        if "bundle" not in values:
            raise ConfigError("no model bundle to serve: start the service with `leadscore serve` "
                              "(or set LEADSCORE_BUNDLE to a bundle folder such as models/bundles/champion), "
                              "or build a Bento with its champion with `leadscore build`")
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join((f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()}: " if e["loc"] else "")
                                 + e["msg"].removeprefix("Value error, ") for e in exc.errors())
            raise ConfigError(f"service settings are not valid: {problems}") from None

    def to_env(self) -> dict[str, str]:
        """The environment variables that give this configuration (for worker processes)."""
        return {ENV_PREFIX + name.upper(): str(getattr(self, name)) for name in type(self).model_fields}


def shown_url(url: str) -> str:
    """An http(s) URL as logs and messages show it: without the user name and password it may
    carry (https://user:secret@host/path -> https://***@host/path)."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unreadable URL)"
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


# ============================================================== where the bundle comes from
BENTO_MODEL_PREFIX = "leadscore-"
"""A champion saved in BentoML's model store is named as the registry names it: leadscore-<spec>."""
BENTO_BUNDLE = "bundle"
"""The exported bundle's folder inside a saved BentoML model (`leadscore build`)."""
BENTO_ARGUMENT = "model"
"""The Bento argument naming the BentoML model to serve (`bentoml build --arg model=<tag>`)."""


def bento_model_name(spec_name: str) -> str:
    """The BentoML model holding `spec_name`'s champion: `leadscore-<spec name>`, in BentoML's
    alphabet (lower-case letters, digits, `-`, `_`, `.`; 63 characters at most). The spec's
    own name is kept in the model's labels."""
    name = re.sub(r"[^a-z0-9._-]+", "-", (BENTO_MODEL_PREFIX + spec_name).lower()).strip("-._")
    return name[:63].rstrip("-._")


@dataclass(frozen=True)
class BundleSource:
    """Where the served model bundle comes from: a folder (LEADSCORE_BUNDLE) or a model in
    BentoML's model store (a tag, `name:version`), or neither (the service refuses to start)."""

    folder: Path | None = None
    model_tag: str | None = None

    def bundle_dir(self) -> Path | None:
        if self.folder is not None:
            return self.folder
        if self.model_tag is not None:
            import bentoml

            return Path(bentoml.models.get(self.model_tag).path) / BENTO_BUNDLE
        return None


def bundle_source(env: Mapping[str, str] | None = None, arguments: Mapping[str, Any] | None = None) -> BundleSource:
    """The one rule for what the service serves, read when serving.service is imported:

    1. the Bento argument `model`, a BentoML model tag: `leadscore build` records it in the
       Bento, so `bentoml serve <bento>` serves the champion built into it;
    2. else LEADSCORE_BUNDLE, a bundle folder (`leadscore serve` sets it);
    3. else the champion in BentoML's model store, when it holds one spec's (a plain
       `bentoml build` after `leadscore build` saved it): its latest version.

    A tag read in 1 or 3 is made exact (`name:version`) and kept as the Bento argument, so a
    Bento built now serves this version even after a newer one is saved."""
    env = os.environ if env is None else env
    arguments = _bento_arguments() if arguments is None else arguments
    wanted = str(arguments.get(BENTO_ARGUMENT) or "").strip()
    if not wanted and env.get("LEADSCORE_BUNDLE"):
        return BundleSource(folder=Path(env["LEADSCORE_BUNDLE"]))
    import bentoml
    from bentoml.exceptions import NotFound

    if not wanted:
        names = sorted({m.tag.name for m in bentoml.models.list() if m.tag.name.startswith(BENTO_MODEL_PREFIX)})
        if not names:
            return BundleSource()
        if len(names) > 1:
            raise ConfigError(f"BentoML's model store holds the champions of several specs ({', '.join(names)}): "
                              f"say which to serve with `leadscore build --spec ...` or `bentoml build --arg "
                              f"{BENTO_ARGUMENT}={names[0]}`")
        wanted = names[0]
    try:
        tag = str(bentoml.models.get(wanted).tag)
    except (NotFound, ValueError) as exc:
        raise ConfigError(f"the Bento argument {BENTO_ARGUMENT}={wanted!r} names no model of BentoML's model store "
                          f"({exc}): save the champion with `leadscore build --spec ...`") from None
    _keep_bento_argument(tag)
    return BundleSource(model_tag=tag)


def _bento_arguments() -> Mapping[str, Any]:
    """The Bento's arguments (`bentoml build --arg`, restored by `bentoml serve <bento>`)."""
    try:
        from bentoml._internal.configuration.containers import BentoMLContainer

        return BentoMLContainer.bento_arguments.get() or {}
    except (ImportError, AttributeError):  # another BentoML: no arguments
        return {}


def _keep_bento_argument(tag: str) -> None:
    try:
        from bentoml._internal.utils.args import set_arguments
    except ImportError:  # pragma: no cover - another BentoML
        return
    set_arguments({**_bento_arguments(), BENTO_ARGUMENT: tag})
