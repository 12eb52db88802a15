"""What the user chose for an import (``ImportOptions``) and what it makes of each sheet (``SheetPlan``):
the column mapping detected and overridden, the sheets skipped as not question banks, the derived columns
the SQL parse reads, the type codes read from the parsed content, and the notes that say how the file was
read. ``importer`` runs them in order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from store import exam_cells as xc
from studio.core import exam_rules as rules
from studio.core.errors import InputError
from studio.data.exams import mapping as mp
from studio.data.exams import read as rd


@dataclass
class ImportOptions:
    """What the user chose: sheets, header, column overrides, judge convention, skip invalid rows."""
    sheets: list[str] | None = None
    no_header: bool = False
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)  # sheet or "*" -> {field: column}
    zero_is_true: bool | None = None    # 0/1 judge answers: 0 = 正确 (None: the default, 0 = 正确)
    skip_invalid: bool = False
    header_rows: dict[str, int] = field(default_factory=dict)  # sheet or "*" -> header row number (0: none)

    def for_sheet(self, sheet: str) -> dict[str, str]:
        return {**self.overrides.get("*", {}), **self.overrides.get(sheet, {})}

    def header_row_for(self, sheet: str) -> int | None:
        return self.header_rows.get(sheet, self.header_rows.get("*"))

    def to_json(self) -> dict:
        out = {"sheets": self.sheets, "no_header": self.no_header, "map": self.overrides,
               "zero_is_true": self.zero_is_true, "skip_invalid": self.skip_invalid}
        if self.header_rows:
            out["header_rows"] = self.header_rows
        return out


@dataclass
class SheetPlan:
    name: str
    ncols: int
    rows: int                      # data rows (after the header)
    mapping: mp.Mapping
    head: list[tuple[int, list[str | None]]]   # the first raw rows, for showing
    samples: list[str] = field(default_factory=list)   # a sample value per column
    type_source: str = ""          # where the rows' type comes from, in words
    unread: list[tuple[int, str]] = field(default_factory=list)  # option/answer-like columns left unmapped
    ordinal: bool = False          # answers read as option ordinals (1 = A)
    by_type: dict[str, int] = field(default_factory=dict)  # valid rows by type, this sheet
    errors: int = 0                # invalid rows, this sheet

    def columns(self) -> list[str]:
        return [self.mapping.column_label(i) for i in range(self.ncols)]

    def choice_label(self, col: int) -> str:
        """A column as a person picks it: number, header text and a sample value."""
        sample = self.samples[col] if col < len(self.samples) else ""
        return self.mapping.column_label(col) + (f" · e.g. {sample}" if sample else "")


def plan_sheets(cur, book: rd.Workbook, options: ImportOptions) -> tuple[list[SheetPlan], list[str]]:
    """Each sheet's column mapping (detected, then the user's overrides) and the sheets skipped as not
    question banks (notes, lookups); refused without data rows or without a question column."""
    plans = []
    for s in book.sheets:
        # the first rows, from memory when the sheet was parsed here (the same cells as staged)
        head = [(r, c) for r, c in s.rows[:300]] if s.rows else xc.raw_head(cur, s.name, s.ncols)
        if not head:
            continue
        hr = options.header_row_for(s.name)
        user = options.for_sheet(s.name)
        try:
            detected = mp.detect(head, s.ncols, no_header=options.no_header, header=s.header, header_row=hr)
            m = mp.apply_overrides(detected, user, s.ncols)
        except InputError as err:
            if err.file:
                raise
            raise InputError(err.message, file=book.file, sheet=s.name or None) from None
        if m.header_row is not None and not m.headers:
            m.headers = [""] * s.ncols
        unmapped = {detected.fields[f] for f, v in user.items() if v in ("", "-", "none") and f in detected.fields}
        if user.get("answer") in ("", "-", "none"):
            unmapped |= set(detected.answers)
        unmapped |= set(m.skip)
        after = m.header_row or 0
        n = sum(1 for r, _ in s.rows if r > after) if s.rows else xc.raw_count(cur, s.name, after)
        p = SheetPlan(s.name, s.ncols, n, m, head[:8],
                      mp.samples(head, s.ncols, m.header_row), unread=mp.unread_columns(m, head, s.ncols, unmapped),
                      ordinal=mp.ordinal_answers(m, head))
        p.type_source = _type_source(p)
        plans.append(p)
    if not plans or all(p.rows == 0 for p in plans):
        raise InputError("no questions found (the file holds no data rows)", file=book.file)
    skipped = []
    if len(plans) > 1 and any(_is_bank(p) for p in plans):
        for p in [p for p in plans if not _is_bank(p) and p.mapping.detected != "user"]:
            plans.remove(p)
            skipped.append(f"sheet {p.name}: skipped, not a question bank (no question with options or answers "
                           f"found in its {p.rows} rows; map its columns to import it)")
    for p in plans:
        if "question" not in p.mapping.fields:
            raise InputError("no question column found; map one (the page's column mapping, or --map question=COLUMN) "
                             f"(columns: {', '.join(p.columns())})", file=book.file, sheet=p.name or None)
    return plans, skipped


def _is_bank(p: SheetPlan) -> bool:
    """A sheet of questions: a question column with an answer or options, or a sheet named for a type."""
    m = p.mapping
    if p.rows == 0 or "question" not in m.fields:
        return False
    return bool(m.answer_columns() or "options" in m.fields or any(l in m.fields for l in mp.LETTERS)
                or m.options_in_question or rules.stated_type(p.name))


def prepare_sheet(cur, p: SheetPlan) -> dict[str, int]:
    """The columns the parse reads for one sheet: option cells cleaned of placeholders and their own
    labels, several answer columns joined (and ordinals read as letters) into one derived column, the
    type read through a header legend or taken from the sheet's name, each as a derived column."""
    m = p.mapping
    fields = dict(m.fields)
    after = m.header_row or 0
    letters = {l: c for l, c in m.fields.items() if l in mp.LETTERS and c not in m.answer_columns()}
    xc.clean_option_cells(cur, p.name, after, letters)
    answers = m.answer_columns()
    if answers and (len(answers) > 1 or p.ordinal):
        fields["answer"] = xc.derive_answer(cur, p.name, after, answers, sep=mp.ANSWER_SEP,
                                            ordinal_over=list(letters.values()) if p.ordinal else None)
    sheet_type = p.name if rules.stated_type(p.name) else None
    codes = {k: rules.TYPE_NAMES[v] for k, v in m.type_codes.items()}
    if sheet_type or codes:
        fields["type"] = xc.derive_type(cur, p.name, after, m.fields.get("type"), codes, sheet_type)
    return fields


