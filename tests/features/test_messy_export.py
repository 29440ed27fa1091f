"""The demo CRM exported the way a European spreadsheet writes it trains the same model.

`;` separators, Windows-1252 text, day-first dates and activity ids written as floats (`101.0`),
with no extra spec key: the holdout ROC-AUC must match the clean export's within 0.001."""

from __future__ import annotations

import importlib.util

import pytest

from features.examples import build_examples
from features.load import load_clean
from features.spec import load_spec
from tests.conftest import DEMO_SPEC, FAST_CONFIG, ROOT
from training.config import TrainingConfig
from training.trainer import train_model


_script = importlib.util.spec_from_file_location("messy_export", ROOT / "scripts" / "messy_export.py")
_module = importlib.util.module_from_spec(_script)
_script.loader.exec_module(_module)
write_export = _module.write_export


@pytest.mark.slow
def test_a_messy_european_export_trains_the_same_model_as_the_clean_one(demo_crm_dir, tmp_path):
    spec = load_spec(DEMO_SPEC)
    config = TrainingConfig.model_validate(FAST_CONFIG)
    aucs = []
    for messy in (False, True):
        folder = tmp_path / ("messy" if messy else "clean")
        write_export(demo_crm_dir, folder, messy)
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
