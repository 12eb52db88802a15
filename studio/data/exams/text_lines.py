"""One line of a Word or text question bank, classified: a question number (``1、`` ``（1）`` ``第3题``), an
option label or several options on one line (``A、`` ``【A】`` ``(A)``), an answer or explanation
(``答案：B`` ``解析：``), a section heading that sets the type or the subject; and, from many lines, whether
a text is a question list (``bank``) or a delimited table.
"""
from __future__ import annotations

import csv
import re

from studio.core import exam_rules as rules
from studio.core.errors import InputError
from studio.core.i18n import N_, _

TYPE_CELL = {"single": "单选题", "multi": "多选题", "judge": "判断题", "blank": "填空题", "open": "问答题",
             "choice": "选择题"}
CHOICE_CELLS = (TYPE_CELL["single"], TYPE_CELL["multi"], TYPE_CELL["choice"])
NOT_A_BANK = N_("neither a table nor a question list: a .txt exam bank is either a table (one question per "
                "line, fields separated by tabs or commas, as in a .csv) or a question list (numbered questions "
                "`1、…`, options on lines starting `A、` / `A.` / `(A)`, answers on `答案：B` lines)")

_CN_DIGITS = "一二三四五六七八九十"
FULL_LETTERS = str.maketrans("ＡＢＣＤＥＦＧＨ", "ABCDEFGH")
LETTER_CLASS = "A-HＡ-Ｈ"
# an option label: `A、` `A.` `A．` `A:` `A)` `(A)` `（A）` `【A】` `[A]`, full-width letters too
OPTION_START = re.compile(rf"^[（(【\[]?\s*([{LETTER_CLASS}])\s*(?:[)）】\]]|[.．、:：])\s*")

# a question number: `第3题` `1、` `1.` `1．` `1)` `（1）` `1<tab>` `12 下列`; never `1.5` (a decimal) or
# `2019 年`
QUESTION = re.compile(
    rf"^(?:第\s*(?P<di>\d{{1,4}}|[{_CN_DIGITS}百]+)\s*题"
    r"|(?P<dot>\d{1,4})\s*[、.．:：)）](?![\d.．])"
    r"|(?P<space>\d{1,3})(?:\t|[ \u3000]+(?=[\u4e00-\u9fff（(“\"《【]))"
    r"|[（(]\s*(?P<paren>\d{1,4})\s*[)）])\s*")
TYPE_TAG = re.compile(r"^[（(【\[]\s*([^()（）【】\[\]]{1,10}?)\s*[)）】\]]\s*[:：]?\s*")
_TYPE_WORDS = "单项选择|单选|多项选择|多选|不定项选择|不定项|选择|判断|是非|填空|简答|问答|论述|计算|名词解释|案例分析"
HEADING = re.compile(
    rf"^(?:第?[{_CN_DIGITS}]+(?:部分|大题)?\s*[、.．:：\s]\s*|[（(][{_CN_DIGITS}]+[)）]\s*|[IVX]+\s*[.．、]\s*"
    rf"|\d{{1,2}}\s*[、.．]\s*)?[【\[]?(?P<t>{_TYPE_WORDS})题?[】\]]?(?P<rest>.*)$")
_SECTION = re.compile(rf"^(?:第[{_CN_DIGITS}百\d]+[章节篇]|[{_CN_DIGITS}]+\s*[、.．])\s*(?P<title>.*)$")
ANSWER = re.compile(r"(?:[【\[]\s*(?:正确|参考|标准)?答案\s*[】\]]\s*[:：]?|(?:正确|参考|标准)?答案\s*[:：])\s*")
# at a line's start only: `答：…`, `答案 B`, `答案B`
ANSWER_SHORT = re.compile(rf"^(?:答\s*[:：]|(?:正确|参考|标准)?答案(?:\s+|(?=[{LETTER_CLASS}√×]+\s*$)))\s*")
_ANSWER_PAREN = re.compile(r"[（(\[]\s*(?:正确|参考|标准)?答案\s*[:：]\s*([^)）\]]*?)\s*[)）\]]\s*$")   # `…（答案：B）`
EXPLANATION = re.compile(r"(?:[【\[]\s*(?:答案|试题)?(?:解析|分析|点评|解答)\s*[】\]]\s*[:：]?"
                         r"|(?:答案|试题)?解析\s*[:：])\s*")
META = re.compile(r"^[【\[]?\s*(难度|知识点|考点|分值|分数|来源|出处|题型|试题难度|得分)\s*(?:[】\]]\s*[:：]?|[:：])\s*(.*)$")
_JUDGE_WORDS = "正确|错误|对|错|√|×|✓|✔|✗|✘|╳|X|T|F"
JUDGE_MARK = re.compile(rf"[（(]\s*({_JUDGE_WORDS})\s*[)）]")   # `（正确）` `(×)` anywhere in a statement
JUDGE_END = re.compile(rf"(?:[（(]\s*(?P<w>{_JUDGE_WORDS})\s*[)）]|(?<=\s)(?P<b>√|×))\s*(?P<end>[。.；;]?)\s*$")
STEM_ANSWER = re.compile(rf"[（(]\s*([{LETTER_CLASS}](?:\s*[,，、]?\s*[{LETTER_CLASS}]){{0,7}})\s*[)）]")
BLANK = "（　　）"
# the answer slot written before the number: `（ B ）1、题目` / `（√）2. 陈述` / `（　）3、…`
PRE_ANSWER = re.compile(rf"^[（(]\s*([{LETTER_CLASS}]{{1,8}}|√|×|对|错)?\s*[)）]\s*(?=\d{{1,4}}\s*[、.．])")


