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

The reading helpers (``read_letters``, ``read_choice``, ``read_ordinals``, ``read_judge``, ``stated_type``,
``json_options``, ``reclassify``) mirror the importer's SQL (``store.exam_parse``), which uses the same
patterns, word lists and key names below (``sql_reclassify`` is ``reclassify`` in SQL).

Decisions where real banks are ambiguous:
- an answer is read as letters first, then ``B、text``, then an option's text, then option ordinals
  (``2`` = B, only when every digit names an option): an option whose text is ``2`` wins over ordinal 2;
- judge answers: words (正确/错误, 对/错, √/×, T/F, 是/否…) always; A/B by the options' text (``A. 错
  B. 对``: A is 错误), never by position; 0/1 by the importer's per-file convention (0 = 正确 unless told);
  1/2 as option ordinals (1 = 正确 without options) in a file whose judge answers show a 2 and no 0 — a
  1/2 file whose judge answers are all 1 cannot be told from 0/1 and is read by the 0/1 convention;
- a stated type is trusted unless the content contradicts it beyond doubt (``RECLASSIFY``: a choice
  type with no options answered 正确/错误 is judge; no options, a blank in the stem and a text answer is
  blank); a judge row with four options or a single-choice row answered AB could be wrong either way
  and is reported, never guessed;
- a row answered A/B without options and without a stated type is a choice row that lost its options
  (refused), not a judge row.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from studio.core.i18n import N_, _

QTYPES = ("single", "multi", "judge", "blank", "open")
CHOICE = ("single", "multi")
TEXT = ("blank", "open")
TYPE_NAMES = {"single": "单选题", "multi": "多选题", "judge": "判断题", "blank": "填空题", "open": "问答题"}
LABELS = "ABCDEFGH"   # a question has at most 8 options, labelled A, B, C… in order


def type_word(qtype: str) -> str:
    """A type in a count or a note (``single 3``): the stored value in English, as the CLI's flags and JSON
    name it; the glossary's term (``labels``) in any other language. ``TYPE_NAMES`` stays the rule table's
    Chinese, which banks and templates read."""
    from studio.core.i18n import current
    from studio.core.labels import label

    if current() == "en":
        return qtype
    return _(CHOICE_WORD) if qtype == "choice" else label("qtype", qtype)


CHOICE_WORD = N_("single or multiple choice")   # a type written 选择题: single or multi by its answer

WS = " \t\r\n\u3000\u00a0\u200b\ufeff"
SEPS = ",，;；、|"
FULL_LETTERS = ("ＡＢＣＤＥＦＧＨａｂｃｄｅｆｇｈ０１２３４５６７８９", "ABCDEFGHabcdefgh0123456789")
# a label at the start or after a separator: `A.` `B、` `(C)` `D:` `A．`
LABEL_AT = "(?:^|[" + WS + SEPS + "]+)[(（]?([A-H])[ \t\u3000]*[.．、:：)）]"
LABEL_SPLIT = "(?:^|[" + WS + SEPS + "]+)[(（]?[A-H][ \t\u3000]*[.．、:：)）][ \t\u3000]*"
LABEL_START = "^[(（]?[A-H][ \t\u3000]*[.．、:：)）]"
# one option written `A. text` (`(a) text`, `Ｂ、text`): its label and text (a label past H is read,
# and refused by the rules: at most 8 options)
OPTION_LINE = "^[(（]?([A-Za-zＡ-Ｚａ-ｚ])[ \t\u3000]*[.．、:：)）][ \t\u3000]*(.*)$"
# a label written before an option's text inside a JSON array of strings, `["A. 雨鞋", "B．绝缘靴"]`
OPTION_PREFIX = "^[(（]?([A-Ha-hＡ-Ｈａ-ｈ])[ \t\u3000]*[.．、:：)）][ \t\u3000]*"
# options as JSON objects in a cell, `[{"optionContent": "x"}]` / `[{"label": "A", "text": "x"}]`: a key
# (lower case) naming the label, and keys that hold no option text (labels, ids, flags); the text is the
# value of the first other key
OPTION_LABEL_KEY = "^(label|letter|key|no|opt_?label|opt_?key|option_?(label|key|no|letter)|标号|选项号|选项标号)$"
OPTION_NOT_TEXT_KEY = ("^(label|letter|key|no|id|idx|index|order|sort|seq|score|flag|checked|selected|标号|选项号|序号)$"
                       "|^opt_?(label|key)$|^option_?(label|key|no|letter|id|index)$|correct|right|answer|^is_?[a-z]|正确|答案")
