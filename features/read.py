"""Reading one table of a CRM export as it really is: CSV in any common dialect, Excel, Parquet.

A CSV file's encoding and separator are detected from its first 64 KiB, unless the spec states
them (`leads.encoding`, `leads.separator`); an Excel workbook is read from its first sheet, or
the one `leads.sheet` names. Every CSV and Excel cell comes back as text ("" when empty):
values are parsed later, by the one parser of their kind. Parquet keeps the types it stores.

Encoding: UTF-8 (a byte-order mark is dropped), else what charset_normalizer finds, preferring
Windows-1252 (what Excel writes in Western Europe and the Americas) whenever it reads the bytes
as well as the library's own first choice. A file that cannot be decoded is refused with the
byte offset of the first bad byte, the likely encoding and the spec key that fixes it.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from features.errors import DataError
from features.spec import SEPARATORS, TableFile

SAMPLE_BYTES = 64 * 1024
"""How much of a CSV file detection looks at; the file itself is read once, by pandas."""
_SNIFF_CHARS = 8 * 1024  # csv.Sniffer slows down sharply on longer text
_WINDOW_BYTES = 16 * 1024  # bytes either side of the first non-UTF-8 byte given to the detector
_TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
READABLE_SUFFIXES = (*_TEXT_SUFFIXES, ".xlsx", ".parquet")
"""The file types `read_table` reads."""
_READ = ".csv, .tsv, .txt, .xlsx and .parquet"
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# Without a byte-order mark these "decode" almost any even-length bytes: never a guess.
_NOT_GUESSED = ["utf_16", "utf_16_be", "utf_16_le", "utf_32", "utf_32_be", "utf_32_le", "utf_7"]
_WESTERN = "cp1252"


@dataclass(frozen=True)
class ReadInfo:
    """How a table's file was read: what was stated in the spec or detected."""

    separator: str | None = None  # CSV only
    encoding: str | None = None  # CSV only, a Python codec name
    sheet: str | None = None  # Excel only: the sheet's name

    def describe(self, path: Path) -> str:
        """'read leads.csv as ';'-separated cp1252', for a command to print."""
        if self.sheet is not None:
            return f"read {path.name}, sheet {self.sheet!r}"
        if self.separator is None:
            return f"read {path.name}"
        sep = "tab" if self.separator == "\t" else repr(self.separator)
        return f"read {path.name} as {sep}-separated {self.encoding}"


def read_info(frame: pd.DataFrame) -> ReadInfo | None:
    """The ReadInfo that `read_table` recorded on a frame (None for a frame from elsewhere)."""
    recorded = frame.attrs.get("read")
    return ReadInfo(**recorded) if isinstance(recorded, dict) else None


def read_table(path: Path, what: str, options: TableFile | None = None) -> pd.DataFrame:
    """Read one table (`what`: leads, activities or outcomes, the spec section naming it).

    How it was read is recorded as a plain dict in `frame.attrs["read"]` (see `read_info`)."""
    frame, info = read_table_info(path, what, options)
    frame.attrs["read"] = asdict(info)  # a dict, so that frame.to_parquet can still store attrs
    return frame


_GLOB = re.compile(r"[*?\[]")


def is_partitioned(path: Path | str) -> bool:
    """Whether a table path names several Parquet files: a folder or a glob (`table_files`)."""
    return bool(_GLOB.search(str(path))) or Path(path).is_dir()


def table_exists(path: Path | str) -> bool:
    """Whether a table path names something to read: a file, a folder, or a glob that matches."""
    return Path(path).exists() or (bool(_GLOB.search(str(path))) and any(_glob(Path(path))))


def _glob(path: Path) -> list[Path]:
    anchor = Path(path.anchor) if path.is_absolute() else Path(".")
    pattern = str(path.relative_to(anchor)) if path.is_absolute() else str(path)
    return [p for p in anchor.glob(pattern) if p.is_file()]


