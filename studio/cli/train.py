"""``studio train`` and ``studio runs``: fine-tunes from a shell, with a progress bar."""
from __future__ import annotations

import sys
import time

from studio.cli import command

# trainer settings offered as --flags (method and data have their own options)
_SKIP = {"base_model", "method", "train_file", "validation_file", "from_adapter", "parent_run", "run_id",
         "max_steps", "epochs"}


def register(sub, groups) -> None:
    from studio.train.config import config_fields

    p = command(sub, "train", _train, "fine-tune a LoRA or P-Tuning v2 adapter on a snapshot (or a dataset)")
    data = p.add_mutually_exclusive_group()
    data.add_argument("--dataset", help="dataset whose accepted samples are snapshotted and trained on")
    data.add_argument("--snapshot", help="snapshot id (or a unique prefix)")
    p.add_argument("--base-model", help="local model folder or hub id (a --from-run keeps its parent's)")
    p.add_argument("--method", choices=("lora", "prefix"), help="lora (default) or prefix (P-Tuning v2)")
    steps = p.add_mutually_exclusive_group()
    steps.add_argument("--max-steps", type=int, help="optimizer steps")
    steps.add_argument("--epochs", type=float, help="passes over the training split")
    chain = p.add_mutually_exclusive_group()
    chain.add_argument("--resume", metavar="RUN", help="continue a failed or cancelled run from its checkpoint")
    chain.add_argument("--from-run", metavar="RUN", help="new run starting from this run's adapter (chained)")
    p.add_argument("--name", help="a name for the run")
    p.add_argument("--detach", action="store_true", help="start in the background and return at once")
    trainer = p.add_argument_group("trainer settings (defaults: the method's preset)")
    for f in config_fields():
        if f["name"] in _SKIP:
            continue
        flag = "--" + f["name"].replace("_", "-")
        if f["type"] == "bool":
            trainer.add_argument(flag, dest=f["name"], default=None, choices=("true", "false"),
                                 help=f"{f['help']} (default {str(f['default']).lower()})")
        else:
            kind = {"int": int, "float": float}.get(f["type"], str)
            trainer.add_argument(flag, dest=f["name"], type=kind, default=None,
                                 help=f"{f['help']} (default {f['default'] or 'auto'})")
    p.set_defaults(render=_render_train)
    q = command(sub, "runs", _runs, "every run with state and progress (and actions on one run)")
    act = q.add_mutually_exclusive_group()
    act.add_argument("--cancel", metavar="RUN", help="stop a run (SIGTERM: it saves a checkpoint first)")
    act.add_argument("--merge", metavar="RUN", help="merge a LoRA run into its base model and save the result")
    q.add_argument("--out", help="with --merge: the folder to save into (default: models/<run>-merged)")
    q.set_defaults(render=_render_runs)


def _settings(args) -> dict:
    from studio.train.config import config_fields

    out = {}
    for f in config_fields():
        if f["name"] in _SKIP:
            continue
        value = getattr(args, f["name"], None)
        if value is not None:
            out[f["name"]] = value
    if args.max_steps is not None:
        out["max_steps"] = args.max_steps
    if args.epochs is not None:
        out["epochs"] = args.epochs
        out.setdefault("max_steps", 0)
    return out


def _train(args) -> dict:
    from studio.core.errors import InputError
    from studio.train import runs

    if args.resume:
        if args.dataset or args.snapshot or args.base_model or args.method:
            raise InputError("--resume continues a run as it was configured; drop the data, model and method options")
        row = runs.resume(args.resume)
    else:
        if not args.from_run and not args.base_model:
            raise InputError("give --base-model (a local model folder or hub id), or --from-run RUN")
        if not args.from_run and not (args.dataset or args.snapshot):
            raise InputError("give --dataset NAME or --snapshot ID")
        row = runs.submit(base_model=args.base_model, method=args.method, snapshot=args.snapshot,
                          dataset=args.dataset, name=args.name, from_run=args.from_run, **_settings(args))
    if not args.detach:
        row = _follow(row["id"])
    return _summary(row)


