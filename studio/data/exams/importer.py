"""Import an exam bank: read, map, parse every row in SQL, check it with the exam rules
(``studio.core.exam_rules``, compiled into that SQL), preview, then land whole.

``preview(path, options)`` shows what an import would do (mapping per sheet, first parsed rows, every
error, duplicates, counts by type, the judge convention) and writes nothing. ``import_exam`` lands the
rows in one transaction: all of them, or with ``skip_invalid`` the valid ones (the errors are kept in
the ``imports`` record and returned). Any invalid row without ``skip_invalid`` writes nothing.

``sheet_plans`` holds the options and each sheet's plan (mapping, derived columns, notes); this module
reads, stages, parses and lands.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from store import datasets as store_datasets
from store import db
from store import exam_cells as xc
from store import exam_parse as xp
from store import exams as sx
from studio.core import exam_rules as rules
from studio.core.cells import neutralise
from studio.core.errors import InputError, StudioError
from studio.core.i18n import _, ngettext
from studio.data.exams import mapping as mp
from studio.data.exams import read as rd
from studio.data.exams.sheet_plans import (
    ImportOptions,
    SheetPlan,
    content_type_codes,
    judge01_is_judge,
    plan_sheets,
    prepare_sheet,
    reading_notes,
)

__all__ = ["ImportOptions", "Preview", "QTYPES", "SheetPlan", "errors_csv", "import_exam", "inspect", "parse_table",
           "preview", "upload_path"]

QTYPES = rules.QTYPES
Progress = Callable[[float, str], None]


@dataclass
class Preview:
    file: str
    kind: str
    encoding: str | None
    sheets: list[SheetPlan]
    total: int
    by_type: dict[str, int]
    errors: list[dict[str, Any]]
    duplicates: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    type_codes: dict[str, str]
    judge_01: bool                 # the file answers judge questions with 0/1 (ambiguous)
    zero_is_true: bool
    notes: list[str]
    skipped: list[str] = field(default_factory=list)   # sheets that are not question banks, and why

    @property
    def valid(self) -> int:
        return sum(self.by_type.values())

    @property
    def already_imported(self) -> int:
        """Valid rows whose question the target dataset already holds (the file imported before?)."""
        return sum(1 for d in self.duplicates if d.get("existing") is not None)

    def summary(self, dataset: str, imported: int) -> dict[str, Any]:
        """The CLI contract's summary; ``by_type`` counts what was imported (all zero when nothing was)."""
        return {"dataset": dataset, "imported": imported, "rejected": len(self.errors),
                "by_type": {t: self.by_type.get(t, 0) if imported else 0 for t in QTYPES}, "errors": self.errors}


def _noop(fraction: float, text: str) -> None:
    pass


def _parse(path: Path, options: ImportOptions, *, display_name: str | None, dataset_id: int | None,
           progress: Progress, preview_rows: int = 20, cur=None) -> Preview:
    """Stage, map and parse the file into the temporary ``exam_final`` table; return what was found."""
    name = display_name or path.name
    progress(0.02, _("reading the file"))
    book = _read(path, options.sheets, name)
    return _parse_book(book, options, dataset_id=dataset_id, progress=progress, preview_rows=preview_rows, cur=cur)


_BOOKS: dict[tuple, rd.Workbook] = {}   # the last workbooks read in memory: a re-preview skips the reading


def _read(path: Path, sheets: list[str] | None, name: str) -> rd.Workbook:
    """``read.read``, remembered for workbooks held in memory (same file, size and time): changing the
    mapping on the page re-parses in SQL without reading the file again."""
    if not path.is_file():
        return rd.read(path, sheets=sheets, display_name=name)  # says what is wrong with the path
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, tuple(sheets or ()), name)
    book = _BOOKS.get(key)
    if book is None:
        book = rd.read(path, sheets=sheets, display_name=name)
        if any(s.csv_path for s in book.sheets) or sum(len(s.rows) for s in book.sheets) > 200_000:
            return book
        while len(_BOOKS) >= 3:
            _BOOKS.pop(next(iter(_BOOKS)))
        _BOOKS[key] = book
    return book


