"""Structure-aware chunking of a document into ordered passages.

The text is read line by line into units:

- a heading (``## 第二章 电力建设``, any Markdown ``#`` heading, or a bare ``第X章`` / ``第X节`` line)
  sets the heading path that every later passage carries;
- an article starts at a line ``第X条 ...`` and takes the lines after it until the next article or
  heading (its numbered items and sub-paragraphs belong to it);
- any other line is a paragraph.

An article is one passage: it is split only when it is longer than ``size`` characters, and then at
Chinese sentence ends (。！？；) or line ends, never mid-sentence unless one sentence alone exceeds the
size. Consecutive paragraphs under the same heading are packed into passages of up to ``size``
characters. ``overlap`` applies where one unit is split: the next piece repeats up to ``overlap``
characters of whole sentences from the end of the previous one. Passage text is always an exact slice
of the document text (``char_start``/``char_end``), so a passage can be found again in its source.

Text before a ``<!-- INFO END -->`` marker (the laws' title and amendment history) is metadata, not
passage text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from studio.core.i18n import _
from studio.data.corpus.readers import INFO_END

DEFAULT_SIZE = 800
DEFAULT_OVERLAP = 0

_NUM = "零一二三四五六七八九十百千〇两0-9０-９"
ARTICLE = re.compile(rf"^\s*(第[{_NUM}]+条(?:之[{_NUM}]+)?)(?:[\s\u3000]|$)")
_MD_HEADING = re.compile(r"^\s*(#{1,6})\s+(.+?)\s*#*\s*$")
_BARE_HEADING = re.compile(rf"^\s*(第[{_NUM}]+([编章节]))[\s\u3000]*([^。！？；，,.]{{0,40}})\s*$")
_SENTENCE = re.compile(r"[。！？；!?;]+[”’」』）)]*|\n")
_CLAUSE = re.compile(r"[，、：,:]")


@dataclass
class Chunk:
    ord: int
    heading: str
    text: str
    char_start: int
    char_end: int


@dataclass
class _Unit:
    kind: str  # article | paragraph
    start: int
    end: int
    heading: str
    label: str = ""


def _lines(text: str, begin: int):
    """(start, end, line) for each non-empty line from ``begin``, offsets into ``text``."""
    pos = begin
    for line in text[begin:].split("\n"):
        end = pos + len(line)
        if line.strip():
            lead = len(line) - len(line.lstrip())
            trail = len(line.rstrip())
            yield pos + lead, pos + trail, line.strip()
        pos = end + 1


def _units(text: str) -> list[_Unit]:
    begin = 0
    marker = text.find(INFO_END)
    if marker >= 0:
        begin = marker + len(INFO_END)
    stack: dict[int, str] = {}
    units: list[_Unit] = []
    current: _Unit | None = None

    def path() -> str:
        return " / ".join(stack[k] for k in sorted(stack))

    for start, end, line in _lines(text, begin):
        md = _MD_HEADING.match(line)
        bare = None if md else _BARE_HEADING.match(line)
        if md or bare:
            if md:
                level, title = len(md.group(1)), md.group(2).strip()
            else:
                level, title = {"编": 2, "章": 2, "节": 3}[bare.group(2)], line.strip()
                if bare.group(2) == "编":
                    level = 1
            title = re.sub(r"[\s\u3000]+", " ", title)
            if level == 1 and md:  # the document title: not part of a passage's heading path
                stack.clear()
            else:
                for k in [k for k in stack if k >= level]:
                    del stack[k]
                stack[level] = title
            current = None
            continue
        art = ARTICLE.match(line)
        if art:
            current = _Unit("article", start, end, path(), art.group(1))
            units.append(current)
        elif current is not None and current.kind == "article":
            current.end = end
        else:
            units.append(_Unit("paragraph", start, end, path()))
    return units


def _sentence_bounds(text: str, start: int, end: int, pattern=_SENTENCE) -> list[int]:
    """Offsets inside [start, end] where a sentence (or line) ends, end included."""
    bounds = [m.end() for m in pattern.finditer(text, start, end)]
    bounds = [b for b in bounds if start < b < end]
    return sorted(set(bounds + [end]))


def _split(text: str, start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Pieces of [start, end) of at most ``size`` chars, cut at sentence ends, with sentence overlap."""
    bounds = _sentence_bounds(text, start, end)
    pieces: list[tuple[int, int]] = []
    s = start
    while s < end:
        fitting = [b for b in bounds if s < b <= s + size]
        if not fitting:  # one sentence longer than size: cut at a clause (，、：), else hard
            fitting = [b for b in _sentence_bounds(text, s, min(s + size, end), _CLAUSE) if b > s + size // 2]
            fitting = [b for b in fitting if b < min(s + size, end)]
        e = fitting[-1] if fitting else min(s + size, end)
        pieces.append((s, e))
        if e >= end:
            break
        nxt = e
        if overlap > 0:
            back = [b for b in bounds if e - overlap <= b < e and b > s]
            nxt = back[0] if back else (max(e - overlap, s + 1) if not fitting else e)
        while nxt < end and text[nxt] in " \n\u3000\t":
            nxt += 1
        s = nxt
    return [(a, b) for a, b in pieces if text[a:b].strip()]


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def chunk(text: str, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    """Split a document into ordered passages (see the module docstring for the rules)."""
    if size < 20:
        raise ValueError(_("the passage size must be at least 20 characters"))
    if overlap < 0 or overlap >= size:
        raise ValueError(_("the overlap must be between 0 and the passage size"))
    spans: list[tuple[str, int, int]] = []
    pack: list[_Unit] = []

    def flush():
        if not pack:
            return
        spans.append((pack[0].heading, pack[0].start, pack[-1].end))
        pack.clear()

    for unit in _units(text):
        length = unit.end - unit.start
        if unit.kind == "article":
            flush()
            heading = " / ".join(p for p in (unit.heading, unit.label) if p)
            if length <= size:
                spans.append((heading, unit.start, unit.end))
            else:
                spans.extend((heading, a, b) for a, b in _split(text, unit.start, unit.end, size, overlap))
            continue
        if length > size:
            flush()
            spans.extend((unit.heading, a, b) for a, b in _split(text, unit.start, unit.end, size, overlap))
            continue
        if pack and (pack[0].heading != unit.heading or unit.end - pack[0].start > size):
            flush()
        pack.append(unit)
    flush()
    chunks = []
    for heading, a, b in spans:
        a, b = _trim(text, a, b)
        if a < b:
            chunks.append(Chunk(len(chunks), heading, text[a:b], a, b))
    return chunks
