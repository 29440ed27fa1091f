"""The rules of `features.validation_rules` as Great Expectations expectation suites, and
the run that checks each table's view against its suite.

`expectation_suite` is the one place a rule becomes an expectation: the validation run and
the project `leadscore validate --save` writes (`features.gx_project`) both build their
suites with it. The Data Docs are written with the offline views of `features.data_docs`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from features.validation_rules import MAX_EXAMPLES, Rule, TablePlan, shown_value

DOCS_SITE = "leadscore"
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
"""What each run reports per expectation: counts and up to 20 offending values."""


@dataclass
class Outcome:
    success: bool
    failing: int | None = None
    examples: list[str] = field(default_factory=list)
    observed: str | None = None


def _examples(values: Any, rule: Rule) -> list[str]:
    """Up to MAX_EXAMPLES distinct values as text; a pair (closed, created) as
    "2024-01-02 00:00:00 (created 2024-03-01 00:00:00)"."""
    shown: dict[str, None] = {}
    label = rule.params.get("other_label", "other")
    for value in values:
        if isinstance(value, tuple) and len(value) == 2:
            text = f"{shown_value(value[0])} ({label} {shown_value(value[1])})"
        else:
            text = shown_value(value)
        shown[text] = None
        if len(shown) == MAX_EXAMPLES:
            break
    return list(shown)


# ======================================================================== great expectations
_PRELOAD: Any = None


def preload_great_expectations() -> None:
    """Start importing Great Expectations (about 2.7 s here: `python -X importtime`) in a
    background thread, so that it overlaps reading and cleaning the export. Idempotent;
    `quiet` waits for it."""
    global _PRELOAD
    if _PRELOAD is None:
        import threading

        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

        def _load() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import great_expectations  # noqa: F401
                import great_expectations.expectations  # noqa: F401

        _PRELOAD = threading.Thread(target=_load, name="gx-import", daemon=True)
        _PRELOAD.start()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No progress bars, log lines or warnings from Great Expectations (some of its modules
    set their own loggers to INFO, so every one of its loggers is turned down, then back)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    if _PRELOAD is not None:
        _PRELOAD.join()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import great_expectations  # noqa: F401 - creates its loggers

        loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
                   if name == "great_expectations" or name.startswith("great_expectations.")]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def expectation(gxe: Any, rule: Rule, index: int, table: str) -> Any:
    common = {"description": rule.words,
              "meta": {"leadscore_rule": index, "table": table, "column": rule.column}}
    p, column = rule.params, rule.target
    if rule.kind == "exists":
        return gxe.ExpectColumnToExist(column=column, **common)
    if rule.kind == "not_null":
        return gxe.ExpectColumnValuesToNotBeNull(column=column, **common)
    if rule.kind == "null":
        return gxe.ExpectColumnValuesToBeNull(column=column, mostly=p.get("mostly", 1.0), **common)
    if rule.kind == "unique":
        return gxe.ExpectColumnValuesToBeUnique(column=column, **common)
    if rule.kind == "in_set":
        return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(p["value_set"]),
                                               mostly=p.get("mostly", 1.0), **common)
    if rule.kind == "between":
        return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=p.get("min_value"),
                                                 max_value=p.get("max_value"),
                                                 mostly=p.get("mostly", 1.0), **common)
    if rule.kind == "sum_at_least":
        return gxe.ExpectColumnSumToBeBetween(column=column, min_value=p["min_value"], **common)
    if rule.kind == "not_before":
        return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A=column, column_B=p["other"], or_equal=True,
            ignore_row_if="either_value_is_missing", **common)
    raise AssertionError(f"unknown rule kind {rule.kind!r}")


def suite_name(spec_name: str, table: str) -> str:
    """The name of a table's expectation suite (and of its validation definition)."""
    return f"{spec_name}.{table}"


