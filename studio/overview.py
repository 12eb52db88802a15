"""The project at a glance: what the Home page shows and ``studio status`` prints."""
from __future__ import annotations

from typing import Any

from store import db, overview


def project_overview() -> dict[str, Any]:
    """Database location, totals, datasets with counts by status and origin, recent runs."""
    datasets = []
    for d in overview.dataset_counts():
        datasets.append({
            "name": d["name"], "kind": d["kind"], "questions": d["questions"],
            "documents": d["documents"], "passages": d["passages"], "samples": d["samples"],
            "by_status": d["by_status"], "by_origin": d["by_origin"],
        })
    runs = [{k: r[k] for k in ("id", "name", "method", "state", "step", "total", "final_loss")}
            for r in overview.recent_runs()]
    return {"db": str(db.db_path().resolve()), "totals": overview.totals(),
            "datasets": datasets, "runs": runs}