def _parse_book(book: rd.Workbook, options: ImportOptions, *, dataset_id: int | None, progress: Progress,
                preview_rows: int = 20, cur=None) -> Preview:
    """Stage the book's cells, map each sheet, parse and check every row; the temporary tables are left
    for the caller to land (``import_exam``) or drop."""
    name = book.file
    cur = cur or db.cursor()
    try:
        _stage_cells(cur, book)
        progress(0.3, _("detecting columns"))
        plans, skipped = plan_sheets(cur, book, options)
        progress(0.45, _("parsing options and answers"))
        codes, judge_01, zero_is_true = _parse_rows(cur, plans, options, progress)
        by_type = xp.final_counts(cur)
        per_sheet = xc.final_counts_by_sheet(cur)
        errors = xp.final_errors(cur)
        total = xp.final_total(cur)
        duplicates = xp.final_duplicates(cur, dataset_id)
        rows = xp.final_preview(cur, preview_rows)
    except StudioError:
        xp.drop_temp(cur)
        raise
    finally:
        book.cleanup()
    for e in errors:
        e["sheet"] = e["sheet"] or ""
    for p in plans:
        p.by_type = per_sheet.get(p.name, {})
        p.errors = sum(1 for e in errors if e["sheet"] == p.name)
    return Preview(name, book.kind, book.encoding, plans, total, by_type, errors, duplicates, rows, codes,
                   judge_01, zero_is_true, skipped + reading_notes(plans, codes, judge_01, zero_is_true), skipped)


def _parse_rows(cur, plans: list[SheetPlan], options: ImportOptions, progress: Progress) -> tuple[dict, bool, bool]:
    """Parse every sheet's rows into ``exam_final`` with the usual per-file readings, take the file's own
    from the counts, and parse again only when some row reads otherwise with them. Returns the type codes
    read from content, whether judge answers use 0/1, and the 0/1 convention."""
    parses = []
    for i, p in enumerate(plans):
        fields = prepare_sheet(cur, p)
        # a row whose option or answer sits in an unmapped column was not read whole
        unread = [(col, _("column {column} ({looks}) holds data that is not mapped: this row's options or answer "
                          "were not all read (map the column, or leave it out on purpose: --map skip=COLUMN, the "
                          "page's 'Columns to leave out')").format(column=p.mapping.column_label(col), looks=looks))
                  for col, looks in p.unread]
        parses.append(xp.SheetParse(p.name, i, fields, p.mapping.header_row, p.mapping.options_in_question, unread))
    zero_is_true = True if options.zero_is_true is None else options.zero_is_true
    first = xp.Decisions(zero_is_true=zero_is_true)
    xp.parse_sheets(cur, parses, first)
    progress(0.7, _("checking types and answers"))
    counts = xp.stage_type_counts(cur)
    judge01 = judge01_is_judge(counts)
    codes = content_type_codes(counts, judge01)
    words = {r["word"]: r["n"] for r in xp.stage_judge_words(cur)}
    decisions = xp.Decisions(tuple(codes.items()), judge01, xp.answers_one_two(cur), zero_is_true)
    if xp.reparse_needed(cur, decisions, first):
        xp.parse_sheets(cur, parses, decisions)
    return codes, bool(words) and judge01, zero_is_true


def _stage_cells(cur, book: rd.Workbook) -> None:
    """Every sheet's text cells into ``exam_raw``; a bank with no text, or a cell too long, is refused."""
    name = book.file
    ncols = max((s.ncols for s in book.sheets), default=0)
    if ncols == 0:
        raise InputError(_("no rows with text found (the file holds no questions)"), file=name)
    xc.create_raw(cur, ncols)
    for s in book.sheets:
        if s.csv_path:
            xc.insert_raw_csv(cur, s.name, s.csv_path, s.ncols, s.delimiter, display_name=name, quote=s.quote)
        elif s.rows:
            tables = book.__dict__.setdefault("_tables", {})  # a remembered book stages faster the next time
            if (s.name, ncols) not in tables:
                tables[(s.name, ncols)] = xc.rows_table(s.name, s.rows, ncols)
            xc.insert_raw_rows(cur, s.name, s.rows, ncols, tables[(s.name, ncols)])
    longest = xc.max_cell_length(cur, ncols, rd.MAX_CELL_CHARS)
    if longest:
        raise InputError(_("a cell of {n:,} characters (over {limit:,}): not an exam bank, or a broken "
                           "file").format(n=longest[0], limit=rd.MAX_CELL_CHARS), file=name, sheet=longest[1] or None,
                         row=longest[2])


