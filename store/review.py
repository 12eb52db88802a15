"""Review: the queue of samples, decisions with the reviewer, positions, bulk actions, statistics."""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from store import db
from studio.core.errors import Conflict, InputError
from studio.core.i18n import _

STATUSES = ("pending", "accepted", "rejected", "draft", "all")


def queue_filter(dataset_id: int, *, status: str = "pending", flag: str | None = None,
                 template: str | None = None, origin: str | None = None, search: str = "") -> tuple[str, list]:
    """The WHERE clause (on ``samples s``) and its parameters for a queue filter.

    ``flag``: a flag name, ``"none"`` (no flag) or ``"any"`` (at least one).
    """
    if status not in STATUSES:
        raise InputError(_("unknown status {status}; choose one of {choices}").format(
            status=repr(status), choices=", ".join(STATUSES)))
    sql, params = ["s.dataset_id = ?"], [dataset_id]
    if status != "all":
        sql.append("s.status = ?")
        params.append(status)
    if flag == "none":
        sql.append("len(coalesce(s.flags, [])) = 0")
    elif flag == "any":
        sql.append("len(coalesce(s.flags, [])) > 0")
    elif flag:
        sql.append("list_contains(s.flags, ?)")
        params.append(flag)
    if template:
        sql.append("s.template = ?")
        params.append(template)
    if origin:
        sql.append("s.origin = ?")
        params.append(origin)
    if search:
        sql.append("(contains(lower(s.instruction), lower(?)) OR contains(lower(s.output), lower(?)) "
                   "OR contains(lower(s.input), lower(?)))")
        params += [search] * 3
    return " AND ".join(sql), params


def count(where: str, params: list, *, cur=None) -> int:
    return int(db.scalar(f"SELECT count(*) FROM samples s WHERE {where}", params, cur=cur))


def neighbour(where: str, params: list, sample_id: int | None, direction: str, *, cur=None) -> int | None:
    """The id after / before ``sample_id`` in the filtered queue ('next', 'prev', 'first', 'at')."""
    if direction == "first" or sample_id is None:
        return db.scalar(f"SELECT min(s.id) FROM samples s WHERE {where}", params, cur=cur)
    if direction == "at":  # this one if it is still in the queue, else the next one, else the last one
        found = db.scalar(f"SELECT min(s.id) FROM samples s WHERE {where} AND s.id >= ?", params + [sample_id],
                          cur=cur)
        return found if found is not None else db.scalar(f"SELECT max(s.id) FROM samples s WHERE {where}",
                                                         params, cur=cur)
    if direction == "next":
        return db.scalar(f"SELECT min(s.id) FROM samples s WHERE {where} AND s.id > ?", params + [sample_id], cur=cur)
    return db.scalar(f"SELECT max(s.id) FROM samples s WHERE {where} AND s.id < ?", params + [sample_id], cur=cur)


def rank(where: str, params: list, sample_id: int, *, cur=None) -> int:
    """1-based position of ``sample_id`` in the filtered queue."""
    return int(db.scalar(f"SELECT count(*) FROM samples s WHERE {where} AND s.id <= ?", params + [sample_id],
                         cur=cur))


def page(where: str, params: list, *, limit: int = 200, cur=None) -> list[dict]:
    return db.rows(f"SELECT s.id, s.instruction, s.output, s.status, s.flags, s.template, s.origin "
                   f"FROM samples s WHERE {where} ORDER BY s.id LIMIT ?", params + [limit], cur=cur)


def sample(sample_id: int, *, cur=None) -> dict | None:
    """A sample with its passage (text, heading, document) and the model that wrote it."""
    return db.one("""
        SELECT s.*, p.text AS passage_text, p.heading AS passage_heading, d.title AS document_title,
               r.model AS model
        FROM samples s LEFT JOIN passages p ON p.id = s.passage_id
        LEFT JOIN documents d ON d.id = p.document_id LEFT JOIN llm_requests r ON r.id = s.request_id
        WHERE s.id = ?""", [sample_id], cur=cur)


