"""Keep the gettext catalogs in step with the code (a developer's tool, run with Babel's API).

    python -m studio.core.catalogs update   # extract, merge into locales/*/studio.po, compile .mo
    python -m studio.core.catalogs check    # list zh messages without a translation (exit 1 if any)
    python -m studio.core.catalogs compile  # .po -> .mo only (what `make` runs)
    python -m studio.core.catalogs set MSGID TEXT   # correct one zh translation

``update`` extracts ``_()``, ``N_()`` and ``ngettext()`` from pages/, studio/, store/, exports/,
trainers/, app.py and serve.py; keeps every existing translation; drops messages the code no longer has;
and fills empty zh translations from ``locales/parts/*.json`` ({"English": "中文"}, a plural as the
singular's id), which is where work in progress keeps new translations until they are folded into the
catalog. The glossary of domain terms (``locales/glossary.csv``) is what translations must use.
"""
from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
from pathlib import Path

from studio.core.i18n import DOMAIN, LOCALE_DIR, LOCALES

ROOT = LOCALE_DIR.parent
SOURCES = ("pages", "studio", "store", "exports", "trainers", "app.py", "serve.py")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def extract():
    """The template catalog: every marked message in the sources, with where it stands."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir, extract_from_file

    template = Catalog(project="studio", domain=DOMAIN)
    method_map = [("**.py", "python")]
    for source in SOURCES:
        path = ROOT / source
        if path.is_dir():
            found = ((name, *rest) for name, *rest in extract_from_dir(
                str(path), method_map, keywords=KEYWORDS, strip_comment_tags=True))
            for filename, lineno, message, comments, context in found:
                template.add(message, None, [(f"{source}/{filename}", lineno)], auto_comments=comments,
                             context=context)
        elif path.exists():
            for lineno, message, comments, context in extract_from_file(
                    "python", str(path), keywords=KEYWORDS, strip_comment_tags=True):
                template.add(message, None, [(source, lineno)], auto_comments=comments, context=context)
    return template


def _parts() -> dict[str, str]:
    merged: dict[str, str] = {}
    for part in sorted((LOCALE_DIR / "parts").glob("*.json")):
        merged.update(json.loads(part.read_text(encoding="utf-8")))
    return merged


def _po_path(lang: str) -> Path:
    return LOCALE_DIR / LOCALES[lang] / "LC_MESSAGES" / f"{DOMAIN}.po"


def _read(lang: str):
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po

    path = _po_path(lang)
    if not path.exists():
        return Catalog(locale=LOCALES[lang], project="studio", domain=DOMAIN)
    with path.open("rb") as handle:
        return read_po(handle, locale=LOCALES[lang], domain=DOMAIN)


def _write_atomic(path: Path, writer) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            writer(handle)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def update() -> dict[str, int]:
    """Merge the extracted messages into every catalog; returns zh's untranslated count per state."""
    from babel.messages.pofile import write_po

    template = extract()
    parts = _parts()
    for lang in LOCALES:
        catalog = _read(lang)
        catalog.update(copy.deepcopy(template), no_fuzzy_matching=True)  # update() adopts its messages
        catalog.obsolete.clear()
        if lang == "en":  # message ids are the English text: en translates nothing
            for message in catalog:
                if message.id:
                    message.string = ("", "") if isinstance(message.id, tuple) else ""
        if lang == "zh":
            for message in catalog:
                key = message.id[0] if isinstance(message.id, tuple) else message.id
                if key and not _translated(message) and key in parts:
                    message.string = (parts[key],) if isinstance(message.id, tuple) else parts[key]
                    message.flags.discard("fuzzy")
        _write_atomic(_po_path(lang), lambda h, c=catalog: write_po(h, c, width=0, include_lineno=False,
                                                                  sort_output=True))
    compile_all()
    return {"messages": len(template), "untranslated_zh": len(untranslated())}


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return bool(strings) and all(strings) and "fuzzy" not in message.flags


def untranslated(lang: str = "zh") -> list[str]:
    """Message ids of ``lang``'s catalog that have no translation yet."""
    return [m.id[0] if isinstance(m.id, tuple) else m.id
            for m in _read(lang) if m.id and not _translated(m)]


def compile_all() -> None:
    """Write each catalog's .mo beside its .po (the runtime also reads a .po whose .mo is stale)."""
    from babel.messages.mofile import write_mo

    for lang in LOCALES:
        if _po_path(lang).exists():
            catalog = _read(lang)
            _write_atomic(_po_path(lang).with_suffix(".mo"), lambda h, c=catalog: write_mo(h, c))


def set_translation(msgid: str, text: str, lang: str = "zh") -> None:
    """Replace one translation (``update`` only fills empty ones)."""
    from babel.messages.pofile import write_po

    catalog = _read(lang)
    message = catalog.get(msgid)
    if message is None:
        raise SystemExit(f"no message {msgid!r} in the {lang} catalog")
    message.string = (text,) if isinstance(message.id, tuple) else text
    message.flags.discard("fuzzy")
    _write_atomic(_po_path(lang), lambda h: write_po(h, catalog, width=0, include_lineno=False, sort_output=True))
    compile_all()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "update"
    if command == "set" and len(argv) == 3:  # set MSGID TEXT: correct a zh translation
        set_translation(argv[1], argv[2])
        return 0
    if command == "update":
        print(json.dumps(update(), ensure_ascii=False))
        return 0
    if command == "compile":
        compile_all()
        return 0
    if command == "check":
        missing = untranslated()
        for msgid in missing:
            print(msgid)
        return 1 if missing else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
