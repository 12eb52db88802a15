"""The samples' filter: what a page, a count or a bulk action narrows a dataset to, as SQL.

``where()`` is a pure function returning ``(sql, params)``; user text only ever reaches SQL as a bound
parameter, identifiers only from the fixed lists below. (``store.samples`` re-exports all of it.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
        # contains() is ~10x faster than ILIKE; lower-case both sides only when the text has case
        value = search_value(f.search)
        col = (lambda c: f"contains(lower({c}), ?)") if _cased(f.search) else (lambda c: f"contains({c}, ?)")
        parts.append("(" + " OR ".join(col(c) for c in TEXT_FIELDS) + ")")
        params.extend([value] * len(TEXT_FIELDS))
    if f.ids:
        parts.append(_in("id", tuple(int(i) for i in f.ids), params))
    return " AND ".join(parts), params


def _cased(text: str) -> bool:
    return text.lower() != text.upper()


def search_value(text: str) -> str:
    """The value a search matches the texts with: lower-cased when the text has case (then the texts are too)."""
    return text.lower() if _cased(text) else text


def order_by(sort: str = "id", descending: bool = False) -> str:
    """An ORDER BY clause from the fixed sort list (id breaks ties so pages are stable)."""
    if sort not in SORTS:
        raise ValueError(_("Unknown sort {sort}; choose one of {choices}").format(sort=sort, choices=", ".join(SORTS)))
    direction = "DESC" if descending else "ASC"
    tail = "" if sort == "id" else f", id {direction}"
    return f"ORDER BY {SORTS[sort]} {direction}{tail}"


ACTIONS = ("tag", "untag", "status", "delete", "copy", "move", "replace")  # bulk actions


def condition(action: str, params: dict[str, Any]) -> tuple[str, list] | None:
    """The rows an action would leave unchanged stay out of its count and its backup."""
    if action == "replace":
        fields = replace_fields(params)
        return "(" + " OR ".join(f"contains({c}, ?)" for c in fields) + ")", [params["find"]] * len(fields)
    if action == "tag":
        return "NOT list_contains(tags, ?)", [params["tag"]]
    if action == "untag":
        return "list_contains(tags, ?)", [params["tag"]]
    if action == "status":
        return "status <> ?", [params["status"]]
    return None


def replace_fields(params: dict[str, Any]) -> list[str]:
    fields = [c for c in params.get("fields") or TEXT_FIELDS if c in TEXT_FIELDS]
    if not fields:
        raise ValueError(_("Find and replace needs at least one of instruction, input, output"))
    return fields
