"""Fine-tune runs: create, start (or queue), cancel, resume, chain, and read them back.

A run is a folder under ``STUDIO_RUNS`` (``config.json``, the frozen snapshot, what the trainer writes)
and a row in the ``runs`` table. This module writes the folder and the row and takes the actions;
``supervisor`` launches the processes and mirrors their folders into the rows.

Decisions:
- Resume starts the same folder again: the trainer continues from its newest checkpoint (optimizer,
  scheduler and step count included). "Train further" is a NEW run that starts from the parent's
  adapter (``from_adapter``), same base and method, recorded as ``parent_run_id``.
"""
from __future__ import annotations

import secrets
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from store import db
from store import runs as store
from studio.core import settings
from studio.core.errors import Conflict, InputError, NotFound, WorkFailed
from studio.train import config, estimate, supervisor
from trainers import launcher, runfolder, sft

ACTIVE = store.ACTIVE


# ------------------------------------------------------------------------------------------- create

def runs_dir() -> Path:
    return settings.path("runs")


def new_run_id() -> str:
    """A sortable, filesystem- and adapter-name-safe id: r20260118-093012-a3f9."""
    return "r" + datetime.now().strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def get(run_id: str) -> dict[str, Any]:
    """One run; NotFound lists the newest ids."""
    row = store.get((run_id or "").strip())
    if row is None:
        known = ", ".join(r["id"] for r in store.list_all()[:10]) or "none yet"
        raise NotFound(f"no run {run_id!r} (runs: {known})")
    return row


def _inherit(from_run: str | None, base_model: str | None, method: str | None, snapshot: str | None,
             dataset: str | None) -> tuple[dict[str, Any] | None, str | None, str | None, str | None]:
    """(parent, base model, method, snapshot) of a chained run: the parent's base model and method, and
    its snapshot unless other data is named; unchanged without ``from_run``."""
    if not from_run:
        return None, base_model, method, snapshot
    parent = get(from_run)
    adapter = Path(parent["dir"]) / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise InputError(f"no adapter to train further from (state {parent['state']})", run_id=parent["id"])
    if method and method != parent["method"]:
        raise InputError(f"it trained a {parent['method']} adapter; a chained run keeps "
                         f"the method", run_id=parent["id"])
    if base_model and config.check_base_model(base_model) != parent["base_model"]:
        raise InputError(f"it was trained on {parent['base_model']}; a chained run keeps "
                         f"its base model", run_id=parent["id"])
    if not snapshot and not dataset:
        snapshot = parent["snapshot_id"]
    return parent, parent["base_model"], parent["method"], snapshot


def prepare(*, base_model: str | None = None, method: str | None = None, snapshot: str | None = None,
            dataset: str | None = None, name: str | None = None, from_run: str | None = None,
            estimate_tokens: bool = True, **settings_: Any) -> dict[str, Any]:
    """Create a run without starting it: folder, frozen snapshot JSONL, config.json, a ``created`` row.

    ``snapshot`` (an id) or ``dataset`` (snapshotted now) names the data; ``from_run`` chains the new
    run on an earlier run's adapter (its base model, method and, by default, its snapshot).
    """
    from studio.data import snapshots

    parent, base_model, method, snapshot = _inherit(from_run, base_model, method, snapshot, dataset)
    method = method or "lora"
    values = {**config.preset(method, base_model), **config.coerce(settings_)}
    base_model = config.check_base_model(base_model or "")
    if snapshot and dataset:
        raise InputError("give a snapshot or a dataset, not both")
    if not snapshot and not dataset:
        raise InputError("choose the training data: a snapshot, or a dataset to snapshot")
    snap = snapshots.get(snapshot) if snapshot else snapshots.create(dataset)
    if not snap["n_train"]:
        raise InputError(f"snapshot {snap['id']} has no training samples")

    run_id = new_run_id()
    folder = runs_dir() / run_id
    folder.mkdir(parents=True, exist_ok=False)
    try:
        _fill(folder, snap, parent, {**values, "base_model": base_model, "method": method, "run_id": run_id},
              name=name, estimate_tokens=estimate_tokens)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # nothing half-made stays behind
        raise
    return get(run_id)


def _fill(folder: Path, snap: dict[str, Any], parent: dict[str, Any] | None, values: dict[str, Any], *,
          name: str | None, estimate_tokens: bool) -> None:
    """Write a new run's snapshot files and config.json, estimate it, and insert its ``created`` row."""
    from studio.data import snapshots

    written = snapshots.write_jsonl(snap["id"], folder)
    cfg = config.make_config(**{**values, "train_file": "train.jsonl",
                                "validation_file": "validation.jsonl" if written["n_validation"] else "",
                                "from_adapter": str(Path(parent["dir"]).resolve() / "adapter") if parent else "",
                                "parent_run": parent["id"] if parent else ""})
    runfolder.write_json_atomic(folder / "config.json", cfg.to_json())
    est = estimate.estimate_for(cfg, folder) if estimate_tokens else \
        {"n_train": written["n_train"], "steps": sft.planned_steps(written["n_train"], cfg)}
    cmd = launcher.command(folder / "config.json", num_processes=cfg.num_processes, deepspeed=cfg.deepspeed)
    with db.transaction() as cur:
        store.insert({"id": cfg.run_id, "name": name or f"{cfg.method} · {snap['name']}",
                      "base_model": cfg.base_model, "method": cfg.method, "config": cfg.to_json(),
                      "snapshot_id": snap["id"], "parent_run_id": parent["id"] if parent else None,
                      "dir": str(folder.resolve()), "command": launcher.shown(cmd), "state": "created",
                      "total": est["steps"], "device": supervisor.device_of(cfg), "estimate": est}, cur=cur)


