"""Samples: paging straight from DuckDB, single-row edits with a row version, bulk actions with undo.

Every filter goes through ``where()`` (``store.sample_filter``). A text search is first narrowed by the
n-gram index (``store.sample_search``) and then filtered by ``where()`` itself, so the rows are those of
a linear scan; every write here keeps the index in step in the same transaction.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import pandas as pd

from store import db, sample_search
from store.sample_filter import (  # noqa: F401
    ACTIONS,
    EDITABLE,
    LENGTHS,
    NO_TYPE,
    PAGE_COLUMNS,
    SORTS,
    STATUSES,
    TEXT_FIELDS,
    SampleFilter,
    condition,
    order_by,
    replace_fields,
    search_value,
    where,
)
from studio.core.i18n import _


def narrowed(dataset_id: int, f: SampleFilter | None, *, cur=None) -> tuple[str, list[Any]]:
    """``where()`` plus, for a text search, the candidates of the n-gram index (``id IN (...)``, or
    ``false`` when no row can match): the same rows, without reading every text."""
    sql, params = where(dataset_id, f)
    plan = _plan(f, cur)
    if plan is None or plan.scan:
        return sql, params
    if plan.empty:
        return sql + " AND false", params
    return f"{sql} AND id IN (SELECT unnest(?::BIGINT[]))", params + [plan.ids]


def _plan(f: SampleFilter | None, cur) -> sample_search.Plan | None:
    return sample_search.plan(search_value(f.search), cur=cur) if f is not None and f.search else None


FIRST_WINDOW = 32_768  # ids scanned by the first window of a windowed search
WINDOWED_MAX_OFFSET = 10_000
FIRST_CANDIDATES = 128  # candidate ids checked by the first step of an indexed search page (doubling)


def page(dataset_id: int, f: SampleFilter | None, *, sort: str = "id", descending: bool = False,
         limit: int = 50, offset: int = 0, cur=None) -> list[dict[str, Any]]:
    """One page of rows.

    A text search in id order walks the index's candidate ids in order (128, doubling) and checks each
    batch through the primary key, until the page is full. When every gram of the text is common (the
    index keeps no list for it) it scans id windows (32k ids, doubling) instead: DuckDB's zone maps on
    ``id`` skip everything outside the window, and common text fills a page in the first windows.
    """
    sql, params = where(dataset_id, f)
    cols = ", ".join(PAGE_COLUMNS)
    plan = _plan(f, cur)
    limit, offset = int(limit), int(offset)
    if plan is not None and plan.empty:
        return []
    if plan is not None and sort == "id" and offset + limit <= WINDOWED_MAX_OFFSET:
        if plan.scan:
            return _windowed(dataset_id, sql, params, cols, descending, limit, offset, cur)
        return _candidates(plan, sql, params, cols, descending, limit, offset, cur)
    if plan is not None and not plan.scan:
        sql, params = f"{sql} AND id IN (SELECT unnest(?::BIGINT[]))", params + [plan.ids]
    return db.rows(f"SELECT {cols} FROM samples WHERE {sql} {order_by(sort, descending)} LIMIT ? OFFSET ?",
                   params + [limit, offset], cur=cur)


def _candidates(plan, sql, params, cols, descending, limit, offset, cur) -> list[dict[str, Any]]:
    """A page in id order from the index's candidates, checked a batch at a time by primary key."""
    ids = plan.ids[::-1] if descending else plan.ids
    need, found, start, size = offset + limit, [], 0, FIRST_CANDIDATES
    while len(found) < need and start < len(ids):
        found += db.rows(f"SELECT {cols} FROM samples WHERE {sql} AND id IN (SELECT unnest(?::BIGINT[])) "
                         f"ORDER BY id {'DESC' if descending else 'ASC'} LIMIT ?",
                         params + [ids[start:start + size], need - len(found)], cur=cur)
        start, size = start + size, size * 2
    return found[offset:offset + limit]


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
    sql, params = narrowed(dataset_id, f, cur=cur)
    if extra:
        sql += f" AND ({extra[0]})"
        params = params + list(extra[1])
    return int(db.scalar(f"SELECT count(*) FROM samples WHERE {sql}", params, cur=cur))


