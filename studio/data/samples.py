"""Browse and edit a dataset's samples a page at a time, straight from DuckDB, at any size.

Edits state the row version they saw: a row another tab changed since is refused with ``Conflict``
(carrying the fresh row as ``err.fresh``), so nothing is silently overwritten. Bulk actions run on the
filtered set, confirm the count first, land in one transaction and can be undone one step back.
Numbers have ranges checked here (``PAGE_SIZE``, ``LENGTH``, ``dedup.THRESHOLD``), so the page and the CLI
refuse the same values with the same words.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from store import datasets as store_datasets
from store import db
from store import samples as store
from store.samples import NO_TYPE, PAGE_COLUMNS, SORTS, STATUSES, SampleFilter  # noqa: F401  (re-exported for pages)
from studio.core.errors import Conflict, InputError, NotFound
from studio.core.i18n import N_, _
from studio.core.labels import label
from studio.data import dedup
from studio.data.lengths import charts  # noqa: F401  (the Datasets page's charts)
from studio.data.snapshots import out_of_range

# action -> its label (translate with _() where shown, or use bulk_actions())
BULK_ACTIONS = {
    "tag": N_("add a tag"),
    "untag": N_("remove a tag"),
    "status": N_("set the status"),
    "delete": N_("delete"),
    "copy": N_("copy to another dataset"),
    "move": N_("move to another dataset"),
    "replace": N_("find and replace"),
}
# origin -> how it reads (studio.core.labels has no origins yet)
ORIGINS = {"exam-qa": N_("from exam questions (Q&A)"), "exam-choice": N_("from exam questions (with options)"),
           "generated": N_("generated"), "cloze": N_("cloze from a corpus"), "imported": N_("imported"),
           "manual": N_("written by hand"), "playground": N_("from the playground")}
PAGE_SIZE = (1, 1000)        # rows per page
LENGTH = (0, 10_000_000)     # a length filter, in characters


def bulk_actions() -> dict[str, str]:
    """Bulk action -> its label in the current language, in menu order."""
    return {k: _(v) for k, v in BULK_ACTIONS.items()}


def origin_label(origin) -> str:
    """An origin as a person reads it (unknown ones as they are)."""
    return _(ORIGINS[origin]) if origin in ORIGINS else ("" if origin is None else str(origin))


def _statuses() -> str:
    return ", ".join(f"{s} ({label('status', s)})" for s in STATUSES)


def _dataset(name: str) -> dict[str, Any]:
    return store_datasets.get(name)


_KEPT = threading.Lock()  # guards the two caches below (pages rerun in several threads)
_FACETS: dict[tuple, dict[str, dict[str, int]]] = {}  # (database, dataset, change mark) -> facets


def _facets(dataset_id: int, mark: tuple) -> dict[str, dict[str, int]]:
    """A dataset's facets, counted again only when the samples changed: every page rerun shows them, and
    at ten million rows counting them takes longer than the page itself."""
    key = (str(db.db_path()), dataset_id, mark)
    found = _FACETS.get(key)
    if found is None:
        found = store.facets(dataset_id)
        with _KEPT:
            for old in [k for k in _FACETS if k[:2] == key[:2]]:
                _FACETS.pop(old, None)
            _FACETS[key] = found
    return {k: dict(v) for k, v in found.items()}


def samples_datasets() -> list[dict[str, Any]]:
    """Datasets that hold samples, with counts by status, origin and type."""
    out = []
    found = store_datasets.list_all("samples")
    mark = store.change_mark() if found else ()
    for d in found:
        f = _facets(d["id"], mark)
        out.append({"name": d["name"], "id": d["id"], "samples": sum(f["status"].values()),
                    "by_status": f["status"], "by_origin": f["origin"], "by_type": f["qtype"],
                    "licence": d.get("licence")})
    return out


def make_filter(search: str = "", status=(), origin=(), qtype=(), tag: str = "", min_len=None, max_len=None,
                length_of: str = "content") -> SampleFilter:
    """A SampleFilter from loose values (lists, blanks and None are fine); lengths out of range or the
    wrong way round are an InputError."""
    for s in status or ():
        if s not in STATUSES:
            raise InputError(_("Unknown status {status}; choose one of {choices}").format(status=s,
                                                                                          choices=_statuses()))
    if length_of not in store.LENGTHS:
        raise InputError(_("length_of must be one of {choices}").format(choices=", ".join(store.LENGTHS)))
    reason = length_problem(min_len, max_len)
    if reason:
        raise InputError(reason)
    return SampleFilter(search=(search or "").strip(), status=tuple(status or ()), origin=tuple(origin or ()),
                        qtype=tuple(qtype or ()), tag=(tag or "").strip(),
                        min_len=None if min_len in (None, "") else int(min_len),
                        max_len=None if max_len in (None, "") else int(max_len), length_of=length_of)


def length_problem(min_len=None, max_len=None) -> str | None:
    """Why a length filter cannot be used (out of range, or the minimum above the maximum), or None."""
    blank = (None, "")
    reason = next((r for r in (
        None if min_len in blank else out_of_range(_("The minimum length"), min_len, LENGTH, whole=True),
        None if max_len in blank else out_of_range(_("The maximum length"), max_len, LENGTH, whole=True)) if r), None)
    if reason is None and min_len not in blank and max_len not in blank and float(min_len) > float(max_len):
        reason = _("The minimum length ({min}) is above the maximum length ({max})").format(min=min_len, max=max_len)
    return reason


def page_problem(page_no=1, page_size=50) -> str | None:
    """Why a page number or a page size cannot be used, or None."""
    return out_of_range(_("The page number"), page_no, (1, 10**9), whole=True) or \
        out_of_range(_("Rows per page"), page_size, PAGE_SIZE, whole=True)


def page(dataset: str, f: SampleFilter | None = None, *, page_no: int = 1, page_size: int = 50,
         sort: str = "id", descending: bool = False, with_total: bool = True) -> dict[str, Any]:
    """One page of rows: {"rows", "total", "page", "pages"} (``page_no`` from 1)."""
    if sort not in SORTS:
        raise InputError(_("Unknown sort {sort}; choose one of {choices}").format(sort=sort, choices=", ".join(SORTS)))
    reason = page_problem(page_no, page_size)
    if reason:
        raise InputError(reason)
    ds = _dataset(dataset)
    page_size, page_no = int(page_size), int(page_no)
    rows = store.page(ds["id"], f, sort=sort, descending=descending, limit=page_size,
                      offset=(page_no - 1) * page_size)
    total = _count(ds["id"], f) if with_total else None
    pages = max(1, -(-total // page_size)) if total is not None else None
    return {"rows": rows, "total": total, "page": page_no, "pages": pages}


_COUNTS: dict[tuple, int] = {}  # (database, dataset, filter, change mark) -> count
COUNTS_KEPT = 64


def _count(dataset_id: int, f: SampleFilter | None) -> int:
    """A count, kept until any sample changes: the page counts its filter again on every rerun (each page
    change), and a search for text in most rows has to read them all to count them."""
    key = (str(db.db_path()), dataset_id, f, store.change_mark())
    found = _COUNTS.get(key)
    if found is None:
        found = store.count(dataset_id, f)
        with _KEPT:
            while len(_COUNTS) >= COUNTS_KEPT:
                _COUNTS.pop(next(iter(_COUNTS)))
            _COUNTS[key] = found
    return found


def count(dataset: str, f: SampleFilter | None = None) -> int:
    """How many rows of a dataset match a filter."""
    return _count(_dataset(dataset)["id"], f)


def get(sample_id: int) -> dict[str, Any]:
    """One sample (history decoded)."""
    row = store.get(sample_id)
    if row is None:
        raise NotFound(_("No sample {id} (deleted?)").format(id=sample_id))
    row["history"] = json.loads(row["history"]) if row.get("history") else None
    return row


def _clean(changes: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in changes.items():
        if k not in store.EDITABLE:
            raise InputError(_("{field} cannot be edited; editable: {fields}").format(
                field=k, fields=", ".join(store.EDITABLE)))
        if k in store.TEXT_FIELDS:
            v = "" if v is None else str(v)
        elif k == "status":
            if v not in STATUSES:
                raise InputError(_("Unknown status {status}; choose one of {choices}").format(
                    status=v, choices=_statuses()), column="status")
        elif k == "tags":
            if isinstance(v, str):
                v = [t.strip() for t in v.replace("，", ",").split(",") if t.strip()]
            v = [str(t) for t in (v or [])]
        elif k in ("system", "qtype"):
            v = None if v in (None, "") else str(v)
        elif k == "origin":
            v = str(v or "manual")
        out[k] = v
    return out


def edit(sample_id: int, version: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Save changes to one row if nobody changed it since ``version``; returns the saved row.
    A stale version raises Conflict with the fresh row as ``err.fresh``."""
    changes = _clean(changes)
    if not changes:
        return get(sample_id)
    saved = store.update(sample_id, version, changes)
    if saved is not None:
        return saved
    fresh = store.get(sample_id)
    if fresh is None:
        raise NotFound(_("Sample {id} was deleted in the meantime; your edit was not saved").format(id=sample_id))
    err = Conflict(_("Sample {id} was changed elsewhere (version {now}, you saw {seen}); your edit was not saved — "
                     "the current row is shown, edit it again").format(id=sample_id, now=fresh["version"],
                                                                       seen=version))
    err.fresh = fresh
    raise err


