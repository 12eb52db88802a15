"""Trainer processes: the device queue, launching, and mirroring each run folder into the database.

The trainer (``trainers/sft.py``) runs in its own process and talks only through its run folder; on
every ``refresh()`` this module mirrors ``status.json`` and ``metrics.jsonl`` into the ``runs`` and
``run_metrics`` tables (the app is the only database writer) and starts queued runs.

Decisions:
- The device queue (``studio.train.devices``): a run waits as ``queued`` until the devices it needs are
  free (one ``cpu`` slot, or N free GPUs placed at launch with ``CUDA_VISIBLE_DEVICES``), in one line with
  the server's model jobs; it starts on a later ``refresh()`` / ``advance()`` (the server's supervisor
  every 2 s; the CLI while it follows a run). Oldest first.
- A run is alive when its process exists, is not a zombie, runs ``trainers.sft`` or ``accelerate``,
  and its heartbeat is fresher than ``STALE_S``. A process gone without a final state is ``failed``
  with its last log lines; one alive but silent for ``STALE_S`` is stopped and ``failed``.
"""
from __future__ import annotations

import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from store import db
from store import runs as store
from studio.core import settings
from studio.core.i18n import _
from studio.train import devices
from trainers import launcher, runfolder, sft

STALE_S = 90.0          # a heartbeat older than this (the trainer beats every 2 s) means a hung process
START_GRACE_S = 120.0   # a just-launched process may take this long to write its first status
FINAL = runfolder.FINAL

lock = threading.RLock()                     # refresh/start/cancel from the page's threads, one at a time
_children: dict[str, subprocess.Popen] = {}  # processes this process launched (polled: no zombies)
_steps: dict[str, tuple[int, float]] = {}     # run id -> (last step seen, when it last changed)
_exit_codes: dict[str, int] = {}              # run id -> exit status of a child that ended (negative: signal)


# ------------------------------------------------------------------------------------------ devices

def gpu_count() -> int:
    """GPUs the studio may use (``STUDIO_GPUS``, else ``nvidia-smi -L``; no torch import)."""
    return len(devices.gpus())


def device_of(cfg: sft.Config, gpus: int | None = None) -> str:
    """What a run needs while it waits: ``cpu`` or ``cuda*N`` (where it runs is decided at launch)."""
    if gpus == 0:
        return devices.CPU
    return devices.requirement(cfg.device, cfg.num_processes)


def epoch_seconds(ts) -> float | None:
    """A database timestamp as seconds since the epoch (None when unset)."""
    return ts.timestamp() if isinstance(ts, datetime) else None


# -------------------------------------------------------------------------------- launch and queue

def launch_or_queue(row: dict[str, Any]) -> None:
    """Put a run in the device queue and start whatever can start: it launches now when devices are free
    and nothing older waits for them, else it stays ``queued``."""
    store.update(row["id"], state="queued", error=None)
    with lock:
        advance()


def _launch(row: dict[str, Any], spot: str) -> None:
    folder = Path(row["dir"])
    cfg = sft.load_config(folder / "config.json")
    cmd = launcher.command(folder / "config.json", num_processes=cfg.num_processes, deepspeed=cfg.deepspeed)
    gpus = spot.split(":", 1)[1] if spot.startswith("cuda:") else ""
    proc = launcher.launch(cmd, folder, gpus=gpus)
    _children[row["id"]] = proc
    store.update(row["id"], state="starting", pid=proc.pid, command=launcher.shown(cmd), error=None,
                 device=spot, started_at=datetime.now(), finished_at=None, heartbeat=None)


def advance(model_jobs: list[dict[str, Any]] | None = None) -> dict[int, str | None]:
    """Start the queued runs the device queue places now (oldest first, with the queued ``model_jobs`` of
    the server in the same line); return where each of those model jobs goes (None: it waits)."""
    plan = devices.forecast(devices.waiting(model_jobs))
    queued = {r["id"]: r for r in store.active() if r["state"] == "queued"}
    for (what, key), spot in plan.items():
        if what == "run" and spot is not None and key in queued:
            _launch(queued[key], spot)
    return {key: spot for (what, key), spot in plan.items() if what == "job"}


def planned() -> dict[str, str | None]:
    """Where each queued run will go when the queue next moves (None: it waits for a device)."""
    return {key: spot for (what, key), spot in devices.forecast(devices.waiting()).items() if what == "run"}


# ---------------------------------------------------------------------------- poll, ingest, re-attach

