"""Results of plain reads, kept while the database has not changed.

The studio's process is the only one that can write its DuckDB file (``store/db.py``), and every write in
it goes through ``db.Cursor`` or ``db.transaction``, which call ``changing``: the database's version goes
up when the write ends (committed or not), and the results kept for the old version are dropped. A read
looks its result up under the version it saw before it ran, so a result is never older than the last
write that finished before the read began, and a thread reads its own writes.

Not kept: statements that write, reads whose answer moves without a write (the clock, random numbers,
files, frames registered on a cursor), reads on a cursor the caller passes in, reads made inside a
transaction (they may see rows that are not committed), and results of more than ``MAX_ROWS`` rows. At
most ``MAX_ENTRIES`` results and ``MAX_KEPT_ROWS`` rows are kept per database. Callers get copies: changing
a returned row changes nobody else's.
"""
from __future__ import annotations

import copy
import re
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

MAX_ROWS = 2_000          # a longer result is not kept
MAX_ENTRIES = 512         # results kept per database
MAX_KEPT_ROWS = 20_000    # rows kept per database, all results together (memory stays bounded)

_lock = threading.Lock()
_versions: dict[str, int] = {}
_changed_at: dict[str, float] = {}   # key -> time.monotonic() of the last change
_kept: dict[str, list] = {}   # key -> [version, {(kind, sql, params): result}, rows kept]
_local = threading.local()
_MISSING = object()
_WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|COPY|TRUNCATE|MERGE|UPSERT|CHECKPOINT|"
                     r"WITH\b.*\b(INSERT|UPDATE|DELETE)\b)", re.I | re.S)
# the clock, chance, sequences, files and settings, and names registered on one cursor (``_new_samples``)
_MOVING = re.compile(r"current_|now\s*\(|today\s*\(|localtime|(transaction|statement)_timestamp|random|uuid|"
                     r"nextval|currval|\bread_|\bglob\s*\(|getenv|setting\s*\(|\b_[a-z]|exam_raw_in|"
                     r"^\s*(SET|PRAGMA|CALL|BEGIN|COMMIT|ROLLBACK|ATTACH|DETACH|EXPORT|IMPORT|LOAD|INSTALL|VACUUM)\b",
                     re.I)


def is_write(sql: str) -> bool:
    """Whether a statement changes the database."""
    return bool(_WRITES.match(sql))


def cacheable(sql: str) -> bool:
    """Whether a statement's result may be kept: a read whose answer only a write can change."""
    return not _WRITES.match(sql) and not _MOVING.search(sql) and not getattr(_local, "inside", 0)


def changed(key: str | None) -> None:
    """The database's data changed (or its connection was opened or closed): drop what was kept."""
    if key is None:
        return
    with _lock:
        _versions[key] = _versions.get(key, 0) + 1
        _changed_at[key] = time.monotonic()
        _kept.pop(key, None)


def last_change(key: str) -> float:
    """When (``time.monotonic()``) the database last changed in this process; 0.0 if never."""
    return _changed_at.get(key, 0.0)


def forget() -> None:
    """Drop every kept result (a benchmark that times the queries themselves calls it before each)."""
    with _lock:
        _kept.clear()


@contextmanager
def changing(key: str | None, inside: bool = False) -> Iterator[None]:
    """Around a write (``inside``: a whole transaction, during which this thread's reads are not kept);
    the data counts as changed when it ends, however it ends."""
    if inside:
        _local.inside = getattr(_local, "inside", 0) + 1
    try:
        yield
    finally:
        if inside:
            _local.inside -= 1
        changed(key)


def rows(key: str, sql: str, params: Any, read: Callable[[], list[dict]]) -> list[dict]:
    """``read()``'s rows, kept for the database's current version; the caller gets its own copies."""
    return [_copy_row(r) for r in _through(key, ("rows", sql, params), read, lambda got: len(got) <= MAX_ROWS)]


def value(key: str, sql: str, params: Any, read: Callable[[], Any]) -> Any:
    """``read()``'s single value, kept for the database's current version."""
    got = _through(key, ("value", sql, params), read, lambda _got: True)
    return copy.deepcopy(got) if isinstance(got, (list, dict)) else got


def _through(key: str, what: tuple[str, str, Any], read: Callable[[], Any], keep: Callable[[Any], bool]) -> Any:
    try:
        name = (what[0], what[1], _frozen(what[2]))
        hash(name)
    except TypeError:
        return read()
    with _lock:
        version = _versions.get(key, 0)
        entry = _kept.get(key)
        got = entry[1].get(name, _MISSING) if entry is not None and entry[0] == version else _MISSING
    if got is not _MISSING:
        return got
    got = read()
    size = len(got) if isinstance(got, list) else 1
    if keep(got):
        with _lock:
            if _versions.get(key, 0) == version:  # nothing was written meanwhile
                entry = _kept.get(key)
                if entry is None or entry[0] != version:
                    entry = _kept[key] = [version, {}, 0]
                if len(entry[1]) < MAX_ENTRIES and entry[2] + size <= MAX_KEPT_ROWS:
                    entry[1][name] = got
                    entry[2] += size
    return got


def _frozen(params: Any) -> Any:
    if params is None:
        return ()
    if isinstance(params, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in params.items()))
    if isinstance(params, (list, tuple)):
        return tuple(_frozen(p) for p in params)
    return type(params).__name__, params  # 1, 1.0 and True are equal keys in a dict, not in SQL


def _copy_row(row: dict) -> dict:
    return {k: copy.deepcopy(v) if isinstance(v, (list, dict)) else v for k, v in row.items()}
