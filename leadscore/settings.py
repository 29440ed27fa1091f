"""Settings shared by every command: where things live. Environment variables override the
defaults (prefix LEADSCORE_, plus MLflow's own MLFLOW_TRACKING_URI)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEADSCORE_", extra="forbid")

    models_dir: Path = Field(PROJECT_ROOT / "models", description="Local registry and exported bundles.")
    data_dir: Path = Field(PROJECT_ROOT / "data", description="Demo data and the local database.")
    database_url: str | None = Field(None, description="SQLAlchemy URL of the score log and outcomes; "
                                     "default: a SQLite file under data_dir.")
    tracking_uri: str | None = Field(None, description="MLflow tracking URI; default: MLFLOW_TRACKING_URI "
                                     "or a SQLite store under models_dir.")
    champion_alias: str = "champion"

    @property
    def resolved_tracking_uri(self) -> str:
        if self.tracking_uri:
            return self.tracking_uri
        if os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"]
        return f"sqlite:///{(self.models_dir / 'mlflow.db').resolve()}"

    @property
    def artifact_root(self) -> Path:
        return (self.models_dir / "mlartifacts").resolve()

    @property
    def bundles_dir(self) -> Path:
        return self.models_dir / "bundles"

    def spec_bundles_dir(self, spec_name: str) -> Path:
        """A spec's exported bundles: v<N>/ per exported version and champion/ (its champion)."""
        return self.bundles_dir / spec_name

    def champion_bundle_dir(self, spec_name: str) -> Path:
        return self.spec_bundles_dir(spec_name) / "champion"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'leadscore.db').resolve()}"


def get_settings() -> Settings:
    return Settings()
