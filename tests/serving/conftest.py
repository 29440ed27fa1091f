"""Bundles as `leadscore train` exports them: with the training profile, which keeps each
category's most common spelling in the export (the session's `bundle_dir` has no profile, like
bundles exported before it was kept)."""

from __future__ import annotations

import copy
import warnings
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
import yaml

PROSPECT_ID = "Prospect ID"
LOCAL_BASE = "http://127.0.0.1"
"""The test clients' address: without API keys the service takes only requests addressed to this
machine (serving.auth, DNS rebinding), and Starlette's default Host is `testserver`."""
"""The id column of the renamed spec: a name with a space, as X Education's export has."""


def as_api_leads(leads: pd.DataFrame, activities: pd.DataFrame) -> list[dict]:
    """Canonical leads (one row each) and activities as POST /score takes them: JSON values,
    each lead with its own activities."""
    records = leads.assign(created_at=leads["created_at"].dt.strftime("%Y-%m-%dT%H:%M:%S")) \
        .astype(object).where(leads.notna(), None).to_dict("records")
    acts = activities[activities["lead_id"].astype(str).isin(set(leads["lead_id"]))]
    by = {k: [{"occurred_at": t, "activity_type": a} for t, a in zip(g["occurred_at"], g["activity_type"])]
          for k, g in acts.groupby(acts["lead_id"].astype(str), observed=True)}
    return [dict(r, activities=by.get(r["lead_id"], [])) for r in records]


def _save(result, tmp_path_factory, name: str, spec_yaml: str | None = None, profile: dict | None = None) -> Path:
    bundle = copy.copy(result.bundle)
    if profile is not None:
        bundle.profile = profile
    if spec_yaml is not None:
        bundle.spec_yaml = spec_yaml
    return bundle.save(tmp_path_factory.mktemp("bundles") / name)


@pytest.fixture(scope="session")
def training_profile(trained) -> dict:
    from features.profile import DataProfile

    spec, tables, _, _ = trained
    return DataProfile.from_tables(spec, tables).model_dump(mode="json")


@pytest.fixture(scope="session")
def profiled_bundle_dir(trained, training_profile, tmp_path_factory) -> Path:
    """The session's model with its training profile (category spellings)."""
    return _save(trained[3], tmp_path_factory, "profiled", profile=training_profile)


@pytest.fixture(scope="session")
def renamed_spec_yaml(trained) -> str:
    """The demo spec with the lead id in a column named "Prospect ID" and display names for a
    column and an activity type."""
    spec = yaml.safe_load(trained[3].bundle.spec_yaml)
    spec["leads"]["id"] = PROSPECT_ID
    spec["display_names"] = {"employee_count": "staff", "webinar": "attended a webinar"}
    return yaml.safe_dump(spec, sort_keys=False)


@pytest.fixture(scope="session")
def renamed_bundle_dir(trained, training_profile, renamed_spec_yaml, tmp_path_factory) -> Path:
    """The session's model, its spec keying leads by "Prospect ID" (the transform never sees
    the id column, so the same model scores the same)."""
    return _save(trained[3], tmp_path_factory, "renamed", spec_yaml=renamed_spec_yaml, profile=training_profile)


def _plain(value):
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value.isoformat() if isinstance(value, pd.Timestamp) else value


def api_leads(crm_dir: Path, as_of: str, n: int, *, last: int | None = 200, values: bool = False) -> list[dict]:
    """The last `n` demo leads created before `as_of` (ISO, Z), as the API takes them, with
    their activities (the `last` of each, None: all; with their values when `values`;
    after-contact columns left out)."""
    table = pd.read_parquet(crm_dir / "leads.parquet").drop_duplicates("lead_id")
    table = table[table["created_at"] < pd.Timestamp(as_of.removesuffix("Z"))].tail(n)
    acts = pd.read_parquet(crm_dir / "activities.parquet")
    acts = acts[acts["lead_id"].isin(set(table["lead_id"]))]
    by_lead: dict[str, list[dict]] = {}
    for row in acts.itertuples(index=False):
        activity = {"occurred_at": row.occurred_at.isoformat(), "activity_type": str(row.activity_type)}
        if values and _plain(row.value) is not None:
            activity["value"] = float(row.value)
        by_lead.setdefault(str(row.lead_id), []).append(activity)
    out = []
    for record in table.drop(columns=["sales_rating"]).to_dict("records"):
        lead = {k: _plain(v) for k, v in record.items()}
        acts_of = by_lead.get(lead["lead_id"], [])
        lead["activities"] = acts_of if last is None else acts_of[-last:]
        out.append(lead)
    return out


def _release_request_metrics() -> None:
    """BentoML registers its request metrics (`bentoml_service_*`) in the process's Prometheus
    registry each time a service app starts, and the registry refuses a second copy: release
    them so that the next service started in this process (another test's, test_service.py's)
    can register its own."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    registry = BentoMLContainer.metrics_client.get().registry
    names = getattr(registry, "_collector_to_names", {})
    for collector, metric_names in list(names.items()):
        if any(name.startswith("bentoml_service_") for name in metric_names):
            registry.unregister(collector)


@contextmanager
def running_service(bundle_dir, db_url: str, refresh_seconds: float = 0.2):
    with warnings.catch_warnings():  # starlette: "Using httpx with TestClient is deprecated"
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEADSCORE_BUNDLE", str(bundle_dir))
        mp.setenv("LEADSCORE_DATABASE_URL", db_url)
        mp.setenv("LEADSCORE_LOG_FLUSH_SECONDS", "0.05")
        mp.setenv("LEADSCORE_REPORT_REFRESH_SECONDS", str(refresh_seconds))
        mp.setenv("LEADSCORE_GC", "default")  # never freeze the test process's heap
        from serving.service import LeadScoringService

        _release_request_metrics()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with TestClient(LeadScoringService.to_asgi(), base_url=LOCAL_BASE, raise_server_exceptions=False) as client:
                    yield client
        finally:
            _release_request_metrics()


@pytest.fixture(scope="session")
def postgres():
    """A throw-away PostgreSQL server for the session (tests/serving/postgres.py); skipped, with
    what is missing and how to install it, where PostgreSQL is not installed; a failure under
    CI=true, where `make test` installs it."""
    import os

    from tests.serving.postgres import PostgresServer, missing

    lacking = missing()
    if lacking:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {lacking}", pytrace=False)
        pytest.skip(lacking)
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


STORE_DATABASES = ["sqlite", "postgresql"]
"""The kinds of database the store runs on, each test of the store run on each."""


def new_database_url(request, kind: str, folder: Path) -> str:
    """The URL of a new, empty database of `kind`: a SQLite file to be (folder/data/leadscore.db)
    or a database of the session's PostgreSQL server (the `postgres` fixture)."""
    if kind == "sqlite":
        return f"sqlite:///{folder / 'data' / 'leadscore.db'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture(params=STORE_DATABASES)
def store_url(request, tmp_path) -> str:
    """A new, empty database of each kind the store runs on (new_database_url)."""
    return new_database_url(request, request.param, tmp_path)
