"""Real exports are read exactly right, or refused with the exact reason (issue examples)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.load import CLOSED_AT, CREATED_AT, LEAD_ID, load_clean, outcome_rows
from features.spec import DatasetSpec
from features.transform import LeadTransform
from features.validation import validate_tables, write_rejects

NOW = pd.Timestamp("2026-11-30")


def spec_of(folder, **outcomes) -> DatasetSpec:
    return DatasetSpec.model_validate({
        "name": "export-test", "data_dir": str(folder),
        "leads": {"file": "leads.csv", "id": "lead_id", "created_at": "created", "categorical": ["industry"],
                  "numeric": ["employee_count"]},
        "outcomes": {"file": "outcomes.csv", "lead_id": "lead_id", "outcome": "outcome", "closed_at": "closed",
                     **outcomes},
    })


def write(folder, name: str, text: str, encoding: str = "utf-8") -> None:
    (folder / name).write_bytes(text.encode(encoding))


def test_day_first_dates_are_read_day_first_in_every_column_with_no_spec_key(tmp_path):
    write(tmp_path, "leads.csv", "lead_id;created;industry;employee_count\nL1;12/01/2024;software;10\n"
                                 "L2;13/01/2024;software;20\n")
    write(tmp_path, "outcomes.csv", "lead_id;outcome;closed\nL1;won;13/01/2024\nL2;lost;02/03/2024\n")
    _, canonical, _ = load_clean(spec_of(tmp_path))
    assert canonical.leads[CREATED_AT].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-12", "2024-01-13"]
    assert canonical.outcomes[CLOSED_AT].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-13", "2024-03-02"]


def test_an_ambiguous_column_takes_the_day_first_order_the_rest_of_the_export_shows(tmp_path):
    write(tmp_path, "leads.csv", "lead_id;created;industry;employee_count\nL1;12/01/2024;software;10\n"
                                 "L2;13/01/2024;software;20\n")
    write(tmp_path, "outcomes.csv", "lead_id;outcome;closed\nL1;won;02/03/2024\nL2;lost;04/03/2024\n")
    _, canonical, _ = load_clean(spec_of(tmp_path))
    assert canonical.outcomes[CLOSED_AT].dt.strftime("%Y-%m-%d").tolist() == ["2024-03-02", "2024-03-04"]
    assert "like created" in canonical.readings["outcomes"]["closed"].how


def test_an_ambiguous_date_column_fails_validation_naming_column_examples_and_dayfirst(tmp_path):
    write(tmp_path, "leads.csv", "lead_id;created;industry;employee_count\nL1;12/01/2024;software;10\n"
                                 "L2;01/02/2024;software;20\n")
    write(tmp_path, "outcomes.csv", "lead_id;outcome;closed\nL1;won;2024-03-01\nL2;lost;2024-03-02\n")
    spec = spec_of(tmp_path)
    cleaned, canonical, _ = load_clean(spec)
    report = validate_tables(spec, cleaned, canonical, now=NOW)
    failure = next(f for f in report.failures if f.column == "created")
    assert "ambiguous" in failure.rule and "leads.dayfirst" in failure.rule
    assert set(failure.examples) == {"12/01/2024", "01/02/2024"}  # raw text, never a parsed guess
    stated = spec.model_copy(update={"leads": spec.leads.model_copy(update={"dayfirst": True})})
    _, canonical, _ = load_clean(stated)
    assert canonical.leads[CREATED_AT].dt.strftime("%Y-%m-%d").tolist() == ["2024-01-12", "2024-02-01"]


def test_infinite_numbers_fail_validation_with_their_raw_text(tmp_path):
    write(tmp_path, "leads.csv", "lead_id,created,industry,employee_count\nL1,2024-01-12,software,inf\n"
                                 "L2,2024-01-13,software,1e400\nL3,2024-01-14,software,12\n")
    write(tmp_path, "outcomes.csv", "lead_id,outcome,closed\nL1,won,2024-03-01\n")
    spec = spec_of(tmp_path)
    cleaned, canonical, _ = load_clean(spec)
    assert canonical.leads["employee_count"].isna().tolist() == [True, True, False]  # never a number
    report = validate_tables(spec, cleaned, canonical, now=NOW)
    failure = next(f for f in report.failures if f.column == "employee_count")
    assert failure.failing == 2 and set(failure.examples) == {"inf", "1e400"}


def _activity_export(folder, ids: list[str]) -> DatasetSpec:
    folder.mkdir()
    write(folder, "leads.csv", "lead_id,created,industry,employee_count\n101,2024-01-01,software,10\n"
                               "102,2024-01-02,retail,20\n")
    rows = "".join(f"{i},2024-01-{10 + k:02d}T10:00:00,pricing_view\n" for k, i in enumerate(ids))
    write(folder, "activities.csv", "lead_id,occurred_at,activity_type\n" + rows)
    write(folder, "outcomes.csv", "lead_id,outcome,closed\n101,won,2024-03-01\n")
    return DatasetSpec.model_validate({
        "name": "export-test", "data_dir": str(folder),
        "leads": {"file": "leads.csv", "id": "lead_id", "created_at": "created", "categorical": ["industry"],
                  "numeric": ["employee_count"]},
        "activities": {"file": "activities.csv", "lead_id": "lead_id", "time": "occurred_at",
                       "type": "activity_type", "high_intent": ["pricing_view"]},
        "outcomes": {"file": "outcomes.csv", "lead_id": "lead_id", "outcome": "outcome", "closed_at": "closed"},
    })


def test_activity_ids_written_as_floats_give_the_same_features_as_integers(tmp_path):
    rows = []
    for name, ids in (("ints", ["101", "101", "102"]), ("floats", ["101.0", "101.0", "102.0"])):
        spec = _activity_export(tmp_path / name, ids)
        cleaned, canonical, _ = load_clean(spec)
        report = validate_tables(spec, cleaned, canonical, now=NOW)
        assert not any(f.column == "lead_id" for f in report.failures), report.summary()
        transform = LeadTransform.fit(spec, canonical.leads, canonical.activities, min_category_count=1)
        as_of = np.full(2, np.datetime64("2024-02-01", "ns"))
        rows.append(transform.transform_frame(canonical.leads, canonical.activities, as_of))
    np.testing.assert_array_equal(rows[0], rows[1])
    names = LeadTransform.fit(spec, canonical.leads, canonical.activities, min_category_count=1).names
    counts = rows[1][:, names.index("n_pricing_view_90d")]
    assert counts.tolist() == [2.0, 1.0]  # every activity found its lead


def test_unmatched_activities_above_the_share_fail_naming_the_table_and_cause(tmp_path):
    spec = _activity_export(tmp_path / "x", ["101", "999", "998"])
    cleaned, canonical, _ = load_clean(spec)
    report = validate_tables(spec, cleaned, canonical, now=NOW)
    failure = next(f for f in report.failures if f.table == "activities" and f.column == "lead_id")
    assert "different ids" in failure.rule and "max_unmatched_share" in failure.rule
    assert failure.failing == 2 and set(failure.examples) == {"999", "998"}
    assert any("match no lead" in note for note in report.notes)


def test_a_list_of_won_deals_makes_old_absent_leads_lost(tmp_path):
    leads = "".join(f"L{i},2024-01-{1 + i:02d},software,{i}\n" for i in range(20))
    write(tmp_path, "leads.csv", "lead_id,created,industry,employee_count\n" + leads)
    write(tmp_path, "outcomes.csv", "lead_id,closed\nL0,2024-01-05\nL3,2024-01-09\n")
    spec = DatasetSpec.model_validate({
        "name": "won-list", "data_dir": str(tmp_path),
        "leads": {"file": "leads.csv", "id": "lead_id", "created_at": "created", "categorical": ["industry"]},
        "outcomes": {"file": "outcomes.csv", "lead_id": "lead_id", "closed_at": "closed",
                     "absent_lost_after_days": 10},
    })
    _, canonical, _ = load_clean(spec)
    rows = outcome_rows(canonical).set_index(LEAD_ID)
    assert rows.loc[["L0", "L3"], "won"].tolist() == [1.0, 1.0]
    # The export ends 2024-01-20 (the latest time in it): leads created by 2024-01-10 and absent are lost.
    lost = sorted(rows.index[rows["won"] == 0.0])
    assert lost == sorted(f"L{i}" for i in range(10) if i not in (0, 3))
    assert "L15" not in rows.index  # younger than 10 days: still open


def test_invalid_rows_are_refused_by_default_and_dropped_to_a_rejects_file_when_asked(tmp_path):
    leads = "".join(f"L{i},2024-03-01,software,{i}\n" for i in range(1, 31))
    write(tmp_path, "leads.csv", "lead_id,created,industry,employee_count\n" + leads)
    outcomes = "".join(f"L{i},lost,2024-04-01\n" for i in range(2, 31))
    write(tmp_path, "outcomes.csv", "lead_id,outcome,closed\nL1,won,2024-01-02\n" + outcomes)
    spec = spec_of(tmp_path)
    cleaned, canonical, _ = load_clean(spec)
    report = validate_tables(spec, cleaned, canonical, now=NOW)
    failure = next(f for f in report.failures if f.column == "closed")
    assert "not before" in failure.rule and "created 2024-03-01" in failure.examples[0]
    assert "drop_invalid_rows" in report.conclusion()

    dropping = spec.model_copy(update={"drop_invalid_rows": True})
    cleaned, canonical, _ = load_clean(dropping)
    report = validate_tables(dropping, cleaned, canonical, now=NOW)
    assert not any(f.column == "closed" for f in report.failures)
    assert canonical.outcomes[LEAD_ID].tolist() == [f"L{i}" for i in range(2, 31)]
    assert any("dropped 1 invalid outcomes rows" in note for note in report.notes)
    (path,) = write_rejects(report, tmp_path / "rejects").values()
    rejected = pd.read_csv(path)
    assert rejected["lead_id"].tolist() == ["L1"] and "not before" in rejected["rejected because"][0]


@pytest.mark.parametrize("order,expected", [
    (["3", "1", "2"], [3.0, 1.0, 2.0]),
    (["2024-03-01", "2024-01-01", "2024-02-01"], None),
    (["March", "january", "Feb"], [3.0, 1.0, 2.0]),
])
def test_order_by_may_be_numbers_times_or_month_names(tmp_path, order, expected):
    rows = "".join(f"L{i},{o},software,{i % 2}\n" for i, o in enumerate(order))
    write(tmp_path, "leads.csv", "lead_id,month,industry,converted\n" + rows)
    spec = DatasetSpec.model_validate({
        "name": "flat", "data_dir": str(tmp_path),
        "leads": {"file": "leads.csv", "id": "lead_id", "order_by": "month", "categorical": ["industry"],
                  "label": "converted"},
    })
    _, canonical, _ = load_clean(spec)
    values = canonical.leads["_order"].to_numpy()
    assert not np.isnan(values).any()
    assert np.argsort(values).tolist() == [1, 2, 0]
    if expected is not None:
        assert values.tolist() == expected


def test_no_id_column_uses_the_row_number(tmp_path):
    write(tmp_path, "leads.csv", "industry,converted\nsoftware,1\nretail,0\n")
    spec = DatasetSpec.model_validate({
        "name": "flat", "data_dir": str(tmp_path),
        "leads": {"file": "leads.csv", "id": "row_number", "categorical": ["industry"], "label": "converted"},
    })
    _, canonical, _ = load_clean(spec)
    assert canonical.leads[LEAD_ID].tolist() == ["1", "2"]


def test_dropping_invalid_rows_never_hides_a_wrong_export(tmp_path):
    """Activities whose ids match no lead at all are refused, drop_invalid_rows or not; and
    no more than 5% of a table is ever dropped."""
    spec = _activity_export(tmp_path / "x", ["L-1", "L-2", "L-3"])
    dropping = spec.model_copy(update={"drop_invalid_rows": True})
    cleaned, canonical, _ = load_clean(dropping)
    report = validate_tables(dropping, cleaned, canonical, now=NOW)
    assert any(f.table == "activities" and f.column == "lead_id" for f in report.failures)
    assert len(canonical.activities) == 3

    write(tmp_path / "x", "outcomes.csv", "lead_id,outcome,closed\n101,won,2023-01-01\n102,lost,2023-01-01\n")
    cleaned, canonical, _ = load_clean(dropping)
    report = validate_tables(dropping, cleaned, canonical, now=NOW)
    assert any("would drop 2 of 2 outcomes rows" in note for note in report.notes)
    assert any(f.column == "closed" for f in report.failures) and len(canonical.outcomes) == 2
