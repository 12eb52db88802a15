"""The CLI beside a running server: commands go to the server's API and print exactly what they print alone.

When a studio server holds the database it leaves ``<db>.server.json`` beside it (port, pid and a random
token; readable by its owner only). ``python -m studio CMD ...`` then sends ``CMD ...`` to
``POST /api/v1/commands``:

- quick reads (``status``, ``runs``, ``jobs``, ``snapshots``) run at once and come back as
  ``{"code", "stdout", "stderr"}``;
- everything else becomes a job of kind ``command`` (this module registers it): the CLI follows it with a
  progress bar and prints its captured output at the end. Ctrl-C (or a killed CLI) leaves the job running;
  the CLI says how to cancel it. A ``generate`` command resumes after a restart of the server.

Paths on the command line are made absolute first: the server runs in another working directory.
"""
from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from studio.core import i18n, labels, progress
from studio.core.i18n import N_, _
from studio.service.jobs import Context, kind

QUICK = ("status", "runs", "jobs", "snapshots")
RESUMABLE = ("generate",)
MODEL = ("compare", "eval")   # load a model in the server: one at a time, on the device slot
PATH_FLAGS = ("--out", "--prompts")


def _resumes(args: dict[str, Any]) -> bool:
    return bool(args.get("argv")) and args["argv"][0] in RESUMABLE


def _slot(args: dict[str, Any]) -> str:
    return "model" if args.get("argv") and args["argv"][0] in MODEL else "io"


@kind("command", N_("Command"), resumable=_resumes, slot=_slot)
def command(args: dict[str, Any], ctx: Context) -> dict[str, Any]:
    """Run a CLI command inside the server, its output captured and its progress reported to the job."""
    def sink(done=None, total=None, message=None):
        ctx.progress(done, total, message)
        if ctx.stop.is_set():
            raise KeyboardInterrupt  # the commands' own Ctrl-C path: stop after the unit in flight

    with progress.sink(sink):
        return run_captured(list(args["argv"]))


def run_captured(argv: list[str]) -> dict[str, Any]:
    """``{"code", "stdout", "stderr"}`` of one command run in this thread of the server."""
    from studio.cli import run_in_server
    from studio.service import capture

    with capture.captured() as out:
        try:
            code = run_in_server(argv)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 2
        except KeyboardInterrupt:
            print(_("error: {message}").format(message=_("cancelled")), file=sys.stderr)
            code = 1
    return {"code": code, "stdout": out["out"].getvalue(), "stderr": capture.printable(out["err"].getvalue())}


# -- the CLI's side ---------------------------------------------------------------------------------
def info_file(db_file: str | Path) -> Path:
    return Path(str(db_file) + ".server.json")


def server_for(db: str | None) -> dict[str, Any] | None:
    """The server holding this database, or None (no file, a stale file, or the server does not answer)."""
    from studio.core import settings

    path = info_file(Path(db) if db else settings.path("db"))
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(info["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return None
    try:
        _call(info, "GET", "/api/v1/health", timeout=5)
    except OSError:
        return None
    return info


def _call(info: dict[str, Any], method: str, path: str, body: dict | None = None, timeout: float = 30) -> dict:
    headers = {"Authorization": f"Bearer {info['token']}", "Content-Type": "application/json"}
    # with accounts the server acts as the CLI's account (never the password in a command line or a log)
    for var, header in (("STUDIO_TOKEN", "X-Studio-Token"), ("STUDIO_USER", "X-Studio-User"),
                        ("STUDIO_PASSWORD", "X-Studio-Password")):
        if os.environ.get(var):
            headers[header] = os.environ[var]
    req = urllib.request.Request(f"http://{info['host']}:{info['port']}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as reply:
        return json.loads(reply.read().decode("utf-8"))


def absolute(argv: list[str]) -> list[str]:
    """The same command line with existing paths (and the values of ``--out``-like flags) made absolute."""
    out, after_flag = [], False
    for i, token in enumerate(argv):
        if after_flag or (i > 0 and not token.startswith("-") and os.path.exists(token)):
            token = os.path.abspath(token)
        after_flag = token in PATH_FLAGS
        out.append(token)
    return out


def forward(info: dict[str, Any], argv: list[str], *, json_out: bool = False) -> int:
    """Send a command to the server and print what it printed; the exit code is the command's."""
    argv = absolute(_without_db(argv))
    try:
        reply = _call(info, "POST", "/api/v1/commands", {"argv": argv, "lang": i18n.current()}, timeout=600)
    except urllib.error.HTTPError as err:
        reason = _reason(err)
        if err.code in (401, 403):  # not signed in, or the role may not: the account's words, exit 2
            print(_("error: {message}").format(message=reason), file=sys.stderr)
        else:
            print(_("error: the studio's server refused the command ({code}): {reason}").format(
                code=err.code, reason=reason), file=sys.stderr)
        return 2
    except OSError as err:
        print(_("error: the studio's server at port {port} did not answer ({reason})").format(
            port=info["port"], reason=type(err).__name__), file=sys.stderr)
        return 1
    if "job" in reply:
        reply = _follow(info, reply["job"])
        if reply is None:
            return 1
    sys.stdout.write(reply.get("stdout") or "")
    sys.stderr.write(reply.get("stderr") or "")
    return int(reply.get("code") or 0)


def _without_db(argv: list[str]) -> list[str]:
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
            continue
        if token == "--db":
            skip = True
            continue
        if token.startswith("--db="):
            continue
        out.append(token)
    return out


def _reason(err: urllib.error.HTTPError) -> str:
    try:
        return json.loads(err.read().decode("utf-8")).get("error", "")
    except ValueError:
        return ""


def _follow(info: dict[str, Any], job: dict[str, Any]) -> dict[str, Any] | None:
    """Poll a job to its end with a progress bar on stderr; None when Ctrl-C left it running."""
    from tqdm import tqdm

    bar = tqdm(total=None, desc=_("job {id}").format(id=job["id"]), file=sys.stderr, disable=None, leave=False)
    try:
        while job["state"] in ("queued", "running"):
            time.sleep(0.3)
            job = _call(info, "GET", f"/api/v1/jobs/{job['id']}")
            if job.get("total"):
                bar.total = job["total"]
                bar.n = job["done"] or 0
                bar.set_postfix_str(job.get("message") or "", refresh=True)
    except KeyboardInterrupt:
        bar.close()
        print("\n" + _("the job goes on in the studio's server: follow it with `python -m studio jobs`, "
                       "cancel it with `python -m studio jobs cancel {id}`").format(id=job["id"]), file=sys.stderr)
        return None
    bar.close()
    result = job.get("result") or {}
    if "code" not in result:  # failed before the command could report (a bug, or the server stopped it)
        message = job.get("message") or labels.label("state", job["state"])
        return {"code": 1, "stdout": "", "stderr": _("error: {message}").format(message=message) + "\n"}
    return result
