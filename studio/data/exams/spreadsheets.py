"""Excel workbooks (.xlsx, .xls) as sheets of text cells. Cells are rendered with their number format
(``0.1607`` formatted ``0.00%`` reads ``16.07%``) through openpyxl; workbooks over ``OPENPYXL_MAX_BYTES``
and legacy .xls use calamine for speed, where a number shows as its shortest form.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import zipfile
from pathlib import Path

from studio.core.errors import InputError
from studio.data.exams.damaged import is_panic, workbook_error
from studio.data.exams.sheets import Sheet, Workbook, check_cells

OPENPYXL_MAX_BYTES = 8 * 1024 * 1024   # above this, calamine (about 7x faster, no number formats)


def read_xlsx(path: Path, name: str, size: int) -> Workbook:
    if not zipfile.is_zipfile(path):
        raise workbook_error(path, name, "xlsx")
    if size > OPENPYXL_MAX_BYTES:
        return read_calamine(path, name, "xlsx")
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, data_only=True, read_only=False)
    except Exception:  # noqa: BLE001 - any reader failure is a broken file: say which way, in our words
        raise workbook_error(path, name, "xlsx") from None
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
            check_cells(rows, name, ws.title)
            out.append(Sheet(ws.title, ncols, rows))
    finally:
        wb.close()
    return Workbook(name, "xlsx", None, out)


def read_calamine(path: Path, name: str, kind: str) -> Workbook:
    try:
        from python_calamine import CalamineWorkbook

        with open(path, "rb") as f:  # from the bytes: the format by content, whatever the suffix says
            wb = CalamineWorkbook.from_filelike(f)
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
            check_cells(rows, name, sheet_name)
            out.append(Sheet(sheet_name, ncols, rows))
    except InputError:
        raise
    except BaseException as err:  # a broken file may make the reader panic (a BaseException): our words
        if not (isinstance(err, Exception) or is_panic(err)):
            raise
        raise workbook_error(path, name, kind) from None
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
        return general_number(value)
    return str(value)


def general_number(value) -> str:
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.10g}"


