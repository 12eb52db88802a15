"""How runs are shown: progress and ETA text, durations, plot-ready curve points, the command preview."""
from __future__ import annotations

import math
from typing import Any

from store import runs as store
from studio.train import runs, supervisor
from trainers import launcher


def progress_text(row: dict[str, Any]) -> str:
    """``step/total · ETA 1m 20s`` for tables and bars."""
    text = f"{row.get('step') or 0}/{row.get('total') or 0}"
    eta = row.get("eta_s") if "eta_s" in row else runs.eta_seconds(row)
    if eta is not None:
        text += f" · ETA {format_seconds(eta)}"
    return text


def format_seconds(s: float) -> str:
    """``45s``, ``1m 20s`` or ``2h 05m`` (rounded up)."""
    s = int(math.ceil(s))
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"


def command_preview(num_processes: int = 1, deepspeed: bool = False) -> str:
    """The command a run with these launch settings will run (shown on the Train page before start)."""
    folder = runs.runs_dir() / "<run id>"
    return launcher.shown(launcher.command(folder / "config.json", num_processes=num_processes, deepspeed=deepspeed))


def curve_points(run_ids: list[str]) -> list[dict[str, Any]]:
    """Plot-ready points (run, step, kind loss|eval_loss, value) of some runs, polling active runs first."""
    if any(store.get(r) and store.get(r)["state"] in store.ACTIVE for r in run_ids):
        supervisor.refresh()
    out = []
    for m in runs.curves(run_ids):
        for kind in ("loss", "eval_loss"):
            if m.get(kind) is not None:
                out.append({"run": m["run_id"], "step": m["step"], "kind": kind, "value": m[kind]})
    return out