def submit(**kwargs: Any) -> dict[str, Any]:
    """Create a run and start it (or queue it behind the run on its device)."""
    return start(prepare(**kwargs)["id"])


# ------------------------------------------------------------------------------------------ actions

def start(run_id: str) -> dict[str, Any]:
    """Start a created, failed or cancelled run now, or queue it when its device is busy."""
    with supervisor.lock:
        supervisor.refresh()
        row = get(run_id)
        if row["state"] in ACTIVE:
            raise Conflict(f"the run is already {row['state']}", run_id=run_id)
        if row["state"] == "done":
            raise Conflict("the run is done; use 'train further' to continue from its adapter", run_id=run_id)
        supervisor.launch_or_queue(row)
        return get(run_id)


def cancel(run_id: str) -> dict[str, Any]:
    """Stop a run: a queued run is cancelled at once; a running one gets SIGTERM (checkpoint, then cancelled)."""
    with supervisor.lock:
        supervisor.refresh()
        row = get(run_id)
        if row["state"] == "queued":
            store.update(run_id, state="cancelled", finished_at=datetime.now())
        elif row["state"] in ("starting", "running"):
            status = runfolder.read_status(row["dir"]) or {}
            pid = int(row["pid"] or status.get("pid") or 0)
            if not pid or not launcher.stop(pid):
                raise WorkFailed("the run's process is gone", run_id=run_id)
        else:
            raise Conflict(f"the run is {row['state']}, not running", run_id=run_id)
        return get(run_id)


def resume(run_id: str) -> dict[str, Any]:
    """Continue a failed or cancelled run from its newest checkpoint (the step count continues)."""
    with supervisor.lock:
        supervisor.refresh()
        row = get(run_id)
        if row["state"] not in ("failed", "cancelled"):
            raise Conflict(f"the run is {row['state']}; only failed or cancelled runs resume", run_id=run_id)
        store.update(run_id, resumes=int(row.get("resumes") or 0) + 1)
        return start(run_id)


def train_further(run_id: str, **kwargs: Any) -> dict[str, Any]:
    """A new run that starts from this run's adapter (same base and method), started at once."""
    return submit(from_run=run_id, **kwargs)


# ------------------------------------------------------------------------------------------ reading

def eta_seconds(row: dict[str, Any], metrics: list[dict[str, Any]] | None = None) -> float | None:
    """Seconds left, from the pace of the current attempt's logged steps."""
    if row["state"] not in ("starting", "running") or not row.get("total"):
        return None
    metrics = metrics if metrics is not None else runfolder.read_metrics(row["dir"])
    since = supervisor.epoch_seconds(row.get("started_at")) or 0
    pts = [(m["step"], m["time"]) for m in metrics if m.get("loss") is not None and m.get("time", 0) >= since]
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return None
    pace = (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])
    return max(0.0, (row["total"] - (row.get("step") or pts[-1][0])) * pace)


def _short(row: dict[str, Any]) -> dict[str, Any]:
    total = row.get("total") or 0
    step = row.get("step") or 0
    return {"id": row["id"], "name": row["name"], "method": row["method"], "state": row["state"],
            "step": step, "total": total, "progress": round(step / total, 4) if total else 0.0,
            "eta_s": eta_seconds(row), "final_loss": row.get("final_loss"), "eval_loss": row.get("eval_loss"),
            "base_model": row["base_model"], "snapshot": row.get("snapshot_id"),
            "parent_run": row.get("parent_run_id"), "device": row.get("device"),
            "created_at": row.get("created_at"), "dir": row["dir"]}


def list_runs(*, poll: bool = True) -> list[dict[str, Any]]:
    """Every run, newest first, with state, progress, ETA and losses (polling active ones first)."""
    if poll:
        supervisor.refresh()
    return [_short(r) for r in store.list_all()]


def detail(run_id: str) -> dict[str, Any]:
    """One run for its detail view: the row, config, estimate, lineage, checkpoints, log tail, ETA."""
    row = get(run_id)
    lineage, parent = [], row.get("parent_run_id")
    while parent and len(lineage) < 50:
        lineage.append(parent)
        p = store.get(parent)
        parent = p.get("parent_run_id") if p else None
    folder = Path(row["dir"])
    return {**_short(row), "config": row["config"], "estimate": row.get("estimate") or {},
            "command": row.get("command"), "error": row.get("error"), "lineage": lineage,
            "checkpoints": [p.name for p in runfolder.checkpoints(folder)],
            "has_adapter": (folder / "adapter" / "adapter_config.json").exists(),
            "log_tail": runfolder.tail(folder / "log.txt", 30), "resumes": row.get("resumes") or 0}


def curves(run_ids: list[str]) -> list[dict[str, Any]]:
    """Loss and eval-loss points of some runs (ingested metrics), for overlaid plots."""
    return store.metrics(list(run_ids))


def adapter_dir(run_id: str) -> Path:
    return Path(get(run_id)["dir"]) / "adapter"
