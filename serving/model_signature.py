"""What the registered MLflow model takes and answers: the same leads as POST /score.

One row per lead, in the raw shape of the dataset spec (the spec's own column names: the id,
the created time, the profile columns and, optionally, the after-contact ones), plus
`activities`, a list of {<time column>, <type column>[, <value column>]} objects as /score
takes them, and `as_of`, the ISO 8601 moment the lead is scored as of (default: now, UTC; also
a `params` entry for all rows). Numbers are typed as numbers; times, categories and yes/no
answers as text (a missing yes/no must stay missing, not become "no"). The answer is /score's:
id, probability, score, stage, reasons for and against, model version.

The model itself is `serving/mlflow_model.py`; this module describes it (MLflow types) and
`pyfunc_model` hands both to the registry (training.registry), which imports neither. The
project's own code travels with the model (`code_paths`: the `features` and `serving`
packages, MLflow puts them on `sys.path` at load) and its requirements are the distributions
that code imports, pinned to the versions it was trained with, so `mlflow models serve` can
rebuild the environment from the package registry with its default environment manager
(`MODEL_DISTRIBUTIONS`; tests/training/test_three_doors.py checks the list against every
import in the code files a loaded model runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from serving.schema import answer_id_key  # the id's key in every answer of /score

ACTIVITIES = "activities"  # serving.scorer.ACTIVITIES_FIELD: the field /score reads them from
AS_OF = "as_of"
REASONS = "reasons"
GRADE_COLUMNS = {"grade": "string", "fit": "double", "fit_grade": "string", "intent": "double", "intent_grade": "long"}
"""The sub-scores in the MLflow model's output (features.sub_scores), for models that have them."""

CODE_PACKAGES = ("features", "serving")
"""The project's packages the registered model runs (serving.mlflow_model imports serving and,
through it, features; never training, monitoring or leadscore)."""
MODEL_DISTRIBUTIONS = ("mlflow", "pandas", "numpy", "pyarrow", "pydantic", "PyYAML", "lightgbm", "scipy",
                       "scikit-learn", "numba", "Babel", "charset-normalizer")
"""The distributions that code may import when a model is loaded and scores (besides the
standard library), pinned by `model_requirements` to the installed versions. Babel is imported
only by some answers (a reason naming the month a lead was created): a model served from its
requirements alone failed on those before it was listed. charset-normalizer (features.read)
came only as a dependency of MLflow's."""


def model_requirements() -> list[str]:
    """`MODEL_DISTRIBUTIONS` pinned to the versions installed here (["pandas==3.1.1", ...]), the
    registered model's pip requirements."""
    return [f"{name}=={metadata.version(name)}" for name in MODEL_DISTRIBUTIONS]


def code_paths() -> list[Path]:
    """The folders of `CODE_PACKAGES`, logged with the model."""
    root = Path(__file__).resolve().parents[1]
    return [root / package for package in CODE_PACKAGES]


def lead_columns(spec) -> list[tuple[str, str, bool]]:
    """(column, MLflow type, required) of each lead field /score takes, in the spec's order."""
    lead = spec.leads
    numeric = set(lead.numeric)
    columns = [(lead.id, "string", True)]
    if lead.created_at:
        columns.append((lead.created_at, "string", False))
    for column in [*spec.profile_columns, *lead.after_contact]:
        if column not in {c for c, _, _ in columns}:
            columns.append((column, "double" if column in numeric else "string", False))
    return columns


@dataclass(frozen=True)
class PyfuncModel:
    """What `training.registry.Registry.log_model_version` logs: the model's code file (logged
    as models-from-code), its signature, its input example, the project code it runs and its
    pinned pip requirements."""
    code: Path
    signature: Any
    input_example: pd.DataFrame
    code_paths: list[Path] = field(default_factory=code_paths)
    requirements: list[str] = field(default_factory=model_requirements)


def pyfunc_model(bundle_dir: Path, leads: pd.DataFrame) -> PyfuncModel:
    """The registered model of the bundle in `bundle_dir`, its example made of `leads` (a few
    leads: lead columns, optionally `activities`; see model_input_example)."""
    import yaml

    from features.spec import DatasetSpec

    spec = DatasetSpec.model_validate(yaml.safe_load((Path(bundle_dir) / "spec.yaml").read_text(encoding="utf-8")))
    return PyfuncModel(Path(__file__).with_name("mlflow_model.py"), model_signature(spec),
                       model_input_example(spec, leads))


def model_signature(spec):
    """The MLflow signature of the registered model of `spec` (see the module docstring)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, Object, ParamSchema, ParamSpec, Property, Schema

    inputs = [ColSpec(kind, name, required=required) for name, kind, required in lead_columns(spec)]
    act = spec.activities
    if act is not None:
        properties = [Property(act.time, "string"), Property(act.type, "string")]
        if act.value:
            properties.append(Property(act.value, "double", required=False))
        inputs.append(ColSpec(Array(Object(properties)), ACTIVITIES, required=False))
    inputs.append(ColSpec("string", AS_OF, required=False))
    outputs = [ColSpec("string", answer_id_key(spec.leads.id)), ColSpec("double", "probability"), ColSpec("long", "score"),
               ColSpec("string", "stage"), ColSpec(Array("string"), "reasons_for"),
               ColSpec(Array("string"), "reasons_against"), ColSpec("string", "model_version"),
               *(ColSpec(kind, name, required=False) for name, kind in GRADE_COLUMNS.items())]
    if spec.segment_by:  # which segment's model scored the lead, missing for the global model (serving.segments)
        outputs.append(ColSpec("string", "segment", required=False))
    params = ParamSchema([ParamSpec(AS_OF, "string", None), ParamSpec(REASONS, "long", 5)])
    return ModelSignature(Schema(inputs), Schema(outputs), params)


def model_input_example(spec, leads: pd.DataFrame, activities: dict[str, list[dict]] | None = None
                        ) -> pd.DataFrame:
    """An input example of the registered model from a few leads (any of the spec's lead
    columns, as read or as logged before: missing ones are left empty, numbers read from text)
    and, by lead id, their activities in the spec's activity columns."""
    columns = lead_columns(spec)
    id_column = spec.leads.id
    source = leads.rename(columns={"lead_id": id_column}) if id_column not in leads and "lead_id" in leads else leads
    rows = []
    for i, record in enumerate(source.to_dict("records")):
        row: dict[str, Any] = {}
        for name, kind, _ in columns:
            value = _plain(record.get(name))
            if kind == "double" and value is not None:
                value = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
                value = None if pd.isna(value) else float(value)
            elif value is not None:
                value = str(value)
            row[name] = value
        if row[id_column] is None:
            row[id_column] = f"example-{i + 1}"
        if spec.activities is not None:
            given = record.get(ACTIVITIES)
            acts = given if isinstance(given, list) else (activities or {}).get(row[id_column], [])
            row[ACTIVITIES] = [{k: _plain(v) for k, v in a.items() if _plain(v) is not None} for a in acts]
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[c for c, _, _ in columns]
                         + ([ACTIVITIES] if spec.activities is not None else []))
    created = spec.leads.created_at
    if created and len(frame):
        latest = pd.to_datetime(frame[created], utc=True, format="ISO8601", errors="coerce").max()
        if not pd.isna(latest):
            frame[AS_OF] = (latest + pd.Timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return frame


def _plain(value: Any) -> Any:
    """A cell as JSON would carry it: None for missing, ISO text for a time."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value
