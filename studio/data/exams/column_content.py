"""What the columns hold, read from their cells: per-column statistics (letters, judge words, whole
numbers, type names, labelled options, length, variety), the mapping of a sheet without a header row
inferred from them, options written inside the stem, answers given as option ordinals, option- or
answer-like columns left unmapped, and a sample value per column.
"""
from __future__ import annotations

import re

from studio.core.i18n import _
from studio.data.exams.column_map import Mapping
from studio.data.exams.header_words import LETTERS, header_kind

TYPE_WORDS = ("单选", "多选", "判断", "填空", "问答", "简答", "选择", "不定项", "论述", "是非", "计算")
JUDGE_WORDS = {"正确", "错误", "对", "错", "√", "×", "✓", "✔", "✗", "✘", "T", "F", "TRUE", "FALSE", "是", "否",
               "Y", "N", "YES", "NO", "0", "1"}
_LETTER_ANSWER = re.compile(r"^[A-Ha-hＡ-Ｈ]([\s,，、;；/]*[A-Ha-hＡ-Ｈ]){0,7}$")
_LABELLED = re.compile(r"^[(（]?[A-HＡ-Ｈ][\s]*[.．、:：)）]")
_INT = re.compile(r"^\d{1,9}$")
_ORDINAL = re.compile(r"^[1-8]([\s,，、;；]*[1-8]){0,7}$")
_LABELS_IN_STEM = re.compile(r"\S.*?(?:^|\s)[(（]?[AＡ]\s*[.．、:：)）].*?\s[(（]?[BＢ]\s*[.．、:：)）]", re.S)


def column_stats(rows, ncols) -> list[dict]:
    sample = rows[:300]
    out = []
    for c in range(ncols):
        vals = [(cells[c] if c < len(cells) else None) for _unused, cells in sample]
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
    st = m.stats = column_stats(rows, ncols)
    cols = [c for c in range(ncols) if st[c]["filled"] > 0]
    taken: set[int] = set()
    _infer_type(m, st, cols, taken)
    _infer_answer(m, st, cols, taken)
    _infer_id(m, st, cols, taken)
    free = [c for c in cols if c not in taken]
    if not free:
        return m
    q = max(free, key=lambda c: (st[c]["avg_len"] * st[c]["filled"], -c))
    m.fields["question"] = q
    m.why["question"] = _("content: the longest text")
    taken.add(q)
    _infer_options(m, st, q, ncols, taken)
    _infer_subject_and_explanation(m, st, cols, q, taken)
    return m


def _infer_type(m: Mapping, st: list[dict], cols: list[int], taken: set[int]) -> None:
    """The first column of type names (单选, 判断 …)."""
    for c in cols:
        if st[c]["types"] >= 0.8:
            m.fields["type"] = c
            m.why["type"] = _("content: type names in {share} of rows").format(share=f"{st[c]['types']:.0%}")
            taken.add(c)
            return


def _infer_answer(m: Mapping, st: list[dict], cols: list[int], taken: set[int]) -> None:
    """The answer is usually the rightmost letter / judge column."""
    for c in reversed(cols):
        if c in taken:
            continue
        if st[c]["letters"] >= 0.6 or (st[c]["judge"] >= 0.8 and st[c]["avg_len"] <= 5 and c != cols[0]):
            m.fields["answer"] = c
            m.why["answer"] = (_("content: letters in {share} of rows").format(share=f"{st[c]['letters']:.0%}")
                               if st[c]["letters"] >= 0.6 else
                               _("content: judge words in {share} of rows").format(share=f"{st[c]['judge']:.0%}"))
            taken.add(c)
            return


def _infer_id(m: Mapping, st: list[dict], cols: list[int], taken: set[int]) -> None:
    """Distinct whole numbers, not in the last column."""
    for c in cols:
        if c not in taken and st[c]["int"] >= 0.9 and st[c]["distinct"] >= 0.9 and c != cols[-1]:
            m.fields["id"] = c
            m.why["id"] = _("content: distinct whole numbers")
            taken.add(c)
            return