def _part_key(path: Path) -> list:
    """Natural order of part files (part.2 before part.10), as Spark and Dask number them."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def table_files(path: Path | str, what: str) -> tuple[Path, list[Path]]:
    """What a table path means: (the folder hive-style `key=value` subfolders are read from,
    the Parquet files in natural order). A file is itself; a folder holds `.parquet` files, at
    any depth (hive-style subfolders such as `country=IT/`); a glob (`*`, `?`, `[`) matches
    `.parquet` files. Files whose name starts with `_` or `.` (Spark's `_SUCCESS`, `_metadata`,
    checksums) are skipped as Spark and Dask skip them. Both the single-machine reader
    (`read_table`) and the Dask one (`features.partitions`) read exactly these files in this order.

    Raises DataError naming the path: a missing file or folder, a folder with no Parquet files,
    a glob matching nothing, a glob or folder holding other file types."""
    path = Path(path)
    if _GLOB.search(str(path)):
        matched = _glob(path)
        base = Path(*[part for part in path.parts[:next(i for i, part in enumerate(path.parts) if _GLOB.search(part))]])
        if not matched:
            raise DataError(f"{path}: the glob for the {what} table matches no file; check `{what}.file` in the "
                            "spec or --data (a folder of .parquet files, or a glob such as leads/*.parquet)")
    elif path.is_dir():
        base, matched = path, [p for p in path.rglob("*") if p.is_file()]
        if not any(p.suffix.lower() == ".parquet" for p in matched):
            raise DataError(f"{path}: the folder for the {what} table holds no .parquet files; a table may be one "
                            f"file ({_READ}) or a folder of .parquet files (as Spark and Dask write them)")
    else:
        if not path.exists():
            raise DataError(f"{path}: the {what} table is missing; check `{what}.file` and `data_dir` in the spec, "
                            "or pass --data")
        return path.parent, [path]
    files = [p for p in matched if not any(part.startswith(("_", ".")) for part in p.relative_to(base).parts)]
    other = [p for p in files if p.suffix.lower() != ".parquet"]
    if other:
        raise DataError(f"{path}: the {what} table's files must all be .parquet, but {other[0]} is not "
                        "(a table of several files is read as partitioned Parquet only)")
    if not files:
        raise DataError(f"{path}: the {what} table has no .parquet file to read (only hidden or _ files)")
    return base, _same_columns(sorted(files, key=_part_key), path, what)


def _kind(arrow_type) -> str:
    """The family of a Parquet column's type that the readers treat alike (int64 and float64
    are both numbers, string and large_string both text)."""
    import pyarrow as pa

    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "text"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "time"
    return "missing" if pa.types.is_null(t) else str(t)


def _same_columns(files: list[Path], path: Path | str, what: str) -> list[Path]:
    """`files` without the empty ones (zero rows: nothing to read, and a file written from an
    empty frame may have no columns at all), after checking from each file's footer that all
    hold the same columns, each of one kind. Without this, pyarrow reads a folder with the
    first file's columns: a column only later files have was dropped, and one missing from a
    later file read as empty, silently (found by trying a folder whose files differed).
    DataError names the two files and the column."""
    if len(files) < 2:
        return files
    import pyarrow.parquet as pq

    footers = []
    for file in files:
        try:
            footers.append((file, pq.read_metadata(file)))
        except Exception as exc:  # noqa: BLE001 - an unreadable file is a data problem to report
            raise DataError(f"{file}: not a readable Parquet file of the {what} table ({exc})") from None
    kept = [(f, m.schema.to_arrow_schema()) for f, m in footers if m.num_rows > 0] or \
        [(footers[0][0], footers[0][1].schema.to_arrow_schema())]
    first, schema = kept[0]
    columns = {n: _kind(schema.field(n).type) for n in schema.names if not n.startswith("__index_level_")}
    fix = "write every file of a table with the same columns, each with one type (or give the files as separate tables)"
    for file, other in kept[1:]:
        names = {n: _kind(other.field(n).type) for n in other.names if not n.startswith("__index_level_")}
        for name in columns.keys() - names.keys():
            raise DataError(f"{path}: the {what} table's files differ: {file} has no column {name!r}, which "
                            f"{first} has; {fix}")
        for name in names.keys() - columns.keys():
            raise DataError(f"{path}: the {what} table's files differ: {file} has a column {name!r} that "
                            f"{first} has not; {fix}")
        for name, kind in names.items():
            if kind != columns[name] and "missing" not in (kind, columns[name]):
                raise DataError(f"{path}: the {what} table's files differ: column {name!r} is {kind} in {file} "
                                f"but {columns[name]} in {first}; {fix}")
    return [f for f, _ in kept]


def column_order(files: list[Path]) -> list[str]:
    """The columns of a table's files (`table_files`) in the order the single-machine reader
    gives them: the first file's."""
    import pyarrow.parquet as pq

    return [n for n in pq.read_schema(files[0]).names if not n.startswith("__index_level_")]