ACTIONS = {"accept": "accepted", "edit-accept": "accepted", "reject": "rejected", "reset": "pending"}


def decide(sample_id: int, version: int, action: str, reviewer: str, *, reason: str | None = None,
           edits: dict | None = None, cur) -> int:
    """Record one decision on the version the reviewer saw; return the new version (Conflict if stale)."""
    if action not in ACTIONS:
        raise InputError(_("unknown review action {action}").format(action=repr(action)))
    sets = ["status = ?", "reviewer = ?", "review_reason = ?", "reviewed_at = current_timestamp",
            "version = version + 1", "updated_at = current_timestamp"]
    params: list[Any] = [ACTIONS[action], reviewer, reason]
    for field in ("instruction", "input", "output"):
        if edits and field in edits:
            sets.append(f"{field} = ?")
            params.append(edits[field])
    if edits:
        sets.append("tags = list_distinct(list_append(coalesce(tags, []), 'edited'))")
    new = db.scalar(f"UPDATE samples SET {', '.join(sets)} WHERE id = ? AND version = ? RETURNING version",
                    params + [sample_id, version], cur=cur)
    if new is None:
        if db.scalar("SELECT count(*) FROM samples WHERE id = ?", [sample_id], cur=cur):
            raise Conflict(_("this sample was changed in another tab or by another reviewer; it has been reloaded"))
        raise InputError(_("no sample {id}").format(id=sample_id))
    db.scalar("INSERT INTO review_decisions (sample_id, dataset_id, reviewer, action, reason) "
              "SELECT id, dataset_id, ?, ?, ? FROM samples WHERE id = ? RETURNING id",
              [reviewer, action, reason, sample_id], cur=cur)
    return int(new)


def bulk(dataset_id: int, where: str, params: list, action: str, reviewer: str, reason: str | None, *, cur) -> int:
    """Apply a decision to every sample of the filter; one undo record in bulk_actions. Returns how many."""
    if action not in ("accept", "reject", "reset"):
        raise InputError(_("bulk action must be accept, reject or reset, not {action}").format(action=repr(action)))
    prior = db.rows(f"SELECT s.id, s.status FROM samples s WHERE {where}", params, cur=cur)
    if not prior:
        return 0
    # the decisions first: once the statuses change, a status filter no longer selects these rows
    cur.execute(f"INSERT INTO review_decisions (sample_id, dataset_id, reviewer, action, reason, bulk) "
                f"SELECT s.id, ?, ?, ?, ?, true FROM samples s WHERE {where}",
                [dataset_id, reviewer, action, reason] + params)
    cur.execute(f"UPDATE samples SET status = ?, reviewer = ?, review_reason = ?, reviewed_at = current_timestamp, "
                f"version = version + 1, updated_at = current_timestamp "
                f"WHERE id IN (SELECT s.id FROM samples s WHERE {where})", [ACTIONS[action], reviewer, reason] + params)
    undo = {"ids_status": [[r["id"], r["status"]] for r in prior]}
    db.scalar("INSERT INTO bulk_actions (dataset_id, action, params, affected, undo) VALUES (?, ?, ?, ?, ?) "
              "RETURNING id", [dataset_id, f"review-{action}", json.dumps({"reviewer": reviewer, "reason": reason},
                                                                           ensure_ascii=False),
                               len(prior), json.dumps(undo)], cur=cur)
    return len(prior)


def position(dataset_id: int, reviewer: str, *, cur=None) -> int | None:
    return db.scalar("SELECT sample_id FROM review_positions WHERE dataset_id = ? AND reviewer = ?",
                     [dataset_id, reviewer], cur=cur)


