"""Read an exam-bank file into sheets of text cells, as a person sees them in Excel or a text editor.

Every file becomes one or more ``Sheet``: cells as strings (``None`` when empty), numbered by the row a
spreadsheet would show (the header, when there is one, is row 1). Text files are decoded from UTF-8,
UTF-8 with BOM or GBK/GB18030; a large UTF-8 CSV is handed to DuckDB's reader untouched (the fast path),
anything else is parsed here. Excel cells are rendered with their number format (``0.1607`` formatted
``0.00%`` reads ``16.07%``) through openpyxl; workbooks over ``OPENPYXL_MAX_BYTES`` use calamine for
speed, where a number shows as its shortest form.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from studio.core import textio
from studio.core.errors import InputError

SUFFIXES = (".xlsx", ".xlsm", ".xls", ".csv", ".tsv", ".txt", ".json", ".jsonl")
OPENPYXL_MAX_BYTES = 8 * 1024 * 1024   # above this, calamine (about 7x faster, no number formats)
MAX_CELL_CHARS = 100_000                # a cell longer than this is not a question: refuse the file
SNIFF_BYTES = textio.SNIFF_BYTES
csv.field_size_limit(1 << 27)  # long cells are refused by MAX_CELL_CHARS with a clear message, not by csv


@dataclass
class Sheet:
    """One table of text cells. ``rows`` for parsed files; ``csv_path`` for the DuckDB fast path."""
    name: str
    ncols: int
    rows: list[tuple[int, list[str | None]]] = field(default_factory=list)  # (row number, cells)
    csv_path: str | None = None      # a UTF-8 file DuckDB reads itself
    delimiter: str = ","
    encoding: str = "utf-8"
    temp: bool = False               # csv_path is ours to delete
    header: bool | None = None       # True: row 0 holds field names (JSON keys); None: detect


@dataclass
class Workbook:
    file: str
    kind: str                        # xlsx | xls | csv | json
    encoding: str | None
    sheets: list[Sheet]

    def cleanup(self) -> None:
        for s in self.sheets:
            if s.temp and s.csv_path:
                try:
                    os.unlink(s.csv_path)
                except OSError:
                    pass


def read(path: str | Path, *, sheets: list[str] | None = None, display_name: str | None = None) -> Workbook:
    """Read a file into sheets; ``sheets`` picks workbook sheets by name (default: all)."""
    path = Path(path)
    name = display_name or path.name
    if not path.exists():
        raise InputError("no such file", file=name)
    if path.is_dir():
        raise InputError("is a folder, not a file", file=name)
    size = path.stat().st_size
    if size == 0:
        raise InputError("the file is empty (0 bytes)", file=name)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"unsupported file type {suffix or '(none)'}; use one of "
                         ".xlsx .xls .csv .tsv .json .jsonl", file=name)
    if suffix in (".xlsx", ".xlsm"):
        book = _read_xlsx(path, name, size)
    elif suffix == ".xls":
        book = _read_calamine(path, name, "xls")
    elif suffix in (".json", ".jsonl"):
        book = _read_json(path, name)
    else:
        book = _read_text_table(path, name, "\t" if suffix == ".tsv" else None)
    if sheets:
        known = [s.name for s in book.sheets]
        missing = [s for s in sheets if s not in known]
        if missing:
            raise InputError(f"no sheet named {', '.join(map(repr, missing))} (sheets: {', '.join(known)})",
                             file=name)
        book.sheets = [s for s in book.sheets if s.name in sheets]
    return book


def sheet_names(path: str | Path) -> list[str]:
    """The sheet names of a workbook (one unnamed sheet for text files)."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        try:
            from python_calamine import CalamineWorkbook

            return list(CalamineWorkbook.from_path(str(path)).sheet_names)
        except Exception as err:  # noqa: BLE001 - any reader failure is a bad file
            raise InputError(f"not a readable workbook ({_short(err)})", file=path.name) from None
    return [""]


# ---------------------------------------------------------------- Excel

