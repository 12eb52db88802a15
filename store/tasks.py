"""Shared work (see migration m075): tasks, their items in a stable order, and who holds which item."""
from __future__ import annotations

import json

from store import db

_PROGRESS = """count(a.item_id) AS assigned, count(a.done_at) AS done"""


def insert_task(*, name: str, kind: str, dataset_id: int | None, comparison_id: int | None, filter: dict | None,
                blind: bool, overlap: int, guidelines: str, people: list[str], created_by: str | None, cur) -> int:
    return int(db.scalar(
        "INSERT INTO tasks (name, kind, dataset_id, comparison_id, filter, blind, overlap, guidelines, people, "
        "created_by) VALUES (?, ?, ?, ?, ?::JSON, ?, ?, ?, ?, ?) RETURNING id",
        [name, kind, dataset_id, comparison_id, json.dumps(filter, ensure_ascii=False) if filter else None, blind,
         overlap, guidelines, people, created_by], cur=cur))


def insert_items(task_id: int, items: list[tuple], *, cur) -> None:
    """``items``: (item id, place in the order, prompt id[, generation A, generation B] for an arena task)."""
    if items:
        cur.executemany("INSERT INTO task_items (task_id, item_id, ord, prompt_id, generation_a, generation_b) "
                        "VALUES (?, ?, ?, ?, ?, ?)", [[task_id, *item, None, None][:6] for item in items])


def insert_assignments(task_id: int, pairs: list[tuple[int, str]], *, cur) -> None:
    """``pairs``: (item id, person)."""
    if pairs:
        cur.executemany("INSERT INTO task_assignments (task_id, item_id, person) VALUES (?, ?, ?)",
                        [[task_id, i, p] for i, p in pairs])


def _decoded(row: dict | None) -> dict | None:
    if row and isinstance(row.get("filter"), str):
        row["filter"] = json.loads(row["filter"])
    if row:
        row["people"] = list(row.get("people") or [])
    return row


_TASK = "SELECT t.*, d.name AS dataset FROM tasks t LEFT JOIN datasets d ON d.id = t.dataset_id"


def task(task_id: int, *, cur=None) -> dict | None:
    return _decoded(db.one(f"{_TASK} WHERE t.id = ?", [task_id], cur=cur))


def list_tasks(person: str | None = None, *, cur=None) -> list[dict]:
    """Every task (or those ``person`` holds items of), newest first, with its items, the items every holder
    has done, its assignments and those done."""
    where, params = ("WHERE t.id IN (SELECT task_id FROM task_assignments WHERE person = ?)", [person]) \
        if person is not None else ("", [])
    found = db.rows(f"""
        WITH per_item AS (SELECT task_id, item_id, count(*) AS n, count(done_at) AS done
                          FROM task_assignments GROUP BY ALL),
             per_task AS (SELECT task_id, count(*) AS items, count(*) FILTER (done = n) AS items_done,
                                 sum(n) AS assigned, sum(done) AS done FROM per_item GROUP BY task_id)
        SELECT t.*, d.name AS dataset, coalesce(p.items, 0) AS items, coalesce(p.items_done, 0) AS items_done,
               coalesce(p.assigned, 0)::BIGINT AS assigned, coalesce(p.done, 0)::BIGINT AS done
        FROM tasks t LEFT JOIN datasets d ON d.id = t.dataset_id LEFT JOIN per_task p ON p.task_id = t.id
        {where} ORDER BY t.id DESC""", params, cur=cur)
    return [_decoded(r) for r in found]


def mine(person: str, *, cur=None) -> list[dict]:
    """The tasks ``person`` holds items of, with their own counts (assigned, done), newest first."""
    found = db.rows(f"""
        SELECT t.id, t.name, t.kind, t.guidelines, t.blind, t.overlap, {_PROGRESS}
        FROM tasks t JOIN task_assignments a ON a.task_id = t.id AND a.person = ?
        GROUP BY ALL ORDER BY t.id DESC""", [person], cur=cur)
    return found


