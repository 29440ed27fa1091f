"""What the training data looked like, so later data can be checked against it.

A `DataProfile` records, per categorical column, the values seen in training and, per numeric
column, the observed range. Validation uses it to ask whether new data still looks like what
the model learned from: categorical values mostly known, numbers within the training range.
It travels with the model bundle as `profile.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from features.errors import DataError
from features.load import ACTIVITY_TYPE, CRMTables
from features.spec import DatasetSpec

DRIFT_SAMPLE = 5_000
"""Training leads (and activities) whose values the profile keeps as the drift reference. The
PSI of two samples of one distribution is about (bins - 1) * (1/n_reference + 1/n_current) by
chance (monitoring.drift): 5,000 keeps the reference's share of that under 0.002."""
ACTIVITY_TYPE_KEY = "(activity type)"
"""The drift reference's key for the activity types (not a lead column name)."""
MAX_KNOWN_VALUES = 1000
"""At most this many known values per categorical column: the most frequent ones. A column
with more distinct values than that is closer to free text than to a category."""


class NumericRange(BaseModel):
    """The range of a numeric column in training: extremes and robust quantiles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float
    max: float
    q01: float
    q99: float
    missing_share: float = Field(ge=0, le=1)


class DataProfile(BaseModel):
    """The training data's profile: known categorical values and numeric ranges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec_name: str = Field(description="Name of the dataset spec the profile was built from.")
    rows: int = Field(ge=0, description="Leads in the training data.")
    categorical: dict[str, list[str]] = Field(
        default_factory=dict, description="Per categorical column, the values seen in training "
        "(cleaned spelling), most frequent first.")
    numeric: dict[str, NumericRange] = Field(default_factory=dict)
    activity_types: list[str] | None = Field(
        None, description="Activity types seen in training, most frequent first; None when "
        "the dataset has no event log.")
    spellings: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Per categorical column and known (cleaned) value, its "
        "most common raw spelling in training: reasons show it. Profiles written before it was "
        "kept have none; reasons then show the cleaned value.")

    drift_reference: dict[str, list[str | float | None]] = Field(
        default_factory=dict, description="Per lead column under categorical, numeric and yes_no "
        f"(yes/no as 1.0/0.0), the values of up to {DRIFT_SAMPLE:,} training leads drawn at random, "
        f"and under {ACTIVITY_TYPE_KEY!r} the types of up to {DRIFT_SAMPLE:,} training activities: what "
        "the outcome report's drift compares recent scored leads with. Missing values are null. "
        "Profiles written before it was kept have none (no drift figures).")

    @classmethod
    def from_tables(cls, spec: DatasetSpec, canonical: CRMTables, *,
                    max_values: int = MAX_KNOWN_VALUES) -> "DataProfile":
        """Profile the canonical (cleaned and coerced) tables of the training data."""
        leads = canonical.leads
        categorical = {column: _known_values(leads[column], max_values)
                       for column in spec.leads.categorical if column in leads.columns}
        numeric = {}
        for column in spec.leads.numeric:
            if column not in leads.columns:
                continue
            values = leads[column].to_numpy(dtype="float64")  # canonical: read by features.values
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                continue
            q01, q99 = np.quantile(finite, [0.01, 0.99])
            numeric[column] = NumericRange(
                min=float(finite.min()), max=float(finite.max()), q01=float(q01), q99=float(q99),
                missing_share=float(1 - finite.size / max(len(values), 1)))
        activity_types = None
        if canonical.activities is not None and ACTIVITY_TYPE in canonical.activities.columns:
            activity_types = _known_values(canonical.activities[ACTIVITY_TYPE], max_values)
        spellings = {column: {value: spelled[value] for value in categorical[column] if value in spelled}
                     for column, spelled in canonical.spellings.items() if column in categorical}
        return cls(spec_name=spec.name, rows=len(leads), categorical=categorical,
                   numeric=numeric, activity_types=activity_types, spellings=spellings,
                   drift_reference=drift_values(spec, canonical, DRIFT_SAMPLE))

    # --------------------------------------------------------------------------- files
    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "DataProfile":
        """Read a profile; raise DataError naming the file and the fix."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: no such training profile; train a model first or pass "
                            "--profile with the profile.json of a model bundle")
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{path}: not a readable training profile ({exc}); pass the "
                            "profile.json of a model bundle") from None
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top level)'}: {e['msg']}"
                                 for e in exc.errors()[:5])
            raise DataError(f"{path}: not a valid training profile ({problems}); pass the "
                            "profile.json of a model bundle, or retrain to write a new one") from None


def drift_values(spec: DatasetSpec, canonical: CRMTables, sample: int | None = None,
                 seed: int = 0) -> dict[str, list[str | float | None]]:
    """The values drift compares, per lead column (categorical as text, numeric and yes/no as
    floats, missing as None) and ACTIVITY_TYPE_KEY, of canonical tables: all of them, or
    `sample` leads and `sample` activities drawn at random (seeded). One reading for the
    training reference and for recent scored leads (monitoring.drift)."""
    rng = np.random.default_rng(seed)
    leads = canonical.leads
    if sample is not None and len(leads) > sample:
        leads = leads.iloc[np.sort(rng.choice(len(leads), sample, replace=False))]
    out: dict[str, list[str | float | None]] = {}
    for column in spec.leads.categorical:
        if column in leads.columns:
            out[column] = [None if pd.isna(v) else str(v) for v in leads[column].tolist()]
    for column in [*spec.leads.numeric, *spec.leads.yes_no]:
        if column in leads.columns:
            values = pd.to_numeric(leads[column].astype("Float64"), errors="coerce").astype("float64")
            out[column] = [None if np.isnan(v) else float(v) for v in values.tolist()]
    acts = canonical.activities
    if acts is not None and ACTIVITY_TYPE in acts.columns and len(acts):
        types = acts[ACTIVITY_TYPE]
        if sample is not None and len(types) > sample:
            types = types.iloc[np.sort(rng.choice(len(types), sample, replace=False))]
        out[ACTIVITY_TYPE_KEY] = [None if pd.isna(v) else str(v) for v in types.tolist()]
    return out


def _known_values(values: pd.Series, max_values: int) -> list[str]:
    """Distinct values, most frequent first (counted before any conversion: on a 20-million-row
    categorical column that is one pass over the codes)."""
    counts = values.value_counts(dropna=True, sort=True)
    counts = counts[counts > 0]
    return [str(v) for v in counts.index[:max_values]]
