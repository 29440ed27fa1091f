"""The dataset spec: how a company's own CRM export maps onto the roles leadscore understands.

A spec is a YAML file validated strictly: unknown keys are refused and every error names the
file, the key and the fix. Paths inside a spec are relative to the spec file's folder.
"""

from __future__ import annotations

from pathlib import Path
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from features.errors import SpecError

DEFAULT_MISSING_VALUES = ["", "Select", "N/A", "n/a", "NA", "null", "None", "-"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LeadsTable(_Strict):
    """The leads table: one row per lead."""

    file: str = Field(description="File of the leads table, relative to data_dir. "
                      "Without an extension, .parquet then .csv are tried.")
    id: str = Field(description="Column holding the lead id.")
    created_at: str | None = Field(None, description="Column holding when the lead was created.")
    order_by: str | None = Field(
        None, description="Column that orders leads in time when there is no created_at "
        "(a sequential lead number, say); used to hold out the most recent leads.")
    categorical: list[str] = Field(default_factory=list)
    numeric: list[str] = Field(default_factory=list)
    yes_no: list[str] = Field(default_factory=list)
    yes_values: list[str] = Field(default_factory=lambda: ["yes", "y", "true", "1"])
    no_values: list[str] = Field(default_factory=lambda: ["no", "n", "false", "0"])
    label: str | None = Field(
        None, description="Column holding the outcome when the export is one flat table "
        "with no outcome table (e.g. Converted).")
    label_won: list[str] = Field(default_factory=lambda: ["1", "won", "yes", "true"])
    label_lost: list[str] = Field(default_factory=lambda: ["0", "lost", "no", "false"])
    after_contact: list[str] = Field(
        default_factory=list,
        description="Columns filled in by sales after contacting the lead. They leak the "
        "outcome: never features, reported by the leakage check when asked.")
    ignore: list[str] = Field(default_factory=list, description="Columns that are not features (second ids, free text).")
    not_a_fit: dict[str, list[str]] = Field(
        default_factory=dict, description="Per categorical column, values meaning the company cannot sell "
        "to this lead (a product line it does not sell). Such a lead's engagement is not used: a keen "
        "buyer of what we don't sell is still not a buyer.")


class ActivitiesTable(_Strict):
    """The event log: one row per activity of a lead."""

    file: str
    lead_id: str
    time: str
    type: str
    value: str | None = None
    high_intent: list[str] = Field(
        default_factory=list, description="Activity types that signal buying intent "
        "(pricing-page views, demo requests, ...). More of them never lowers a score.")
    negative: list[str] = Field(default_factory=list, description="Activity types that signal lost interest (unsubscribes).")


class OutcomesTable(_Strict):
    """Closed deals: won or lost, with the closing time. Leads without a row are open."""

    file: str
    lead_id: str
    outcome: str
    closed_at: str
    won: list[str] = Field(default_factory=lambda: ["won"])
    lost: list[str] = Field(default_factory=lambda: ["lost"])


class FeatureWindows(_Strict):
    """Point-in-time activity aggregates."""

    windows_days: list[int] = Field(default_factory=lambda: [7, 30, 90])
    as_of_days_after_created: float = Field(
        30.0, gt=0, description="Training examples are built as of this many days after each "
        "lead was created, and labelled by what happened after that moment.")


class DatasetSpec(_Strict):
    name: str
    description: str = ""
    data_dir: str = Field(".", description="Folder holding the tables, relative to the spec file.")
    leads: LeadsTable
    activities: ActivitiesTable | None = None
    outcomes: OutcomesTable | None = None
    missing_values: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING_VALUES))
    category_aliases: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Per categorical column, spellings to merge "
        "(after lower-casing): {industry: {helthcare: healthcare}}.")
    reason_phrases: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Per column and value, the words a salesperson "
        "reads when that value drives a score: {product_interest: {home edition: "
        "interested in a product line we don't sell}}.")
    features: FeatureWindows = Field(default_factory=FeatureWindows)
    holdout_fraction: float = Field(0.2, gt=0, lt=1, description="Share of the most recent leads held out for evaluation.")
    source: Path | None = Field(None, exclude=True, description="The file this spec was read from.")

    @model_validator(mode="after")
    def _check_roles(self) -> "DatasetSpec":
        lead = self.leads
        if self.outcomes is None and lead.label is None:
            raise ValueError("the spec has neither an `outcomes` table nor `leads.label`: "
                             "add one so leadscore knows which leads were won")
        if self.outcomes is not None and lead.label is not None:
            raise ValueError("the spec has both an `outcomes` table and `leads.label`: keep one")
        if self.activities is not None and lead.created_at is None:
            raise ValueError("`activities` needs `leads.created_at` to build point-in-time features")
        roles = {"categorical": lead.categorical, "numeric": lead.numeric, "yes_no": lead.yes_no,
                 "after_contact": lead.after_contact, "ignore": lead.ignore}
        seen: dict[str, str] = {}
        for role, columns in roles.items():
            for column in columns:
                if column in seen:
                    raise ValueError(f"column {column!r} is listed under both leads.{seen[column]} "
                                     f"and leads.{role}: give it one role")
                seen[column] = role
        for special in (lead.id, lead.created_at, lead.label, lead.order_by):
            if special is not None and special in seen:
                raise ValueError(f"column {special!r} is the id, time or label column and cannot "
                                 f"also be under leads.{seen[special]}")
        for column in lead.not_a_fit:
            if column not in lead.categorical:
                raise ValueError(f"leads.not_a_fit.{column}: {column!r} is not under leads.categorical")
        for column in self.category_aliases:
            if column not in lead.categorical:
                raise ValueError(f"category_aliases.{column}: {column!r} is not under leads.categorical")
        return self

    # ----------------------------------------------------------------------------------
    @property
    def profile_columns(self) -> list[str]:
        """Raw lead columns that become model inputs (never after-contact columns)."""
        return [*self.leads.categorical, *self.leads.numeric, *self.leads.yes_no]

    def resolve_dir(self, data: Path | None = None) -> Path:
        if data is not None:
            return Path(data)
        base = self.source.parent if self.source is not None else Path.cwd()
        return (base / self.data_dir).resolve()

    def table_path(self, file: str, data: Path | None = None) -> Path:
        """Where a table lives. `data` may be a folder (overrides data_dir) or, for the leads
        table of a flat export, the file itself."""
        if data is not None and Path(data).is_file():
            if file == self.leads.file:
                return Path(data)
            data = Path(data).parent
        folder = self.resolve_dir(data)
        candidate = folder / file
        if candidate.suffix in (".csv", ".parquet"):
            return candidate
        for suffix in (".parquet", ".csv"):
            if candidate.with_suffix(suffix).exists():
                return candidate.with_suffix(suffix)
        return candidate.with_suffix(".parquet")


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: the dataset spec is not valid:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        kind = item["type"]
        if kind == "extra_forbidden":
            fix = "remove it or check its spelling against docs/dataset-spec.md"
            lines.append(f"  - key `{key}` is not a spec key: {fix}")
        elif kind == "missing":
            lines.append(f"  - key `{key}` is required: add it")
        else:
            lines.append(f"  - key `{key}`: {item['msg']}")
    return "\n".join(lines)


def load_spec(path: str | Path) -> DatasetSpec:
    """Read and validate a dataset spec; raise SpecError naming the file, key and fix."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: no such dataset spec file; the shipped specs are in data/specs/")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a dataset spec is a YAML mapping with keys name, leads, ...; got {type(raw).__name__}")
    try:
        spec = DatasetSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(_format_errors(path, exc)) from None
    return spec.model_copy(update={"source": path.resolve()})