def _alive(run_id: str, pids: list[int]) -> bool:
    """Whether the run's process still runs (reaping our own children, ignoring zombies and reused pids)."""
    proc = _children.get(run_id)
    if proc is not None:
        if proc.poll() is None:
            return True
        _children.pop(run_id, None)
        _exit_codes[run_id] = proc.returncode
    import psutil

    for pid in {p for p in pids if p}:
        try:
            p = psutil.Process(pid)
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(p.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if "trainers.sft" in cmdline or "accelerate" in cmdline:
            return True
    return False


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


def _ingest_metrics(row: dict[str, Any], cur) -> None:
    path = Path(row["dir"]) / "metrics.jsonl"
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    if size == (row.get("metrics_bytes") or 0):
        return
    store.replace_metrics(row["id"], runfolder.read_metrics(row["dir"]), cur=cur)
    store.update(row["id"], metrics_bytes=size, cur=cur)


def _sync(row: dict[str, Any], now: float) -> None:
    """Mirror one active run's folder into its row; decide whether its process is alive."""
    run_id = row["id"]
    status = runfolder.read_status(row["dir"])
    launched = epoch_seconds(row.get("started_at"))
    if status and launched and float(status.get("heartbeat", 0)) < launched - 1:
        status = None  # left over from an earlier attempt (before a resume)
    if status and status.get("by") == "supervisor":
        status = None  # our own note that an earlier attempt died: the new trainer has not written yet
    with db.transaction() as cur:
        _ingest_metrics(row, cur)
        if row["state"] == "queued":
            return
        values: dict[str, Any] = {}
        if status:
            values.update(step=int(status.get("step") or 0), total=int(status.get("total") or row["total"] or 0),
                          heartbeat=datetime.fromtimestamp(float(status["heartbeat"])))
        if status and status.get("state") in FINAL:
            proc = _children.pop(run_id, None)
            if proc is not None:
                proc.poll()
            values.update(state=status["state"], error=status.get("error"),
                          final_loss=status.get("final_loss"), eval_loss=status.get("eval_loss"),
                          finished_at=datetime.fromtimestamp(float(status.get("finished") or now)))
        else:
            values.update(_live_or_failed(row, status, launched, now))
        store.update(run_id, cur=cur, **values)
    if values.get("state") == "failed" and (status or {}).get("state") != "failed":
        # the trainer cannot say it died: the run folder says so too, for whoever reads it without the db
        runfolder.write_json_atomic(Path(row["dir"]) / "status.json",
                                    {**(status or {}), "state": "failed", "by": "supervisor",
                                     "error": values.get("error"),
                                     "step": values.get("step", (status or {}).get("step")), "finished": now})


def _live_or_failed(row: dict[str, Any], status: dict[str, Any] | None, launched: float | None,
                    now: float) -> dict[str, Any]:
    """The row values of a run without a final state: still live, or failed (stopped when hung)."""
    alive = _alive(row["id"], [row.get("pid"), (status or {}).get("pid")])
    age = runfolder.heartbeat_age(status, now)
    if age is None:
        age = now - (launched or now)
        limit = START_GRACE_S
    else:
        limit = STALE_S
    losses = sft.summary(Path(row["dir"]))
    if alive and age <= limit:
        state = (status or {}).get("state")
        return {"state": state if state in ("starting", "running") else row["state"],
                "error": _stalled(row["id"], status, now), "final_loss": losses["final_loss"],
                "eval_loss": losses["eval_loss"]}
    if alive:  # hung: no heartbeat for too long
        launcher.stop(int((status or {}).get("pid") or row["pid"]), 9)
        reason = _("no heartbeat for {seconds} s; the process was stopped").format(seconds=f"{age:.0f}")
    else:
        reason = _("the trainer process ended without a final state (killed, or out of memory?)")
        code = _exit_codes.pop(row["id"], None)
        if code is not None and code < 0:
            reason = _("the trainer process was killed by signal {number} ({name})").format(
                number=-code, name=_signal_name(-code))
    last = runfolder.tail(Path(row["dir"]) / "log.txt", 8)
    return {"state": "failed", "error": _("{reason}; last log lines:").format(reason=reason) + f"\n{last}"
            if last else reason,
            "step": _last_step(row["dir"], status), "final_loss": losses["final_loss"],
            "eval_loss": losses["eval_loss"], "finished_at": datetime.now()}


def _stalled(run_id: str, status: dict[str, Any] | None, now: float) -> str | None:
    """"stalled: …" when a live trainer has made no training step for ``STUDIO_STALL_AFTER_S`` (its heartbeat
    beats from a thread, so a hung training loop still looks alive), else None."""
    step = int((status or {}).get("step") or 0)
    seen = _steps.get(run_id)
    if seen is None or seen[0] != step or (status or {}).get("state") != "running":
        _steps[run_id] = (step, now)
        return None
    after = float(settings.get("stall_after_s") or 0)
    idle = now - seen[1]
    if after and idle > after:
        return _("stalled: no training step for {minutes} min at step {step}, though the process is alive; "
                 "look at its log, or cancel it").format(minutes=f"{idle / 60:.0f}", step=step)
    return None


def _last_step(run_dir: str, status: dict[str, Any] | None) -> int:
    """The furthest step a dead run is known to have reached: ``status.json`` beats every 2 s, so its step
    can trail the last logged metrics or the last checkpoint written before the process died."""
    steps = [int((status or {}).get("step") or 0)]
    steps += [int(m["step"]) for m in runfolder.read_metrics(run_dir)[-1:] if m.get("step") is not None]
    ckpt = runfolder.last_checkpoint(run_dir)
    if ckpt is not None:
        steps.append(int(ckpt.name.rsplit("-", 1)[-1]))
    return max(steps)


def refresh(advance_queue: bool = True) -> list[dict[str, Any]]:
    """Poll every active run's folder into the database, mark dead runs failed, start queued runs.

    Called by the server's supervisor every 2 s (which advances the queue itself, with its model jobs in
    line: ``advance_queue=False``), on server start (re-attach), by ``studio runs`` and while the CLI
    follows a run.
    """
    with lock:
        now = time.time()
        for row in store.active():
            _sync(row, now)
        if advance_queue:
            advance()
        # a run that just ended: ingest its last metrics lines once more
        for row in store.list_all()[:50]:
            if row["state"] in FINAL:
                with db.transaction() as cur:
                    _ingest_metrics(row, cur)
        return store.active()


reattach = refresh  # on app start: live runs keep running, dead ones are marked failed
