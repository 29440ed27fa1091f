"""Reading real CRM exports: CSV dialects and encodings detected, Excel workbooks, clear refusals."""

from __future__ import annotations

import datetime as dt

import pytest

from features.errors import DataError
from features.read import read_info, read_table
from features.spec import LeadsTable

FRENCH = ("lead_id;name;city;budget\n"
          "101;Élodie Durand;Besançon;1.200 €\n"
          "102;Agnès Lefèvre;Orléans;300 €\n"
          "103;José Núñez;Sète;à voir\n")


def leads_options(**keys) -> LeadsTable:
    return LeadsTable(file="leads", id="lead_id", **keys)


def test_a_semicolon_separated_windows_1252_export_reads_right_with_no_spec_key(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(FRENCH.encode("cp1252"))
    frame = read_table(path, "leads")
    assert list(frame.columns) == ["lead_id", "name", "city", "budget"]
    assert frame["name"].tolist() == ["Élodie Durand", "Agnès Lefèvre", "José Núñez"]
    assert frame["budget"].tolist() == ["1.200 €", "300 €", "à voir"]
    info = read_info(frame)
    assert (info.separator, info.encoding) == (";", "cp1252")
    assert info.describe(path) == "read leads.csv as ';'-separated cp1252"


def test_utf8_with_a_byte_order_mark_keeps_it_out_of_the_first_column_name(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(FRENCH.replace(";", ",").encode("utf-8-sig"))
    frame = read_table(path, "leads")
    assert list(frame.columns)[0] == "lead_id"
    assert frame["lead_id"].tolist() == ["101", "102", "103"]
    assert frame["city"].tolist() == ["Besançon", "Orléans", "Sète"]
    # Stating plain utf-8 for such a file reads it the same way.
    assert list(read_table(path, "leads", leads_options(encoding="utf-8")).columns)[0] == "lead_id"


@pytest.mark.parametrize("suffix, separator", [(".tsv", "\t"), (".txt", "|"), (".csv", "\t"), (".csv", "|")])
def test_tab_and_pipe_separated_files_are_detected(tmp_path, suffix, separator):
    path = tmp_path / f"leads{suffix}"
    path.write_text(FRENCH.replace(";", separator).replace("1.200 €", "1,200 €"), encoding="utf-8")
    frame = read_table(path, "leads")
    assert frame.shape == (3, 4)
    assert frame["budget"].tolist() == ["1,200 €", "300 €", "à voir"]


def test_a_quoted_field_may_hold_a_newline_and_the_separator(tmp_path):
    path = tmp_path / "activities.csv"
    rows = "".join(f'{i};web_visit;"Called back:\nsaid ""later; maybe"", budget 1,5k"\n' for i in range(50))
    path.write_text("lead_id;type;note\n" + rows, encoding="utf-8")
    frame = read_table(path, "activities")
    assert frame.shape == (50, 3)
    assert frame["note"].iloc[0] == 'Called back:\nsaid "later; maybe", budget 1,5k'
    assert read_info(frame).separator == ";"


def test_a_file_of_one_column_reads_as_one_column(tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text("lead_id\nL1\nL2\n", encoding="utf-8")
    assert read_table(path, "outcomes")["lead_id"].tolist() == ["L1", "L2"]


def test_a_stated_separator_and_encoding_win_over_detection(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes("a,b;c\n1,2;3\n".encode("utf-8"))
    frame = read_table(path, "leads", leads_options(separator=";", encoding="latin-1"))
    assert list(frame.columns) == ["a,b", "c"]


def test_a_wrong_stated_encoding_names_the_file_the_byte_the_likely_encoding_and_the_key(tmp_path):
    path = tmp_path / "leads.csv"
    data = FRENCH.encode("cp1252")
    path.write_bytes(data)
    with pytest.raises(DataError) as err:
        read_table(path, "leads", leads_options(encoding="utf-8"))
    message = str(err.value)
    assert "leads.csv" in message
    assert f"byte offset {data.index('É'.encode('cp1252'))} " in message
    assert "`leads.encoding: cp1252`" in message


def test_a_bad_byte_past_the_detection_sample_is_still_found_and_named(tmp_path):
    path = tmp_path / "activities.csv"
    text = "lead_id,type\n" + "".join(f"L{i},web_visit\n" for i in range(20_000)) + "L9,visite à Besançon\n"
    data = text.encode("cp1252")
    assert len(data) > 64 * 1024
    path.write_bytes(data)
    assert read_table(path, "activities")["type"].iloc[-1] == "visite à Besançon"  # detected late
    with pytest.raises(DataError) as err:
        read_table(path, "activities", leads_options(encoding="utf-8"))
    assert f"byte offset {data.index('à'.encode('cp1252'))} " in str(err.value)
    assert "`activities.encoding: cp1252`" in str(err.value)


def _workbook(path):
    from openpyxl import Workbook

    book = Workbook()
    first = book.active
    first.title = "Leads"
    first.append(["lead_id", "created", "score", "name", "note"])
    first.append([101, dt.datetime(2024, 1, 12), 1.5, "Élodie", None])
    first.append([102, dt.datetime(2024, 2, 3, 9, 30), 2, "Agnès", "call back"])
    second = book.create_sheet("Outcomes 2024")
    second.append(["lead_id", "outcome"])
    second.append([101, "won"])
    book.save(path)


def test_an_excel_export_reads_its_first_sheet_as_text(tmp_path):
    path = tmp_path / "leads.xlsx"
    _workbook(path)
    frame = read_table(path, "leads")
    assert list(frame.columns) == ["lead_id", "created", "score", "name", "note"]
    assert frame["lead_id"].tolist() == ["101", "102"]  # whole numbers as Excel shows them
    assert frame["created"].tolist() == ["2024-01-12 00:00:00", "2024-02-03 09:30:00"]
    assert frame["score"].tolist() == ["1.5", "2"]
    assert frame["note"].tolist() == ["", "call back"]
    assert read_info(frame).describe(path) == "read leads.xlsx, sheet 'Leads'"


def test_an_excel_sheet_can_be_named_in_the_spec(tmp_path):
    path = tmp_path / "crm.xlsx"
    _workbook(path)
    frame = read_table(path, "outcomes", leads_options(sheet="Outcomes 2024"))
    assert frame.to_dict("list") == {"lead_id": ["101"], "outcome": ["won"]}
    assert read_table(path, "outcomes", leads_options(sheet=1)).shape == (1, 2)


def test_an_unknown_sheet_is_refused_with_the_sheets_there_are(tmp_path):
    path = tmp_path / "crm.xlsx"
    _workbook(path)
    with pytest.raises(DataError) as err:
        read_table(path, "leads", leads_options(sheet="Leeds"))
    message = str(err.value)
    assert "crm.xlsx" in message and "'Leeds'" in message
    assert "'Leads', 'Outcomes 2024'" in message and "leads.sheet" in message


def test_unknown_file_types_and_missing_files_say_what_to_do(tmp_path):
    old_excel = tmp_path / "leads.xls"
    old_excel.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(DataError, match=r"unknown file type '\.xls'.*\.csv, \.tsv, \.txt, \.xlsx and \.parquet"):
        read_table(old_excel, "leads")
    with pytest.raises(DataError, match=r"the outcomes table is missing; check `outcomes.file`"):
        read_table(tmp_path / "outcomes.csv", "outcomes")


@pytest.mark.parametrize("word", ["Köln", "Müller", "Genève", "Curaçao", "déjà", "è"])
@pytest.mark.parametrize("rows", [10, 50])
def test_one_accented_word_among_ascii_rows_reads_as_windows_1252(tmp_path, word, rows):
    path = tmp_path / "leads.csv"
    body = f"0,{word},1\n" + "".join(f"{i},Rome,0\n" for i in range(1, rows))
    path.write_bytes(("id,city,won\n" + body).encode("cp1252"))
    frame = read_table(path, "leads")
    assert frame["city"].iloc[0] == word and read_info(frame).encoding == "cp1252"


def test_cyrillic_windows_1251_is_still_detected(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(("id;город\n" + "".join(f"{i};Москва Санкт-Петербург\n" for i in range(30))).encode("cp1251"))
    assert read_table(path, "leads")["город"].iloc[0] == "Москва Санкт-Петербург"


def test_utf8_text_with_one_windows_1252_line_is_refused_not_misread(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(("id,name\n" + "".join(f"{i},Café Société\n" for i in range(200))).encode()
                     + "201,Café\n".encode("cp1252"))
    with pytest.raises(DataError, match="mixes encodings"):
        read_table(path, "leads")


def test_a_trailing_separator_does_not_shift_the_columns_and_extra_values_are_refused(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("lead_id,created,industry\n101,2024-01-13,software,\n102,2024-01-14,retail\n")
    frame = read_table(path, "leads")
    assert frame["lead_id"].tolist() == ["101", "102"] and frame["industry"].tolist() == ["software", "retail"]
    path.write_text("lead_id,created,industry\n101,2024-01-13,software,oops\n")
    with pytest.raises(DataError, match="line 2 .* 4 fields but the header has 3"):
        read_table(path, "leads")


def test_excel_sep_line_and_mac_line_endings(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("sep=;\nid;name\n1;x\n")
    assert read_table(path, "leads").to_dict("list") == {"id": ["1"], "name": ["x"]}
    path.write_bytes(b"id;name;won\r1;x;1\r2;y;0\r")
    assert read_table(path, "leads").to_dict("list") == {"id": ["1", "2"], "name": ["x", "y"], "won": ["1", "0"]}


def test_utf16_without_a_mark_gets_the_right_advice(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes("id,name\n1,Zoë\n".encode("utf-16-le"))
    with pytest.raises(DataError, match="utf-16-le"):
        read_table(path, "leads", leads_options(encoding="utf-8"))


@pytest.mark.parametrize("index", [False, True])
@pytest.mark.parametrize("column", ["lead_id", "occurred_at", "value"])
def test_a_parquet_file_read_beside_a_column_read_alone_is_the_file_read_whole(tmp_path, index, column):
    """Batch scoring reads the activities' lead ids alone first; the rest of the file read beside
    them is the same table, columns in the file's order, as one read of the whole file (also
    with a pandas index stored in the file, and dictionary-encoded text)."""
    import pandas as pd

    from features.read import parquet_column, read_parquet_beside

    frame = pd.DataFrame({"lead_id": pd.Categorical(["L2", "L1", "L2", None]),
                          "occurred_at": pd.to_datetime(["2026-01-02", "2026-01-01", None, "2026-01-03"]),
                          "value": [1.5, None, 3.0, 4.0], "activity_type": ["web", "email", "web", " "]},
                         index=[10, 11, 12, 13] if index else None)
    path = tmp_path / "activities.parquet"
    frame.to_parquet(path, index=index)
    whole = read_table(path, "activities")
    beside = read_parquet_beside(path, "activities", parquet_column(path, "activities", column))
    pd.testing.assert_frame_equal(beside, whole)
    assert beside.attrs == whole.attrs
