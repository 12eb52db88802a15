"""Accounts (see migration m070): the rows behind ``studio.service.accounts``."""
from __future__ import annotations

from typing import Any

from store import db

_PUBLIC = "id, name, role, created_at, last_signin"


def count(*, cur=None) -> int:
    return int(db.scalar("SELECT count(*) FROM users", cur=cur))


def list_all(*, cur=None) -> list[dict[str, Any]]:
    return db.rows(f"SELECT {_PUBLIC} FROM users ORDER BY name", cur=cur)


def get(name: str, *, secrets: bool = False, cur=None) -> dict[str, Any] | None:
    cols = "*" if secrets else _PUBLIC + ", session_version"
    return db.one(f"SELECT {cols} FROM users WHERE name = ?", [name], cur=cur)


def by_token(token_hash: str, *, cur=None) -> dict[str, Any] | None:
    return db.one(f"SELECT {_PUBLIC}, session_version FROM users WHERE token_hash = ?", [token_hash], cur=cur)


def insert(name: str, role: str, password_hash: str | None, *, cur=None) -> None:
    (cur or db.cursor()).execute("INSERT INTO users (name, role, password_hash) VALUES (?, ?, ?)",
                                 [name, role, password_hash])


def update(name: str, *, cur=None, **values: Any) -> None:
    sets, params = db.assignments(values, ("role", "password_hash", "token_hash", "last_signin"))
    (cur or db.cursor()).execute(f"UPDATE users SET {sets} WHERE name = ?", params + [name])


def end_sessions(name: str, *, cur=None) -> None:
    (cur or db.cursor()).execute("UPDATE users SET session_version = session_version + 1 WHERE name = ?", [name])


def delete(name: str, *, cur=None) -> None:
    (cur or db.cursor()).execute("DELETE FROM users WHERE name = ?", [name])


def admins(*, cur=None) -> int:
    return int(db.scalar("SELECT count(*) FROM users WHERE role = 'admin'", cur=cur))


def record_failure(name: str, address: str, *, cur=None) -> None:
    (cur or db.cursor()).execute("INSERT INTO signin_failures (name, address) VALUES (?, ?)", [name, address])


def recent_failures(name: str, address: str, window_s: float, *, cur=None) -> tuple[int, float | None]:
    """Failed sign-ins for this name or from this address in the window, and seconds since the last."""
    row = db.one("SELECT count(*) AS n, "
                 "min(date_diff('millisecond', failed_at, current_timestamp::TIMESTAMP)) / 1000.0 AS since "
                 "FROM signin_failures WHERE (name = ? OR address = ?) "
                 "AND failed_at > current_timestamp::TIMESTAMP - to_seconds(?)", [name, address, float(window_s)],
                 cur=cur)
    return int(row["n"]), (None if row["since"] is None else float(row["since"]))


def clear_failures(name: str, *, cur=None) -> None:
    (cur or db.cursor()).execute("DELETE FROM signin_failures WHERE name = ?", [name])
