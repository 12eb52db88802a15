"""Which column holds what: detected from the header row (Chinese or English names, decorated or not) and
confirmed by what the columns contain, or, without a header row, inferred from the content; overridden by
the user (``--map FIELD=COLUMN`` / the page's selects).

Fields: subject type question options A..H answer explanation id. Columns are 0-based inside, shown
1-based with their header name. An explicit choice takes its column away from the field it was detected
for, except that ``answer`` may name an option column: "the answer is this option's text" (the
first-option-is-correct convention of some banks: ``--map answer=2``). The answer may span several
columns (``答案A…答案L`` of a cloze sheet, ``--map answer=5+6+7``): they are joined in order at staging.

Header cells are read as people write them: annotations in brackets (``题目（必填）``,
``正确答案(只能输入ABCD否则报错)``), trailing or inner colons (``题目：``, ``正确答案：第几个选项``), full-width
forms, camelCase (``questionContent``), option columns named ``A`` / ``选项A`` / ``A选项`` / ``第一选项`` /
``optionA``; a legend inside the type header (``考题类型：0：单；1：多；3：判断``) gives the codes' meaning.
A header word is never trusted over the content: two columns naming the question are told apart by
what they hold, and a "type" column of long text is not the type.

The parts: ``header_words`` (what a header cell names), ``column_content`` (what the columns hold; the
mapping without a header), ``column_map`` (the ``Mapping`` and the user's overrides); this module finds
the header row and reads the mapping from it, confirmed by content, and keeps every public name.
"""
from __future__ import annotations

import re

from studio.core.errors import InputError
from studio.core.i18n import _
from studio.data.exams.column_content import (JUDGE_WORDS, TYPE_WORDS, column_stats, detect_stem_options,
                                              infer_from_content, ordinal_answers, samples, unread_columns)
from studio.data.exams.column_map import (ANSWER_SEP, Mapping, apply_overrides, parse_header_rows, parse_map_args,
                                          resolve_column, resolve_columns)
from studio.data.exams.header_words import (FIELD_HELP, FIELDS, LETTERS, ORDINAL_WORDS, SYNONYMS, field_label,
                                            field_name, fold, header_field, header_kind, type_legend)

__all__ = ["ANSWER_SEP", "FIELDS", "FIELD_HELP", "HEADER_SEARCH_ROWS", "JUDGE_WORDS", "LETTERS", "Mapping", "SYNONYMS",
           "TYPE_WORDS", "apply_overrides", "detect", "field_label", "field_name", "header_field", "header_kind", "infer_from_content",
           "ordinal_answers", "parse_header_rows", "parse_map_args", "resolve_column", "resolve_columns", "samples",
           "type_legend", "unread_columns"]

HEADER_SEARCH_ROWS = 10   # the header row is looked for among the first rows (title rows above it)


