"""The exam rules, in one place: what a question must satisfy to be stored, and how its answer is read.

Every path that lands a question checks it here: the importer (the rule table compiled into its set-based
SQL by ``sql_problem``), the editor and LLM-generated questions (``check`` / ``problems`` in Python).
The table ``RULES`` holds each rule once with both forms side by side over the same fields, and one
reason the user reads; ``tests/test_exam_rules.py`` runs one table of questions through all three paths.

The fields (a dict in Python, columns in SQL), after each path has read its input:

    qtype          single | multi | judge | blank | open
    question       the stem
    options        [{label, text}] (SQL: ``opt_labels``, ``opt_texts``); a judge question without
                   options carries A. 正确 / B. 错误 (``judge_options()``)
    answer         the answer as written (the answer text for blank and open questions)
    answer_labels  the labels it was read as, None when it could not be read; [] for blank and open
                   questions answered by text
    stated         the type as written (for messages), or None
    reading        a problem met while reading the input (a cell that cannot be split), or None
    zero_is_true   the 0/1 judge convention the reading used (Python only; the importer has one per file)

The reading helpers (``read_letters``, ``read_choice``, ``read_judge``, ``stated_type``) mirror the
importer's SQL (``store.exam_parse``), which uses the same patterns and word lists below.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

QTYPES = ("single", "multi", "judge", "blank", "open")
CHOICE = ("single", "multi")
TEXT = ("blank", "open")
TYPE_NAMES = {"single": "单选题", "multi": "多选题", "judge": "判断题", "blank": "填空题", "open": "问答题"}
LABELS = "ABCDEFGH"   # a question has at most 8 options, labelled A, B, C… in order

WS = " \t\r\n\u3000\u00a0\u200b\ufeff"
SEPS = ",，;；、|"
FULL_LETTERS = ("ＡＢＣＤＥＦＧＨａｂｃｄｅｆｇｈ", "ABCDEFGHabcdefgh")
# a label at the start or after a separator: `A.` `B、` `(C)` `D:` `A．`
LABEL_AT = "(?:^|[" + WS + SEPS + "]+)[(（]?([A-H])[ \t\u3000]*[.．、:：)）]"
LABEL_SPLIT = "(?:^|[" + WS + SEPS + "]+)[(（]?[A-H][ \t\u3000]*[.．、:：)）][ \t\u3000]*"
LABEL_START = "^[(（]?[A-H][ \t\u3000]*[.．、:：)）]"
# one option written `A. text` (`(a) text`, `Ｂ、text`): its label and text (a label past H is read,
# and refused by the rules: at most 8 options)
OPTION_LINE = "^[(（]?([A-Za-zＡ-Ｚａ-ｚ])[ \t\u3000]*[.．、:：)）][ \t\u3000]*(.*)$"
# what separates the letters of an answer written `A,C` / `A、C` / `["A", "C"]` / `A和C`
LABEL_NOISE = "[" + WS + SEPS + "/&和\\[\\]\"'.．]+"
ANSWER_PREFIX = "^(?:正确|参考|标准)?答案[ \t\u3000]*[:：]"   # `答案：B` / `正确答案: A,C`
BLANK = "[（(][ \t\u3000\u00a0]*[)）]|__+"
JUDGE_TRUE = ("正确", "对", "√", "✓", "✔", "T", "TRUE", "Y", "YES", "是", "对的", "正确的", "RIGHT", "☑")
JUDGE_FALSE = ("错误", "错", "×", "✗", "✘", "X", "F", "FALSE", "N", "NO", "否", "错的", "错误的", "WRONG", "☒", "╳")
JUDGE_AMBIGUOUS = ("0", "1")   # read only with a convention (the importer's, per file)
JUDGE_END = "[" + WS + "。.!！]+$"   # trailing punctuation a judge answer may carry: `正确。`
# the type as written -> a type (`choice`: single or multi, by the number of answer labels); first match wins
STATED_TYPES = (
    ("multi", "多选|多项|不定项|multi|multiple"),
    ("single", "单选|单项|single"),
    ("judge", "判断|是非|对错|judge|true.?false|^tf$|boolean"),
    ("blank", "填空|blank|fill|cloze"),
    ("open", "问答|简答|论述|计算|案例|分析|名词解释|open|essay|short"),
    ("choice", "选择|choice"),
)

_FULL = str.maketrans(*FULL_LETTERS)
_TRUE, _FALSE = set(JUDGE_TRUE), set(JUDGE_FALSE)


# ------------------------------------------------------------------ reading (mirrors store.exam_parse)

def judge_options() -> list[dict[str, str]]:
    """The options of a judge question written without any."""
    return [{"label": "A", "text": "正确"}, {"label": "B", "text": "错误"}]


def norm_label(text: str) -> str:
    """``ａ`` / `` b `` -> ``A`` / ``B``: how an option label or an answer letter is compared."""
    return str(text).strip(WS).translate(_FULL).upper()


def stated_type(text: str | None) -> str | None:
    """The type a written type names (``单选题`` -> single, ``选择题`` -> choice), or None."""
    low = (text or "").strip(WS).lower()
    return next((qtype for qtype, pattern in STATED_TYPES if low and re.search(pattern, low)), None)


def clean_answer(text) -> str:
    """An answer as written, without a leading ``答案：`` and the white space around it."""
    return re.sub(ANSWER_PREFIX, "", str(text or "").strip(WS)).strip(WS)


def read_letters(answer: str | None) -> list[str] | None:
    """``D, a`` / ``Ｂ`` / ``["A", "C"]`` -> sorted labels; None when the answer is not letters A–H."""
    letters = re.sub(LABEL_NOISE, "", (answer or "").translate(_FULL).upper())
    return sorted(set(letters)) if re.fullmatch("[A-H]+", letters) else None


def read_choice(answer: str | None, options: list[dict[str, str]]) -> list[str] | None:
    """The labels a choice answer names, as the importer reads them: letters, ``B. 绝缘靴``, an option's
    text, several option texts; None when it names none. Letters not among the options are returned
    (the rules say which)."""
    answer = (answer or "").strip(WS)
    if not answer:
        return None
    labels = [o["label"] for o in options]
    texts = [o["text"] for o in options]
    letters = read_letters(answer)
    upper = answer.translate(_FULL).upper()
    if texts and letters and set(letters) <= set(labels):
        return letters
    if texts and re.match(LABEL_START, upper):
        return sorted(set(re.findall(LABEL_AT, upper)))
    if answer in texts:
        return [labels[texts.index(answer)]]
    if texts:
        for separators in ("[&;；|\n]", "[,，、]"):
            parts = [p.strip(WS) for p in re.split(separators, answer)]
            parts = [p for p in parts if p]
            if len(parts) > 1 and all(p in texts for p in parts):
                return sorted({labels[texts.index(p)] for p in parts})
        return letters
    return None


def judge_truth(word: str | None, zero_is_true: bool | None = None) -> bool | None:
    """正确 / 对 / √ / T / 是 … -> True, 错误 / 错 / × / F / 否 … -> False; 0/1 only with a convention."""
    w = (word or "").strip(WS).translate(_FULL).upper()
    if len(w) > 12:
        return None
    w = re.sub(JUDGE_END, "", w)
    if w in _TRUE or w in _FALSE:
        return w in _TRUE
    if zero_is_true is not None and w in JUDGE_AMBIGUOUS:
        return (w == "0") == zero_is_true
    return None


def is_judge_pair(options: list[dict[str, str]]) -> bool:
    """Two options, one a true word and the other a false word (A. 正确 B. 错误, A. 错 B. 对, …)."""
    if len(options) != 2:
        return False
    a, b = (str(o["text"]).upper() for o in options)
    return (a in _TRUE and b in _FALSE) or (a in _FALSE and b in _TRUE)


def read_judge(answer: str | None, options: list[dict[str, str]] | None,
               zero_is_true: bool | None = None) -> list[str] | None:
    """The label a judge answer names (a true/false word, or a label of the options), or None."""
    answer = (answer or "").strip(WS)
    if not answer:
        return None
    opts = options or judge_options()
    truth = judge_truth(answer, zero_is_true)
    if truth is None and not options and answer.translate(_FULL).upper() in ("A", "B"):
        truth = answer.translate(_FULL).upper() == "A"
    elif truth is None and is_judge_pair(options or []):
        chosen = read_choice(answer, opts)
        if chosen and len(chosen) == 1 and chosen[0] in [o["label"] for o in opts]:
            truth = next(str(o["text"]).upper() in _TRUE for o in opts if o["label"] == chosen[0])
    if truth is None:
        return None
    return [o["label"] for o in opts if (str(o["text"]).upper() in _TRUE) == truth]


def answer_text(q: Mapping[str, Any]) -> str:
    """The answer text stored with a valid question: the chosen options' texts joined by ``; ``,
    正确/错误 for a judge question, the answer itself for blank and open questions."""
    if q["qtype"] in TEXT:
        return (q.get("answer") or "").strip(WS)
    by_label = {o["label"]: o["text"] for o in q.get("options") or []}
    chosen = q.get("answer_labels") or []
    if q["qtype"] == "judge":
        return "正确" if chosen and str(by_label.get(chosen[0])).upper() in _TRUE else "错误"
    return "; ".join(by_label[x] for x in chosen)


# ------------------------------------------------------------------ the rules

@dataclass(frozen=True)
class Rule:
    """One thing a question must satisfy. ``broken`` (Python) and ``sql`` (a DuckDB condition over the
    same fields) say when it does not; ``reason`` is what the user reads, its ``{names}`` filled from
    ``VALUES``. ``field`` is where the editor points; ``qtypes`` None: every type."""
    code: str
    field: str
    qtypes: tuple[str, ...] | None
    reason: str
    broken: Callable[[Mapping[str, Any]], bool]
    sql: str


def _text(value) -> str:
    return value.strip(WS) if isinstance(value, str) else ""


def _opts(q) -> list[dict[str, str]]:
    return list(q.get("options") or [])


def _labels(q) -> list[str]:
    return [o["label"] for o in _opts(q)]


def _missing(q) -> list[str]:
    return [x for x in q.get("answer_labels") or [] if x not in _labels(q)]


def sql_literal(text: str) -> str:
    """A SQL string literal of our own constants (never user text: that goes in as a parameter)."""
    return "'" + text.replace("'", "''") + "'"


def sql_in(values) -> str:
    """``('a', 'b')`` of our own constants."""
    return "(" + ", ".join(sql_literal(v) for v in values) + ")"


_lit, _in = sql_literal, sql_in


# no character but white space (``not _text(x)``); a regex finds the first other character faster
# than trim() with a character list strips
_SQL_EMPTY = f"NOT coalesce(regexp_matches({{}}, {_lit('[^' + WS + ']')}), false)"
# ``is_judge_pair`` over the column ``opt_texts``
SQL_JUDGE_PAIR = (f"len(opt_texts) = 2 AND ((upper(opt_texts[1]) IN {_in(JUDGE_TRUE)} AND upper(opt_texts[2]) IN "
                  f"{_in(JUDGE_FALSE)}) OR (upper(opt_texts[1]) IN {_in(JUDGE_FALSE)} AND upper(opt_texts[2]) IN "
                  f"{_in(JUDGE_TRUE)}))")
JUDGE_WORDS = "正确/错误, 对/错, √/×, T/F, 是/否, A/B"
JUDGE_WORDS_01 = "正确/错误, 对/错, √/×, T/F, 是/否, 0/1, A/B"

# In the importer's order: the first broken rule is the one reported.
RULES: tuple[Rule, ...] = (
    Rule("question_empty", "question", None, "empty question",
         lambda q: not _text(q.get("question")), _SQL_EMPTY.format("question")),
    Rule("unread", "reading", None, "{reading}",
         lambda q: bool(q.get("reading")), "reading IS NOT NULL"),
    Rule("too_many_options", "options", None, "{n_options} options: at most 8 (A to H)",
         lambda q: len(_opts(q)) > len(LABELS), f"len(opt_labels) > {len(LABELS)}"),
    Rule("labels_out_of_order", "options", None, "option labels {option_labels} are not A, B, C… in order",
         lambda q: _labels(q) != list(LABELS[:len(_labels(q))]),
         f"opt_labels <> [{', '.join(_lit(x) for x in LABELS)}][1:len(opt_labels)]"),
    Rule("option_empty", "options", None, "option {empty_option} is empty",
         lambda q: any(not _text(o["text"]) for o in _opts(q)),
         f"list_bool_or(list_transform(opt_texts, lambda t: {_SQL_EMPTY.format('t')}))"),
    Rule("answer_missing", "answer", None, "missing answer",
         lambda q: not _text(q.get("answer")), _SQL_EMPTY.format("answer")),
    Rule("too_few_options", "options", CHOICE, "too few options ({n_options}) for a {kind}-choice question",
         lambda q: len(_opts(q)) < 2, "len(opt_labels) < 2"),
    Rule("answer_unread", "answer", CHOICE,
         "answer \"{answer}\" is neither an option label nor an option's text (a shifted row?)",
         lambda q: not q.get("answer_labels"), "answer_labels IS NULL OR len(answer_labels) = 0"),
    Rule("answer_not_option", "answer", CHOICE, "answer label {missing} is not among the options {labels}",
         lambda q: bool(_missing(q)), "NOT list_has_all(opt_labels, answer_labels)"),
    Rule("single_many", "answer", ("single",),
         "the type says single choice{stated} but the answer has {n_answer} labels ({answer_labels})",
         lambda q: len(q.get("answer_labels") or []) > 1, "len(answer_labels) > 1"),
    Rule("judge_options", "options", ("judge",), "the type says judge{stated} but the options are not 正确/错误",
         lambda q: not is_judge_pair(_opts(q)), f"NOT coalesce({SQL_JUDGE_PAIR}, false)"),
    Rule("judge_unread", "answer", ("judge",), "judge answer \"{answer}\" is not one of {judge_words}",
         lambda q: len(q.get("answer_labels") or []) != 1, "answer_labels IS NULL OR len(answer_labels) <> 1"),
    Rule("text_answer_labels", "answer_labels", TEXT,
         "a {qtype}{stated} question is answered by text: clear the answer labels ({answer_labels}) "
         "or choose single, multi or judge",
         lambda q: bool(q.get("answer_labels")), "len(answer_labels) > 0"),
)

# the {names} of the reasons: (Python, DuckDB) over the same fields
VALUES: dict[str, tuple[Callable[[Mapping[str, Any]], str], str]] = {
    "reading": (lambda q: str(q.get("reading")), "reading"),
    "n_options": (lambda q: str(len(_opts(q))), "len(opt_labels)::VARCHAR"),
    "option_labels": (lambda q: ", ".join(_labels(q)), "array_to_string(opt_labels, ', ')"),
    "labels": (lambda q: "".join(_labels(q)), "array_to_string(opt_labels, '')"),
    "empty_option": (lambda q: next(o["label"] for o in _opts(q) if not _text(o["text"])),
                     f"list_filter(opt_labels, lambda l, i: {_SQL_EMPTY.format('opt_texts[i]')})[1]"),
    "kind": (lambda q: "single" if q["qtype"] == "single" else "multiple",
             "CASE qtype WHEN 'single' THEN 'single' ELSE 'multiple' END"),
    "answer": (lambda q: _text(q.get("answer"))[:40], "left(answer, 40)"),
    "missing": (lambda q: ", ".join(_missing(q)),
                "array_to_string(list_filter(answer_labels, lambda l: NOT list_contains(opt_labels, l)), ', ')"),
    "n_answer": (lambda q: str(len(q.get("answer_labels") or [])), "len(answer_labels)::VARCHAR"),
    "answer_labels": (lambda q: "".join(q.get("answer_labels") or []), "array_to_string(answer_labels, '')"),
    "stated": (lambda q: f" ({_text(q.get('stated'))})" if _text(q.get("stated")) else "",
               "coalesce(' (' || stated || ')', '')"),
    "qtype": (lambda q: q["qtype"], "qtype"),
    # the importer always reads 0/1 (by its file's convention); the editor and generated questions do not
    "judge_words": (lambda q: JUDGE_WORDS if q.get("zero_is_true") is None else JUDGE_WORDS_01,
                    _lit(JUDGE_WORDS_01)),
}


@dataclass(frozen=True)
class Problem:
    """A broken rule: its code, the field it is about, and the reason the user reads."""
    code: str
    field: str     # question | options | answer | answer_labels | reading
    reason: str


def _applies(rule: Rule, qtype: str) -> bool:
    return rule.qtypes is None or qtype in rule.qtypes


def check(q: Mapping[str, Any]) -> list[Problem]:
    """Every rule a question breaks, in the order the importer reports them (the first is the one shown)."""
    return [Problem(r.code, r.field, _fill(r.reason, q)) for r in RULES if _applies(r, q["qtype"]) and r.broken(q)]


def problems(q: Mapping[str, Any]) -> list[str]:
    """The reasons a question cannot be stored, first one first; [] when it can."""
    return [p.reason for p in check(q)]


def _fill(reason: str, q: Mapping[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: VALUES[m.group(1)][0](q), reason)


def sql_problem() -> str:
    """A DuckDB expression naming the first rule a row breaks (NULL when none), over the columns
    ``qtype, question, opt_labels, opt_texts, answer, answer_labels, stated, reading``."""
    whens = []
    for r in RULES:
        cond = r.sql if r.qtypes is None else f"qtype IN {_in(r.qtypes)} AND ({r.sql})"
        whens.append(f"WHEN {cond} THEN {_sql_reason(r.reason)}")
    return "CASE\n  " + "\n  ".join(whens) + "\nEND"


def _sql_reason(reason: str) -> str:
    pieces = re.split(r"\{(\w+)\}", reason)
    parts = [_lit(p) if i % 2 == 0 else VALUES[p][1] for i, p in enumerate(pieces) if p or i % 2]
    return "concat(" + ", ".join(parts) + ")" if len(parts) > 1 else parts[0]


def sql_stated_type(column: str) -> str:
    """``stated_type`` as a DuckDB expression over a column of our own naming."""
    whens = " ".join(f"WHEN regexp_matches(lower({column}), {_lit(p)}) THEN {_lit(t)}" for t, p in STATED_TYPES)
    return f"CASE WHEN {column} IS NULL THEN NULL {whens} END"
