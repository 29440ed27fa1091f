"""Checking a CRM export before it is trusted.

`validate_tables` derives a Great Expectations suite per table from the dataset spec (and,
once a model exists, from its training profile), runs it on the cleaned tables, and returns a
`ValidationReport`: every failed rule in plain words with its table, the company's own column
name, how many rows fail and a few example values. Training and batch scoring call the same
function; `leadscore validate` prints its report.

The work is split by concern: `features.validation_rules` derives the rules and the view of
each table they read (the company's column names, plus companion columns that hold the raw
text of failing cells); `features.expectations` turns the rules into expectation suites and
runs them, one Great Expectations engine for every table; `features.data_docs` makes the Data
Docs render offline; `features.gx_project` writes the suites, the views and a checkpoint as a
file-based Great Expectations project a user can run with GX alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pandas as pd

from features.errors import DataError, LeadscoreError
from features.expectations import preload_great_expectations, run_checks
from features.files import write_atomically
from features.load import CRMTables
from features.profile import DataProfile
from features.spec import DatasetSpec
from features.validation_rules import (CATEGORY_MOSTLY, MIN_CLOSED_PER_OUTCOME, RANGE_MOSTLY,
                                       RANGE_WIDENING, table_plans, utc_naive)

__all__ = ["CATEGORY_MOSTLY", "MAX_DROPPED_SHARE", "MIN_CLOSED_PER_OUTCOME", "RANGE_MOSTLY",
           "RANGE_WIDENING", "RuleFailure", "ValidationFailed", "ValidationReport",
           "preload_great_expectations", "validate_tables", "write_rejects"]

Purpose = Literal["train", "score"]

MAX_DROPPED_SHARE = 0.05
"""`drop_invalid_rows` drops at most this share of a table; beyond it the export is refused."""


class ValidationFailed(LeadscoreError):
    """The data broke one or more validation rules; the message lists them."""

    def __init__(self, report: "ValidationReport") -> None:
        self.report = report
        super().__init__(report.summary())


@dataclass(frozen=True)
class RuleFailure:
    """One rule the data broke."""

    rule: str
    """The rule in plain words."""
    table: str
    column: str | None
    """The company's own column name (None for a rule on the whole table)."""
    failing: int | None
    """Rows that break the rule; None for a rule on a total (too few won leads)."""
    examples: list[str] = field(default_factory=list)
    """Up to five distinct offending values, as text."""
    observed: str | None = None
    """What was found, for rules on a total ("12 won leads")."""
    row_rule: bool = False
    """A rule on single rows that the spec's `drop_invalid_rows` can enforce by dropping them."""

    def describe(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        found = self.observed if self.failing is None else f"{self.failing:,} rows fail"
        text = f"{where}: {self.rule} ({found})"
        if self.examples:
            text += "; e.g. " + ", ".join(self.examples)
        return text


@dataclass
class ValidationReport:
    spec_name: str
    purpose: str
    success: bool
    failures: list[RuleFailure]
    checked: int
    """Rules run."""
    docs_index: Path | None = None
    gx_project: Path | None = None
    """The Great Expectations project written with `validate_tables(..., gx_project=...)`."""
    rows: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rejected: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Per table, the raw rows dropped by `drop_invalid_rows`, with the rule each broke."""
    seconds: float = 0.0

    @property
    def failed_columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for failure in self.failures:
            seen[f"{failure.table}.{failure.column}" if failure.column else failure.table] = None
        return list(seen)

    def conclusion(self) -> str:
        """One line: passed, or what to fix."""
        if self.success:
            return f"{self.checked} rules passed"
        where = ", ".join(self.failed_columns[:6]) + (" ..." if len(self.failed_columns) > 6 else "")
        text = (f"{len(self.failures)} of {self.checked} rules failed: fix {where} in the export "
                f"(or the spec if it names the wrong column), then run validate again")
        if any(f.row_rule for f in self.failures):
            text += ("; or, if a few rows are simply wrong, set `drop_invalid_rows: true` in the spec to "
                     "drop them (they are written to a rejects file and counted)")
        return text

    def summary(self) -> str:
        """A readable summary: one line per failure, then the conclusion."""
        sizes = ", ".join(f"{table} {n:,} rows" for table, n in self.rows.items())
        lines = [f"validation of {self.spec_name} for {self.purpose} ({sizes}): "
                 + ("passed" if self.success else "FAILED")]
        lines += [f"  - {failure.describe()}" for failure in self.failures]
        lines += [f"  note: {note}" for note in self.notes]
        lines.append(self.conclusion())
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        if not self.success:
            raise ValidationFailed(self)



def validate_tables(spec: DatasetSpec, cleaned: CRMTables, canonical: CRMTables, *,
                    purpose: Purpose = "train", profile: DataProfile | None = None,
                    now: pd.Timestamp | None = None, docs_dir: Path | None = None,
                    gx_project: Path | None = None,
                    on_step: Callable[[str, int, int], None] | None = None) -> ValidationReport:
    """Check the tables of a CRM export against the rules derived from its spec and profile.

    `cleaned` and `canonical` are the first two results of `features.load.load_clean`
    (row-aligned). purpose="score" checks batch-scoring input: the outcome rules are skipped.
    `now` (default: the current UTC time) is the moment no timestamp may be after. With
    `docs_dir`, Great Expectations Data Docs HTML is written there (it renders offline). With
    `gx_project`, a file-based Great Expectations project is written to that folder, holding the
    same suites, the views they were checked on and a checkpoint that gives the same pass/fail
    with GX alone (`features.gx_project.save_gx_project`).

    With the spec's `drop_invalid_rows`, rows of the activities and outcomes tables that break
    a row rule (no known lead, closed before created, unreadable time) are removed from
    `cleaned` and `canonical` in place, before the rules run, and returned in
    `ValidationReport.rejected` (raw rows with the rule they broke).

    `on_step(what, done, total)`, when given, hears of each Great Expectations run (one per
    table, then the Data Docs) before it starts, and once more with done == total at the end;
    with `gx_project`, then of writing the project and running its checkpoint (a new total)."""
    started = time.perf_counter()
    if purpose not in ("train", "score"):
        raise ValueError(f"purpose must be 'train' or 'score', got {purpose!r}")
    if profile is not None and profile.spec_name != spec.name:
        raise DataError(f"the training profile is for the spec {profile.spec_name!r}, not "
                        f"{spec.name!r}; pass the profile of a model trained on {spec.name!r}, "
                        "or none")
    now = utc_naive(now)
    plans = table_plans(spec, cleaned, canonical, purpose, profile, now)
    rejected: dict[str, pd.DataFrame] = {}
    notes_too_many: list[str] = []
    if spec.drop_invalid_rows:
        for plan in plans:
            if plan.table == "leads":
                continue
            broken = plan.invalid_rows()
            bad = np.zeros(plan.rows, dtype=bool)
            reasons = np.full(plan.rows, "", dtype=object)
            for words, rows in broken.items():
                reasons[rows & ~bad] = words
                bad |= rows
            if bad.sum() > MAX_DROPPED_SHARE * plan.rows:
                notes_too_many.append(f"drop_invalid_rows would drop {int(bad.sum()):,} of {plan.rows:,} "
                                      f"{plan.table} rows, more than {MAX_DROPPED_SHARE:.0%}: nothing was dropped "
                                      "from that table; so many invalid rows means the export, or the spec, is wrong")
                continue
            if bad.any():
                frame = getattr(cleaned, plan.table)
                rejected[plan.table] = frame[bad].assign(**{"rejected because": reasons[bad]})
                _drop_rows(cleaned, canonical, plan.table, ~bad)
        if rejected:
            plans = table_plans(spec, cleaned, canonical, purpose, profile, now)

    return judge_plans(spec, plans, purpose=purpose, profile=profile, docs_dir=docs_dir, gx_project=gx_project,
                       on_step=on_step, rejected=rejected, notes=notes_too_many, started=started)


def judge_plans(spec: DatasetSpec, plans: list, *, purpose: Purpose, profile: DataProfile | None,
                docs_dir: Path | None = None, gx_project: Path | None = None,
                on_step: Callable[[str, int, int], None] | None = None,
                rejected: dict[str, pd.DataFrame] | None = None, notes: list[str] | None = None,
                started: float | None = None) -> ValidationReport:
    """The report of the rules in `plans` (`features.validation_rules.table_plans`), checked
    by Great Expectations: the second half of `validate_tables`, also run on the plans of a
    whole export merged from its partitions (`features.partitions.validate_on_cluster`)."""
    started = time.perf_counter() if started is None else started
    rejected = rejected or {}
    notes = [note for plan in plans for note in plan.notes] + list(notes or [])
    for table, rows in rejected.items():
        notes.append(f"dropped {len(rows):,} invalid {table} rows (drop_invalid_rows: true)")
    if profile is None:
        notes.append("no training profile: categorical values and numeric ranges were not "
                     "compared with training data")
    else:
        notes.append(f"compared with the training profile of {profile.rows:,} leads")
    if purpose == "score":
        notes.append("scoring input: the outcome and label rules were skipped")
    outcomes, docs_index = run_checks(spec.name, plans, docs_dir, on_step)

    failures = []
    for plan in plans:
        for i, rule in enumerate(plan.rules):
            result = outcomes[(plan.table, i)]
            if not result.success:
                failures.append(RuleFailure(rule=rule.words, table=plan.table, column=rule.column,
                                            failing=result.failing, examples=result.examples,
                                            observed=result.observed, row_rule=rule.row_rule))
    saved_root = None
    if gx_project is not None:
        from features.gx_project import save_gx_project

        saved = save_gx_project(Path(gx_project), spec.name, plans, on_step)
        passed = {plan.table: all(outcomes[(plan.table, i)].success for i in range(len(plan.rules)))
                  for plan in plans}
        if saved.success != passed:  # one rule set, one engine: a difference is a bug here
            raise AssertionError(f"the saved checkpoint gives {saved.success}, the run {passed}")
        saved_root = saved.root
    return ValidationReport(
        spec_name=spec.name, purpose=purpose, success=not failures, failures=failures,
        checked=sum(len(p.rules) for p in plans), docs_index=docs_index,
        gx_project=saved_root,
        rows={p.table: p.rows for p in plans}, notes=notes, rejected=rejected,
        seconds=time.perf_counter() - started)


def _drop_rows(cleaned: CRMTables, canonical: CRMTables, table: str, keep: np.ndarray) -> None:
    setattr(cleaned, table, getattr(cleaned, table)[keep].reset_index(drop=True))
    setattr(canonical, table, getattr(canonical, table)[keep].reset_index(drop=True))
    for reading in canonical.readings.get(table, {}).values():
        reading.values, reading.refused = reading.values[keep], reading.refused[keep]


def write_rejects(report: "ValidationReport", folder: Path) -> dict[str, Path]:
    """The rows `drop_invalid_rows` dropped, one CSV per table (`<table>.rejected.csv`) in
    `folder`, each row with the rule it broke. Returns {table: file written}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for table, rows in report.rejected.items():
        written[table] = write_atomically(folder / f"{table}.rejected.csv",
                                          lambda tmp, rows=rows: rows.to_csv(tmp, index=False))
    return written
