"""Read an exam-bank file into sheets of text cells, as a person sees them in Excel or a text editor.

Every file becomes one or more ``Sheet``: cells as strings (``None`` when empty), numbered by the row a
spreadsheet would show (the header, when there is one, is row 1). Text files are decoded from UTF-8,
UTF-8 with BOM or GBK/GB18030; a large UTF-8 CSV is handed to DuckDB's reader untouched (the fast path),
anything else is parsed here. Excel cells are rendered with their number format (``0.1607`` formatted
``0.00%`` reads ``16.07%``) through openpyxl; workbooks over ``OPENPYXL_MAX_BYTES`` use calamine for
speed, where a number shows as its shortest form.

The readers: ``spreadsheets`` (Excel), ``text_tables`` (CSV and other delimited text), ``textbank``
(Word and text question lists), JSON here; ``sheets`` holds what they read into.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

from studio.core.errors import InputError
from studio.core.i18n import _
from studio.data.exams import textbank
from studio.data.exams.damaged import OLE2_MAGIC, is_panic, workbook_error
from studio.data.exams.sheets import MAX_CELL_CHARS, Sheet, Workbook, check_cells
from studio.data.exams.spreadsheets import OPENPYXL_MAX_BYTES, general_number, read_calamine, read_xlsx
from studio.data.exams.text_tables import FAST_PATH_BYTES, SNIFF_BYTES, detect_encoding, read_text_table

__all__ = ["FAST_PATH_BYTES", "MAX_CELL_CHARS", "OPENPYXL_MAX_BYTES", "SNIFF_BYTES", "SUFFIXES", "Sheet", "Workbook",
           "detect_encoding", "read", "sheet_names", "sniff_kind"]

SUFFIXES = (".xlsx", ".xlsm", ".xls", ".csv", ".tsv", ".txt", ".json", ".jsonl", ".docx", ".md", ".markdown")


def read(path: str | Path, *, sheets: list[str] | None = None, display_name: str | None = None) -> Workbook:
    """Read a file into sheets; ``sheets`` picks workbook sheets by name (default: all)."""
    path = Path(path)
    name = display_name or path.name
    if not path.exists():
        raise InputError(_("no such file"), file=name)
    if path.is_dir():
        raise InputError(_("is a folder, not a file"), file=name)
    size = path.stat().st_size
    if size == 0:
        raise InputError(_("the file is empty (0 bytes)"), file=name)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(_("unsupported file type {suffix}; use one of .xlsx .xls .csv .tsv .txt .json .jsonl "
                           ".docx .md").format(suffix=suffix or _("(none)")), file=name)
    kind = sniff_kind(path, suffix, name)  # by content: a legacy .xls saved as .xlsx is still read
    if kind == "xlsx":
        book = read_xlsx(path, name, size)
    elif kind == "xls":
        book = read_calamine(path, name, "xls")
    elif kind == "text":
        book = read_text_table(path, name, None)
    elif suffix in (".json", ".jsonl"):
        book = _read_json(path, name)
    elif suffix in textbank.SUFFIXES or suffix == ".txt" and textbank.is_text_bank(path, name):
        book = textbank.read(path, name)      # Word and text banks: numbered questions, option lines
    else:
        book = read_text_table(path, name, "\t" if suffix == ".tsv" else None)
    if book.kind in ("xlsx", "xls", "csv"):
        book = textbank.reshape(book)         # sheets pasted from Word: options on the rows below
    if sheets:
        known = [s.name for s in book.sheets]
        missing = [s for s in sheets if s not in known]
        if missing:
            raise InputError(_("no sheet named {missing} (sheets: {known})").format(
                missing=", ".join(map(repr, missing)), known=", ".join(known)), file=name)
        book.sheets = [s for s in book.sheets if s.name in sheets]
    return book


def sniff_kind(path: Path, suffix: str, name: str) -> str:
    """What a spreadsheet file really is, whatever its name says: ``xls`` (OLE2 magic bytes), ``xlsx`` (a zip
    holding ``xl/workbook.xml``), ``text`` (a tab- or comma-separated table saved as ``.xls``), else its
    suffix's kind (``csv`` / ``json`` / the suffix itself)."""
    with open(path, "rb") as f:
        head = f.read(8)
    sheetlike = suffix in (".xls", ".xlsx", ".xlsm", ".csv")
    if head == OLE2_MAGIC and sheetlike:
        return "xls"
    if head.startswith(b"PK\x03\x04") and sheetlike:
        try:
            with zipfile.ZipFile(path) as z:
                if any(n.startswith("xl/") for n in z.namelist()):
                    return "xlsx"
        except zipfile.BadZipFile:
            pass
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix == ".xls":
        with open(path, "rb") as f:
            start = f.read(4096).lstrip().lower()
        if start.startswith((b"<html", b"<!doctype", b"<table", b"<?xml")) or b"<table" in start:
            raise InputError(_("an HTML or XML page saved as .xls, not a workbook: open it in Excel or WPS and save "
                               "it as .xlsx"), file=name)
        if b"\x00" in start:
            raise InputError(_("not a readable .xls workbook (neither legacy Excel nor a text table)"), file=name)
        return "text"
    return "json" if suffix in (".json", ".jsonl") else "csv"


def sheet_names(path: str | Path, display_name: str | None = None) -> list[str]:
    """The sheet names of a workbook (one unnamed sheet for text files); errors name ``display_name``."""
    path = Path(path)
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls") and path.exists() and path.stat().st_size \
            and sniff_kind(path, path.suffix.lower(), path.name) in ("xls", "xlsx"):
        try:
            from python_calamine import CalamineWorkbook

            with open(path, "rb") as f:
                return list(CalamineWorkbook.from_filelike(f).sheet_names)
        except BaseException as err:  # any reader failure (a panic too) is a bad file: say which way
            if not (isinstance(err, Exception) or is_panic(err)):
                raise
            raise workbook_error(path, display_name or path.name,
                                 sniff_kind(path, path.suffix.lower(), path.name)) from None
    return [""]


# ---------------------------------------------------------------- JSON

def _read_json(path: Path, name: str) -> Workbook:
    encoding = detect_encoding(path, name)
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as err:
        raise InputError(_("not valid {encoding} text at byte {at} (a file cut short, or mixed encodings?)").format(
            encoding=encoding, at=err.start), file=name) from None
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise InputError(_("the file holds no text"), file=name)
    from studio.data.exams import jsonbank  # questions at any depth, JSON Lines, errors with line and column

    records = jsonbank.records(text, name)
    keys: list[str] = []
    for _unused, r in records:
        if not isinstance(r, dict):
            continue
        for k in r:
            if k not in keys:
                keys.append(k)
    if not keys:
        raise InputError(_("no JSON objects with fields found (the file holds no questions)"), file=name)
    rows = [(0, list(keys))]
    for i, r in records:
        if not isinstance(r, dict):
            raise InputError(_("not a JSON object: a question is written as {\"question\": …, \"answer\": …}"),
                             file=name, row=i)
        rows.append((i, [_json_text(r.get(k)) for k in keys]))
    check_cells(rows, name, None)
    return Workbook(name, "json", encoding, [Sheet("", len(keys), rows, header=True)])


def _json_text(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v.strip() or None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return general_number(v)
    return json.dumps(v, ensure_ascii=False)
