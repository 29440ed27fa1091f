from pathlib import Path

import numpy as np
import pytest

from features.examples import build_examples
from features.leakage import leakage_report
from features.load import load_clean
from features.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
X_EDUCATION = ROOT.parent / "shared" / "data" / "x_education" / "Leads.csv"


def test_a_column_that_restates_the_label_is_flagged_and_noise_is_not():
    rng = np.random.default_rng(0)
    label = rng.random(2000) < 0.3
    report = {f.column: f for f in leakage_report(
        {"status_after_call": np.where(label, "closed", "lost"), "noise": rng.random(2000),
         "weak": label + rng.normal(0, 2, 2000)}, label)}
    assert report["status_after_call"].flagged and report["status_after_call"].auc == 1.0
    assert not report["noise"].flagged and not report["weak"].flagged


def test_a_column_that_is_perfect_wherever_filled_in_is_flagged():
    rng = np.random.default_rng(1)
    label = rng.random(3000) < 0.4
    filled = rng.random(3000) < 0.5
    tag = np.where(filled, np.where(label, "will buy", "not interested"), None)
    finding = leakage_report({"tag": tag}, label)[0]
    assert finding.auc < 0.95 <= finding.auc_where_filled and finding.flagged


@pytest.mark.skipif(not X_EDUCATION.exists(), reason=f"X Education export not found at {X_EDUCATION} (it lives outside this repository)")
def test_x_education_sales_entered_tags_are_flagged_when_not_excluded():
    spec = load_spec(ROOT / "data" / "specs" / "x_education.yaml")
    _, tables, _ = load_clean(spec)
    examples = build_examples(spec, tables)
    columns = {c: examples.leads[c] for c in [*spec.profile_columns, *spec.leads.after_contact]}
    report = leakage_report(columns, examples.label, after_contact=set(spec.leads.after_contact))
    flagged = {f.column for f in report if f.flagged}
    assert "Tags" in flagged
    assert not flagged - set(spec.leads.after_contact)  # no legitimate column is flagged
