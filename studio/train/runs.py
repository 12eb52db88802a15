"""Fine-tune runs: create, start detached, queue, poll and ingest, re-attach, cancel, resume, chain, merge.

The trainer (``trainers/sft.py``) runs in its own process and talks only through its run folder; this
module is the app's side: it writes ``config.json`` and the frozen snapshot into the folder, launches
the process, and on every ``refresh()`` mirrors ``status.json`` and ``metrics.jsonl`` into the ``runs``
and ``run_metrics`` tables (the app is the only database writer).

Decisions:
- The queue runs one run per device at a time: ``cpu``, or the set of CUDA devices a run uses; a run
  whose device is busy waits as ``queued`` and starts on a later ``refresh()`` (the app polls; the CLI
  polls while it follows a run). Queued runs start oldest first.
- A run is alive when its process exists, is not a zombie, runs ``trainers.sft`` or ``accelerate``,
  and its heartbeat is fresher than ``STALE_S``. A process gone without a final state is ``failed``
  with its last log lines; one alive but silent for ``STALE_S`` is stopped and ``failed``.
- Resume starts the same folder again: the trainer continues from its newest checkpoint (optimizer,
  scheduler and step count included). "Train further" is a NEW run that starts from the parent's
  adapter (``from_adapter``), same base and method, recorded as ``parent_run_id``.
- Torch, transformers and peft are imported only inside ``estimate`` and ``merge``.
"""
from __future__ import annotations

import math
import os
import re
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import fields as dc_fields
from datetime import datetime
from pathlib import Path
from typing import Any

from store import db
from store import runs as store
from studio.train import demo_model
from studio.core import settings
from studio.core.errors import Conflict, InputError, NotFound, WorkFailed
from trainers import launcher, runfolder
from trainers import sft

STALE_S = 90.0          # a heartbeat older than this (the trainer beats every 2 s) means a hung process
START_GRACE_S = 120.0   # a just-launched process may take this long to write its first status
ACTIVE = store.ACTIVE
FINAL = runfolder.FINAL

# Method presets. "prefix" is the ChatGLM-6B P-Tuning v2 recipe of the seed (pre_seq_len 128,
# max_source_length 200, max_target_length 256, learning rate 2e-2); "lora" the common r 8 / alpha 16.
PRESETS: dict[str, dict[str, Any]] = {
    "lora": {"method": "lora", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "learning_rate": 2e-4,
             "max_source_length": 200, "max_target_length": 256, "epochs": 3.0, "batch_size": 8},
    "prefix": {"method": "prefix", "pre_seq_len": 128, "prefix_projection": False, "learning_rate": 2e-2,
               "max_source_length": 200, "max_target_length": 256, "epochs": 3.0, "batch_size": 8},
}
PRESET_LABELS = {
    "lora": "LoRA (r 8, alpha 16; lr 2e-4, 5e-3 on the random demo model)",
    "prefix": "P-Tuning v2, ChatGLM recipe (pre_seq_len 128, source 200, target 256, lr 2e-2)",
}
# fields the studio sets itself, never typed by people
MANAGED = ("base_model", "train_file", "validation_file", "from_adapter", "parent_run", "run_id", "method")

# What people read on the Train page; the config name stays visible (in the label or its help) so ML
# engineers can map a field to `--flag` of `python -m studio train` and to config.json.
FIELD_LABELS = {
    "trust_remote_code": "Run the model's own code (trust_remote_code)",
    "device": "Device (auto, cuda, cpu)",
    "max_source_length": "Max prompt tokens",
    "max_target_length": "Max response tokens",
    "lora_r": "LoRA rank (r)",
    "lora_alpha": "LoRA scaling (alpha)",
    "lora_dropout": "LoRA dropout",
    "lora_target_modules": "LoRA target modules (comma-separated, empty = all linear)",
    "pre_seq_len": "Prefix length in virtual tokens (pre_seq_len)",
    "prefix_projection": "Learn the prefix through an MLP (prefix_projection)",
    "learning_rate": "Learning rate",
    "epochs": "Epochs",
    "max_steps": "Max steps (0 = use epochs)",
    "batch_size": "Batch size per device",
    "gradient_accumulation_steps": "Gradient accumulation steps",
    "warmup_ratio": "Warm-up share of steps (warmup_ratio)",
    "lr_scheduler": "Learning-rate schedule (lr_scheduler)",
    "weight_decay": "Weight decay",
    "seed": "Random seed",
    "logging_steps": "Log metrics every N steps",
    "eval_steps": "Evaluate every N steps (0 = about 10 per run)",
    "save_steps": "Save a checkpoint every N steps (0 = about 5 per run)",
    "save_total_limit": "Checkpoints kept on disk",
    "group_by_length": "Batch rows of similar length (group_by_length)",
    "num_processes": "GPUs (num_processes)",
    "deepspeed": "DeepSpeed ZeRO-2 (with several GPUs)",
}
# the settings a domain expert sets (data, base model and method have their own widgets); the rest are
# shown under "Advanced"
BASIC_FIELDS = ("epochs", "max_steps", "learning_rate", "max_source_length", "max_target_length")

