"""Word and text question banks (.docx, .txt, .md) and spreadsheets pasted from Word, read as one table.

A bank written as running text is a list of lines: section headings that set the type (``一、单项选择题``),
numbered questions (``1、`` ``1.`` ``（1）`` ``第3题(单选)：``), options one per line or several on one
line (``A、`` ``【A】`` ``(A)`` ``A．``), answers on ``答案：B`` lines (or glued to the end of a line),
explanations on ``解析：`` lines. ``parse_lines`` turns them into questions and ``bank_sheet`` into ONE
``Sheet`` with a fixed header (``HEADER``) that the importer maps like any table: each question's row
number is the line (for .docx: the paragraph) where it starts, so every error names it.

The parts: ``text_lines`` classifies each line, ``question_assembly`` builds the questions and the sheet
(its docstring lists what is decided there, and why), ``docx_numbering`` turns a Word document into lines
numbered as Word shows them. This module reads the files and reshapes spreadsheets pasted from Word.
"""
from __future__ import annotations

import re
from pathlib import Path

from studio.core import exam_rules as rules
from studio.core import textio
from studio.core.errors import InputError
from studio.core.i18n import N_, _
from studio.data.exams.damaged import word_error
from studio.data.exams.docx_numbering import docx_lines as _docx_lines
from studio.data.exams.docx_numbering import docx_tables
from studio.data.exams.question_assembly import HEADER, Question, bank_sheet, finish, parse_lines
from studio.data.exams.sheets import Sheet, Workbook
from studio.data.exams.text_lines import (ANSWER, CHOICE_CELLS, EXPLANATION, HEADING, JUDGE_MARK, LETTER_CLASS,
                                          NOT_A_BANK, OPTION_START, QUESTION, STEM_ANSWER, TYPE_CELL, heading,
                                          looks_like_bank, split_answer, split_lines, split_options, text_layout)

__all__ = ["ANSWER", "CHOICE_CELLS", "EXPLANATION", "HEADER", "HEADING", "JUDGE_MARK", "NOT_A_BANK", "NO_QUESTIONS",
           "OPTION_START", "QUESTION", "Question", "STEM_ANSWER", "SUFFIXES", "TYPE_CELL", "bank_sheet", "finish",
           "heading", "is_text_bank", "looks_like_bank", "looks_pasted", "parse_lines", "pasted_lines", "read",
           "read_docx", "read_text", "reshape", "split_answer", "split_options", "text_layout"]

SUFFIXES = (".docx", ".md", ".markdown")   # always read here; a .txt only when it is not a table
NO_QUESTIONS = N_("no questions found: number the questions (`1、…` or Word numbering), start option lines with "
                  "`A、` / `A.` / `(A)` and give answers on `答案：B` lines")


def is_text_bank(path: Path, name: str) -> bool:
    """Whether a .txt file is a question list (True) or a delimited table (False); refused when neither."""
    with open(path, "rb") as f:
        head = f.read(textio.SNIFF_BYTES)
    encoding = textio.detect(head, name)
    return text_layout(head.decode(encoding, errors="ignore").lstrip("\ufeff"), name) == "bank"


def read(path: Path, name: str) -> Workbook:
    """A .docx, .md or .txt bank as one sheet under ``HEADER`` (a .md pipe table as that table)."""
    suffix = path.suffix.lower()
    if suffix == ".docx":
        return read_docx(path, name)
    return read_text(path, name, "md" if suffix in (".md", ".markdown") else "txt")


def read_text(path: Path, name: str, kind: str) -> Workbook:
    """A .txt or .md bank (UTF-8 or GBK); a Markdown file holding a pipe table is read as that table."""
    text, encoding = textio.decode(path.read_bytes(), name)
    text = text.lstrip("\ufeff")
    if not text.strip(rules.WS):
        raise InputError(_("the file holds no text"), file=name)
    lines = list(enumerate(split_lines(text), start=1))
    if kind == "md":
        table = _pipe_table(lines)
        lines = [(no, _unmark(t)) for no, t in lines]
        in_table = {r for r, _unused in table.rows} if table else set()
        if table and not looks_like_bank([t for no, t in lines if no not in in_table]):
            return Workbook(name, "md", encoding, [table])   # a table of questions, not a table inside one
    sheet = bank_sheet(lines)
    _require_questions(sheet, name)
    return Workbook(name, kind, encoding, [sheet])