def sample_ids(dataset_id: int, *, status: str, qtype: str | None, origin: str | None, cur=None) -> list[int]:
    """The samples a review task takes, by id: a status ('all': any), an optional question type and origin."""
    sql, params = ["dataset_id = ?"], [dataset_id]
    for column, value in (("status", None if status == "all" else status), ("qtype", qtype), ("origin", origin)):
        if value:
            sql.append(f"{db.quote_identifier(column)} = ?")
            params.append(value)
    return [r["id"] for r in db.rows(f"SELECT id FROM samples WHERE {' AND '.join(sql)} ORDER BY id", params,
                                     cur=cur)]


def items_of(task_id: int, person: str | None = None, *, open_only: bool = False, cur=None) -> list[dict]:
    """A task's items in its order; with ``person``, only theirs (``open_only``: not done yet)."""
    if person is None:
        return db.rows("SELECT * FROM task_items WHERE task_id = ? ORDER BY ord, item_id", [task_id], cur=cur)
    done = " AND a.done_at IS NULL" if open_only else ""
    return db.rows(f"""SELECT i.*, a.done_at, a.decision, a.edited, a.score FROM task_items i
                       JOIN task_assignments a ON a.task_id = i.task_id AND a.item_id = i.item_id
                       WHERE i.task_id = ? AND a.person = ?{done} ORDER BY i.ord, i.item_id""",
                   [task_id, person], cur=cur)


def assignment(task_id: int, item_id: int, person: str, *, cur=None) -> dict | None:
    return db.one("""SELECT a.*, i.prompt_id, i.generation_a, i.generation_b
                     FROM task_assignments a JOIN task_items i ON i.task_id = a.task_id AND i.item_id = a.item_id
                     WHERE a.task_id = ? AND a.item_id = ? AND a.person = ?""", [task_id, item_id, person], cur=cur)


def mark_done(task_id: int, item_id: int, person: str, *, decision: str | None = None, edited: bool | None = None,
              score: int | None = None, cur) -> None:
    """Record what ``person`` said on the item; the first time also closes their assignment."""
    cur.execute("UPDATE task_assignments SET done_at = coalesce(done_at, current_timestamp), decision = ?, "
                "edited = ?, score = ? WHERE task_id = ? AND item_id = ? AND person = ?",
                [decision, edited, score, task_id, item_id, person])


def progress(task_id: int, *, cur=None) -> list[dict]:
    """Per person: items assigned and done, by name."""
    return db.rows(f"SELECT a.person, {_PROGRESS} FROM task_assignments a WHERE a.task_id = ? "
                   "GROUP BY a.person ORDER BY a.person", [task_id], cur=cur)


def decisions(task_id: int, *, cur=None) -> list[dict]:
    """Every done assignment: item, person and what they said, in the task's order."""
    return db.rows("""SELECT a.item_id, a.person, a.decision, a.edited, a.score FROM task_assignments a
                      JOIN task_items i ON i.task_id = a.task_id AND i.item_id = a.item_id
                      WHERE a.task_id = ? AND a.done_at IS NOT NULL ORDER BY i.ord, a.person""",
                   [task_id], cur=cur)


def reassign(task_id: int, from_person: str, to_person: str, *, cur) -> tuple[int, int]:
    """Move ``from_person``'s open items to ``to_person``, except items ``to_person`` already holds.

    Returns (moved, kept with ``from_person``)."""
    where = ("task_id = ? AND person = ? AND done_at IS NULL AND item_id {} "
             "(SELECT item_id FROM task_assignments WHERE task_id = ? AND person = ?)")
    params = [task_id, from_person, task_id, to_person]
    kept = int(db.scalar(f"SELECT count(*) FROM task_assignments WHERE {where.format('IN')}", params, cur=cur))
    moved = int(db.scalar(f"SELECT count(*) FROM task_assignments WHERE {where.format('NOT IN')}", params, cur=cur))
    cur.execute(f"UPDATE task_assignments SET person = ?, assigned_at = current_timestamp "
                f"WHERE {where.format('NOT IN')}", [to_person] + params)
    cur.execute("UPDATE tasks SET people = list_append(people, ?) WHERE id = ? "
                "AND NOT list_contains(people, ?)", [to_person, task_id, to_person])
    return moved, kept
