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
from studio.core.i18n import _
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

    @classmethod
    def from_json(cls, data: dict | None) -> "ImportOptions":
        """The options ``to_json`` wrote (a job's arguments)."""
        data = data or {}
        return cls(sheets=data.get("sheets"), no_header=bool(data.get("no_header")),
                   overrides={k: dict(v) for k, v in (data.get("map") or {}).items()},
                   zero_is_true=data.get("zero_is_true"), skip_invalid=bool(data.get("skip_invalid")),
                   header_rows={k: int(v) for k, v in (data.get("header_rows") or {}).items()})


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
        return self.mapping.column_label(col) + (_(" · e.g. {sample}").format(sample=sample) if sample else "")


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
        n = sum(1 for r, _unused in s.rows if r > after) if s.rows else xc.raw_count(cur, s.name, after, s.ncols)
        p = SheetPlan(s.name, s.ncols, n, m, head[:8],
                      mp.samples(head, s.ncols, m.header_row), unread=mp.unread_columns(m, head, s.ncols, unmapped),
                      ordinal=mp.ordinal_answers(m, head))
        p.type_source = _type_source(p)
        plans.append(p)
    if not plans or all(p.rows == 0 for p in plans):
        if any(p.mapping.header_row is not None for p in plans):
            raise InputError(_("the file has a header but no rows: no questions found below it"), file=book.file)
        raise InputError(_("no questions found (the file holds no data rows)"), file=book.file)
    skipped = []
    if len(plans) > 1 and any(_is_bank(p) for p in plans):
        for p in [p for p in plans if not _is_bank(p) and p.mapping.detected != "user"]:
            plans.remove(p)
            skipped.append(_("sheet {sheet}: skipped, not a question bank (no question with options or answers "
                             "found in its {rows} rows; map its columns to import it)").format(sheet=p.name, rows=p.rows))
    for p in plans:
        if "question" not in p.mapping.fields:
            raise InputError(_("no question column found; map one (the page's column mapping, or --map "
                               "question=COLUMN) (columns: {columns})").format(columns=", ".join(p.columns())),
                             file=book.file, sheet=p.name or None)
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
        parts.append(_("column {column}").format(column=m.column_label(m.fields["type"])))
        if m.type_codes:
            parts.append(_("codes read by the legend in its header: {codes}").format(codes=_codes(m.type_codes)))
    if sheet_type:
        named = _("the sheet's name {name} ({type})").format(name=repr(p.name), type=rules.type_word(sheet_type))
        parts.append(_("{source} where the column is blank").format(source=named) if parts else named)
    if not parts:
        return _("inferred from each row's options and answer")
    return _("{sources}; rows without a recognisable type: inferred from options and answer").format(
        sources="; ".join(parts))


def _codes(codes: dict[str, str]) -> str:
    return ", ".join(f"{k} = {rules.type_word(v)}" for k, v in codes.items())


def reading_notes(plans: list[SheetPlan], codes: dict[str, str], judge_01: bool, zero_is_true: bool) -> list[str]:
    """What the user should know about how the file was read."""
    notes = []
    for p in plans:
        notes += [(_("sheet {sheet}: {note}").format(sheet=p.name, note=n) if p.name else n) for n in _sheet_notes(p)]
    if codes:
        notes.append(_("type codes read from content: {codes}").format(codes=_codes(codes)))
    if judge_01:
        notes.append(_("judge answers use 0/1: read as {reading} (change it with the page's 0/1 judge setting, or "
                       "--judge-01)").format(reading="0 = 正确, 1 = 错误" if zero_is_true else "1 = 正确, 0 = 错误"))
    return notes


def _sheet_notes(p: SheetPlan) -> list[str]:
    m = p.mapping
    notes = []
    if m.header_row is None:
        notes.append(_("no header row: columns inferred from their content"))
    elif m.header_row > 1:
        notes.append(_("header in row {row}: the rows above it are not questions").format(row=m.header_row))
    notes += m.notes
    if len(m.answers) > 1:
        notes.append(_("the answer is joined from {n} columns, in order: {columns}").format(
            n=len(m.answers), columns=", ".join(m.column_label(c) for c in m.answers)))
    if p.ordinal:
        notes.append(_("answers are option ordinals: 1 = A, 2 = B, …"))
    if m.type_codes:
        notes.append(_("type codes from the legend in the type header: {codes}").format(codes=_codes(m.type_codes)))
    for col, looks in p.unread:
        notes.append(_("column {column} {looks} and holds data but is not mapped: its rows are not valid until it "
                       "is mapped (or left out on purpose)").format(column=m.column_label(col), looks=looks))
    if "answer" not in m.fields:
        notes.append(_("no answer column found: every row is rejected until one is mapped (the page's column "
                       "mapping, or --map answer=COLUMN; a bank whose first option is correct maps answer to the "
                       "first option's column)"))
    if m.options_in_question == "&":
        notes.append(_("options are joined to the question with '&'"))
    elif m.options_in_question:
        notes.append(_("options are written inside the question cell (A. … B. …)"))
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
