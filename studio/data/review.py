"""The review queue: pending samples beside their source passage, decisions with the reviewer's name,
the reviewer's place in the queue kept in the database, bulk decisions, flags and statistics.

Navigation is by sample id within the filtered queue; after a decision the queue moves to the next
sample. A reviewer's position (the sample they are on, per dataset) is stored in ``review_positions``,
so a reload, a second tab or a restart opens the same sample.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from studio.core.errors import InputError
from studio.core.i18n import N_, _
from studio.data import review_flags

# stored as written (English) with the decision; shown with ``_()``
REJECT_REASONS = (N_("not supported by the passage"), N_("wrong answer"), N_("unclear question"), N_("duplicate"),
                  N_("too short / trivial"), N_("wrong language"), N_("other"))


@dataclass
class Filters:
    status: str = "pending"
    flag: str | None = None       # a flag, "none" or "any"
    template: str | None = None
    origin: str | None = None
    search: str = ""

    def where(self, dataset_id: int) -> tuple[str, list]:
        from store import review as store

        return store.queue_filter(dataset_id, status=self.status, flag=self.flag or None,
                                  template=self.template or None, origin=self.origin or None,
                                  search=(self.search or "").strip())


def _dataset(name: str) -> dict:
    from store import datasets

    found = datasets.get(name)
    if found["kind"] != "samples":
        raise InputError(_("dataset {name} holds {kind} records; review works on sample datasets").format(
            name=repr(name), kind=found["kind"]))
    return found


def _reviewer(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InputError(_("enter your name as reviewer first: every decision records who made it"))
    return name


def datasets_to_review() -> list[dict]:
    """Sample datasets with their counts (pending, accepted, rejected, total), most pending first; read from
    the database on every call (a page shows them after each decision)."""
    from store import datasets
    from store import review as store

    out = []
    for d in datasets.list_all("samples"):
        counts = store.status_counts(d["id"])
        out.append({"name": d["name"], "pending": counts.get("pending", 0), "accepted": counts.get("accepted", 0),
                    "rejected": counts.get("rejected", 0), "total": sum(counts.values())})
    return sorted(out, key=lambda d: (-d["pending"], d["name"]))


def current(dataset: str, reviewer: str, filters: Filters | None = None, move: str | None = None) -> dict:
    """The sample a reviewer is on (after ``move``: 'next', 'prev', 'first'), with its passage and flags.

    Returns {"sample", "position", "total", "counts", "highlight", "support"}; "sample" is None when the
    filtered queue is empty.
    """
    from store import review as store

    d = _dataset(dataset)
    reviewer = _reviewer(reviewer)
    filters = filters or Filters()
    where, params = filters.where(d["id"])
    total = store.count(where, params)
    at = store.position(d["id"], reviewer)
    sample_id = None
    if total:
        if move in ("next", "prev") and at is not None:
            sample_id = store.neighbour(where, params, at, move)
            if sample_id is None:  # at an end: stay where we are (or the nearest still in the queue)
                sample_id = store.neighbour(where, params, at, "at")
        elif move == "first":
            sample_id = store.neighbour(where, params, None, "first")
        else:
            sample_id = store.neighbour(where, params, at, "at")
    if sample_id != at:
        store.set_position(d["id"], reviewer, sample_id)
    view = {"sample": None, "position": 0, "total": total, "counts": store.status_counts(d["id"]),
            "highlight": "", "support": None}
    if sample_id is None:
        return view
    s = store.sample(sample_id)
    view["sample"] = s
    view["position"] = store.rank(where, params, sample_id)
    if s.get("passage_text"):
        view["highlight"] = review_flags.highlight(s["passage_text"], s["output"])
        view["support"] = review_flags.support(s["output"], s["passage_text"])
    return view


def decide(dataset: str, sample_id: int, version: int, action: str, reviewer: str, *,
           reason: str | None = None, edits: dict | None = None, filters: Filters | None = None) -> int | None:
    """Accept, edit-then-accept or reject one sample; move the reviewer to the next in the queue.

    ``edits`` (instruction / input / output) that differ from the sample turn an accept into
    edit-then-accept. A rejection needs a reason. Returns the next sample id (None at the end).
    """
    from store import db
    from store import review as store

    d = _dataset(dataset)
    reviewer = _reviewer(reviewer)
    if action not in ("accept", "reject", "reset"):
        raise InputError(_("unknown review action {action}").format(action=repr(action)))
    if action == "reject" and not (reason or "").strip():
        raise InputError(_("say why the sample is rejected"))
    changed = None
    if action == "accept" and edits:
        now = store.sample(int(sample_id)) or {}
        changed = {k: v for k, v in edits.items() if k in ("instruction", "input", "output") and v != now.get(k)}
        merged = {**now, **changed}
        if not str(merged.get("instruction") or "").strip() or not str(merged.get("output") or "").strip():
            raise InputError(_("an accepted sample needs an instruction and an output"))
    filters = filters or Filters()
    where, params = filters.where(d["id"])
    with db.transaction() as cur:
        store.decide(int(sample_id), int(version), "edit-accept" if changed else action, reviewer,
                     reason=(reason or "").strip() or None, edits=changed or None, cur=cur)
        nxt = store.neighbour(where, params, int(sample_id), "next", cur=cur)
        if nxt is None:
            nxt = store.neighbour(where, params, int(sample_id), "at", cur=cur)
        store.set_position(d["id"], reviewer, nxt, cur=cur)
    if changed:
        refresh_flags(d["id"])
    return nxt


def bulk(dataset: str, filters: Filters, action: str, reviewer: str, reason: str | None = None) -> int:
    """Accept or reject every sample of the filtered queue in one transaction; return how many."""
    from store import db
    from store import review as store

    d = _dataset(dataset)
    reviewer = _reviewer(reviewer)
    if action == "reject" and not (reason or "").strip():
        raise InputError(_("say why these samples are rejected"))
    where, params = filters.where(d["id"])
    with db.transaction() as cur:
        return store.bulk(d["id"], where, params, action, reviewer, (reason or "").strip() or None, cur=cur)


def queue_table(dataset: str, filters: Filters, limit: int = 200) -> list[dict]:
    """The first ``limit`` samples of the filtered queue (for the overview table and bulk actions)."""
    from store import review as store

    d = _dataset(dataset)
    where, params = filters.where(d["id"])
    return store.page(where, params, limit=limit)


def templates_in(dataset: str) -> list[str]:
    from store import review as store

    return store.templates_in(_dataset(dataset)["id"])


def refresh_flags(dataset_id: int, progress: Callable[[int, int, str], None] | None = None) -> int:
    """Recompute every sample's flags in a dataset (duplicates need the whole dataset); return changes.

    ``progress(done, total, message)`` is called every 500 samples (a job's progress; it may raise to
    stop, before anything is written)."""
    from store import db
    from store import review as store

    rows = store.samples_for_flags(dataset_id)
    if not rows:
        return 0
    langs = [review_flags.language(r["output"] + r["instruction"]) for r in rows]
    majority = max(set(l for l in langs if l) or {None}, key=lambda l: langs.count(l))
    dups = review_flags.duplicate_flags([f"{r['instruction']}\n{r['input']}\n{r['output']}" for r in rows])
    changed = {}
    for i, (r, dup) in enumerate(zip(rows, dups)):
        if progress and i % 500 == 0:
            progress(i, len(rows), _("{done} of {total} samples checked").format(done=f"{i:,}", total=f"{len(rows):,}"))
        flags = review_flags.sample_flags(r["instruction"], r["input"], r["output"], r["passage_text"], majority)
        if dup:
            flags.append(dup)
        if list(r["flags"] or []) != flags:
            changed[r["id"]] = flags
    with db.transaction() as cur:
        store.write_flags(changed, cur=cur)
    return len(changed)


def refresh(dataset: str, progress: Callable[[int, int, str], None] | None = None) -> int:
    """Recompute a dataset's flags (``refresh_flags`` by name); return how many samples changed."""
    return refresh_flags(_dataset(dataset)["id"], progress)


