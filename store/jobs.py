"""Jobs: the rows behind ``studio.service.jobs`` (see migration m060)."""
from __future__ import annotations

import json
from typing import Any

from store import db

ACTIVE = ("queued", "running")
FINAL = ("done", "failed", "paused", "cancelled")
UPDATABLE = ("state", "done", "total", "message", "result", "cancel_requested", "attempts", "pid",
             "started_at", "finished_at", "heartbeat", "device")
_COLUMNS = ("id, kind, args, state, done, total, message, result, who, cancel_requested, attempts, pid, "
            "created_at, started_at, finished_at, heartbeat, device, lang")


def _rows(found: list[dict[str, Any]], cur=None) -> list[dict[str, Any]]:
    """Rows with JSON decoded and ``heartbeat_age_s`` (seconds since the heartbeat, by the database's clock,
    read afresh: the rows themselves may come from the read cache)."""
    now = db.clock(cur=cur) if any(r.get("heartbeat") is not None for r in found) else None
    for r in found:
        for k in ("args", "result"):
            if isinstance(r.get(k), str):
                r[k] = json.loads(r[k])
        r["heartbeat_age_s"] = None if r.get("heartbeat") is None else (now - r["heartbeat"]).total_seconds()
    return found


def _row(r: dict[str, Any] | None, cur=None) -> dict[str, Any] | None:
    return None if r is None else _rows([r], cur=cur)[0]


def insert(kind: str, args: dict[str, Any], who: str | None, *, lang: str | None = None, cur=None) -> int:
    return int(db.scalar("INSERT INTO jobs (kind, args, who, lang) VALUES (?, ?, ?, ?) RETURNING id",
                         [kind, json.dumps(args, ensure_ascii=False), who, lang], cur=cur))


def queue(kind: str, args: dict[str, Any], who: str | None, lang: str | None = None) -> tuple[int, bool]:
    """The queued or running job of this kind with exactly these arguments, else a new one: (id, new).
    One transaction under the write lock, so two submitters never queue the same work twice."""
    with db.transaction() as cur:
        same = active_same(kind, args, cur=cur)
        if same is not None:
            return same["id"], False
        return insert(kind, args, who, lang=lang, cur=cur), True


def get(job_id: int, *, cur=None) -> dict[str, Any] | None:
    return _row(db.one(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", [int(job_id)], cur=cur), cur=cur)


def list_jobs(*, states: tuple[str, ...] | None = None, kind: str | None = None, limit: int = 100,
              cur=None) -> list[dict[str, Any]]:
    where, params = [], []
    if states:
        where.append(f"state IN ({', '.join('?' for _ in states)})")
        params += list(states)
    if kind:
        where.append("kind = ?")
        params.append(kind)
    sql = f"SELECT {_COLUMNS} FROM jobs {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC LIMIT ?"
    return _rows(db.rows(sql, params + [int(limit)], cur=cur), cur=cur)


def active_same(kind: str, args: dict[str, Any], *, cur=None) -> dict[str, Any] | None:
    """A queued or running job of this kind with exactly these arguments."""
    found = db.one(f"SELECT {_COLUMNS} FROM jobs WHERE kind = ? AND args = ?::JSON AND state IN ('queued', 'running') "
                   "ORDER BY id LIMIT 1", [kind, json.dumps(args, ensure_ascii=False)], cur=cur)
    return _row(found, cur=cur)


def update(job_id: int, *, cur=None, **values: Any) -> None:
    sets, params = db.assignments(values, UPDATABLE, ("result",))
    (cur or db.cursor()).execute(f"UPDATE jobs SET {sets} WHERE id = ?", params + [int(job_id)])


def claim(job_id: int, pid: int, device: str | None = None) -> bool:
    """Take a queued job for this process (one winner when several try), on ``device`` for model work."""
    with db.transaction() as cur:
        state = db.scalar("SELECT state FROM jobs WHERE id = ?", [int(job_id)], cur=cur)
        if state != "queued":
            return False
        cur.execute("UPDATE jobs SET state = 'running', pid = ?, device = ?, attempts = attempts + 1, "
                    "started_at = coalesce(started_at, current_timestamp), heartbeat = current_timestamp, "
                    "message = NULL WHERE id = ?", [pid, device, int(job_id)])
        return True


def beat(job_id: int, *, done: int | None = None, total: int | None = None, message: str | None = None) -> bool:
    """Record progress and a heartbeat; return whether a cancel was asked for."""
    sets = ["heartbeat = current_timestamp"]
    params: list[Any] = []
    for col, v in (("done", done), ("total", total), ("message", message)):
        if v is not None:
            sets.append(f"{col} = ?")
            params.append(v)
    with db.transaction() as cur:
        cur.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?", params + [int(job_id)])
        return bool(db.scalar("SELECT cancel_requested FROM jobs WHERE id = ?", [int(job_id)], cur=cur))


def devices_in_use(*, cur=None) -> list[str]:
    """The devices running model jobs hold ('cpu', 'cuda:N')."""
    return [r["device"] for r in db.rows("SELECT device FROM jobs WHERE state = 'running' AND device IS NOT NULL",
                                         cur=cur)]


def orphaned(pid: int, *, cur=None) -> list[dict[str, Any]]:
    """Jobs left 'running' by another (dead) server process."""
    return _rows(db.rows(f"SELECT {_COLUMNS} FROM jobs WHERE state = 'running' AND "
                         "(pid IS NULL OR pid <> ?) ORDER BY id", [pid], cur=cur), cur=cur)
