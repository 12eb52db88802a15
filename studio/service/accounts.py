"""Accounts, roles and sign-in: who may do what in a studio shared by a team.

- **No account, one user.** Until the first account exists the studio is single-user, as before, and
  serves only on a loopback address. The first account must be an admin.
- **Passwords** are hashed with argon2 (``argon2-cffi``); API tokens (``users token NAME``) are random and
  kept as their SHA-256. Neither a password nor a hash leaves this module: listings, logs, exports and the
  API carry names and roles only.
- **Sessions** are a cookie signed by the server (``itsdangerous``, a secret in ``<db>.secret``, owner-only)
  holding the name and the account's session version: it holds across reloads and tabs, expires after
  ``STUDIO_SESSION_HOURS``, and a password change, role change or removal ends every older session.
- **Guessing is slowed down**: after ``FREE_FAILURES`` failed sign-ins for a name or from an address within
  ``WINDOW_S``, each further attempt must wait twice as long as the one before (1 s, 2 s, 4 s … 5 min).
- **Roles**: admin (accounts, everything), engineer (data, training, evaluation), reviewer (review work
  assigned to them), rater (rating work assigned to them). ``PAGES`` and ``COMMANDS`` say what each may use;
  pages leave the rest out of the navigation, and the API and CLI refuse it with "not allowed for role X".
"""
from __future__ import annotations

import hashlib
import os
import secrets
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from store import db
from store import users as store
from studio.core import settings
from studio.core.errors import InputError, NotFound
from studio.core.i18n import N_, _

ROLES = ("admin", "engineer", "reviewer", "rater")
ROLE_LABELS = {"admin": N_("admin"), "engineer": N_("engineer"), "reviewer": N_("reviewer"), "rater": N_("rater")}
COOKIE = "studio_session"
RESERVED = ("page", "cli", "supervisor", "legacy")  # who= of work no account started
FREE_FAILURES = 5
WINDOW_S = 15 * 60
MAX_WAIT_S = 300

_ENGINEER_PAGES = {"home", "jobs", "import_exam", "questions", "import_corpus", "convert", "generate", "review",
                   "datasets", "snapshots", "export", "train", "runs", "compare", "results", "tasks",
                   "playground", "reports"}
PAGES: dict[str, set[str]] = {
    "admin": _ENGINEER_PAGES | {"users"},
    "engineer": _ENGINEER_PAGES,
    "reviewer": {"home", "review", "tasks"},
    "rater": {"home", "tasks"},
}
_READ = {"status", "jobs", "snapshots", "runs"}
_WORK = {"import", "inspect", "convert", "generate", "snapshot", "export", "dedup", "undo", "train", "compare",
         "eval", "init", "demo-model", "tasks"}
COMMANDS: dict[str, set[str]] = {
    "admin": _READ | _WORK | {"users"},
    "engineer": _READ | _WORK,
    "reviewer": {"status", "tasks"},
    "rater": {"status", "tasks"},
}


acting: ContextVar[dict[str, Any] | None] = ContextVar("studio_account", default=None)  # in the server


def account_named(name: str | None) -> dict[str, Any] | None:
    """{"name", "role"} of an account, or None (a job started by "page" or "cli" without accounts)."""
    row = store.get(name) if name and enabled() else None
    return {"name": row["name"], "role": row["role"]} if row else None


class NotAllowed(InputError):
    """The signed-in account's role may not do this (CLI exit 2, API 403)."""


class SignInRequired(InputError):
    """The studio has accounts and nobody signed in (API 401)."""


def role_label(role: str) -> str:
    return _(ROLE_LABELS.get(role, role))


def enabled() -> bool:
    """Whether the studio has accounts (then everything needs a sign-in)."""
    return store.count() > 0


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


