"""Corpora: documents and their ordered passages."""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from store import db


def add_import(dataset_id: int, source_file: str, sha256: str, options: dict, rows: int, *, cur) -> int:
    return db.scalar(
        "INSERT INTO imports (dataset_id, kind, source_file, source_sha256, options, rows_total, rows_imported, "
        "rows_rejected, errors) VALUES (?, 'corpus', ?, ?, ?, ?, ?, 0, '[]') RETURNING id",
        [dataset_id, source_file, sha256, json.dumps(options, ensure_ascii=False), rows, rows], cur=cur)


def add_document(dataset_id: int, import_id: int, title: str, source_file: str, chars: int, meta: dict,
                 *, cur) -> int:
    return db.scalar(
        "INSERT INTO documents (dataset_id, import_id, title, source_file, chars, meta) VALUES (?, ?, ?, ?, ?, ?) "
        "RETURNING id", [dataset_id, import_id, title, source_file, chars, json.dumps(meta, ensure_ascii=False)],
        cur=cur)


def add_passages(dataset_id: int, document_id: int, chunks: list, *, cur) -> int:
    """Insert a document's passages in one statement (executemany is slow in DuckDB)."""
    if not chunks:
        return 0
    frame = pd.DataFrame({
        "document_id": [document_id] * len(chunks), "dataset_id": [dataset_id] * len(chunks),
        "ord": [c.ord for c in chunks], "heading": [c.heading for c in chunks],
        "text": [c.text for c in chunks], "char_start": [c.char_start for c in chunks],
        "char_end": [c.char_end for c in chunks]})
    cur.register("_new_passages", frame)
    try:
        cur.execute("INSERT INTO passages (document_id, dataset_id, ord, heading, text, char_start, char_end) "
                    "SELECT document_id, dataset_id, ord, heading, text, char_start, char_end FROM _new_passages")
    finally:
        cur.unregister("_new_passages")
    return len(chunks)


def documents(dataset_id: int, *, cur=None) -> list[dict[str, Any]]:
    """The dataset's documents with their passage counts, in import order."""
    return db.rows(
        "SELECT d.id, d.title, d.source_file, d.chars, d.created_at, count(p.id) AS passages "
        "FROM documents d LEFT JOIN passages p ON p.document_id = d.id WHERE d.dataset_id = ? "
        "GROUP BY ALL ORDER BY d.id", [dataset_id], cur=cur)


def passages(document_id: int, *, search: str = "", limit: int = 500, offset: int = 0, cur=None) -> list[dict]:
    """A document's passages in order, optionally those containing ``search``."""
    sql = "SELECT id, ord, heading, text, char_start, char_end FROM passages WHERE document_id = ?"
    params: list = [document_id]
    if search:
        sql += " AND (contains(lower(text), lower(?)) OR contains(lower(coalesce(heading, '')), lower(?)))"
        params += [search, search]
    sql += " ORDER BY ord LIMIT ? OFFSET ?"
    return db.rows(sql, params + [limit, offset], cur=cur)


def passage(passage_id: int, *, cur=None) -> dict | None:
    return db.one("SELECT p.*, d.title AS document_title, d.source_file FROM passages p "
                  "JOIN documents d ON d.id = p.document_id WHERE p.id = ?", [passage_id], cur=cur)


def corpus_passages(dataset_id: int, *, cur=None) -> list[dict]:
    """Every passage of a corpus, in document then passage order."""
    return db.rows("SELECT p.id, p.document_id, p.ord, p.heading, p.text, d.title AS document_title, "
                   "d.source_file FROM passages p JOIN documents d ON d.id = p.document_id "
                   "WHERE p.dataset_id = ? ORDER BY p.document_id, p.ord", [dataset_id], cur=cur)


def counts(dataset_id: int, *, cur=None) -> dict:
    return db.one("SELECT (SELECT count(*) FROM documents WHERE dataset_id = $d) AS documents, "
                  "(SELECT count(*) FROM passages WHERE dataset_id = $d) AS passages", {"d": dataset_id}, cur=cur)
