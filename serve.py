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
sys.path.insert(0, str(ROOT))
from studio.core import i18n  # noqa: E402 - after the path: serve.py also runs as a script
from studio.core.i18n import _  # noqa: E402

TOKEN = secrets.token_urlsafe(32)
_where = {"host": "127.0.0.1", "port": 8501}


def _authorised(request) -> bool:
    given = request.headers.get("authorization", "")
    return secrets.compare_digest(given.encode(), f"Bearer {TOKEN}".encode())


def _client(request) -> str:
    return request.client.host if request.client else ""


def identify(request) -> dict | None:
    """Who sends this API request. Without accounts: nobody in particular, and the server file's token is
    required. With accounts: the account of a user API token (``Authorization: Bearer st_…`` or
    ``X-Studio-Token``), of ``X-Studio-User`` / ``X-Studio-Password``, or of a signed-in browser's cookie.
    Raises SignInRequired (401) when none holds."""
    from studio.service import accounts

    if not accounts.enabled():
        if not _authorised(request):
            raise accounts.SignInRequired(_("a valid token is required (see the server file beside the database)"))
        return None
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    user = (accounts.from_token(request.headers.get("x-studio-token")) or accounts.from_token(bearer)
            or accounts.from_cookie(request.cookies.get(accounts.COOKIE)))
    if user is None and request.headers.get("x-studio-user"):
        user = accounts.sign_in(request.headers["x-studio-user"], request.headers.get("x-studio-password", ""),
                                _client(request))
    if user is None:
        raise accounts.SignInRequired(_("this studio has accounts: sign in with STUDIO_USER and STUDIO_PASSWORD, "
                                        "or an API token (python -m studio users token NAME)"))
    return {"name": user["name"], "role": user["role"]}


def _api(handler, *, roles: tuple[str, ...] | None = None, public: bool = False):
    """A JSON endpoint: 401 without a sign-in (or the token), 403 for a role ``roles`` leaves out; a
    StudioError is one message with the CLI's status."""
    from starlette.responses import JSONResponse

    from studio.core.errors import StudioError
    from studio.service import accounts

    async def endpoint(request):
        try:
            user = None if public else await asyncio.to_thread(identify, request)
            if user is not None and roles is not None and user["role"] not in roles:
                raise accounts.NotAllowed(_("not allowed for role {role}").format(role=user["role"]))
            request.state.user = user
            return JSONResponse(await handler(request), media_type="application/json")
        except accounts.SignInRequired as err:
            return JSONResponse({"error": str(err)}, status_code=401)
        except accounts.NotAllowed as err:
            return JSONResponse({"error": str(err)}, status_code=403)
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
    from studio.service import accounts, jobs

    body = await request.json()
    argv = body.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise InputError(_("send {\"argv\": [\"command\", ...]}"))
    words = [a for a in argv if not a.startswith("-")]
    user = request.state.user
    accounts.acting.set(user)  # this request's context: the command acts as the account (threads copy it)
    with i18n.using(body.get("lang")):  # the command speaks the CLI user's language (threads copy it)
        accounts.check_command(user, words[:2])
        if words and words[0] in remote.QUICK and not (words[0] == "runs" and len(words) > 1):
            return await asyncio.to_thread(remote.run_captured, argv)
        job = await asyncio.to_thread(jobs.submit, "command", {"argv": argv}, who=user["name"] if user else "cli")
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


async def _login(request):
    from starlette.responses import HTMLResponse, RedirectResponse

    from studio.core.errors import InputError
    from studio.service import accounts, signin_web

    lang = signin_web.language(request.url.query, request.headers.get("accept-language", ""))
    if request.method == "GET":
        return HTMLResponse(signin_web.page(lang, next_path=signin_web.safe_next(request.query_params.get("next"))))
    fields = signin_web.form_fields(await request.body())
    target = signin_web.safe_next(fields.get("next"))
    try:
        with i18n.using(lang):
            user = await asyncio.to_thread(accounts.sign_in, fields.get("name", ""), fields.get("password", ""),
                                           _client(request))
    except InputError as err:
        return HTMLResponse(signin_web.page(lang, next_path=target, error=str(err), name=fields.get("name", "")),
                            status_code=401)
    reply = RedirectResponse(target, status_code=303)
    reply.set_cookie(accounts.COOKIE, await asyncio.to_thread(accounts.make_cookie, user),
                     max_age=int(accounts.session_hours() * 3600), httponly=True, samesite="lax", path="/")
    return reply


async def _logout(request):
    from starlette.responses import RedirectResponse

    from studio.service import accounts

    reply = RedirectResponse("/login", status_code=303)
    reply.delete_cookie(accounts.COOKIE, path="/")
    return reply


class SignInGate:
    """With accounts, a browser without a valid session goes to ``/login`` (pages), and the pages' websocket
    is refused; the API checks its own credentials (``identify``)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        from studio.service import signin_web

        path = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or path.startswith(signin_web.OPEN_PREFIXES):
            return await self.app(scope, receive, send)
        if not await asyncio.to_thread(_without_session, scope):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 4401})
        from starlette.responses import RedirectResponse

        query = scope.get("query_string", b"").decode("latin-1")
        return await RedirectResponse(signin_web.login_url(path, query), status_code=303)(scope, receive, send)


def _without_session(scope) -> bool:
    from http.cookies import SimpleCookie

    from studio.service import accounts

    if not accounts.enabled():
        return False
    cookies = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            cookies.load(value.decode("latin-1"))
    morsel = cookies.get(accounts.COOKIE)
    return accounts.from_cookie(morsel.value if morsel else None) is None


def routes():
    from starlette.routing import Route

    return [
        Route("/login", _login, methods=["GET", "POST"]),
        Route("/logout", _logout, methods=["GET", "POST"]),
        Route("/api/v1/health", _api(_health, public=True), methods=["GET"]),
        Route("/api/v1/commands", _api(_commands), methods=["POST"]),
        Route("/api/v1/jobs", _api(_jobs), methods=["GET"]),
        Route("/api/v1/jobs/{id:int}", _api(_job), methods=["GET"]),
        Route("/api/v1/jobs/{id:int}/{action:str}", _api(_job_action, roles=("admin", "engineer")),
              methods=["POST"]),
    ]


def _server_file() -> Path:
    from studio.cli import remote
    from studio.core import settings

    return remote.info_file(settings.path("db").resolve())


def _freeze_startup_objects() -> None:
    """Import what the pages use, then move everything alive now out of the garbage collector's view
    (``gc.freeze``): a full collection then walks only what renders create (~0 ms instead of ~80 ms, measured
    with benchmarks/bench_sessions.py). Streamlit's collection after every script run stays off (``main``)."""
    import gc

    import pandas  # noqa: F401 - the pages' heavy imports, loaded once before freezing
    import plotly.graph_objects  # noqa: F401

    gc.collect()
    gc.freeze()


@asynccontextmanager
async def lifespan(app):
    from store import db
    from studio.cli import remote  # noqa: F401 - registers the ``command`` job kind before recovery
    from studio.service import capture, supervisor

    capture.install()
    await asyncio.to_thread(supervisor.start_for_server)
    _freeze_startup_objects()
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
    from starlette.middleware import Middleware

    return st.App(str(ROOT / "app.py"), routes=routes(), lifespan=lifespan, middleware=[Middleware(SignInGate)])


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
