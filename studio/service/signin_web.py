"""The sign-in door of a studio with accounts: ``/login`` (a plain HTML form), ``/logout``, and the gate that
sends a browser without a valid session to it.

The form is served by the studio's server itself (not a Streamlit page), so that a successful sign-in can
set the session cookie (``HttpOnly``, ``SameSite=Lax``, signed, see :mod:`studio.service.accounts`) before
the pages load; every page and the pages' websocket then carry it. Language: ``?lang=``, else the
``STUDIO_LANG``, else the browser's ``Accept-Language``, else Chinese.
"""
from __future__ import annotations

import html
from urllib.parse import parse_qs, quote, urlsplit

from studio.core import i18n
from studio.core.i18n import _

# paths a browser may reach without a session: the door itself, health, the API (own auth), static files
OPEN_PREFIXES = ("/login", "/logout", "/_stcore/health", "/api/", "/static/", "/favicon", "/_stcore/host-config",
                 "/_stcore/metrics")


def language(query: str, accept: str) -> str:
    """As the pages choose: ``?lang=``, else ``STUDIO_LANG``, else the browser's language, else Chinese."""
    import os

    asked = parse_qs(query).get("lang", [""])[0]
    return (i18n.normalise(asked) or i18n.normalise(os.environ.get("STUDIO_LANG"))
            or i18n.normalise((accept or "").split(",")[0]) or "zh")


def safe_next(target: str | None) -> str:
    """Only a path on this server (no scheme, no host): an open redirect cannot leave the studio."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def page(lang: str, *, next_path: str = "/", error: str | None = None, name: str = "") -> str:
    """The sign-in form as one HTML page."""
    with i18n.using(lang):
        title, who, secret, button = _("Sign in"), _("Account name"), _("Password"), _("Sign in")
        studio = _("LLM Studio")
        hint = _("Ask an admin of this studio for an account.")
    problem = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="{'zh-CN' if lang == 'zh' else 'en'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)} · {html.escape(studio)}</title>
<style>body{{font-family:"Noto Sans CJK SC","Source Sans Pro",sans-serif;background:#f6f7f9;margin:0}}
main{{max-width:360px;margin:12vh auto;background:#fff;padding:32px;border-radius:8px;box-shadow:0 1px 4px #0002}}
label{{display:block;margin:14px 0 4px}}input{{width:100%;padding:8px;font-size:16px;box-sizing:border-box}}
button{{margin-top:20px;width:100%;padding:10px;font-size:16px;background:#ff4b4b;color:#fff;border:0;border-radius:6px}}
.error{{color:#b00020}}.hint{{color:#666;font-size:14px}}</style></head>
<body><main><h1>{html.escape(studio)}</h1>{problem}
<form method="post" action="/login?lang={lang}">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<label for="name">{html.escape(who)}</label><input id="name" name="name" autocomplete="username" value="{html.escape(name)}" required autofocus>
<label for="password">{html.escape(secret)}</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{html.escape(button)}</button></form>
<p class="hint">{html.escape(hint)}</p></main></body></html>"""


def form_fields(body: bytes) -> dict[str, str]:
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {k: v[0] for k, v in fields.items()}


def login_url(path: str, query: str) -> str:
    target = path + (f"?{query}" if query else "")
    return "/login?next=" + quote(target, safe="")
