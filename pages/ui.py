"""Helpers every page shares: start-up, and typed errors turned into one st.error."""
from __future__ import annotations

from contextlib import contextmanager

import streamlit as st

from studio.core.errors import StudioError


@st.cache_resource(show_spinner="Opening the project…")
def _started(db_file: str) -> dict:
    from studio.project import init

    return init(build_model=False)


def start() -> dict:
    """Migrate the database and load the demo project once per process and database file."""
    from studio.core import settings

    with shown_errors():
        return _started(str(settings.path("db").resolve()))
    st.stop()


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


def api_key() -> str | None:
    """The API key from the environment, else from Streamlit secrets (never stored anywhere)."""
    from studio.core import llm

    try:
        secrets = dict(st.secrets)
    except Exception:  # noqa: BLE001 - no secrets file: the key comes from the environment or nowhere
        secrets = {}
    return llm.api_key(secrets)
