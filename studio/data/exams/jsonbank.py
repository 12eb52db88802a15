"""Question banks written as JSON: the questions found at any depth, as flat records for the importer.

A JSON bank is a list of question objects, or that list nested in whatever its maker liked: ``{"data":
[...]}``, chapters -> sections -> questions (``[{"title": "第一章", "sections": [{"title": "第一节",
"questions": [{index, type, content, options, answer}]}]}]``), or ``{"单选题": [...], "判断题": [...]}``.
``records`` walks the document and returns every question object in document order, each as it was
written plus where it sat: the names of the chapters and sections around it joined into ``subject``
(``第一章 / 第一节``), or a container named for a type (``单选题``) as its ``type``, when the question
does not say. The columns (which key is the stem, the options, the answer) are then the mapping's to
detect, as for any table.

JSON Lines (one object per line) are read line by line. A text that is neither is refused whole, naming
the line and column where it stops being JSON (a Python literal saved as ``.json``: single quotes,
``True``/``None``).
"""
from __future__ import annotations

import json
import re
from typing import Any

from studio.core import exam_rules as rules
from studio.core.errors import InputError
from studio.core.i18n import N_, _

# key names, lower case without ``_ - space``: what marks a question object, and a container's name
_ANSWER_KEY = re.compile(r"answer|答案|^(correct|correctoption|rightoption|key|target|solution)$")
_STEM_KEY = re.compile(r"^(question|questions?(content|title|stem|text|body)|stem|content|title|body|prompt|"
                       r"题目|题干|问题|试题|题目内容|试题内容|考题内容|题面)$")
_OPTIONS_KEY = re.compile(r"option|choice|选项|备选")
_NAME_KEY = re.compile(r"^(title|name|chapter|section|part|unit|chaptername|sectionname|chaptertitle|sectiontitle|"
                       r"章|节|章节|章名|节名|名称|标题|单元|部分)$")
_TYPE_KEY = re.compile(r"^(type|qtype|questiontype|kind|题型|类型|试题类型|题目类型|考题类型)$")
_SUBJECT_KEY = "subject"
_NAME_MAX = 60          # a container's name is short; a longer string is content, not a heading


def records(text: str, name: str) -> list[tuple[int, Any]]:
    """(row number, record) of a JSON document (questions at any depth, numbered from 1 in document
    order) or of JSON Lines (numbered by line); InputError naming the line and column otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return _json_lines(text, name, err)
    found = questions(data)
    if found:
        return list(enumerate(found, start=1))
    if isinstance(data, dict):  # {"data": [...]} and the like: the first list of records
        data = next((v for v in data.values() if isinstance(v, list)), [data])
    if not isinstance(data, list):
        raise InputError(_("the JSON holds neither a list of questions nor an object"), file=name)
    return list(enumerate(data, start=1))


def _json_lines(text: str, name: str, doc_err: json.JSONDecodeError) -> list[tuple[int, Any]]:
    """JSON Lines when the first non-empty line is JSON on its own; else the document's own error."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not _parses(lines[first]):
        raise InputError(_("not valid JSON at line {line}, column {column}: {what}{hint}; nothing imported").format(
            line=doc_err.lineno, column=doc_err.colno, what=_what(doc_err, text), hint=_hint(text)),
            file=name) from None
    out = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            out.append((i, json.loads(line)))
        except json.JSONDecodeError as err:
            raise InputError(_("line {line} is not valid JSON (column {column}: {what}){hint}; nothing "
                               "imported").format(line=i, column=err.colno, what=_what(err, line), hint=_hint(line)),
                             file=name) from None
    return out


