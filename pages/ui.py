"""Helpers every page shares: start-up, and typed errors turned into one st.error."""
from __future__ import annotations

from contextlib import contextmanager

import streamlit as st

from studio.core.errors import StudioError


@st.cache_resource(show_spinner=False)
def _started(db_file: str) -> dict:
    from studio.project import init

    return init(build_model=False)


def start() -> dict:
    """Pick this run's language, then migrate the database and load the demo project (once per process)."""
    from studio.core import settings

    language()
    with shown_errors():
        return _started(str(settings.path("db").resolve()))
    st.stop()


def chosen_language() -> str:
    """The sidebar switch, else ``STUDIO_LANG``, else the browser's locale, else Chinese.

    The switch's choice is kept in the session and in the page address (``?lang=en``), so it holds across
    pages, reloads and bookmarks.
    """
    from studio.core import i18n

    chosen = i18n.normalise(st.session_state.get("ui_lang")) or i18n.normalise(st.query_params.get("lang"))
    if chosen:
        return chosen
    import os

    return (i18n.normalise(os.environ.get("STUDIO_LANG")) or i18n.normalise(st.context.locale) or "zh")


def _session_language() -> str | None:
    """The page session's language for a run that did not set one (a fragment's rerun); None off a page."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    if get_script_run_ctx() is None:
        return None
    return chosen_language()


def language() -> str:
    """Set this script run's language and draw the sidebar switch (its label is in both languages)."""
    from studio.core import i18n

    i18n.set_provider(_session_language)
    lang = chosen_language()
    i18n.set_lang(lang)
    if st.session_state.get("ui_lang") or st.query_params.get("lang"):
        st.session_state["ui_lang"] = lang
        st.query_params["lang"] = lang
    picked = st.sidebar.segmented_control("语言 / Language", list(i18n.LANGS), default=lang,
                                          format_func=i18n.lang_name, key=f"lang_switch_{lang}")
    if picked and picked != lang:
        st.session_state["ui_lang"] = picked
        st.query_params["lang"] = picked
        st.rerun()
    return lang


def account() -> dict | None:
    """The signed-in account (None while the studio has no accounts, or without a valid session); draws
    nothing. The session cookie is re-checked at most every 30 s per browser tab."""
    import time

    from studio.service import accounts

    cookie = st.context.cookies.get(accounts.COOKIE)
    seen = st.session_state.get("_account")
    if seen and seen["cookie"] == cookie and time.monotonic() - seen["at"] < 30:
        return seen["user"]
    user = accounts.from_cookie(cookie) if accounts.enabled() else None
    st.session_state["_account"] = {"cookie": cookie, "user": user, "at": time.monotonic(),
                                    "enabled": user is not None or accounts.enabled()}
    return user


def signed_in() -> dict | None:
    """app.py's gate: the signed-in account with "signed in as" and a sign-out link in the sidebar; None while
    the studio has no accounts; without a valid session, a link to the sign-in page and nothing else."""
    from studio.core.i18n import _
    from studio.service import accounts

    user = account()
    if user is None and not st.session_state["_account"]["enabled"]:
        return None
    if user is None:
        sign_in = _("Sign in")
        st.title(sign_in)
        st.info(_("This studio has accounts: sign in to use it (your session may have ended)."))
        st.markdown(f'<a href="/login" target="_self">{sign_in}</a>', unsafe_allow_html=True)
        st.stop()
    sign_out = _("Sign out")
    with st.sidebar:
        st.caption(_("Signed in as {name} ({role})").format(name=user["name"], role=accounts.role_label(user["role"])))
        st.markdown(f'<a href="/logout" target="_self">{sign_out}</a>', unsafe_allow_html=True)
    return user


def may_open(page: str) -> bool:
    """Whether the signed-in account (anyone, without accounts) may use a page (``pages/<page>.py``)."""
    from studio.service import accounts

    return accounts.may_open(account(), page)


@contextmanager
def shown_errors():
    """Show a StudioError as one st.error; anything else is a bug and keeps its traceback."""
    try:
        yield
    except StudioError as err:
        st.error(str(err), icon=":material/error:")


def guarded(func, *args, **kwargs):
    """Call ``func``; on a StudioError show it and return None."""
    try:
        return func(*args, **kwargs)
    except StudioError as err:
        st.error(str(err), icon=":material/error:")
        return None


def streamlit_secrets() -> dict:
    """``.streamlit/secrets.toml`` as a dict; empty when there is none (keys then come from the environment)."""
    try:
        return dict(st.secrets)
    except Exception:  # noqa: BLE001 - no secrets file
        return {}


def api_key() -> str | None:
    """The API key from the environment, else from Streamlit secrets (never stored anywhere)."""
    from studio.core import llm

    return llm.api_key(streamlit_secrets())


def secret_keys(system_ids) -> dict:
    """The API systems' keys held in Streamlit secrets, by variable name (the environment comes first;
    handed to a job in memory, never stored)."""
    from studio.evaluate import systems as api_systems

    return api_systems.keys_from(streamlit_secrets(), system_ids)