def get(sample_id: int, *, cur=None) -> dict[str, Any] | None:
    """One sample, every column (history as JSON text)."""
    return db.one("SELECT * EXCLUDE (history), CAST(history AS VARCHAR) AS history FROM samples WHERE id = ?",
                  [int(sample_id)], cur=cur)


@contextmanager
def writing(cur=None) -> Iterator[db.Cursor]:
    """The caller's cursor (inside its transaction), or a transaction of our own."""
    if cur is not None:
        yield cur
    else:
        with db.transaction() as tx:
            yield tx


def update(sample_id: int, version: int, changes: dict[str, Any], *, cur=None) -> dict[str, Any] | None:
    """Apply changes if the row still has ``version``; return the new row, or None when it moved on.
    A text change reaches the search index in the same transaction."""
    bad = set(changes) - set(EDITABLE)
    if bad:
        raise ValueError(_("Not editable: {fields}").format(fields=", ".join(sorted(bad))))
    sets = ", ".join(f"{db.quote_identifier(k)} = ?" for k in changes)
    params = list(changes.values()) + [int(sample_id), int(version)]
    with writing(cur) as c, sample_search.keep_in_step(c) as step:
        row = db.one(f"""UPDATE samples SET {sets}, version = version + 1, updated_at = current_timestamp
                         WHERE id = ? AND version = ? RETURNING {', '.join(PAGE_COLUMNS)}""", params, cur=c)
        if row is not None and set(changes) & set(TEXT_FIELDS):
            step.changed("id = ?", [int(sample_id)])
    return row


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
        with sample_search.keep_in_step(cur) as step:
            step.inserted = True
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
    with writing(cur) as c, sample_search.keep_in_step(c) as step:
        step.inserted = True
        return db.one(f"INSERT INTO samples (dataset_id, {cols}) VALUES (?, {', '.join('?' for _v in values)}) "
                      f"RETURNING {', '.join(PAGE_COLUMNS)}", [dataset_id] + list(values.values()), cur=c)


def delete(sample_id: int, version: int | None = None, *, cur=None) -> bool:
    """Delete one sample (only at ``version`` when given); True when a row went."""
    if version is None:
        gone = db.rows("DELETE FROM samples WHERE id = ? RETURNING id", [int(sample_id)], cur=cur)
    else:
        gone = db.rows("DELETE FROM samples WHERE id = ? AND version = ? RETURNING id",
                       [int(sample_id), int(version)], cur=cur)
    return bool(gone)


def change_mark(*, cur=None) -> tuple:
    """A mark that moves whenever a sample is added, removed or changed (every writer bumps ``updated_at``):
    how many rows, the highest id, the latest edit. Cheap at any size (DuckDB keeps these per row group)."""
    r = db.one("SELECT count(*) AS n, max(id) AS hi, max(updated_at) AS at FROM samples", cur=cur)
    return (r["n"], r["hi"], r["at"])


def facets(dataset_id: int, *, cur=None) -> dict[str, dict[str, int]]:
    """Counts by status, origin, type and tag (for filters and charts); the first three in one pass."""
    got = db.rows("""SELECT grouping(status) = 0 AS by_status, grouping(origin) = 0 AS by_origin, status, origin,
                            qtype, count(*) AS n
                     FROM (SELECT status, origin, coalesce(qtype, ?) AS qtype FROM samples WHERE dataset_id = ?)
                     GROUP BY GROUPING SETS ((status), (origin), (qtype))""", [NO_TYPE, dataset_id], cur=cur)
    out = {}
    for name in ("status", "origin", "qtype"):
        pick = [(r[name], r["n"]) for r in got
                if (r["by_status"], r["by_origin"]) == (name == "status", name == "origin")]
        out[name] = dict(sorted(pick, key=lambda kn: (-kn[1], str(kn[0]))))
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
    sql, params = narrowed(dataset_id, f, cur=cur)
    return db.rows(f"SELECT id, status, instruction, input, output FROM samples WHERE {sql} ORDER BY id",
                   params, cur=cur)