_lock = threading.RLock()                    # refresh/start/cancel from the page's threads, one at a time
_children: dict[str, subprocess.Popen] = {}  # processes this process launched (polled: no zombies)
_tokenizers: dict[str, Any] = {}


# ------------------------------------------------------------------------------------ config fields

def config_fields() -> list[dict[str, Any]]:
    """Every editable trainer setting: name, group, default, type and the one-line why of sft.Config."""
    source = Path(sft.__file__).read_text(encoding="utf-8")
    body = source[source.index("class Config"):source.index("def to_json")]
    group, helps, groups = "", {}, {}
    for line in body.splitlines():
        g = re.match(r"\s+# (\w+)", line)
        if g:
            group = g.group(1)
            continue
        m = re.match(r"\s+(\w+): [^=]+=[^#]*#\s*(.+)$", line)
        if m:
            helps[m.group(1)] = m.group(2).strip()
            groups[m.group(1)] = group
    out = []
    for f in dc_fields(sft.Config):
        if f.name in MANAGED:
            continue
        out.append({"name": f.name, "group": groups.get(f.name, ""), "default": f.default,
                    "type": type(f.default).__name__, "help": helps.get(f.name, ""),
                    "label": FIELD_LABELS.get(f.name, f.name.replace("_", " ")),
                    "flag": "--" + f.name.replace("_", "-"), "basic": f.name in BASIC_FIELDS})
    return out


# The tiny demo model starts from random weights: at LoRA's 2e-4 its loss hardly moves in a short demo
# run (10.0 -> 9.97 in 30 steps; at 5e-3 it falls to ~2). Real models keep the presets, and P-Tuning v2
# keeps the seed's ChatGLM recipe everywhere.
DEMO_MODEL_LEARNING_RATE = {"lora": 5e-3}


def preset(method: str, base_model: str | None = None) -> dict[str, Any]:
    """The preset values of a method (every other field keeps the trainer's default); on the demo
    model a learning rate that shows a falling curve in a short run."""
    if method not in PRESETS:
        raise InputError(f"unknown method {method!r}; choose lora or prefix")
    values = dict(PRESETS[method])
    if method in DEMO_MODEL_LEARNING_RATE and base_model and demo_model.is_built(base_model):
        values["learning_rate"] = DEMO_MODEL_LEARNING_RATE[method]
    return values


def base_models() -> list[dict[str, str]]:
    """Local model folders under ``STUDIO_MODELS`` (a ``config.json`` beside weights), the demo model first."""
    root = settings.path("models")
    found = []
    if root.is_dir():
        for cfg in sorted(list(root.glob("*/config.json")) + list(root.glob("*/*/config.json"))):
            folder = cfg.parent
            if any(folder.glob("*.safetensors")) or any(folder.glob("*.bin")):
                demo = (folder / "studio_demo_model.json").exists()
                found.append({"name": folder.relative_to(root).as_posix() + (" (demo)" if demo else ""),
                              "path": str(folder), "demo": demo})
    return sorted(found, key=lambda m: (not m["demo"], m["name"]))


def _check_base_model(base_model: str) -> str:
    base_model = (base_model or "").strip()
    if not base_model:
        raise InputError("choose a base model: a local model folder or a hub id")
    p = Path(base_model).expanduser()
    if p.exists():
        if not (p / "config.json").exists():
            raise InputError("not a model folder (no config.json)", file=str(p))
        return str(p.resolve())
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", base_model) or base_model.startswith("."):
        raise InputError("no such model folder", file=base_model)
    return base_model  # a hub id such as Qwen/Qwen2.5-0.5B-Instruct (needs network)


