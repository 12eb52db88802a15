"""Questions assembled from classified lines (``parse_lines``) and written as cells under ``HEADER``
(``finish``, ``bank_sheet``): each question's row number is the line where it starts.

What is decided here, and why:

- A question's options go into one cell as a JSON array of their texts when their labels are A, B, C…
  in order and none is empty (the parser takes it as is, nothing re-split); otherwise as ``A. x`` lines,
  so the parser refuses the row and says which labels are wrong.
- An answer written only inside the stem (``…的是（D）。``) is taken when there is no answer line and
  the letters are option labels, and the blank is left as ``（　　）``; a judge mark at the end of a
  statement (``（正确）`` ``（×）``) is the answer and is removed. A question with no answer anywhere keeps
  an empty answer: the importer rejects it ("missing answer") with its line.
- Every numbered line starts a new question, whatever its number (a number that skips or repeats never
  merges or drops a question), except a numbered line inside an open question's answer (``1、…2、…``
  points of a 简答 answer) or a ``（1）`` sub-item of a stem numbered ``1、``.
- A line that matches nothing continues what came before: the stem, the last option (a wrapped option
  line), the answer of an open question, or the explanation; it starts a new unnumbered question only
  when the next line is an option ``A``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from studio.core import exam_rules as rules
from studio.data.exams.sheets import Sheet
from studio.data.exams.text_lines import (ANSWER, ANSWER_SHORT, BLANK, CHOICE_CELLS, FULL_LETTERS, JUDGE_END,
                                          JUDGE_MARK, META, PRE_ANSWER, QUESTION, STEM_ANSWER, TYPE_CELL, TYPE_TAG,
                                          heading, inline_options, split_answer, split_options)

# header names mapping.py reads as: id, subject, type, question, options, answer, explanation
HEADER = ["题号", "章节", "题型", "题目", "选项", "答案", "解析"]


@dataclass
class Question:
    """One question as read from the lines; ``line`` is where it starts."""
    line: int
    number: str | None = None
    style: str | None = None          # di | dot | paren: how it was numbered
    qtype: str | None = None          # a tag in the question (``(单选)``) or its section's heading
    subject: str | None = None
    stem: list[str] = field(default_factory=list)
    options: list[list[str]] = field(default_factory=list)
    answer: str | None = None
    explanation: list[str] = field(default_factory=list)
    state: str = "stem"               # stem | options | answer | explanation: where the next plain line goes
    sub_next: int | None = None       # the next number of a numbered list inside an open answer
    glued: bool = False               # the answer was on the question's own line

    def set_answer(self, answer: str) -> None:
        if self.answer and answer and answer != self.answer and self.options:
            # two different answers: keep both so the row is refused, never pick one
            self.answer = f"两个答案：{self.answer} 与 {answer}"
        elif self.answer and answer and not self.options:
            self.answer += "\n" + answer
        elif self.answer is None or answer:
            self.answer = answer                           # `答：` alone: the answer follows on the next lines
        self.state = "answer"
        point = QUESTION.match(answer or "")
        if point and not self.options and _number(point)[1] is not None:
            self.sub_next = _number(point)[1] + 1          # `答案：1、…` opens a list of points

    def open_answer(self) -> bool:
        """Answering a question without options: lines that follow continue the answer. Not so for a
        choice question, or an answer on the question's own line (its options may follow)."""
        return (self.state in ("answer", "explanation") and not self.options and not self.glued
                and self.qtype not in CHOICE_CELLS)


def _number(m: re.Match) -> tuple[str, int | None]:
    """(how a question is numbered: di | dot | paren, its number when written in digits)."""
    n = m.group(m.lastgroup)
    return ("dot" if m.lastgroup == "space" else m.lastgroup), int(n) if n.isdigit() else None


