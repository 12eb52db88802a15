"""Project-wide commands: status, init, demo-model."""
from __future__ import annotations

from studio.cli import command


def register(sub, groups) -> None:
    p = command(sub, "status", _status, "counts per dataset and the recent runs (as on the Home page)")
    p.set_defaults(render=_render_status)
    command(sub, "init", _init, "create and migrate the database, build the demo model, load the demo project")
    p = command(sub, "demo-model", _demo_model, "build the tiny local base model (no download)")
    p.add_argument("--out", required=True, help="folder to save the model and tokenizer into")


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
