"""Spreadsheet cell safety shared by every CSV / XLSX writer and reader: no exported cell starts a formula."""
from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A spreadsheet cell that would start a formula gets a leading apostrophe (OWASP CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def unneutralise(value: Any) -> Any:
    """The reverse of :func:`neutralise` for cells read back from an export (``'=x`` -> ``=x``)."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1] in FORMULA_START:
        return value[1:]
    return value
