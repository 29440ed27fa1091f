import numpy as np
import pandas as pd
import pytest

from features.errors import DataError
from features.load import load_clean

from .conftest import raw_crm, write_csv


def test_cleaning_reads_placeholders_as_missing_and_merges_spellings(tmp_path, spec):
    tables = raw_crm(300, seed=1)
    tables["leads"] = pd.concat([tables["leads"], tables["leads"].iloc[:5]])  # exact duplicates
    write_csv(tmp_path, tables)
    cleaned, canonical, report = load_clean(spec, tmp_path)

    assert len(canonical.leads) == 300
    assert report.duplicate_rows_dropped["leads"] == 5
    industries = set(canonical.leads["industry"].dropna())
    assert industries <= {"software", "healthcare", "retail", "mining"}  # case, spaces, alias merged
    assert canonical.leads["industry"].isna().any()  # Select / empty became missing
    assert canonical.leads["employees"].dropna().isin([12, 250, 40, 1000, 7.5]).all()
    assert set(np.unique(canonical.leads["opt_in"].dropna())) == {0.0, 1.0}  # "maybe" is missing
    assert set(canonical.outcomes["won"].unique()) == {0.0, 1.0}  # "Lost" read as lost, case aside
    assert set(canonical.activities["activity_type"]) >= {"pricing_view", "chat"}
    assert any("placeholder" in line for line in report.lines())


def test_a_missing_column_names_the_column_the_spec_key_and_the_file(tmp_path, spec):
    tables = raw_crm(50, seed=2)
    tables["leads"] = tables["leads"].drop(columns=["source"])
    write_csv(tmp_path, tables)
    with pytest.raises(DataError) as err:
        load_clean(spec, tmp_path)
    message = str(err.value)
    assert "'source'" in message and "leads.categorical" in message and "leads.csv" in message


def test_a_missing_table_says_which_spec_key_to_fix(tmp_path, spec):
    tables = raw_crm(50, seed=3)
    del tables["outcomes"]
    write_csv(tmp_path, tables)
    with pytest.raises(DataError, match=r"outcomes table is missing; check `outcomes.file`"):
        load_clean(spec, tmp_path)


def test_fast_duplicate_dropping_keeps_what_pandas_keeps():
    import numpy as np
    import pandas as pd

    from features.load import drop_exact_duplicates

    rng = np.random.default_rng(5)
    n = 30_000
    frame = pd.DataFrame({
        "lead_id": pd.Categorical(rng.choice([f"L{i}" for i in range(500)], n)),
        "occurred_at": pd.to_datetime("2026-01-01") + pd.to_timedelta(rng.integers(0, 50, n), unit="h"),
        "activity_type": rng.choice(["pricing_view", "email_open", None], n),
        "value": rng.choice([0.0, -0.0, 1.5, np.nan], n),
    })
    frame = pd.concat([frame, frame.sample(3000, random_state=1)], ignore_index=True)  # exact copies
    expected = frame.drop_duplicates(ignore_index=True)
    got = drop_exact_duplicates(frame, small=0)
    assert len(got) < len(frame)
    pd.testing.assert_frame_equal(got, expected)


def test_fast_duplicate_dropping_takes_nullable_columns():
    import pandas as pd

    from features.load import drop_exact_duplicates

    frame = pd.DataFrame({"lead_id": [f"L{i % 7}" for i in range(60)],
                          "opt_in": pd.array([True, None, False] * 20, dtype="boolean"),
                          "visits": pd.array([1, None, 3, 4] * 15, dtype="Int64")})
    pd.testing.assert_frame_equal(drop_exact_duplicates(frame, small=0), frame.drop_duplicates(ignore_index=True))


def test_cleaning_keeps_each_categorys_most_common_spelling(tmp_path, spec):
    tables = raw_crm(300, seed=1)
    write_csv(tmp_path, tables)
    _, canonical, _ = load_clean(spec, tmp_path)
    raw = tables["leads"]["industry"]
    software = max(["Software", "software"], key=lambda s: (raw.str.strip().eq(s).sum(), s == "Software"))
    # "Helthcare" is merged in by an alias: not a way of writing healthcare
    assert canonical.spellings["industry"] == {"software": software, "healthcare": "HEALTHCARE",
                                               "retail": "Retail", "mining": "Mining"}
    assert canonical.spellings["source"] == {"web": "Web", "referral": "referral", "partner": "Partner",
                                             "event": "Event"}
