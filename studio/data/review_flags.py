"""Review flags of a sample, and where its answer is supported in its source passage.

Flags (``samples.flags``):

- ``unsupported``: less than half of the answer's characters lie in substrings (2+ characters) of
  the source passage;
- ``duplicate``: an earlier sample of the dataset has the same instruction, input and output once
  whitespace and punctuation are removed; ``near-duplicate``: an earlier sample's character 3-grams
  overlap this one's by ``NEAR_DUPLICATE`` (Jaccard) or more (MinHash LSH finds the candidates);
- ``too-short`` / ``too-long``: instruction under 4 or answer under 1 character(s), or either over
  ``MAX_CHARS``;
- ``wrong-language``: a Chinese passage (or dataset) with an answer that is mostly not Chinese, or the
  other way round.
"""
from __future__ import annotations

import html
import re
import unicodedata

from studio.core.i18n import N_, _
from studio.data import dedup

SUPPORT_MIN = 0.5
NEAR_DUPLICATE = 0.85
MAX_CHARS = 2000
MIN_INSTRUCTION = 4
FLAGS = ("unsupported", "duplicate", "near-duplicate", "too-short", "too-long", "wrong-language")
# the flags as a reviewer reads them (the stored values stay English)
FLAG_LABELS = {"unsupported": N_("not supported by the passage"), "duplicate": N_("duplicate"),
               "near-duplicate": N_("near duplicate"), "too-short": N_("too short"), "too-long": N_("too long"),
               "wrong-language": N_("wrong language")}


def flag_label(flag: str) -> str:
    """A flag in the reader's language (an unknown flag as it is)."""
    return _(FLAG_LABELS[flag]) if flag in FLAG_LABELS else str(flag)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def language(text: str) -> str | None:
    """'zh', 'en' or None (too little text to tell)."""
    cjk = len(_CJK.findall(text or ""))
    latin = len(_LATIN.findall(text or ""))
    if cjk + latin < 4:
        return None
    return "zh" if cjk >= latin / 3 else "en"


def _is_content(ch: str) -> bool:
    return not (ch.isspace() or unicodedata.category(ch).startswith("P") or ch == "_")


def support_spans(answer: str, passage: str, min_len: int = 2) -> list[tuple[int, int]]:
    """Greedy longest substrings of ``answer`` found in ``passage``: (start, end) in the answer."""
    spans, i, n = [], 0, len(answer)
    while i < n:
        length = 0
        while i + length < n and answer[i:i + length + 1] in passage:
            length += 1
        if length >= min_len:
            spans.append((i, i + length))
            i += length
        else:
            i += 1
    return spans


def support(answer: str, passage: str) -> float:
    """The share of the answer's content characters that the passage supports (1.0 when no answer)."""
    content = [i for i, ch in enumerate(answer or "") if _is_content(ch)]
    if not content:
        return 1.0
    covered = set()
    for a, b in support_spans(answer, passage or ""):
        covered.update(range(a, b))
    return sum(1 for i in content if i in covered) / len(content)


def highlight(passage: str, answer: str, min_len: int = 2) -> str:
    """The passage as HTML (escaped) with the answer's supporting substrings in <mark>."""
    marks = [False] * len(passage)
    for a, b in support_spans(answer or "", passage):
        piece = answer[a:b]
        if len(piece.strip()) < min_len:
            continue
        start = passage.find(piece)
        while start >= 0:
            for k in range(start, start + len(piece)):
                marks[k] = True
            start = passage.find(piece, start + 1)
    out, open_ = [], False
    for ch, m in zip(passage, marks):
        if m and not open_:
            out.append("<mark>")
            open_ = True
        elif not m and open_:
            out.append("</mark>")
            open_ = False
        out.append(html.escape(ch))
    if open_:
        out.append("</mark>")
    return "".join(out).replace("\n", "<br>")


def sample_flags(instruction: str, input: str, output: str, passage: str | None,
                 expected_language: str | None = None) -> list[str]:
    """The flags of one sample that need no other sample (support, length, language)."""
    flags = []
    if passage and support(output, passage) < SUPPORT_MIN:
        flags.append("unsupported")
    if len((instruction or "").strip()) < MIN_INSTRUCTION or not (output or "").strip():
        flags.append("too-short")
    if len(instruction or "") + len(input or "") > MAX_CHARS or len(output or "") > MAX_CHARS:
        flags.append("too-long")
    want = language(passage) if passage else expected_language
    got = language(output) or language(instruction)
    if want and got and want != got:
        flags.append("wrong-language")
    return flags


def duplicate_flags(texts: list[str], threshold: float = NEAR_DUPLICATE) -> list[str | None]:
    """For texts in order: 'duplicate' when an earlier one is the same once normalised, 'near-duplicate'
    when it falls in a near-duplicate group (3-gram Jaccard >= threshold) with an earlier one, else None.
    The grouping is ``studio.dedup``'s, the same the Datasets page deduplicates by."""
    out: list[str | None] = [None] * len(texts)
    by_index = dict(enumerate(texts))
    for group in dedup.exact_groups(by_index):
        for i in group[1:]:
            out[i] = "duplicate"
    for group in dedup.near_groups(by_index, threshold=threshold):
        for i in group[1:]:
            out[i] = out[i] or "near-duplicate"
    return out
