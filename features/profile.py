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
                   numeric=numeric, activity_types=activity_types, spellings=spellings)

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


def _known_values(values: pd.Series, max_values: int) -> list[str]:
    """Distinct values, most frequent first (counted before any conversion: on a 20-million-row
    categorical column that is one pass over the codes)."""
    counts = values.value_counts(dropna=True, sort=True)
    counts = counts[counts > 0]
    return [str(v) for v in counts.index[:max_values]]
