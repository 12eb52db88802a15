"""Import an exam bank: read, map, parse every row in SQL, check it with the exam rules
(``studio.core.exam_rules``, compiled into that SQL), preview, then land whole.

``preview(path, options)`` shows what an import would do (mapping per sheet, first parsed rows, every
error, duplicates, counts by type, the judge convention) and writes nothing. ``import_exam`` lands the
rows in one transaction: all of them, or with ``skip_invalid`` the valid ones (the errors are kept in
the ``imports`` record and returned). Any invalid row without ``skip_invalid`` writes nothing.
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
from studio.data.exams import mapping as mp
from studio.data.exams import read as rd

QTYPES = rules.QTYPES
Progress = Callable[[float, str], None]


@dataclass
class ImportOptions:
    """What the user chose: sheets, header, column overrides, judge convention, skip invalid rows."""
    sheets: list[str] | None = None
    no_header: bool = False
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)  # sheet or "*" -> {field: column}
    zero_is_true: bool | None = None    # 0/1 judge answers: 0 = 正确 (None: the default, 0 = 正确)
    skip_invalid: bool = False

    def for_sheet(self, sheet: str) -> dict[str, str]:
        return {**self.overrides.get("*", {}), **self.overrides.get(sheet, {})}

    def to_json(self) -> dict:
        return {"sheets": self.sheets, "no_header": self.no_header, "map": self.overrides,
                "zero_is_true": self.zero_is_true, "skip_invalid": self.skip_invalid}


@dataclass
class SheetPlan:
    name: str
    ncols: int
    rows: int                      # data rows (after the header)
    mapping: mp.Mapping
    head: list[tuple[int, list[str | None]]]   # the first raw rows, for showing

    def columns(self) -> list[str]:
        return [self.mapping.column_label(i) for i in range(self.ncols)]


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

    @property
    def valid(self) -> int:
        return sum(self.by_type.values())

    @property
    def already_imported(self) -> int:
        """Valid rows whose question the target dataset already holds (the file imported before?)."""
        return sum(1 for d in self.duplicates if d["reason"].startswith("already in the dataset"))

    def summary(self, dataset: str, imported: int) -> dict[str, Any]:
        """The CLI contract's summary; ``by_type`` counts what was imported (all zero when nothing was)."""
        return {"dataset": dataset, "imported": imported, "rejected": len(self.errors),
                "by_type": {t: self.by_type.get(t, 0) if imported else 0 for t in QTYPES}, "errors": self.errors}


def _noop(fraction: float, text: str) -> None:
    pass


def _parse(path: Path, options: ImportOptions, *, display_name: str | None, dataset_id: int | None,
           progress: Progress, preview_rows: int = 20) -> Preview:
    """Stage, map and parse the file into the temporary ``exam_final`` table; return what was found."""
    name = display_name or path.name
    progress(0.02, "reading the file")
    book = rd.read(path, sheets=options.sheets, display_name=name)
    return _parse_book(book, options, dataset_id=dataset_id, progress=progress, preview_rows=preview_rows)


def _parse_book(book: rd.Workbook, options: ImportOptions, *, dataset_id: int | None, progress: Progress,
                preview_rows: int = 20) -> Preview:
    """Stage the book's cells, map each sheet, parse and check every row; the temporary tables are left
    for the caller to land (``import_exam``) or drop."""
    name = book.file
    cur = db.cursor()
    try:
        _stage_cells(cur, book)
        progress(0.3, "detecting columns")
        plans = _plans(cur, book, options)
        progress(0.45, "parsing options and answers")
        xp.create_stage(cur)
        for i, p in enumerate(plans):
            xp.stage_sheet(cur, p.name, i, p.mapping.fields, p.mapping.header_row, p.mapping.options_in_question)
        progress(0.7, "checking types and answers")
        counts = xp.stage_type_counts(cur)
        judge01 = _judge01_is_judge(counts)
        codes = _type_codes(counts, judge01)
        words = {r["word"]: r["n"] for r in xp.stage_judge_words(cur)}
        judge_01 = bool(words) and judge01
        zero_is_true = True if options.zero_is_true is None else options.zero_is_true
        xp.build_final(cur, type_codes=codes, judge01=judge01, zero_is_true=zero_is_true)
        by_type = xp.final_counts(cur)
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
    return Preview(name, book.kind, book.encoding, plans, total, by_type, errors, duplicates, rows, codes,
                   judge_01, zero_is_true, _notes(plans, codes, judge_01, zero_is_true))


