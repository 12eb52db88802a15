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
import zlib

import numpy as np

SUPPORT_MIN = 0.5
NEAR_DUPLICATE = 0.85
MAX_CHARS = 2000
MIN_INSTRUCTION = 4
FLAGS = ("unsupported", "duplicate", "near-duplicate", "too-short", "too-long", "wrong-language")

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


def _key(text: str) -> str:
    return "".join(ch for ch in text.lower() if _is_content(ch))


def duplicate_flags(texts: list[str], threshold: float = NEAR_DUPLICATE) -> list[str | None]:
    """For texts in order: 'duplicate' when an earlier one is the same, 'near-duplicate' when an earlier
    one is similar (3-gram Jaccard >= threshold), else None."""
    out: list[str | None] = [None] * len(texts)
    keys = [_key(t) for t in texts]
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k in first:
            out[i] = "duplicate"
        else:
            first[k] = i
    grams = [{k[j:j + 3] for j in range(max(1, len(k) - 2))} if k else set() for k in keys]
    perms, bands = 32, 8
    rows = perms // bands
    rng = np.random.default_rng(7)
    prime = np.uint64((1 << 61) - 1)
    a = rng.integers(1, 1 << 31, perms, dtype=np.uint64)
    b = rng.integers(0, 1 << 31, perms, dtype=np.uint64)
    buckets: dict[tuple, list[int]] = {}
    for i, g in enumerate(grams):
        if not g or out[i] == "duplicate":
            continue
        x = np.fromiter((zlib.crc32(s.encode()) for s in g), dtype=np.uint64, count=len(g))
        sig = ((np.outer(a, x) + b[:, None]) % prime).min(axis=1)
        seen_similar = False
        for band in range(bands):
            key = (band, *sig[band * rows:(band + 1) * rows].tolist())
            bucket = buckets.setdefault(key, [])
            if not seen_similar:
                for j in bucket:
                    inter = len(g & grams[j])
                    if inter and inter / len(g | grams[j]) >= threshold:
                        seen_similar = True
                        break
            bucket.append(i)
        if seen_similar:
            out[i] = "near-duplicate"
    return out
