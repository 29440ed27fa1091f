"""How the scoring service is configured: environment variables, read once per worker.

`leadscore serve` sets them from its options and the project settings; every BentoML worker
process inherits them. The service reads nothing else (no training code, no registry).

    LEADSCORE_BUNDLE            model bundle folder to serve (required)
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
    LEADSCORE_HOST              the address `leadscore serve` listens on (set by it); on a loopback
                                address a service without API keys takes only requests addressed
                                to this machine (Host header; serving.auth)
    LEADSCORE_LANGUAGE          the language of reasons and pages when the request does not say
                                (Accept-Language, a page's ?lang=): en (default) or it
    LEADSCORE_GC                "tuned" (default): freeze the start-up heap and collect less
                                often; "freeze": freeze only; "default": Python's own settings
                                (the last two for comparison, see serving.runtime)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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
    host: str = Field("", description="The address `leadscore serve` listens on (serving.auth's Host check).")

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
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ServiceConfig":
        env = os.environ if env is None else env
        values = {}
        for name in cls.model_fields:
            key = ENV_PREFIX + name.upper()
            if key in env and env[key] != "":
                values[name] = env[key]
        if "bundle" not in values:
            raise ConfigError("no model bundle to serve: start the service with `leadscore serve` "
                              "(or set LEADSCORE_BUNDLE to a bundle folder such as models/bundles/champion)")
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{ENV_PREFIX}{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}"
                                 for e in exc.errors())
            raise ConfigError(f"service settings are not valid: {problems}") from None

    def to_env(self) -> dict[str, str]:
        """The environment variables that give this configuration (for worker processes)."""
        return {ENV_PREFIX + name.upper(): str(getattr(self, name)) for name in type(self).model_fields}
