"""The outcome report's computations: each stage's published promise against the deals sales
closed, outcomes by lead source and campaign, calibration and ranking over time, SQLs per week
against sales capacity, input drift, and the performance to expect from leads still open.

Pure functions over pandas DataFrames and numpy arrays (see `monitoring.report` for the inputs
and `build_report` for the report's keys). Imports only from `features`; `serving` and
`leadscore` read the score log and outcomes and call it.
"""

from monitoring.drift import PSI_DRIFT_THRESHOLD, feature_drift, population_stability_index
from monitoring.report import (
    MIN_CLOSED_TO_JUDGE,
    NOT_GIVEN,
    build_report,
    calibration_by_month,
    estimated_performance,
    expected_calibration_error,
    expected_roc_auc,
    leads_with_outcomes,
    mean_probability_by_week,
    outcomes_by_dimension,
    reliability_table,
    sales_capacity,
    stage_promise_checks,
    wilson_interval,
)

__all__ = [
    "MIN_CLOSED_TO_JUDGE", "NOT_GIVEN", "PSI_DRIFT_THRESHOLD", "build_report", "calibration_by_month",
    "estimated_performance", "expected_calibration_error", "expected_roc_auc", "feature_drift",
    "leads_with_outcomes", "mean_probability_by_week", "outcomes_by_dimension", "population_stability_index",
    "reliability_table", "sales_capacity", "stage_promise_checks", "wilson_interval",
]