def add(dataset: str, row: dict[str, Any]) -> dict[str, Any]:
    """Add one sample to a dataset."""
    ds = _dataset(dataset)
    clean = _clean({k: v for k, v in row.items() if k in store.EDITABLE})
    if not (clean.get("instruction") or clean.get("input")) or not clean.get("output"):
        raise InputError(_("A sample needs an instruction (or input) and an output"))
    return store.add_one(ds["id"], clean)


def delete(sample_id: int, version: int | None = None) -> None:
    """Delete one sample; with ``version``, only if nobody changed it since."""
    if store.delete(sample_id, version):
        return
    if store.get(sample_id) is None:
        raise NotFound(_("No sample {id} (already deleted?)").format(id=sample_id))
    raise Conflict(_("Sample {id} was changed elsewhere since you saw it; not deleted").format(id=sample_id))


def save_editor(dataset: str, shown: list[dict[str, Any]], changes: dict[str, Any]) -> dict[str, Any]:
    """Apply a data_editor's {"edited_rows", "added_rows", "deleted_rows"} against the rows it showed.
    Each row is saved on its own with its version; conflicts are collected, not fatal to other rows."""
    out = {"saved": 0, "added": 0, "deleted": 0, "conflicts": []}
    for pos, edits in (changes.get("edited_rows") or {}).items():
        row = shown[int(pos)]
        edits = {k: v for k, v in edits.items() if k in store.EDITABLE}
        try:
            edit(row["id"], row["version"], edits)
            out["saved"] += 1
        except (Conflict, NotFound) as err:
            out["conflicts"].append(str(err))
    for new in changes.get("added_rows") or []:
        if any(v not in (None, "") for v in new.values()):
            add(dataset, new)
            out["added"] += 1
    for pos in changes.get("deleted_rows") or []:
        row = shown[int(pos)]
        try:
            delete(row["id"], row["version"])
            out["deleted"] += 1
        except (Conflict, NotFound) as err:
            out["conflicts"].append(str(err))
    return out


