"""Datasets: create, find, list."""
from __future__ import annotations

from typing import Any

from store import db
from studio.core.errors import Conflict, InputError, NotFound
from studio.core.i18n import _

KINDS = ("exam", "corpus", "samples")


def create(name: str, kind: str, *, description: str = "", cur=None, path=None) -> int:
    """Create a dataset and return its id; a taken name is a Conflict."""
    name = (name or "").strip()
    if not name:
        raise InputError(_("a dataset needs a name"))
    if kind not in KINDS:
        raise InputError(_("unknown dataset kind {kind}; choose one of {choices}").format(
            kind=repr(kind), choices=", ".join(KINDS)))
    if find(name, cur=cur, path=path):
        raise Conflict(_("a dataset named {name} already exists").format(name=repr(name)))
    return db.scalar("INSERT INTO datasets (name, kind, description) VALUES (?, ?, ?) RETURNING id",
                     [name, kind, description], path=path, cur=cur)


def find(name: str, *, cur=None, path=None) -> dict[str, Any] | None:
    """The dataset with this name, or None."""
    return db.one("SELECT * FROM datasets WHERE name = ?", [name], path=path, cur=cur)


def get(name: str, *, cur=None, path=None) -> dict[str, Any]:
    """The dataset with this name; NotFound lists the names that exist."""
    found = find(name, cur=cur, path=path)
    if found is None:
        names = [r["name"] for r in list_all(path=path, cur=cur)]
        known = ", ".join(names) if names else _("none yet")
        raise NotFound(_("no dataset named {name} (datasets: {known})").format(name=repr(name), known=known))
    return found


def get_or_create(name: str, kind: str, *, cur=None, path=None) -> int:
    """The id of the named dataset, created when missing; a dataset of another kind is refused."""
    found = find(name, cur=cur, path=path)
    if found is None:
        return create(name, kind, cur=cur, path=path)
    if found["kind"] != kind:
        raise InputError(_("dataset {name} holds {held} records, not {kind}").format(
            name=repr(name), held=found["kind"], kind=kind))
    return found["id"]


def list_all(kind: str | None = None, *, cur=None, path=None) -> list[dict[str, Any]]:
    """All datasets, optionally of one kind, by name."""
    if kind:
        return db.rows("SELECT * FROM datasets WHERE kind = ? ORDER BY name", [kind], path=path, cur=cur)
    return db.rows("SELECT * FROM datasets ORDER BY name", path=path, cur=cur)
