"""Samples: paging straight from DuckDB, single-row edits with a row version, bulk actions with undo.

Every filter goes through ``where()``, a pure function returning ``(sql, params)``; user text only ever
reaches SQL as a bound parameter, identifiers only from the fixed lists below.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from store import db
from studio.core.i18n import _

STATUSES = ("draft", "pending", "accepted", "rejected")
EDITABLE = ("instruction", "input", "output", "system", "status", "tags", "origin", "qtype")
TEXT_FIELDS = ("instruction", "input", "output")
# what a page shows; history stays out of the grid (it is a list of turns)
PAGE_COLUMNS = ("id", "version", "status", "instruction", "input", "output", "system", "tags", "origin",
                "qtype", "updated_at")
SORTS = {
    "id": "id",
    "updated": "updated_at",
    "status": "status",
    "origin": "origin",
    "type": "qtype",
    "content length": "length(instruction) + length(input)",
    "summary length": "length(output)",
}
LENGTHS = {"content": "length(instruction) + length(input)", "summary": "length(output)"}
NO_TYPE = "(none)"  # the qtype filter value meaning "no type"


@dataclass(frozen=True)
class SampleFilter:
    """What a page or a bulk action narrows a dataset to."""

    search: str = ""
    status: tuple[str, ...] = ()
    origin: tuple[str, ...] = ()
    qtype: tuple[str, ...] = ()
    tag: str = ""
    min_len: int | None = None
    max_len: int | None = None
    length_of: str = "content"  # content (instruction + input) | summary (output)
    ids: tuple[int, ...] = field(default=())  # an explicit set of rows (dedup, a selection)


def _in(column: str, values: tuple[str, ...], params: list) -> str:
    params.extend(values)
    return f"{column} IN ({', '.join('?' for _v in values)})"


def where(dataset_id: int, f: SampleFilter | None = None) -> tuple[str, list[Any]]:
    """The WHERE clause (without the keyword) and its parameters for a dataset and a filter.

    >>> where(3, SampleFilter(status=("accepted",), search="绝缘"))
    ('dataset_id = ? AND status IN (?) AND (contains(instruction, ?) OR contains(input, ?) OR contains(output, ?))', [3, 'accepted', '绝缘', '绝缘', '绝缘'])
    """
    f = f or SampleFilter()
    parts, params = ["dataset_id = ?"], [dataset_id]
    if f.status:
        parts.append(_in("status", f.status, params))
    if f.origin:
        parts.append(_in("origin", f.origin, params))
    if f.qtype:
        named = tuple(t for t in f.qtype if t != NO_TYPE)
        alts = [_in("qtype", named, params)] if named else []
        if NO_TYPE in f.qtype:
            alts.append("qtype IS NULL")
        parts.append(alts[0] if len(alts) == 1 else "(" + " OR ".join(alts) + ")")
    if f.tag:
        parts.append("list_contains(tags, ?)")
        params.append(f.tag)
    if f.min_len is not None or f.max_len is not None:
        if f.length_of not in LENGTHS:
            raise ValueError(_("length_of must be one of {choices}").format(choices=", ".join(LENGTHS)))
        expr = LENGTHS[f.length_of]
        if f.min_len is not None:
            parts.append(f"{expr} >= ?")
            params.append(int(f.min_len))
        if f.max_len is not None:
            parts.append(f"{expr} <= ?")
            params.append(int(f.max_len))
    if f.search:
        text = f.search
        # contains() is ~10x faster than ILIKE; lower-case both sides only when the text has case
        cased = text.lower() != text.upper()
        col = (lambda c: f"contains(lower({c}), ?)") if cased else (lambda c: f"contains({c}, ?)")
        value = text.lower() if cased else text
        parts.append("(" + " OR ".join(col(c) for c in TEXT_FIELDS) + ")")
        params.extend([value] * len(TEXT_FIELDS))
    if f.ids:
        parts.append(_in("id", tuple(int(i) for i in f.ids), params))
    return " AND ".join(parts), params


def order_by(sort: str = "id", descending: bool = False) -> str:
    """An ORDER BY clause from the fixed sort list (id breaks ties so pages are stable)."""
    if sort not in SORTS:
        raise ValueError(_("Unknown sort {sort}; choose one of {choices}").format(sort=sort, choices=", ".join(SORTS)))
    direction = "DESC" if descending else "ASC"
    tail = "" if sort == "id" else f", id {direction}"
    return f"ORDER BY {SORTS[sort]} {direction}{tail}"


FIRST_WINDOW = 32_768  # ids scanned by the first window of a windowed search
WINDOWED_MAX_OFFSET = 10_000


def page(dataset_id: int, f: SampleFilter | None, *, sort: str = "id", descending: bool = False,
         limit: int = 50, offset: int = 0, cur=None) -> list[dict[str, Any]]:
    """One page of rows.

    A text search in id order scans id windows (32k ids, doubling) until the page is full instead of
    the whole dataset: DuckDB's zone maps on ``id`` skip everything outside the window, so the first
    page of a search costs about the same at a million rows as at a thousand.
    """
    sql, params = where(dataset_id, f)
    cols = ", ".join(PAGE_COLUMNS)
    if f is not None and f.search and sort == "id" and offset + limit <= WINDOWED_MAX_OFFSET:
        return _windowed(dataset_id, sql, params, cols, descending, int(limit), int(offset), cur)
    return db.rows(f"SELECT {cols} FROM samples WHERE {sql} {order_by(sort, descending)} LIMIT ? OFFSET ?",
                   params + [int(limit), int(offset)], cur=cur)


def _windowed(dataset_id, sql, params, cols, descending, limit, offset, cur) -> list[dict[str, Any]]:
    bounds = db.one("SELECT min(id) AS lo, max(id) AS hi FROM samples WHERE dataset_id = ?", [dataset_id], cur=cur)
    if bounds is None or bounds["lo"] is None:
        return []
    lo, hi = int(bounds["lo"]), int(bounds["hi"])
    need, found, width = offset + limit, [], FIRST_WINDOW
    start = hi + 1 if descending else lo
    while len(found) < need and (start > lo if descending else start <= hi):
        a, b = (max(lo, start - width), start) if descending else (start, start + width)
        found += db.rows(f"SELECT {cols} FROM samples WHERE {sql} AND id >= ? AND id < ? "
                         f"ORDER BY id {'DESC' if descending else 'ASC'} LIMIT ?",
                         params + [a, b, need - len(found)], cur=cur)
        start, width = (a if descending else b), width * 2
    return found[offset:offset + limit]


def count(dataset_id: int, f: SampleFilter | None = None, *, extra: tuple[str, list] | None = None,
          cur=None) -> int:
    """How many rows match (``extra``: one more condition and its parameters)."""
    sql, params = where(dataset_id, f)
    if extra:
        sql += f" AND ({extra[0]})"
        params = params + list(extra[1])
    return int(db.scalar(f"SELECT count(*) FROM samples WHERE {sql}", params, cur=cur))


def get(sample_id: int, *, cur=None) -> dict[str, Any] | None:
    """One sample, every column (history as JSON text)."""
    return db.one("SELECT * EXCLUDE (history), CAST(history AS VARCHAR) AS history FROM samples WHERE id = ?",
                  [int(sample_id)], cur=cur)


def update(sample_id: int, version: int, changes: dict[str, Any], *, cur=None) -> dict[str, Any] | None:
    """Apply changes if the row still has ``version``; return the new row, or None when it moved on."""
    bad = set(changes) - set(EDITABLE)
    if bad:
        raise ValueError(_("Not editable: {fields}").format(fields=", ".join(sorted(bad))))
    sets = ", ".join(f"{db.quote_identifier(k)} = ?" for k in changes)
    params = list(changes.values()) + [int(sample_id), int(version)]
    return db.one(f"""UPDATE samples SET {sets}, version = version + 1, updated_at = current_timestamp
                      WHERE id = ? AND version = ? RETURNING {', '.join(PAGE_COLUMNS)}""", params, cur=cur)


def insert(dataset_id: int, rows: list[dict[str, Any]], *, import_id: int | None = None, cur) -> int:
    """Insert many samples at once from a DataFrame (never row by row); returns how many."""
    if not rows:
        return 0
    n = len(rows)

    def col(name, default=None):
        return pd.array([r.get(name, default) for r in rows], dtype="object")

    frame = pd.DataFrame({
        "instruction": col("instruction", ""), "input": col("input", ""), "output": col("output", ""),
        "system": col("system"),
        "history": pd.array([json.dumps(r["history"], ensure_ascii=False) if r.get("history") else None
                             for r in rows], dtype="object"),
        "status": col("status", "draft"),
        "tags": pd.array([json.dumps(list(r.get("tags") or []), ensure_ascii=False) for r in rows], dtype="object"),
        "origin": col("origin", "imported"), "qtype": col("qtype"),
        "source_file": col("source_file"),
        "source_row": pd.array([r.get("source_row") for r in rows], dtype="Int64"),
        "tools": col("tools"),
        "roles": pd.array([json.dumps(list(r["roles"])) if r.get("roles") else None for r in rows], dtype="object"),
    })
    cur.register("_new_samples", frame)
    try:
        cur.execute("""INSERT INTO samples (dataset_id, import_id, instruction, input, output, system, history,
                                            status, tags, origin, qtype, source_file, source_row, tools, roles)
                       SELECT ?, ?, coalesce(instruction, ''), coalesce(input, ''), coalesce(output, ''), system,
                              CAST(history AS JSON), coalesce(status, 'draft'),
                              CAST(CAST(tags AS JSON) AS VARCHAR[]), coalesce(origin, 'imported'), qtype,
                              source_file, source_row, tools, CAST(CAST(roles AS JSON) AS VARCHAR[])
                       FROM _new_samples""", [dataset_id, import_id])
    finally:
        cur.unregister("_new_samples")
    return n


def add_one(dataset_id: int, row: dict[str, Any], *, cur=None) -> dict[str, Any]:
    """Add one sample and return it as a page row."""
    values = {k: row.get(k) for k in EDITABLE if row.get(k) is not None}
    values.setdefault("status", "draft")
    values.setdefault("origin", "manual")
    for k in TEXT_FIELDS:
        values.setdefault(k, "")
    cols = ", ".join(db.quote_identifier(k) for k in values)
    return db.one(f"INSERT INTO samples (dataset_id, {cols}) VALUES (?, {', '.join('?' for _v in values)}) "
                  f"RETURNING {', '.join(PAGE_COLUMNS)}", [dataset_id] + list(values.values()), cur=cur)


def delete(sample_id: int, version: int | None = None, *, cur=None) -> bool:
    """Delete one sample (only at ``version`` when given); True when a row went."""
    if version is None:
        gone = db.rows("DELETE FROM samples WHERE id = ? RETURNING id", [int(sample_id)], cur=cur)
    else:
        gone = db.rows("DELETE FROM samples WHERE id = ? AND version = ? RETURNING id",
                       [int(sample_id), int(version)], cur=cur)
    return bool(gone)


def facets(dataset_id: int, *, cur=None) -> dict[str, dict[str, int]]:
    """Counts by status, origin, type and tag (for filters and charts)."""
    out = {}
    for name, expr in (("status", "status"), ("origin", "origin"), ("qtype", f"coalesce(qtype, '{NO_TYPE}')")):
        out[name] = {r["k"]: r["n"] for r in db.rows(
            f"SELECT {expr} AS k, count(*) AS n FROM samples WHERE dataset_id = ? GROUP BY ALL ORDER BY n DESC, k",
            [dataset_id], cur=cur)}
    out["tag"] = {r["k"]: r["n"] for r in db.rows(
        "SELECT t AS k, count(*) AS n FROM (SELECT unnest(tags) AS t FROM samples WHERE dataset_id = ?) "
        "GROUP BY ALL ORDER BY n DESC, k LIMIT 200", [dataset_id], cur=cur)}
    return out


def length_histogram(dataset_id: int, *, bins: int = 40, cur=None) -> list[dict[str, Any]]:
    """Counts of content and summary lengths (characters) in equal-width bins, computed in SQL."""
    out = []
    for name, expr in LENGTHS.items():
        top = db.scalar(f"SELECT max({expr}) FROM samples WHERE dataset_id = ?", [dataset_id], cur=cur) or 0
        width = max(1, -(-int(top + 1) // bins))
        for r in db.rows(f"""SELECT ({expr}) // ? AS b, count(*) AS n FROM samples WHERE dataset_id = ?
                             GROUP BY ALL ORDER BY b""", [width, dataset_id], cur=cur):
            out.append({"field": name, "start": int(r["b"]) * width, "end": (int(r["b"]) + 1) * width,
                        "n": int(r["n"])})
    return out


def text_sample(dataset_id: int, limit: int, *, cur=None) -> list[dict[str, Any]]:
    """Up to ``limit`` rows spread over the dataset (for token counts)."""
    return db.rows("""SELECT instruction, input, output FROM samples WHERE dataset_id = ?
                      USING SAMPLE reservoir(? ROWS) REPEATABLE (0)""", [dataset_id, int(limit)], cur=cur)


def dedup_rows(dataset_id: int, f: SampleFilter | None = None, *, cur=None) -> list[dict[str, Any]]:
    """id, status and text of every matching row (input to deduplication)."""
    sql, params = where(dataset_id, f)
    return db.rows(f"SELECT id, status, instruction, input, output FROM samples WHERE {sql} ORDER BY id",
                   params, cur=cur)


# ---- bulk actions: one transaction each, the rows they touch kept in a backup table for one-step undo

def _backup_table(action_id: int) -> str:
    return db.quote_identifier(f"_bulk_undo_{int(action_id)}")


def _new_ids_table(action_id: int) -> str:
    return db.quote_identifier(f"_bulk_undo_{int(action_id)}_new")


def last_action(dataset_id: int, *, cur=None) -> dict[str, Any] | None:
    """The latest bulk action of a dataset that can still be undone."""
    return db.one("""SELECT * FROM bulk_actions WHERE dataset_id = ? AND NOT undone AND undo IS NOT NULL
                     ORDER BY id DESC LIMIT 1""", [dataset_id], cur=cur)


def _drop_backups(dataset_id: int, cur) -> None:
    """Undo is one step: earlier backups of this dataset go when a new bulk action lands."""
    for r in db.rows("SELECT id, undo FROM bulk_actions WHERE dataset_id = ? AND undo IS NOT NULL",
                     [dataset_id], cur=cur):
        cur.execute(f"DROP TABLE IF EXISTS {_backup_table(r['id'])}")
        cur.execute(f"DROP TABLE IF EXISTS {_new_ids_table(r['id'])}")
    cur.execute("UPDATE bulk_actions SET undo = NULL WHERE dataset_id = ? AND undo IS NOT NULL", [dataset_id])


def bulk(dataset_id: int, f: SampleFilter | None, action: str, params: dict[str, Any], *, cur) -> dict[str, Any]:
    """Apply a bulk action to the filtered rows inside the caller's transaction; returns
    {"id", "affected"}. Actions: tag, untag, status, delete, copy, move, replace."""
    sql, args = where(dataset_id, f)
    if action == "replace":
        fields = [c for c in params.get("fields") or TEXT_FIELDS if c in TEXT_FIELDS]
        if not fields:
            raise ValueError(_("Find and replace needs at least one of instruction, input, output"))
        sql += " AND (" + " OR ".join(f"contains({c}, ?)" for c in fields) + ")"
        args = args + [params["find"]] * len(fields)
    elif action == "tag":
        sql += " AND NOT list_contains(tags, ?)"
        args = args + [params["tag"]]
    elif action == "untag":
        sql += " AND list_contains(tags, ?)"
        args = args + [params["tag"]]
    elif action == "status":
        sql += " AND status <> ?"
        args = args + [params["status"]]
    action_id = db.scalar("""INSERT INTO bulk_actions (dataset_id, action, params, affected)
                             VALUES (?, ?, ?, 0) RETURNING id""",
                          [dataset_id, action, json.dumps(params, ensure_ascii=False)], cur=cur)
    _drop_backups(dataset_id, cur)
    backup = _backup_table(action_id)
    cur.execute(f"CREATE TABLE {backup} AS SELECT * FROM samples WHERE {sql}", args)
    affected = int(db.scalar(f"SELECT count(*) FROM {backup}", cur=cur))
    touched = f"id IN (SELECT id FROM {backup})"
    bump = "version = version + 1, updated_at = current_timestamp"
    if action == "tag":
        cur.execute(f"UPDATE samples SET tags = list_append(coalesce(tags, []), ?), {bump} WHERE {touched}",
                    [params["tag"]])
    elif action == "untag":
        cur.execute(f"UPDATE samples SET tags = list_filter(tags, lambda t: t <> ?), {bump} WHERE {touched}",
                    [params["tag"]])
    elif action == "status":
        cur.execute(f"UPDATE samples SET status = ?, {bump} WHERE {touched}", [params["status"]])
    elif action == "delete":
        cur.execute(f"DELETE FROM samples WHERE {touched}")
    elif action == "move":
        cur.execute(f"UPDATE samples SET dataset_id = ?, {bump} WHERE {touched}", [int(params["target_id"])])
    elif action == "copy":
        new = _new_ids_table(action_id)
        cur.execute(f"CREATE TABLE {new} AS SELECT nextval('seq_samples') AS new_id, id AS old_id FROM {backup}")
        cur.execute(f"""INSERT INTO samples SELECT b.* REPLACE (n.new_id AS id, ? AS dataset_id, 1 AS version,
                                                     current_timestamp AS created_at, current_timestamp AS updated_at)
                        FROM {backup} b JOIN {new} n ON n.old_id = b.id""", [int(params["target_id"])])
    elif action == "replace":
        sets = ", ".join(f"{c} = replace({c}, ?, ?)" for c in fields)
        cur.execute(f"UPDATE samples SET {sets}, {bump} WHERE {touched}",
                    [v for _f in fields for v in (params["find"], params["replace"])])
    else:
        raise ValueError(_("Unknown bulk action {action}").format(action=action))
    cur.execute("UPDATE bulk_actions SET affected = ?, undo = ? WHERE id = ?",
                [affected, json.dumps({"table": f"_bulk_undo_{action_id}"}), action_id])
    return {"id": action_id, "affected": affected}


def undo(action: dict[str, Any], *, cur) -> dict[str, int]:
    """Reverse a bulk action inside the caller's transaction. Rows edited since the action are left as
    they are and counted as ``skipped`` (an undo never overwrites a later edit)."""
    backup = _backup_table(action["id"])
    kind = action["action"]
    skipped = 0
    if kind == "delete":
        restored = int(db.scalar(f"SELECT count(*) FROM {backup} WHERE id NOT IN (SELECT id FROM samples)", cur=cur))
        cur.execute(f"INSERT INTO samples SELECT * FROM {backup} WHERE id NOT IN (SELECT id FROM samples)")
    elif kind == "copy":
        new = _new_ids_table(action["id"])
        restored = int(db.scalar(f"SELECT count(*) FROM samples WHERE id IN (SELECT new_id FROM {new})", cur=cur))
        cur.execute(f"DELETE FROM samples WHERE id IN (SELECT new_id FROM {new})")
        cur.execute(f"DROP TABLE IF EXISTS {new}")
    else:
        # the action left each row at backup.version + 1; a higher version means someone edited it since
        same = f"id IN (SELECT b.id FROM {backup} b JOIN samples s ON s.id = b.id AND s.version = b.version + 1)"
        total = int(db.scalar(f"SELECT count(*) FROM {backup}", cur=cur))
        restored = int(db.scalar(f"SELECT count(*) FROM samples WHERE {same}", cur=cur))
        skipped = total - restored
        cur.execute(f"""UPDATE samples SET instruction = b.instruction, input = b.input, output = b.output,
                               status = b.status, tags = b.tags, dataset_id = b.dataset_id,
                               version = samples.version + 1, updated_at = current_timestamp
                        FROM {backup} b WHERE samples.id = b.id AND samples.{same}""")
    cur.execute(f"DROP TABLE IF EXISTS {backup}")
    cur.execute("UPDATE bulk_actions SET undone = true, undo = NULL WHERE id = ?", [action["id"]])
    return {"restored": restored, "skipped": skipped}
