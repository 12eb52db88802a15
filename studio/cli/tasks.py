"""Shared work: ``tasks create | list | show | reassign``.

Anyone with the ``tasks`` command may list and show tasks (a reviewer or rater lists only the tasks they hold
items of); creating and reassigning need an admin or engineer (``accounts.NotAllowed``: exit 2)."""
from __future__ import annotations

import os

from studio.cli import COMMON, command
from studio.core.errors import InputError
from studio.core.i18n import _

KINDS = ("review", "rating", "arena")
STATUSES = ("pending", "accepted", "rejected", "draft", "all")


def register(sub, groups) -> None:
    p = command(sub, "tasks", _tasks, _("shared review and rating work: create, list, show, reassign"))
    acts = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    c = acts.add_parser("create", parents=[COMMON], help=_("distribute a review or rating task among people"))
    c.add_argument("--kind", required=True, choices=KINDS, help=_("review (samples of a dataset), rating "
                                                                  "(outputs of a comparison) or arena (A/B votes "
                                                                  "on a comparison's prompts)"))
    source = c.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", help=_("the sample dataset a review task takes its samples from"))
    source.add_argument("--comparison", help=_("the comparison (its number) a rating or arena task works on"))
    c.add_argument("--people", required=True, help=_("names, comma-separated (with accounts: account names)"))
    c.add_argument("--overlap", type=int, default=1, metavar="K", help=_("how many people do each item (1 to the "
                                                                         "number of people; default 1)"))
    c.add_argument("--guidelines", default="", help=_("what the people should look for (shown beside each item)"))
    c.add_argument("--name", help=_("the task's name (default: from the dataset or comparison)"))
    c.add_argument("--status", default="pending", choices=STATUSES,
                   help=_("review: the samples' status (default pending)"))
    c.add_argument("--qtype", help=_("review: only samples of this question type"))
    c.add_argument("--origin", help=_("review: only samples of this origin"))
    c.add_argument("--not-blind", action="store_true", help=_("rating and arena: show which system wrote an "
                                                              "output"))
    acts.add_parser("list", parents=[COMMON], help=_("list the tasks with their progress"))
    show = acts.add_parser("show", parents=[COMMON], help=_("a task's progress per person and its agreement"))
    show.add_argument("id")
    move = acts.add_parser("reassign", parents=[COMMON], help=_("move a person's open items to another person"))
    move.add_argument("id")
    move.add_argument("--from", dest="from_person", required=True, help=_("whose open items move"))
    move.add_argument("--to", dest="to_person", required=True, help=_("who takes them over"))
    p.set_defaults(render=_render)


def _acting_user() -> dict | None:
    """The account running the command (None without accounts). Inside the studio's server no account is in
    the environment: the server checked the one that sent the command."""
    from studio.service import accounts

    if not accounts.enabled() or not (os.environ.get("STUDIO_TOKEN") or os.environ.get("STUDIO_USER")):
        return None
    return accounts.cli_user(["tasks"])


def _tasks(args) -> dict:
    from studio.service import task_stats, tasks

    action = getattr(args, "action", None) or "list"
    user = _acting_user()
    if action == "list":
        return {"tasks": task_stats.list_tasks(None if tasks.may_manage(user) else user["name"])}
    if action == "show":
        return task_stats.show(args.id)
    if action == "reassign":
        return tasks.reassign(args.id, args.from_person, args.to_person, by=user)
    tasks.require_manager(user)
    if args.kind == "review" and not args.dataset:
        raise InputError(_("a review task needs --dataset"))
    if args.kind in ("rating", "arena") and not args.comparison:
        raise InputError(_("a {kind} task needs --comparison").format(kind=args.kind))
    return {"task": tasks.create(args.kind, dataset=args.dataset, comparison=args.comparison, people=args.people,
                                 overlap=args.overlap, guidelines=args.guidelines, name=args.name,
                                 status=args.status, qtype=args.qtype, origin=args.origin,
                                 blind=not args.not_blind, by=user)}


def _line(t: dict) -> str:
    from studio.service.tasks import kind_label

    return _("{id}\t{name}\t{kind}\t{done} / {items} items done\t{people}").format(
        id=t["id"], name=t["name"], kind=kind_label(t["kind"]), done=t["done"], items=t["items"],
        people=", ".join(t["people"]))


def _agreement(a: dict) -> str:
    if a["metric"] == "krippendorff_alpha_ordinal":
        if a["alpha"] is None:
            return _("agreement: Krippendorff's alpha (ordinal) not defined yet ({n} items rated twice or more)"
                     ).format(n=a["items"])
        return _("agreement: Krippendorff's alpha (ordinal) {alpha:.3f} over {n} items").format(alpha=a["alpha"],
                                                                                                n=a["items"])
    if a["share"] is None:
        return _("agreement: no item decided by all its reviewers yet")
    return _("agreement: {agreeing} of {n} items decided alike ({share:.0%})").format(
        agreeing=a["agreeing"], n=a["items"], share=a["share"])


def _render(summary: dict) -> str:
    if "tasks" in summary:
        return "\n".join(_line(t) for t in summary["tasks"]) if summary["tasks"] else _("no tasks yet")
    if "moved" in summary:
        return _("{moved} open items moved from {source} to {target}; {kept} kept (already held by {target})"
                 ).format(moved=summary["moved"], kept=summary["kept"], source=summary["from"],
                          target=summary["to"])
    if "people" in summary:
        lines = [_line(summary["task"])]
        lines += [_("{person}\t{done} / {assigned} done").format(**p) for p in summary["people"]]
        return "\n".join(lines + [_agreement(summary["agreement"])])
    return _("created task {id}: {name}, {items} items, {assigned} assignments").format(**summary["task"])
