"""The studio's one server process (``python -m studio serve``, ``make run``): pages, API, supervisor.

An ASGI app (Streamlit's ``st.App``) served by uvicorn on 127.0.0.1:

- the pages (``app.py``) and ``/_stcore/health``;
- a JSON API under ``/api/v1/`` that the CLI uses while this server holds the database: ``POST commands``
  (``{"argv": [...]}``: a quick read answers at once, anything else becomes a job), ``GET jobs``,
  ``GET jobs/ID``, ``POST jobs/ID/cancel``, ``POST jobs/ID/retry``, ``GET health``. Every request needs
  the token written to ``<db>.server.json`` (owner-only) as ``Authorization: Bearer TOKEN``; without it: 401;
- its lifespan recovers jobs a dead server left running, starts the supervisor (jobs, fine-tune runs) and
  writes the server file; on shutdown it stops them and removes the file.

Streamlit's legacy ``pages/`` auto-navigation is off: the studio navigates with ``st.navigation`` alone.
Arguments: ``--host H --port P`` (``--server.address`` / ``--server.port`` too), other ``--section.option
value`` pairs set Streamlit options.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent
TOKEN = secrets.token_urlsafe(32)
_where = {"host": "127.0.0.1", "port": 8501}


def _authorised(request) -> bool:
    given = request.headers.get("authorization", "")
    return secrets.compare_digest(given.encode(), f"Bearer {TOKEN}".encode())


def _api(handler):
    """A JSON endpoint: 401 without the token; a StudioError is one message with the CLI's status."""
    from starlette.responses import JSONResponse

    from studio.core.errors import StudioError

    async def endpoint(request):
        if not _authorised(request):
            return JSONResponse({"error": "a valid token is required (see the server file beside the database)"},
                                status_code=401)
        try:
            return JSONResponse(await handler(request), media_type="application/json")
        except StudioError as err:
            return JSONResponse({"error": str(err)}, status_code=400 if err.exit_code == 2 else 409)
    return endpoint


def _jsonable(value):
    return json.loads(json.dumps(value, ensure_ascii=False, default=str))


async def _health(request):
    return {"ok": True, "pid": os.getpid()}


async def _commands(request):
    from studio.cli import remote
    from studio.core import i18n
    from studio.core.errors import InputError
    from studio.service import jobs

    body = await request.json()
    argv = body.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise InputError("send {\"argv\": [\"command\", ...]}")
    with i18n.using(body.get("lang")):  # the command speaks the CLI user's language (threads copy it)
        if argv[0] in remote.QUICK and not (argv[0] == "runs" and len(argv) > 1 and not argv[1].startswith("-")):
            return await asyncio.to_thread(remote.run_captured, argv)
        job = await asyncio.to_thread(jobs.submit, "command", {"argv": argv}, who="cli")
    return {"job": _jsonable(job)}


async def _jobs(request):
    from studio.service import jobs

    return {"jobs": _jsonable(await asyncio.to_thread(jobs.list_jobs, limit=200))}


async def _job(request):
    from studio.service import jobs

    return _jsonable(await asyncio.to_thread(jobs.get, int(request.path_params["id"])))


async def _job_action(request):
    from studio.service import jobs

    action = jobs.cancel if request.path_params["action"] == "cancel" else jobs.retry
    return _jsonable(await asyncio.to_thread(action, int(request.path_params["id"])))


def routes():
    from starlette.routing import Route

    return [
        Route("/api/v1/health", _api(_health), methods=["GET"]),
        Route("/api/v1/commands", _api(_commands), methods=["POST"]),
        Route("/api/v1/jobs", _api(_jobs), methods=["GET"]),
        Route("/api/v1/jobs/{id:int}", _api(_job), methods=["GET"]),
        Route("/api/v1/jobs/{id:int}/{action:str}", _api(_job_action), methods=["POST"]),
    ]


def _server_file() -> Path:
    from studio.cli import remote
    from studio.core import settings

    return remote.info_file(settings.path("db").resolve())


@asynccontextmanager
async def lifespan(app):
    from store import db
    from studio.cli import remote  # noqa: F401 - registers the ``command`` job kind before recovery
    from studio.service import capture, supervisor

    capture.install()
    await asyncio.to_thread(supervisor.start_for_server)
    info = _server_file()
    fd = os.open(info, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"pid": os.getpid(), "host": _where["host"], "port": _where["port"], "token": TOKEN}, f)
    try:
        yield
    finally:
        info.unlink(missing_ok=True)
        supervisor.stop()
        db.close_all()


def build_app():
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    return st.App(str(ROOT / "app.py"), routes=routes(), lifespan=lifespan)


def _options(argv: list[str]) -> dict[str, str]:
    opts, i = {}, 0
    while i < len(argv):
        key = argv[i]
        if not key.startswith("--"):
            sys.exit(f"serve.py: unexpected argument {key!r}")
        if "=" in key:
            key, value = key.split("=", 1)
            i += 1
        else:
            value = argv[i + 1] if i + 1 < len(argv) else ""
            i += 2
        opts[key[2:]] = value
    return opts


def main(argv: list[str]) -> None:
    import uvicorn
    from streamlit import config

    opts = _options(argv)
    _where["host"] = opts.pop("host", None) or opts.pop("server.address", None) or "127.0.0.1"
    _where["port"] = int(opts.pop("port", None) or opts.pop("server.port", None) or os.environ.get("STUDIO_PORT")
                         or 8501)
    opts.pop("server.address", None)
    opts.pop("server.port", None)
    config.set_option("runner.postScriptGC", False)  # ~4x renders/s under load (see ../shared/STACK.md)
    for key, value in opts.items():
        config.set_option(key, {"true": True, "false": False}.get(value, value))
    uvicorn.run(build_app(), host=_where["host"], port=_where["port"], log_level="warning")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:])
