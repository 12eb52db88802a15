"""Snapshots: the SQL that reads accepted samples and writes a frozen copy.

There is no UPDATE or DELETE of a snapshot here on purpose: once written, a snapshot never changes.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from store import db

CANONICAL = ("instruction", "input", "output", "system", "history", "origin", "qtype", "tools", "roles")


def accepted_samples(dataset_id: int, *, cur=None, path=None) -> list[dict[str, Any]]:
    """The accepted samples of a dataset in id order, with the dataset's system prompt and domain
    prefix applied (what a trainer must see)."""
    return dataset_samples(dataset_id, ("accepted",), cur=cur, path=path)


def dataset_samples(dataset_id: int, statuses: tuple[str, ...], *, cur=None, path=None) -> list[dict[str, Any]]:
    """The samples of a dataset with one of ``statuses``, in id order, system prompt and domain prefix
    applied."""
    marks = ", ".join("?" for _ in statuses)
    return db.rows(f"""
        SELECT s.id AS sample_id, s.dataset_id,
               CASE WHEN coalesce(d.domain_prefix, '') <> '' AND NOT starts_with(s.instruction, d.domain_prefix)
                    THEN d.domain_prefix || s.instruction ELSE s.instruction END AS instruction,
               s.input, s.output,
               coalesce(nullif(s.system, ''), nullif(d.system_prompt, '')) AS system,
               CAST(s.history AS VARCHAR) AS history, s.origin, s.qtype, s.tools, s.roles
        FROM samples s JOIN datasets d ON d.id = s.dataset_id
        WHERE s.dataset_id = ? AND s.status IN ({marks})
        ORDER BY s.id""", [dataset_id, *statuses], cur=cur, path=path)


def find(snapshot_id: str, *, cur=None, path=None) -> dict[str, Any] | None:
    """One snapshot row with its dataset's name, or None."""
    return db.one("""SELECT s.*, d.name AS dataset FROM snapshots s LEFT JOIN datasets d ON d.id = s.dataset_id
                     WHERE s.id = ?""", [snapshot_id], cur=cur, path=path)


def find_prefix(prefix: str, *, cur=None, path=None) -> list[str]:
    """Snapshot ids starting with ``prefix`` (so people can type a short id)."""
    return [r["id"] for r in db.rows("SELECT id FROM snapshots WHERE starts_with(id, ?) ORDER BY id",
                                     [prefix], cur=cur, path=path)]


def list_all(*, cur=None, path=None) -> list[dict[str, Any]]:
    """Every snapshot, newest first."""
    return db.rows("""SELECT s.*, d.name AS dataset FROM snapshots s LEFT JOIN datasets d ON d.id = s.dataset_id
                      ORDER BY s.created_at DESC, s.id""", cur=cur, path=path)


def insert(snapshot: dict[str, Any], samples: list[dict[str, Any]], *, cur) -> None:
    """Write a snapshot and its samples (inside the caller's transaction); samples come in as a
    DataFrame, never row by row."""
    cur.execute("""INSERT INTO snapshots (id, name, dataset_id, spec, seed, val_ratio, content_hash,
                                          n_train, n_validation)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                [snapshot["id"], snapshot["name"], snapshot["dataset_id"],
                 json.dumps(snapshot["spec"], ensure_ascii=False), snapshot["seed"], snapshot["val_ratio"],
                 snapshot["content_hash"], snapshot["n_train"], snapshot["n_validation"]])
    if not samples:
        return
    frame = pd.DataFrame({
        "snapshot_id": [snapshot["id"]] * len(samples),
        "ord": [s["ord"] for s in samples],
        "split": [s["split"] for s in samples],
        "sample_id": pd.array([s.get("sample_id") for s in samples], dtype="Int64"),
        "dataset_id": pd.array([s.get("dataset_id") for s in samples], dtype="Int64"),
        "instruction": [s["instruction"] for s in samples],
        "input": [s["input"] for s in samples],
        "output": [s["output"] for s in samples],
        "system": pd.array([s.get("system") for s in samples], dtype="object"),
        "history": pd.array([json.dumps(s["history"], ensure_ascii=False) if s.get("history") else None
                             for s in samples], dtype="object"),
        "origin": pd.array([s.get("origin") for s in samples], dtype="object"),
        "qtype": pd.array([s.get("qtype") for s in samples], dtype="object"),
        "tools": pd.array([s.get("tools") for s in samples], dtype="object"),
        "roles": pd.array([json.dumps(list(s["roles"])) if s.get("roles") else None for s in samples],
                          dtype="object"),
    })
    cur.register("_snapshot_rows", frame)
    try:
        cur.execute("""INSERT INTO snapshot_samples (snapshot_id, ord, split, sample_id, dataset_id, instruction,
                                                     input, output, system, history, origin, qtype, tools, roles)
                       SELECT snapshot_id, ord, split, sample_id, dataset_id, instruction, input, output,
                              system, CAST(history AS JSON), origin, qtype, tools,
                              CAST(CAST(roles AS JSON) AS VARCHAR[]) FROM _snapshot_rows""")
    finally:
        cur.unregister("_snapshot_rows")


def samples(snapshot_id: str, split: str | None = None, *, cur=None, path=None) -> list[dict[str, Any]]:
    """The frozen samples of a snapshot in their order, optionally one split."""
    where, params = "snapshot_id = ?", [snapshot_id]
    if split:
        where += " AND split = ?"
        params.append(split)
    return db.rows(f"""SELECT ord, split, sample_id, dataset_id, instruction, input, output, system,
                              CAST(history AS VARCHAR) AS history, origin, qtype, tools, roles
                       FROM snapshot_samples WHERE {where} ORDER BY ord""", params, cur=cur, path=path)


def count_with_tools(*, dataset_id: int | None = None, snapshot_id: str | None = None, cur=None, path=None) -> int:
    """How many samples of a dataset, or of a snapshot, carry tool calling (a tools list or tool turns)."""
    if snapshot_id is not None:
        return int(db.scalar("""SELECT count(*) FROM snapshot_samples WHERE snapshot_id = ?
                                AND (tools IS NOT NULL OR roles IS NOT NULL)""", [snapshot_id], cur=cur, path=path))
    return int(db.scalar("""SELECT count(*) FROM samples WHERE dataset_id = ?
                            AND (tools IS NOT NULL OR roles IS NOT NULL)""", [dataset_id], cur=cur, path=path))
