"""Message catalogs: every string a person reads goes through ``_()`` / ``ngettext()``; zh and en.

The catalogs are gettext files managed with Babel under ``locales/`` (``locales/<locale>/LC_MESSAGES/
studio.po``; ``make`` compiles them to ``.mo``; a missing or stale ``.mo`` is compiled in memory from the
``.po``). Message ids are the English text, so ``en`` needs no translation and a string missing from the
zh catalog shows in English rather than breaking (the catalog test fails on it).

Which language: the current work's language is a context variable. A page sets it at the start of every
script run (sidebar switch, else ``STUDIO_LANG``, else the browser's locale, else Chinese); the CLI and
jobs use ``STUDIO_LANG``, else the process locale (``LC_ALL`` / ``LC_MESSAGES`` / ``LANG``), else English.
JSON keys, CLI flags and database values stay English whatever the language.

Brace placeholders keep translations reorderable: ``_("Delete {n} rows").format(n=4)``; never translate an
f-string (it cannot be extracted). Strings defined at import time are marked with ``N_()`` and translated
where they are shown: ``_(FIELD.help)``.
"""
from __future__ import annotations

import gettext
import os
import time
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path

LANGS = ("zh", "en")
LANG_NAMES = {"zh": "中文", "en": "English"}
LOCALES = {"zh": "zh_CN", "en": "en"}  # language -> gettext locale folder
DOMAIN = "studio"
LOCALE_DIR = Path(__file__).resolve().parents[2] / "locales"

_current: ContextVar[str | None] = ContextVar("studio_lang", default=None)
_stamps: dict[str, tuple[float, float]] = {}  # language -> (when its .po was last looked at, its mtime)


def normalise(tag: str | None) -> str | None:
    """'zh', 'zh-CN', 'zh_CN.UTF-8', 'zh-Hans-CN' -> 'zh'; 'en', 'en-US' -> 'en'; anything else -> None."""
    if not tag:
        return None
    head = tag.strip().replace("-", "_").split("_")[0].split(".")[0].lower()
    return head if head in LANGS else None


def default_lang() -> str:
    """The language outside a page: ``STUDIO_LANG``, else the process locale, else English."""
    for var in ("STUDIO_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        lang = normalise(os.environ.get(var))
        if lang:
            return lang
    return "en"


_provider = None  # pages: the session's language where no run set one (a fragment's rerun skips app.py)


def set_provider(provider) -> None:
    """Register a function giving the language of the page session in hand, or None outside a page."""
    global _provider
    _provider = provider


def current() -> str:
    """The language of the work in hand (this script run, this CLI call, this job)."""
    return _current.get() or (_provider() if _provider is not None else None) or default_lang()


def set_lang(lang: str | None):
    """Make ``lang`` the language of the current context (a page's script run); returns a reset token."""
    return _current.set(normalise(lang))


@contextmanager
def using(lang: str | None):
    """Run a block in ``lang`` (a job in the language of the person who started it)."""
    token = set_lang(lang)
    try:
        yield
    finally:
        _current.reset(token)


@lru_cache(maxsize=None)
def _load(lang: str, stamp: float) -> gettext.NullTranslations:
    folder = LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES"
    po, mo = folder / f"{DOMAIN}.po", folder / f"{DOMAIN}.mo"
    if mo.exists() and mo.stat().st_mtime >= stamp:
        with mo.open("rb") as handle:
            return gettext.GNUTranslations(handle)
    if not po.exists():
        return gettext.NullTranslations()
    from io import BytesIO

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as handle:
        catalog = read_po(handle, locale=LOCALES[lang])
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def translations(lang: str | None = None) -> gettext.NullTranslations:
    """The catalog of ``lang`` (default: the current language), reloaded when its .po file changes."""
    lang = normalise(lang) or current()
    now = time.monotonic()
    seen = _stamps.get(lang)
    if seen is None or now - seen[0] >= 2.0:  # a page asks ~70 times per render: stat the file every 2 s
        po = LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"
        try:
            stamp = po.stat().st_mtime
        except FileNotFoundError:
            stamp = 0.0
        seen = _stamps[lang] = (now, stamp)
    return _load(lang, seen[1])


def _(message: str) -> str:
    """``message`` in the current language."""
    if not message:
        return message
    return translations().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for ``n`` in the current language (format ``{n}`` yourself)."""
    return translations().ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a string defined at import time for extraction; translate it with ``_()`` where it is shown."""
    return message


def lang_name(lang: str) -> str:
    return LANG_NAMES.get(lang, lang)
