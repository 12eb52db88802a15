"""Trainer processes: the device queue, launching, and mirroring each run folder into the database.

The trainer (``trainers/sft.py``) runs in its own process and talks only through its run folder; on
every ``refresh()`` this module mirrors ``status.json`` and ``metrics.jsonl`` into the ``runs`` and
``run_metrics`` tables (the app is the only database writer) and starts queued runs.

Decisions:
- The queue runs one run per device at a time: ``cpu``, or the set of CUDA devices a run uses; a run
  whose device is busy waits as ``queued`` and starts on a later ``refresh()`` (the app polls; the CLI
  polls while it follows a run). Queued runs start oldest first.
- A run is alive when its process exists, is not a zombie, runs ``trainers.sft`` or ``accelerate``,
  and its heartbeat is fresher than ``STALE_S``. A process gone without a final state is ``failed``
  with its last log lines; one alive but silent for ``STALE_S`` is stopped and ``failed``.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from store import db
from store import runs as store
from studio.core import settings
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
    """CUDA devices on this machine (``nvidia-smi -L``; no torch import)."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return 0
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in out.splitlines() if line.startswith("GPU "))


def device_of(cfg: sft.Config, gpus: int | None = None) -> str:
    """The device key a run occupies: ``cpu`` or ``cuda:0,1``."""
    gpus = gpu_count() if gpus is None else gpus
    if cfg.device == "cpu" or gpus == 0:
        return "cpu"
    n = max(1, min(cfg.num_processes, gpus))
    return "cuda:" + ",".join(str(i) for i in range(n))


def _overlap(a: str, b: str) -> bool:
    if a == "cpu" or b == "cpu":
        return a == b
    return bool(set(a.split(":", 1)[1].split(",")) & set(b.split(":", 1)[1].split(",")))


def epoch_seconds(ts) -> float | None:
    """A database timestamp as seconds since the epoch (None when unset)."""
    return ts.timestamp() if isinstance(ts, datetime) else None


# -------------------------------------------------------------------------------- launch and queue

def _busy(device: str, exclude: str | None = None) -> bool:
    return any(r["id"] != exclude and r["state"] in ("starting", "running") and _overlap(r["device"] or "cpu", device)
               for r in store.active())


def launch_or_queue(row: dict[str, Any]) -> None:
    """Launch a run now, or mark it ``queued`` when its device is busy or an older run waits for it."""
    device = row["device"] or "cpu"
    if _busy(device, exclude=row["id"]) or any(
            r["state"] == "queued" and r["id"] != row["id"] and _overlap(r["device"] or "cpu", device)
            and r["created_at"] < row["created_at"] for r in store.active()):
        store.update(row["id"], state="queued", error=None)
    else:
        _launch(row)


def _launch(row: dict[str, Any]) -> None:
    folder = Path(row["dir"])
    cfg = sft.load_config(folder / "config.json")
    cmd = launcher.command(folder / "config.json", num_processes=cfg.num_processes, deepspeed=cfg.deepspeed)
    device = row["device"] or "cpu"
    gpus = device.split(":", 1)[1] if device.startswith("cuda:") else ""
    proc = launcher.launch(cmd, folder, gpus=gpus)
    _children[row["id"]] = proc
    store.update(row["id"], state="starting", pid=proc.pid, command=launcher.shown(cmd), error=None,
                 started_at=datetime.now(), finished_at=None, heartbeat=None)


def _advance_queue() -> None:
    busy = [r["device"] or "cpu" for r in store.active() if r["state"] in ("starting", "running")]
    for r in store.active():
        if r["state"] != "queued":
            continue
        device = r["device"] or "cpu"
        if any(_overlap(device, b) for b in busy):
            continue
        _launch(r)
        busy.append(device)


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
        reason = f"no heartbeat for {age:.0f} s; the process was stopped"
    else:
        reason = "the trainer process ended without a final state (killed, or out of memory?)"
        code = _exit_codes.pop(row["id"], None)
        if code is not None and code < 0:
            reason = f"the trainer process was killed by signal {-code} ({_signal_name(-code)})"
    last = runfolder.tail(Path(row["dir"]) / "log.txt", 8)
    return {"state": "failed", "error": f"{reason}; last log lines:\n{last}" if last else reason,
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
        return (f"stalled: no training step for {idle / 60:.0f} min at step {step}, though the process is alive; "
                f"look at its log, or cancel it")
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


def refresh() -> list[dict[str, Any]]:
    """Poll every active run's folder into the database, mark dead runs failed, start queued runs.

    Called by the pages (and on app start: re-attach), by ``studio runs`` and while the CLI follows a run.
    """
    with lock:
        now = time.time()
        for row in store.active():
            _sync(row, now)
        _advance_queue()
        # a run that just ended: ingest its last metrics lines once more
        for row in store.list_all()[:50]:
            if row["state"] in FINAL:
                with db.transaction() as cur:
                    _ingest_metrics(row, cur)
        return store.active()


reattach = refresh  # on app start: live runs keep running, dead ones are marked failed
