"""``python -m studio``: the same functions as the pages, for scripts and automation.

Every command takes ``--db`` and ``--json``, prints a one-line JSON summary with ``--json``, and exits
0 on success, 1 when the work failed, 2 on unusable input (one line on stderr, no traceback).

Commands live in ``studio/commands/*.py``; each module has ``register(sub, groups)`` that adds its
parsers (with ``parents=[COMMON]``) and sets ``func`` to a function ``(args) -> dict``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any, Callable

from studio.core.errors import StudioError
from studio.core.i18n import N_, _, ngettext

# one module per area; each adds its commands
COMMAND_MODULES = (
    # in workflow order, which is the order --help lists them in
    "studio.cli.exams",
    "studio.cli.corpus",
    "studio.cli.datasets",
    "studio.cli.train",
    "studio.cli.compare",
    "studio.cli.project",
    "studio.cli.users",
    "studio.cli.tasks",
)

# argparse's own words ("usage:", "the following arguments are required") from our catalog too
ARGPARSE_WORDS = (N_("usage: "), N_("positional arguments"), N_("options"), N_("show this help message and exit"),
                  N_("the following arguments are required: %s"), N_("unrecognized arguments: %s"),
                  N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("expected one argument"),
                  N_("argument %(argument_name)s: %(message)s"), N_("invalid %(type)s value: %(value)r"),
                  N_("ambiguous option: %(option)s could match %(matches)s"), N_("not allowed with argument %s"),
                  N_("one of the arguments %s is required"), N_("expected at least one argument"))
argparse._ = _
argparse.ngettext = ngettext

COMMON = argparse.ArgumentParser(add_help=False)
COMMON.add_argument("--db", default=argparse.SUPPRESS,
                    help=_("database file (default: $STUDIO_DB or data/studio.duckdb)"))
COMMON.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                    help=_("print a one-line JSON summary on stdout"))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # unusable input: one line, exit 2
        self.exit(2, _("{prog}: error: {message}").format(prog=self.prog, message=message) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m studio", parents=[COMMON],
                     description=_("Build domain-specific LLMs: import, convert, generate, export, "
                                   "train, compare. The same functions as the studio's pages."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    importer = sub.add_parser("import", help=_("import exam banks, corpora or training pairs"))
    groups = {"import": importer.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)}
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, groups)
    return parser


def command(sub, name: str, func: Callable[[argparse.Namespace], dict], help: str, **kw):
    """Add a command parser with the common options; ``func(args)`` returns the summary dict."""
    p = sub.add_parser(name, parents=[COMMON], help=help, description=help, **kw)
    p.set_defaults(func=func)
    return p


def render_text(summary: dict[str, Any]) -> str:
    """A readable rendering of a summary for people (``--json`` prints it as JSON instead)."""
    lines = []
    for key, value in summary.items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False, default=str)
        lines.append(f"{key}: {value}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line: parse, then run here, or in the studio's server when one holds the database."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) and getattr(args, "forward", True):
        from studio.cli import remote

        server = remote.server_for(getattr(args, "db", None))
        if server is not None:
            return remote.forward(server, argv, json_out=bool(getattr(args, "json", False)))
    try:
        return run_parsed(parser, args, check_user=True)
    finally:
        from store import db

        db.close_all()


def run_in_server(argv: list[str]) -> int:
    """Run a command inside the server process (its output captured by the caller); never closes the db."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:
        return int(done.code or 0)
    if getattr(args, "db", None):
        print(_("error: {message}").format(message=_(
            "--db is not used when the studio's server runs the command: it uses its own database")),
              file=sys.stderr)
        return 2
    return run_parsed(parser, args)


def _check_user(args: argparse.Namespace) -> None:
    """With accounts, the CLI acts as ``STUDIO_TOKEN`` or ``STUDIO_USER``/``STUDIO_PASSWORD``, and only as
    far as that account's role allows. Commands that never open the database (``serve``, the machine owner's;
    ``inspect``, ``demo-model``: ``forward=False``) need no account."""
    if args.command == "serve" or not getattr(args, "forward", True):
        return
    from studio.service import accounts

    user = accounts.cli_user([args.command])
    accounts.check_command(user, [args.command, getattr(args, "action", None) or ""])


def run_parsed(parser: argparse.ArgumentParser, args: argparse.Namespace, check_user: bool = False) -> int:
    if not getattr(args, "func", None):
        if args.command == "import":
            parser.exit(2, _("python -m studio import: error: say what to import: exam, corpus or pairs") + "\n")
        parser.print_help()
        return 0 if args.command is None else 2
    if getattr(args, "db", None):
        os.environ["STUDIO_DB"] = args.db  # every studio function reads the database path from here
    try:
        if check_user:
            _check_user(args)
        summary = args.func(args)
    except StudioError as err:
        print(_("error: {message}").format(message=err), file=sys.stderr)
        if getattr(args, "json", False) and getattr(err, "summary", None):
            print(json.dumps(err.summary, ensure_ascii=False, default=str))
        return err.exit_code
    except KeyboardInterrupt:
        print(_("error: {message}").format(message=_("interrupted")), file=sys.stderr)
        return 1
    code = int(summary.pop("_exit", 0))  # a command may report failed work with its summary
    if getattr(args, "json", False):
        print(json.dumps(summary, ensure_ascii=False, default=str))
    else:
        text = getattr(args, "render", render_text)(summary)
        if text:
            print(text)
    return code
