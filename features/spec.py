"""The dataset spec: how a company's own CRM export maps onto the roles leadscore understands.

A spec is a YAML file validated strictly: unknown keys are refused and every error names the
file, the key and the fix. Paths inside a spec are relative to the spec file's folder.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.errors import SpecError

DEFAULT_MISSING_VALUES = ["", "Select", "N/A", "n/a", "NA", "null", "None", "-"]


Words = str | dict[Literal["en", "it"], str]
"""Words a salesperson reads: one text for every language, or one per language
(features.i18n.LANGUAGES; English stands in for one left out)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SEPARATORS = (",", ";", "\t", "|")
ROW_NUMBER = "row_number"
"""`leads.id: row_number`: the export has no id column; the 1-based row number is the id."""


class TableFile(_Strict):
    """How one table's file is read. Every key is optional: left out, it is detected from the
    file (see docs/dataset-spec.md, "Reading your export")."""

    file: str = Field(description="File of the table, relative to data_dir. Without an extension, "
                      ".parquet, then .csv, then .xlsx are tried.")
    separator: str | None = Field(None, description="CSV field separator: one of , ; tab (\\t) |. "
                                  "Default: detected from the file.")
    encoding: str | None = Field(None, description="Text encoding of a CSV file (utf-8, utf-8-sig, "
                                 "cp1252, latin-1, ...). Default: UTF-8 (with or without BOM), else "
                                 "detected.")
    sheet: str | int | None = Field(None, description="Excel (.xlsx) sheet name or 0-based index. "
                                    "Default: the first sheet.")
    decimal: str | None = Field(None, description="Decimal mark of numbers written as text: . or ,. "
                                "Default: detected from the table's numeric columns.")
    thousands: str | None = Field(None, description="Thousands mark of numbers written as text: "
                                  "none, ',', '.', ' ' or \"'\". Default: none with '.' decimals, '.' with ','.")
    date_format: str | dict[str, str] | None = Field(
        None, description="How times are written: ISO8601 or a strftime format such as %d/%m/%Y, for "
        "every time column of the table or per column ({closed: '%d/%m/%Y'}). Default: inferred from "
        "each whole column.")
    dayfirst: bool | dict[str, bool] | None = Field(
        None, description="For times written like 04/03/2026: true reads day first (4 March), false "
        "month first (3 April). For the whole table or per column.")

    @model_validator(mode="after")
    def _check_reading(self) -> "TableFile":
        if self.separator is not None and self.separator not in SEPARATORS:
            raise ValueError(f"separator {self.separator!r} is not one of , ; \\t |")
        if self.decimal is not None and self.decimal not in (".", ","):
            raise ValueError(f"decimal {self.decimal!r} must be '.' or ','")
        if self.thousands is not None and self.thousands not in ("", ",", ".", " ", "'"):
            raise ValueError(f"thousands {self.thousands!r} must be '', ',', '.', ' ' or \"'\"")
        if self.decimal is not None and self.thousands and self.decimal == self.thousands:
            raise ValueError("decimal and thousands marks must differ")
        if self.encoding is not None:
            import codecs

            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(f"encoding {self.encoding!r} is not an encoding Python knows; use "
                                 "utf-8, utf-8-sig, cp1252 or latin-1, for example") from None
        return self

    def time_format(self, column: str) -> tuple[str | None, bool | None]:
        """(date_format, dayfirst) stated for a time column, each None when not stated."""
        fmt = self.date_format.get(column) if isinstance(self.date_format, dict) else self.date_format
        first = self.dayfirst.get(column) if isinstance(self.dayfirst, dict) else self.dayfirst
        return fmt, first


class LeadsTable(TableFile):
    """The leads table: one row per lead."""

    id: str = Field(description="Column holding the lead id, or `row_number` when the export has "
                    "none (the 1-based row number of the file is then the id).")
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