def parse_table(rows: list[list[str | None]], options: ImportOptions | None = None, *, header: bool | None = True,
                limit: int = 1000) -> Preview:
    """Parse rows given in memory (the first one the header when ``header``, none when False, detected
    when None); writes nothing.
    The same path as a file import: used by tests and for pasted tables."""
    options = options or ImportOptions()
    numbered = [(i, [(c.strip() or None) if isinstance(c, str) else c for c in r]) for i, r in enumerate(rows, 1)]
    numbered = [(i, r) for i, r in numbered if any(r)]
    sheet = rd.Sheet("", max((len(r) for _unused, r in numbered), default=0), numbered, header=header or None)
    try:
        return _parse_book(rd.Workbook(_("pasted rows"), "table", None, [sheet]),
                           ImportOptions(no_header=header is False, overrides=options.overrides,
                                         zero_is_true=options.zero_is_true),
                           dataset_id=None, progress=_noop, preview_rows=limit)
    finally:
        xp.drop_temp(db.cursor())


def preview(path: str | Path, options: ImportOptions | None = None, *, dataset: str | None = None,
            display_name: str | None = None, limit: int = 20, progress: Progress = _noop) -> Preview:
    """Everything an import would do, without writing anything."""
    options = options or ImportOptions()
    found = store_datasets.find(dataset) if dataset else None
    try:
        return _parse(Path(path), options, display_name=display_name,
                      dataset_id=found["id"] if found else None, progress=progress, preview_rows=limit)
    finally:
        xp.drop_temp(db.cursor())


def inspect(path: str | Path, options: ImportOptions | None = None, *, display_name: str | None = None,
            errors: int = 5) -> dict[str, Any]:
    """The detected layout of a file, per sheet (header row, each field's column with its header text and
    why, the type source, counts by type, the first errors), read on a private in-memory database:
    nothing is written, and it works while the studio holds the database file."""
    options = options or ImportOptions()
    cur = xc.scratch_cursor()
    try:
        p = _parse(Path(path), options, display_name=display_name, dataset_id=None, progress=_noop,
                   preview_rows=0, cur=cur)
    finally:
        cur.raw.close()
    sheets = []
    for pl in p.sheets:
        m = pl.mapping
        cols = {}
        for f, c in sorted(m.fields.items(), key=lambda kv: mp.FIELDS.index(kv[0])):
            columns = m.answer_columns() if f == "answer" else [c]
            cols[f] = {"columns": [x + 1 for x in columns],
                       "headers": [m.headers[x] if x < len(m.headers) else "" for x in columns],
                       "sample": pl.samples[c] if c < len(pl.samples) else "", "why": m.why.get(f, "")}
        sheets.append({
            "sheet": pl.name, "rows": pl.rows, "header_row": m.header_row, "detected": m.detected, "fields": cols,
            "options_in_question": m.options_in_question, "type_source": pl.type_source,
            "answer_ordinal": pl.ordinal,
            "unread": [{"column": c + 1, "header": m.headers[c] if c < len(m.headers) else "", "why": w}
                       for c, w in pl.unread],
            "by_type": {t: pl.by_type.get(t, 0) for t in QTYPES}, "valid": sum(pl.by_type.values()),
            "invalid": pl.errors,
            "errors": [e for e in p.errors if e["sheet"] == pl.name][:errors]})
    return {"file": p.file, "kind": p.kind, "encoding": p.encoding, "rows": p.total, "valid": p.valid,
            "invalid": len(p.errors), "by_type": {t: p.by_type.get(t, 0) for t in QTYPES},
            "sheets": sheets, "skipped": p.skipped, "notes": [n for n in p.notes if n not in p.skipped],
            "duplicates": len(p.duplicates)}