def _answer_follows(items, i: int) -> bool:
    """Whether an answer line comes after line ``i`` before the next numbered line or heading."""
    for _, text in items[i + 1:]:
        if QUESTION.match(text) or heading(text):
            return False
        if ANSWER_SHORT.match(text) or ANSWER.search(text):
            return True
    return False


def _starts_question(cur: Question | None, m: re.Match, items, i: int) -> bool:
    """A numbered line starts a question, except a sub-item of a stem or a point of an open answer."""
    if cur is None:
        return True
    style, n = _number(m)
    if cur.state == "stem" and cur.style and style != cur.style and not cur.options:
        return False                                   # `（1）…（2）…` inside a stem numbered `1、`
    if not cur.open_answer() or cur.answer is None or cur.qtype in (TYPE_CELL["judge"], TYPE_CELL["blank"]):
        return True                                    # only an open answer has numbered points
    if style != cur.style:
        return False                                   # `（1）` points of an answer to question `1、`
    if n == 1 or (cur.sub_next == n and not _answer_follows(items, i)):
        cur.sub_next = (n or 0) + 1
        return False
    return True


def _next_is_option_a(items, i: int) -> bool:
    if i + 1 >= len(items):
        return False
    nxt = split_options(items[i + 1][1])
    return bool(nxt) and nxt[0][0] == "A"


def parse_lines(lines: list[tuple[int, str]]) -> list[Question]:
    """Questions from ``(line number, text)`` pairs (see the module's notes for the decisions)."""
    items = [(no, t) for no, raw in lines if (t := raw.strip(rules.WS))]
    out: list[Question] = []
    cur: Question | None = None
    section = subject = None
    for i, (no, text) in enumerate(items):
        h = heading(text)
        if h and not (h[0] == "subject" and cur and cur.open_answer() and not text.startswith("#")):
            if h[0] == "type":
                section = h[1]
            else:
                subject = h[1]
            cur = None
            continue
        meta = META.match(text)
        if meta and cur is not None:
            if meta.group(1) == "题型" and rules.stated_type(meta.group(2)):
                cur.qtype = TYPE_CELL[rules.stated_type(meta.group(2))]
            continue
        text, answer, expl = split_answer(text)
        pre = PRE_ANSWER.match(text)
        if pre:
            text, answer = text[pre.end():], answer or pre.group(1)
        if text:
            m = QUESTION.match(text)
            if m and _starts_question(cur, m, items, i):
                cur = Question(no, m.group(m.lastgroup), _number(m)[0], section, subject)
                out.append(cur)
                _question_line(cur, text[m.end():])
            elif (opts := split_options(text)) and not (cur and cur.open_answer() and cur.answer is not None):
                if cur is None or (cur.options and opts[0][0] == "A" and cur.state != "options"):
                    cur = Question(no, None, None, section, subject)   # options without a stem: refused
                    out.append(cur)
                cur.options += opts
                cur.state = "options"
            elif _unnumbered_start(cur, text, items, i):
                cur = Question(no, None, None, section, subject, [text])
                out.append(cur)
            elif cur is not None:
                _continue(cur, text)
            elif answer is None:
                continue                                               # a title or instructions
        if cur is not None and answer is not None:
            cur.glued = cur.line == no and not cur.options
            cur.set_answer(answer)
        if cur is not None and expl is not None:
            if expl:
                cur.explanation.append(expl)
            cur.state = "explanation"
    return out


def _unnumbered_start(cur: Question | None, text: str, items, i: int) -> bool:
    """A plain line starts an unnumbered question when an option ``A`` follows it, or when it is a
    statement ending in a judge mark (``…（√）``) after a finished question."""
    if cur is not None and cur.open_answer():
        return False
    done = cur is None or cur.state != "stem" or (not cur.options and bool(cur.stem)
                                                   and bool(JUDGE_END.search(cur.stem[-1])))
    return done and (_next_is_option_a(items, i) or bool(JUDGE_END.search(text)))


