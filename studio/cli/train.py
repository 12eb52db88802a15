"""``studio train`` and ``studio runs``: fine-tunes from a shell, with a progress bar."""
from __future__ import annotations

import sys
import time

from studio.cli import command
from studio.core.i18n import _

# trainer settings offered as --flags (method and data have their own options)
_SKIP = {"base_model", "method", "train_file", "validation_file", "from_adapter", "parent_run", "run_id",
         "max_steps", "epochs"}


def register(sub, groups) -> None:
    from studio.train.config import config_fields

    p = command(sub, "train", _train, _("fine-tune a LoRA or P-Tuning v2 adapter on a snapshot (or a dataset)"))
    data = p.add_mutually_exclusive_group()
    data.add_argument("--dataset", help=_("dataset whose accepted samples are snapshotted and trained on"))
    data.add_argument("--snapshot", help=_("snapshot id (or a unique prefix)"))
    p.add_argument("--base-model", help=_("local model folder or hub id (a --from-run keeps its parent's)"))
    p.add_argument("--method", choices=("lora", "prefix"), help=_("lora (default) or prefix (P-Tuning v2)"))
    # numbers arrive as text and are checked by studio.train.config (type and range, one clear line, exit 2)
    steps = p.add_mutually_exclusive_group()
    steps.add_argument("--max-steps", help=_setting_help("max_steps", _("optimizer steps")))
    steps.add_argument("--epochs", help=_setting_help("epochs", _("passes over the training split")))
    chain = p.add_mutually_exclusive_group()
    chain.add_argument("--resume", metavar="RUN", help=_("continue a failed or cancelled run from its checkpoint"))
    chain.add_argument("--from-run", metavar="RUN", help=_("new run starting from this run's adapter (chained)"))
    p.add_argument("--name", help=_("a name for the run"))
    p.add_argument("--detach", action="store_true", help=_("start in the background and return at once"))
    trainer = p.add_argument_group(_("trainer settings (defaults: the method's preset)"))
    for f in config_fields():
        if f["name"] in _SKIP:
            continue
        flag = "--" + f["name"].replace("_", "-")
        if f["type"] == "bool":
            trainer.add_argument(flag, dest=f["name"], default=None, choices=("true", "false"),
                                 help=_setting_help(f["name"]))
        else:
            trainer.add_argument(flag, dest=f["name"], default=None, help=_setting_help(f["name"]))
    p.set_defaults(render=_render_train)
    q = command(sub, "runs", _runs, _("every run with state and progress (and actions on one run)"))
    act = q.add_mutually_exclusive_group()
    act.add_argument("--cancel", metavar="RUN", help=_("stop a run (SIGTERM: it saves a checkpoint first)"))
    act.add_argument("--merge", metavar="RUN", help=_("merge a LoRA run into its base model and save the result"))
    q.add_argument("--out", help=_("with --merge: the folder to save into (default: models/<run>-merged)"))
    q.set_defaults(render=_render_runs)


def _setting_help(name: str, why: str | None = None) -> str:
    """A trainer flag's help: its one-line why, default and range (argparse shows ``%`` doubled)."""
    from studio.train.config import config_fields, shown_number

    f = next(f for f in config_fields() if f["name"] == name)
    default = f["default"]
    if f["type"] == "bool":
        default = str(default).lower()
    elif f["type"] in ("int", "float"):
        default = shown_number(default)
    elif f["type"] == "tuple":
        default = ",".join(default) or _("auto")
    why = why or _(f["help"])
    if f["min"] is None:
        text = _("{why} (default {default})").format(why=why, default=default)
    else:
        text = _("{why} (default {default}; from {low} to {high})").format(
            why=why, default=default, low=shown_number(f["min"]), high=shown_number(f["max"]))
    return text.replace("%", "%%")


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
            raise InputError(_("--resume continues a run as it was configured; drop the data, model and method "
                               "options"))
        row = runs.resume(args.resume)
    else:
        if not args.from_run and not args.base_model:
            raise InputError(_("give --base-model (a local model folder or hub id), or --from-run RUN"))
        if not args.from_run and not (args.dataset or args.snapshot):
            raise InputError(_("give --dataset NAME or --snapshot ID"))
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
                print("\n" + _("cancelling {run}: saving a checkpoint (Ctrl-C again to leave it running)").format(
                    run=run_id), file=sys.stderr)
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
    from studio.train.display import state_label

    lines = [_("run {run}: {state} at step {step}/{total}").format(
        run=summary["run"], state=state_label(summary), step=summary["step"], total=summary["total"])]
    if summary.get("final_loss") is not None:
        lines.append(_("final loss {loss}").format(loss=f"{summary['final_loss']:.4f}")
                     + (_(", eval loss {loss}").format(loss=f"{summary['eval_loss']:.4f}")
                        if summary.get("eval_loss") is not None else ""))
    lines.append(_("folder  {folder}").format(folder=summary["dir"]))
    if summary["state"] == "done":
        lines.append(_("adapter {folder}").format(folder=summary["adapter"]))
    if summary.get("error"):
        lines.append(_("error: {message}").format(message=summary["error"]))
    if summary["state"] in ("queued", "starting", "running"):
        lines.append(_("follow it with `python -m studio runs` or on the Runs page"))
    return "\n".join(lines)


def _runs(args) -> dict:
    from studio.train import merge, runs

    if args.merge:
        return merge.merge(args.merge, args.out)
    if args.out:
        from studio.core.errors import InputError

        raise InputError(_("--out goes with --merge"))
    if args.cancel:
        row = runs.cancel(args.cancel)
        return {"run": row["id"], "state": row["state"], "cancelling": row["state"] != "cancelled"}
    return {"runs": [{k: r[k] for k in ("id", "name", "method", "state", "cancelling", "step", "total", "progress",
                                        "eta_s", "final_loss", "eval_loss", "base_model", "snapshot", "parent_run",
                                        "dir")}
                     for r in runs.list_runs()]}


def _render_runs(summary: dict) -> str:
    from studio.core.labels import label
    from studio.train.display import progress_text, state_label

    if "out" in summary:
        return _("merged run {run} into {folder}").format(run=summary["run"], folder=summary["out"])
    if "cancelling" in summary:
        return _("run {run}: {what}").format(run=summary["run"], what=_(
            "SIGTERM sent; it saves a checkpoint, then ends cancelled") if summary["cancelling"] else state_label(
            {"state": "cancelled"}))
    if not summary["runs"]:
        return _("no runs yet; start one with `python -m studio train` or on the Train page")
    lines = []
    for r in summary["runs"]:
        loss = " " + _("loss {loss}").format(loss=f"{r['final_loss']:.4f}") if r.get("final_loss") is not None else ""
        parent = " " + _("(from {run})").format(run=r["parent_run"]) if r.get("parent_run") else ""
        lines.append(f"{r['id']}  {label('method', r['method']):<11} {state_label(r):<9} {progress_text(r)}{loss}  "
                     f"{r['name']}{parent}")
    return "\n".join(lines)