class ActivitiesTable(TableFile):
    """The event log: one row per activity of a lead."""

    lead_id: str
    time: str
    type: str
    value: str | None = None
    high_intent: list[str] = Field(
        default_factory=list, description="Activity types that signal buying intent "
        "(pricing-page views, demo requests, ...). More of them never lowers a score.")
    negative: list[str] = Field(default_factory=list, description="Activity types that signal lost interest (unsubscribes).")
    max_unmatched_share: float = Field(
        0.01, ge=0, le=1, description="Share of activity rows whose lead id matches no lead above "
        "which validation fails.")


class OutcomesTable(TableFile):
    """Closed deals: won or lost, with the closing time. Leads without a row are open."""

    lead_id: str
    outcome: str | None = Field(
        None, description="Column holding won or lost. Leave it out for a list of won deals only "
        "(every row is a win); then say when an absent lead counts as lost with "
        "`absent_lost_after_days` or `absent_lost_before`.")
    closed_at: str
    won: list[str] = Field(default_factory=lambda: ["won"])
    lost: list[str] = Field(default_factory=lambda: ["lost"])
    absent_lost_after_days: float | None = Field(
        None, gt=0, description="A lead with no outcome row counts as lost once it is this many days "
        "old (closed that many days after it was created); younger ones stay open.")
    absent_lost_before: str | None = Field(
        None, description="A lead with no outcome row created before this date (ISO 8601) counts as "
        "lost, closed on that date; later ones stay open.")
    max_unmatched_share: float = Field(
        0.01, ge=0, le=1, description="Share of outcome rows whose lead id matches no lead above "
        "which validation fails.")

    @model_validator(mode="after")
    def _check_absent(self) -> "OutcomesTable":
        if self.absent_lost_after_days is not None and self.absent_lost_before is not None:
            raise ValueError("give one of absent_lost_after_days and absent_lost_before, not both")
        if self.absent_lost_before is not None:
            import datetime as _dt

            try:
                _dt.date.fromisoformat(self.absent_lost_before[:10])
            except ValueError:
                raise ValueError(f"absent_lost_before {self.absent_lost_before!r} is not an ISO 8601 "
                                 "date such as 2024-06-30") from None
        return self


DEFAULT_SNAPSHOT_AGES = [0.0, 1.0, 7.0, 30.0, 90.0]


MAX_MATURITY_DAYS = 3650


class FeatureWindows(_Strict):
    """Point-in-time activity aggregates, and the ages at which training looks at each lead."""

    windows_days: list[int] = Field(default_factory=lambda: [7, 30, 90])
    as_of_days_after_created: list[float] = Field(
        default_factory=lambda: list(DEFAULT_SNAPSHOT_AGES),
        description="Snapshot ages, in days after a lead was created. With an event log and an outcomes "
        "table each lead becomes one training example as of each of these ages at which it was still open, "
        "labelled by what happened after that moment, and the lead's age is a model input. A single number "
        "(the older form) is one age. Without an event log every lead is one example as of its creation.")
    random_snapshots: int = Field(
        3, ge=0, le=20, description="Besides the listed ages, this many more snapshots per lead at ages drawn "
        "at random while it was open, up to the last listed age, so that training meets every age, not only "
        "the listed ones (the draws come from the lead's id: the same every time). 0: the listed ages only; "
        "the older single-number form of as_of_days_after_created implies 0.")
    season: bool | Literal["auto"] = Field(
        "auto", description="The time of year a lead was created (a point on a circle, two inputs) is a model "
        "input, so a won rate that swings with the season is learnt rather than averaged away. auto: when "
        "the training leads were created over at least a year; needs leads.created_at.")
    outcome_maturity_days: float | Literal["auto"] = Field(
        "auto", description="Leads created within this many days of the export's end are left out of "
        "training and the holdout: not all their deals have closed yet, and those that have are the quick "
        "ones (won deals usually take longer), so their won rate is too low and calibration would learn it. "
        "auto: the time within which 95% of the closed deals closed; 0: keep every lead. Needs created and "
        "closed times.")
    evaluation_age_days: float = Field(
        30.0, ge=0, description="Holdout (and validation) figures count each lead once, as of its last "
        "snapshot at or before this age (its first snapshot when it has none so early); a flat export with "
        "an event log takes its one example per lead at that snapshot age too.")

    @model_validator(mode="before")
    @classmethod
    def _one_age_is_the_older_form(cls, data):
        """`as_of_days_after_created: 30`, as specs said before snapshots: that one age and no
        random ones (exactly what such a spec trained on before)."""
        if isinstance(data, dict):
            value = data.get("as_of_days_after_created")
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                data = {**data, "as_of_days_after_created": [value]}
                data.setdefault("random_snapshots", 0)
        return data

    @field_validator("outcome_maturity_days", mode="before")
    @classmethod
    def _check_maturity(cls, value):
        if value == "auto":
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_MATURITY_DAYS:
            raise ValueError(f"{value!r} is not a number of days from 0 to {MAX_MATURITY_DAYS} (0 keeps every lead), "
                             "nor auto (the time 95% of deals took to close)")
        return float(value)

    @field_validator("as_of_days_after_created")
    @classmethod
    def _check_ages(cls, ages: list[float]) -> list[float]:
        if not ages:
            raise ValueError("give at least one snapshot age, for example [0, 1, 7, 30, 90]")
        for age in ages:
            if not math.isfinite(age) or age < 0:
                raise ValueError(f"snapshot age {age!r} is not a number of days >= 0 (0 is the lead's creation)")
        if len(set(ages)) != len(ages):
            raise ValueError(f"snapshot ages {ages} repeat a value: list each age once")
        return sorted(float(a) for a in ages)

    def evaluation_snapshot(self, ages: list[float]) -> float:
        """The age, among `ages` (ascending), a lead open throughout is evaluated at: the last
        one at or before `evaluation_age_days`, else the first."""
        before = [a for a in ages if a <= self.evaluation_age_days]
        return before[-1] if before else ages[0]


