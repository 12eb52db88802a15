"""Delimited text tables (.csv, .tsv, a .txt table, a text table saved as .xls) as one sheet of text
cells: decoded from UTF-8, UTF-8 with BOM or GBK/GB18030, the delimiter and quote character sniffed; a
large CSV is handed to DuckDB's reader (the fast path), transcoded to UTF-8 first when it is not.
"""
from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from studio.core import textio
from studio.core.errors import InputError
from studio.core.i18n import N_, _
from studio.data.exams.sheets import Sheet, Workbook, check_cells

SNIFF_BYTES = textio.SNIFF_BYTES
csv.field_size_limit(1 << 27)  # long cells are refused by MAX_CELL_CHARS with a clear message, not by csv


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


def read_text_table(path: Path, name: str, delimiter: str | None) -> Workbook:
    encoding = detect_encoding(path, name)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(SNIFF_BYTES)
    head_text = head.decode(encoding if encoding != "utf-8-sig" else "utf-8-sig", errors="ignore")
    if not head_text.strip():
        raise InputError(_("the file holds no text"), file=name)
    delimiter = delimiter or _sniff_delimiter(head_text)
    quote = _sniff_quote(head_text, delimiter)
    if size > FAST_PATH_BYTES:
        # DuckDB reads UTF-8 itself; other encodings are transcoded to a temporary UTF-8 file first
        csv_path, temp = str(path), False
        if encoding not in ("utf-8", "utf-8-sig"):
            csv_path, temp = _transcode(path, encoding, name), True
        widths = [len(r) for r in _head_rows(head_text, delimiter, quote)]
        return Workbook(name, "csv", encoding,
                        [Sheet("", _usual_width(widths), csv_path=csv_path, delimiter=delimiter, encoding=encoding, temp=temp,
                               quote=quote)])
    try:
        text = path.read_bytes().decode(encoding)
    except UnicodeDecodeError as err:
        raise InputError(_("not valid {encoding} text at byte {at} (a file cut short, or mixed encodings?)").format(
            encoding=encoding, at=err.start), file=name) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    rows, ncols, widths = [], 0, []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=quote)
    try:
        for i, cells in enumerate(reader, start=1):
            cells = [c.strip() or None for c in cells]
            if len(widths) < 50 and any(cells):
                widths.append(len(cells))
            while cells and cells[-1] is None:
                cells.pop()
            if cells:
                rows.append((i, cells, reader.line_num))
                ncols = max(ncols, len(cells))
    except csv.Error as err:
        raise _csv_error(err, reader.line_num, name) from None
    # the table's width: what most of the first rows have (a title line above the header has fewer)
    header_fields = _usual_width(widths)
    which = N_("the first row has") if widths and widths[0] == header_fields else N_("most rows have")
    for i, cells, line in rows:
        if len(cells) > header_fields:
            raise InputError(_("line {line} has {found} fields where {which} {ncols} (an unquoted delimiter "
                               "inside a cell?); fix the file or quote that cell").format(
                line=line, found=len(cells), which=_(which), ncols=header_fields), file=name)
    plain = [(i, cells) for i, cells, _unused in rows]
    check_cells(plain, name, None)
    return Workbook(name, "csv", encoding, [Sheet("", ncols, plain, delimiter=delimiter, encoding=encoding,
                                                  quote=quote)])


def _csv_error(err: csv.Error, line: int, name: str) -> InputError:
    """Python's CSV reader refusing a line, in the user's words."""
    text = str(err).lower()
    if "nul" in text:
        return InputError(_("line {line} holds NUL bytes: not a text table (a binary file renamed?)").format(line=line),
                          file=name)
    if "field larger" in text:
        return InputError(_("line {line} holds a cell over 128 MB: not an exam bank, or a broken file").format(
            line=line), file=name)
    return InputError(_("line {line} cannot be read as a row of the table (a stray quote mark?)").format(line=line),
                      file=name)


def _usual_width(widths: list[int]) -> int:
    """The most common field count (the first such on a tie), 0 for none."""
    return max(widths, key=lambda w: (widths.count(w), -widths.index(w))) if widths else 0


def _head_rows(text: str, delimiter: str, quote: str) -> list[list[str]]:
    """The first 50 non-empty rows of a text table's start (the last, maybe cut, line left out)."""
    lines = text.splitlines()[:-1] or text.splitlines()
    rows = csv.reader(io.StringIO("\n".join(lines[:200])), delimiter=delimiter, quotechar=quote)
    try:
        return [r for r in rows if any(c.strip() for c in r)][:50]
    except csv.Error:
        return []


def _sniff_quote(text: str, delimiter: str) -> str:
    """``'`` when the fields of the first lines are quoted with it (and not with ``"``), else ``"``."""
    fields = [f.strip() for line in text.splitlines()[:50] if line.strip() for f in line.split(delimiter)]
    single = sum(len(f) >= 2 and f[0] == "'" and f[-1] == "'" for f in fields)
    double = sum(len(f) >= 1 and f[0] == '"' for f in fields)
    return "'" if fields and single >= 0.3 * len(fields) and single > double else '"'


def _transcode(path: Path, encoding: str, name: str) -> str:
    fd, out = tempfile.mkstemp(suffix=".csv", prefix="studio-exam-")
    try:
        with open(path, "r", encoding=encoding, newline="") as src, os.fdopen(fd, "w", encoding="utf-8", newline="") as dst:
            while chunk := src.read(1 << 22):
                dst.write(chunk)
    except UnicodeDecodeError:
        os.unlink(out)
        raise InputError(_("not valid {encoding} text past the start of the file (a file cut short, or mixed "
                           "encodings?)").format(encoding=encoding), file=name) from None
    return out