def _stage_cells(cur, book: rd.Workbook) -> None:
    """Every sheet's text cells into ``exam_raw``; a bank with no text, or a cell too long, is refused."""
    name = book.file
    ncols = max((s.ncols for s in book.sheets), default=0)
    if ncols == 0:
        raise InputError("no rows with text found", file=name)
    xc.create_raw(cur, ncols)
    for s in book.sheets:
        if s.csv_path:
            xc.insert_raw_csv(cur, s.name, s.csv_path, s.ncols, s.delimiter, display_name=name)
        elif s.rows:
            xc.insert_raw_rows(cur, s.name, s.rows, ncols)
    longest = xc.max_cell_length(cur, ncols)
    if longest and longest[0] > rd.MAX_CELL_CHARS:
        raise InputError(f"a cell of {longest[0]:,} characters (over {rd.MAX_CELL_CHARS:,}): not an exam bank, "
                         "or a broken file", file=name, sheet=longest[1] or None, row=longest[2])


def _plans(cur, book: rd.Workbook, options: ImportOptions) -> list[SheetPlan]:
    """Each sheet's column mapping (detected, then the user's overrides); refused without data rows or
    without a question column."""
    plans = []
    for s in book.sheets:
        head = xc.raw_head(cur, s.name, s.ncols)
        if not head:
            continue
        m = mp.detect(head, s.ncols, no_header=options.no_header, header=s.header)
        m = mp.apply_overrides(m, options.for_sheet(s.name), s.ncols)
        if m.header_row is not None and not m.headers:
            m.headers = [""] * s.ncols
        plans.append(SheetPlan(s.name, s.ncols, xc.raw_count(cur, s.name, m.header_row or 0), m, head[:8]))
    if not plans or all(p.rows == 0 for p in plans):
        raise InputError("no questions found (the file holds no data rows)", file=book.file)
    for p in plans:
        if "question" not in p.mapping.fields:
            raise InputError("no question column found; map one (the page's column mapping, or --map question=COLUMN) "
                             f"(columns: {', '.join(p.columns())})", file=book.file, sheet=p.name or None)
    return plans


def _notes(plans: list[SheetPlan], codes: dict[str, str], judge_01: bool, zero_is_true: bool) -> list[str]:
    """What the user should know about how the file was read."""
    notes = []
    for p in plans:
        where = f"sheet {p.name}: " if p.name else ""
        if p.mapping.header_row is None:
            notes.append(f"{where}no header row: columns inferred from their content")
        if "answer" not in p.mapping.fields:
            notes.append(f"{where}no answer column found: every row is rejected until one is mapped (the page's column "
                         "mapping, or --map answer=COLUMN; a bank whose first option is correct maps answer to "
                         "the first option's column)")
        if p.mapping.options_in_question == "&":
            notes.append(f"{where}options are joined to the question with '&'")
        elif p.mapping.options_in_question:
            notes.append(f"{where}options are written inside the question cell (A. … B. …)")
    if codes:
        notes.append("type codes read from content: " + ", ".join(f"{k} = {v}" for k, v in codes.items()))
    if judge_01:
        notes.append("judge answers use 0/1: read as " + ("0 = 正确, 1 = 错误" if zero_is_true else "1 = 正确, 0 = 错误")
                     + " (change it with the page's 0/1 judge setting, or --judge-01)")
    return notes


def _judge01_is_judge(counts: list[dict]) -> bool:
    """0/1 answers on rows without options are judge answers when such rows dominate the open ones."""
    n01 = sum(r["n"] for r in counts if r["inferred"] == "judge01")
    other = sum(r["n"] for r in counts if r["inferred"] in ("blank", "open"))
    return n01 > 0 and n01 >= other


