"""Accounts: ``users add | list | set-role | set-password | remove | token`` (admin; the first ``add``
needs no sign-in and must make an admin)."""
from __future__ import annotations

import getpass
import sys

from studio.cli import COMMON, command
from studio.core.errors import InputError
from studio.core.i18n import _

ROLES = ("admin", "engineer", "reviewer", "rater")


def register(sub, groups) -> None:
    p = command(sub, "users", _users, _("accounts and roles: add, list, set-role, set-password, remove, token"))
    acts = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    add = acts.add_parser("add", parents=[COMMON], help=_("add an account"))
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true", help=_("read the password from standard input"))
    acts.add_parser("list", parents=[COMMON], help=_("list the accounts"))
    role = acts.add_parser("set-role", parents=[COMMON], help=_("change an account's role"))
    role.add_argument("name")
    role.add_argument("role", choices=ROLES)
    pw = acts.add_parser("set-password", parents=[COMMON], help=_("change an account's password"))
    pw.add_argument("name")
    pw.add_argument("--password-stdin", action="store_true", help=_("read the password from standard input"))
    rm = acts.add_parser("remove", parents=[COMMON], help=_("remove an account"))
    rm.add_argument("name")
    tok = acts.add_parser("token", parents=[COMMON], help=_("a new API token for an account (shown once; replaces the old one)"))
    tok.add_argument("name")
    p.set_defaults(render=_render)


def _password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError(_("give the password on standard input with --password-stdin"))
    first = getpass.getpass(_("password: "))
    if getpass.getpass(_("password again: ")) != first:
        raise InputError(_("the two passwords differ"))
    return first


def _users(args) -> dict:
    from studio.service import accounts

    action = getattr(args, "action", None) or "list"
    if action == "list":
        return {"users": accounts.list_users()}
    if action == "add":
        return {"user": accounts.add(args.name, args.role, _password(args))}
    if action == "set-role":
        return {"user": accounts.set_role(args.name, args.role)}
    if action == "set-password":
        return {"user": accounts.set_password(args.name, _password(args))}
    if action == "remove":
        return accounts.remove(args.name)
    return {"name": args.name, "token": accounts.new_token(args.name)}


def _render(summary: dict) -> str:
    from studio.service.accounts import role_label

    if "users" in summary:
        if not summary["users"]:
            return _("no accounts: the studio is single-user and serves on 127.0.0.1 only")
        return "\n".join(f"{u['name']}\t{role_label(u['role'])}" for u in summary["users"])
    if "token" in summary:
        return _("API token of {name} (shown once; keep it secret): {token}").format(**summary)
    if summary.get("removed"):
        return _("removed {name}").format(name=summary["name"])
    user = summary["user"]
    return _("{name}: {role}").format(name=user["name"], role=role_label(user["role"]))
