"""Numbered, append-only migrations (``store/migrations/mNNN_name.py``), applied at start.

Each module holds ``SQL``: statements separated by ``;``. A migration runs in one transaction and is
recorded in ``schema_migrations``; applying them again is a no-op. Never edit a landed migration: add
the next number. Numbers are reserved per area so parallel work does not collide: 001-009 foundation,
010-019 exam banks, 020-029 corpora and generation, 030-039 datasets and snapshots, 040-049 runs,
050-059 comparison.
"""
from __future__ import annotations

import importlib
import pkgutil
import re

import duckdb

import store.migrations as package

_NAME = re.compile(r"^m(\d{3})_\w+$")


def available() -> list[tuple[int, str]]:
    """Every migration module as (version, module name), in order."""
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        m = _NAME.match(info.name)
        if m:
            found.append((int(m.group(1)), info.name))
    return sorted(found)


def applied(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Versions already recorded in the database."""
    return [r[0] for r in con.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()]


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply the migrations this database lacks; return the names applied."""
    con.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,
        applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)""")
    done = set(applied(con))
    names = []
    for version, name in available():
        if version in done:
            continue
        module = importlib.import_module(f"store.migrations.{name}")
        con.execute("BEGIN TRANSACTION")
        try:
            for statement in _statements(module.SQL):
                con.execute(statement)
            con.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
        names.append(name)
    return names


def _statements(sql: str) -> list[str]:
    """Split a migration on ``;`` at line ends, dropping comment-only pieces."""
    out = []
    for piece in sql.split(";\n"):
        code = "\n".join(l for l in piece.splitlines() if not l.strip().startswith("--")).strip()
        if code:
            out.append(code.rstrip(";"))
    return out