def _coerce(values: dict[str, Any]) -> dict[str, Any]:
    """Typed values for sft.Config fields (CLI strings and page widgets come in loosely typed)."""
    types = {f.name: type(f.default) for f in dc_fields(sft.Config)}
    out = {}
    for k, v in values.items():
        if v is None:
            continue
        if k not in types:
            raise InputError(f"unknown training setting {k!r}")
        t = types[k]
        try:
            if t is bool and isinstance(v, str):
                v = v.strip().lower() in ("1", "true", "yes", "on")
            elif t is tuple:
                v = tuple(x.strip() for x in v.split(",") if x.strip()) if isinstance(v, str) else tuple(v)
            else:
                v = t(v)
        except (TypeError, ValueError):
            raise InputError(f"{k} must be a {t.__name__}, not {v!r}") from None
        out[k] = v
    return out


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


def prepare(*, base_model: str | None = None, method: str | None = None, snapshot: str | None = None,
            dataset: str | None = None, name: str | None = None, from_run: str | None = None,
            estimate_tokens: bool = True, **settings_: Any) -> dict[str, Any]:
    """Create a run without starting it: folder, frozen snapshot JSONL, config.json, a ``created`` row.

    ``snapshot`` (an id) or ``dataset`` (snapshotted now) names the data; ``from_run`` chains the new
    run on an earlier run's adapter (its base model, method and, by default, its snapshot).
    """
    from studio.data import snapshots

    parent = get(from_run) if from_run else None
    if parent is not None:
        adapter = Path(parent["dir"]) / "adapter"
        if not (adapter / "adapter_config.json").exists():
            raise InputError(f"no adapter to train further from (state {parent['state']})",
                             run_id=parent["id"])
        if method and method != parent["method"]:
            raise InputError(f"it trained a {parent['method']} adapter; a chained run keeps "
                             f"the method", run_id=parent["id"])
        if base_model and _check_base_model(base_model) != parent["base_model"]:
            raise InputError(f"it was trained on {parent['base_model']}; a chained run keeps "
                             f"its base model", run_id=parent["id"])
        method, base_model = parent["method"], parent["base_model"]
        if not snapshot and not dataset:
            snapshot = parent["snapshot_id"]
    method = method or "lora"
    values = {**preset(method, base_model), **_coerce(settings_)}
    base_model = _check_base_model(base_model or "")
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
        written = snapshots.write_jsonl(snap["id"], folder)
        try:
            cfg = sft.make_config(**{**values, "base_model": base_model, "method": method, "run_id": run_id,
                                     "train_file": "train.jsonl",
                                     "validation_file": "validation.jsonl" if written["n_validation"] else "",
                                     "from_adapter": str(Path(parent["dir"]).resolve() / "adapter") if parent else "",
                                     "parent_run": parent["id"] if parent else ""})
        except (ValueError, TypeError) as err:
            raise InputError(str(err)) from None
        runfolder.write_json_atomic(folder / "config.json", cfg.to_json())
        est = estimate_for(cfg, folder) if estimate_tokens else \
            {"n_train": written["n_train"], "steps": sft.planned_steps(written["n_train"], cfg)}
        cmd = launcher.command(folder / "config.json", num_processes=cfg.num_processes, deepspeed=cfg.deepspeed)
        with db.transaction() as cur:
            store.insert({"id": run_id, "name": name or f"{method} · {snap['name']}", "base_model": base_model,
                          "method": method, "config": cfg.to_json(), "snapshot_id": snap["id"],
                          "parent_run_id": parent["id"] if parent else None, "dir": str(folder.resolve()),
                          "command": launcher.shown(cmd), "state": "created", "total": est["steps"],
                          "device": device_of(cfg), "estimate": est}, cur=cur)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # nothing half-made stays behind
        raise
    return get(run_id)


def submit(**kwargs: Any) -> dict[str, Any]:
    """Create a run and start it (or queue it behind the run on its device)."""
    return start(prepare(**kwargs)["id"])


# ------------------------------------------------------------------------------------------ estimate

def _tokenizer(cfg: sft.Config):
    key = f"{cfg.base_model}|{cfg.trust_remote_code}"
    if key not in _tokenizers:
        _tokenizers[key] = sft.load_tokenizer(cfg)
    return _tokenizers[key]


def estimate_for(cfg: sft.Config, folder: Path) -> dict[str, Any]:
    """Tokens and steps of a prepared run: its train split tokenized as the trainer will."""
    samples = sft.read_jsonl(sft.resolve(folder, cfg.train_file))
    return _estimate(cfg, samples)