# what separates the letters of an answer written `A,C` / `A、C` / `["A", "C"]` / `A和C`
LABEL_NOISE = "[" + WS + SEPS + "/&和\\[\\]()（）【】\"'.．]+"
ANSWER_PREFIX = "^(?:正确|参考|标准)?答案[ \t\u3000]*[:：]"   # `答案：B` / `正确答案: A,C`
BLANK = "[（(][ \t\u3000\u00a0]*[)）]|__+"   # an unnumbered blank (conversion writes it ___)
# any blank a stem may hold: also numbered cloze blanks `_(1)_` / `_（2）_` (kept as written on conversion)
BLANK_ANY = BLANK + "|_+[（(][ \t\u3000]*[0-9]{1,2}[ \t\u3000]*[)）]_+"
JUDGE_TRUE = ("正确", "对", "√", "✓", "✔", "T", "TRUE", "Y", "YES", "是", "对的", "正确的", "RIGHT", "☑")
JUDGE_FALSE = ("错误", "错", "×", "✗", "✘", "X", "F", "FALSE", "N", "NO", "否", "错的", "错误的", "WRONG", "☒", "╳")
JUDGE_AMBIGUOUS = ("0", "1")   # read only with a convention (the importer's, per file)
# judge answers 1/2: ordinals of the options 正确, 错误 (1 = the first option). A file whose judge answers
# include 2 (and never 0) uses them; 1 then never means 错误, whatever the 0/1 convention says.
JUDGE_ORDINALS = ("1", "2")
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
    """An answer as written, without a leading ``答案：`` and the white space around it; a JSON array
    (``["B"]``, ``["北京", "上海"]``) as its items joined by ``; ``."""
    text = re.sub(ANSWER_PREFIX, "", str(text or "").strip(WS)).strip(WS)
    if text.startswith("[") and text.endswith("]"):
        try:
            items = json.loads(text)
        except ValueError:
            return text
        if isinstance(items, list):
            texts = [_scalar_text(i).strip(WS) for i in items if i is not None]
            return "; ".join(t for t in texts if t)
    return text


def option_object(item: Mapping[str, Any]) -> tuple[str | None, str]:
    """One option written as a JSON object: its label (when a key names one) and its text (the first key
    that is neither a label nor a flag): ``{"optionContent": "x", "isRight": 1}`` -> (None, "x")."""
    label = next((str(v) for k, v in item.items() if re.search(OPTION_LABEL_KEY, str(k).lower())), None)
    text = next((v for k, v in item.items() if not re.search(OPTION_NOT_TEXT_KEY, str(k).lower())), "")
    if label is not None:
        label = norm_label(label.strip(WS + ".．、:：)）(（"))
    return label, _scalar_text(text)


def _scalar_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def json_options(raw) -> list[dict[str, str]] | None:
    """Options given as JSON (parsed): ``{"A": "x", "B": "y"}``, ``["x", "y"]``, ``[{"label", "text"}]`` or
    objects with any text key -> [{label, text}]; labels from the objects only when each has a single
    letter, else A, B, C… in order. None when ``raw`` is neither a list nor an object."""
    if isinstance(raw, dict):
        return [{"label": norm_label(k), "text": _scalar_text(v).strip(WS + SEPS)} for k, v in raw.items()]
    if not isinstance(raw, list):
        return None
    read = [option_object(o) if isinstance(o, dict) else (None, _scalar_text(o)) for o in raw
            if isinstance(o, dict) or _scalar_text(o).strip(WS)]
    if read and not any(isinstance(o, dict) for o in raw) and all(re.match(OPTION_PREFIX, t) for _unused, t in read):
        # every string starts with its label: `["A. 雨鞋", "B. 绝缘靴"]`
        return [{"label": norm_label(re.match(OPTION_PREFIX, t).group(1)),
                 "text": re.sub(OPTION_PREFIX, "", t).strip(WS + SEPS)} for _unused, t in read]
    given = [label for label, _unused in read]
    use_given = bool(read) and all(isinstance(o, dict) for o in raw) and \
        all(label and re.fullmatch("[A-Z]", label) for label in given)
    return [{"label": given[i] if use_given else chr(65 + i), "text": text.strip(WS + SEPS)}
            for i, (_unused, text) in enumerate(read)]


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
        return read_ordinals(answer, len(texts)) or letters
    return None


