"""Read corpus files into documents: .txt .md .jsonl (a text field) .docx .pdf.

Each reader returns a list of :class:`Document` (one per file, or one per JSON line); text is decoded
to ``str`` with ``\\n`` line ends. Bad input raises :class:`InputError` naming the file (and line).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from studio.core import textio
from studio.core.errors import InputError
from studio.core.i18n import N_, _

SUFFIXES = (".txt", ".md", ".markdown", ".jsonl", ".json", ".docx", ".pdf")
TEXT_FIELDS = ("text", "content", "body", "passage", "article", "document")
INFO_END = "<!-- INFO END -->"


@dataclass
class Document:
    title: str
    text: str
    source_file: str
    meta: dict = field(default_factory=dict)


def _normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")


def _title_from(text: str, fallback: str) -> str:
    for line in text.splitlines():
        m = re.match(r"^#\s+(.+)$", line.strip())
        if m:
            return m.group(1).strip()
        if line.strip():
            break
    return fallback


def read_text(path: Path) -> list[Document]:
    text, enc = textio.decode(path.read_bytes(), str(path))
    text = _normalise(text)
    if not text.strip():
        raise InputError(_("the file is empty: it holds no text"), file=str(path))
    return [Document(_title_from(text, path.stem), text, path.name, {"encoding": enc})]


# what json's messages mean, in the user's words (the library's own text never reaches a person)
_JSON_REASONS = (
    ("Expecting value", N_("a value is missing, or text is not in double quotes")),
    ("Expecting property name", N_("a field name is not in double quotes")),
    ("Expecting ',' delimiter", N_("a comma is missing between two values")),
    ("Expecting ':' delimiter", N_("a colon is missing after a field name")),
    ("Unterminated string", N_("a quoted text is not closed")),
    ("Invalid control character", N_("a tab or line break inside a text must be written as \\t or \\n")),
    ("Extra data", N_("more than one JSON value on one line")),
    ("Invalid \\", N_("a backslash escape is not valid")),
)


def json_reason(err: json.JSONDecodeError) -> str:
    """Why a line is not valid JSON, in the user's words, with the column."""
    reason = next((why for start, why in _JSON_REASONS if err.msg.startswith(start)),
                  N_("the text is not JSON"))
    return _("not valid JSON: {reason} (column {column})").format(reason=_(reason), column=err.colno)


def _records(raw: str, path: Path):
    """(line number, parsed value) per JSON line; a file holding one JSON array gives its items
    (numbered from 1)."""
    text = _normalise(raw)
    if text.lstrip().startswith("["):
        try:
            whole = json.loads(text)
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, list):
            yield from enumerate(whole, start=1)
            return
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(json_reason(err), file=str(path), row=n) from None


def read_jsonl(path: Path, text_field: str | None = None) -> list[Document]:
    """One document per JSON line, text from ``text_field`` (default: the first of text, content, ...)."""
    raw, enc = textio.decode(path.read_bytes(), str(path))
    docs = []
    for n, record in _records(raw, path):
        if not isinstance(record, dict):
            raise InputError(_("each line must be a JSON object with a text field"), file=str(path), row=n)
        name = text_field or next((f for f in TEXT_FIELDS if f in record), None)
        if name is None or name not in record:
            wanted = text_field or _(" or ").join(TEXT_FIELDS)
            raise InputError(_("no text field {wanted}; the line has fields: {fields} (name the field "
                               "that holds the text: --text-field, or JSON lines: text field on the page)").format(
                wanted=repr(wanted), fields=", ".join(record) or _("none")), file=str(path), row=n)
        text = record[name]
        if not isinstance(text, str) or not text.strip():
            raise InputError(_("field {field} is empty or not text").format(field=repr(name)), file=str(path), row=n)
        title = str(record.get("title") or record.get("name") or f"{path.stem} #{n}")
        meta = {k: v for k, v in record.items() if k != name and isinstance(v, (str, int, float, bool))}
        docs.append(Document(title, _normalise(text), path.name, {"line": n, "encoding": enc, **meta}))
    if not docs:
        raise InputError(_("the file is empty: it holds no JSON lines"), file=str(path))
    return docs