def _estimate(cfg: sft.Config, samples: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        rows = sft.encode(samples, _tokenizer(cfg), cfg)
    except (OSError, ValueError) as err:
        raise InputError(f"cannot load the tokenizer of {cfg.base_model}: {str(err).splitlines()[0]}") from None
    n = len(rows)
    lengths = [r["length"] for r in rows]
    per_epoch = sum(lengths)
    trained = sum(sum(1 for x in r["labels"] if x != sft.IGNORE) for r in rows)
    steps = sft.planned_steps(n, cfg)
    rows_seen = steps * cfg.batch_size * cfg.gradient_accumulation_steps * cfg.num_processes
    return {"n_train": n, "tokens_per_epoch": per_epoch, "response_tokens_per_epoch": trained,
            "mean_length": round(per_epoch / n, 1) if n else 0, "max_length": max(lengths, default=0),
            "steps": steps, "epochs": round(rows_seen / n, 2) if n else 0,
            "tokens_total": int(per_epoch * rows_seen / n) if n else 0}


def estimate(*, base_model: str, method: str = "lora", snapshot: str | None = None,
             dataset: str | None = None, **settings_: Any) -> dict[str, Any]:
    """Before start: tokens per epoch, steps and total tokens for this data, model and settings."""
    from studio.data import snapshots

    if not snapshot and not dataset:
        raise InputError("choose the training data: a snapshot, or a dataset to snapshot")
    snap = snapshots.get(snapshot) if snapshot else snapshots.create(dataset)
    try:
        cfg = sft.make_config(**{**preset(method, base_model), **_coerce(settings_),
                                 "base_model": _check_base_model(base_model),
                                 "method": method})
    except (ValueError, TypeError) as err:
        raise InputError(str(err)) from None
    samples = [snapshots.record(s) for s in snapshots.samples(snap["id"], "train")]
    return {**_estimate(cfg, samples), "snapshot": snap["id"], "n_validation": snap["n_validation"]}


# --------------------------------------------------------------------------------- start and queue

def _epoch(ts) -> float | None:
    return ts.timestamp() if isinstance(ts, datetime) else None


def _busy(device: str, exclude: str | None = None) -> bool:
    return any(r["id"] != exclude and r["state"] in ("starting", "running") and _overlap(r["device"] or "cpu", device)
               for r in store.active())


def start(run_id: str) -> dict[str, Any]:
    """Start a created, failed or cancelled run now, or queue it when its device is busy."""
    with _lock:
        refresh()
        row = get(run_id)
        if row["state"] in ACTIVE:
            raise Conflict(f"the run is already {row['state']}", run_id=run_id)
        if row["state"] == "done":
            raise Conflict("the run is done; use 'train further' to continue from its adapter", run_id=run_id)
        if _busy(row["device"] or "cpu", exclude=run_id) or any(
                r["state"] == "queued" and r["id"] != run_id and _overlap(r["device"] or "cpu", row["device"] or "cpu")
                and r["created_at"] < row["created_at"] for r in store.active()):
            store.update(run_id, state="queued", error=None)
        else:
            _launch(row)
        return get(run_id)


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


def _last_losses(run_dir: str) -> dict[str, Any]:
    return sft.summary(Path(run_dir))


def _sync(row: dict[str, Any], now: float) -> None:
    """Mirror one active run's folder into its row; decide whether its process is alive."""
    run_id, folder = row["id"], Path(row["dir"])
    status = runfolder.read_status(folder)
    launched = _epoch(row.get("started_at"))
    if status and launched and float(status.get("heartbeat", 0)) < launched - 1:
        status = None  # left over from an earlier attempt (before a resume)
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
            store.update(run_id, cur=cur, **values)
            return
        alive = _alive(run_id, [row.get("pid"), (status or {}).get("pid")])
        age = runfolder.heartbeat_age(status, now)
        if age is None:
            age = now - (launched or now)
            limit = START_GRACE_S
        else:
            limit = STALE_S
        losses = _last_losses(row["dir"])
        if alive and age <= limit:
            values.update(state=(status or {}).get("state") if (status or {}).get("state") in ("starting", "running")
                          else row["state"], final_loss=losses["final_loss"], eval_loss=losses["eval_loss"])
            store.update(run_id, cur=cur, **values)
            return
        if alive:  # hung: no heartbeat for too long
            launcher.stop(int((status or {}).get("pid") or row["pid"]), 9)
            reason = f"no heartbeat for {age:.0f} s; the process was stopped"
        else:
            reason = "the trainer process ended without a final state (killed, or out of memory?)"
        last = runfolder.tail(folder / "log.txt", 8)
        values.update(state="failed", error=f"{reason}; last log lines:\n{last}" if last else reason,
                      final_loss=losses["final_loss"], eval_loss=losses["eval_loss"], finished_at=datetime.now())
        store.update(run_id, cur=cur, **values)


def refresh() -> list[dict[str, Any]]:
    """Poll every active run's folder into the database, mark dead runs failed, start queued runs.

    Called by the pages (and on app start: re-attach), by ``studio runs`` and while the CLI follows a run.
    """
    with _lock:
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


# ------------------------------------------------------------------------------------------ actions

def cancel(run_id: str) -> dict[str, Any]:
    """Stop a run: a queued run is cancelled at once; a running one gets SIGTERM (checkpoint, then cancelled)."""
    with _lock:
        refresh()
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
    with _lock:
        refresh()
        row = get(run_id)
        if row["state"] not in ("failed", "cancelled"):
            raise Conflict(f"the run is {row['state']}; only failed or cancelled runs resume", run_id=run_id)
        store.update(run_id, resumes=int(row.get("resumes") or 0) + 1)
        return start(run_id)


def train_further(run_id: str, **kwargs: Any) -> dict[str, Any]:
    """A new run that starts from this run's adapter (same base and method), started at once."""
    return submit(from_run=run_id, **kwargs)


def merge(run_id: str, out: str | None = None) -> dict[str, Any]:
    """Merge a done LoRA run into its base model and save the result (DreamerGPT's merge step)."""
    row = get(run_id)
    adapter = Path(row["dir"]) / "adapter"
    if row["method"] != "lora":
        raise InputError("only LoRA adapters merge into the base; a P-Tuning v2 prefix stays an adapter",
                         run_id=run_id)
    if not (adapter / "adapter_config.json").exists():
        raise InputError(f"the run has no adapter yet (state {row['state']})", run_id=run_id)
    target = Path(out).expanduser() if out else settings.path("models") / f"{run_id}-merged"
    if target.exists() and any(target.iterdir()):
        raise Conflict("already exists and is not empty; choose another folder", file=str(target))
    cfg = sft.load_config(Path(row["dir"]) / "config.json")
    import torch  # noqa: F401  (heavy imports only here)
    from peft import PeftModel

    _, _, dtype = sft.pick_device(cfg)
    base = sft.load_base(cfg, dtype)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    target.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(target))
    tokenizer = sft.load_tokenizer(cfg)
    tokenizer.padding_side = "left"  # ready for batched generation
    tokenizer.save_pretrained(str(target))
    runfolder.write_json_atomic(target / "studio_merged.json", {
        "run": run_id, "base_model": row["base_model"], "adapter": str(adapter),
        "parent_run": row.get("parent_run_id"), "snapshot": row.get("snapshot_id")})
    return {"run": run_id, "out": str(target)}


