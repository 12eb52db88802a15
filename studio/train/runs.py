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
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from store import db
from store import runs as store
from studio.core import settings
from studio.core.errors import Conflict, InputError, NotFound, WorkFailed
from studio.core.i18n import _
from studio.core.labels import label
from studio.train import config, estimate, supervisor
from trainers import launcher, runfolder, sft

ACTIVE = store.ACTIVE
CANCEL_MARK = "cancel_requested.json"  # written by cancel(): the page shows "cancelling" at once


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
        known = ", ".join(r["id"] for r in store.list_all()[:10]) or _("none yet")
        raise NotFound(_("no run {run} (runs: {known})").format(run=repr(run_id), known=known))
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
        raise InputError(_("no adapter to train further from (state: {state})").format(
            state=label("state", parent["state"])), run_id=parent["id"])
    if method and method != parent["method"]:
        raise InputError(_("it trained a {method} adapter; a chained run keeps the method").format(
            method=parent["method"]), run_id=parent["id"])
    if base_model and config.check_base_model(base_model) != parent["base_model"]:
        raise InputError(_("it was trained on {model}; a chained run keeps its base model").format(
            model=parent["base_model"]), run_id=parent["id"])
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
        raise InputError(_("give a snapshot or a dataset, not both"))
    if not snapshot and not dataset:
        raise InputError(_("choose the training data: a snapshot, or a dataset to snapshot"))
    snap = snapshots.get(snapshot) if snapshot else snapshots.create(dataset)
    if not snap["n_train"]:
        raise InputError(_("snapshot {snapshot} has no training samples").format(snapshot=snap["id"]))

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
            raise Conflict(_("the run is already {state}").format(state=label("state", row["state"])), run_id=run_id)
        if row["state"] == "done":
            raise Conflict(_("the run is done; use 'train further' to continue from its adapter"), run_id=run_id)
        _forget_attempt(row)
        supervisor.launch_or_queue(row)
        return get(run_id)


def cancel(run_id: str) -> dict[str, Any]:
    """Stop a run: a queued run is cancelled at once; a running one gets SIGTERM (checkpoint, then cancelled)
    and shows as ``cancelling`` (``cancel_requested.json`` in its folder) until the trainer has stopped."""
    with supervisor.lock:
        supervisor.refresh()
        row = get(run_id)
        if row["state"] == "queued":
            store.update(run_id, state="cancelled", finished_at=datetime.now())
        elif row["state"] in ("starting", "running"):
            status = runfolder.read_status(row["dir"]) or {}
            pid = int(row["pid"] or status.get("pid") or 0)
            if not pid or not launcher.stop(pid):
                raise WorkFailed(_("the run's process is gone"), run_id=run_id)
            runfolder.write_json_atomic(Path(row["dir"]) / CANCEL_MARK, {"time": time.time(), "pid": pid})
        else:
            raise Conflict(_("the run is {state}, not running").format(state=label("state", row["state"])),
                           run_id=run_id)
        return get(run_id)


def resume(run_id: str) -> dict[str, Any]:
    """Continue a failed or cancelled run from its newest checkpoint (the step count continues)."""
    with supervisor.lock:
        supervisor.refresh()
        row = get(run_id)
        if row["state"] not in ("failed", "cancelled"):
            raise Conflict(_("the run is {state}; only failed or cancelled runs resume").format(
                state=label("state", row["state"])), run_id=run_id)
        store.update(run_id, resumes=int(row.get("resumes") or 0) + 1)
        return start(run_id)


def train_further(run_id: str, **kwargs: Any) -> dict[str, Any]:
    """A new run that starts from this run's adapter (same base and method), started at once."""
    return submit(from_run=run_id, **kwargs)


def _forget_attempt(row: dict[str, Any]) -> None:
    """Before a run starts again: it is no longer being cancelled, and the last attempt's final
    ``status.json`` is not this attempt's. The supervisor tells them apart by heartbeat age, which fails for a
    Resume clicked within a second of the end; marked as a supervisor's note, it is skipped until the new
    trainer writes (which still reads its step and total)."""
    folder = Path(row["dir"])
    (folder / CANCEL_MARK).unlink(missing_ok=True)
    status = runfolder.read_status(folder)
    if status and status.get("state") in runfolder.FINAL and status.get("by") != "supervisor":
        runfolder.write_json_atomic(folder / "status.json", {**status, "by": "supervisor"})


def cancelling(row: dict[str, Any]) -> bool:
    """Whether a live run was asked to stop and is saving its checkpoint (state still starting/running)."""
    if row["state"] not in ("starting", "running"):
        return False
    mark = runfolder.read_json(Path(row["dir"]) / CANCEL_MARK)
    return bool(mark) and float(mark.get("time", 0)) >= (supervisor.epoch_seconds(row.get("started_at")) or 0) - 1


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
            "cancelling": cancelling(row),
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


def detail(run_id: str, *, poll: bool = False) -> dict[str, Any]:
    """One run for its detail view: the row, config, estimate, lineage, checkpoints, log tail, ETA
    (``poll``: mirror active runs' folders first, so a state change shows at once)."""
    if poll and (store.get((run_id or "").strip()) or {}).get("state") in ACTIVE:
        supervisor.refresh()
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