def read_ordinals(answer: str | None, n_options: int) -> list[str] | None:
    """``2`` / ``1,3`` / ``１、３`` -> the labels of those options (1 = A), when every digit names one of
    ``n_options``; else None. Read only after an answer's letters and option texts."""
    digits = re.sub(LABEL_NOISE, "", (answer or "").translate(_FULL))
    if not re.fullmatch("[1-8]+", digits) or max(int(d) for d in digits) > n_options:
        return None
    return sorted({LABELS[int(d) - 1] for d in digits})


def judge_truth(word: str | None, zero_is_true: bool | None = None, one_two: bool = False) -> bool | None:
    """正确 / 对 / √ / T / 是 … -> True, 错误 / 错 / × / F / 否 … -> False; 0/1 only with a convention,
    1/2 (1 = 正确) only in a file that answers so (``one_two``)."""
    w = judge_word(word)
    if w in _TRUE or w in _FALSE:
        return w in _TRUE
    if one_two and w in JUDGE_ORDINALS:
        return w == "1"
    if zero_is_true is not None and w in JUDGE_AMBIGUOUS:
        return (w == "0") == zero_is_true
    return None


def judge_word(word: str | None) -> str:
    """A judge answer as compared with the word lists: upper case, half width, no trailing ``。``."""
    w = (word or "").strip(WS).translate(_FULL).upper()
    return "" if len(w) > 12 else re.sub(JUDGE_END, "", w)


def is_judge_pair(options: list[dict[str, str]]) -> bool:
    """Two options, one a true word and the other a false word (A. 正确 B. 错误, A. 错 B. 对, …)."""
    if len(options) != 2:
        return False
    a, b = (str(o["text"]).upper() for o in options)
    return (a in _TRUE and b in _FALSE) or (a in _FALSE and b in _TRUE)


def read_judge(answer: str | None, options: list[dict[str, str]] | None,
               zero_is_true: bool | None = None, one_two: bool = False) -> list[str] | None:
    """The label a judge answer names (a true/false word, or a label of the options), or None. Labels
    and 1/2 ordinals go through the options' text (``A. 错 B. 对``: A is 错误), never by position."""
    answer = (answer or "").strip(WS)
    if not answer:
        return None
    opts = options or judge_options()
    if one_two and judge_word(answer) in JUDGE_ORDINALS and is_judge_pair(options or []):
        picked = opts[int(judge_word(answer)) - 1]
        return [picked["label"]]
    truth = judge_truth(answer, zero_is_true, one_two)
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
    same fields) say when it does not; ``reason`` is what the user reads (marked for the catalog, read in
    the current language where the check runs), its ``{names}`` filled from ``VALUES``. ``field`` is where the editor points; ``qtypes`` None: every type."""
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


def sql_among(expr: str, values) -> str:
    """``expr IN (values)`` (the same result, NULL too) written as ``IN`` lists of at most four: DuckDB plans a
    longer list (or ``list_contains`` of a constant list) as a join, a pass of its own over a million-row
    parse that also gives up the rows' order."""
    values = [v if isinstance(v, int) else sql_literal(v) for v in values]
    parts = [f"{expr} IN ({', '.join(map(str, values[i:i + 4]))})" for i in range(0, len(values), 4)]
    return "(" + " OR ".join(parts) + ")"


def sql_ws_start(expr: str) -> str:
    """``expr`` starts with a character of WS (found by its code point: no regex, no trim)."""
    return sql_among(f"ord({expr})", [ord(c) for c in WS])


# no character but white space (``not _text(x)``): only a text starting with white space is trimmed to see (a
# CASE, so that the trim runs on those alone, in a lambda too)
_SQL_EMPTY = (f"CASE WHEN {{0}} IS NULL OR {{0}} = '' THEN true WHEN {sql_ws_start('{0}')} "
              f"THEN trim({{0}}, {_lit(WS)}) = '' ELSE false END")