def _read_xlsx(path: Path, name: str, size: int) -> Workbook:
    if not zipfile.is_zipfile(path):
        raise InputError("not a valid .xlsx workbook (the file is not a zip archive: "
                         "a different format renamed .xlsx?)", file=name)
    if size > OPENPYXL_MAX_BYTES:
        return _read_calamine(path, name, "xlsx")
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, data_only=True, read_only=False)
    except Exception as err:  # noqa: BLE001
        raise InputError(f"not a readable .xlsx workbook ({_short(err)})", file=name) from None
    out = []
    try:
        for ws in wb.worksheets:
            rows = []
            ncols = 0
            for row in ws.iter_rows():
                cells = [_excel_text(c.value, c.number_format) for c in row]
                while cells and cells[-1] is None:
                    cells.pop()
                if not cells:
                    continue
                rows.append((row[0].row, cells))
                ncols = max(ncols, len(cells))
            _check_cells(rows, name, ws.title)
            out.append(Sheet(ws.title, ncols, rows))
    finally:
        wb.close()
    return Workbook(name, "xlsx", None, out)


def _read_calamine(path: Path, name: str, kind: str) -> Workbook:
    try:
        from python_calamine import CalamineWorkbook

        wb = CalamineWorkbook.from_path(str(path))
        out = []
        for sheet_name in wb.sheet_names:
            data = wb.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
            rows, ncols = [], 0
            for i, raw in enumerate(data, start=1):
                cells = [_excel_text(v, "General") for v in raw]
                while cells and cells[-1] is None:
                    cells.pop()
                if cells:
                    rows.append((i, cells))
                    ncols = max(ncols, len(cells))
            _check_cells(rows, name, sheet_name)
            out.append(Sheet(sheet_name, ncols, rows))
    except InputError:
        raise
    except Exception as err:  # noqa: BLE001
        raise InputError(f"not a readable .{kind} workbook ({_short(err)})", file=name) from None
    return Workbook(name, kind, None, out)


_DECIMALS = re.compile(r"0\.(0+)")


def _excel_text(value, fmt: str | None) -> str | None:
    """A cell value as Excel displays it (the common number formats; dates as ISO dates)."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return text or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (int, float)):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            return None
        fmt = (fmt or "General").split(";")[0]
        m = _DECIMALS.search(fmt)
        places = len(m.group(1)) if m else 0
        if "%" in fmt:
            return f"{value * 100:.{places}f}%"
        if fmt not in ("General", "@") and ("0" in fmt or "#" in fmt):
            text = f"{value:,.{places}f}" if "," in fmt else f"{value:.{places}f}"
            return text
        return _general_number(value)
    return str(value)


def _general_number(value) -> str:
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


def _check_cells(rows, name: str, sheet: str | None) -> None:
    for row_no, cells in rows:
        for c in cells:
            if c is not None and len(c) > MAX_CELL_CHARS:
                raise InputError(f"a cell of {len(c):,} characters (over {MAX_CELL_CHARS:,}): "
                                 "not an exam bank, or a broken file", file=name, sheet=sheet or None, row=row_no)


# ---------------------------------------------------------------- text

def detect_encoding(path: Path, name: str) -> str:
    """utf-8-sig, utf-8, gb18030 (a superset of GBK) or a detected one, judged on the file's first megabyte."""
    with open(path, "rb") as f:
        return textio.detect(f.read(SNIFF_BYTES), name)


def _sniff_delimiter(text: str) -> str:
    lines = [l for l in text.splitlines()[:50] if l.strip()]
    if not lines:
        return ","
    best, score = ",", -1
    for d in (",", "\t", ";", "|"):
        counts = [len(next(csv.reader([l], delimiter=d))) for l in lines[:20]]
        # the delimiter that splits most lines into the same number (>1) of fields
        common = max(set(counts), key=counts.count)
        s = counts.count(common) * (common > 1) * 1000 + common
        if s > score:
            best, score = d, s
    return best


FAST_PATH_BYTES = 4 * 1024 * 1024   # UTF-8 CSVs above this are read by DuckDB itself


