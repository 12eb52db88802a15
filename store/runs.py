"""Runs and their metrics: the app's mirror of each run folder (the trainer never opens the database)."""
from __future__ import annotations

import json
from typing import Any

from store import db

ACTIVE = ("queued", "starting", "running")
# columns ``update`` may set (identifiers never come from user text, but keep the list closed anyway)
UPDATABLE = ("name", "state", "pid", "step", "total", "final_loss", "eval_loss", "error", "command",
             "started_at", "finished_at", "device", "estimate", "metrics_bytes", "resumes", "heartbeat",
             "config")
JSON_COLUMNS = ("config", "estimate")


def insert(run: dict[str, Any], *, cur=None) -> None:
    """Record a new run."""
    c = cur or db.cursor()
    c.execute("""INSERT INTO runs (id, name, base_model, method, config, snapshot_id, parent_run_id, dir,
                                   command, state, total, device, estimate)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
              [run["id"], run.get("name"), run["base_model"], run["method"],
               json.dumps(run["config"], ensure_ascii=False), run.get("snapshot_id"),
               run.get("parent_run_id"), run["dir"], run.get("command"), run.get("state", "queued"),
               run.get("total", 0), run.get("device", "cpu"),
               json.dumps(run.get("estimate") or {}, ensure_ascii=False)])


def _decoded(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    for col in JSON_COLUMNS:
        if isinstance(row.get(col), str):
            try:
                row[col] = json.loads(row[col])
            except ValueError:
                pass
    return row


def get(run_id: str, *, cur=None) -> dict[str, Any] | None:
    """One run row, or None."""
    return _decoded(db.one("SELECT * FROM runs WHERE id = ?", [run_id], cur=cur))


def list_all(*, cur=None) -> list[dict[str, Any]]:
    """Every run, newest first."""
    return [_decoded(r) for r in db.rows("SELECT * FROM runs ORDER BY created_at DESC, id DESC", cur=cur)]


def active(*, cur=None) -> list[dict[str, Any]]:
    """Runs queued, starting or running, oldest first (the queue's order)."""
    return [_decoded(r) for r in db.rows(
        "SELECT * FROM runs WHERE state IN (?, ?, ?) ORDER BY created_at, id", list(ACTIVE), cur=cur)]


def update(run_id: str, *, cur=None, **values: Any) -> None:
    """Set some columns of a run (and ``updated_at``)."""
    sets, params = db.assignments(values, UPDATABLE, JSON_COLUMNS)
    if not values:
        return
    (cur or db.cursor()).execute(f"UPDATE runs SET {sets}, updated_at = current_timestamp WHERE id = ?",
                                 params + [run_id])


def replace_metrics(run_id: str, records: list[dict[str, Any]], *, cur) -> None:
    """Replace a run's metrics with the lines of its metrics.jsonl (inside the caller's transaction;
    one INSERT from a DataFrame, never row by row)."""
    import pandas as pd

    cur.execute("DELETE FROM run_metrics WHERE run_id = ?", [run_id])
    if not records:
        return
    frame = pd.DataFrame({
        "run_id": run_id,
        "step": [int(r.get("step", 0)) for r in records],
        "epoch": [r.get("epoch") for r in records],
        "loss": [r.get("loss") for r in records],
        "eval_loss": [r.get("eval_loss") for r in records],
        "learning_rate": [r.get("learning_rate") for r in records],
        "tokens_per_s": [r.get("tokens_per_s") for r in records],
        "logged_at": pd.to_datetime([r.get("time") for r in records], unit="s", errors="coerce"),
    }).astype({"epoch": "float64", "loss": "float64", "eval_loss": "float64", "learning_rate": "float64",
               "tokens_per_s": "float64"})
    cur.register("_run_metrics_frame", frame)
    try:
        cur.execute("""INSERT INTO run_metrics (run_id, step, epoch, loss, eval_loss, learning_rate,
                                                tokens_per_s, logged_at)
                       SELECT run_id, step, epoch, loss, eval_loss, learning_rate, tokens_per_s, logged_at
                       FROM _run_metrics_frame""")
    finally:
        cur.unregister("_run_metrics_frame")


def metrics(run_ids: list[str], *, cur=None) -> list[dict[str, Any]]:
    """The metrics of some runs, by run and step (train and eval lines both)."""
    if not run_ids:
        return []
    marks = ", ".join("?" for _ in run_ids)
    return db.rows(f"""SELECT run_id, step, epoch, loss, eval_loss, learning_rate, tokens_per_s, logged_at
                       FROM run_metrics WHERE run_id IN ({marks}) ORDER BY run_id, step, logged_at""",
                   list(run_ids), cur=cur)