def _check_name_role(name: str, role: str) -> None:
    if not name or not name.strip() or len(name) > 64 or any(c in name for c in ":/\\\n\t"):
        raise InputError(_("an account name is 1 to 64 characters, without : / \\ or line breaks"))
    if name.lower() in RESERVED:
        raise InputError(_("{name} is a word the studio keeps for itself: choose another name").format(name=name))
    if role not in ROLES:
        raise InputError(_("unknown role {role}; choose one of {roles}").format(role=role, roles=", ".join(ROLES)))


def _check_password(password: str) -> None:
    if len(password or "") < 8:
        raise InputError(_("a password has at least 8 characters"))


def add(name: str, role: str, password: str | None = None) -> dict[str, Any]:
    """A new account; the first must be an admin."""
    name = (name or "").strip()
    _check_name_role(name, role)
    if password is not None:
        _check_password(password)
    with db.transaction() as cur:
        if store.count(cur=cur) == 0 and role != "admin":
            raise InputError(_("the first account must be an admin (it manages the others)"))
        if store.get(name, cur=cur):
            raise InputError(_("there is already an account named {name}").format(name=name))
        store.insert(name, role, _hasher().hash(password) if password else None, cur=cur)
    return public(name)


def public(name: str) -> dict[str, Any]:
    """An account as anyone may see it: name, role, times; never a hash."""
    row = store.get(name)
    if row is None:
        raise NotFound(_("no account named {name}").format(name=name))
    return {"name": row["name"], "role": row["role"], "created_at": row["created_at"],
            "last_signin": row["last_signin"]}


def list_users() -> list[dict[str, Any]]:
    return [{"name": r["name"], "role": r["role"], "created_at": r["created_at"], "last_signin": r["last_signin"]}
            for r in store.list_all()]


def set_role(name: str, role: str) -> dict[str, Any]:
    _check_name_role(name, role)
    with db.transaction() as cur:
        row = store.get(name, cur=cur)
        if row is None:
            raise NotFound(_("no account named {name}").format(name=name))
        if row["role"] == "admin" and role != "admin" and store.admins(cur=cur) == 1:
            raise InputError(_("{name} is the last admin: make another admin first").format(name=name))
        store.update(name, role=role, cur=cur)
        store.end_sessions(name, cur=cur)
    return public(name)


def set_password(name: str, password: str) -> dict[str, Any]:
    _check_password(password)
    with db.transaction() as cur:
        if store.get(name, cur=cur) is None:
            raise NotFound(_("no account named {name}").format(name=name))
        store.update(name, password_hash=_hasher().hash(password), cur=cur)
        store.end_sessions(name, cur=cur)
    return public(name)


def remove(name: str) -> dict[str, Any]:
    with db.transaction() as cur:
        row = store.get(name, cur=cur)
        if row is None:
            raise NotFound(_("no account named {name}").format(name=name))
        if row["role"] == "admin" and store.admins(cur=cur) == 1 and store.count(cur=cur) > 1:
            raise InputError(_("{name} is the last admin: make another admin first").format(name=name))
        store.delete(name, cur=cur)
    return {"name": name, "removed": True}


def new_token(name: str) -> str:
    """A fresh API token for the account (shown once; the studio keeps only its hash)."""
    token = "st_" + secrets.token_urlsafe(32)
    with db.transaction() as cur:
        if store.get(name, cur=cur) is None:
            raise NotFound(_("no account named {name}").format(name=name))
        store.update(name, token_hash=_digest(token), cur=cur)
    return token


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ---------------------------------------------------------------------------------------- signing in

def wait_before_next(name: str, address: str) -> float:
    """Seconds this name or address must still wait before the next attempt (0: may try now)."""
    failures, since = store.recent_failures(name, address, WINDOW_S)
    if failures < FREE_FAILURES or since is None:
        return 0.0
    wait = min(2.0 ** (failures - FREE_FAILURES), MAX_WAIT_S)
    return max(0.0, wait - since)


