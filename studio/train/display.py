"""How runs are shown: progress and ETA text, durations, plot-ready curve points, the command preview."""
from __future__ import annotations

import math
from typing import Any

from store import runs as store
from studio.core.i18n import N_, _
from studio.core.labels import label
from studio.train import runs, supervisor
from trainers import launcher

# a run prepared but never started reads "not started" ("created" is also the column of creation times)
MORE_STATES = {"created": N_("not started")}


def state_label(row: dict[str, Any]) -> str:
    """A run's state as people read it: ``cancelling`` while a cancelled run saves its checkpoint."""
    if row.get("cancelling"):
        return label("state", "cancelling")
    state = row.get("state")
    return _(MORE_STATES[state]) if state in MORE_STATES else label("state", state)


def progress_text(row: dict[str, Any]) -> str:
    """``step/total · ETA 1m 20s`` for tables and bars."""
    text = f"{row.get('step') or 0}/{row.get('total') or 0}"
    eta = row.get("eta_s") if "eta_s" in row else runs.eta_seconds(row)
    if eta is not None:
        text += " · " + _("ETA {time}").format(time=format_seconds(eta))
    return text


def format_seconds(s: float) -> str:
    """``45s``, ``1m 20s`` or ``2h 05m`` (rounded up)."""
    s = int(math.ceil(s))
    if s >= 3600:
        return _("{h}h {m}m").format(h=s // 3600, m=f"{s % 3600 // 60:02d}")
    if s >= 60:
        return _("{m}m {s}s").format(m=s // 60, s=f"{s % 60:02d}")
    return _("{s}s").format(s=s)


def command_preview(num_processes: int = 1, deepspeed: bool = False) -> str:
    """The command a run with these launch settings will run (shown on the Train page before start)."""
    folder = runs.runs_dir() / _("<run id>")
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