@dataclass
class Stats:
    by_template: list = field(default_factory=list)
    by_model: list = field(default_factory=list)
    by_flag: list = field(default_factory=list)
    throughput: list = field(default_factory=list)


def stats(dataset: str | None = None) -> Stats:
    """Acceptance rate by template, model and flag; decisions per reviewer per hour."""
    from store import review as store

    dataset_id = _dataset(dataset)["id"] if dataset else None
    return Stats(store.acceptance(dataset_id, "template"), store.acceptance(dataset_id, "model"),
                 store.acceptance(dataset_id, "flag"), store.throughput(dataset_id))


# group names the statistics' SQL writes, as people read them
_GROUPS = {"(none)": N_("(none)"), "offline cloze": N_("offline cloze"), "(no flag)": N_("(no flag)")}
_BY = {"template": N_("Template"), "model": N_("Model"), "flag": N_("Flag")}
_TITLES = {"template": N_("Acceptance rate by template"), "model": N_("Acceptance rate by model"),
           "flag": N_("Acceptance rate by flag")}


def _group_label(key: str, group) -> str:
    if key == "flag" and group in review_flags.FLAG_LABELS:
        return review_flags.flag_label(group)
    return _(_GROUPS[group]) if group in _GROUPS else str(group)


def figures(s: Stats) -> dict:
    """Plotly figures of the statistics (no entry where nothing is decided yet), titles in the reader's language.

    Throughput is a bar per reviewer per hour on a category axis labelled ``2025-05-01 13:00``: a time axis
    over one hour's bucket zooms into milliseconds (``12:59:59.9996 … 13:00:00.0004``).
    """
    import pandas as pd
    import plotly.express as px

    out = {}
    for key, rows in (("template", s.by_template), ("model", s.by_model), ("flag", s.by_flag)):
        if rows:
            frame = pd.DataFrame(rows)
            frame["group"] = [_group_label(key, g) for g in frame["group"]]
            fig = px.bar(frame, x="group", y="rate", text="decided", title=_(_TITLES[key]), range_y=[0, 1],
                         labels={"group": _(_BY[key]), "rate": _("accepted / decided"), "decided": _("decided")})
            fig.update_traces(texttemplate=_("%{y:.0%} of %{text}"))
            fig.update_xaxes(type="category")
            fig.update_yaxes(tickformat=".0%")
            out[key] = fig
    if s.throughput:
        frame = pd.DataFrame(s.throughput)
        frame["hour"] = [pd.Timestamp(h).strftime("%Y-%m-%d %H:00") for h in frame["hour"]]
        fig = px.bar(frame, x="hour", y="decisions", color="reviewer", barmode="group",
                     title=_("Decisions per reviewer per hour"),
                     labels={"hour": _("Hour"), "decisions": _("Decisions"), "reviewer": _("Reviewer")})
        fig.update_xaxes(type="category", categoryorder="category ascending")
        fig.update_yaxes(rangemode="tozero", dtick=1 if frame["decisions"].max() <= 10 else None)
        out["throughput"] = fig
    return out