def read_docx(path: Path) -> list[Document]:
    """Paragraphs in order; heading styles become Markdown headings so chunking sees the structure."""
    import docx

    head = path.read_bytes()[:8]
    try:
        document = docx.Document(str(path))
    except Exception:  # noqa: BLE001 - python-docx raises several types (BadZipFile, KeyError, ...) for one cause
        raise InputError(_docx_problem(head), file=str(path)) from None
    lines = []
    for para in document.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name if para.style is not None else "") or ""
        level = re.search(r"(?:Heading|标题)\s*(\d)", style)
        if style == "Title":
            lines.append(f"# {text}")
        elif level:
            lines.append(f"{'#' * (int(level.group(1)) + 1)} {text}")
        else:
            lines.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells]
            if any(cells):
                lines.append(" | ".join(cells))
    text = "\n\n".join(lines)
    if not text.strip():
        raise InputError(_("the Word document holds no text"), file=str(path))
    title = document.core_properties.title or _title_from(text, path.stem)
    return [Document(title, text, path.name, {"paragraphs": len(lines)})]


def _docx_problem(head: bytes) -> str:
    """Why a file python-docx cannot open is not a Word document, in the user's words."""
    if not head:
        return _("the file is empty")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        return _("this is an old Word .doc file: save it as .docx (Word or WPS: Save As) and import that")
    if not head.startswith(b"PK"):
        return _("this file is not a Word .docx document")
    return _("this .docx file is damaged or is not a Word document")


_SENTENCE_END = "。！？；：!?;:”」』）)"
_STARTS_BLOCK = re.compile(r"^(#|第[零一二三四五六七八九十百千〇两\d]+[章节条]|[（(][一二三四五六七八九十\d]+[)）])")


def reflow(page_text: str) -> str:
    """Join a PDF page's hard-wrapped lines into paragraphs.

    A line break stays where the line ends a sentence or the next line starts a heading, an article
    (第X条) or an item ((一)); otherwise the lines are one paragraph (Chinese needs no joining space).
    """
    out: list[str] = []
    for line in page_text.split("\n"):
        line = line.strip()
        if not line:
            if out and out[-1] != "":
                out.append("")
            continue
        if out and out[-1] and not out[-1].endswith(tuple(_SENTENCE_END)) and not _STARTS_BLOCK.match(line):
            sep = " " if re.search(r"[A-Za-z0-9,]$", out[-1]) and re.match(r"[A-Za-z0-9]", line) else ""
            out[-1] = out[-1] + sep + line
        else:
            if out and out[-1]:
                out.append("")
            out.append(line)
    return "\n".join(out).strip()


_RADICALS = re.compile(r"[\u2e80-\u2fdf]")


def _unradical(text: str) -> str:
    """PDF fonts often map 一 力 行 to Kangxi radical code points (⼀ ⼒ ⾏): map them back (NFKC per char)."""
    import unicodedata

    return _RADICALS.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)


def read_pdf(path: Path) -> list[Document]:
    """The text of every page, reflowed; a broken, empty, scanned or locked PDF is named in the user's words."""
    import logging

    from pypdf import PdfReader

    head = path.read_bytes()[:1024]
    if not head:
        raise InputError(_("the file is empty"), file=str(path))
    if b"%PDF" not in head:
        raise InputError(_("this file is not a PDF"), file=str(path))
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.CRITICAL)  # pypdf logs its repairs ("EOF marker not found") to stderr
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted and not reader.decrypt(""):
            raise InputError(_("the PDF is protected by a password: save a copy without it and import that"),
                             file=str(path))
        pages = [reflow(_unradical(page.extract_text() or "")) for page in reader.pages]
        title = reader.metadata.title if reader.metadata else None
    except InputError:
        raise
    except Exception:  # noqa: BLE001 - pypdf raises many types (PdfStreamError, KeyError, ...) for a broken file
        raise InputError(_("this PDF is damaged (cut off or not saved completely) and cannot be read"),
                         file=str(path)) from None
    finally:
        pypdf_log.setLevel(level)
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise InputError(_("the PDF has no text to extract (a scanned PDF needs OCR first)"), file=str(path))
    title = title or _title_from(text, path.stem)
    return [Document(str(title), text, path.name, {"pages": len(reader.pages)})]


def read(path: str | Path, *, text_field: str | None = None) -> list[Document]:
    """Read one corpus file into documents, by its suffix."""
    path = Path(path)
    if not path.is_file():
        raise InputError(_("no such file"), file=str(path))
    suffix = path.suffix.lower()
    if suffix in (".txt", ".md", ".markdown"):
        return read_text(path)
    if suffix in (".jsonl", ".json"):
        return read_jsonl(path, text_field)
    if suffix == ".docx":
        return read_docx(path)
    if suffix == ".pdf":
        return read_pdf(path)
    raise InputError(_("cannot read {suffix} files; use one of {suffixes}").format(
        suffix=suffix or _("(no suffix)"), suffixes=", ".join(SUFFIXES)), file=str(path))
