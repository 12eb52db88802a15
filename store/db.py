"""One DuckDB connection per process and database file, a cursor per thread, transactions.

DuckDB lets one process hold a file read-write; a second process cannot open it at all. The app is
that process; the CLI opens the file only when the app does not hold it, and says so otherwise.
"""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import duckdb

from studio.core import settings
from studio.core.errors import DatabaseLocked, InputError

_connections: dict[str, duckdb.DuckDBPyConnection] = {}
_open_lock = threading.RLock()
_local = threading.local()


def db_path(path: str | Path | None = None) -> Path:
    """The database file in use: the argument, else ``STUDIO_DB``."""
    return Path(path) if path else settings.path("db")


def _key(path: str | Path | None) -> str:
    return str(db_path(path).resolve())


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
            except duckdb.Error as err:
                raise InputError(f"cannot open the database: {str(err).splitlines()[0]}", file=key) from None
            from store.migrate import migrate

            migrate(con)
            _connections[key] = con
        return con


def _locked_error(file: Path, err: Exception) -> DatabaseLocked:
    text = str(err)
    pid = re.search(r"PID (\d+)", text)
    holder = f" (PID {pid.group(1)})" if pid else ""
    if "lock" in text.lower():
        return DatabaseLocked(
            f"the database is in use by another process{holder}; stop the studio app "
            f"(or that process) first, or pass another --db", file=str(file))
    return DatabaseLocked(f"cannot open the database: {text.splitlines()[0]}", file=str(file))


def cursor(path: str | Path | None = None) -> duckdb.DuckDBPyConnection:
    """This thread's cursor on the process's connection (sharing one connection across threads raises)."""
    key = _key(path)
    cursors = getattr(_local, "cursors", None)
    if cursors is None:
        cursors = _local.cursors = {}
    cur = cursors.get(key)
    con = connect(path)
    if cur is None or cursors.get(key + "#con") is not con:
        cur = con.cursor()
        cursors[key] = cur
        cursors[key + "#con"] = con
    return cur


@contextmanager
def transaction(path: str | Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor inside one transaction: everything in the block lands whole or not at all."""
    cur = cursor(path)
    cur.execute("BEGIN TRANSACTION")
    try:
        yield cur
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    else:
        cur.execute("COMMIT")


def rows(sql: str, params: list | tuple | dict | None = None, path: str | Path | None = None,
         cur: duckdb.DuckDBPyConnection | None = None) -> list[dict[str, Any]]:
    """Run a query and return plain dict rows."""
    c = cur or cursor(path)
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
    c = cur or cursor(path)
    r = c.execute(sql, params or []).fetchone()
    return r[0] if r else None


def quote_identifier(name: str) -> str:
    """Quote a table or column name for SQL; the only way identifiers enter a statement."""
    return '"' + str(name).replace('"', '""') + '"'


def close(path: str | Path | None = None) -> None:
    """Close the process's connection to one database (tests, and the CLI before it exits)."""
    key = _key(path)
    with _open_lock:
        con = _connections.pop(key, None)
    cursors = getattr(_local, "cursors", {})
    cursors.pop(key, None)
    cursors.pop(key + "#con", None)
    if con is not None:
        con.close()


def close_all() -> None:
    """Close every connection this process holds."""
    with _open_lock:
        keys = list(_connections)
    for key in keys:
        close(key)
