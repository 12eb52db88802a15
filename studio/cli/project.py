"""Project-wide commands: status, init, serve, jobs, demo-model."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from studio.cli import command
from studio.core.i18n import _

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(sub, groups) -> None:
    p = command(sub, "status", _status, _("counts per dataset and the recent runs (as on the Home page)"))
    p.set_defaults(render=_render_status)
    command(sub, "init", _init, _("create and migrate the database, build the demo model, load the demo project"))
    p = command(sub, "serve", _serve, _("run the studio: pages, /api/v1 and the supervisor of background work "
                                        "(make run); the CLI then sends its commands to this server"))
    p.add_argument("--host", default="127.0.0.1", help=_("address to listen on (default 127.0.0.1, loopback only)"))
    p.add_argument("--port", type=int, default=int(os.environ.get("STUDIO_PORT") or 8501),
                   help=_("port (default $STUDIO_PORT or 8501)"))
    p.set_defaults(forward=False)
    p = command(sub, "jobs", _jobs, _("background work (generation batches, imports, exports, ...): list, or "
                                      "`jobs cancel ID` / `jobs retry ID`"))
    p.add_argument("action", nargs="?", choices=("cancel", "retry"), help=_("cancel or retry job ID"))
    p.add_argument("id", nargs="?", type=int, help=_("the job"))
    p.add_argument("--all", action="store_true", help=_("also finished jobs (default: the last 50 of any state)"))
    p.set_defaults(render=_render_jobs)
    p = command(sub, "demo-model", _demo_model, _("build the tiny local base model (no download)"))
    p.add_argument("--out", required=True, help=_("folder to save the model and tokenizer into"))
    p.set_defaults(forward=False)


def _status(args) -> dict:
    from studio.data.overview import project_overview

    return project_overview()


def _render_status(summary: dict) -> str:
    from studio.core.labels import label

    t = summary["totals"]
    lines = [_("database: {file}").format(file=summary["db"]),
             _("{datasets} datasets, {questions} exam questions, {passages} passages, {samples} samples, "
               "{snapshots} snapshots, {runs} runs").format(**t)]
    for d in summary["datasets"]:
        status = ", ".join(f"{label('status', k)} {v}" for k, v in d["by_status"].items()) or _("no samples")
        lines.append("  " + _("{name} ({kind}): {questions} questions, {passages} passages, {samples} samples "
                              "[{status}]").format(name=d["name"], kind=d["kind"], questions=d["questions"],
                                                   passages=d["passages"], samples=d["samples"], status=status))
    for r in summary["runs"]:
        lines.append("  " + _("run {run} {method} {state} {step}/{total}").format(
            run=r["id"], method=label("method", r["method"]), state=label("state", r["state"]), step=r["step"],
            total=r["total"]))
    return "\n".join(lines)


def _init(args) -> dict:
    from studio.project import init

    return init()


def _demo_model(args) -> dict:
    from studio.train.demo_model import build

    return build(args.out)


def _serve(args) -> dict:
    from studio.core.errors import InputError

    if args.host not in LOOPBACK:
        from studio.service import accounts

        if not accounts.enabled():  # without accounts anyone on the network could act as the owner
            raise InputError(_("the studio has no accounts yet, so it serves only on a loopback address "
                               "(127.0.0.1), not on {host}").format(host=args.host))
        from store import db

        db.close_all()  # the server process opens the database itself
    serve = Path(__file__).resolve().parents[2] / "serve.py"
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, str(serve), "--host", args.host, "--port", str(args.port)])
    return {}  # not reached


def _jobs(args) -> dict:
    from studio.core.errors import InputError
    from studio.service import jobs

    if args.action:
        if args.id is None:
            raise InputError(_("say which job: python -m studio jobs {action} ID").format(action=args.action))
        job = jobs.cancel(args.id) if args.action == "cancel" else jobs.retry(args.id)
        return {"job": _job_summary(job)}
    return {"jobs": [_job_summary(j) for j in jobs.list_jobs(limit=500 if args.all else 50)]}


def _job_summary(j: dict) -> dict:
    return {"id": j["id"], "kind": j["kind"], "state": j["state"], "progress": j["done"], "total": j["total"],
            "message": j["message"], "who": j["who"], "created_at": j["created_at"],
            "finished_at": j["finished_at"], "args": j["args"]}


def _render_jobs(summary: dict) -> str:
    from studio.core.labels import label

    if "job" in summary:
        j = summary["job"]
        return _("job {id} ({kind}): {state}").format(id=j["id"], kind=j["kind"], state=label("state", j["state"])) \
            + (f" — {j['message']}" if j["message"] else "")
    if not summary["jobs"]:
        return _("no jobs yet")
    lines = []
    for j in summary["jobs"]:
        progress = f"{j['progress']}/{j['total']}" if j["total"] else str(j["progress"] or "")
        what = " ".join(j["args"].get("argv", [])) if j["kind"] == "command" else j["kind"]
        state = label("state", j["state"])
        lines.append(f"{j['id']:>5}  {state:<11} {progress:>11}  {what}  {j['message'] or ''}".rstrip())
    return "\n".join(lines)
