"""The one place an OpenAI-compatible client is built. Every LLM call of the studio goes through it.

The API key comes from the environment (the variable named by ``STUDIO_API_KEY_ENV``, default
``OPENAI_API_KEY``) or from Streamlit secrets passed in by a page — never from the database, and it is
never written to the database, logs or exports.
"""
from __future__ import annotations

import os

from studio.core import settings
from studio.core.errors import InputError
from studio.core.i18n import _


def api_key(secrets: dict | None = None) -> str | None:
    """The API key from the environment, else from Streamlit secrets (a mapping given by the page)."""
    name = settings.get("api_key_env")
    key = os.environ.get(name)
    if not key and secrets:
        key = secrets.get(name) or secrets.get(name.lower())
    return key or None


def get_client(base_url: str | None = None, *, key: str | None = None, timeout: float = 60.0,
               max_retries: int = 2):
    """An ``openai.OpenAI`` client for ``base_url`` (default ``STUDIO_BASE_URL``).

    A local server (Ollama, vLLM on loopback) may need no key: a placeholder is sent then.
    """
    import openai

    base_url = base_url or settings.get("base_url") or None
    if not base_url:
        raise InputError(_("no endpoint: give a base URL (or set STUDIO_BASE_URL)"))
    key = key or api_key()
    if not key:
        local = any(h in base_url for h in ("127.0.0.1", "localhost", "[::1]"))
        if not local:
            raise InputError(_("no API key: set {name} in the environment or Streamlit secrets").format(
                name=settings.get("api_key_env")))
        key = "no-key"
    return openai.OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=max_retries)