def _read_text_table(path: Path, name: str, delimiter: str | None) -> Workbook:
    encoding = detect_encoding(path, name)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    head_text = head.decode(encoding if encoding != "utf-8-sig" else "utf-8-sig", errors="ignore")
    if not head_text.strip():
        raise InputError("the file holds no text", file=name)
    delimiter = delimiter or _sniff_delimiter(head_text)
    if size > FAST_PATH_BYTES:
        # DuckDB reads UTF-8 itself; other encodings are transcoded to a temporary UTF-8 file first
        csv_path, temp = str(path), False
        if encoding not in ("utf-8", "utf-8-sig"):
            csv_path, temp = _transcode(path, encoding, name), True
        first = next(csv.reader(io.StringIO(head_text), delimiter=delimiter), [])
        return Workbook(name, "csv", encoding,
                        [Sheet("", len(first), csv_path=csv_path, delimiter=delimiter, encoding=encoding, temp=temp)])
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as err:
        raise InputError(f"not valid {encoding} text at byte {err.start}", file=name) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    rows, ncols, header_fields = [], 0, None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for i, cells in enumerate(reader, start=1):
            cells = [c.strip() or None for c in cells]
            if header_fields is None and any(cells):
                header_fields = len(cells)
            while cells and cells[-1] is None:
                cells.pop()
            if cells:
                rows.append((i, cells, reader.line_num))
                ncols = max(ncols, len(cells))
    except csv.Error as err:
        raise InputError(f"malformed CSV at line {reader.line_num}: {err}", file=name) from None
    for i, cells, line in rows:
        if len(cells) > (header_fields or 0):
            raise InputError(f"line {line} has {len(cells)} fields where the first row has {header_fields} "
                             "(an unquoted delimiter inside a cell?); fix the file or quote that cell",
                             file=name)
    plain = [(i, cells) for i, cells, _ in rows]
    _check_cells(plain, name, None)
    return Workbook(name, "csv", encoding, [Sheet("", ncols, plain, delimiter=delimiter, encoding=encoding)])


def _transcode(path: Path, encoding: str, name: str) -> str:
    fd, out = tempfile.mkstemp(suffix=".csv", prefix="studio-exam-")
    try:
        with open(path, "r", encoding=encoding, newline="") as src, os.fdopen(fd, "w", encoding="utf-8", newline="") as dst:
            while chunk := src.read(1 << 22):
                dst.write(chunk)
    except UnicodeDecodeError as err:
        os.unlink(out)
        raise InputError(f"not valid {encoding} text ({_short(err)})", file=name) from None
    return out


# ---------------------------------------------------------------- JSON

def _read_json(path: Path, name: str) -> Workbook:
    encoding = detect_encoding(path, name)
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as err:
        raise InputError(f"not valid {encoding} text at byte {err.start}", file=name) from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise InputError("the file holds no text", file=name)
    records: list[tuple[int, object]] = []
    try:
        data = json.loads(text)
        if isinstance(data, dict):  # {"data": [...]} and the like: the first list of records
            data = next((v for v in data.values() if isinstance(v, list)), [data])
        if not isinstance(data, list):
            raise InputError("JSON holds neither a list of questions nor an object", file=name)
        records = [(i, r) for i, r in enumerate(data, start=1)]
    except json.JSONDecodeError:
        for i, line in enumerate(text.splitlines(), start=1):  # JSON Lines, whatever the suffix says
            if not line.strip():
                continue
            try:
                records.append((i, json.loads(line)))
            except json.JSONDecodeError as err:
                raise InputError(f"line {i} is not valid JSON ({err.msg})", file=name) from None
    keys: list[str] = []
    for _, r in records:
        if not isinstance(r, dict):
            continue
        for k in r:
            if k not in keys:
                keys.append(k)
    if not keys:
        raise InputError("no JSON objects with fields found", file=name)
    rows = [(0, list(keys))]
    for i, r in records:
        if not isinstance(r, dict):
            raise InputError("not a JSON object", file=name, row=i)
        rows.append((i, [_json_text(r.get(k)) for k in keys]))
    _check_cells(rows, name, None)
    return Workbook(name, "json", encoding, [Sheet("", len(keys), rows, header=True)])


def _json_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v.strip() or None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return _general_number(v)
    return json.dumps(v, ensure_ascii=False)


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:200]
