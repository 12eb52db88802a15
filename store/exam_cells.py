"""Staging an exam bank's cells: the temporary table ``exam_raw`` (sheet, row number, text cells c1..cN)
that the parse (``store.exam_parse``) reads, filled from rows read in Python (through Arrow) or from a
UTF-8 CSV read by DuckDB itself, and the few questions asked of it before the parse (the first rows for
header detection, row counts, the longest cell). Column identifiers are our own ``c1..cN``.
"""
from __future__ import annotations

from studio.core.exam_rules import WS
from studio.core.exam_rules import sql_literal as _lit


def fast_clean(expr: str) -> str:
    """A cell trimmed of white space, NULL when empty; the costly trim with a character list only where
    an edge needs it (hot paths: every cell of a million-row bank)."""
    return (f"CASE WHEN regexp_matches({expr}, '^[{WS}]|[{WS}]$') THEN nullif(trim({expr}, {_lit(WS)}), '') "
            f"ELSE nullif({expr}, '') END")


def create_raw(cur, ncols: int) -> None:
    """The temporary table of text cells: sheet, row number, c1..cN."""
    cols = ", ".join(f"c{i} VARCHAR" for i in range(1, ncols + 1))
    cur.execute(f"CREATE OR REPLACE TEMP TABLE exam_raw (sheet VARCHAR, row_no INTEGER{', ' + cols if cols else ''})")


def insert_raw_rows(cur, sheet: str, rows: list[tuple[int, list[str | None]]], ncols: int) -> None:
    """Add parsed rows (row number, cells) of one sheet, through Arrow (no per-row INSERT)."""
    import pyarrow as pa

    data = {"sheet": pa.array([sheet] * len(rows), pa.string()),
            "row_no": pa.array([r[0] for r in rows], pa.int32())}
    for i in range(ncols):
        data[f"c{i + 1}"] = pa.array([cells[i] if i < len(cells) else None for _, cells in rows], pa.string())
    table = pa.table(data)
    cur.register("exam_raw_in", table)
    try:
        cur.execute("INSERT INTO exam_raw SELECT * FROM exam_raw_in")
    finally:
        cur.unregister("exam_raw_in")


def insert_raw_csv(cur, sheet: str, path: str, ncols: int, delimiter: str, *, display_name: str) -> None:
    """Add a UTF-8 CSV read by DuckDB itself; strict: a row with more fields than the first is an error."""
    import duckdb

    try:
        _insert_raw_csv(cur, sheet, path, ncols, delimiter)
    except duckdb.Error as err:
        raise _csv_error(err, path, ncols, delimiter, display_name) from None


def _csv_error(err: Exception, path: str, ncols: int, delimiter: str, name: str):
    import csv
    import itertools
    import re

    from studio.core.errors import InputError

    text = str(err)
    m = re.search(r"CSV Error on Line: (\d+)", text)
    if m:
        line_no = int(m.group(1))
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            line = next(itertools.islice(f, line_no - 1, None), "")
        found = len(next(csv.reader([line], delimiter=delimiter), []))
        if "Expected Number of Columns" in text and found > ncols:
            return InputError(f"line {line_no} has {found} fields where the first row has {ncols} "
                              "(an unquoted delimiter inside a cell?); fix the file or quote that cell", file=name)
        if "Maximum line size" in text:
            return InputError(f"line {line_no} is longer than 16 MB: not an exam bank, or a broken file", file=name)
        return InputError(f"malformed CSV at line {line_no}: {text.splitlines()[0][:200]}", file=name)
    if "unicode" in text.lower() or "utf" in text.lower():
        return InputError("not valid UTF-8 text past the start of the file (mixed encodings?)", file=name)
    return InputError(f"cannot read the CSV: {text.splitlines()[0][:200]}", file=name)


def _insert_raw_csv(cur, sheet: str, path: str, ncols: int, delimiter: str) -> None:
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, ncols + 1)) + "}"
    cleaned = ", ".join(f"{fast_clean(f'c{i}')} AS c{i}" for i in range(1, ncols + 1))
    any_text = " OR ".join(f"c{i} IS NOT NULL" for i in range(1, ncols + 1))
    cur.execute(f"""
        INSERT INTO exam_raw
        SELECT * FROM (
          SELECT ? AS sheet, (row_number() OVER ())::INTEGER AS row_no, {cleaned}
          FROM read_csv(?, columns = {columns}, auto_detect = false, header = false, delim = ?,
                        quote = '"', escape = '"', strict_mode = true, null_padding = true,
                        max_line_size = 16000000, parallel = true))
        WHERE {any_text}  -- rows with no text at all are not questions (blank trailing rows)""",
                [sheet, path, delimiter])


def raw_head(cur, sheet: str, ncols: int, limit: int = 300) -> list[tuple[int, list[str | None]]]:
    """The first rows of a staged sheet (for header and mapping detection)."""
    cols = ", ".join(f"c{i}" for i in range(1, ncols + 1))
    got = cur.execute(f"SELECT row_no, {cols} FROM exam_raw WHERE sheet = ? ORDER BY row_no LIMIT ?",
                      [sheet, limit]).fetchall()
    out = []
    for r in got:
        cells = list(r[1:])
        while cells and cells[-1] is None:
            cells.pop()
        out.append((r[0], cells))
    return out


def raw_count(cur, sheet: str, after_row: int) -> int:
    return cur.execute("SELECT count(*) FROM exam_raw WHERE sheet = ? AND row_no > ?", [sheet, after_row]).fetchone()[0]


def max_cell_length(cur, ncols: int) -> tuple[int, str, int] | None:
    """The longest cell (length, sheet, row) of the staged cells."""
    if not ncols:
        return None
    longest = " , ".join(f"coalesce(length(c{i}), 0)" for i in range(1, ncols + 1))
    expr = f"greatest({longest})" if ncols > 1 else longest
    return cur.execute(f"SELECT {expr} AS n, sheet, row_no FROM exam_raw ORDER BY n DESC LIMIT 1").fetchone()
