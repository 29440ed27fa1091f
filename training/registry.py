"""The model registry: MLflow tracking and registered versions, with `champion` and
`challenger` aliases.

A champion per spec: each dataset spec trains its own registered model, `leadscore-<spec
name>`, with its own champion (the version in use) and challenger (the latest version
registered without being promoted). Nothing compares or replaces across specs.

Embedded by default (a SQLite store and artifacts under models/), any tracking server with
MLFLOW_TRACKING_URI. Every alias name and every registry call lives here, in one place.

Champion history is kept as a registered-model tag (`champion_history`, oldest first), so
`rollback` can put the previous champion back even after several promotions.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from features.bundle import ModelBundle
from features.errors import LeadscoreError

HISTORY_TAG = "champion_history"
MODEL_PREFIX = "leadscore-"
CHALLENGER_ALIAS = "challenger"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class RegistryError(LeadscoreError):
    """A registry operation that cannot be done (no such version, no champion, ...)."""


@dataclass
class VersionInfo:
    version: int
    run_id: str
    created: str
    aliases: list[str]
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def model_name_for(spec_name: str) -> str:
    """The registered model of a dataset spec: `leadscore-<spec name>`."""
    if not _SAFE_NAME.fullmatch(spec_name or ""):
        raise RegistryError(f"the spec name {spec_name!r} cannot name a registered model or a folder: "
                            "use letters, digits, '.', '_' and '-' (e.g. demo-crm) in the spec's `name`")
    return MODEL_PREFIX + spec_name


def spec_name_of(model_name: str) -> str:
    return model_name.removeprefix(MODEL_PREFIX)


def quiet_mlflow_environment() -> None:
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


class Registry:
    """The registry store; with a model name, that one registered model (see `for_model`)."""

    def __init__(self, tracking_uri: str, artifact_root: Path, model_name: str | None = None,
                 champion_alias: str = "champion", cache_dir: Path | None = None):
        self.tracking_uri = tracking_uri
        self.artifact_root = Path(artifact_root)
        self._model_name = model_name
        self.champion_alias = champion_alias
        self.cache_root = Path(cache_dir) if cache_dir else self.artifact_root.parent / ".bundle-cache"
        self._client = None

    @classmethod
    def from_settings(cls, settings, model_name: str | None = None) -> "Registry":
        return cls(settings.resolved_tracking_uri, settings.artifact_root, model_name,
                   settings.champion_alias, settings.models_dir / ".bundle-cache")

    def for_model(self, model_name: str) -> "Registry":
        """The same store, for one registered model."""
        other = Registry(self.tracking_uri, self.artifact_root, model_name, self.champion_alias, self.cache_root)
        other._client = self._client
        return other

    @property
    def model_name(self) -> str:
        if self._model_name is None:
            raise RegistryError("no registered model chosen: pass --spec")
        return self._model_name

    @property
    def spec_name(self) -> str:
        return spec_name_of(self.model_name)

    @property
    def cache_dir(self) -> Path:
        return self.cache_root / self.model_name

    def model_names(self) -> list[str]:
        """Every registered leadscore model (`leadscore-<spec name>`) in the store, sorted."""
        found = self.client.search_registered_models(filter_string=f"name LIKE '{MODEL_PREFIX}%'")
        names = []
        page = found
        while True:
            names += [m.name for m in page]
            if not getattr(page, "token", None):
                break
            page = self.client.search_registered_models(filter_string=f"name LIKE '{MODEL_PREFIX}%'",
                                                        page_token=page.token)
        return sorted(n for n in names if n.startswith(MODEL_PREFIX))

    # ------------------------------------------------------------------------------ plumbing
    @property
    def mlflow(self):
        quiet_mlflow_environment()
        import mlflow

        if self.tracking_uri.startswith("sqlite:///"):
            Path(self.tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        mlflow.set_tracking_uri(self.tracking_uri)
        return mlflow

    @property
    def client(self):
        if self._client is None:
            mlflow = self.mlflow
            self._client = mlflow.MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def experiment_id(self, name: str) -> str:
        mlflow = self.mlflow
        found = mlflow.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        return mlflow.create_experiment(name, artifact_location=str(self.artifact_root / name))

    def _model_exists(self) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(self.model_name)
            return True
        except MlflowException:
            return False

    # ------------------------------------------------------------------------------ logging
    def log_model_version(self, bundle_dir: Path, model, run_id: str) -> int:
        """Log the bundle as a pyfunc in the active run and register it; returns the version.

        `model` says what is logged: its `code` (a models-from-code file), `signature`,
        `input_example`, `code_paths` (the project packages it runs) and `requirements` (pinned
        pip requirements): serving.model_signature.pyfunc_model, the model that takes what POST
        /score takes; `leadscore` wires the two, training imports no serving code."""
        mlflow = self.mlflow
        with contextlib.redirect_stderr(io.StringIO()):
            info = mlflow.pyfunc.log_model(
                name="model", python_model=str(model.code), artifacts={"bundle": str(bundle_dir)},
                signature=model.signature, input_example=model.input_example,
                registered_model_name=self.model_name, code_paths=[str(p) for p in model.code_paths],
                pip_requirements=list(model.requirements))
        return int(info.registered_model_version)

    # ------------------------------------------------------------------------------ reading
    def versions(self) -> list[VersionInfo]:
        if not self._model_exists():
            return []
        aliases: dict[int, list[str]] = {}
        for alias, version in self.client.get_registered_model(self.model_name).aliases.items():
            aliases.setdefault(int(version), []).append(alias)
        out = []
        for mv in self.client.search_model_versions(f"name='{self.model_name}'", order_by=["version_number DESC"]):
            metrics = self.client.get_run(mv.run_id).data.metrics if mv.run_id else {}
            from datetime import datetime, timezone

            created = datetime.fromtimestamp(mv.creation_timestamp / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M")
            out.append(VersionInfo(int(mv.version), mv.run_id or "", created, aliases.get(int(mv.version), []),
                                   dict(metrics), dict(mv.tags)))
        return out

    def version(self, version: int) -> VersionInfo:
        for info in self.versions():
            if info.version == int(version):
                return info
        known = ", ".join(str(v.version) for v in self.versions()) or "none yet"
        raise RegistryError(f"model {self.model_name!r} has no version {version} (versions: {known})")

    def champion(self) -> VersionInfo | None:
        return self._aliased(self.champion_alias)

    def challenger(self) -> VersionInfo | None:
        return self._aliased(CHALLENGER_ALIAS)

    def _aliased(self, alias: str) -> VersionInfo | None:
        if not self._model_exists():
            return None
        version = self.client.get_registered_model(self.model_name).aliases.get(alias)
        return None if version is None else self.version(int(version))

    def bundle_path(self, version: int) -> Path:
        """Local folder of a version's bundle, downloaded once into the cache."""
        self.version(version)  # a clear error for an unknown version
        target = self.cache_dir / f"v{int(version)}"
        if (target / "bundle.json").exists():
            return target
        mlflow = self.mlflow
        tmp = self.cache_dir / f".v{int(version)}.download"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{self.model_name}/{int(version)}", dst_path=str(tmp)))
        # the shallowest: a bundle with segment models holds more bundles (features.segment_models)
        found = min(local.rglob("bundle.json"), key=lambda p: len(p.parts), default=None)
        if found is None:
            raise RegistryError(f"version {version} of {self.model_name!r} holds no model bundle")
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(found.parent), target)
        shutil.rmtree(tmp, ignore_errors=True)
        return target

    def load_bundle(self, version: int) -> ModelBundle:
        return ModelBundle.load(self.bundle_path(version))

    # ------------------------------------------------------------------------------ aliases
    def _history(self) -> list[int]:
        tags = self.client.get_registered_model(self.model_name).tags
        return [int(v) for v in tags.get(HISTORY_TAG, "").split(",") if v]

    def set_champion(self, version: int, reason: str, tags: dict[str, str] | None = None) -> None:
        """Make `version` the champion (it stops being the challenger)."""
        self.version(version)
        history = [v for v in self._history() if v != int(version)] + [int(version)]
        self.client.set_registered_model_alias(self.model_name, self.champion_alias, int(version))
        self.client.set_registered_model_tag(self.model_name, HISTORY_TAG, ",".join(map(str, history)))
        aliases = self.client.get_registered_model(self.model_name).aliases
        if str(aliases.get(CHALLENGER_ALIAS)) == str(int(version)):
            self.client.delete_registered_model_alias(self.model_name, CHALLENGER_ALIAS)
        self.tag_version(version, {"promotion": reason, **(tags or {})})

    def set_challenger(self, version: int, reason: str, tags: dict[str, str] | None = None) -> None:
        """Register `version` as the challenger: the latest version not promoted."""
        self.client.set_registered_model_alias(self.model_name, CHALLENGER_ALIAS, int(version))
        self.tag_version(version, {"promotion": reason, **(tags or {})})

    def describe_version(self, version: int, description: str) -> None:
        """Set a version's description (the MLflow UI shows it on the version's page)."""
        self.client.update_model_version(self.model_name, str(int(version)), description=description)

    def tag_version(self, version: int, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_model_version_tag(self.model_name, str(int(version)), key, str(value))

    def versions_of_run(self, run_id: str) -> list[int]:
        """The versions registered from one MLflow run (none, or one: its model)."""
        if not self._model_exists():
            return []
        found = self.client.search_model_versions(f"name='{self.model_name}' and run_id='{run_id}'")
        return sorted(int(v.version) for v in found)

    def discard_run_versions(self, run_id: str, champion_before: int | None) -> list[int]:
        """Undo whatever a run that did not complete registered (`discard_version` on each of
        its versions), including one registered by MLflow before the run learnt its number (an
        interruption inside `log_model_version`). Returns the versions removed."""
        versions = self.versions_of_run(run_id)
        for version in versions:
            self.discard_version(version, champion_before)
        return versions

    def discard_version(self, version: int, champion_before: int | None) -> None:
        """Undo a registration that did not complete: delete the version and put the champion
        alias and history back as they were."""
        from mlflow.exceptions import MlflowException

        with contextlib.suppress(MlflowException):
            self.client.delete_model_version(self.model_name, str(int(version)))
        history = [v for v in self._history() if v != int(version)]
        with contextlib.suppress(MlflowException):
            self.client.set_registered_model_tag(self.model_name, HISTORY_TAG, ",".join(map(str, history)))
            if champion_before is not None:
                self.client.set_registered_model_alias(self.model_name, self.champion_alias, int(champion_before))
        shutil.rmtree(self.cache_dir / f"v{int(version)}", ignore_errors=True)
        with contextlib.suppress(MlflowException):  # a model with no version left is no model
            if not self.client.search_model_versions(f"name='{self.model_name}'"):
                self.client.delete_registered_model(self.model_name)

    def rollback(self) -> tuple[int, int]:
        """Put the previous champion back; returns (from_version, to_version)."""
        current = self.champion()
        if current is None:
            raise RegistryError("there is no champion to roll back; train one with `leadscore train`")
        history = [v for v in self._history() if v != current.version]
        if not history:
            raise RegistryError(f"version {current.version} is the only champion there has been; "
                                f"nothing to roll back to (promote another version with `leadscore promote`)")
        previous = history[-1]
        self.client.set_registered_model_alias(self.model_name, self.champion_alias, previous)
        self.client.set_registered_model_tag(self.model_name, HISTORY_TAG, ",".join(map(str, history)))
        self.client.set_model_version_tag(self.model_name, str(current.version), "rolled_back", "true")
        return current.version, previous


def export_bundle(registry: Registry, version: int | None, folder: Path) -> tuple[int, Path]:
    """Copy a version's bundle (default: the champion) to folder/v<N>, and to folder/champion
    when it is the champion; `folder` is the spec's own (models/bundles/<spec name>). Returns
    (version, path)."""
    champion = registry.champion()
    if version is None:
        if champion is None:
            raise RegistryError(f"{registry.model_name} has no champion yet: train one with `leadscore train`")
        version = champion.version
    source = registry.bundle_path(int(version))
    bundle = ModelBundle.load(source)
    bundle.card = {**bundle.card, "version": str(version), "registered_model": registry.model_name}
    target = bundle.save(Path(folder) / f"v{int(version)}")
    if champion is not None and champion.version == int(version):
        target = bundle.save(Path(folder) / "champion")
    return int(version), target


def describe_metrics(metrics: dict[str, Any], keys=("holdout_roc_auc", "holdout_pr_auc", "holdout_ece")) -> str:
    return "  ".join(f"{k.removeprefix('holdout_')}={metrics[k]:.4f}" for k in keys if k in metrics)
