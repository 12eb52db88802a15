"""The ``Mapping`` of one sheet (which 0-based column holds which field, and why) and the user's overrides
of it: ``--map FIELD=COLUMN`` / ``SHEET:FIELD=COLUMN``, ``--header-row N``, the page's selects. A column is
named by its 1-based number or its header text; ``5+6+7`` spreads the answer over several columns.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from studio.core.errors import InputError
from studio.core.i18n import _
from studio.data.exams.header_words import FIELDS, LETTERS

ANSWER_SEP = "；"          # several answer columns are joined with this, in column order


@dataclass
class Mapping:
    """The columns of one sheet: ``fields`` maps a field to a 0-based column."""
    fields: dict[str, int] = field(default_factory=dict)
    header_row: int | None = None          # the row number of the header, None without one
    headers: list[str] = field(default_factory=list)   # the header cells (or "column N")
    options_in_question: str | None = None  # "&": `stem&opt1&opt2`; "labels": `stem A. x B. y` in the question cell
    detected: str = "header"               # header | content | user
    answers: list[int] = field(default_factory=list)   # answer columns joined in order (more than one)
    why: dict[str, str] = field(default_factory=dict)  # field -> why this column
    type_codes: dict[str, str] = field(default_factory=dict)  # a legend in the type header: code -> type
    answer_ordinal: bool = False           # answers are option ordinals (1 = A): said by the header
    notes: list[str] = field(default_factory=list)     # what the detection decided against the header
    skip: list[int] = field(default_factory=list)      # columns the user leaves out on purpose
    stats: list[dict] | None = field(default=None, repr=False, compare=False)  # of the data rows, once

    def column_label(self, col: int) -> str:
        name = self.headers[col] if col < len(self.headers) and self.headers[col] else ""
        return f"{col + 1}: {name}" if name else _("column {n}").format(n=col + 1)

    def answer_columns(self) -> list[int]:
        """The answer's columns in order (one, several joined, or none)."""
        if len(self.answers) > 1:
            return list(self.answers)
        return [self.fields["answer"]] if "answer" in self.fields else []

    def describe(self) -> dict[str, str]:
        """FIELD -> 'N: header' for display (several answer columns joined with ' + ')."""
        out = {}
        for f, c in sorted(self.fields.items(), key=lambda kv: FIELDS.index(kv[0])):
            out[f] = (" + ".join(self.column_label(a) for a in self.answers) if f == "answer" and len(self.answers) > 1
                      else self.column_label(c))
        return out

    def to_json(self) -> dict:
        out = {"fields": {f: c + 1 for f, c in self.fields.items()}, "header_row": self.header_row,
               "options_in_question": self.options_in_question, "detected": self.detected}
        if len(self.answers) > 1:
            out["answers"] = [c + 1 for c in self.answers]
        if self.type_codes:
            out["type_codes"] = self.type_codes
        if self.answer_ordinal:
            out["answer_ordinal"] = True
        return out


def parse_map_args(items: list[str] | None) -> dict[str, dict[str, str]]:
    """``FIELD=COLUMN`` or ``SHEET:FIELD=COLUMN`` strings -> {sheet or '*': {field: column}}."""
    out: dict[str, dict[str, str]] = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(_("--map {item}: write FIELD=COLUMN (e.g. answer=7 or answer=正确答案)").format(
                item=repr(item)))
        key, column = item.split("=", 1)
        sheet = "*"
        if ":" in key:
            sheet, key = key.rsplit(":", 1)
        f = _field_name(key)
        out.setdefault(sheet, {})[f] = column.strip()
    return out


def parse_header_rows(items: list[str] | None) -> dict[str, int]:
    """``N`` or ``SHEET:N`` strings (``--header-row``) -> {sheet or '*': row number}; 0 means no header."""
    out: dict[str, int] = {}
    for item in items or []:
        sheet, _sep, n = str(item).rpartition(":")
        if not n.strip().isdigit():
            raise InputError(_("--header-row {item}: write a row number (1 = the first row; 0 = no header), or "
                               "SHEET:N for one sheet").format(item=repr(item)))
        out[sheet or "*"] = int(n)
    return out


def _field_name(key: str) -> str:
    k = key.strip()
    if k.upper() in LETTERS and len(k) == 1:
        return k.upper()
    if k.lower() in FIELDS:
        return k.lower()
    if k.lower() in ("stem", "题目"):
        return "question"
    if k.lower() in ("skip", "ignore"):
        return "skip"   # columns left out on purpose: --map skip=8+9
    raise InputError(_("unknown field {field}; choose one of {fields} (or skip)").format(
        field=repr(key), fields=", ".join(FIELDS)))


def apply_overrides(m: Mapping, overrides: dict[str, str], ncols: int) -> Mapping:
    """The detected mapping with the user's choices applied (COLUMN: 1-based number or header name,
    ``5+6+7`` for an answer over several columns; empty: unmapped)."""
    if not overrides:
        return m
    fields = dict(m.fields)
    answers = list(m.answers)
    why = dict(m.why)
    skip = list(m.skip)
    for f, column in overrides.items():
        f = _field_name(f)
        if f == "skip":
            skip = [] if column in ("", "-", "none") else resolve_columns(column, m, ncols)
            continue
        if column in ("", "-", "none"):
            fields.pop(f, None)
            why.pop(f, None)
            if f == "answer":
                answers = []
            continue
        cols = resolve_columns(column, m, ncols) if f == "answer" else [resolve_column(column, m, ncols)]
        for col in cols:
            for other, c in list(fields.items()):
                if c == col and other != f and not (f == "answer" and other in LETTERS):
                    if other == "answer" and f in LETTERS:
                        continue
                    del fields[other]
            if f in LETTERS and col in answers:
                answers = []
        if f == "answer":
            answers = cols if len(cols) > 1 else []
        fields[f] = cols[0]
        why[f] = _("chosen")
    if "answer" not in fields:
        answers = []
    out = Mapping(fields, m.header_row, m.headers, m.options_in_question, "user", answers, why,
                  m.type_codes if fields.get("type") == m.fields.get("type") else {},
                  m.answer_ordinal and fields.get("answer") == m.fields.get("answer"), list(m.notes), skip, m.stats)
    if "options" in fields or any(l in fields for l in LETTERS):
        out.options_in_question = None
    return out


def resolve_columns(column: str, m: Mapping, ncols: int) -> list[int]:
    """One column, or several joined with ``+`` (``5+6+7`` / ``答案A+答案B``), in that order."""
    column = str(column).strip()
    try:
        return [resolve_column(column, m, ncols)]
    except InputError:
        if "+" not in column:
            raise
    return [resolve_column(part, m, ncols) for part in column.split("+") if part.strip()]


def resolve_column(column: str, m: Mapping, ncols: int) -> int:
    """A 1-based column number or a header name -> 0-based column; errors list the choices."""
    column = str(column).strip()
    if column.isdigit():
        n = int(column)
        if 1 <= n <= ncols:
            return n - 1
        raise InputError(_("column {n} does not exist: the sheet has {ncols} columns").format(n=n, ncols=ncols))
    for i, h in enumerate(m.headers):
        if h and h.strip().lower() == column.lower():
            return i
    names = ", ".join(f"{i + 1}={h}" for i, h in enumerate(m.headers) if h) or _("none (no header row)")
    raise InputError(_("no column named {column}; columns: {names}").format(column=repr(column), names=names))