# ---- bulk actions: one transaction each, the rows selected once into a backup table (what the action
# changes, whole rows for delete and copy) for a one-step undo; the search index kept in step

# what a backup keeps and an undo puts back, per action (delete and copy keep whole rows)
KEEPS = {"tag": ("tags",), "untag": ("tags",), "status": ("status",), "move": ("dataset_id",),
         "replace": TEXT_FIELDS}
BUMP = "version = version + 1, updated_at = current_timestamp"


def _backup_table(action_id: int) -> str:
    return db.quote_identifier(f"_bulk_undo_{int(action_id)}")


def _new_ids_table(action_id: int) -> str:
    return db.quote_identifier(f"_bulk_undo_{int(action_id)}_new")


def last_action(dataset_id: int, *, cur=None) -> dict[str, Any] | None:
    """The latest bulk action of a dataset that can still be undone (review decisions keep their own)."""
    return db.one(f"""SELECT * FROM bulk_actions WHERE dataset_id = ? AND NOT undone AND undo IS NOT NULL
                      AND action IN ({', '.join('?' for _a in ACTIONS)}) ORDER BY id DESC LIMIT 1""",
                  [dataset_id, *ACTIONS], cur=cur)


def _drop_backups(dataset_id: int, cur) -> None:
    """Undo is one step: earlier backups of this dataset go when a new bulk action lands."""
    marks = ", ".join("?" for _a in ACTIONS)
    for r in db.rows(f"SELECT id FROM bulk_actions WHERE dataset_id = ? AND undo IS NOT NULL AND action IN ({marks})",
                     [dataset_id, *ACTIONS], cur=cur):
        cur.execute(f"DROP TABLE IF EXISTS {_backup_table(r['id'])}")
        cur.execute(f"DROP TABLE IF EXISTS {_new_ids_table(r['id'])}")
    cur.execute(f"UPDATE bulk_actions SET undo = NULL WHERE dataset_id = ? AND undo IS NOT NULL AND action IN ({marks})",
                [dataset_id, *ACTIONS])


