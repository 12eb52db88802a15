"""One DuckDB connection per process and database file, a cursor per thread, transactions, one writer.

DuckDB lets one process hold a file read-write; a second process cannot open it at all. The server is
that process; the CLI opens the file only when no server holds it, and otherwise sends its command to
the server.

Inside the process every write goes through one serialised path: a per-database lock is held for a whole
``transaction()`` and for any single writing statement run outside one. Two threads therefore never
write at once, so DuckDB's optimistic concurrency never has to abort one of them ("Conflict on update")
and no update is lost. Reads take no lock. A conflict that still reaches DuckDB (another connection)
comes back as one ``Conflict`` in the user's words.

Because this process is the only one that can write the file, it also knows when the data changes: every
write bumps the database's version, and ``rows`` / ``one`` / ``scalar`` keep the results of plain reads
for the current version (``store/read_cache.py``). Pages rerun the same reads on every click; with many
people on one server those repeats were a third of its time.
"""
from __future__ import annotations

import functools
import json
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import duckdb

from store import read_cache, upkeep
from studio.core import settings
from studio.core.errors import Conflict, DatabaseLocked, InputError
from studio.core.exam_rules import sql_literal
from studio.core.i18n import _

_connections: dict[str, duckdb.DuckDBPyConnection] = {}
_open_lock = threading.RLock()
_write_locks: dict[str, threading.RLock] = {}
_local = threading.local()


def db_path(path: str | Path | None = None) -> Path:
    """The database file in use: the argument, else ``STUDIO_DB``."""
    return Path(path) if path else settings.path("db")


def _key(path: str | Path | None) -> str:
    raw = str(db_path(path))
    return _resolved(raw, "" if os.path.isabs(raw) else os.getcwd())


@functools.lru_cache(maxsize=64)
def _resolved(raw: str, cwd: str) -> str:
    """The absolute, resolved path of a database file (memoised: every query asks, ~8 % of a page's time)."""
    return str(Path(cwd, raw).resolve())


