"""Progress and agreement of shared tasks (see ``studio.service.tasks``).

- **Progress**: per person and per task, assignments done out of assigned; an item is finished when every
  person holding it has done it.
- **Agreement, rating tasks**: Krippendorff's alpha with the ordinal metric (the ``krippendorff`` package),
  over the scores the task's raters gave, items as units; items rated by one person are not pairable. None
  when no item has two ratings, or when every rating is the same value (alpha is then undefined).
- **Agreement, review tasks**: among items every holder has decided (and held by two or more), the share
  whose decisions agree (accept and accept-with-edits count as the same verdict).
- **Agreement, arena tasks**: pairwise agreement of the votes. For every item voted on by two people or more,
  each pair of its voters agrees when both gave the same vote (A, B, tie or both bad; everyone saw the same
  A and B); the share of agreeing voter pairs over all items, and the number of items and pairs it rests on.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from store import tasks as store
from studio.core.i18n import _


def alpha_ordinal(units: list[list[float]] | dict[Any, dict[str, float]]) -> float | None:
    """Krippendorff's alpha (ordinal) of units: each a list of values, or {person: value}; missing allowed."""
    import math

    import krippendorff
    import numpy as np

    if isinstance(units, dict):
        people = sorted({p for u in units.values() for p in u})
        matrix = [[u.get(p, np.nan) for u in units.values()] for p in people]
    else:
        width = max((len(u) for u in units), default=0)
        matrix = [[u[i] if i < len(u) else np.nan for u in units] for i in range(width)]
    if not matrix:
        return None
    data = np.array(matrix, dtype=float)
    if data.size == 0 or not ((~np.isnan(data)).sum(axis=0) >= 2).any():
        return None  # no unit rated twice: nothing pairable
    with np.errstate(invalid="ignore", divide="ignore"):
        try:
            alpha = float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal"))
        except ValueError:  # a single value in the whole domain
            return None
    return None if math.isnan(alpha) else alpha


def review_agreement(rows: list[dict[str, Any]], overlap: int) -> dict[str, Any]:
    """Share of items whose decisions (all of their ``overlap`` holders) agree."""
    verdicts: dict[int, list[str]] = defaultdict(list)
    for r in rows:
        verdicts[r["item_id"]].append(r["decision"])
    complete = [v for v in verdicts.values() if len(v) >= max(overlap, 2)]
    agreeing = sum(1 for v in complete if len(set(v)) == 1)
    return {"items": len(complete), "agreeing": agreeing, "share": agreeing / len(complete) if complete else None}


def rating_agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    units: dict[int, dict[str, float]] = defaultdict(dict)
    for r in rows:
        if r["score"] is not None:
            units[r["item_id"]][r["person"]] = float(r["score"])
    pairable = sum(1 for u in units.values() if len(u) >= 2)
    return {"items": pairable, "alpha": alpha_ordinal(dict(units)) if pairable else None}


def vote_agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pairwise agreement of A/B votes: agreeing voter pairs over all voter pairs of the same item."""
    from itertools import combinations

    votes: dict[int, list[str]] = defaultdict(list)
    for r in rows:
        if r["decision"]:
            votes[r["item_id"]].append(r["decision"])
    pairs = [(x, y) for v in votes.values() for x, y in combinations(v, 2)]
    agreeing = sum(1 for x, y in pairs if x == y)
    return {"items": sum(1 for v in votes.values() if len(v) >= 2), "pairs": len(pairs), "agreeing": agreeing,
            "share": agreeing / len(pairs) if pairs else None}


def agreement(task: dict[str, Any]) -> dict[str, Any]:
    """The task's agreement: ``{"metric", "items", ...}`` (see the module's docstring)."""
    rows = store.decisions(task["id"])
    if task["kind"] == "rating":
        return {"metric": "krippendorff_alpha_ordinal", **rating_agreement(rows)}
    if task["kind"] == "arena":
        return {"metric": "pairwise_agreement", **vote_agreement(rows)}
    return {"metric": "share_agreeing", **review_agreement(rows, task["overlap"])}


def _summary(t: dict[str, Any]) -> dict[str, Any]:
    return {"id": t["id"], "name": t["name"], "kind": t["kind"], "overlap": t["overlap"], "items": t["items"],
            "done": t["items_done"], "assigned": t["assigned"], "assignments_done": t["done"],
            "people": t["people"], "dataset": t["dataset"], "comparison": t["comparison_id"], "filter": t["filter"],
            "blind": t["blind"], "guidelines": t["guidelines"], "created_by": t["created_by"],
            "created_at": t["created_at"]}


def list_tasks(person: str | None = None) -> list[dict[str, Any]]:
    """Every task (or those ``person`` holds items of), newest first: ``items`` and ``done`` (items every holder
    has done), ``assigned`` and ``assignments_done``."""
    return [_summary(t) for t in store.list_tasks(person)]


def summary(task_id: int) -> dict[str, Any]:
    from studio.service.tasks import get

    found = [t for t in store.list_tasks() if t["id"] == get(task_id)["id"]]
    return _summary(found[0])


def show(task_id: int) -> dict[str, Any]:
    """A task's summary, its progress per person and its agreement."""
    from studio.service.tasks import get

    task = get(task_id)
    people = [{"person": p["person"], "assigned": p["assigned"], "done": p["done"],
               "open": p["assigned"] - p["done"]} for p in store.progress(task["id"])]
    return {"task": summary(task["id"]), "people": people, "agreement": agreement(task)}


def progress_figure(shown: dict[str, Any]):
    """A bar per person: done and open items stacked, titles in the reader's language."""
    import plotly.graph_objects as go

    people = [p["person"] for p in shown["people"]]
    fig = go.Figure([go.Bar(name=_("done"), x=people, y=[p["done"] for p in shown["people"]]),
                     go.Bar(name=_("open"), x=people, y=[p["open"] for p in shown["people"]])])
    fig.update_layout(barmode="stack", title=_("Progress per person"), xaxis_title=_("Person"),
                      yaxis_title=_("Items"), height=320, margin={"t": 48, "b": 32})
    fig.update_xaxes(type="category")
    return fig