def set_position(dataset_id: int, reviewer: str, sample_id: int | None, *, cur=None) -> None:
    db.scalar("INSERT INTO review_positions (dataset_id, reviewer, sample_id) VALUES (?, ?, ?) "
              "ON CONFLICT (dataset_id, reviewer) DO UPDATE SET sample_id = excluded.sample_id, "
              "updated_at = now() RETURNING sample_id", [dataset_id, reviewer, sample_id], cur=cur)


def samples_for_flags(dataset_id: int, *, cur=None) -> list[dict]:
    return db.rows("SELECT s.id, s.instruction, s.input, s.output, s.flags, p.text AS passage_text "
                   "FROM samples s LEFT JOIN passages p ON p.id = s.passage_id WHERE s.dataset_id = ? ORDER BY s.id",
                   [dataset_id], cur=cur)


def write_flags(changed: dict[int, list[str]], *, cur) -> None:
    if not changed:
        return
    frame = pd.DataFrame({"id": list(changed), "flags": [list(v) for v in changed.values()]})
    cur.register("_flag_frame", frame)
    try:
        cur.execute("UPDATE samples SET flags = f.flags::VARCHAR[] FROM _flag_frame f WHERE samples.id = f.id")
    finally:
        cur.unregister("_flag_frame")


# -- statistics -------------------------------------------------------------------------------------
_DIMENSIONS = {
    "template": "coalesce(s.template, '(none)')",
    "model": "coalesce(r.model, CASE WHEN s.origin = 'cloze' THEN 'offline cloze' ELSE '(none)' END)",
    "origin": "s.origin",
}


def acceptance(dataset_id: int | None, by: str, *, cur=None) -> list[dict]:
    """Decided samples and acceptance rate grouped by template, model, origin or flag."""
    where = "s.status IN ('accepted', 'rejected')" + (" AND s.dataset_id = ?" if dataset_id else "")
    params = [dataset_id] if dataset_id else []
    if by == "flag":
        return db.rows(f"""
            SELECT f AS "group", count(*) AS decided, count(*) FILTER (status = 'accepted') AS accepted,
                   count(*) FILTER (status = 'accepted') / count(*) AS rate
            FROM (SELECT s.status, unnest(CASE WHEN len(coalesce(s.flags, [])) = 0 THEN ['(no flag)']
                                               ELSE s.flags END) AS f FROM samples s WHERE {where})
            GROUP BY f ORDER BY decided DESC""", params, cur=cur)
    if by not in _DIMENSIONS:
        raise InputError(_("cannot group by {by}").format(by=repr(by)))
    return db.rows(f"""
        SELECT {_DIMENSIONS[by]} AS "group", count(*) AS decided,
               count(*) FILTER (s.status = 'accepted') AS accepted,
               count(*) FILTER (s.status = 'accepted') / count(*) AS rate
        FROM samples s LEFT JOIN llm_requests r ON r.id = s.request_id WHERE {where}
        GROUP BY ALL ORDER BY decided DESC""", params, cur=cur)


def throughput(dataset_id: int | None, *, cur=None) -> list[dict]:
    """Decisions per reviewer per hour."""
    where = "WHERE dataset_id = ?" if dataset_id else ""
    return db.rows(f"""SELECT reviewer, date_trunc('hour', created_at) AS hour, count(*) AS decisions,
                              count(*) FILTER (action IN ('accept', 'edit-accept')) AS accepted
                       FROM review_decisions {where} GROUP BY ALL ORDER BY hour, reviewer""",
                   [dataset_id] if dataset_id else [], cur=cur)


def status_counts(dataset_id: int, *, cur=None) -> dict[str, int]:
    return {r["status"]: r["n"] for r in db.rows(
        "SELECT status, count(*) AS n FROM samples WHERE dataset_id = ? GROUP BY status", [dataset_id], cur=cur)}


def templates_in(dataset_id: int, *, cur=None) -> list[str]:
    return [r["template"] for r in db.rows("SELECT DISTINCT template FROM samples WHERE dataset_id = ? "
                                           "AND template IS NOT NULL ORDER BY 1", [dataset_id], cur=cur)]