# ---- bulk actions

def _bulk_params(action: str, params: dict[str, Any]) -> dict[str, Any]:
    if action not in BULK_ACTIONS:
        raise InputError(_("Unknown bulk action {action}; choose one of {choices}").format(
            action=action, choices=", ".join(BULK_ACTIONS)))
    p = dict(params or {})
    if action in ("tag", "untag"):
        p["tag"] = str(p.get("tag") or "").strip()
        if not p["tag"]:
            raise InputError(_("Say which tag"))
    elif action == "status":
        if p.get("status") not in STATUSES:
            raise InputError(_("Choose a status: {choices}").format(choices=_statuses()))
    elif action in ("copy", "move"):
        if not p.get("target"):
            raise InputError(_("Choose the target dataset"))
        target = store_datasets.get(str(p["target"]))
        if target["kind"] != "samples":
            raise InputError(_("Dataset {name} holds no training samples (it is an exam bank or a corpus)").format(
                name=target["name"]))
        p["target_id"] = target["id"]
    elif action == "replace":
        if not p.get("find"):
            raise InputError(_("Say what to find"))
        p["replace"] = str(p.get("replace") or "")
        p["fields"] = [c for c in (p.get("fields") or store.TEXT_FIELDS) if c in store.TEXT_FIELDS]
    return p


def _extra(action: str, p: dict[str, Any]) -> tuple[str, list] | None:
    return store.condition(action, p)


def bulk_count(dataset: str, f: SampleFilter | None, action: str, params: dict[str, Any] | None = None) -> int:
    """How many rows the bulk action would change (shown for confirmation)."""
    ds = _dataset(dataset)
    p = _bulk_params(action, params or {})
    if action in ("copy", "move") and p["target_id"] == ds["id"]:
        raise InputError(_("Choose another dataset as the target"))
    return store.count(ds["id"], f, extra=_extra(action, p))