# ``is_judge_pair`` over the column ``opt_texts``
# (a CASE: only rows with two options compare their texts)
SQL_JUDGE_PAIR = (f"CASE WHEN len(opt_texts) = 2 THEN ({sql_among('upper(opt_texts[1])', JUDGE_TRUE)} AND "
                  f"{sql_among('upper(opt_texts[2])', JUDGE_FALSE)}) OR ({sql_among('upper(opt_texts[1])', JUDGE_FALSE)} "
                  f"AND {sql_among('upper(opt_texts[2])', JUDGE_TRUE)}) ELSE false END")
JUDGE_WORDS = "正确/错误, 对/错, √/×, T/F, 是/否, A/B"
JUDGE_WORDS_01 = "正确/错误, 对/错, √/×, T/F, 是/否, 0/1, A/B"

_LABELS_IN_ORDER = f"[{', '.join(_lit(x) for x in LABELS)}][1:len(opt_labels)]"

# In the importer's order: the first broken rule is the one reported.
RULES: tuple[Rule, ...] = (
    Rule("question_empty", "question", None, N_("empty question"),
         lambda q: not _text(q.get("question")), _SQL_EMPTY.format("question")),
    Rule("unread", "reading", None, "{reading}",
         lambda q: bool(q.get("reading")), "reading IS NOT NULL"),
    Rule("too_many_options", "options", None, N_("{n_options} options: at most 8 (A to H)"),
         lambda q: len(_opts(q)) > len(LABELS), f"len(opt_labels) > {len(LABELS)}"),
    # one rule, two reasons: repeated labels are named as such (checked only on rows out of order: fast)
    Rule("labels_out_of_order", "options", None, "{labels_problem}",
         lambda q: _labels(q) != list(LABELS[:len(_labels(q))]), f"opt_labels <> {_LABELS_IN_ORDER}"),
    Rule("option_empty", "options", None, N_("option {empty_option} is empty"),
         lambda q: any(not _text(o["text"]) for o in _opts(q)),
         f"list_bool_or(list_transform(opt_texts, lambda t: {_SQL_EMPTY.format('t')}))"),
    Rule("answer_missing", "answer", None, N_("missing answer"),
         lambda q: not _text(q.get("answer")), _SQL_EMPTY.format("answer")),
    Rule("too_few_options", "options", CHOICE, N_("too few options ({n_options}) for a {kind} question"),
         lambda q: len(_opts(q)) < 2, "len(opt_labels) < 2"),
    Rule("answer_unread", "answer", CHOICE,
         N_("answer \"{answer}\" is neither an option label nor an option's text (a shifted row?)"),
         lambda q: not q.get("answer_labels"), "answer_labels IS NULL OR len(answer_labels) = 0"),
    Rule("answer_not_option", "answer", CHOICE, N_("answer label {missing} is not among the options {labels}"),
         lambda q: bool(_missing(q)), "NOT list_has_all(opt_labels, answer_labels)"),
    Rule("single_many", "answer", ("single",),
         N_("the type says single choice{stated} but the answer has {n_answer} labels ({answer_labels})"),
         lambda q: len(q.get("answer_labels") or []) > 1, "len(answer_labels) > 1"),
    Rule("judge_options", "options", ("judge",), N_("the type says judge{stated} but the options are not 正确/错误"),
         lambda q: not is_judge_pair(_opts(q)), f"NOT coalesce({SQL_JUDGE_PAIR}, false)"),
    Rule("judge_unread", "answer", ("judge",), N_("judge answer \"{answer}\" is not one of {judge_words}"),
         lambda q: len(q.get("answer_labels") or []) != 1, "answer_labels IS NULL OR len(answer_labels) <> 1"),
    # one rule per text type, so that each reason reads as a whole sentence in every language
    Rule("text_answer_labels", "answer_labels", ("blank",),
         N_("a blank{stated} question is answered by text: clear the answer labels ({answer_labels}) "
            "or choose single, multi or judge"),
         lambda q: bool(q.get("answer_labels")), "len(answer_labels) > 0"),
    Rule("text_answer_labels", "answer_labels", ("open",),
         N_("an open{stated} question is answered by text: clear the answer labels ({answer_labels}) "
            "or choose single, multi or judge"),
         lambda q: bool(q.get("answer_labels")), "len(answer_labels) > 0"),
)

