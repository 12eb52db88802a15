"""Which column holds what: detected from header names (Chinese and English) or, without a header row,
from what the cells look like; overridden by the user (``--map FIELD=COLUMN`` / the page's selects).

Fields: subject type question options A..H answer explanation id. Columns are 0-based inside, shown
1-based with their header name. An explicit choice takes its column away from the field it was detected
for, except that ``answer`` may name an option column: "the answer is this option's text" (the
first-option-is-correct convention of some banks: ``--map answer=2``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from studio.core.errors import InputError

LETTERS = "ABCDEFGH"
FIELDS = ("subject", "type", "question", "options", *LETTERS, "answer", "explanation", "id")
FIELD_HELP = {
    "subject": "专业 / 科目 / 类别", "type": "题型", "question": "题目 / 题干", "options": "all options in one cell",
    "answer": "正确答案", "explanation": "解析 / 依据", "id": "序号 / id",
    **{l: f"option {l}" for l in LETTERS},
}

# header names, normalised (lower case, no spaces or brackets); exact matches first, then containment
SYNONYMS = {
    "subject": ["专业", "科目", "类别", "分类", "学科", "课程", "专业类别", "所属专业", "题库", "章节", "知识点",
                "category", "subject", "discipline", "domain"],
    "type": ["题型", "类型", "题目类型", "试题类型", "题型名称", "type", "questiontype", "qtype", "kind"],
    "question": ["题目", "题干", "题目内容", "试题", "试题内容", "问题", "题目名称", "内容", "试题题干", "题面",
                 "question", "stem", "prompt", "title", "content"],
    "options": ["选项", "选项内容", "备选项", "备选答案", "答案选项", "options", "choices", "option", "choice"],
    "answer": ["正确答案", "答案", "标准答案", "参考答案", "正确选项", "答案选项值", "answer", "answers",
               "correct", "correctanswer", "key", "label", "target"],
    "explanation": ["解析", "答案解析", "试题解析", "依据", "题目依据条款", "依据条款", "出处", "解释", "说明",
                    "explanation", "analysis", "rationale", "reference", "basis"],
    "id": ["id", "序号", "编号", "题号", "试题编号", "题目编号", "no", "number", "index", "qid"],
}
_NUMERALS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "七": 6, "八": 7}
_NORM = re.compile(r"[\s:：*＊()（）\[\]【】_\-.．、#]+")
TYPE_WORDS = ("单选", "多选", "判断", "填空", "问答", "简答", "选择", "不定项", "论述", "是非", "计算")
JUDGE_WORDS = {"正确", "错误", "对", "错", "√", "×", "✓", "✔", "✗", "✘", "T", "F", "TRUE", "FALSE", "是", "否",
               "Y", "N", "YES", "NO", "0", "1"}
_LETTER_ANSWER = re.compile(r"^[A-Ha-hＡ-Ｈ]([\s,，、;；/]*[A-Ha-hＡ-Ｈ]){0,7}$")
_LABELLED = re.compile(r"^[(（]?[A-HＡ-Ｈ][\s]*[.．、:：)）]")
_INT = re.compile(r"^\d{1,9}$")
_LABELS_IN_STEM = re.compile(r"\S.*?(?:^|\s)[(（]?[AＡ]\s*[.．、:：)）].*?\s[(（]?[BＢ]\s*[.．、:：)）]", re.S)


def _norm(text: str | None) -> str:
    return _NORM.sub("", (text or "").lower())


def header_field(name: str | None) -> str | None:
    """The field a header cell names, or None. ``选项A`` / ``A`` / ``option_a`` -> ``A``."""
    n = _norm(name)
    if not n or n.startswith("unnamed") or len(n) > 16:
        return None
    m = re.fullmatch(r"(?:选项|option|答案|choice|opt)?([a-h])(?:选项|项)?", n)
    if m:
        return m.group(1).upper()
    m = re.fullmatch(r"(?:选项|option|choice)([1-8一二三四五六七八])", n)
    if m:
        k = m.group(1)
        return LETTERS[_NUMERALS[k] if k in _NUMERALS else int(k) - 1]
    for f, names in SYNONYMS.items():
        if n in names:
            return f
    if len(n) > 10:
        return None
    hits = [(len(s), f) for f, names in SYNONYMS.items() for s in names if len(s) >= 2 and s in n]
    return max(hits)[1] if hits else None


@dataclass
class Mapping:
    """The columns of one sheet: ``fields`` maps a field to a 0-based column."""
    fields: dict[str, int] = field(default_factory=dict)
    header_row: int | None = None          # the row number of the header, None without one
    headers: list[str] = field(default_factory=list)   # the header cells (or "column N")
    options_in_question: str | None = None  # "&": `stem&opt1&opt2`; "labels": `stem A. x B. y` in the question cell
    detected: str = "header"               # header | content | user

    def column_label(self, col: int) -> str:
        name = self.headers[col] if col < len(self.headers) and self.headers[col] else ""
        return f"{col + 1}: {name}" if name else f"column {col + 1}"

    def describe(self) -> dict[str, str]:
        """FIELD -> 'N: header' for display."""
        return {f: self.column_label(c) for f, c in sorted(self.fields.items(), key=lambda kv: FIELDS.index(kv[0]))}

    def to_json(self) -> dict:
        return {"fields": {f: c + 1 for f, c in self.fields.items()}, "header_row": self.header_row,
                "options_in_question": self.options_in_question, "detected": self.detected}


def detect(rows: list[tuple[int, list[str | None]]], ncols: int, *, no_header: bool = False,
           header: bool | None = None) -> Mapping:
    """Detect the header row (among the first five rows) and the mapping; else infer from content."""
    if header is not False and not no_header:
        for row_no, cells in rows[:5]:
            found = {}
            for i, c in enumerate(cells):
                f = header_field(c)
                if f and f not in found:
                    found[f] = i
            strong = {"question", "answer", "options"} & set(found)
            filled = [c for c in cells if c]
            named = sum(header_field(c) is not None for c in filled)
            wordy = any(len(c) > 40 for c in filled) or named * 2 < len(filled)  # a data row, not names
            if header or (not wordy and ((strong and len(found) >= 2) or len(found) >= 3)):
                m = Mapping(found, row_no, [c or "" for c in cells] + [""] * (ncols - len(cells)), detected="header")
                data = [r for r in rows if r[0] > row_no]
                _fill_question(m, data, ncols)
                _detect_stem_options(m, data)
                return m
    m = infer_from_content(rows, ncols)
    _detect_stem_options(m, rows)
    return m


def _fill_question(m: Mapping, rows, ncols) -> None:
    """A header without a recognised question column: take the longest unmapped text column."""
    if "question" in m.fields or not rows:
        return
    stats = _column_stats(rows, ncols)
    used = set(m.fields.values())
    free = [c for c in range(ncols) if c not in used and stats[c]["filled"] > 0.5]
    if free:
        m.fields["question"] = max(free, key=lambda c: stats[c]["avg_len"])


def _column_stats(rows, ncols) -> list[dict]:
    sample = rows[:300]
    out = []
    for c in range(ncols):
        vals = [(cells[c] if c < len(cells) else None) for _, cells in sample]
        filled = [v for v in vals if v]
        n = max(len(filled), 1)
        out.append({
            "filled": len(filled) / max(len(vals), 1),
            "letters": sum(bool(_LETTER_ANSWER.match(v.strip())) for v in filled) / n,
            "judge": sum(v.strip().upper() in JUDGE_WORDS for v in filled) / n,
            "int": sum(bool(_INT.match(v.strip())) for v in filled) / n,
            "types": sum(any(w in v for w in TYPE_WORDS) and len(v) <= 8 for v in filled) / n,
            "labelled": sum(bool(_LABELLED.match(v.strip())) for v in filled) / n,
            "avg_len": sum(len(v) for v in filled) / n,
            "distinct": len(set(filled)) / n,
        })
    return out


def infer_from_content(rows, ncols) -> Mapping:
    """No header: id, question, options, answer from what the cells look like."""
    m = Mapping({}, None, [""] * ncols, detected="content")
    if not rows or ncols == 0:
        return m
    st = _column_stats(rows, ncols)
    cols = [c for c in range(ncols) if st[c]["filled"] > 0]
    taken: set[int] = set()
    for c in cols:
        if st[c]["types"] >= 0.8:
            m.fields["type"] = c
            taken.add(c)
            break
    for c in reversed(cols):  # the answer is usually the rightmost letter / judge column
        if c in taken:
            continue
        if st[c]["letters"] >= 0.6 or (st[c]["judge"] >= 0.8 and st[c]["avg_len"] <= 5 and c != cols[0]):
            m.fields["answer"] = c
            taken.add(c)
            break
    for c in cols:
        if c not in taken and st[c]["int"] >= 0.9 and st[c]["distinct"] >= 0.9 and c != cols[-1]:
            m.fields["id"] = c
            taken.add(c)
            break
    free = [c for c in cols if c not in taken]
    if not free:
        return m
    q = max(free, key=lambda c: (st[c]["avg_len"] * st[c]["filled"], -c))
    m.fields["question"] = q
    taken.add(q)
    right_end = m.fields.get("answer", ncols) if m.fields.get("answer", -1) > q else ncols
    opts = [c for c in range(q + 1, right_end) if c not in taken and st[c]["filled"] >= 0.3]
    if len(opts) == 1 and st[opts[0]]["labelled"] >= 0.5:
        m.fields["options"] = opts[0]
        taken.add(opts[0])
    else:
        for letter, c in zip(LETTERS, opts):
            m.fields[letter] = c
            taken.add(c)
    rest = [c for c in cols if c not in taken]
    for c in rest:
        if c > q and st[c]["avg_len"] >= 8 and "explanation" not in m.fields:
            m.fields["explanation"] = c
        elif c < q and st[c]["distinct"] < 0.5 and "subject" not in m.fields:
            m.fields["subject"] = c
    return m


def _detect_stem_options(m: Mapping, rows) -> None:
    """Options joined to the stem by ``&`` (``题目&选项1&选项2``) when no option column exists."""
    if "question" not in m.fields or "options" in m.fields or any(l in m.fields for l in LETTERS):
        return
    q = m.fields["question"]
    vals = [cells[q] for _, cells in rows[:300] if q < len(cells) and cells[q]]
    if not vals:
        return
    if sum(v.count("&") >= 2 for v in vals) / len(vals) >= 0.3:
        m.options_in_question = "&"
    elif sum(bool(_LABELS_IN_STEM.search(v)) for v in vals) / len(vals) >= 0.3:
        m.options_in_question = "labels"


def parse_map_args(items: list[str] | None) -> dict[str, dict[str, str]]:
    """``FIELD=COLUMN`` or ``SHEET:FIELD=COLUMN`` strings -> {sheet or '*': {field: column}}."""
    out: dict[str, dict[str, str]] = {}
    for item in items or []:
        if "=" not in item:
            raise InputError(f"--map {item!r}: write FIELD=COLUMN (e.g. answer=7 or answer=正确答案)")
        key, column = item.split("=", 1)
        sheet = "*"
        if ":" in key:
            sheet, key = key.rsplit(":", 1)
        f = _field_name(key)
        out.setdefault(sheet, {})[f] = column.strip()
    return out


def _field_name(key: str) -> str:
    k = key.strip()
    if k.upper() in LETTERS and len(k) == 1:
        return k.upper()
    if k.lower() in FIELDS:
        return k.lower()
    if k.lower() in ("stem", "题目"):
        return "question"
    raise InputError(f"unknown field {key!r}; choose one of {', '.join(FIELDS)}")


def apply_overrides(m: Mapping, overrides: dict[str, str], ncols: int) -> Mapping:
    """The detected mapping with the user's choices applied (COLUMN: 1-based number or header name;
    empty: unmapped)."""
    if not overrides:
        return m
    fields = dict(m.fields)
    for f, column in overrides.items():
        f = _field_name(f)
        if column in ("", "-", "none"):
            fields.pop(f, None)
            continue
        col = resolve_column(column, m, ncols)
        for other, c in list(fields.items()):
            if c == col and other != f and not (f == "answer" and other in LETTERS):
                if other == "answer" and f in LETTERS:
                    continue
                del fields[other]
        fields[f] = col
    out = Mapping(fields, m.header_row, m.headers, m.options_in_question, "user")
    if "options" in fields or any(l in fields for l in LETTERS):
        out.options_in_question = None
    return out


def resolve_column(column: str, m: Mapping, ncols: int) -> int:
    """A 1-based column number or a header name -> 0-based column; errors list the choices."""
    column = str(column).strip()
    if column.isdigit():
        n = int(column)
        if 1 <= n <= ncols:
            return n - 1
        raise InputError(f"column {n} does not exist: the sheet has {ncols} columns")
    for i, h in enumerate(m.headers):
        if h and h.strip().lower() == column.lower():
            return i
    names = ", ".join(f"{i + 1}={h}" for i, h in enumerate(m.headers) if h) or "none (no header row)"
    raise InputError(f"no column named {column!r}; columns: {names}")
