"""Project-wide commands: status, init, serve, jobs, demo-model."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from studio.cli import command

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(sub, groups) -> None:
    p = command(sub, "status", _status, "counts per dataset and the recent runs (as on the Home page)")
    p.set_defaults(render=_render_status)
    command(sub, "init", _init, "create and migrate the database, build the demo model, load the demo project")
    p = command(sub, "serve", _serve, "run the studio: pages, /api/v1 and the supervisor of background work "
                                      "(make run); the CLI then sends its commands to this server")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback only)")
    p.add_argument("--port", type=int, default=int(os.environ.get("STUDIO_PORT") or 8501),
                   help="port (default $STUDIO_PORT or 8501)")
    p.set_defaults(forward=False)
    p = command(sub, "jobs", _jobs, "background work (generation batches, imports, exports, ...): list, or "
                                    "`jobs cancel ID` / `jobs retry ID`")
    p.add_argument("action", nargs="?", choices=("cancel", "retry"), help="cancel or retry job ID")
    p.add_argument("id", nargs="?", type=int, help="the job")
    p.add_argument("--all", action="store_true", help="also finished jobs (default: the last 50 of any state)")
    p.set_defaults(render=_render_jobs)
    p = command(sub, "demo-model", _demo_model, "build the tiny local base model (no download)")
    p.add_argument("--out", required=True, help="folder to save the model and tokenizer into")
    p.set_defaults(forward=False)


def _status(args) -> dict:
    from studio.data.overview import project_overview

    return project_overview()


def _render_status(summary: dict) -> str:
    t = summary["totals"]
    lines = [f"database: {summary['db']}",
             f"{t['datasets']} datasets, {t['questions']} exam questions, {t['passages']} passages, "
             f"{t['samples']} samples, {t['snapshots']} snapshots, {t['runs']} runs"]
    for d in summary["datasets"]:
        status = ", ".join(f"{k} {v}" for k, v in d["by_status"].items()) or "no samples"
        lines.append(f"  {d['name']} ({d['kind']}): {d['questions']} questions, {d['passages']} passages, "
                     f"{d['samples']} samples [{status}]")
    for r in summary["runs"]:
        lines.append(f"  run {r['id']} {r['method']} {r['state']} {r['step']}/{r['total']}")
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
        raise InputError(f"the studio has no accounts yet, so it serves only on a loopback address "
                         f"(127.0.0.1), not on {args.host}")
    serve = Path(__file__).resolve().parents[2] / "serve.py"
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, str(serve), "--host", args.host, "--port", str(args.port)])
    return {}  # not reached


def _jobs(args) -> dict:
    from studio.core.errors import InputError
    from studio.service import jobs

    if args.action:
        if args.id is None:
            raise InputError(f"say which job: python -m studio jobs {args.action} ID")
        job = jobs.cancel(args.id) if args.action == "cancel" else jobs.retry(args.id)
        return {"job": _job_summary(job)}
    return {"jobs": [_job_summary(j) for j in jobs.list_jobs(limit=500 if args.all else 50)]}


def _job_summary(j: dict) -> dict:
    return {"id": j["id"], "kind": j["kind"], "state": j["state"], "progress": j["done"], "total": j["total"],
            "message": j["message"], "who": j["who"], "created_at": j["created_at"],
            "finished_at": j["finished_at"], "args": j["args"]}


def _render_jobs(summary: dict) -> str:
    if "job" in summary:
        j = summary["job"]
        return f"job {j['id']} ({j['kind']}): {j['state']}" + (f" — {j['message']}" if j["message"] else "")
    if not summary["jobs"]:
        return "no jobs yet"
    lines = []
    for j in summary["jobs"]:
        progress = f"{j['progress']}/{j['total']}" if j["total"] else str(j["progress"] or "")
        what = " ".join(j["args"].get("argv", [])) if j["kind"] == "command" else j["kind"]
        lines.append(f"{j['id']:>5}  {j['state']:<11} {progress:>11}  {what}  {j['message'] or ''}".rstrip())
    return "\n".join(lines)