# the {names} of the reasons: (Python, DuckDB) over the same fields; a DuckDB form given as a function is
# built where the SQL is (its words in the current language)
VALUES: dict[str, tuple[Callable[[Mapping[str, Any]], str], str | Callable[[], str]]] = {
    "reading": (lambda q: str(q.get("reading")), "reading"),
    "n_options": (lambda q: str(len(_opts(q))), "len(opt_labels)::VARCHAR"),
    "option_labels": (lambda q: ", ".join(_labels(q)), "array_to_string(opt_labels, ', ')"),
    "labels": (lambda q: "".join(_labels(q)), "array_to_string(opt_labels, '')"),
    "labels_problem": (lambda q: _labels_problem(_labels(q)), lambda: _sql_labels_problem()),
    "empty_option": (lambda q: next(o["label"] for o in _opts(q) if not _text(o["text"])),
                     f"list_filter(opt_labels, lambda l, i: {_SQL_EMPTY.format('opt_texts[i]')})[1]"),
    "kind": (lambda q: _(CHOICE_KINDS["single" if q["qtype"] == "single" else "multi"]),
             lambda: f"CASE qtype WHEN 'single' THEN {_lit(_(CHOICE_KINDS['single']))} "
                     f"ELSE {_lit(_(CHOICE_KINDS['multi']))} END"),
    "answer": (lambda q: _text(q.get("answer"))[:40], "left(answer, 40)"),
    "missing": (lambda q: ", ".join(_missing(q)),
                "array_to_string(list_filter(answer_labels, lambda l: NOT list_contains(opt_labels, l)), ', ')"),
    "n_answer": (lambda q: str(len(q.get("answer_labels") or [])), "len(answer_labels)::VARCHAR"),
    "answer_labels": (lambda q: "".join(q.get("answer_labels") or []), "array_to_string(answer_labels, '')"),
    "stated": (lambda q: f" ({_text(q.get('stated'))})" if _text(q.get("stated")) else "",
               "coalesce(' (' || stated || ')', '')"),
    # the importer always reads 0/1 (by its file's convention); the editor and generated questions do not
    "judge_words": (lambda q: JUDGE_WORDS if q.get("zero_is_true") is None else JUDGE_WORDS_01,
                    _lit(JUDGE_WORDS_01)),
}


CHOICE_KINDS = {"single": N_("single-choice"), "multi": N_("multiple-choice")}
REPEATED_LABEL = N_("option label {label} appears more than once ({labels})")
LABELS_OUT_OF_ORDER = N_("option labels {labels} are not A, B, C… in order")


def _labels_problem(labels: list[str]) -> str:
    repeated = next((x for i, x in enumerate(labels) if x in labels[:i]), None)
    if repeated:
        return _(REPEATED_LABEL).format(label=repeated, labels=", ".join(labels))
    return _(LABELS_OUT_OF_ORDER).format(labels=", ".join(labels))


def _sql_labels_problem() -> str:
    repeated = sql_text(_(REPEATED_LABEL), {
        "label": "list_filter(opt_labels, lambda l, i: list_position(opt_labels, l) < i)[1]",
        "labels": "array_to_string(opt_labels, ', ')"})
    order = sql_text(_(LABELS_OUT_OF_ORDER), {"labels": "array_to_string(opt_labels, ', ')"})
    return f"CASE WHEN list_unique(opt_labels) < len(opt_labels) THEN {repeated} ELSE {order} END"


def sql_text(template: str, values: dict[str, str]) -> str:
    """A DuckDB expression writing ``template`` (our own text, e.g. a translated message) with its
    ``{names}`` taken from SQL expressions."""
    pieces = re.split(r"\{(\w+)\}", template)
    parts = [_lit(p) if i % 2 == 0 else values[p] for i, p in enumerate(pieces) if p or i % 2]
    return "concat(" + ", ".join(parts) + ")" if len(parts) > 1 else parts[0]


@dataclass(frozen=True)
class Problem:
    """A broken rule: its code, the field it is about, and the reason the user reads."""
    code: str
    field: str     # question | options | answer | answer_labels | reading
    reason: str


def _applies(rule: Rule, qtype: str) -> bool:
    return rule.qtypes is None or qtype in rule.qtypes


