"""Where model work runs: the machine's devices, which of them are free, and where queued work will go.

All model work takes devices from one pool: fine-tunes (trainer processes, ``studio.train.supervisor``)
and the server's model jobs (compare, exam evaluation, merge: ``studio.service.supervisor``).
- CPU only: one slot, ``cpu``. A model job waits while a fine-tune trains, and the other way round.
- GPUs: each GPU is a slot. A run that needs n processes gets n free GPUs (``CUDA_VISIBLE_DEVICES=i,j``),
  so runs on different GPUs train side by side; a model job takes one free GPU (``cuda:i`` in-process).
- What is busy is read from the database (runs starting or running, model jobs running), so a restarted
  server sees the same picture. Queued work is placed oldest first; a run that needs more GPUs than are
  free waits, and so does everything queued after it for those GPUs (no starvation of big runs).

A run's ``device`` column holds what it needs while it waits (``cpu`` or ``cuda*N``) and where it runs
once launched (``cpu`` or ``cuda:1,3``). ``STUDIO_GPUS`` names the GPUs the studio may use (``2,3``, or
``none``); by default every GPU ``nvidia-smi -L`` lists.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Iterable

CPU = "cpu"
assigned: ContextVar[str | None] = ContextVar("studio_device", default=None)  # a model job's device


@lru_cache(maxsize=1)
def _listed_gpus() -> tuple[str, ...]:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return ()
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(str(i) for i, line in enumerate(l for l in out.splitlines() if l.startswith("GPU ")))


def gpus() -> list[str]:
    """The GPU ids the studio may use: ``STUDIO_GPUS`` when set, else those ``nvidia-smi -L`` lists."""
    declared = os.environ.get("STUDIO_GPUS", "").strip()
    if declared:
        return [] if declared.lower() in ("none", "cpu", "0-") else [g.strip() for g in declared.split(",")
                                                                    if g.strip()]
    return list(_listed_gpus())


def requirement(device: str, num_processes: int) -> str:
    """What a run with this config needs: ``cpu`` or ``cuda*N``."""
    if device == CPU or not gpus():
        return CPU
    return f"cuda*{max(1, int(num_processes))}"


def needs(device: str | None) -> tuple[str, int]:
    """('cpu', 0) or ('cuda', n) from a requirement (``cuda*2``) or a placement (``cuda:1,3``)."""
    device = device or CPU
    if device.startswith("cuda*"):
        return "cuda", int(device[5:] or 1)
    if device.startswith("cuda:"):
        return "cuda", len(device[5:].split(","))
    if device == "cuda":
        return "cuda", 1
    return CPU, 0


def slots_of(placement: str | None) -> set[str]:
    """The slots a placement holds: {'cpu'} or the GPU ids."""
    if not placement or placement.startswith("cuda*"):
        return set()
    if placement.startswith("cuda:"):
        return set(placement[5:].split(","))
    return {CPU}


def busy() -> set[str]:
    """Slots held now by running fine-tunes and running model jobs."""
    from store import jobs as job_store
    from store import runs as run_store

    held: set[str] = set()
    for row in run_store.active():
        if row["state"] in ("starting", "running"):
            held |= slots_of(row["device"] or CPU)
    for device in job_store.devices_in_use():
        held |= slots_of(device)
    return held


def place(need: str, taken: Iterable[str]) -> str | None:
    """Where work that needs ``need`` can run now, given the ``taken`` slots; None when it must wait."""
    kind, n = needs(need)
    taken = set(taken)
    if kind == CPU or not gpus():
        return None if CPU in taken else CPU
    free = [g for g in gpus() if g not in taken]
    return "cuda:" + ",".join(free[:n]) if len(free) >= n else None


def forecast(queued: list[dict[str, Any]], taken: Iterable[str] | None = None) -> dict[Any, str | None]:
    """Where each queued item (oldest first, with ``id`` and ``device``) will run when the queue next moves:
    a placement, or None for "waits for a device to free up"."""
    taken = set(busy() if taken is None else taken)
    plan: dict[Any, str | None] = {}
    blocked = False
    for item in queued:
        spot = None if blocked else place(item.get("device") or CPU, taken)
        plan[item["id"]] = spot
        if spot is None:
            blocked = True  # first come, first served: nothing overtakes a run that waits for devices
        else:
            taken |= slots_of(spot)
    return plan


def waiting(model_jobs: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Everything waiting for a device, oldest first: queued fine-tunes (``id`` ('run', RUN_ID)) and the
    queued model jobs given (``id`` ('job', JOB_ID)); the one queue both supervisors place from."""
    from store import runs as run_store

    items = [{"id": ("run", r["id"]), "device": r["device"] or CPU, "created_at": r["created_at"]}
             for r in run_store.active() if r["state"] == "queued"]
    items += [{"id": ("job", j["id"]), "device": requirement("auto", 1), "created_at": j["created_at"]}
              for j in model_jobs or []]
    return sorted(items, key=lambda item: (item["created_at"], str(item["id"])))


def torch_device() -> str:
    """The torch device for in-process model work: the job's placement (``cuda:2``), else cuda/cpu."""
    spot = assigned.get()
    if spot and spot.startswith("cuda:"):
        return "cuda:" + spot[5:].split(",")[0]
    if spot == CPU:
        return CPU
    import torch

    return "cuda" if torch.cuda.is_available() else CPU