class NumberRange(_Strict):
    """An ideal customer's range of a number column, bounds included; either may be left out."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check(self) -> "NumberRange":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both: {min: 50, max: 5000}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}: swap them")
        return self


class DatasetSpec(_Strict):
    name: str = Field(max_length=64, description="The spec's name: its model is registered as "
                      "`leadscore-<name>` and the score log records it (64 characters at most).")
    description: str = ""
    data_dir: str = Field(".", description="Folder holding the tables, relative to the spec file.")
    leads: LeadsTable
    activities: ActivitiesTable | None = None
    outcomes: OutcomesTable | None = None
    missing_values: list[str] = Field(default_factory=lambda: list(DEFAULT_MISSING_VALUES))
    category_aliases: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Per categorical column, spellings to merge "
        "(after lower-casing): {industry: {helthcare: healthcare}}.")
    reason_phrases: dict[str, dict[str, Words]] = Field(
        default_factory=dict, description="Per column and value, the words a salesperson "
        "reads when that value drives a score: {product_interest: {home edition: "
        "interested in a product line we don't sell}}; one text, or one per language "
        "({en: ..., it: ...}; English stands in for a language left out).")
    display_names: dict[str, Words] = Field(
        default_factory=dict, description="Per lead column (under leads.categorical, numeric or "
        "yes_no) or activity type, the words reasons use for it: {TotalVisits: website visits}, "
        "or one text per language: {TotalVisits: {en: website visits, it: visite al sito}}. "
        "Left out, they are made from the name: ExitRates, exit_rates and Exit Rates read \"exit "
        "rates\".")
    features: FeatureWindows = Field(default_factory=FeatureWindows)
    holdout_fraction: float = Field(0.2, gt=0, lt=1, description="Share of the most recent leads held out for evaluation.")
    drop_invalid_rows: bool = Field(
        False, description="Drop rows that break a row rule (an outcome closed before its lead was "
        "created, an activity or outcome of no known lead, an unreadable time) instead of refusing "
        "the export; they are written to a rejects file and counted.")
    allow_leaky: list[str] = Field(
        default_factory=list, description="Lead columns (under leads.categorical, numeric or yes_no) "
        "that the leakage report flags but a person has checked are known before sales contact: "
        "training uses them instead of refusing (see docs/dataset-spec.md, \"Leakage\").")
    report_by: list[str] = Field(
        default_factory=list, description="Lead columns (under leads.categorical) the outcome report "
        "breaks down by, e.g. [lead_source, campaign]: per value, leads, share reaching MQL and SQL, "
        "observed buy rate, expected wins still open (`leadscore report`, docs/report.md).")
    ideal_customer: dict[str, Any] | None = Field(
        default_factory=dict, description="The ideal customer marketing and sales agreed on: per lead "
        "column, the values (a categorical column: [software, financial services]), the range (a "
        "numeric one: {min: 51, max: 5000}) or the answer (a yes/no one: true) it has. A lead matches "
        "when every listed column does; training reports how matching leads converted against the "
        "rest, and the fit reasons say when a lead matches (features.ideal_customer).")
    segment_by: str | None = Field(
        None, description="A lead column (under leads.categorical) to train one model per value of, e.g. "
        "product_interest: the 10 largest values (cleaned, aliases applied) each get their own model, "
        "calibration, stages and gates when they have enough won and lost leads; other values, missing ones "
        "and segments that fall short are scored by the global model (docs/segments.md). The outcome report "
        "breaks down by it too.")
    source: Path | None = Field(None, exclude=True, description="The file this spec was read from.")

    @field_validator("segment_by", mode="before")
    @classmethod
    def _one_segment_column(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            names = ", ".join(map(str, value))
            raise ValueError(f"segments come from one column, not a list ({names}): name one column under "
                             "leads.categorical; to segment by a combination, add a column that joins them to the "
                             "leads export and name that one")
        if value is not None and not isinstance(value, str):
            raise ValueError(f"give a column name under leads.categorical, not {value!r}")
        return value

    @model_validator(mode="after")
    def _check_roles(self) -> "DatasetSpec":
        if self.name.startswith("leadscore-"):
            raise ValueError(f"name {self.name!r}: a spec's model is registered as `leadscore-<name>`, so a name "
                             f"starting with `leadscore-` would read as another spec's model; use "
                             f"{self.name[len('leadscore-'):]!r}")
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
        for special in (lead.id, lead.created_at, lead.label):
            if special is not None and special in seen:
                raise ValueError(f"column {special!r} is the id, time or label column and cannot "
                                 f"also be under leads.{seen[special]}")
        # The order column may also be a feature (a creation month, a sequential number): it is
        # known when a new lead is scored. It may not be an after-contact column.
        if lead.order_by is not None and seen.get(lead.order_by) == "after_contact":
            raise ValueError(f"column {lead.order_by!r} orders leads in time (leads.order_by) and "
                             "cannot be an after-contact column")
        for column in lead.not_a_fit:
            if column not in lead.categorical:
                raise ValueError(f"leads.not_a_fit.{column}: {column!r} is not under leads.categorical")
        tables = {"leads": (lead, [lead.created_at, lead.order_by]),
                  "activities": (self.activities, [self.activities.time] if self.activities else []),
                  "outcomes": (self.outcomes, [self.outcomes.closed_at] if self.outcomes else [])}
        for name, (table, times) in tables.items():
            for key in ("date_format", "dayfirst"):
                stated = getattr(table, key, None) if table is not None else None
                if isinstance(stated, dict):
                    for column in stated:
                        if column not in [t for t in times if t]:
                            raise ValueError(f"{name}.{key}.{column}: {column!r} is not a time column of the "
                                             f"{name} table (those are: {', '.join(t for t in times if t) or 'none'})")
        for column in self.category_aliases:
            if column not in lead.categorical:
                raise ValueError(f"category_aliases.{column}: {column!r} is not under leads.categorical")
        for column in self.report_by:
            if seen.get(column) != "categorical":
                where = f"under leads.{seen[column]}" if column in seen else "not a lead column of the spec"
                raise ValueError(f"report_by: {column!r} is {where}; list columns under leads.categorical "
                                 "(a source, a campaign, a segment)")
        if self.segment_by is not None:
            column = self.segment_by
            if seen.get(column) != "categorical":
                where = (f"under leads.{seen[column]}" if column in seen else
                         "the id, time or label column" if column in (lead.id, lead.created_at, lead.label, lead.order_by)
                         else "not a lead column of the spec")
                raise ValueError(f"segment_by: {column!r} is {where}; name one column under leads.categorical "
                                 "(known before sales contact, e.g. a product line), or remove segment_by")
        for column in self.allow_leaky:
            if seen.get(column) not in ("categorical", "numeric", "yes_no"):
                where = f"under leads.{seen[column]}" if column in seen else "not a lead column of the spec"
                raise ValueError(f"allow_leaky: {column!r} is {where}; list only model inputs (columns under "
                                 "leads.categorical, leads.numeric or leads.yes_no)")
        return self

    @model_validator(mode="after")
    def _check_ideal_customer(self) -> "DatasetSpec":
        """Each column is a model input, stated in the form of its kind, read into that form: a
        list of category texts, a NumberRange, a bool."""
        from features.values import number_text

        lead = self.leads
        kinds = {**{c: "categorical" for c in lead.categorical}, **{c: "numeric" for c in lead.numeric},
                 **{c: "yes_no" for c in lead.yes_no}}
        examples = {"categorical": "a list of values: [software, financial services]",
                    "numeric": "a range: {min: 51, max: 5000}", "yes_no": "true or false"}
        missing = {str(v).strip().casefold() for v in self.missing_values}
        read: dict[str, Any] = {}
        for column, stated in (self.ideal_customer or {}).items():
            kind = kinds.get(column)
            where = f"ideal_customer.{column}"
            if kind is None:
                raise ValueError(f"{where}: {column!r} is not a column under leads.categorical, numeric or yes_no "
                                 "(the ideal customer is described by what a lead tells of itself)")
            wrong = ValueError(f"{where}: {column!r} is under leads.{kind}; describe it as {examples[kind]}")
            if kind == "categorical":
                values = stated if isinstance(stated, list) else [stated] if isinstance(stated, (str, int, float)) \
                    and not isinstance(stated, bool) else None
                if values is None or any(isinstance(v, (list, dict)) or v is None for v in values):
                    raise wrong
                # YAML reads an unquoted yes/no as true/false and 1e6 as a number: a category is its text
                texts = [("yes" if v else "no") if isinstance(v, bool) else v if isinstance(v, str)
                         else number_text(float(v)) for v in values]
                if not [t for t in texts if t.strip()]:
                    raise ValueError(f"{where}: the list is empty; list the values, or leave the key out")
                placeholders = [t for t in texts if t.strip().casefold() in missing]
                if placeholders:
                    raise ValueError(f"{where}: {', '.join(map(repr, placeholders))} is under missing_values, and a "
                                     "missing value never matches: list values a lead can have")
                unsold = sorted({t.strip().casefold() for t in texts}
                                & {v.strip().casefold() for v in lead.not_a_fit.get(column, [])})
                if unsold:
                    raise ValueError(f"{where}: {', '.join(map(repr, unsold))} is under leads.not_a_fit.{column}: "
                                     "a lead we cannot sell to is never our ideal customer; remove it from one list")
                read[column] = texts
            elif kind == "numeric":
                if not isinstance(stated, dict):
                    raise wrong
                try:
                    read[column] = NumberRange.model_validate(stated)
                except ValidationError as exc:
                    problem = exc.errors()[0]
                    key = ".".join(str(p) for p in problem["loc"])
                    raise ValueError(f"{where}{'.' + key if key else ''}: "
                                     f"{problem['msg'].removeprefix('Value error, ')}") from None
            else:
                if not isinstance(stated, bool):
                    raise wrong
                read[column] = stated
        object.__setattr__(self, "ideal_customer", read)  # the model is frozen: its one reading, set once
        return self

    @model_validator(mode="after")
    def _check_time_keys(self) -> "DatasetSpec":
        """Keys that need the leads' created times are refused where there are none (they would
        silently do nothing)."""
        if self.leads.created_at is None:
            features = self.features
            if features.season is True:
                raise ValueError("features.season: true needs leads.created_at (the time of year comes from "
                                 "it): add leads.created_at, or remove features.season")
            if "outcome_maturity_days" in features.model_fields_set and features.outcome_maturity_days not in ("auto", 0):
                raise ValueError("features.outcome_maturity_days needs leads.created_at and outcomes with closed "
                                 "times: add them, or remove the key")
        return self

    @model_validator(mode="after")
    def _check_display_names(self) -> "DatasetSpec":
        """Each key is a model input column, or (with an event log) an activity type: types are
        known only from the data, so any other key is one, unless it is a lead column of
        another role or looks like a misspelt input column."""
        import difflib

        lead = self.leads
        inputs = self.profile_columns
        others = {c: f"leads.{role}" for role in ("after_contact", "ignore") for c in getattr(lead, role)}
        others |= {c: f"leads.{key}" for key in ("id", "created_at", "order_by", "label") if (c := getattr(lead, key))}
        folded = {" ".join(c.replace("_", " ").split()).casefold(): c for c in inputs}
        for key, words in self.display_names.items():
            texts = [words] if isinstance(words, str) else list(words.values())
            if not texts or not all(text.strip() for text in texts):
                raise ValueError(f"display_names.{key}: the words are empty; give the words reasons use, "
                                 "or leave the key out")
            if key in inputs:
                continue
            if key in others:
                raise ValueError(f"display_names.{key}: {key!r} is {others[key]}, which reasons never "
                                 "mention; name columns under leads.categorical, numeric or yes_no")
            close = folded.get(" ".join(key.replace("_", " ").split()).casefold()) or next(
                iter(difflib.get_close_matches(key, inputs, n=1, cutoff=0.85)), None)
            if self.activities is None or close is not None:
                hint = f"did you mean {close!r}? " if close else ""
                kinds = "a column" if self.activities is None else "a column nor an activity type"
                raise ValueError(f"display_names.{key}: {key!r} is not {kinds} reasons mention; {hint}"
                                 "name columns under leads.categorical, numeric or yes_no"
                                 + (" (or activity types)" if self.activities is not None else ""))
        return self

    # ----------------------------------------------------------------------------------
    @property
    def snapshot_ages(self) -> list[float] | None:
        """The ages (days after creation) at which training takes examples of a lead, None when
        leads have no creation time. With an event log and an outcomes table: the spec's
        `features.as_of_days_after_created`. Without an event log, creation (0): nothing can
        change a lead's features after it, and no closed lead is left out. A flat export (a label
        column, no closing times) with an event log: its evaluation snapshot age only."""
        if self.leads.created_at is None:
            return None
        if self.activities is None:
            return [0.0] if self.outcomes is not None else None
        ages = self.features.as_of_days_after_created
        return ages if self.outcomes is not None else [self.features.evaluation_snapshot(ages)]

    @property
    def uses_lead_age(self) -> bool:
        """Lead age (days since created, as of the moment of scoring) is a model input when
        training sees leads at more than one age."""
        return len(self.snapshot_ages or ()) > 1

    @property
    def report_dimensions(self) -> list[str]:
        """The columns the outcome report and the lead queue break down by: `report_by`, then
        `segment_by` when it is set and not already listed (each segment's stages against what
        its leads did)."""
        extra = [self.segment_by] if self.segment_by and self.segment_by not in self.report_by else []
        return [*self.report_by, *extra]

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
        table of a flat export, the file itself. `file` may name a folder or a glob of Parquet
        files (`features.read.table_files`)."""
        if data is not None and Path(data).is_file():
            if file == self.leads.file:
                return Path(data)
            data = Path(data).parent
        folder = self.resolve_dir(data)
        candidate = folder / file
        if candidate.suffix.lower() in (".csv", ".parquet", ".xlsx", ".tsv", ".txt") or candidate.is_dir():
            return candidate
        for suffix in (".parquet", ".csv", ".xlsx"):
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
            lines.append(f"  - key `{key}`: {item['msg'].removeprefix('Value error, ')}")
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