def _infer_options(m: Mapping, st: list[dict], q: int, ncols: int, taken: set[int]) -> None:
    """The columns between the question and the answer, or one cell of labelled options."""
    right_end = m.fields.get("answer", ncols) if m.fields.get("answer", -1) > q else ncols
    opts = []
    for c in range(q + 1, right_end):  # options are side by side; a mostly empty column ends them
        if c in taken:
            continue
        if st[c]["filled"] < 0.05 and len(opts) >= 2:
            break
        if st[c]["filled"] >= 0.3:
            opts.append(c)
    if len(opts) == 1 and st[opts[0]]["labelled"] >= 0.5:
        m.fields["options"] = opts[0]
        m.why["options"] = _("content: labelled options (A. … B. …) in one cell")
        taken.add(opts[0])
    else:
        for letter, c in zip(LETTERS, opts):
            m.fields[letter] = c
            m.why[letter] = _("content: a column between the question and the answer")
            taken.add(c)


def _infer_subject_and_explanation(m: Mapping, st: list[dict], cols: list[int], q: int, taken: set[int]) -> None:
    """Of the columns left: text after the question explains it, short repeated values before it are a subject."""
    rest = [c for c in cols if c not in taken]
    for c in rest:
        if c > q and st[c]["avg_len"] >= 8 and "explanation" not in m.fields:
            m.fields["explanation"] = c
            m.why["explanation"] = _("content: text after the question")
        elif c < q and st[c]["distinct"] < 0.5 and "subject" not in m.fields:
            m.fields["subject"] = c
            m.why["subject"] = _("content: short repeated values before the question")


def detect_stem_options(m: Mapping, rows) -> None:
    """Options joined to the stem by ``&`` (``题目&选项1&选项2``) when no option column exists."""
    if "question" not in m.fields or "options" in m.fields or any(l in m.fields for l in LETTERS):
        return
    q = m.fields["question"]
    vals = [cells[q] for _unused, cells in rows[:300] if q < len(cells) and cells[q]]
    if not vals:
        return
    if sum(v.count("&") >= 2 for v in vals) / len(vals) >= 0.3:
        m.options_in_question = "&"
    elif sum(bool(_LABELS_IN_STEM.search(v)) for v in vals) / len(vals) >= 0.3:
        m.options_in_question = "labels"


def ordinal_answers(m: Mapping, rows) -> bool:
    """Whether the answers are option ordinals (``1``-``8`` for A-H): said by the header, or seen in the
    content (digits only, never 0, none past the last option column) on a sheet with option columns."""
    if m.answer_ordinal:
        return True
    a = m.fields.get("answer")
    letters = [l for l in LETTERS if l in m.fields]
    if a is None or len(letters) < 2 or len(m.answers) > 1 or a in [m.fields[l] for l in letters]:
        return False
    vals = [cells[a].strip() for r, cells in rows[:300]
            if r > (m.header_row or 0) and a < len(cells) and cells[a] and cells[a].strip()]
    if len(vals) < 3 or any(v == "0" for v in vals):
        return False
    ords = [v for v in vals if _ORDINAL.match(v)]
    top = max((int(d) for v in ords for d in re.findall(r"\d", v)), default=0)
    return len(ords) / len(vals) >= 0.9 and top <= len(letters) and len({v for v in ords}) >= 2


def unread_columns(m: Mapping, rows, ncols: int, skip: set[int] = frozenset()) -> list[tuple[int, str]]:
    """Columns that look like an option or an answer (by header, or cells written ``A. …``) and hold data,
    but are not mapped: (column, why it looks so)."""
    used = set(m.fields.values()) | set(m.answers)
    stats = m.stats or column_stats([r for r in rows if r[0] > (m.header_row or 0)], ncols)
    out = []
    for c in range(ncols):
        if c in used or c in skip or stats[c]["filled"] == 0:
            continue
        kind = header_kind(m.headers[c]) if c < len(m.headers) else None
        if kind in (*LETTERS, "options"):
            out.append((c, _("named as an option")))
        elif kind in ("answer", "answer_part"):
            if m.answer_columns():  # a second answer-like column (`我的答案`): said, but the answer is read
                note = _("column {column} is named as an answer and holds data but is not read (the answer is "
                         "column {answer})").format(column=m.column_label(c),
                                                    answer=m.column_label(m.answer_columns()[0]))
                if note not in m.notes:
                    m.notes.append(note)
                continue
            out.append((c, _("named as an answer")))
        elif kind is None and stats[c]["labelled"] >= 0.5:
            out.append((c, _("holds options written A. …")))
    return out


def samples(rows, ncols: int, after_row: int | None) -> list[str]:
    """A short sample value per column (the first filled cell after the header), for choosing columns."""
    out = []
    for c in range(ncols):
        v = next((cells[c] for r, cells in rows if r > (after_row or 0) and c < len(cells) and cells[c]), "")
        v = " ".join(v.split())
        out.append(v[:18] + "…" if len(v) > 18 else v)
    return out