def _follow(run_id: str) -> dict:
    """Poll the run until it ends, with a tqdm bar on stderr; Ctrl-C cancels it (checkpoint first)."""
    from tqdm import tqdm

    from studio.core.progress import report
    from studio.train import runs, supervisor

    row = runs.get(run_id)
    bar = tqdm(total=row["total"] or None, initial=row["step"] or 0, desc=run_id, unit="step",
               file=sys.stderr, dynamic_ncols=True, disable=None)
    cancelled = False
    try:
        while True:
            try:
                supervisor.refresh()
                row = runs.get(run_id)
                if row["total"] and bar.total != row["total"]:
                    bar.total = row["total"]
                bar.n = row["step"] or 0
                report(row["step"] or 0, row["total"] or None, f"{run_id} {row['state']}")
                post = {"state": row["state"]}
                if row.get("final_loss") is not None:
                    post["loss"] = f"{row['final_loss']:.4g}"
                if row.get("eval_loss") is not None:
                    post["eval"] = f"{row['eval_loss']:.4g}"
                bar.set_postfix(post, refresh=False)
                bar.refresh()
                if row["state"] in ("done", "failed", "cancelled"):
                    return row
                time.sleep(1.0)
            except KeyboardInterrupt:
                if cancelled:
                    raise
                cancelled = True
                print(f"\ncancelling {run_id}: saving a checkpoint (Ctrl-C again to leave it running)",
                      file=sys.stderr)
                runs.cancel(run_id)
    finally:
        bar.close()


def _summary(row: dict) -> dict:
    from pathlib import Path

    out = {"run": row["id"], "state": row["state"], "dir": row["dir"],
           "adapter": str(Path(row["dir"]) / "adapter"), "final_loss": row.get("final_loss"),
           "eval_loss": row.get("eval_loss"), "step": row.get("step"), "total": row.get("total"),
           "command": row.get("command")}
    if row["state"] == "failed":
        out["error"] = row.get("error")
        out["_exit"] = 1
    elif row["state"] == "cancelled":
        out["_exit"] = 1
    return out


def _render_train(summary: dict) -> str:
    lines = [f"run {summary['run']}: {summary['state']} at step {summary['step']}/{summary['total']}"]
    if summary.get("final_loss") is not None:
        lines.append(f"final loss {summary['final_loss']:.4f}"
                     + (f", eval loss {summary['eval_loss']:.4f}" if summary.get("eval_loss") is not None else ""))
    lines.append(f"folder  {summary['dir']}")
    if summary["state"] == "done":
        lines.append(f"adapter {summary['adapter']}")
    if summary.get("error"):
        lines.append(f"error: {summary['error']}")
    if summary["state"] in ("queued", "starting", "running"):
        lines.append("follow it with `python -m studio runs` or on the Runs page")
    return "\n".join(lines)


def _runs(args) -> dict:
    from studio.train import merge, runs

    if args.merge:
        return merge.merge(args.merge, args.out)
    if args.out:
        from studio.core.errors import InputError

        raise InputError("--out goes with --merge")
    if args.cancel:
        row = runs.cancel(args.cancel)
        return {"run": row["id"], "state": row["state"], "cancelling": row["state"] != "cancelled"}
    return {"runs": [{k: r[k] for k in ("id", "name", "method", "state", "step", "total", "progress", "eta_s",
                                        "final_loss", "eval_loss", "base_model", "snapshot", "parent_run", "dir")}
                     for r in runs.list_runs()]}


def _render_runs(summary: dict) -> str:
    from studio.train.display import progress_text

    if "out" in summary:
        return f"merged run {summary['run']} into {summary['out']}"
    if "cancelling" in summary:
        return f"run {summary['run']}: " + ("SIGTERM sent; it saves a checkpoint, then ends cancelled"
                                            if summary["cancelling"] else "cancelled")
    if not summary["runs"]:
        return "no runs yet; start one with `python -m studio train` or on the Train page"
    lines = []
    for r in summary["runs"]:
        loss = f" loss {r['final_loss']:.4f}" if r.get("final_loss") is not None else ""
        parent = f" (from {r['parent_run']})" if r.get("parent_run") else ""
        lines.append(f"{r['id']}  {r['method']:<6} {r['state']:<9} {progress_text(r)}{loss}  {r['name']}{parent}")
    return "\n".join(lines)