def check(q: Mapping[str, Any]) -> list[Problem]:
    """Every rule a question breaks, in the order the importer reports them (the first is the one shown),
    each reason in the current language."""
    return [Problem(r.code, r.field, _fill(_(r.reason), q)) for r in RULES if _applies(r, q["qtype"]) and r.broken(q)]


def problems(q: Mapping[str, Any]) -> list[str]:
    """The reasons a question cannot be stored, first one first; [] when it can."""
    return [p.reason for p in check(q)]


def _fill(reason: str, q: Mapping[str, Any]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: VALUES[m.group(1)][0](q), reason)


def sql_problem() -> str:
    """A DuckDB expression naming the first rule a row breaks (NULL when none), over the columns
    ``qtype, question, opt_labels, opt_texts, answer, answer_labels, stated, reading``; the reasons in
    the current language."""
    whens = []
    for r in RULES:
        cond = r.sql if r.qtypes is None else f"qtype IN {_in(r.qtypes)} AND ({r.sql})"
        whens.append(f"WHEN {cond} THEN {_sql_reason(_(r.reason))}")
    return "CASE\n  " + "\n  ".join(whens) + "\nEND"


def _sql_reason(reason: str) -> str:
    names = set(re.findall(r"\{(\w+)\}", reason))
    return sql_text(reason, {n: (VALUES[n][1]() if callable(VALUES[n][1]) else VALUES[n][1]) for n in names})


def sql_stated_type(column: str) -> str:
    """``stated_type`` as a DuckDB expression over a column of our own naming."""
    whens = " ".join(f"WHEN regexp_matches(lower({column}), {_lit(p)}) THEN {_lit(t)}" for t, p in STATED_TYPES)
    return f"CASE WHEN {column} IS NULL THEN NULL {whens} END"


# ------------------------------------------------------------------ a stated type the content contradicts

@dataclass(frozen=True)
class Reclass:
    """A row whose stated type (``from_types``) its content contradicts beyond doubt is read as ``to``:
    ``applies`` (Python, over qtype / question / options / answer) and ``sql`` (DuckDB, over the parse's
    columns ``opt_texts, judge_word, has_blank, ans_letters, answer``) say when. Any other contradiction
    is reported by the rules (a judge row with four options, a single-choice row with two answer labels:
    either could be the mistake)."""
    to: str
    from_types: tuple[str, ...]
    why: str
    applies: Callable[[Mapping[str, Any]], bool]
    sql: str


_JUDGE_ANY = _TRUE | _FALSE | set(JUDGE_AMBIGUOUS) | set(JUDGE_ORDINALS)
RECLASSIFY: tuple[Reclass, ...] = (
    Reclass("judge", ("single", "multi", "choice"), "no options, answered with a true/false word",
            lambda q: not _opts(q) and judge_truth(q.get("answer")) is not None,
            "len(opt_texts) = 0 AND judge_word IN ('true', 'false')"),
    Reclass("blank", ("single", "multi", "choice", "judge"), "no options, a blank in the stem and a text answer",
            lambda q: (not _opts(q) and bool(re.search(BLANK_ANY, q.get("question") or "")) and bool(_text(q.get("answer")))
                       and judge_word(q.get("answer")) not in _JUDGE_ANY and read_letters(q.get("answer")) is None),
            "len(opt_texts) = 0 AND has_blank AND judge_word IS NULL AND NOT ans_letters AND answer IS NOT NULL"),
)


def reclassify(qtype: str, q: Mapping[str, Any]) -> str:
    """The type a row is read as: ``qtype`` (stated, or ``choice``) unless its content contradicts it
    beyond doubt (``RECLASSIFY``)."""
    return next((r.to for r in RECLASSIFY if qtype in r.from_types and r.applies(q)), qtype)


def sql_reclassify(qtype: str) -> str:
    """``reclassify`` as a DuckDB expression over the column (or expression) ``qtype``."""
    return f"CASE {sql_reclassify_whens(qtype)} ELSE {qtype} END"


def sql_reclassify_whens(qtype: str) -> str:
    """The ``WHEN … THEN`` clauses of ``sql_reclassify``, to lead a CASE that decides the type."""
    return " ".join(f"WHEN {r.sql} AND {qtype} IN {_in(r.from_types)} THEN {_lit(r.to)}" for r in RECLASSIFY)
