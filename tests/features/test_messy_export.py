"""The demo CRM exported the way a European spreadsheet writes it trains the same model.

`;` separators, Windows-1252 text, day-first dates and activity ids written as floats (`101.0`),
with no extra spec key: the holdout ROC-AUC must match the clean export's within 0.001."""

from __future__ import annotations

import pandas as pd
import pytest

from features.examples import build_examples
from features.load import load_clean
from features.spec import load_spec
from tests.conftest import DEMO_SPEC, FAST_CONFIG
from training.config import TrainingConfig
from training.trainer import train_model


def _export(demo_crm_dir, folder, messy: bool):
    folder.mkdir()
    number = lambda ids: ids.astype(str).str.lstrip("L").astype("int64")  # noqa: E731 - numeric ids, as many CRMs
    for name in ("leads", "activities", "outcomes"):
        table = pd.read_parquet(demo_crm_dir / f"{name}.parquet")
        table["lead_id"] = number(table["lead_id"])
        if name == "leads":  # a value only Windows-1252 (not ASCII) can write
            table["country"] = table["country"].astype(object).replace({"Germany": "Deutschland (é)"})
        for column in ("created_at", "occurred_at", "closed_at"):
            if column in table:
                stamps = pd.to_datetime(table[column])
                table[column] = stamps.dt.strftime("%d/%m/%Y %H:%M:%S" if messy else "%Y-%m-%dT%H:%M:%S")
        if messy and name == "activities":
            table["lead_id"] = table["lead_id"].astype(float).map(lambda v: f"{v:.1f}")  # as Excel saves them
        if messy:
            table.to_csv(folder / f"{name}.csv", sep=";", index=False, encoding="cp1252")
        else:
            table.to_csv(folder / f"{name}.csv", index=False)
    return folder


@pytest.mark.slow
def test_a_messy_european_export_trains_the_same_model_as_the_clean_one(demo_crm_dir, tmp_path):
    spec = load_spec(DEMO_SPEC)
    config = TrainingConfig.model_validate(FAST_CONFIG)
    aucs = []
    for messy in (False, True):
        folder = _export(demo_crm_dir, tmp_path / ("messy" if messy else "clean"), messy)
        if messy:
            assert b";" in (folder / "leads.csv").read_bytes()[:200]
            with pytest.raises(UnicodeDecodeError):
                (folder / "leads.csv").read_text(encoding="utf-8")
        _, tables, _ = load_clean(spec, folder)
        assert tables.leads["country"].isin(["deutschland (é)"]).any()
        assert tables.activities["lead_id"].isin(tables.leads["lead_id"]).all()
        result = train_model(spec, build_examples(spec, tables), tables.activities, config)
        aucs.append(result.metrics["roc_auc"])
    assert abs(aucs[0] - aucs[1]) <= 0.001, aucs
