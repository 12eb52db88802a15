"""Corpora: read documents (.txt .md .jsonl .docx .pdf), chunk them into passages, store them."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

from studio.core.errors import InputError, StudioError
from studio.core.i18n import _
from studio.data.corpus.chunking import DEFAULT_OVERLAP, DEFAULT_SIZE, Chunk, chunk
from studio.data.corpus.readers import SUFFIXES, Document, read

__all__ = ["import_corpus", "chunk", "read", "Chunk", "Document", "SUFFIXES", "documents", "passages",
           "DEFAULT_SIZE", "DEFAULT_OVERLAP", "SIZE_RANGE", "OVERLAP_MAX", "size_problems"]

SIZE_RANGE = (20, 20000)   # passage size in characters: a sentence at least, a chapter at most
OVERLAP_MAX = 5000         # characters repeated where a long article is split


def size_problems(size, overlap) -> list[str]:
    """Why a passage size / overlap cannot be used, in the user's words (empty when both are fine)."""
    out = []
    low, high = SIZE_RANGE
    if not isinstance(size, int) or not low <= size <= high:
        out.append(_("Passage size must be a whole number from {low} to {high} characters.").format(
            low=f"{low:,}", high=f"{high:,}"))
    if not isinstance(overlap, int) or overlap < 0 or overlap > OVERLAP_MAX:
        out.append(_("Overlap must be a whole number from 0 to {high} characters.").format(high=f"{OVERLAP_MAX:,}"))
    elif isinstance(size, int) and overlap >= size:
        out.append(_("Overlap must be smaller than the passage size."))
    return out


def import_corpus(files: list, dataset: str, *, size: int = DEFAULT_SIZE, overlap: int = DEFAULT_OVERLAP,
                  text_field: str | None = None, names: list[str] | None = None,
                  progress: Callable[[float, str], None] | None = None) -> dict:
    """Read, chunk and store files into corpus ``dataset`` in one transaction (all files or none).

    ``files`` are paths; ``names`` (optional) are the names to record and to name in errors instead
    (uploads from a page, kept in a temporary folder). ``progress(fraction, text)`` is told per file.
    Returns {"dataset", "documents", "passages"}.
    """
    from store import corpus as store_corpus
    from store import datasets, db

    if not files:
        raise InputError(_("give at least one corpus file"))
    problems = size_problems(size, overlap)
    if problems:
        raise InputError(problems[0])
    parsed = []  # read and chunk everything before writing anything
    for i, f in enumerate(files):
        path = Path(f)
        name = names[i] if names else path.name
        if progress:
            progress(i / len(files), _("reading {name} ({i} of {n})").format(name=name, i=i + 1, n=len(files)))
        try:
            docs = read(path, text_field=text_field)
        except StudioError as err:
            if err.file == str(path) and name != str(path):  # name the file the user gave, not its temp copy
                raise type(err)(err.message, file=name, sheet=err.sheet, row=err.row, column=err.column) from None
            raise
        for d in docs:
            d.source_file = name if len(docs) == 1 else f"{name}#{d.meta.get('line', '')}"
            chunks = chunk(d.text, size, overlap)
            if not chunks:
                raise InputError(_("no passage text found (only headings or metadata)"), file=name,
                                 row=d.meta.get("line"))
            d.meta["chars"] = len(d.text)
            parsed.append((name, hashlib.sha256(path.read_bytes()).hexdigest(), d, chunks))
    options = {"size": size, "overlap": overlap, "text_field": text_field}
    n_docs = n_passages = 0
    if progress:
        progress(0.95, _("storing {n} passages").format(n=f"{sum(len(p[3]) for p in parsed):,}"))
    with db.transaction() as cur:
        dataset_id = datasets.get_or_create(dataset, "corpus", cur=cur)
        imports: dict[str, int] = {}
        for name, sha, doc, chunks in parsed:
            if name not in imports:
                rows = sum(1 for p in parsed if p[0] == name)
                imports[name] = store_corpus.add_import(dataset_id, name, sha, options, rows, cur=cur)
            doc_id = store_corpus.add_document(dataset_id, imports[name], doc.title, doc.source_file,
                                               len(doc.text), doc.meta, cur=cur)
            n_passages += store_corpus.add_passages(dataset_id, doc_id, chunks, cur=cur)
            n_docs += 1
    return {"dataset": dataset, "documents": n_docs, "passages": n_passages}


def documents(dataset: str) -> list[dict]:
    """The corpus's documents with passage counts."""
    from store import corpus as store_corpus
    from store import datasets

    return store_corpus.documents(datasets.get(dataset)["id"])


def passages(document_id: int, search: str = "") -> list[dict]:
    """One document's passages in order."""
    from store import corpus as store_corpus

    return store_corpus.passages(int(document_id), search=search)


def corpora() -> list[str]:
    """Names of the corpus datasets."""
    from store import datasets

    return [d["name"] for d in datasets.list_all("corpus")]


def import_uploads(uploads: list[tuple[str, bytes]], dataset: str, **kwargs) -> dict:
    """Import uploaded files (name, bytes) from a page: written to a temporary folder, then imported."""
    import tempfile

    if not (dataset or "").strip():
        raise InputError(_("name the corpus first"))
    if not uploads:
        raise InputError(_("choose at least one file to import"))
    with tempfile.TemporaryDirectory(prefix="studio-corpus-") as tmp:
        paths = []
        for i, (name, data) in enumerate(uploads):
            safe = Path(name).name or f"upload-{i}"
            path = Path(tmp) / f"{i}-{safe}"
            path.write_bytes(data)
            paths.append(path)
        return import_corpus(paths, dataset.strip(), names=[Path(n).name for n, _data in uploads], **kwargs)
