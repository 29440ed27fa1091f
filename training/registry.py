"""The model registry: MLflow tracking and registered versions, with `champion` and
`challenger` aliases.

A champion per spec: each dataset spec trains its own registered model, `leadscore-<spec
name>`, with its own champion (the version in use) and challenger (the latest version
registered without being promoted). Nothing compares or replaces across specs.

Embedded by default (a SQLite store and artifacts under models/), any tracking server with
MLFLOW_TRACKING_URI. Every alias name and every registry call lives here, in one place.

Champion history is kept as a registered-model tag (`champion_history`, oldest first), so
`rollback` can put the previous champion back even after several promotions.

Reading the embedded store (`LocalStoreReader`): what `leadscore models`, `serve` and `score`
ask before any work (the model names, a model's aliases, its versions with their tags and
run metrics) is read straight from the SQLite file with Python's sqlite3, the same rows and
filters as MLflow's SQL store, because importing MLflow and opening its store cost most of
those commands' start-up (benchmarks/startup.py; tests/training/test_registry_reader.py
shows both answer the same). A tracking server, another database, a separate registry URI
or MLflow workspaces go through MLflow, as does every write and every artifact download.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.errors import LeadscoreError

if TYPE_CHECKING:  # the bundle (pandas, LightGBM, numba) is imported only by what loads one
    from features.bundle import ModelBundle

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


_MADE: set[str] = set()
"""The embedded stores this process has created or found made, under the lock."""


def _make_embedded_store(mlflow, tracking_uri: str) -> None:
    """Create (or bring up to MLflow's schema) the embedded SQLite store, one process at a time.

    MLflow creates the tables of a new store and migrates an old one on first use, in each
    process that opens it, with no lock of its own. Two commands started at once on a models
    folder without a store (two `leadscore train` in CI jobs) ran the same migrations over each
    other: both failed with a traceback and left the store half-made, failing every later
    command ("table _alembic_tmp_tags already exists"). So the first use in a process takes an
    exclusive lock on `<store>.lock` beside the file and opens both of MLflow's stores (runs and
    the registry) while holding it; whoever comes second waits, then finds the tables made."""
    import fcntl

    db = Path(tracking_uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        client = mlflow.MlflowClient(tracking_uri=tracking_uri)
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)
    _MADE.add(tracking_uri)


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
        reader = self.reader
        if reader is not None:
            names = reader.model_names()
        else:
            names = []
            page = self.client.search_registered_models(filter_string=f"name LIKE '{MODEL_PREFIX}%'")
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

        mlflow.set_tracking_uri(self.tracking_uri)
        if self.tracking_uri.startswith("sqlite:///") and self.tracking_uri not in _MADE:
            _make_embedded_store(mlflow, self.tracking_uri)
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
        from mlflow.exceptions import MlflowException

        try:
            return mlflow.create_experiment(name, artifact_location=str(self.artifact_root / name))
        except MlflowException:
            found = mlflow.get_experiment_by_name(name)  # another command made it meanwhile
            if found is None:
                raise
            return found.experiment_id

    @property
    def reader(self) -> LocalStoreReader | None:
        """The direct reader of the embedded store, or None when MLflow must answer (asked
        once per Registry: a store MLflow creates later in the run is read by MLflow)."""
        if not hasattr(self, "_reader"):
            self._reader = LocalStoreReader.for_uri(self.tracking_uri)
        return self._reader

    def _aliases(self) -> dict[str, int] | None:
        """The model's aliases (alias -> version); None when the model is not registered."""
        reader = self.reader
        if reader is not None:
            return reader.aliases(self.model_name)
        from mlflow.exceptions import MlflowException

        try:
            model = self.client.get_registered_model(self.model_name)
        except MlflowException:
            return None
        return {alias: int(version) for alias, version in model.aliases.items()}

    def _model_exists(self) -> bool:
        return self._aliases() is not None

    def _version_rows(self) -> list[tuple[int, str, int, dict[str, str], dict[str, float]]]:
        """(version, run id, creation time in ms, version tags, run metrics) of every version,
        newest first."""
        reader = self.reader
        if reader is not None:
            return reader.versions(self.model_name)
        rows = []
        for mv in self.client.search_model_versions(f"name='{self.model_name}'", order_by=["version_number DESC"]):
            metrics = self.client.get_run(mv.run_id).data.metrics if mv.run_id else {}
            rows.append((int(mv.version), mv.run_id or "", int(mv.creation_timestamp), dict(mv.tags), dict(metrics)))
        return rows

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
        from datetime import datetime, timezone

        by_alias = self._aliases()
        if by_alias is None:
            return []
        aliases: dict[int, list[str]] = {}
        for alias, version in by_alias.items():
            aliases.setdefault(int(version), []).append(alias)
        out = []
        for version, run_id, created_ms, tags, metrics in self._version_rows():
            created = datetime.fromtimestamp(created_ms / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M")
            out.append(VersionInfo(version, run_id, created, aliases.get(version, []), metrics, tags))
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
        version = (self._aliases() or {}).get(alias)
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
        from features.bundle import ModelBundle

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


PROMPT_TAG = "mlflow.prompt.is_prompt"
"""MLflow keeps prompts as registered models with this tag "true"; its searches leave them out."""
DEFAULT_WORKSPACE = "default"
"""The workspace every row of a single-tenant MLflow store belongs to (MLflow's
DEFAULT_WORKSPACE_NAME)."""


class LocalStoreReader:
    """Registered models, aliases, versions, version tags and run metrics read from MLflow's
    embedded SQLite store with sqlite3 (read-only), as MLflow's SQL store answers them: only
    the default workspace, no deleted version (stage "Deleted_Internal"), no prompt, a run's
    metrics as its latest values (NaN where MLflow stored one).

    Why not MLflow: `leadscore models` on a two-version store took 4.16 s of CPU through
    MLflow (importing it and opening its store: SQLAlchemy, alembic's schema check) and takes
    0.40 s with this reader (`benchmarks/startup.py`, README.md). The rows read here are the ones MLflow's
    own reads give (tests/training/test_registry_reader.py compares the two on a store MLflow
    wrote); a store without these tables and columns (another MLflow schema) is left to MLflow
    (`for_uri` answers None)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def for_uri(cls, uri: str) -> LocalStoreReader | None:
        """A reader when `uri` is an existing SQLite file that MLflow would read as one
        single-tenant store with its registry in it; else None (MLflow answers)."""
        if not uri.startswith("sqlite:///"):
            return None
        if os.environ.get("MLFLOW_REGISTRY_URI") or os.environ.get("MLFLOW_WORKSPACE") \
                or os.environ.get("MLFLOW_ENABLE_WORKSPACES", "").strip().lower() in ("true", "1"):
            return None
        path = Path(uri.removeprefix("sqlite:///"))
        if not path.is_file():
            return None
        reader = cls(path)
        return reader if reader._readable() else None

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import sqlite3

        connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    def _readable(self) -> bool:
        """Whether the store has the tables and columns read here."""
        import sqlite3

        try:
            self._query("SELECT name, workspace FROM registered_models LIMIT 0")
            self._query("SELECT alias, version, name, workspace FROM registered_model_aliases LIMIT 0")
            self._query("SELECT key, value, name, workspace FROM registered_model_tags LIMIT 0")
            self._query("SELECT name, version, run_id, creation_time, current_stage, workspace FROM model_versions "
                        "LIMIT 0")
            self._query("SELECT key, value, name, version, workspace FROM model_version_tags LIMIT 0")
            self._query("SELECT key, value, is_nan, run_uuid FROM latest_metrics LIMIT 0")
        except sqlite3.Error:
            return False
        return True

    def model_names(self) -> list[str]:
        """Every registered model's name (prompts left out), sorted."""
        rows = self._query(
            "SELECT name FROM registered_models WHERE workspace = ? AND name NOT IN "
            "(SELECT name FROM registered_model_tags WHERE key = ? AND value = 'true' AND workspace = ?)",
            (DEFAULT_WORKSPACE, PROMPT_TAG, DEFAULT_WORKSPACE))
        return sorted(name for (name,) in rows)

    def aliases(self, model_name: str) -> dict[str, int] | None:
        """alias -> version of a registered model; None when there is no such model."""
        if not self._query("SELECT 1 FROM registered_models WHERE name = ? AND workspace = ?",
                           (model_name, DEFAULT_WORKSPACE)):
            return None
        rows = self._query("SELECT alias, version FROM registered_model_aliases WHERE name = ? AND workspace = ?",
                           (model_name, DEFAULT_WORKSPACE))
        return {alias: int(version) for alias, version in rows}

    def versions(self, model_name: str) -> list[tuple[int, str, int, dict[str, str], dict[str, float]]]:
        """(version, run id, creation time in ms, version tags, run metrics), newest first."""
        prompt = self._query("SELECT 1 FROM model_version_tags WHERE name = ? AND key = ? AND value = 'true' "
                             "AND workspace = ?", (model_name, PROMPT_TAG, DEFAULT_WORKSPACE))
        if prompt:
            return []
        versions = self._query(
            "SELECT version, run_id, creation_time FROM model_versions WHERE name = ? AND workspace = ? "
            "AND current_stage != 'Deleted_Internal' ORDER BY version DESC", (model_name, DEFAULT_WORKSPACE))
        tags: dict[int, dict[str, str]] = {}
        for version, key, value in self._query(
                "SELECT version, key, value FROM model_version_tags WHERE name = ? AND workspace = ?",
                (model_name, DEFAULT_WORKSPACE)):
            tags.setdefault(int(version), {})[key] = value
        runs = sorted({run_id for _, run_id, _ in versions if run_id})
        metrics: dict[str, dict[str, float]] = {}
        if runs:
            marks = ",".join("?" * len(runs))
            for run_id, key, value, is_nan in self._query(
                    f"SELECT run_uuid, key, value, is_nan FROM latest_metrics WHERE run_uuid IN ({marks})", tuple(runs)):
                metrics.setdefault(run_id, {})[key] = float("nan") if is_nan else float(value)
        return [(int(version), run_id or "", int(created), tags.get(int(version), {}), metrics.get(run_id, {}))
                for version, run_id, created in versions]


def export_bundle(registry: Registry, version: int | None, folder: Path) -> tuple[int, Path]:
    """Copy a version's bundle (default: the champion) to folder/v<N>, and to folder/champion
    when it is the champion; `folder` is the spec's own (models/bundles/<spec name>). Returns
    (version, path)."""
    champion = registry.champion()
    if version is None:
        if champion is None:
            raise RegistryError(f"{registry.model_name} has no champion yet: train one with `leadscore train`")
        version = champion.version
    from features.bundle import ModelBundle

    source = registry.bundle_path(int(version))
    bundle = ModelBundle.load(source)
    bundle.card = {**bundle.card, "version": str(version), "registered_model": registry.model_name}
    target = bundle.save(Path(folder) / f"v{int(version)}")
    if champion is not None and champion.version == int(version):
        target = bundle.save(Path(folder) / "champion")
    return int(version), target


def describe_metrics(metrics: dict[str, Any], keys=("holdout_roc_auc", "holdout_pr_auc", "holdout_ece")) -> str:
    return "  ".join(f"{k.removeprefix('holdout_')}={metrics[k]:.4f}" for k in keys if k in metrics)