def _read_parts(path: Path, what: str) -> pd.DataFrame:
    base, files = table_files(path, what)
    return read_parquet_files(base, files, path, what)


def read_parquet_files(base: Path, files: list[Path], path: Path | str, what: str) -> pd.DataFrame:
    """Parquet files (`table_files`) as one frame: pyarrow.dataset over them, hive partition
    columns (`key=value` folders under `base`) included, then pandas' own Parquet conversion
    (as `pd.read_parquet`). The single-machine path reads all a table's files at once; a
    cluster reads each file with this same function (`features.partitions`): `dask.dataframe.
    read_parquet` would give strings another dtype (pandas' `string` with pd.NA, not `str`
    with NaN: seen on the demo CRM with Dask 2026.8), so the parsers would see other values.
    DataError names `path` when pyarrow cannot read a file."""
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset([str(f) for f in files], format="parquet", partitioning="hive",
                             partition_base_dir=str(base))
        return parquet_frame(dataset.to_table())
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data problem to report
        raise DataError(f"{path}: could not read the {what} table's Parquet files: {exc}") from None


def parquet_frame(table) -> pd.DataFrame:
    """A pyarrow Table as pandas, converted as `pd.read_parquet` converts (strings to pandas'
    string dtype, pandas metadata honoured): the one conversion of Parquet data on both paths."""
    from pandas.io._util import arrow_table_to_pandas

    return arrow_table_to_pandas(table)


def read_table_info(path: Path, what: str, options: TableFile | None = None) -> tuple[pd.DataFrame, ReadInfo]:
    """`read_table`, returning how the file was read beside the frame. `path` may also be a
    folder or glob of Parquet files (`table_files`), read as one table."""
    path = Path(path)
    if is_partitioned(path):
        return _read_parts(path, what), ReadInfo()
    if not path.exists():
        raise DataError(f"{path}: the {what} table is missing; check `{what}.file` and `data_dir` "
                        f"in the spec, or pass --data")
    suffix = path.suffix.lower()
    if suffix in _TEXT_SUFFIXES:
        return _read_text(path, what, options)
    if suffix == ".xlsx":
        return _read_workbook(path, what, options)
    if suffix == ".parquet":
        try:
            return pd.read_parquet(path), ReadInfo()
        except Exception as exc:  # noqa: BLE001 - any reader failure is a data problem to report
            raise DataError(f"{path}: could not read the {what} table: {exc}") from None
    hint = "; save it as .xlsx or CSV from Excel" if suffix in (".xls", ".xlsm", ".xlsb", ".ods") else ""
    raise DataError(f"{path}: unknown file type {path.suffix!r}; leadscore reads {_READ}{hint}")


