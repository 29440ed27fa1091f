"""Matching the spec's ideal customer on model rows, and how matching leads converted."""

import numpy as np
import pandas as pd

from features.ideal_customer import IdealCustomer, conversion_words
from features.spec import DatasetSpec
from features.transform import LeadTransform

SPEC = {"name": "t", "leads": {"file": "leads", "id": "id", "label": "won", "categorical": ["industry"],
                               "numeric": ["employees"], "yes_no": ["opt_in"]},
        "category_aliases": {"industry": {"fin services": "financial services"}}}


def transform_and_spec(stated):
    spec = DatasetSpec.model_validate({**SPEC, "ideal_customer": stated})
    leads = pd.DataFrame({"industry": ["software"] * 20 + ["financial services"] * 20 + ["retail"] * 20 + ["mining"],
                          "employees": [100.0] * 61, "opt_in": [1.0] * 61})
    return LeadTransform.fit(spec, leads), spec


def test_every_stated_column_must_match_and_missing_never_does():
    transform, spec = transform_and_spec({"industry": ["Software", "Fin Services"], "employees": {"min": 50, "max": 500},
                                          "opt_in": True})
    ideal = IdealCustomer.of(spec, transform)
    leads = [{"industry": "SOFTWARE ", "employees": 50, "opt_in": "yes"},      # bounds included, spelling cleaned
             {"industry": "financial services", "employees": 500, "opt_in": "y"},  # an alias
             {"industry": "Retail", "employees": 100, "opt_in": "yes"},
             {"industry": "Software", "employees": 501, "opt_in": "yes"},
             {"industry": "Software", "employees": 100, "opt_in": "no"},
             {"industry": "Software", "employees": None, "opt_in": "yes"},
             {"industry": None, "employees": 100, "opt_in": "yes"}]
    X = np.vstack([transform.transform_one(lead) for lead in leads])
    assert ideal.matches(X).tolist() == [True, True, False, False, False, False, False]
    assert ideal.matches(X[0]).tolist() == [True]


def test_a_value_too_rare_to_have_its_own_code_is_named_and_never_matches_other_rare_values():
    transform, spec = transform_and_spec({"industry": ["mining", "software"]})
    ideal = IdealCustomer.of(spec, transform)
    assert ideal.unmatchable == {"industry": ["mining"]}
    X = np.vstack([transform.transform_one({"industry": v}) for v in ("mining", "quarrying", "software")])
    assert ideal.matches(X).tolist() == [False, False, True]
    words = conversion_words(ideal.conversion(X, np.array([1, 0, 1])))
    assert "ideal_customer.industry: 'mining' never seen in training, or too rarely to be recognised" in words


def test_the_conversion_report_counts_matching_leads_against_the_rest():
    transform, spec = transform_and_spec({"industry": ["software"]})
    ideal = IdealCustomer.of(spec, transform)
    X = np.vstack([transform.transform_one({"industry": v}) for v in ["software"] * 100 + ["retail"] * 300])
    won = np.r_[np.ones(40), np.zeros(60), np.ones(30), np.zeros(270)]
    figures = ideal.conversion(X, won)
    assert (figures["matching"], figures["won_matching"], figures["rest"], figures["won_rest"]) == (100, 40, 300, 30)
    assert figures["won_rate_matching"] == 0.4 and figures["won_rate_rest"] == 0.1
    low, high = figures["difference_interval"]
    assert 0 < low < 0.3 < high
    assert conversion_words(figures) == ("ideal customer: 100 of 400 leads match; 40% of them bought, against 10% of "
                                         f"the other 300 (difference {low * 100:+.1f} to {high * 100:+.1f} points, "
                                         "95% interval: they convert better)")
    assert IdealCustomer.of(DatasetSpec.model_validate(SPEC), transform) is None