def _parses(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return False
    return True


def _hint(text: str) -> str:
    """What a Python literal looks like to a JSON reader."""
    if re.search(r"[\[{,:]\s*'|\b(True|False|None)\b", text[:100_000]):
        return _(" (a Python literal? JSON needs double quotes and true/false/null)")
    return ""


# the JSON reader's words -> ours (first match of its message's start)
_WHAT = (
    ("Expecting value", N_("a value is missing")),
    ("Expecting property name", N_("a key must be a text in double quotes")),
    ("Expecting ',' delimiter", N_("a comma is missing")),
    ("Expecting ':' delimiter", N_("a colon is missing after a key")),
    ("Unterminated string", N_("a text is not closed by a double quote")),
    ("Invalid control character", N_("a text holds a line break or tab (write it as \\n or \\t)")),
    ("Invalid \\escape", N_("a backslash that starts no escape (write \\\\ for a backslash)")),
    ("Extra data", N_("more text after the end of the JSON (several documents? write one object per line)")),
)


def _what(err: json.JSONDecodeError, text: str) -> str:
    """What is wrong where the JSON reader stopped, in the user's words (a text cut short says so)."""
    ends_in_a_string = err.msg.startswith("Unterminated string") and '"' not in text[err.pos + 1:]
    if err.pos >= len(text.rstrip()) or ends_in_a_string:
        return _("the text ends in the middle (a file cut short?)")
    return next((_(ours) for theirs, ours in _WHAT if err.msg.startswith(theirs)),
                _("unexpected character {char!r}").format(char=text[err.pos:err.pos + 1]))


def _norm(key) -> str:
    return re.sub(r"[\s_\-]+", "", str(key)).lower()


def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def is_question(d: dict) -> bool:
    """An object that is a question: it has an answer, or a stem with options, or a stem and nothing
    nested below it but options (a chapter has a title too, and its sections under it)."""
    keys = {_norm(k): v for k, v in d.items()}
    if any(_ANSWER_KEY.search(k) and (_scalar(v) or all(_scalar(x) for x in v if isinstance(v, list)))
           for k, v in keys.items() if not isinstance(v, dict)):
        return True
    stem = any(_STEM_KEY.match(k) and isinstance(v, str) for k, v in keys.items())
    nested = any(isinstance(v, (list, dict)) and not _OPTIONS_KEY.search(k) and _holds_objects(v)
                 for k, v in keys.items())
    return stem and not nested


def _holds_objects(v) -> bool:
    items = v.values() if isinstance(v, dict) else v
    return any(isinstance(x, (dict, list)) for x in items)


def questions(data) -> list[dict]:
    """Every question object of a parsed JSON document, in document order, each a copy carrying the
    names of the containers around it (``subject``, or ``type`` when a container names a type)."""
    found: list[dict] = []
    _walk(data, [], found)
    return found


def _walk(node, path: list[str], found: list[dict]) -> None:
    if isinstance(node, list):
        objects = [x for x in node if isinstance(x, dict)]
        asked = [x for x in objects if is_question(x)]
        as_questions = bool(asked) and len(asked) * 2 >= len(objects)
        for x in node:
            if as_questions and isinstance(x, dict) and is_question(x):
                found.append(_placed(x, path))
            elif isinstance(x, (list, dict)):
                _walk(x, path, found)
    elif isinstance(node, dict):
        if is_question(node):
            found.append(_placed(node, path))
            return
        own = _name(node)
        here = path + [own] if own else path
        for k, v in node.items():
            if isinstance(v, (list, dict)):
                # a key that is a heading (``"第一章": [...]``, ``"单选题": [...]``), not a field name
                titled = not own and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(k)) and len(str(k)) <= _NAME_MAX
                _walk(v, here + [str(k)] if titled else here, found)


def _name(d: dict) -> str | None:
    for k, v in d.items():
        if _NAME_KEY.match(_norm(k)) and isinstance(v, (str, int)) and not isinstance(v, bool):
            text = str(v).strip(rules.WS)
            if text and len(text) <= _NAME_MAX:
                return text
    return None


def _names_type(name: str) -> bool:
    """``单选题`` / ``一、判断题`` name a type; ``第三章 判断与推理`` is a chapter."""
    return len(name) <= 10 and rules.stated_type(name) is not None


def _placed(q: dict, path: list[str]) -> dict:
    """The question with the names of its containers: a type-naming one as its type, the others joined
    as its subject (what the question says itself wins)."""
    out = dict(q)
    types = [p for p in path if _names_type(p)]
    names = [p for p in path if not _names_type(p)]
    if types and not any(_TYPE_KEY.match(_norm(k)) for k in q):
        out["type"] = types[-1]
    if names and _SUBJECT_KEY not in q:
        out[_SUBJECT_KEY] = " / ".join(names)
    return out
