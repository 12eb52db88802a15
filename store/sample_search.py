"""The samples' search index: character bigrams in DuckDB, so a substring search at ten million rows reads
a few posting lists instead of every text, and returns exactly the rows a linear scan returns.

- ``sample_grams`` holds one posting (gram, id) per bigram of a sample's lower-cased instruction, input
  and output, plus each field's last character alone: every character starts a gram, so a one-character
  search is a prefix range. DuckDB's lower() maps each code point to one code point and is idempotent,
  so a row containing the searched value (as ``samples.where`` matches it) holds every gram of it.
- The index only narrows. Candidates always pass the real filter afterwards, so an extra or stale
  posting costs time, never a wrong row. Edits append postings; old ones go at the next build.
- A gram occurring more than ``common`` times (estimated at build time from a sample of at most
  ``SAMPLE_ROWS`` rows) is listed in ``sample_gram_common`` and keeps no postings: it would not narrow.
  Every other gram keeps every posting, so a gram that is neither common nor posted is in no row. A
  search whose grams are all common is left to the scan (see ``plan``).
- Rows written past the index (``updated_at`` after ``synced_at``, or an id above ``id_hi``: review edits,
  exam conversion, generation) join every candidate set until a search or a write here folds them in.
  Whoever changes a text column bumps ``updated_at``; every writer in the studio does.
  A text writer that bypasses ``keep_in_step`` must not run after a ``keep_in_step`` block in the same
  transaction: that block marks the index synced at the transaction's timestamp, which its rows share.
- The studio's own writes index what they change in their own transaction (``keep_in_step``); a write
  that changes no text (status, tags, moves, deletes) leaves the index alone.
- Built by migration m085 for the rows already there (one transaction of set-based SQL, no Python per
  row); built again by a search when most rows changed past it or its appended postings outgrow
  ``TAIL_MAX`` (and its own base).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from store import db

COMMON_MIN = 100_000   # a gram occurring at most this many times keeps its postings ...
COMMON_SHARE = 0.02    # ... or at most this share of the rows' count, whichever is more
SAMPLE_ROWS = 1_000_000  # rows read to tell the common grams (all of them in a smaller table)
FOLD_MAX = 50_000      # rows written past the index that a write here folds in on the way
REBUILD_SHARE = 0.2    # a search folds in up to this share of the rows (at least FOLD_MAX); more: a new build
TAIL_MAX = 2_000_000   # postings appended since the build (at least as many as it wrote) before a new build
INTERSECT_ABOVE = 2_000  # a rarest gram with more postings than this is intersected with the next ones
CANDIDATES_MAX = 300_000  # more candidates than this, or than CANDIDATES_SHARE of the rows (at least
CANDIDATES_SHARE = 0.05   # 1,000): the scan is about as quick
TOP = chr(0x10FFFF)    # c <= gram <= c + TOP: the grams starting with character c


def grams_sql(where: str) -> str:
    """``(id, gram)`` for every character position of the samples matching ``where`` (SQL on samples)."""
    return f"""SELECT id, a || coalesce(b, '') AS gram FROM (
                 SELECT id, unnest(c) AS a, unnest(c[2:]) AS b FROM (
                   SELECT id, string_split(lower(t), '') AS c FROM (
                     SELECT id, unnest([instruction, input, output]) AS t FROM samples WHERE {where})
                   WHERE t <> ''))"""


@dataclass
class State:
    built: bool
    synced_at: Any
    id_hi: int
    common: int
    base: int
    tail: int


def state(cur=None) -> State:
    r = db.one("SELECT built, synced_at, id_hi, common, base, tail FROM sample_search_state WHERE one = 1", cur=cur)
    return State(**r) if r else State(False, None, 0, 0, 0, 0)


def _behind(st: State, cur) -> int:
    """How many rows were written past the index (a row both updated and new counts twice)."""
    return int(db.scalar("SELECT (SELECT count(*) FROM samples WHERE updated_at > ?) "
                         "+ (SELECT count(*) FROM samples WHERE id > ?)", [st.synced_at, st.id_hi], cur=cur))


def _behind_sql(st: State) -> tuple[str, list]:
    return ("SELECT id FROM samples WHERE updated_at > ? UNION ALL SELECT id FROM samples WHERE id > ?",
            [st.synced_at, st.id_hi])


def _mark_synced(cur, added: int = 0, *, new_ids: bool = True) -> None:
    """The index holds every row as of this transaction (rows it wrote carry its timestamp). ``new_ids``
    false: no row was added since the last mark, so ``id_hi`` stands (max(id) costs ~10 ms at 10M rows)."""
    hi = "greatest(id_hi, (SELECT coalesce(max(id), 0) FROM samples))" if new_ids else "id_hi"
    cur.execute(f"UPDATE sample_search_state SET synced_at = current_timestamp, tail = tail + ?, id_hi = {hi} "
                "WHERE one = 1", [int(added)])


def build_sql() -> list[str]:
    """The statements that build the whole index from the samples, set-based and without parameters (the
    migration that created the index runs a frozen copy of them): the common grams from a hashed sample of
    at most ``SAMPLE_ROWS`` rows, then one pass writing the postings of all other grams sorted by gram (a
    lookup reads one row group), then the state. Changing what a posting is needs a migration that builds
    again."""
    share = f"(SELECT least(1.0, {SAMPLE_ROWS}.0 / greatest(count(*), 1)) FROM samples)"
    return [
        f"""CREATE OR REPLACE TABLE sample_gram_common AS
            SELECT gram, CAST(count(*) / {share} AS BIGINT) AS n
            FROM ({grams_sql(f"hash(id) % 1000000 < {share} * 1000000")})
            GROUP BY gram
            HAVING count(*) / {share} > (SELECT greatest({COMMON_MIN}, count(*) * {COMMON_SHARE}) FROM samples)
            ORDER BY gram""",
        f"""CREATE OR REPLACE TABLE sample_grams AS
            SELECT gram, id FROM ({grams_sql('true')}) g
            WHERE gram NOT IN (SELECT gram FROM sample_gram_common) ORDER BY gram, id""",
        f"""UPDATE sample_search_state SET built = true, synced_at = current_timestamp, tail = 0,
                   common = (SELECT CAST(greatest({COMMON_MIN}, count(*) * {COMMON_SHARE}) AS BIGINT) FROM samples),
                   base = (SELECT count(*) FROM sample_grams), built_at = current_timestamp,
                   id_hi = (SELECT coalesce(max(id), 0) FROM samples) WHERE one = 1""",
    ]


def rebuild(cur) -> dict[str, int]:
    """Build the whole index in the caller's transaction (``build_sql``)."""
    for sql in build_sql():
        cur.execute(sql)
    st = state(cur)
    return {"rows": int(db.scalar("SELECT count(*) FROM samples", cur=cur)), "postings": st.base,
            "common": st.common}