def connect(path: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """The process's connection to the database, opened and migrated on first use."""
    key = _key(path)
    with _open_lock:
        con = _connections.get(key)
        if con is None:
            file = Path(key)
            file.parent.mkdir(parents=True, exist_ok=True)
            try:
                con = duckdb.connect(key)
            except duckdb.IOException as err:
                raise _locked_error(file, err) from None
            except duckdb.Error:
                raise InputError(_("cannot open the database: it is not a DuckDB database of this version, "
                                   "or it is damaged"), file=key) from None
            from store.migrate import migrate

            upkeep.configure(con)
            migrate(con)
            _connections[key] = con
            read_cache.changed(key)
            upkeep.watch(key)
        return con


def open_connection(key: str) -> duckdb.DuckDBPyConnection | None:
    """This process's connection to ``key`` if it is open, else None (never opens one)."""
    return _connections.get(key)


def _locked_error(file: Path, err: Exception) -> DatabaseLocked:
    text = str(err)
    pid = re.search(r"PID (\d+)", text)
    holder = f" (PID {pid.group(1)})" if pid else ""
    if "lock" in text.lower():
        return DatabaseLocked(
            f"the database is in use by another process{holder}; stop the studio app "
            f"(or that process) first, or pass another --db", file=str(file))
    return DatabaseLocked(f"cannot open the database: {text.splitlines()[0]}", file=str(file))


def write_lock(path: str | Path | None = None) -> threading.RLock:
    """The lock every write to this database takes (re-entrant: a transaction may call writing helpers)."""
    key = _key(path)
    with _open_lock:
        return _write_locks.setdefault(key, threading.RLock())


class Cursor:
    """This thread's DuckDB cursor, with writes serialised through the database's write lock; a write to
    the process's database (``key``) marks its data changed for the read cache."""

    def __init__(self, raw: duckdb.DuckDBPyConnection, lock: threading.RLock, key: str | None = None):
        self.raw = raw
        self._lock = lock
        self._key = key

    def execute(self, sql: str, params=None):
        if read_cache.is_write(sql):
            with self._lock, _conflicts(), read_cache.changing(self._key):
                self.raw.execute(sql, params or [])
        else:
            self.raw.execute(sql, params or [])
        return self

    def executemany(self, sql: str, params):
        with self._lock, _conflicts(), read_cache.changing(self._key):
            self.raw.executemany(sql, params)
        return self

    def __getattr__(self, name: str):  # fetchall, description, register, ... straight through
        return getattr(self.raw, name)


@contextmanager
def _conflicts() -> Iterator[None]:
    try:
        yield
    except duckdb.TransactionException as err:
        raise Conflict(_("someone else changed the same rows at the same moment; nothing was saved, "
                         "reload and try again")) from err


def cursor(path: str | Path | None = None) -> Cursor:
    """This thread's cursor on the process's connection (sharing one connection across threads raises)."""
    key = _key(path)
    cursors = getattr(_local, "cursors", None)
    if cursors is None:
        cursors = _local.cursors = {}
    cur = cursors.get(key)
    con = connect(path)
    if cur is None or cursors.get(key + "#con") is not con:
        cur = Cursor(con.cursor(), write_lock(path), key)
        cursors[key] = cur
        cursors[key + "#con"] = con
    return cur


@contextmanager
def transaction(path: str | Path | None = None) -> Iterator[Cursor]:
    """A cursor inside one transaction: everything in the block lands whole or not at all, and no other
    thread of this process writes meanwhile."""
    cur = cursor(path)
    with write_lock(path), _conflicts(), read_cache.changing(_key(path), inside=True):
        cur.raw.execute("BEGIN TRANSACTION")
        try:
            yield cur
        except BaseException:
            cur.raw.execute("ROLLBACK")
            raise
        else:
            cur.raw.execute("COMMIT")


def rows(sql: str, params: list | tuple | dict | None = None, path: str | Path | None = None,
         cur: duckdb.DuckDBPyConnection | None = None) -> list[dict[str, Any]]:
    """Run a query and return plain dict rows (a plain read on this thread's cursor comes from the read
    cache while the data has not changed)."""
    if cur is None and read_cache.cacheable(sql):
        return read_cache.rows(_key(path), sql, params, lambda: _rows(cursor(path), sql, params))
    return _rows(cur or cursor(path), sql, params)


def _rows(c, sql: str, params) -> list[dict[str, Any]]:
    result = c.execute(sql, params or [])
    names = [d[0] for d in result.description]
    return [dict(zip(names, r)) for r in result.fetchall()]


def one(sql: str, params: list | tuple | dict | None = None, path: str | Path | None = None,
        cur: duckdb.DuckDBPyConnection | None = None) -> dict[str, Any] | None:
    """The first row of a query as a dict, or None."""
    found = rows(sql, params, path, cur)
    return found[0] if found else None


def scalar(sql: str, params: list | tuple | dict | None = None, path: str | Path | None = None,
           cur: duckdb.DuckDBPyConnection | None = None) -> Any:
    """The first column of the first row, or None."""
    if cur is None and read_cache.cacheable(sql):
        return read_cache.value(_key(path), sql, params, lambda: _scalar(cursor(path), sql, params))
    return _scalar(cur or cursor(path), sql, params)


def _scalar(c, sql: str, params) -> Any:
    r = c.execute(sql, params or []).fetchone()
    return r[0] if r else None


def clock(path: str | Path | None = None, cur: duckdb.DuckDBPyConnection | None = None):
    """The database's clock now, as the naive local timestamps its ``TIMESTAMP`` columns hold (never cached)."""
    return scalar("SELECT current_timestamp::TIMESTAMP", path=path, cur=cur)


def assignments(values: dict[str, Any], allowed: tuple[str, ...], json_columns: tuple[str, ...] = ()
                ) -> tuple[str, list]:
    """``("a" = ?, "b" = ?", params)`` for an UPDATE of a closed list of columns; JSON columns given as
    Python values are dumped. A column outside ``allowed`` is a bug: ValueError."""
    bad = sorted(set(values) - set(allowed))
    if bad:
        raise ValueError(_("not updatable: {columns}").format(columns=", ".join(bad)))
    params = [json.dumps(v, ensure_ascii=False, default=str) if k in json_columns and v is not None
              and not isinstance(v, str) else v for k, v in values.items()]
    return ", ".join(f"{quote_identifier(k)} = ?" for k in values), params


def reserve_ids(sequence: str, n: int, *, cur) -> int:
    """Take ``n`` consecutive values of ``sequence`` (a name from the schema, never user text) and return the
    first, so that a bulk INSERT numbers its rows itself (``first - 1 + row_number()``): a column default of
    ``nextval`` keeps DuckDB's INSERT on one thread, numbering in SQL lets it run on all (at 1M rows an exam
    import's two big INSERTs ran 1.3x and 1.6x faster). Call it inside the caller's transaction: the write
    lock is held, so no other writer takes values of the sequence meanwhile (checked all the same)."""
    if n <= 0:
        return 0
    lo, hi, got = cur.execute(f"SELECT min(v), max(v), count(*) FROM (SELECT nextval({sql_literal(sequence)}) AS v "
                              "FROM range(?))", [int(n)]).fetchone()
    if got != n or hi - lo + 1 != n:
        raise RuntimeError(_("sequence {sequence} gave {got} values from {lo} to {hi}, not {n} consecutive ones").format(
            sequence=sequence, got=got, lo=lo, hi=hi, n=n))
    return int(lo)


def quote_identifier(name: str) -> str:
    """Quote a table or column name for SQL; the only way identifiers enter a statement."""
    return '"' + str(name).replace('"', '""') + '"'


def close(path: str | Path | None = None) -> None:
    """Close the process's connection to one database (tests, and the CLI before it exits)."""
    key = _key(path)
    with write_lock(key), _open_lock:  # a background checkpoint under way finishes first
        con = _connections.pop(key, None)
    cursors = getattr(_local, "cursors", {})
    cursors.pop(key, None)
    cursors.pop(key + "#con", None)
    if con is not None:
        con.close()
    read_cache.changed(key)


def close_all() -> None:
    """Close every connection this process holds."""
    with _open_lock:
        keys = list(_connections)
    for key in keys:
        close(key)