def _type_codes(counts: list[dict], judge01: bool) -> dict[str, str]:
    """Type values we do not recognise (``0``/``1``/``2``): their meaning when their rows agree (>= 80%)."""
    by_code: dict[str, dict[str, int]] = {}
    for r in counts:
        if r["stated"] is not None or r["type_raw"] is None:
            continue
        t = r["inferred"]
        if t == "judge01":
            t = "judge" if judge01 else "blank"
        by_code.setdefault(r["type_raw"], {}).setdefault(t, 0)
        by_code[r["type_raw"]][t] += r["n"]
    out = {}
    for code, types in by_code.items():
        # single and multi are one family: a code whose rows mix them is the one most rows show
        best, n = max(types.items(), key=lambda kv: kv[1])
        total = sum(types.values())
        choice = types.get("single", 0) + types.get("multi", 0)
        if best in ("single", "multi") and choice / total >= 0.8:
            out[code] = "multi" if types.get("multi", 0) >= types.get("single", 0) else "single"
        elif n / total >= 0.8:
            out[code] = best
    return out


def parse_table(rows: list[list[str | None]], options: ImportOptions | None = None, *, header: bool | None = True,
                limit: int = 1000) -> Preview:
    """Parse rows given in memory (the first one the header when ``header``, none when False, detected
    when None); writes nothing.
    The same path as a file import: used by tests and for pasted tables."""
    options = options or ImportOptions()
    numbered = [(i, [(c.strip() or None) if isinstance(c, str) else c for c in r]) for i, r in enumerate(rows, 1)]
    numbered = [(i, r) for i, r in numbered if any(r)]
    sheet = rd.Sheet("", max((len(r) for _, r in numbered), default=0), numbered, header=header or None)
    try:
        return _parse_book(rd.Workbook("pasted rows", "table", None, [sheet]),
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
        raise InputError("name the exam dataset to import into")
    found = store_datasets.find(dataset)
    if found and found["kind"] != "exam":
        raise InputError(f"dataset {dataset!r} holds {found['kind']} records, not exam questions")
    cur = db.cursor()
    try:
        p = _parse(path, options, display_name=name, dataset_id=found["id"] if found else None, progress=progress)
        if p.errors and not options.skip_invalid:
            summary = p.summary(dataset, 0)
            err = WorkFailed(f"{len(p.errors)} invalid row{'s' if len(p.errors) != 1 else ''} of {p.total}; "
                             f"nothing imported (first: {_where(p.errors[0])}{p.errors[0]['reason']}). "
                             "Fix the file or the mapping, or import the valid rows with --skip-invalid",
                             file=name)
            err.summary = summary
            err.preview = p
            raise err
        if p.valid == 0:
            err = WorkFailed("no valid rows to import", file=name)
            err.summary = p.summary(dataset, 0)
            raise err
        progress(0.8, "writing questions")
        sha = _sha256(path)
        with db.transaction() as tx:
            dataset_id = store_datasets.get_or_create(dataset, "exam", cur=tx)
            import_id = sx.insert_import(tx, dataset_id, name, sha,
                                         {**options.to_json(), "mapping": {pl.name: pl.mapping.to_json() for pl in p.sheets},
                                          "encoding": p.encoding, "type_codes": p.type_codes,
                                          "zero_is_true": p.zero_is_true},
                                         p.total, p.valid, len(p.errors), p.errors)
            imported = sx.insert_questions(tx, dataset_id, import_id, name)
        progress(1.0, "done")
        summary = p.summary(dataset, imported)
        summary["_preview"] = p
        summary["_import_id"] = import_id
        return summary
    finally:
        xp.drop_temp(cur)


def _where(e: dict) -> str:
    return (f"sheet {e['sheet']} " if e.get("sheet") else "") + f"row {e['row']}: "


def _sha256(path: Path) -> str | None:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


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
    """Keep an uploaded file under the temp folder (named by its content) so it can be read by path."""
    import tempfile

    digest = hashlib.sha256(data).hexdigest()[:20]
    folder = Path(tempfile.gettempdir()) / "studio-uploads" / digest
    folder.mkdir(parents=True, exist_ok=True)
    safe = Path(name).name or "upload"
    path = folder / safe
    if not path.exists() or path.stat().st_size != len(data):
        path.write_bytes(data)
    return path