def index_rows(cur, where: str, params: list) -> int:
    """Append the postings of the samples matching ``where`` (all but common grams, sorted so that a big
    batch keeps narrow zone maps); returns how many."""
    return int(cur.execute(f"""INSERT INTO sample_grams SELECT gram, id FROM ({grams_sql(where)})
                               WHERE gram NOT IN (SELECT gram FROM sample_gram_common) ORDER BY gram, id""",
                           params).fetchone()[0])


def _catch_up(cur, st: State, limit: int | None = None) -> bool:
    """Fold rows written past the index into it (caller's transaction); False when more than ``limit``
    (default ``FOLD_MAX``)."""
    behind = _behind(st, cur)
    if behind == 0:
        return True
    if behind > (FOLD_MAX if limit is None else limit):
        return False
    sql, params = _behind_sql(st)
    _mark_synced(cur, index_rows(cur, f"id IN ({sql})", params))
    return True


def ensure(cur=None) -> tuple[State | None, int]:
    """The index ready for a search and how many rows were written past it, after building or catching
    up when this thread may write now; None when there is no index to use yet (the search scans). With
    ``cur`` (inside the caller's statements) it only reads: rows written past the index are then checked
    directly."""
    st = state(cur)
    behind = _behind(st, cur) if st.built else 0
    if st.built and (cur is not None or (behind == 0 and st.tail <= max(TAIL_MAX, st.base))):
        return st, behind
    if cur is not None:
        return None, 0
    lock = db.write_lock()
    if not lock.acquire(blocking=False):  # a long write is under way: search without waiting for it
        return (st, behind) if st.built else (None, 0)
    try:
        with db.transaction() as tx:
            st = state(tx)
            limit = max(FOLD_MAX, int(REBUILD_SHARE * db.scalar("SELECT count(*) FROM samples", cur=tx)))
            if not st.built or st.tail > max(TAIL_MAX, st.base) or not _catch_up(tx, st, limit):
                rebuild(tx)
    finally:
        lock.release()
    return state(), 0


