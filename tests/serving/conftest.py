"""Bundles as `leadscore train` exports them: with the training profile, which keeps each
category's most common spelling in the export (the session's `bundle_dir` has no profile, like
bundles exported before it was kept)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

PROSPECT_ID = "Prospect ID"
"""The id column of the renamed spec: a name with a space, as X Education's export has."""


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
