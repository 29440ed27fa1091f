"""The demo CRM exported the way a European spreadsheet writes it trains the same model.

`;` separators, Windows-1252 text, day-first dates and activity ids written as floats (`101.0`),
with no extra spec key: the checked tables and the training examples read from it are those of
the clean export, value for value, so training (deterministic on the same examples) gives the
same model. A day/month swap on some rows or activities dropped for their ids would show here
as a differing cell."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pandas as pd
import pytest

from features.examples import Examples, build_examples
from features.load import load_clean
from features.spec import load_spec
from tests.conftest import DEMO_SPEC, ROOT

_script = importlib.util.spec_from_file_location("messy_export", ROOT / "scripts" / "messy_export.py")
_module = importlib.util.module_from_spec(_script)
_script.loader.exec_module(_module)
write_export = _module.write_export


def test_a_messy_european_export_reads_as_the_same_tables_and_examples_as_the_clean_one(demo_crm_dir, tmp_path):
    spec = load_spec(DEMO_SPEC)
    read = {}
    for messy in (False, True):
        folder = tmp_path / ("messy" if messy else "clean")
        write_export(demo_crm_dir, folder, messy)
        if messy:
            assert b";" in (folder / "leads.csv").read_bytes()[:200]
            with pytest.raises(UnicodeDecodeError):
                (folder / "leads.csv").read_text(encoding="utf-8")
        _, tables, _ = load_clean(spec, folder)
        assert tables.leads["country"].isin(["deutschland (é)"]).any()
        read[messy] = tables, build_examples(spec, tables)
    (clean, clean_examples), (messy, messy_examples) = read[False], read[True]
    for name in ("leads", "activities", "outcomes"):
        pd.testing.assert_frame_equal(getattr(messy, name), getattr(clean, name), check_exact=True, obj=name)
    assert len(messy.activities) == len(pd.read_parquet(demo_crm_dir / "activities.parquet"))  # none dropped
    for field in dataclasses.fields(Examples):  # every part training reads: rows, labels, snapshots
        mine, theirs = getattr(messy_examples, field.name), getattr(clean_examples, field.name)
        if isinstance(theirs, pd.DataFrame):
            pd.testing.assert_frame_equal(mine, theirs, check_exact=True, obj=field.name)
        elif isinstance(theirs, np.ndarray):
            assert np.array_equal(mine, theirs), field.name
        else:
            assert mine == theirs, field.name
    assert messy_examples.age_days is not None and len(messy_examples) > messy.leads["lead_id"].nunique()