def sign_in(name: str, password: str, address: str = "") -> dict[str, Any]:
    """The account for this name and password, or InputError (a wrong pair, or too many tries)."""
    name = (name or "").strip()
    wait = wait_before_next(name, address)
    if wait > 0:
        raise InputError(_("too many failed sign-ins for this name or address: try again in {seconds} s").format(
            seconds=int(wait) + 1))
    row = store.get(name, secrets=True) if name else None
    ok = False
    if row is not None and row["password_hash"]:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            ok = _hasher().verify(row["password_hash"], password or "")
        except (VerificationError, InvalidHashError):
            ok = False
    if not ok:
        with db.transaction() as cur:
            store.record_failure(name, address, cur=cur)
        raise InputError(_("wrong account name or password"))
    with db.transaction() as cur:
        store.clear_failures(name, cur=cur)
        store.update(name, last_signin=_now(), cur=cur)
    return {"name": row["name"], "role": row["role"], "session_version": row["session_version"]}


def from_token(token: str | None) -> dict[str, Any] | None:
    if not token or not token.startswith("st_"):
        return None
    row = store.by_token(_digest(token))
    return {"name": row["name"], "role": row["role"]} if row else None


def _secret() -> bytes:
    path = Path(str(settings.path("db").resolve()) + ".secret")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    return path.read_bytes()


def _serializer():
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(_secret(), salt="studio-session")


def session_hours() -> float:
    return float(settings.get("session_hours") or 168)


def make_cookie(user: dict[str, Any]) -> str:
    return _serializer().dumps({"u": user["name"], "v": user["session_version"]})


def from_cookie(value: str | None) -> dict[str, Any] | None:
    """The account a session cookie names, if its signature, age and session version hold."""
    if not value:
        return None
    from itsdangerous import BadSignature

    try:
        data = _serializer().loads(value, max_age=session_hours() * 3600)
    except BadSignature:
        return None
    row = store.get(str(data.get("u")))
    if row is None or row["session_version"] != data.get("v"):
        return None
    return {"name": row["name"], "role": row["role"]}


# ---------------------------------------------------------------------------------------- permissions

def may_open(user: dict[str, Any] | None, page: str) -> bool:
    return user is None or page in PAGES.get(user["role"], set())


def check_command(user: dict[str, Any] | None, argv: list[str]) -> None:
    """Refuse a CLI command (or its API call) the account's role may not run."""
    if user is None or not argv:
        return
    command, action = argv[0], (argv[1] if len(argv) > 1 else "")
    managing = (command == "jobs" and action in ("cancel", "retry")) or \
        (command == "tasks" and action in ("create", "reassign"))
    if managing and user["role"] not in ("admin", "engineer"):
        raise NotAllowed(_("not allowed for role {role}").format(role=user["role"]))
    if command not in COMMANDS.get(user["role"], set()) and command not in ("-h", "--help"):
        raise NotAllowed(_("not allowed for role {role}").format(role=user["role"]))


def cli_user(argv: list[str]) -> dict[str, Any] | None:
    """Who runs this CLI command: inside the server, the account the API identified (``acting``); None
    without accounts; else the account given by ``STUDIO_TOKEN``, or ``STUDIO_USER`` / ``STUDIO_PASSWORD``."""
    if acting.get() is not None:
        return acting.get()
    if not enabled():
        return None
    token = os.environ.get("STUDIO_TOKEN")
    if token:
        user = from_token(token)
        if user is None:
            raise SignInRequired(_("STUDIO_TOKEN is not a valid token of this studio"))
        return user
    name = os.environ.get("STUDIO_USER")
    if not name:
        raise SignInRequired(_("this studio has accounts: sign in with STUDIO_USER and STUDIO_PASSWORD, or "
                               "STUDIO_TOKEN (from `python -m studio users token NAME`)"))
    user = sign_in(name, os.environ.get("STUDIO_PASSWORD", ""), address="cli")
    return {"name": user["name"], "role": user["role"]}


def _now():
    from datetime import datetime

    return datetime.now()