def import_exam(path: str | Path, dataset: str, options: ImportOptions | None = None, *,
                display_name: str | None = None, progress: Progress = _noop) -> dict[str, Any]:
    """Import an exam bank into ``dataset`` (created when missing) and return the CLI summary.

    Without ``skip_invalid`` any invalid row means nothing is written and a ``WorkFailed`` carrying the
    summary (every error) is raised. Duplicates are imported and reported in ``duplicates``.
    """
    from studio.core.errors import WorkFailed

    options = options or ImportOptions()
    path = Path(path)
    name = display_name or path.name
    if not (dataset or "").strip():
        raise InputError(_("name the exam dataset to import into"))
    found = store_datasets.find(dataset)
    if found and found["kind"] != "exam":
        raise InputError(_("dataset {name} holds {kind} records, not exam questions").format(
            name=repr(dataset), kind=found["kind"]))
    cur = db.cursor()
    digest = _sha256_soon(path)   # the file's digest is read alongside the parse
    try:
        p = _parse(path, options, display_name=name, dataset_id=found["id"] if found else None, progress=progress)
        if p.errors and not options.skip_invalid:
            summary = p.summary(dataset, 0)
            err = WorkFailed(ngettext(
                "{n} invalid row of {total}; nothing imported (first: {where}{reason}). Fix the file or the "
                "mapping, or import the valid rows with --skip-invalid",
                "{n} invalid rows of {total}; nothing imported (first: {where}{reason}). Fix the file or the "
                "mapping, or import the valid rows with --skip-invalid", len(p.errors)).format(
                n=len(p.errors), total=p.total, where=_where(p.errors[0]), reason=p.errors[0]["reason"]), file=name)
            err.summary = summary
            err.preview = p
            raise err
        if p.valid == 0:
            err = WorkFailed(_("no valid rows to import"), file=name)
            err.summary = p.summary(dataset, 0)
            raise err
        progress(0.8, _("writing questions"))
        sha = digest.result()
        with db.transaction() as tx:
            dataset_id = store_datasets.get_or_create(dataset, "exam", cur=tx)
            import_id = sx.insert_import(tx, dataset_id, name, sha,
                                         {**options.to_json(), "mapping": {pl.name: pl.mapping.to_json() for pl in p.sheets},
                                          "encoding": p.encoding, "type_codes": p.type_codes,
                                          "zero_is_true": p.zero_is_true},
                                         p.total, p.valid, len(p.errors), p.errors)
            imported = sx.insert_questions(tx, dataset_id, import_id, name)
        progress(1.0, _("done"))
        summary = p.summary(dataset, imported)
        summary["_preview"] = p
        summary["_import_id"] = import_id
        return summary
    finally:
        digest.cancel()
        xp.drop_temp(cur)


def _where(e: dict) -> str:
    if e.get("sheet"):
        return _("sheet {sheet} row {row}: ").format(sheet=e["sheet"], row=e["row"])
    return _("row {row}: ").format(row=e["row"])


def _sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def _sha256_soon(path: Path):
    """``_sha256`` on a thread of its own (hashing releases the GIL while DuckDB parses): a future."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="exam-sha256")
    try:
        return pool.submit(_sha256, path)
    finally:
        pool.shutdown(wait=False)


def errors_csv(errors: list[dict[str, Any]], file: str = "") -> str:
    """The error report as CSV text (file, sheet, row, reason); no cell can start a formula."""
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["file", "sheet", "row", "reason"])
    for e in errors:
        w.writerow([_safe(file), _safe(e.get("sheet") or ""), e.get("row"), _safe(e.get("reason") or "")])
    return out.getvalue()


def _safe(text) -> str:
    return neutralise(str(text))


def upload_path(name: str, data: bytes) -> Path:
    """Keep an uploaded file where a job of the server can read it: ``uploads/<content digest>/<its name>``
    beside the database (the original name kept, so every message names the file the user chose)."""
    from studio.core import settings

    digest = hashlib.sha256(data).hexdigest()[:20]
    folder = settings.path("db").resolve().parent / "uploads" / digest
    folder.mkdir(parents=True, exist_ok=True)
    safe = Path(name).name or "upload"
    path = folder / safe
    if not path.exists() or path.stat().st_size != len(data):
        tmp = folder / f".{safe}.part"
        tmp.write_bytes(data)
        tmp.replace(path)   # a reader never sees half a file
    return path