# ---------------------------------------------------------------------------------- CSV
def _read_text(path: Path, what: str, options: TableFile | None) -> tuple[pd.DataFrame, ReadInfo]:
    with open(path, "rb") as fh:
        sample = fh.read(SAMPLE_BYTES)
    whole = len(sample) < SAMPLE_BYTES
    if sample.startswith(b"PK\x03\x04"):
        raise DataError(f"{path}: the {what} table is an Excel workbook, not text: rename it to "
                        f"{path.with_suffix('.xlsx').name}")
    stated = options.encoding if options is not None else None
    encoding, presumed = _choose_encoding(path, what, sample, whole, stated)
    text = codecs.getincrementaldecoder(encoding)().decode(sample, final=whole)
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # old Mac Excel ends lines with CR only
    separator = options.separator if options is not None and options.separator else None
    skip = 0
    excel_hint = re.match(r"sep=(.)\n", text)  # Excel's "sep=;" first line names the separator
    if excel_hint is not None:
        separator, skip, text = separator or excel_hint.group(1), 1, text[excel_hint.end():]
    separator = separator or detect_separator(text, complete=whole)
    try:
        frame = _parse_csv(path, what, separator, encoding, stated_separator=bool(options and options.separator),
                           skip=skip)
    except UnicodeDecodeError:
        offset, bad = _first_bad_byte(path, encoding)
        if not presumed:  # stated or already detected: nothing else to try
            raise _decode_error(path, what, encoding, offset, bad, stated=stated is not None) from None
        # UTF-8 was presumed from a clean sample; the file changes later on. Detect there,
        # unless the sample already held UTF-8 accented letters (mixed encodings).
        mixed = _mixed_utf8(path, what, sample, offset, bad)
        if mixed is not None:
            raise mixed from None
        encoding = _detect_encoding(_window(path, offset)) or _WESTERN
        try:
            frame = _parse_csv(path, what, separator, encoding, stated_separator=bool(options and options.separator),
                               skip=skip)
        except UnicodeDecodeError:
            offset, bad = _first_bad_byte(path, encoding)
            raise _decode_error(path, what, encoding, offset, bad, stated=False) from None
    return frame, ReadInfo(separator=separator, encoding=encoding)


def _parse_csv(path: Path, what: str, separator: str, encoding: str, stated_separator: bool,
               skip: int = 0) -> pd.DataFrame:
    try:
        # Everything as text first: each kind of value has its own parser, applied later.
        # index_col=False: a row with a field too many must not turn the first column into the
        # index (every column would shift by one). pandas then drops the extra fields with a
        # warning: harmless when they are empty (a trailing separator), refused otherwise.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            frame = pd.read_csv(path, sep=separator, encoding=encoding, dtype=str, keep_default_na=False,
                                index_col=False, skiprows=skip)
        if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
            _refuse_extra_fields(path, what, separator, encoding, skip, frame.shape[1])
        return frame
    except (UnicodeDecodeError, DataError):
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the {what} table is empty: not even a header row") from None
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data problem to report
        sep = "tab" if separator == "\t" else repr(separator)
        how = "" if stated_separator else (f" (read as {sep}-separated, detected; if that is wrong, "
                                           f"set `{what}.separator` in the spec)")
        raise DataError(f"{path}: could not read the {what} table: {str(exc).strip()}{how}") from None


def _refuse_extra_fields(path: Path, what: str, separator: str, encoding: str, skip: int, width: int) -> None:
    """Raise naming the first row with a non-empty field beyond the header's columns."""
    with open(path, encoding=encoding, newline="") as fh:
        for number, row in enumerate(csv.reader(itertools.islice(fh, skip, None), delimiter=separator), start=skip + 1):
            if len(row) > width and any(field.strip() for field in row[width:]):
                raise DataError(f"{path}: line {number} of the {what} table has {len(row)} fields but the header "
                                f"has {width} columns ({row[width:][:3]} beyond them): a separator inside a value "
                                "that is not in double quotes, or a missing header name. Fix the export.")


