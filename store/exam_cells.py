"""Staging an exam bank's cells: the temporary table ``exam_raw`` (sheet, row number, text cells c1..cN)
that the parse (``store.exam_parse``) reads, filled from rows read in Python (through Arrow) or from a
UTF-8 CSV read by DuckDB itself, and the few questions asked of it before the parse (the first rows for
header detection, row counts, the longest cell). Column identifiers are our own ``c1..cN``.

A CSV's rows are numbered by their place in the table (``ROW_NO``): DuckDB keeps the file's order as it
inserts in parallel, so no numbering pass (which would run on one thread) is needed, and rows without
text stay in the table (the queries below and the parse skip them).
"""
from __future__ import annotations

from studio.core.exam_rules import WS, sql_ws_start
from studio.core.exam_rules import sql_literal as _lit

# a staged row's number as a spreadsheet shows it: given for rows read in Python; a CSV's (the only sheet,
# staged first into the empty table) is its place in the file, the header being row 1
ROW_NO = "coalesce(row_no, (rowid + 1)::INTEGER)"


def fast_clean(expr: str) -> str:
    """A cell trimmed of white space, NULL when empty; the costly trim with a character list only where
    an edge needs it, found by the first character's code and a regex anchored at the end (hot paths:
    every cell of a million-row bank)."""
    return (f"CASE WHEN {expr} = '' THEN NULL WHEN {sql_ws_start(expr)} "
            f"OR regexp_matches({expr}, '[{WS}]$') THEN nullif(trim({expr}, {_lit(WS)}), '') ELSE {expr} END")


def any_text(ncols: int) -> str:
    """A staged row holds some text (its cells are cleaned: NULL when empty)."""
    return "(" + " OR ".join(f"c{i} IS NOT NULL" for i in range(1, ncols + 1)) + ")" if ncols else "false"


def create_raw(cur, ncols: int) -> None:
    """The temporary table of text cells: sheet, row number, c1..cN."""
    cols = ", ".join(f"c{i} VARCHAR" for i in range(1, ncols + 1))
    cur.execute(f"CREATE OR REPLACE TEMP TABLE exam_raw (sheet VARCHAR, row_no INTEGER{', ' + cols if cols else ''})")


def rows_table(sheet: str, rows: list[tuple[int, list[str | None]]], ncols: int):
    """Parsed rows (row number, cells) of one sheet as the Arrow table ``insert_raw_rows`` adds (kept by
    the caller to stage the same rows again without rebuilding it)."""
    import pyarrow as pa

    data = {"sheet": pa.array([sheet] * len(rows), pa.string()),
            "row_no": pa.array([r[0] for r in rows], pa.int32())}
    for i in range(ncols):
        data[f"c{i + 1}"] = pa.array([cells[i] if i < len(cells) else None for _unused, cells in rows], pa.string())
    return pa.table(data)


def insert_raw_rows(cur, sheet: str, rows: list[tuple[int, list[str | None]]], ncols: int, table=None) -> None:
    """Add parsed rows (row number, cells) of one sheet, through Arrow (no per-row INSERT)."""
    table = table if table is not None else rows_table(sheet, rows, ncols)
    cur.register("exam_raw_in", table)
    try:
        cur.execute("INSERT INTO exam_raw SELECT * FROM exam_raw_in")
    finally:
        cur.unregister("exam_raw_in")


def insert_raw_csv(cur, sheet: str, path: str, ncols: int, delimiter: str, *, display_name: str,
                   quote: str = '"') -> None:
    """Add a UTF-8 CSV read by DuckDB itself; strict: a row with more fields than the first is an error."""
    import duckdb

    try:
        try:
            _insert_raw_csv(cur, sheet, path, ncols, delimiter, quote, parallel=True)
        except duckdb.Error as err:
            if _PARALLEL_CANNOT not in str(err):
                raise
            # cells holding line breaks (options on lines of their own): DuckDB reads such a file on one
            # thread only; the failed statement added nothing
            _insert_raw_csv(cur, sheet, path, ncols, delimiter, quote, parallel=False)
    except duckdb.Error as err:
        raise _csv_error(err, path, ncols, delimiter, display_name) from None


# DuckDB's parallel CSV reader refuses a file with quoted line breaks when short rows are padded
_PARALLEL_CANNOT = "does not support null_padding in conjunction with quoted new lines"