def _type_source(p: SheetPlan) -> str:
    m = p.mapping
    sheet_type = rules.stated_type(p.name) if p.name else None
    parts = []
    if "type" in m.fields:
        parts.append(f"column {m.column_label(m.fields['type'])}")
        if m.type_codes:
            parts.append("codes read by the legend in its header: "
                         + ", ".join(f"{k} = {v}" for k, v in m.type_codes.items()))
    if sheet_type:
        parts.append(f"the sheet's name {p.name!r} ({sheet_type})" + (" where the column is blank" if parts else ""))
    if not parts:
        return "inferred from each row's options and answer"
    return "; ".join(parts) + "; rows without a recognisable type: inferred from options and answer"


def reading_notes(plans: list[SheetPlan], codes: dict[str, str], judge_01: bool, zero_is_true: bool) -> list[str]:
    """What the user should know about how the file was read."""
    notes = []
    for p in plans:
        where = f"sheet {p.name}: " if p.name else ""
        if p.mapping.header_row is None:
            notes.append(f"{where}no header row: columns inferred from their content")
        elif p.mapping.header_row > 1:
            notes.append(f"{where}header in row {p.mapping.header_row}: the rows above it are not questions")
        for note in p.mapping.notes:
            notes.append(where + note)
        if len(p.mapping.answers) > 1:
            notes.append(f"{where}the answer is joined from {len(p.mapping.answers)} columns, in order: "
                         + ", ".join(p.mapping.column_label(c) for c in p.mapping.answers))
        if p.ordinal:
            notes.append(f"{where}answers are option ordinals: 1 = A, 2 = B, …")
        if p.mapping.type_codes:
            notes.append(f"{where}type codes from the legend in the type header: "
                         + ", ".join(f"{k} = {v}" for k, v in p.mapping.type_codes.items()))
        for col, looks in p.unread:
            notes.append(f"{where}column {p.mapping.column_label(col)} {looks} and holds data but is not mapped: "
                         "its rows are not valid until it is mapped (or left out on purpose)")
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


def judge01_is_judge(counts: list[dict]) -> bool:
    """0/1 answers on rows without options are judge answers when such rows dominate the open ones."""
    n01 = sum(r["n"] for r in counts if r["inferred"] == "judge01")
    other = sum(r["n"] for r in counts if r["inferred"] in ("blank", "open"))
    return n01 > 0 and n01 >= other


def content_type_codes(counts: list[dict], judge01: bool) -> dict[str, str]:
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