def _choose_encoding(path: Path, what: str, sample: bytes, whole: bool,
                     stated: str | None) -> tuple[str, bool]:
    """(encoding, presumed): presumed is True when UTF-8 was taken only because the sample
    decodes as UTF-8, so a later bad byte may still call for detection."""
    if stated is not None:
        encoding = stated
        if codecs.lookup(stated).name == "utf-8" and sample.startswith(codecs.BOM_UTF8):
            encoding = "utf-8-sig"  # the BOM is not part of the first column's name
        bad = _first_bad_in(sample, encoding, whole)
        if bad is not None:
            raise _decode_error(path, what, encoding, *bad, stated=True)
        return encoding, False
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            bad = _first_bad_in(sample, encoding, whole)
            if bad is not None:
                raise _decode_error(path, what, encoding, *bad, stated=False)
            return encoding, False
    bad = _first_bad_in(sample, "utf-8", whole)
    if bad is None:
        return "utf-8", True
    offset = bad[0]
    mixed = _mixed_utf8(path, what, sample, *bad)
    if mixed is not None:
        raise mixed
    encoding = _detect_encoding(sample[max(0, offset - _WINDOW_BYTES): offset + _WINDOW_BYTES])
    if encoding is None:
        raise _decode_error(path, what, "utf-8", *bad, stated=False)
    bad = _first_bad_in(sample, encoding, whole)
    if bad is not None:
        raise _decode_error(path, what, encoding, *bad, stated=False)
    return encoding, False


def _detect_encoding(data: bytes) -> str | None:
    """A codec name for bytes that are not UTF-8, or None when nothing fits.

    Windows-1252 whenever it decodes the bytes, unless charset_normalizer reads them as a
    script other than Latin (Cyrillic, Greek, Hebrew, Arabic, Thai, East Asian): cp1252 is what
    Excel writes in Western Europe and the Americas, and on short accented Western text the
    library's first choice among Latin code pages is close to arbitrary (hp-roman8, cp775,
    cp1250, cp850, cp1257 for one accented name in 10 to 50 rows, tried in the review of this
    reader). Other Latin code pages (cp1250 for Polish or Czech) must be stated."""
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_exclusion=_NOT_GUESSED).best()
    if best is not None and _codec_name(best.encoding) in _OTHER_SCRIPTS:
        return _codec_name(best.encoding)
    try:
        data.decode(_WESTERN)
        return _WESTERN
    except UnicodeDecodeError:
        return _codec_name(best.encoding) if best is not None else None


_OTHER_SCRIPTS = {"cp1251", "koi8_r", "koi8_u", "iso8859_5", "mac_cyrillic", "cp866", "cp855", "cp1253",
                  "iso8859_7", "cp737", "cp1255", "iso8859_8", "cp862", "cp1256", "iso8859_6", "cp864",
                  "cp874", "tis_620", "big5", "big5hkscs", "gb2312", "gb18030", "gbk", "hz", "shift_jis",
                  "cp932", "euc_jp", "iso2022_jp", "euc_kr", "cp949", "johab", "cp1258"}
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _mixed_utf8(path: Path, what: str, data: bytes, offset: int, bad: bytes) -> DataError | None:
    """An error when text that is UTF-8 elsewhere (it has UTF-8 sequences for accented
    letters) has a byte that is not: an export that mixes encodings cannot be read whole by
    any one of them, so it is refused rather than decoded wrongly."""
    if not _UTF8_SEQUENCE.search(data):
        return None
    shown = " ".join(f"0x{b:02X}" for b in bad[:4])
    return DataError(f"{path}: the {what} table is UTF-8 text (accented letters written as UTF-8) but byte "
                     f"offset {offset} ({shown}) is not: the export mixes encodings. Save it again as UTF-8, "
                     f"or set `{what}.encoding` in the spec to the one encoding it is written in.")