def _question_line(q: Question, rest: str) -> None:
    """The text after a question's number: a type tag, the stem, options on the same line."""
    tag = TYPE_TAG.match(rest)
    if tag and rules.stated_type(tag.group(1)):
        q.qtype = TYPE_CELL[rules.stated_type(tag.group(1))]
        rest = rest[tag.end():]
    rest = re.sub(r"^[:：]\s*", "", rest)
    stem, opts = inline_options(rest)
    if stem:
        q.stem.append(stem)
    if opts:
        q.options += opts
        q.state = "options"


def _join(a: str, b: str) -> str:
    """A wrapped line joined back: no space between Chinese characters, one between words."""
    if a and b and (a[-1].isascii() and a[-1].isalnum()) and (b[0].isascii() and b[0].isalnum()):
        return a + " " + b
    return a + b


def _continue(q: Question, text: str) -> None:
    if q.state == "stem":
        q.stem.append(text)
    elif q.state == "options":
        q.options[-1][1] = _join(q.options[-1][1], text)
    elif q.state == "answer" and not q.options:
        q.answer = (q.answer + "\n" + text) if q.answer else text
    else:
        q.explanation.append(text)
        q.state = "explanation"



def _letters(text: str) -> str:
    return "".join(sorted(set(re.sub(r"[\s,，、]", "", text.translate(FULL_LETTERS)))))


def finish(q: Question) -> list[str | None]:
    """A question as cells under ``HEADER``: the answer found in the stem taken out of it."""
    stem = "\n".join(q.stem).strip()
    answer = q.answer.strip() if q.answer else None
    labels = [l for l, _ in q.options]
    if q.options:
        found = [m for m in STEM_ANSWER.finditer(stem) if set(_letters(m.group(1))) <= set(labels)]
        if len(found) == 1:
            letters = _letters(found[0].group(1))
            given = rules.read_letters(answer) if answer else None
            if answer is None or given == list(letters):
                answer = answer or letters
                stem = stem[:found[0].start()] + BLANK + stem[found[0].end():]
    elif q.qtype in (None, TYPE_CELL["judge"]):
        end = JUDGE_END.search(stem)
        m = end or (JUDGE_MARK.search(stem) if answer is None else None)
        if m:
            word = (m.group("w") or m.group("b")) if end else m.group(1)
            same = answer is not None and rules.judge_truth(answer) == rules.judge_truth(word)
            if answer is None or same:
                answer = answer or word
                # a mark ending the statement goes (its full stop stays); one inside it leaves the blank
                stem = stem[:m.start()].rstrip() + m.group("end") if end else \
                    stem[:m.start()] + BLANK + stem[m.end():]
    qtype = q.qtype
    if not q.options and answer and rules.read_letters(answer) and qtype in (None, *CHOICE_CELLS):
        qtype = qtype or TYPE_CELL["choice"]   # answered by letters, no option read: refused, never a blank
    return [q.number, q.subject, qtype, stem or None, _options_cell(q.options), answer or None,
            "\n".join(q.explanation).strip() or None]


def _options_cell(options: list[list[str]]) -> str | None:
    """A JSON array when the labels are A, B, C… in order and no option is empty (read as is); else
    ``A. x`` lines, which the parser refuses with the reason (labels out of order, an empty option)."""
    if not options:
        return None
    labels = "".join(l for l, _ in options)
    if labels == rules.LABELS[:len(labels)] and all(t.strip(rules.WS) for _, t in options):
        return json.dumps([t for _, t in options], ensure_ascii=False)
    return "\n".join(f"{l}. {t}" for l, t in options)


def bank_sheet(lines: list[tuple[int, str]], name: str = "") -> Sheet:
    """Lines of a bank -> one sheet under ``HEADER``; row numbers are the questions' first lines."""
    rows: list[tuple[int, list[str | None]]] = [(0, list(HEADER))]
    rows += [(q.line, finish(q)) for q in parse_lines(lines)]
    return Sheet(name, len(HEADER), rows, header=True)