def detect(rows: list[tuple[int, list[str | None]]], ncols: int, *, no_header: bool = False,
           header: bool | None = None, header_row: int | None = None) -> Mapping:
    """Detect the header row (among the first ``HEADER_SEARCH_ROWS`` rows, or ``header_row`` as the user
    says: 0 for none) and the mapping, confirmed by content; else infer the mapping from content."""
    if header_row == 0:
        no_header = True
    if header_row:
        chosen = [(r, cells) for r, cells in rows if r == header_row]
        if not chosen:
            raise InputError(_("row {row} is empty or past the first rows: choose another header row").format(
                row=header_row))
        m = _from_header(rows, ncols, *chosen[0])
        m.why.setdefault("_header", _("row {row} chosen").format(row=header_row))
        return m
    if header is not False and not no_header:
        widest = 0
        for row_no, cells in rows[:HEADER_SEARCH_ROWS]:
            filled = sum(1 for c in cells if c)
            # rows above a header are a title or notes: sparse; after a full row, the data has begun
            if header or (_looks_like_header(cells) and widest <= max(2, filled // 2)):
                return _from_header(rows, ncols, row_no, cells)
            widest = max(widest, filled)
    m = infer_from_content(rows, ncols)
    detect_stem_options(m, rows)
    return m


def _looks_like_header(cells: list[str | None]) -> bool:
    kinds = [header_kind(c) for c in cells if c]
    found = {k for k in kinds if k and k != "ignore"}
    filled = [c for c in cells if c]
    strong = {"question", "answer", "options", "answer_part"} & found
    wordy = any(len(c) > 40 for c in filled) or sum(k is not None for k in kinds) * 2 < len(filled)
    # option columns named by a bare letter read A, B, C… left to right; a data row with placeholder
    # options and a letter answer (`甲, 乙, C, D, A`) does not
    letters = "".join(fold(c).upper() for c in filled if re.fullmatch(r"[A-Ha-h]", fold(c)))
    return (not wordy and LETTERS.startswith(letters)
            and bool((strong and len(found) >= 2) or len(found) >= 3))


def _from_header(rows, ncols: int, row_no: int, cells: list[str | None]) -> Mapping:
    headers = [c or "" for c in cells] + [""] * (ncols - len(cells))
    data = [r for r in rows if r[0] > row_no]
    stats = column_stats(data, ncols)
    m = Mapping({}, row_no, headers, detected="header", stats=stats)
    candidates: dict[str, list[int]] = {}
    for i, h in enumerate(headers):
        k = header_kind(h)
        if k and k != "ignore":
            candidates.setdefault(k, []).append(i)
    parts = candidates.pop("answer_part", [])
    for f, cols in candidates.items():
        col = _best(f, cols, stats, m)
        m.fields[f] = col
        m.why[f] = _("header {header}").format(header=repr(headers[col]))
        if f == "answer" and ORDINAL_WORDS.search(fold(headers[col])):
            m.answer_ordinal = True
            m.why[f] = _("{why} (an option ordinal: 1 = A)").format(why=m.why[f])
        if f == "type":
            m.type_codes = type_legend(headers[col])
    _answer_parts(m, parts, stats)
    _confirm_by_content(m, stats, ncols)
    _fill_question(m, data, ncols, stats)
    detect_stem_options(m, data)
    return m


def _best(f: str, cols: list[int], stats: list[dict], m: Mapping) -> int:
    """Of several columns a header names as one field, the one whose content fits; the others noted."""
    if len(cols) == 1:
        return cols[0]
    if f == "question":  # the stem is long, varied text; categories are short and repeated
        best = max(cols, key=lambda c: (stats[c]["avg_len"] * stats[c]["filled"] * (0.2 + stats[c]["distinct"]), -c))
    elif f == "type":
        best = max(cols, key=lambda c: (stats[c]["filled"] > 0 and stats[c]["avg_len"] <= 12, stats[c]["filled"], -c))
    else:
        best = max(cols, key=lambda c: (stats[c]["filled"], -c))
    others = [c for c in cols if c != best]
    note = _("{n} columns are named as {field}: column {best} chosen by its content").format(
        n=len(cols), field=field_name(f), best=best + 1)
    if others:
        note = _("{note} (column {others} not read as {field})").format(
            note=note, others=", ".join(str(c + 1) for c in others), field=field_name(f))
    m.notes.append(note)
    if f == "question":
        for c in others:  # a second 'question' column of short repeated values is a category
            if stats[c]["filled"] > 0 and stats[c]["distinct"] <= 0.5 and stats[c]["avg_len"] <= 12:
                m.fields.setdefault("subject", c)
                m.why.setdefault("subject", _("header {header} holds short repeated values: a category").format(
                    header=repr(m.headers[c])))
    return best


def _answer_parts(m: Mapping, parts: list[int], stats: list[dict]) -> None:
    """``答案A…答案L``: the answer spread over columns (a cloze sheet) — unless another answer column holds
    the answers and these are options written ``答案A…答案D`` (some exam systems' exports)."""
    if not parts:
        return
    answer = m.fields.get("answer")
    if answer is not None and stats[answer]["filled"] > 0 and len(parts) <= len(LETTERS):
        free = [l for l in LETTERS if l not in m.fields]
        if not any(l in m.fields for l in LETTERS) and "options" not in m.fields:
            for l, c in zip(free, parts):
                m.fields[l] = c
                m.why[l] = _("header {header}: an option (column {answer} holds the answer)").format(
                    header=repr(m.headers[c]), answer=answer + 1)
        return
    # every part, filled in the first rows or not: a later row may fill one more blank
    m.answers = list(parts) if len(parts) > 1 else []
    m.fields["answer"] = parts[0]
    names = [repr(m.headers[c]) for c in parts]
    named = f"{names[0]}…{names[-1]}" if len(names) > 2 else ", ".join(names)
    m.why["answer"] = (_("headers {names}: joined in order") if len(parts) > 1 else _("headers {names}")).format(
        names=named)
    if answer is not None and answer not in parts:
        m.notes.append(_("column {column} ({header}) is named as the answer but is empty: the answer is read from "
                         "columns {first}-{last}").format(column=answer + 1, header=m.headers[answer],
                                                          first=parts[0] + 1, last=parts[-1] + 1))


def _confirm_by_content(m: Mapping, stats: list[dict], ncols: int) -> None:
    """Header words checked against the columns: a 'type' of long text is no type, a 'question' of short
    repeated values is a category when a column of long varied text is left."""
    t = m.fields.get("type")
    if t is not None and stats[t]["filled"] > 0 and stats[t]["avg_len"] > 12 and stats[t]["distinct"] > 0.5:
        del m.fields["type"]
        m.why.pop("type", None)
        m.type_codes = {}
        m.notes.append(_("column {column} ({header}) is named as the type but holds long text: not read as the "
                         "type").format(column=t + 1, header=m.headers[t]))
    q = m.fields.get("question")
    if q is None or stats[q]["filled"] == 0:
        return
    used = set(m.fields.values()) | set(m.answers)
    free = [c for c in range(ncols) if c not in used and stats[c]["filled"] > 0.5]
    better = max(free, key=lambda c: stats[c]["avg_len"], default=None)
    if (better is not None and stats[q]["avg_len"] <= 12 and stats[q]["distinct"] <= 0.5
            and stats[better]["avg_len"] >= 2 * max(stats[q]["avg_len"], 4) and stats[better]["distinct"] >= 0.5):
        m.fields["question"] = better
        m.why["question"] = _("content: the longest varied text ({header})").format(header=repr(m.headers[better]))
        note = _("column {column} ({header}) is named as the question but holds short repeated values: column "
                 "{better} ({better_header}) read as the question").format(
            column=q + 1, header=m.headers[q], better=better + 1, better_header=m.headers[better])
        if "subject" not in m.fields:
            note = _("{note}, column {column} as the subject").format(note=note, column=q + 1)
        m.notes.append(note)
        if "subject" not in m.fields:
            m.fields["subject"] = q
            m.why["subject"] = _("content: short repeated values ({header})").format(header=repr(m.headers[q]))


def _fill_question(m: Mapping, rows, ncols, stats=None) -> None:
    """A header without a recognised question column: take the longest unmapped text column."""
    if "question" in m.fields or not rows:
        return
    stats = stats or column_stats(rows, ncols)
    used = set(m.fields.values()) | set(m.answers)
    free = [c for c in range(ncols) if c not in used and stats[c]["filled"] > 0.5]
    if free:
        q = max(free, key=lambda c: stats[c]["avg_len"])
        m.fields["question"] = q
        m.why["question"] = _("content: the longest text column")
