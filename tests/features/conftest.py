"""Small raw CRM tables with the dirt of real exports, built per test from a seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.spec import DatasetSpec

TYPES = ["email_open", "web_visit", "pricing_view", "demo_request", "unsubscribe"]
INDUSTRIES = ["Software", "software ", "HEALTHCARE", "Helthcare", "Retail", "Select", "", None, "Mining"]


def make_spec(**overrides) -> DatasetSpec:
    data = {
        "name": "test-crm",
        "leads": {"file": "leads", "id": "lead_id", "created_at": "created_at",
                  "categorical": ["industry", "source"], "numeric": ["employees"],
                  "yes_no": ["opt_in"], "after_contact": ["rating"]},
        "activities": {"file": "activities", "lead_id": "lead_id", "time": "occurred_at",
                       "type": "activity_type", "high_intent": ["pricing_view", "demo_request"],
                       "negative": ["unsubscribe"]},
        "outcomes": {"file": "outcomes", "lead_id": "lead_id", "outcome": "outcome", "closed_at": "closed_at"},
        "category_aliases": {"industry": {"helthcare": "healthcare"}},
    }
    data.update(overrides)
    return DatasetSpec.model_validate(data)


def raw_crm(n: int, seed: int, n_activities: int | None = None) -> dict[str, pd.DataFrame]:
    """Raw tables as an export gives them (text categories with dirt, ISO timestamps)."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2025-01-01T00:00:00")
    created = start + rng.integers(0, 300 * 86400, n).astype("timedelta64[s]")
    leads = pd.DataFrame({
        "lead_id": [f"L{i:05d}" for i in range(n)],
        "created_at": pd.to_datetime(created).strftime("%Y-%m-%d %H:%M:%S"),
        "industry": rng.choice(np.array(INDUSTRIES, dtype=object), n),
        "source": rng.choice(np.array(["Web", "referral", "Partner", "N/A", "Event"], dtype=object), n),
        "employees": rng.choice(np.array(["12", "250", " 40 ", "", "Select", "1e3", "7.5"], dtype=object), n),
        "opt_in": rng.choice(np.array(["Yes", "no", "YES", "", "maybe"], dtype=object), n),
        "rating": rng.choice(np.array(["hot", "cold", ""], dtype=object), n),
    })
    m = n * 8 if n_activities is None else n_activities
    lead_idx = rng.integers(0, n, m)
    offset = rng.integers(-5 * 86400, 120 * 86400, m).astype("timedelta64[s]")
    times = created[lead_idx] + offset
    stamps = pd.to_datetime(times).strftime("%Y-%m-%dT%H:%M:%S").to_numpy(dtype=object)
    zone = rng.integers(0, 3, m)  # naive UTC, "Z", or a +02:00 offset: all must read the same way
    stamps[zone == 1] = stamps[zone == 1] + "Z"
    stamps[zone == 2] = stamps[zone == 2] + "+02:00"
    activities = pd.DataFrame({
        "lead_id": leads["lead_id"].to_numpy()[lead_idx],
        "occurred_at": stamps,
        "activity_type": rng.choice(np.array(TYPES + ["Pricing_View", "chat"], dtype=object), m),
    })
    closed = rng.random(n) < 0.7
    outcomes = pd.DataFrame({
        "lead_id": leads["lead_id"][closed].to_numpy(),
        "outcome": rng.choice(np.array(["won", "lost", "Lost"], dtype=object), int(closed.sum())),
        "closed_at": pd.to_datetime(created[closed] + rng.integers(1, 90 * 86400, int(closed.sum())).astype("timedelta64[s]")).strftime("%Y-%m-%d %H:%M:%S"),
    })
    return {"leads": leads, "activities": activities, "outcomes": outcomes}


@pytest.fixture
def spec() -> DatasetSpec:
    return make_spec()


def write_csv(folder, tables: dict[str, pd.DataFrame]) -> None:
    for name, frame in tables.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