def bulk(dataset: str, f: SampleFilter | None, action: str, params: dict[str, Any] | None = None, *,
         confirm: int) -> dict[str, Any]:
    """Apply a bulk action to the filtered rows, in one transaction. ``confirm`` is the count the user
    agreed to; if the set changed meanwhile nothing happens (Conflict)."""
    ds = _dataset(dataset)
    p = _bulk_params(action, params or {})
    if action in ("copy", "move") and p["target_id"] == ds["id"]:
        raise InputError(_("Choose another dataset as the target"))
    def check(now: int) -> None:  # the rows are chosen once: their count is checked before any change
        if now != int(confirm):
            raise Conflict(_("The filtered set now has {now} rows to change, not the {confirmed} you confirmed; "
                             "nothing was changed — check and confirm again").format(now=now, confirmed=confirm))

    with db.transaction() as cur:
        done = store.bulk(ds["id"], f, action, p, cur=cur, check=check)
    return {"dataset": dataset, "action": action, "affected": done["affected"], "bulk_id": done["id"]}


def last_bulk(dataset: str) -> dict[str, Any] | None:
    """The bulk action that undo would reverse, or None."""
    a = store.last_action(_dataset(dataset)["id"])
    if a is None:
        return None
    params = json.loads(a["params"]) if isinstance(a["params"], str) else a["params"]
    return {"id": a["id"], "action": a["action"], "params": params, "affected": a["affected"],
            "created_at": a["created_at"], "label": bulk_actions().get(a["action"], a["action"])}


def undo_last(dataset: str) -> dict[str, Any]:
    """Undo the last bulk action of a dataset (one step)."""
    ds = _dataset(dataset)
    with db.transaction() as cur:
        action = store.last_action(ds["id"], cur=cur)
        if action is None:
            raise InputError(_("There is nothing to undo in {name}").format(name=dataset))
        result = store.undo(action, cur=cur)
    return {"dataset": dataset, "action": action["action"], **result}


# ---- deduplication

def find_duplicates(dataset: str, f: SampleFilter | None = None, *, near: bool = True, threshold: float = 0.8,
                    progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Exact and near-duplicate groups of a dataset (each a list of rows, the one to keep first).
    ``progress``: see ``dedup.near_groups`` (a job's progress; it may raise to stop)."""
    reason = out_of_range(_("The similarity threshold"), threshold, dedup.THRESHOLD)
    if reason:
        raise InputError(reason)
    rows = store.dedup_rows(_dataset(dataset)["id"], f)
    texts = {r["id"]: dedup.text_of(r) for r in rows}
    by_id = {r["id"]: r for r in rows}
    exact = dedup.exact_groups(texts)
    groups = [("exact", g) for g in exact]
    if near:
        grouped = {i for g in exact for i in g[1:]}
        rest = {i: t for i, t in texts.items() if i not in grouped}
        exact_sets = [set(g) for g in exact]
        for g in dedup.near_groups(rest, threshold=threshold, progress=progress):
            if not any(set(g) <= s for s in exact_sets):
                groups.append(("near", g))
    out = []
    for kind, g in groups:
        members = [by_id[i] for i in g]
        keep = dedup.choose_keeper(members)
        members.sort(key=lambda r: (r["id"] != keep, r["id"]))
        out.append({"kind": kind, "keep": keep, "rows": members})
    return {"groups": out, "duplicates": sum(len(g["rows"]) - 1 for g in out), "rows": len(rows)}


def remove_duplicates(dataset: str, groups: list[dict[str, Any]], *, confirm: int | None = None) -> dict[str, Any]:
    """Keep one row per group and delete the rest, as one undoable bulk action. ``confirm``: the count the
    user agreed to delete; when the rows changed since they were found, nothing happens (Conflict)."""
    drop = sorted({r["id"] for g in groups for r in g["rows"] if r["id"] != g["keep"]})
    if not drop:
        return {"dataset": dataset, "action": "delete", "affected": 0}
    f = SampleFilter(ids=tuple(drop))
    if confirm is None:
        confirm = bulk_count(dataset, f, "delete")
    return bulk(dataset, f, "delete", {"reason": "duplicates"}, confirm=confirm)