def _codec_name(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "latin-1" if name == "iso8859-1" else name


def _first_bad_in(data: bytes, encoding: str, final: bool) -> tuple[int, bytes] | None:
    """Offset and bytes of the first undecodable sequence in `data` (a file's start), or None."""
    try:
        codecs.getincrementaldecoder(encoding)().decode(data, final=final)
    except UnicodeDecodeError as exc:
        return _offset_in(data, encoding, exc)
    return None


def _offset_in(data: bytes, encoding: str, exc: UnicodeDecodeError) -> tuple[int, bytes]:
    start = exc.start
    if codecs.lookup(encoding).name == "utf-8-sig" and data.startswith(codecs.BOM_UTF8):
        start += len(codecs.BOM_UTF8)  # utf-8-sig reports offsets after its BOM
    return start, exc.object[exc.start:exc.end]


def _first_bad_byte(path: Path, encoding: str) -> tuple[int, bytes]:
    """Scan a whole file for its first undecodable bytes (only after a decode failure)."""
    codec = "utf-8" if codecs.lookup(encoding).name == "utf-8-sig" else encoding  # BOM is valid UTF-8
    decoder = codecs.getincrementaldecoder(codec)()
    fed = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return fed - len(pending) + exc.start, exc.object[exc.start:exc.end]
            if not chunk:
                break
            fed += len(chunk)
    return fed, b""  # pandas failed where Python's codec does not: report the end


def _window(path: Path, offset: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(max(0, offset - _WINDOW_BYTES))
        return fh.read(2 * _WINDOW_BYTES)


def _decode_error(path: Path, what: str, encoding: str, offset: int, bad: bytes, stated: bool) -> DataError:
    shown = " ".join(f"0x{b:02X}" for b in bad[:4]) or "the end"
    how = f"as {encoding} (`{what}.encoding` in the spec)" if stated else f"as {encoding}"
    window = _window(path, offset)
    head = _window(path, 0)[:4096]
    if head.startswith(codecs.BOM_UTF8):
        found = "utf-8-sig"
    elif head.count(b"\x00") > len(head) // 4:  # every other byte zero: UTF-16 without a mark
        found = "utf-16-le" if head[1:2] == b"\x00" else "utf-16-be"
    else:
        found = _detect_encoding(window)
    if found is not None and codecs.lookup(found).name != codecs.lookup(encoding).name:
        fix = f"It looks like {found}: set `{what}.encoding: {found}` in the spec"
    else:
        fix = (f"Its encoding could not be detected: if it is a Windows export, set `{what}.encoding: "
               f"cp1252` in the spec (or `latin-1`, which reads any byte)")
    return DataError(f"{path}: could not read the {what} table {how}: byte offset {offset} ({shown}) "
                     f"is not {encoding} text. {fix} (or save the export as UTF-8).")


# ---------------------------------------------------------------------------------- separator
def detect_separator(text: str, complete: bool = True) -> str:
    """The field separator among , ; tab | of CSV text (the start of a file when not complete).

    csv.Sniffer's choice is kept when it splits every record of the sample into the header's
    number of columns (more than one); otherwise the candidate that does so most consistently,
    then the one giving more columns. A file of one column reads with ','."""
    shapes = {sep: _shape(text, sep, complete) for sep in SEPARATORS}
    try:
        sniffed = csv.Sniffer().sniff(_whole_lines(text[:_SNIFF_CHARS]), delimiters="".join(SEPARATORS)).delimiter
    except csv.Error:
        sniffed = None
    if sniffed in shapes and shapes[sniffed][0] == 1.0 and shapes[sniffed][1] > 1:
        return sniffed
    ranked = sorted((sep for sep in SEPARATORS if shapes[sep][1] > 1),
                    key=lambda sep: (-shapes[sep][0], -shapes[sep][1], SEPARATORS.index(sep)))
    return ranked[0] if ranked else ","


def _whole_lines(text: str) -> str:
    end = text.rfind("\n")
    return text[: end + 1] if end > 0 else text


def _shape(text: str, separator: str, complete: bool) -> tuple[float, int]:
    """(share of records with the header's column count, the header's column count)."""
    reader = csv.reader(io.StringIO(text), delimiter=separator)
    rows: list[list[str]] = []
    try:
        rows = [row for row in itertools.islice(reader, 2000) if row]
    except csv.Error:
        pass
    if not complete and len(rows) > 1:
        rows = rows[:-1]  # the sample may cut the last record short
    if not rows:
        return 1.0, 0
    width = len(rows[0])
    body = rows[1:]
    share = sum(len(row) == width for row in body) / len(body) if body else 1.0
    return share, width


# ---------------------------------------------------------------------------------- Excel
def _read_workbook(path: Path, what: str, options: TableFile | None) -> tuple[pd.DataFrame, ReadInfo]:
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except ImportError:
        raise DataError(f"{path}: reading .xlsx files needs openpyxl, a dependency of leadscore: "
                        "reinstall it (make install)") from None
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: could not read the {what} table as an Excel workbook: {exc}") from None
    with book:
        names = [str(name) for name in book.sheet_names]
        listed = ", ".join(map(repr, names))
        wanted = options.sheet if options is not None and options.sheet is not None else 0
        if isinstance(wanted, int) and not 0 <= wanted < len(names) and str(wanted) in names:
            wanted = str(wanted)  # `sheet: 2024` in YAML is a number, but meant the sheet "2024"
        if isinstance(wanted, int):
            if not 0 <= wanted < len(names):
                raise DataError(f"{path}: `{what}.sheet: {wanted}` asks for sheet number {wanted} "
                                f"(counting from 0) but the workbook has {len(names)}: {listed}. "
                                f"Set `{what}.sheet` to one of these names.")
            sheet = names[wanted]
        else:
            if wanted not in names:
                raise DataError(f"{path}: the workbook has no sheet {wanted!r}; its sheets are {listed}. "
                                f"Set `{what}.sheet` in the spec to one of them.")
            sheet = wanted
        try:
            # As text like a CSV: whole numbers as "101", dates as "2024-01-12 00:00:00", empty as "".
            frame = book.parse(sheet, dtype=str, keep_default_na=False)
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"{path}: could not read sheet {sheet!r} of the {what} table: {exc}") from None
    frame.columns = [str(column) for column in frame.columns]
    return frame, ReadInfo(sheet=sheet)


# ---------------------------------------------------------------------------------- Parquet, in part
def parquet_column(path: Path, what: str, column: str) -> pd.Series | None:
    """One column of a Parquet table as `read_table` would give it, read alone (a dictionary
    column stays categorical); None when the file has no such column."""
    import pyarrow.parquet as pq

    try:
        if column not in pq.read_schema(path).names:
            return None
        return pd.read_parquet(path, columns=[column])[column]
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data problem to report
        raise DataError(f"{path}: could not read the {what} table: {exc}") from None


def read_parquet_beside(path: Path, what: str, known: pd.Series) -> pd.DataFrame:
    """`read_table` of one Parquet file whose column `known.name` was already read alone
    (`parquet_column`): the other columns are read and `known` is put in its place, so that
    column is not decoded twice (batch scoring reads the activities' lead ids first to pick the
    rows it needs; on benchmarks/batch_score.py's 19.9M activities, reading that column alone
    takes about 3 s, which a second, whole read of the file paid again)."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        frame = pd.read_parquet(path, columns=[c for c in names if c != known.name])
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data problem to report
        raise DataError(f"{path}: could not read the {what} table: {exc}") from None
    if len(frame) != len(known) or not frame.index.equals(known.index):
        raise DataError(f"{path}: the {what} table changed while it was read ({len(known):,} rows of "
                        f"{known.name}, then {len(frame):,}); read it again once it is written")
    place = [c for c in names if c in frame.columns or c == known.name].index(known.name)
    frame.insert(place, known.name, known)
    frame.attrs["read"] = asdict(ReadInfo())
    return frame


def read_parquet_where(path: Path, what: str, column: str, values: list) -> pd.DataFrame:
    """`read_table` of a Parquet file, only the rows whose `column` holds one of `values` (as the
    file stores them), in file order: the filter is pushed down to pyarrow's reader, so the
    other rows never become pandas objects (scoring 10,000 new leads against a 20M-row activity
    log reads their few hundred thousand rows, not all 20M)."""
    try:
        frame = pd.read_parquet(path, filters=[(column, "in", values)])
    except Exception as exc:  # noqa: BLE001 - any reader failure is a data problem to report
        raise DataError(f"{path}: could not read the {what} table: {exc}") from None
    frame.attrs["read"] = asdict(ReadInfo())
    return frame
