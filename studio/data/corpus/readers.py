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
        raise InputError("the file holds no text", file=str(path))
    return [Document(_title_from(text, path.stem), text, path.name, {"encoding": enc})]


def read_jsonl(path: Path, text_field: str | None = None) -> list[Document]:
    """One document per JSON line, text from ``text_field`` (default: the first of text, content, ...)."""
    raw, enc = textio.decode(path.read_bytes(), str(path))
    docs = []
    for n, line in enumerate(_normalise(raw).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"not valid JSON ({err.msg}, column {err.colno})", file=str(path), row=n) from None
        if not isinstance(record, dict):
            raise InputError("each line must be a JSON object with a text field", file=str(path), row=n)
        name = text_field or next((f for f in TEXT_FIELDS if f in record), None)
        if name is None or name not in record:
            wanted = text_field or " or ".join(TEXT_FIELDS)
            raise InputError(f"no text field {wanted!r}; the line has fields: {', '.join(record) or 'none'} "
                             f"(choose one with --text-field)", file=str(path), row=n)
        text = record[name]
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"field {name!r} is empty or not text", file=str(path), row=n)
        title = str(record.get("title") or record.get("name") or f"{path.stem} #{n}")
        meta = {k: v for k, v in record.items() if k != name and isinstance(v, (str, int, float, bool))}
        docs.append(Document(title, _normalise(text), path.name, {"line": n, "encoding": enc, **meta}))
    if not docs:
        raise InputError("the file holds no JSON lines", file=str(path))
    return docs


def read_docx(path: Path) -> list[Document]:
    """Paragraphs in order; heading styles become Markdown headings so chunking sees the structure."""
    import docx

    try:
        document = docx.Document(str(path))
    except Exception as err:  # python-docx raises several types for a broken package
        raise InputError(f"not a readable .docx file ({type(err).__name__})", file=str(path)) from None
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
        raise InputError("the document holds no text", file=str(path))
    title = document.core_properties.title or _title_from(text, path.stem)
    return [Document(title, text, path.name, {"paragraphs": len(lines)})]


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
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [reflow(_unradical(page.extract_text() or "")) for page in reader.pages]
    except (PdfReadError, ValueError, OSError) as err:
        raise InputError(f"not a readable PDF ({err})", file=str(path)) from None
    text = "\n\n".join(p for p in pages if p)
    if not text.strip():
        raise InputError("the PDF has no extractable text (a scanned PDF needs OCR first)", file=str(path))
    title = (reader.metadata.title if reader.metadata else None) or _title_from(text, path.stem)
    return [Document(str(title), text, path.name, {"pages": len(reader.pages)})]


def read(path: str | Path, *, text_field: str | None = None) -> list[Document]:
    """Read one corpus file into documents, by its suffix."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", file=str(path))
    suffix = path.suffix.lower()
    if suffix in (".txt", ".md", ".markdown"):
        return read_text(path)
    if suffix in (".jsonl", ".json"):
        return read_jsonl(path, text_field)
    if suffix == ".docx":
        return read_docx(path)
    if suffix == ".pdf":
        return read_pdf(path)
    raise InputError(f"unsupported file type {suffix or '(none)'}; use one of {', '.join(SUFFIXES)}",
                     file=str(path))