def expectation_suite(gx: Any, gxe: Any, spec_name: str, plan: TablePlan) -> Any:
    """The Great Expectations suite of one table's rules, in rule order; each expectation
    carries the rule's words as its description and its index as `meta.leadscore_rule`."""
    return gx.ExpectationSuite(
        name=suite_name(spec_name, plan.table),
        expectations=[expectation(gxe, rule, i, plan.table) for i, rule in enumerate(plan.rules)])


def outcomes_of(plan: TablePlan, result: Any) -> dict[int, Outcome]:
    """Per rule index, what a Great Expectations validation result says of it; a rule GX did
    not run fails ("not checked"), never silently passes."""
    outcomes = {}
    for item in result.results:
        index = int(item.expectation_config.meta["leadscore_rule"])
        outcomes[index] = _outcome_of(plan.rules[index], item)
    for index in range(len(plan.rules)):
        outcomes.setdefault(index, Outcome(False, observed="not checked"))
    return outcomes


def fast_pandas_batches() -> None:
    """Great Expectations labels each pandas batch with an MD5 of all its rows (only a marker
    in the result, and seconds of work on a large activity log): a table over this many bytes
    is not hashed, and here none needs to be."""
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0


def run_checks(name: str, plans: list[TablePlan], docs_dir: Path | None,
               on_step: Callable[[str, int, int], None] | None = None
               ) -> tuple[dict[tuple[str, int], Outcome], Path | None]:
    """One suite and one validation run per table; then, with docs_dir, the Data Docs
    (offline: `features.data_docs`)."""
    total = len(plans) + (docs_dir is not None)
    step = on_step or (lambda what, done, total: None)
    with quiet():
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import ProgressBarsConfig

        fast_pandas_batches()
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        source = context.data_sources.add_pandas(name)
        outcomes: dict[tuple[str, int], Outcome] = {}
        for done, plan in enumerate(plans):
            step(f"checking {plan.table}: {len(plan.rules)} rules on {plan.rows:,} rows", done, total)
            batch = source.add_dataframe_asset(plan.table).add_batch_definition_whole_dataframe(
                f"{plan.table} as loaded")
            suite = context.suites.add(expectation_suite(gx, gxe, name, plan))
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=suite_name(name, plan.table), data=batch, suite=suite))
            result = definition.run(batch_parameters={"dataframe": plan.compact_frame()},
                                    result_format=RESULT_FORMAT)
            for index, outcome in outcomes_of(plan, result).items():
                outcomes[(plan.table, index)] = outcome

        docs_index = None
        if docs_dir is not None:
            from features import data_docs

            step("writing the Data Docs", len(plans), total)
            docs_dir = Path(docs_dir).resolve()
            docs_dir.mkdir(parents=True, exist_ok=True)
            context.add_data_docs_site(site_name=DOCS_SITE, site_config=data_docs.site_config(
                data_docs.__name__, str(docs_dir)))
            context.build_data_docs(site_names=[DOCS_SITE])
            docs_index = docs_dir / "index.html"
    step("checked", total, total)
    return outcomes, docs_index


def _outcome_of(rule: Rule, item: Any) -> Outcome:
    """A Great Expectations result as an Outcome."""
    info = item.exception_info or {}
    problems = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for problem in problems:
        if problem.get("raised_exception"):
            message = str(problem.get("exception_message") or "error").splitlines()[0]
            return Outcome(False, observed=f"could not be checked: {message}")
    result = item.result or {}
    success = bool(item.success)
    if rule.kind == "exists":
        return Outcome(success, observed=None if success else "column not found")
    if rule.kind == "sum_at_least":
        return Outcome(success, observed=_count_found(rule, result.get("observed_value")))
    counts = result.get("partial_unexpected_counts")
    values = [c["value"] for c in counts] if counts else result.get("partial_unexpected_list") or []
    failing = result.get("unexpected_count")
    return Outcome(success, int(failing) if failing is not None else None, _examples(values, rule))


def _count_found(rule: Rule, total: Any) -> str:
    total = 0 if total is None else int(total)
    found = f"found {total:,} {rule.params['what']}, {rule.params['min_value']} needed"
    short = int(rule.params["min_value"]) - total
    return found + (f": {short:,} more" if short > 0 else "")