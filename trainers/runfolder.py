"""The run folder protocol: how a trainer process and the app talk without a database.

A run is a folder ``runs/<id>/``:

- ``config.json``      the frozen trainer config (written by the app, read by the trainer)
- ``status.json``      state, pid, step, total, heartbeat, error; rewritten atomically (tmp + rename)
- ``metrics.jsonl``    one JSON object per log event: step, epoch, time and either loss, learning_rate,
                       tokens_per_s or eval_loss, eval_rows, eval_seconds, train_seconds (training
                       time so far, evaluation excluded); appended, readable at any moment, even after
                       SIGKILL
- ``checkpoint-N/``    Trainer checkpoints (optimizer, scheduler, RNG) with ``config.json`` inside
- ``adapter/``         the final peft adapter (``save_pretrained``)
- ``log.txt``          stdout and stderr of the process
- ``cancel_requested.json``  written by the app when it sends SIGTERM (the run shows ``cancelling`` until the
                       trainer ends); removed when the run starts again

Only the standard library here: the app imports it on every poll.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

STATES = ("queued", "starting", "running", "done", "failed", "cancelled")
FINAL = ("done", "failed", "cancelled")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def write_json_atomic(path: str | Path, data: dict[str, Any]) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: str | Path) -> dict[str, Any] | None:
    """A JSON file as a dict, or None when missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_status(run_dir: str | Path) -> dict[str, Any] | None:
    """The run's ``status.json``, or None before the trainer wrote one."""
    return read_json(Path(run_dir) / "status.json")


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every complete line of ``metrics.jsonl`` (a line being written is skipped)."""
    path = Path(run_dir) / "metrics.jsonl"
    out = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return out
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # the last line may be half-written
    return out


def append_metric(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Append one metrics line (one write call, flushed: readers never see a torn line)."""
    with open(Path(run_dir) / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record, ensure_ascii=False) + "\n")
        f.flush()


def truncate_metrics(run_dir: str | Path, last_step: int) -> None:
    """Drop metrics logged after ``last_step`` (a resumed run repeats those steps)."""
    kept = [m for m in read_metrics(run_dir) if int(m.get("step", 0)) <= last_step]
    path = Path(run_dir) / "metrics.jsonl"
    tmp = path.with_name(".metrics.jsonl.tmp")
    tmp.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in kept), encoding="utf-8")
    os.replace(tmp, path)


def checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's Trainer checkpoints, oldest step first (only complete ones: trainer_state.json)."""
    found = []
    for p in Path(run_dir).glob("checkpoint-*"):
        m = _CHECKPOINT.match(p.name)
        if m and p.is_dir() and (p / "trainer_state.json").exists():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def last_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    found = checkpoints(run_dir)
    return found[-1] if found else None


def tail(path: str | Path, lines: int = 20, max_bytes: int = 64_000) -> str:
    """The last ``lines`` lines of a text file (empty when missing)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def heartbeat_age(status: dict[str, Any] | None, now: float | None = None) -> float | None:
    """Seconds since the trainer last rewrote its status, or None without a status."""
    if not status or "heartbeat" not in status:
        return None
    return (now or time.time()) - float(status["heartbeat"])