@dataclass
class Plan:
    """How a search narrows: ``scan`` (no index helps), or the candidate ids, sorted (none: no row matches)."""

    scan: bool = False
    ids: list[int] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.scan and not self.ids


SCAN = Plan(scan=True)


def plan(value: str, *, cur=None) -> Plan:
    """Candidates for rows whose text contains ``value`` (the value ``samples.where`` matches with). They
    come back as a list: handed to DuckDB as one, the join with samples is planned from its true size."""
    st, behind = ensure(cur)
    if st is None or not value:
        return SCAN
    chars = db.scalar("SELECT string_split(lower(?), '')", [value], cur=cur)
    if len(chars) == 1:
        found = _one_char(chars[0], cur)
    else:
        found = _grams(sorted({a + b for a, b in zip(chars, chars[1:])}), cur)
    if found is SCAN:
        return SCAN
    parts = ([found] if found else []) + ([_behind_sql(st)] if behind else [])
    if not parts:
        return Plan()
    most = min(CANDIDATES_MAX, max(1_000, int(CANDIDATES_SHARE * db.scalar("SELECT count(*) FROM samples",
                                                                           cur=cur))))
    ids = [r[0] for r in (cur or db.cursor()).execute(
        f"SELECT DISTINCT id FROM ({' UNION ALL '.join(p[0] for p in parts)}) ORDER BY id LIMIT ?",
        [v for p in parts for v in p[1]] + [most + 1]).fetchall()]
    return SCAN if len(ids) > most else Plan(ids=ids)


def _one_char(c: str, cur) -> tuple[str, list] | Plan | None:
    """The grams starting with ``c``: SCAN when one of them is common, None when none is posted."""
    if db.scalar("SELECT count(*) FROM sample_gram_common WHERE gram BETWEEN ? AND ?", [c, c + TOP], cur=cur):
        return SCAN
    if not db.scalar("SELECT count(*) FROM sample_grams WHERE gram BETWEEN ? AND ?", [c, c + TOP], cur=cur):
        return None
    return "SELECT id FROM sample_grams WHERE gram BETWEEN ? AND ?", [c, c + TOP]


def _grams(grams: list[str], cur) -> tuple[str, list] | Plan | None:
    """None: a gram that is not common has no posting (no row holds it); SCAN: all are common; else the
    rarest posting lists, intersected."""
    marks = ", ".join("?" for _g in grams)
    common = {r[0] for r in (cur or db.cursor()).execute(
        f"SELECT gram FROM sample_gram_common WHERE gram IN ({marks})", grams).fetchall()}
    rare = [g for g in grams if g not in common]
    if not rare:
        return SCAN
    sizes = sorted(((n, g) for g, n in (cur or db.cursor()).execute(
        f"SELECT gram, count(*) FROM sample_grams WHERE gram IN ({', '.join('?' for _g in rare)}) GROUP BY gram",
        rare).fetchall()))
    if len(sizes) < len(rare):
        return None
    pick = sizes[:1] if sizes[0][0] <= INTERSECT_ABOVE else sizes[:3]
    return (" INTERSECT ".join("SELECT id FROM sample_grams WHERE gram = ?" for _p in pick), [g for _n, g in pick])


@dataclass
class Step:
    """What a write changed, for ``keep_in_step``: rows whose text changed, and whether rows were added."""

    text: list[tuple[str, list]] = field(default_factory=list)
    inserted: bool = False

    def changed(self, where: str, params: list | None = None) -> None:
        self.text.append((where, list(params or [])))


@contextmanager
def keep_in_step(cur) -> Iterator[Step]:
    """Wrap a write to samples inside the caller's transaction (``cur``): rows written past the index
    are folded in first, then what the write reports (``step.changed(...)``, ``step.inserted = True``) is
    indexed in the same transaction; a write that reports nothing (no text changed) only marks the index
    in step, so no later search folds the rows it touched. With no index it does nothing; with
    more than ``FOLD_MAX`` rows to fold it only posts the changed rows (some come back with their old
    timestamps: an undone delete) and leaves the rest to the next search."""
    st = state(cur)
    ready = st.built and _catch_up(cur, st)
    if ready:
        st = state(cur)
    step = Step()
    yield step
    if not st.built:
        return
    added = sum(index_rows(cur, where, params) for where, params in step.text)
    if ready:
        if step.inserted:
            added += index_rows(cur, "id > ?", [st.id_hi])
        _mark_synced(cur, added, new_ids=step.inserted or bool(step.text))  # an undone delete brings back ids