def _require_questions(sheet: Sheet, name: str) -> None:
    if len(sheet.rows) <= 1:
        raise InputError(_(NO_QUESTIONS), file=name)


def _unmark(line: str) -> str:
    """A Markdown line as text: no quote marker, list bullet, bold or escapes (headings keep their #)."""
    line = re.sub(r"^\s*>\s?", "", line)
    line = re.sub(r"^\s*[-*+]\s+(?!\s)", "", line)
    line = line.replace("**", "")
    return re.sub(r"\\([\\`*_{}\[\]()#+\-.!|])", r"\1", line)


def _pipe_table(lines: list[tuple[int, str]]) -> Sheet | None:
    """The first Markdown pipe table (``| a | b |`` rows under a ``|---|`` line), or None."""
    rows, seen_rule = [], False
    for no, line in lines:
        s = line.strip()
        if not (s.startswith("|") and s.endswith("|") and len(s) > 1):
            if seen_rule and rows:
                break
            rows, seen_rule = [], False
            continue
        cells = [c.strip().replace("\\|", "|") or None for c in re.split(r"(?<!\\)\|", s[1:-1])]
        if all(c and re.fullmatch(r":?-{3,}:?", c) for c in cells):
            seen_rule = True
            continue
        rows.append((no, cells))
    ncols = max((len(c) for _unused, c in rows), default=0)
    return Sheet("", ncols, rows) if seen_rule and len(rows) >= 2 else None


def read_docx(path: Path, name: str) -> Workbook:
    """A Word bank: every paragraph (numbered as Word shows it) and table row is a line; the row number
    of a question is its paragraph's number in the document."""
    import docx

    try:
        document = docx.Document(str(path))
    except Exception:  # noqa: BLE001 - python-docx raises several types for a broken package: say which way
        raise word_error(path, name) from None
    sheet = bank_sheet(list(_docx_lines(document)))
    if len(sheet.rows) <= 1 and document.tables:
        return Workbook(name, "docx", None, docx_tables(document))   # a bank kept as a Word table
    _require_questions(sheet, name)
    return Workbook(name, "docx", None, [sheet])


# ------------------------------------------------------------------ spreadsheets pasted from Word

def looks_pasted(sheet: Sheet) -> bool:
    """A sheet of lines pasted from Word: rows that hold only options (every filled cell starts with a
    label) below rows that start with a question number."""
    if sheet.csv_path or sheet.header or len(sheet.rows) < 3:
        return False
    sample = sheet.rows[:500]
    option_rows = question_rows = 0
    for _unused, cells in sample:
        filled = [c for c in cells if c]
        if filled and all(OPTION_START.match(c) for c in filled):
            option_rows += 1
        elif filled and QUESTION.match("\t".join(filled)):
            question_rows += 1
    share = option_rows / len(sample)
    return option_rows >= 2 and (question_rows >= 1 and share >= 0.15 or share >= 0.3)


_SHORT_ANSWER = re.compile(rf"^(?:[{LETTER_CLASS}]{{1,8}}|正确|错误|对|错|√|×)$")


def pasted_lines(sheet: Sheet) -> list[tuple[int, str]]:
    """Each row's filled cells joined by tabs; a short answer in a question row's last cell (``B``, ``√``)
    becomes that question's answer."""
    out = []
    for row_no, cells in sheet.rows:
        filled = [c for c in cells if c]
        if len(filled) >= 2 and not OPTION_START.match(filled[0]) and _SHORT_ANSWER.match(filled[-1]):
            filled = filled[:-1] + ["答案：" + filled[-1]]
        out += [(row_no, line) for line in "\t".join(filled).split("\n")]
    return out


def reshape(book: Workbook) -> Workbook:
    """The workbook with every sheet pasted from Word turned into a bank sheet under ``HEADER``."""
    book.sheets = [bank_sheet(pasted_lines(s), s.name) if looks_pasted(s) else s for s in book.sheets]
    return book
