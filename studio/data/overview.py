"""The project at a glance: what the Home page shows and ``studio status`` prints."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from store import db, overview
from studio.core.i18n import _

# The page each next step is done on (pages/<file>); the CLI prints only the text.
PAGE_OF = {"import_exam": "pages/import_exam.py", "import_corpus": "pages/import_corpus.py",
           "convert": "pages/convert.py", "generate": "pages/generate.py", "review": "pages/review.py",
           "datasets": "pages/datasets.py", "snapshots": "pages/snapshots.py", "train": "pages/train.py",
           "runs": "pages/runs.py", "compare": "pages/compare.py", "results": "pages/results.py"}


def next_step(d: dict[str, Any], progress: dict[str, Any] | None = None) -> tuple[str, str]:
    """The one thing to do next with a dataset, as (hint in the current language, page key of PAGE_OF).

    >>> next_step({"kind": "samples", "samples": 5, "by_status": {"pending": 5}})
    ('review 5 pending samples', 'review')
    """
    p = progress or {}
    status = d.get("by_status") or {}
    if d["kind"] == "exam":
        if not d.get("questions"):
            return _("import an exam bank into it"), "import_exam"
        if not p.get("derived_from_questions"):
            return _("convert its {n} questions into training pairs").format(n=f"{d['questions']:,}"), "convert"
        return _("measure a run's exam accuracy on it"), "results"
    if d["kind"] == "corpus":
        if not d.get("passages"):
            return _("import documents into it"), "import_corpus"
        if not p.get("derived_from_passages"):
            return _("generate training pairs from its {n} passages").format(n=f"{d['passages']:,}"), "generate"
        return _("generate more, or review what was generated"), "generate"
    if not d.get("samples"):
        return _("import pairs, convert an exam bank or generate into it"), "datasets"
    pending, accepted = status.get("pending", 0), status.get("accepted", 0)
    if pending:
        return _("review {n} pending samples").format(n=f"{pending:,}"), "review"
    if not accepted:
        return _("no accepted samples: set a status on the Datasets page"), "datasets"
    if not p.get("snapshots"):
        return _("freeze its {n} accepted samples into a snapshot").format(n=f"{accepted:,}"), "snapshots"
    if not p.get("runs"):
        return _("train an adapter on snapshot {id}").format(id=p.get("latest_snapshot")), "train"
    if not p.get("runs_done"):
        return _("follow its run"), "runs"
    return _("compare the runs trained on it with the base model"), "compare"


def project_overview() -> dict[str, Any]:
    """Database location and size, totals, datasets with counts by status and origin and a next step,
    recent runs."""
    progress = overview.dataset_progress()
    datasets = []
    for d in overview.dataset_counts():
        hint, page = next_step(d, progress.get(d["id"]))
        datasets.append({
            "name": d["name"], "kind": d["kind"], "questions": d["questions"],
            "documents": d["documents"], "passages": d["passages"], "samples": d["samples"],
            "by_status": d["by_status"], "by_origin": d["by_origin"],
            "next_step": hint, "next_page": PAGE_OF[page],
        })
    runs = [{k: r[k] for k in ("id", "name", "method", "state", "step", "total", "final_loss", "eval_loss",
                               "created_at")} | {"base_model": Path(r["base_model"]).name}
            for r in overview.recent_runs()]
    path = db.db_path().resolve()
    size = path.stat().st_size if path.exists() else 0
    return {"db": str(path), "db_bytes": size, "totals": overview.totals(),
            "datasets": datasets, "runs": runs}