def bulk(dataset_id: int, f, action: str, params: dict[str, Any], *, cur,
         check: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Apply a bulk action to the filtered rows inside the caller's transaction; returns {"id", "affected"}.
    ``check(affected)`` runs once the rows are chosen and before anything changes (it may raise)."""
    if action not in ACTIONS:
        raise ValueError(_("Unknown bulk action {action}").format(action=action))
    sql, args = narrowed(dataset_id, f, cur=cur)
    extra = condition(action, params)
    if extra:
        sql, args = f"{sql} AND ({extra[0]})", args + extra[1]
    action_id = db.scalar("""INSERT INTO bulk_actions (dataset_id, action, params, affected)
                             VALUES (?, ?, ?, 0) RETURNING id""",
                          [dataset_id, action, json.dumps(params, ensure_ascii=False)], cur=cur)
    _drop_backups(dataset_id, cur)
    backup = _backup_table(action_id)
    cols = "*" if action not in KEEPS else ", ".join(("id", "version", *KEEPS[action]))
    cur.execute(f"CREATE TABLE {backup} AS SELECT {cols} FROM samples WHERE {sql}", args)
    affected = int(db.scalar(f"SELECT count(*) FROM {backup}", cur=cur))
    if check is not None:
        check(affected)
    with sample_search.keep_in_step(cur) as step:  # a change of no text posts nothing, only marks the rows in step
        _apply(action, params, action_id, (sql, args), step, cur)
    cur.execute("UPDATE bulk_actions SET affected = ?, undo = ? WHERE id = ?",
                [affected, json.dumps({"table": f"_bulk_undo_{action_id}"}), action_id])
    return {"id": action_id, "affected": affected}


def _apply(action: str, params: dict[str, Any], action_id: int, chosen: tuple[str, list], step, cur) -> None:
    """The change itself. Rows are found by the same condition that filled the backup (in this transaction
    it picks the same rows, and a filter is cheaper for DuckDB than a join on ids)."""
    backup = _backup_table(action_id)
    where, args = chosen
    if action == "tag":
        cur.execute(f"UPDATE samples SET tags = list_append(coalesce(tags, []), ?), {BUMP} WHERE {where}",
                    [params["tag"], *args])
    elif action == "untag":
        cur.execute(f"UPDATE samples SET tags = list_filter(tags, lambda t: t <> ?), {BUMP} WHERE {where}",
                    [params["tag"], *args])
    elif action == "status":
        cur.execute(f"UPDATE samples SET status = ?, {BUMP} WHERE {where}", [params["status"], *args])
    elif action == "delete":
        cur.execute(f"DELETE FROM samples WHERE {where}", args)  # postings of gone rows only cost a lookup
    elif action == "move":
        cur.execute(f"UPDATE samples SET dataset_id = ?, {BUMP} WHERE {where}", [int(params["target_id"]), *args])
    elif action == "copy":
        new = _new_ids_table(action_id)
        cur.execute(f"CREATE TABLE {new} AS SELECT nextval('seq_samples') AS new_id, id AS old_id FROM {backup}")
        cur.execute(f"""INSERT INTO samples SELECT b.* REPLACE (n.new_id AS id, ? AS dataset_id, 1 AS version,
                                                     current_timestamp AS created_at, current_timestamp AS updated_at)
                        FROM {backup} b JOIN {new} n ON n.old_id = b.id""", [int(params["target_id"])])
        step.inserted = True
    elif action == "replace":
        fields = replace_fields(params)
        sets = ", ".join(f"{c} = replace({c}, ?, ?)" for c in fields)
        cur.execute(f"UPDATE samples SET {sets}, {BUMP} WHERE {where}",
                    [v for _f in fields for v in (params["find"], params["replace"])] + args)
        step.changed(f"id IN (SELECT id FROM {backup})")


def undo(action: dict[str, Any], *, cur) -> dict[str, int]:
    """Reverse a bulk action inside the caller's transaction. Rows edited since the action are left as
    they are and counted as ``skipped`` (an undo never overwrites a later edit)."""
    backup = _backup_table(action["id"])
    kind = action["action"]
    skipped = 0
    with sample_search.keep_in_step(cur) as step:
        if kind == "delete":
            restored = cur.execute(f"INSERT INTO samples SELECT * FROM {backup} "
                                   f"WHERE id NOT IN (SELECT id FROM samples)").fetchone()[0]
            step.changed(f"id IN (SELECT id FROM {backup})")  # back with their old timestamps: index them here
        elif kind == "copy":
            new = _new_ids_table(action["id"])
            restored = cur.execute(f"DELETE FROM samples WHERE id IN (SELECT new_id FROM {new})").fetchone()[0]
            cur.execute(f"DROP TABLE IF EXISTS {new}")
        else:
            # the action left each row at backup.version + 1; a higher version means someone edited it since
            sets = ", ".join(f"{c} = b.{c}" for c in KEEPS[kind])
            total = int(db.scalar(f"SELECT count(*) FROM {backup}", cur=cur))
            restored = cur.execute(f"""UPDATE samples SET {sets}, version = samples.version + 1,
                                              updated_at = current_timestamp
                                       FROM {backup} b WHERE samples.id = b.id AND samples.version = b.version + 1
                                    """).fetchone()[0]
            skipped = total - int(restored)
            if kind == "replace":
                step.changed(f"id IN (SELECT id FROM {backup})")
    cur.execute(f"DROP TABLE IF EXISTS {backup}")
    cur.execute("UPDATE bulk_actions SET undone = true, undo = NULL WHERE id = ?", [action["id"]])
    return {"restored": int(restored), "skipped": skipped}
