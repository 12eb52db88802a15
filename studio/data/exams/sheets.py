"""What a file is read into: a ``Workbook`` of ``Sheet`` s of text cells (``None`` when empty), numbered
by the row a spreadsheet would show; and the checks every reader shares (no cell over ``MAX_CELL_CHARS``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from studio.core.errors import InputError
from studio.core.i18n import _

MAX_CELL_CHARS = 100_000                # a cell longer than this is not a question: refuse the file


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
    quote: str = '"'                 # the CSV quote character (some exports quote with ')
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


def check_cells(rows, name: str, sheet: str | None) -> None:
    for row_no, cells in rows:
        for c in cells:
            if c is not None and len(c) > MAX_CELL_CHARS:
                raise InputError(_("a cell of {n:,} characters (over {limit:,}): not an exam bank, or a broken "
                                   "file").format(n=len(c), limit=MAX_CELL_CHARS), file=name, sheet=sheet or None,
                                 row=row_no)
