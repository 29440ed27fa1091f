"""A lead with empty fields scores like a typical lead, not down whichever branch a tree chose.

The shape of the case that was reported: a web-shop export where `exit_rate` is always filled
and buying falls as it rises. LightGBM reads a value it never saw missing as 0, the lowest exit
rate of all, so a lead sent with no fields scored 0.998 with "exit rate not given" as a reason
for buying. Here `newsletter` is the opposite case: leads who skipped it bought more, so "not
answered" may honestly be a reason for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.examples import build_examples
from features.load import load_clean
from features.spec import DatasetSpec
from serving.scorer import LeadScorer
from tests.conftest import FAST_CONFIG
from training.config import TrainingConfig
from training.trainer import train_model


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    rng = np.random.default_rng(5)
    n = 4000
    exit_rate = rng.uniform(0.01, 0.2, n)
    pages = rng.integers(1, 40, n)
    region = rng.choice(["north", "south", "east", "west"], n)
    skipped = rng.random(n) < 0.3
    logit = -0.5 - 25 * (exit_rate - 0.1) + 0.04 * (pages - 20) + 1.0 * skipped + (region == "north") * 0.5
    won = rng.random(n) < 1 / (1 + np.exp(-logit))
    newsletter = np.where(skipped, "", np.where(rng.random(n) < 0.5, "Yes", "No"))
    folder = tmp_path_factory.mktemp("shop")
    pd.DataFrame({"session": np.arange(1, n + 1), "exit_rate": exit_rate.round(4), "pages": pages,
                  "region": region, "newsletter": newsletter, "bought": won.astype(int)}
                 ).to_csv(folder / "sessions.csv", index=False)
    spec = DatasetSpec.model_validate({
        "name": "shop", "data_dir": str(folder),
        "leads": {"file": "sessions.csv", "id": "session", "order_by": "session", "label": "bought",
                  "label_won": ["1"], "label_lost": ["0"], "categorical": ["region"],
                  "numeric": ["exit_rate", "pages"], "yes_no": ["newsletter"]},
    })
    _, tables, _ = load_clean(spec)
    examples = build_examples(spec, tables)
    scorers = {}
    for model in ("lightgbm", "logistic"):
        config = TrainingConfig.model_validate({**FAST_CONFIG, "candidates": [model]})
        result = train_model(spec, examples, tables.activities, config)
        bundle = result.bundle
        bundle.card, bundle.spec_yaml = {"version": model, "spec": "shop"}, spec.model_dump_json()
        scorers[model] = LeadScorer(bundle)
    return result, scorers, float(won.mean())


def test_training_learns_which_fields_it_never_saw_missing_and_which_missing_meant_buying(shop):
    result, _, _ = shop
    transform = result.bundle.transform
    assert set(transform.typical) == {"exit_rate", "pages", "region"}
    assert 0.09 < transform.typical["exit_rate"] < 0.12  # the median
    assert transform.missing_buys == ["newsletter"]


@pytest.mark.parametrize("model", ["lightgbm", "logistic"])
def test_a_lead_with_every_field_missing_scores_close_to_the_base_rate(shop, model):
    _, scorers, base_rate = shop
    scorer = scorers[model]
    [empty] = scorer.score_leads([{"session": "1"}], reasons=5)
    # not missing: the leads who skipped the newsletter bought more, so "not answered" lifts it
    [typical_answered] = scorer.score_leads([{"session": "1", "newsletter": "No"}], reasons=0)
    assert 0.5 * base_rate < empty["probability"] < 1.6 * base_rate
    [lowest_exit] = scorer.score_leads([{"session": "1", "exit_rate": 0.01}], reasons=0)
    assert lowest_exit["probability"] > empty["probability"] + 0.1  # a missing rate is not read as 0
    said = empty["reasons_for"] + empty["reasons_against"]
    assert not [r for r in said if r.startswith(("exit rate", "pages", "region"))]  # filled in: no reason
    assert "newsletter: not answered" in empty["reasons_for"]  # missingness itself went with buying
    assert empty["probability"] > typical_answered["probability"]


def test_one_lead_and_a_batch_fill_missing_fields_alike(shop):
    _, scorers, _ = shop
    scorer = scorers["lightgbm"]
    leads = [{"session": str(i), "exit_rate": [None, 0.05, "", 0.15][i % 4], "pages": [3, None][i % 2],
              "region": [None, "north", "mars"][i % 3]} for i in range(12)]
    batch = scorer.score_leads(leads, reasons=3)
    alone = [scorer.score_leads([lead], reasons=3)[0] for lead in leads]
    assert batch == alone
