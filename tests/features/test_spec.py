from pathlib import Path

import pytest

from features.errors import SpecError
from features.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "data" / "specs"


@pytest.mark.parametrize("name", ["demo_crm.yaml", "demo_crm_segments.yaml", "x_education.yaml"])
def test_shipped_specs_load(name):
    spec = load_spec(SPECS / name)
    assert spec.leads.id
    assert spec.profile_columns
    # columns sales fill in after contact are never model inputs
    assert not set(spec.leads.after_contact) & set(spec.profile_columns)


def test_x_education_excludes_the_sales_entered_columns():
    spec = load_spec(SPECS / "x_education.yaml")
    assert {"Tags", "Lead Quality", "Lead Profile", "Last Notable Activity"} <= set(spec.leads.after_contact)
    assert sum(c.startswith("Asymmetrique") for c in spec.leads.after_contact) == 4


def _write(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


BASE = """
name: t
leads:
  file: leads
  id: id
  label: converted
"""


def test_unknown_key_is_refused_naming_file_and_key(tmp_path):
    path = _write(tmp_path, BASE + "  categorcal: [a]\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert str(path) in message and "leads.categorcal" in message and "remove it" in message


def test_missing_required_key_is_named(tmp_path):
    path = _write(tmp_path, "name: t\nleads:\n  file: leads\n  label: y\n")
    with pytest.raises(SpecError, match=r"leads\.id` is required"):
        load_spec(path)


def test_a_column_with_two_roles_is_refused(tmp_path):
    path = _write(tmp_path, BASE + "  categorical: [a]\n  after_contact: [a]\n")
    with pytest.raises(SpecError, match="both leads.categorical and leads.after_contact"):
        load_spec(path)


def test_a_spec_without_any_outcome_is_refused(tmp_path):
    path = _write(tmp_path, "name: t\nleads:\n  file: leads\n  id: id\n")
    with pytest.raises(SpecError, match="neither an `outcomes` table nor `leads.label`"):
        load_spec(path)


def test_broken_yaml_and_missing_file_are_clear(tmp_path):
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(_write(tmp_path, "name: [unclosed\n"))
    with pytest.raises(SpecError, match="no such dataset spec file"):
        load_spec(tmp_path / "nope.yaml")


def test_not_a_fit_must_name_a_categorical_column(tmp_path):
    path = _write(tmp_path, BASE + "  not_a_fit:\n    product: [home edition]\n")
    with pytest.raises(SpecError, match="leads.not_a_fit.product: 'product' is not under leads.categorical"):
        load_spec(path)


def test_display_names_must_name_an_input_column_or_an_activity_type(tmp_path):
    flat = BASE + "  categorical: [Lead Origin]\n  numeric: [TotalVisits]\n  after_contact: [Tags]\n"
    spec = load_spec(_write(tmp_path, flat + "display_names:\n  TotalVisits: number of website visits\n"))
    assert spec.display_names == {"TotalVisits": "number of website visits"}
    for key, words in [("Totalvisits", "did you mean 'TotalVisits'"), ("Tags", "leads.after_contact"),
                       ("id", "leads.id"), ("Pricing View", "is not a column reasons mention")]:
        with pytest.raises(SpecError, match=f"display_names.{key}: .*{words}"):
            load_spec(_write(tmp_path, flat + f"display_names:\n  {key}: some words\n"))
    with pytest.raises(SpecError, match="the words are empty"):
        load_spec(_write(tmp_path, flat + "display_names:\n  TotalVisits: ' '\n"))


def test_with_an_event_log_other_display_names_are_activity_types():
    spec = load_spec(SPECS / "demo_crm.yaml").model_dump(mode="json", exclude={"source"})
    from features.spec import DatasetSpec

    named = DatasetSpec.model_validate({**spec, "display_names": {"webinar": "attended a webinar",
                                                                  "employee_count": "staff"}})
    assert named.display_names["webinar"] == "attended a webinar"
    with pytest.raises(ValueError, match="did you mean 'employee_count'"):
        DatasetSpec.model_validate({**spec, "display_names": {"employee_cont": "staff"}})


def test_time_keys_that_cannot_apply_or_are_not_days_are_refused_naming_the_key(tmp_path):
    import yaml

    from features.errors import SpecError
    from features.spec import load_spec

    flat = {"name": "flat", "leads": {"file": "leads.csv", "id": "id", "label": "won", "numeric": ["x"]}}
    for features, words in [({"season": True}, "features.season: true needs leads.created_at"),
                            ({"outcome_maturity_days": 30}, "features.outcome_maturity_days needs leads.created_at"),
                            ({"outcome_maturity_days": True}, "not a number of days from 0 to 3650"),
                            ({"outcome_maturity_days": -3}, "not a number of days from 0 to 3650"),
                            ({"outcome_maturity_days": 1e6}, "not a number of days from 0 to 3650")]:
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump({**flat, "features": features}))
        with pytest.raises(SpecError, match=words.replace("(", r"\(").replace(")", r"\)")):
            load_spec(path)


ICP_BASE = BASE + "  categorical: [industry]\n  numeric: [employees]\n  yes_no: [opt_in]\n  after_contact: [rating]\n"


@pytest.mark.parametrize("stated, message", [
    ("  rating: [hot]\n", "ideal_customer.rating: 'rating' is not a column under leads.categorical, numeric or yes_no"),
    ("  nope: [x]\n", "ideal_customer.nope: 'nope' is not a column under leads.categorical"),
    ("  industry: {min: 1}\n", "ideal_customer.industry: 'industry' is under leads.categorical; describe it as a list"),
    ("  employees: [10, 20]\n", "ideal_customer.employees: 'employees' is under leads.numeric; describe it as a range"),
    ("  employees: {min: 500, max: 50}\n", "min 500 is above max 50: swap them"),
    ("  employees: {}\n", "give min, max or both"),
    ("  opt_in: [yes]\n", "ideal_customer.opt_in: 'opt_in' is under leads.yes_no; describe it as true or false"),
    ("  industry: []\n", "ideal_customer.industry: the list is empty"),
    ("  employees: {min: 5, most: 9}\n", "ideal_customer.employees.most: Extra inputs are not permitted"),
    ("  industry: [software, N/A]\n", "ideal_customer.industry: 'N/A' is under missing_values"),
    ("  industry: [{a: 1}]\n", "describe it as a list of values"),
    ("  opt_in: 'yes'\n", "ideal_customer.opt_in: 'opt_in' is under leads.yes_no; describe it as true or false"),
])
def test_an_ideal_customer_is_described_by_each_column_in_its_own_form(tmp_path, stated, message):
    with pytest.raises(SpecError) as err:
        load_spec(_write(tmp_path, ICP_BASE + "ideal_customer:\n" + stated))
    assert message in str(err.value) and str(tmp_path) in str(err.value)


def test_an_ideal_customer_value_we_cannot_sell_to_is_refused(tmp_path):
    text = ICP_BASE + "  not_a_fit:\n    industry: [Home Users]\nideal_customer:\n  industry: [software, home users]\n"
    with pytest.raises(SpecError, match="ideal_customer.industry: 'home users' is under leads.not_a_fit.industry: a "
                                        "lead we cannot sell to is never our ideal customer"):
        load_spec(_write(tmp_path, text))


def test_an_ideal_customer_is_read_as_written(tmp_path):
    """One value without a list, YAML's unquoted yes and big numbers are the texts written; an
    empty key states nothing."""
    spec = load_spec(_write(tmp_path, ICP_BASE + "ideal_customer:\n  industry: [yes, 1234567, 2.5]\n"))
    assert spec.ideal_customer == {"industry": ["yes", "1234567", "2.5"]}
    assert load_spec(_write(tmp_path, ICP_BASE + "ideal_customer:\n  industry: software\n")).ideal_customer == \
        {"industry": ["software"]}
    assert load_spec(_write(tmp_path, ICP_BASE + "ideal_customer:\n")).ideal_customer == {}


def test_an_ideal_customer_in_every_form_loads(tmp_path):
    spec = load_spec(_write(tmp_path, ICP_BASE + "ideal_customer:\n  industry: [Software, fintech]\n"
                                      "  employees: {min: 50}\n  opt_in: true\n"))
    assert spec.ideal_customer["industry"] == ["Software", "fintech"]
    assert spec.ideal_customer["employees"].min == 50 and spec.ideal_customer["employees"].max is None
    assert spec.ideal_customer["opt_in"] is True


@pytest.mark.parametrize("column, where", [("regoin", "not a lead column of the spec"),
                                           ("visits", "under leads.numeric"),
                                           ("rating", "under leads.after_contact"),
                                           ("id", "the id, time or label column")])
def test_segment_by_names_a_categorical_column_or_is_refused_with_the_fix(tmp_path, column, where):
    path = _write(tmp_path, BASE + "  categorical: [region]\n  numeric: [visits]\n  after_contact: [rating]\n"
                  f"segment_by: {column}\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert str(path) in message and f"segment_by: {column!r} is {where}" in message
    assert "name one column under leads.categorical" in message


def test_segment_by_a_list_of_columns_is_refused_with_the_fix(tmp_path):
    path = _write(tmp_path, BASE + "  categorical: [region, source]\nsegment_by: [region, source]\n")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    message = str(err.value)
    assert str(path) in message and "key `segment_by`: segments come from one column, not a list (region, source)" in message
    assert "add a column that joins them" in message and "Value error" not in message


def test_the_segment_column_is_reported_by_without_being_listed_twice(tmp_path):
    spec = load_spec(_write(tmp_path, BASE + "  categorical: [region, source]\nsegment_by: region\nreport_by: [source]\n"))
    assert spec.segment_by == "region" and spec.report_dimensions == ["source", "region"]
    spec = load_spec(_write(tmp_path, BASE + "  categorical: [region]\nsegment_by: region\nreport_by: [region]\n"))
    assert spec.report_dimensions == ["region"]
    assert load_spec(_write(tmp_path, BASE + "  categorical: [region]\n")).report_dimensions == []