# ------------------------------------------------------------------------------------------ reading

def eta_seconds(row: dict[str, Any], metrics: list[dict[str, Any]] | None = None) -> float | None:
    """Seconds left, from the pace of the current attempt's logged steps."""
    if row["state"] not in ("starting", "running") or not row.get("total"):
        return None
    metrics = metrics if metrics is not None else runfolder.read_metrics(row["dir"])
    since = _epoch(row.get("started_at")) or 0
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
        refresh()
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


def progress_text(row: dict[str, Any]) -> str:
    """``step/total · ETA 1m 20s`` for tables and bars."""
    text = f"{row.get('step') or 0}/{row.get('total') or 0}"
    eta = row.get("eta_s") if "eta_s" in row else eta_seconds(row)
    if eta is not None:
        text += f" · ETA {format_seconds(eta)}"
    return text


def format_seconds(s: float) -> str:
    s = int(math.ceil(s))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


def command_preview(num_processes: int = 1, deepspeed: bool = False) -> str:
    """The command a run with these launch settings will run (shown on the Train page before start)."""
    folder = runs_dir() / "<run id>"
    return launcher.shown(launcher.command(folder / "config.json", num_processes=num_processes, deepspeed=deepspeed))


def curve_points(run_ids: list[str]) -> list[dict[str, Any]]:
    """Plot-ready points (run, step, kind loss|eval_loss, value) of some runs, polling active runs first."""
    if any(store.get(r) and store.get(r)["state"] in ACTIVE for r in run_ids):
        refresh()
    out = []
    for m in curves(run_ids):
        for kind in ("loss", "eval_loss"):
            if m.get(kind) is not None:
                out.append({"run": m["run_id"], "step": m["step"], "kind": kind, "value": m[kind]})
    return out
