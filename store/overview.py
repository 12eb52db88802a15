"""Read-only queries for the project overview (Home page, ``studio status``)."""
from __future__ import annotations

from typing import Any

from store import db


def dataset_counts(path=None) -> list[dict[str, Any]]:
    """Every dataset with its row counts: questions, passages, samples by status and by origin."""
    datasets = db.rows("""
        SELECT d.id, d.name, d.kind, d.created_at,
          (SELECT count(*) FROM exam_questions q WHERE q.dataset_id = d.id) AS questions,
          (SELECT count(*) FROM documents o WHERE o.dataset_id = d.id) AS documents,
          (SELECT count(*) FROM passages p WHERE p.dataset_id = d.id) AS passages,
          (SELECT count(*) FROM samples s WHERE s.dataset_id = d.id) AS samples
        FROM datasets d ORDER BY d.name""", path=path)
    by_status = _grouped("status", path)
    by_origin = _grouped("origin", path)
    for d in datasets:
        d["by_status"] = by_status.get(d["id"], {})
        d["by_origin"] = by_origin.get(d["id"], {})
    return datasets


def _grouped(column: str, path) -> dict[int, dict[str, int]]:
    # column is one of two fixed names, never user text
    assert column in ("status", "origin")
    out: dict[int, dict[str, int]] = {}
    for r in db.rows(f"SELECT dataset_id, {db.quote_identifier(column)} AS k, count(*) AS n "
                     f"FROM samples GROUP BY ALL ORDER BY k", path=path):
        out.setdefault(r["dataset_id"], {})[r["k"]] = r["n"]
    return out


def recent_runs(limit: int = 10, path=None) -> list[dict[str, Any]]:
    """The latest runs with state and progress."""
    return db.rows("""SELECT id, name, method, base_model, state, step, total, final_loss, eval_loss, created_at
                      FROM runs ORDER BY created_at DESC LIMIT ?""", [limit], path=path)


def totals(path=None) -> dict[str, int]:
    """Row counts over the whole database."""
    r = db.one("""SELECT (SELECT count(*) FROM datasets) AS datasets,
                         (SELECT count(*) FROM exam_questions) AS questions,
                         (SELECT count(*) FROM passages) AS passages,
                         (SELECT count(*) FROM samples) AS samples,
                         (SELECT count(*) FROM snapshots) AS snapshots,
                         (SELECT count(*) FROM runs) AS runs""", path=path)
    return dict(r)


def dataset_progress(path=None) -> dict[int, dict[str, Any]]:
    """Per dataset id, how far it went down the loop: samples derived from its questions or passages,
    snapshots of it (and the latest), runs trained on those snapshots (and how many finished)."""
    out: dict[int, dict[str, Any]] = {}
    for r in db.rows("""
        SELECT d.id,
          (SELECT count(*) FROM samples s WHERE s.question_id IN
              (SELECT q.id FROM exam_questions q WHERE q.dataset_id = d.id)) AS derived_from_questions,
          (SELECT count(*) FROM samples s WHERE s.passage_id IN
              (SELECT p.id FROM passages p WHERE p.dataset_id = d.id)) AS derived_from_passages,
          (SELECT count(*) FROM snapshots n WHERE n.dataset_id = d.id) AS snapshots,
          (SELECT n.id FROM snapshots n WHERE n.dataset_id = d.id ORDER BY n.created_at DESC LIMIT 1)
              AS latest_snapshot,
          (SELECT count(*) FROM runs r JOIN snapshots n ON r.snapshot_id = n.id WHERE n.dataset_id = d.id)
              AS runs,
          (SELECT count(*) FROM runs r JOIN snapshots n ON r.snapshot_id = n.id
              WHERE n.dataset_id = d.id AND r.state = 'done') AS runs_done
        FROM datasets d""", path=path):
        out[r["id"]] = r
    return out
