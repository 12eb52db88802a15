"""Deduplication as pure functions (others may reuse them): exact groups after normalising text, and
near-duplicate groups by MinHash over character n-grams with LSH banding, verified by Jaccard.

Texts are given as ``{id: text}``; groups come back as lists of ids in ascending order, groups ordered by
their first id. Nothing here touches the database.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from studio.core.i18n import _

_DROP = re.compile(r"[\s\W_]+", re.UNICODE)
_PRIME = (1 << 61) - 1
STATUS_RANK = {"accepted": 0, "pending": 1, "draft": 2, "rejected": 3}
THRESHOLD = (0.5, 1.0)  # near-duplicate Jaccard similarity a person may choose (below 0.5 groups unrelated texts)


def normalise(text: str) -> str:
    """NFKC, lower case, whitespace and punctuation removed (full-width ，。 included)."""
    return _DROP.sub("", unicodedata.normalize("NFKC", text or "").lower())


def text_of(row: dict[str, Any]) -> str:
    """The text a sample is compared by: its prompt and its answer."""
    return f"{row.get('instruction') or ''}\n{row.get('input') or ''}\n\x1f{row.get('output') or ''}"


def _groups(pairs: Iterable[tuple[int, int]], ids: Iterable[int]) -> list[list[int]]:
    parent = {i: i for i in ids}

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    out: dict[int, list[int]] = {}
    for i in parent:
        out.setdefault(find(i), []).append(i)
    return sorted((sorted(g) for g in out.values() if len(g) > 1), key=lambda g: g[0])


def exact_groups(texts: dict[int, str]) -> list[list[int]]:
    """Ids whose normalised texts are identical, grouped (groups of one left out)."""
    seen: dict[str, list[int]] = {}
    for i, t in texts.items():
        seen.setdefault(normalise(t), []).append(i)
    return sorted((sorted(g) for g in seen.values() if len(g) > 1), key=lambda g: g[0])


def shingles(text: str, n: int = 3) -> set[str]:
    """Character n-grams of the normalised text (the whole text when shorter than n)."""
    t = normalise(text)
    if len(t) <= n:
        return {t} if t else set()
    return {t[i:i + n] for i in range(len(t) - n + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b| (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _signature(sh: set[str], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if not sh:
        return np.full(len(a), _PRIME, dtype=np.uint64)
    x = np.fromiter((zlib.crc32(s.encode("utf-8")) for s in sh), dtype=np.uint64, count=len(sh))
    return ((np.outer(a, x) + b[:, None]) % _PRIME).min(axis=1)


def near_groups(texts: dict[int, str], *, threshold: float = 0.8, n: int = 3, bands: int = 16,
                rows_per_band: int = 4, seed: int = 0,
                progress: Callable[[int, int, str], None] | None = None) -> list[list[int]]:
    """Ids whose n-gram sets have Jaccard >= threshold, grouped transitively. Candidates come from MinHash
    LSH (bands x rows_per_band permutations); every candidate pair is verified exactly.

    ``progress(done, total, message)`` is told every 500 texts hashed and every 100,000 pairs verified
    (a job's progress; it may raise to stop)."""
    progress = progress or (lambda done, total, message: None)
    rng = np.random.default_rng(seed)
    k = bands * rows_per_band
    a = rng.integers(1, 1 << 31, size=k, dtype=np.uint64)
    b = rng.integers(0, 1 << 31, size=k, dtype=np.uint64)
    sets = {i: shingles(t, n) for i, t in texts.items()}
    buckets: dict[tuple, list[int]] = {}
    for count, (i, sh) in enumerate(sets.items()):
        if count % 500 == 0:
            progress(count, len(sets), _("{done} of {total} samples hashed").format(done=f"{count:,}",
                                                                                    total=f"{len(sets):,}"))
        sig = _signature(sh, a, b)
        for band in range(bands):
            key = (band, sig[band * rows_per_band:(band + 1) * rows_per_band].tobytes())
            buckets.setdefault(key, []).append(i)
    pairs, checked = set(), 0
    for members in buckets.values():
        if len(members) < 2:
            continue
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                checked += 1
                if checked % 100_000 == 0:
                    progress(len(sets), len(sets), _("{n} similar pairs verified").format(n=f"{checked:,}"))
                p = (members[x], members[y])
                if p not in pairs and jaccard(sets[p[0]], sets[p[1]]) >= threshold:
                    pairs.add(p)
    return _groups(pairs, sets)


def choose_keeper(rows: list[dict[str, Any]]) -> int:
    """The row to keep in a group: the best status (accepted first), then the oldest id."""
    return min(rows, key=lambda r: (STATUS_RANK.get(r.get("status"), 9), r["id"]))["id"]