def _next_label(label: str) -> str:
    return chr(ord(label) + 1)


def _label_after_space(label: str) -> re.Pattern:
    """The label ``label`` (or its full-width form) after white space or ``；``: where the next option starts."""
    both = label + chr(ord(label) + 0xFEE0)
    return re.compile(rf"(?<=[\s;；])(?:[（(【\[]\s*[{both}]\s*[)）】\]]|[{both}]\s*[.．、:：)）])\s*")


_LABEL_AFTER = {l: _label_after_space(l) for l in "ABCDEFGHI"}


def split_options(text: str) -> list[list[str]] | None:
    """``A．北京\tB．上海  C．广州`` -> [[A, 北京], [B, 上海], [C, 广州]]; None when the line is not an option
    line. Only the next label in order splits (after white space), so ``A、选 A、B 都对`` stays whole."""
    m = OPTION_START.match(text)
    if not m:
        return None
    label, pos, out = m.group(1).translate(FULL_LETTERS), m.end(), []
    while True:
        nxt = _LABEL_AFTER[_next_label(label)].search(text, pos)
        if not nxt:
            out.append([label, text[pos:].strip()])
            return out
        out.append([label, text[pos:nxt.start()].strip()])
        label, pos = _next_label(label), nxt.end()


def inline_options(text: str) -> tuple[str, list[list[str]]]:
    """A question line that carries its options: ``题目（ ） A.x B.y`` -> (stem, options), when A and B
    both follow white space."""
    a = _LABEL_AFTER["A"].search(text)
    if not a or not _LABEL_AFTER["B"].search(text, a.end()):
        return text, []
    opts = split_options(text[a.start():].lstrip())
    return (text[:a.start()].rstrip(), opts) if opts and len(opts) >= 2 else (text, [])


def heading(text: str) -> tuple[str, str] | None:
    """("type", 单选题…) for a section heading that names a question type, ("subject", title) for a chapter
    heading (``# …`` in Markdown, ``第一章 …``, ``一、…``), else None."""
    body = text.lstrip("#").strip() if text.startswith("#") else text
    m = HEADING.match(body)
    if m:
        rest = re.sub(r"[（(【\[][^)）】\]]*[)）】\]]", "", m.group("rest"))
        rest = re.sub(r"[\s:：。.,，;；部分]", "", rest)
        if len(rest) <= 2:
            qtype = rules.stated_type(m.group("t") + "题") or "open"
            return "type", TYPE_CELL[qtype]
    if text.startswith("#"):
        return ("subject", body) if body else None
    m = _SECTION.match(text)
    if m and 0 < len(m.group("title")) <= 20 and not re.search(r"[？?（(）)_。]", m.group("title")):
        return "subject", m.group("title").strip()
    return None


def split_answer(text: str) -> tuple[str, str | None, str | None]:
    """A line -> (what precedes ``答案：``, the answer, the explanation after ``解析：``)."""
    answer = expl = None
    paren = _ANSWER_PAREN.search(text)
    if paren:
        return text[:paren.start()].rstrip(), paren.group(1), None
    m = ANSWER_SHORT.match(text) or ANSWER.search(text)
    if m:
        text, answer = text[:m.start()].rstrip(), text[m.end():].strip()
        e = EXPLANATION.search(answer)
        if e:
            answer, expl = answer[:e.start()].strip(), answer[e.end():].strip()
    else:
        e = EXPLANATION.match(text)
        if e:
            text, expl = "", text[e.end():].strip()
    return text, answer, expl



def looks_like_bank(lines: list[str]) -> bool:
    """Numbered questions, option lines, answer lines or headings at line starts, enough to be a bank."""
    q = o = a = h = 0
    for text in lines[:2000]:
        text = text.strip(rules.WS)
        if not text:
            continue
        pre = PRE_ANSWER.match(text)
        if pre:
            text, a = text[pre.end():], a + bool(pre.group(1))
        if heading(text) and heading(text)[0] == "type":
            h += 1
        elif OPTION_START.match(text):
            o += 1
        elif QUESTION.match(text):
            q += 1
        if ANSWER.search(text) or ANSWER_SHORT.match(text) or JUDGE_END.search(text):
            a += 1
    return (q + h >= 1 and (o >= 2 or a >= 1)) or (o >= 2 and a >= 1)


def _table_score(lines: list[str]) -> float:
    """How table-like: the share of lines holding the most common number (> 1) of delimited fields."""
    lines = [l for l in lines[:200] if l.strip()]
    best = 0.0
    for d in ("\t", ",", ";", "|"):
        counts = [len(next(csv.reader([l], delimiter=d), [])) for l in lines]
        if counts:
            common = max(set(counts), key=counts.count)
            if common > 1:
                best = max(best, counts.count(common) / len(counts))
    return best


def text_layout(text: str, name: str = "") -> str:
    """``table`` (delimited fields: the CSV reader's) or ``bank`` (a question list: ours); refused when
    neither. Decided by content: lines starting with option labels make a bank even when tab-separated
    options give it a tabular look."""
    lines = split_lines(text)[:2000]
    options = sum(bool(OPTION_START.match(l.strip(rules.WS))) for l in lines)
    bank = looks_like_bank(lines)
    if bank and options >= 2:
        return "bank"
    if _table_score(lines) >= 0.8:
        return "table"
    if bank:
        return "bank"
    raise InputError(_(NOT_A_BANK), file=name)


def split_lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)