def _csv_error(err: Exception, path: str, ncols: int, delimiter: str, name: str):
    """DuckDB's CSV error in the user's words: the file, the line and what is wrong with it."""
    import csv
    import itertools
    import re

    from studio.core.errors import InputError
    from studio.core.i18n import _

    text = str(err)
    m = re.search(r"CSV Error on Line: (\d+)", text)
    if m:
        line_no = int(m.group(1))
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            line = next(itertools.islice(f, line_no - 1, None), "")
        found = len(next(csv.reader([line], delimiter=delimiter), []))
        if "Expected Number of Columns" in text and found > ncols:
            return InputError(_("line {line} has {found} fields where the first row has {ncols} (an unquoted "
                                "delimiter inside a cell?); fix the file or quote that cell").format(
                line=line_no, found=found, ncols=ncols), file=name)
        if "Maximum line size" in text:
            return InputError(_("line {line} is longer than 16 MB: not an exam bank, or a broken file").format(
                line=line_no), file=name)
        if "quote" in text.lower():
            return InputError(_("line {line} opens a quoted cell that never closes (a stray quote mark, or a file "
                                "cut short?)").format(line=line_no), file=name)
        return InputError(_("line {line} cannot be read as a row of the table (broken quoting or mixed "
                            "delimiters?)").format(line=line_no), file=name)
    if "unicode" in text.lower() or "utf" in text.lower():
        return InputError(_("not valid UTF-8 text past the start of the file (mixed encodings?)"), file=name)
    return InputError(_("cannot be read as a CSV table (a broken or binary file?)"), file=name)


def _insert_raw_csv(cur, sheet: str, path: str, ncols: int, delimiter: str, quote: str, *, parallel: bool) -> None:
    """Every record in file order (numbered by ``ROW_NO``), each cell cleaned; one pass."""
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, ncols + 1)) + "}"
    cleaned = ", ".join(fast_clean(f"c{i}") for i in range(1, ncols + 1))
    cur.execute(f"""
        INSERT INTO exam_raw
        SELECT ?, NULL, {cleaned}
        FROM read_csv(?, columns = {columns}, auto_detect = false, header = false, delim = ?,
                      quote = ?, escape = ?, strict_mode = true, null_padding = true,
                      max_line_size = 16000000, parallel = {str(parallel).lower()})""",
                [sheet, path, delimiter, quote, quote])


def raw_head(cur, sheet: str, ncols: int, limit: int = 300) -> list[tuple[int, list[str | None]]]:
    """The first rows with text of a staged sheet (for header and mapping detection)."""
    cols = ", ".join(f"c{i}" for i in range(1, ncols + 1))
    got = cur.execute(f"""SELECT {ROW_NO} AS n, {cols} FROM exam_raw WHERE sheet = ? AND {any_text(ncols)}
                          ORDER BY n LIMIT ?""", [sheet, limit]).fetchall()
    out = []
    for r in got:
        cells = list(r[1:])
        while cells and cells[-1] is None:
            cells.pop()
        out.append((r[0], cells))
    return out


def raw_count(cur, sheet: str, after_row: int, ncols: int) -> int:
    """Rows with text after ``after_row``."""
    return cur.execute(f"SELECT count(*) FROM exam_raw WHERE sheet = ? AND {ROW_NO} > ? AND {any_text(ncols)}",
                       [sheet, after_row]).fetchone()[0]


def max_cell_length(cur, ncols: int, limit: int) -> tuple[int, str, int] | None:
    """The longest cell (length in characters, sheet, row) of the staged cells when one is over ``limit``
    characters, else None. Only cells over ``limit`` bytes can be: their characters alone are counted."""
    if not ncols:
        return None

    def widest(fn: str) -> str:
        parts = [f"coalesce({fn}(c{i}), 0)" for i in range(1, ncols + 1)]
        return f"greatest({', '.join(parts)})" if ncols > 1 else parts[0]

    return cur.execute(f"""SELECT {widest('length')} AS n, sheet, {ROW_NO} FROM exam_raw
                           WHERE {widest('strlen')} > ? ORDER BY n DESC LIMIT 1""", [limit]).fetchone()


# ------------------------------------------------------------------ per-sheet preparation before the parse

def add_column(cur) -> int:
    """One more (empty) text column on ``exam_raw``; its 0-based index (for derived cells)."""
    n = len(cur.execute("SELECT * FROM exam_raw LIMIT 0").description) - 2
    cur.execute(f"ALTER TABLE exam_raw ADD COLUMN c{n + 1} VARCHAR")
    return n


_ORDINAL = "^[1-8]([ \t,，、;；]*[1-8])*$"


def clean_option_cells(cur, sheet: str, after_row: int, letters: dict[str, int]) -> None:
    """Option columns named A, B…: trailing cells holding only their own label (``C`` / ``C.`` in column
    C, with nothing but such cells after it: a placeholder) are empty, and a cell starting with its own
    label (``A. 雨鞋`` in column A) loses it. An option whose text is a letter among real options after
    it (``M, S, C, T``) is kept."""
    if not letters:
        return
    order = sorted(letters.items(), key=lambda kv: kv[0])
    own, prefix = {}, {}
    for label, col in order:
        full = chr(ord(label) - ord("A") + ord("Ａ"))
        own[label] = f"coalesce(regexp_matches(c{col + 1}, {_lit(f'^[(（]?[{label}{full}][ .．、:：)）]*$')}), true)"
        prefix[label] = _lit(f"^[(（]?[{label}{full}][ \t\u3000]*[.．、:：)）][ \t\u3000]*")
    sets, touched = [], []
    for i, (label, col) in enumerate(order):
        c = f"c{col + 1}"
        placeholder = " AND ".join([f"{c} IS NOT NULL"] + [own[l] for l, _unused in order[i:]])
        sets.append(f"{c} = CASE WHEN {placeholder} THEN NULL "
                    f"WHEN regexp_matches({c}, {prefix[label]}) THEN nullif(regexp_replace({c}, {prefix[label]}, ''), '') "
                    f"ELSE {c} END")
        full = chr(ord(label) - ord("A") + ord("Ａ"))
        touched.append(f"regexp_matches({c}, {_lit(f'^[(（]?[{label}{full}]')})")
    cur.execute(f"UPDATE exam_raw SET {', '.join(sets)} WHERE sheet = ? AND {ROW_NO} > ? AND ({' OR '.join(touched)})",
                [sheet, after_row])


def derive_answer(cur, sheet: str, after_row: int, columns: list[int], *, ordinal_over: list[int] | None = None,
                  sep: str = "；") -> int:
    """A new column holding the answer: several answer columns joined in order with ``sep`` (empty ones
    skipped), and/or option ordinals (``2`` -> ``B``, ``1,3`` -> ``A,C``) read as letters on rows with at
    least two filled option cells (``ordinal_over``: those columns). Returns the new column's index."""
    cells = [f"c{c + 1}" for c in columns]
    expr = cells[0] if len(cells) == 1 else f"nullif(concat_ws({_lit(sep)}, {', '.join(cells)}), '')"
    if ordinal_over:
        opts = "[" + ", ".join(f"c{c + 1}" for c in ordinal_over) + "]"
        expr = (f"CASE WHEN regexp_matches({expr}, {_lit(_ORDINAL)}) AND len(list_filter({opts}, lambda x: x IS NOT NULL)) >= 2 "
                f"THEN translate({expr}, '12345678', 'ABCDEFGH') ELSE {expr} END")
    new = add_column(cur)
    cur.execute(f"UPDATE exam_raw SET c{new + 1} = {expr} WHERE sheet = ? AND {ROW_NO} > ?", [sheet, after_row])
    return new


def derive_type(cur, sheet: str, after_row: int, column: int | None, codes: dict[str, str],
                default: str | None) -> int:
    """A new column holding each row's type as words: the type column's codes read through ``codes``
    (a legend in its header: ``0`` -> ``单选题``), blank cells given ``default`` (the sheet's name when it
    names a type). Returns the new column's index."""
    params: list = []
    expr = "NULL::VARCHAR" if column is None else f"c{column + 1}"
    if codes and column is not None:
        whens = " ".join(f"WHEN {expr} = ? THEN ?" for _unused in codes)
        for code, word in codes.items():
            params += [code, word]
        expr = f"CASE {whens} ELSE {expr} END"
    if default:
        expr = f"coalesce({expr}, ?)"
        params.append(default)
    new = add_column(cur)
    cur.execute(f"UPDATE exam_raw SET c{new + 1} = {expr} WHERE sheet = ? AND {ROW_NO} > ?", [*params, sheet, after_row])
    return new


def final_counts_by_sheet(cur) -> dict[str, dict[str, int]]:
    """Valid rows per sheet and type (the parse's ``exam_final``)."""
    out: dict[str, dict[str, int]] = {}
    for sheet, qtype, n in cur.execute("SELECT sheet, qtype, count(*) FROM exam_final WHERE error IS NULL "
                                       "GROUP BY ALL ORDER BY ALL").fetchall():
        out.setdefault(sheet, {})[qtype] = n
    return out


def scratch_cursor():
    """A cursor on a private in-memory database: for a look at a file that must write nothing (and work
    while the studio holds the database file)."""
    import threading

    import duckdb

    from store import db

    return db.Cursor(duckdb.connect(":memory:"), threading.RLock())
