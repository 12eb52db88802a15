"""Shared work: review, rating and arena (A/B vote) tasks distributed among people with an overlap k.

- **A task** is made by an admin or engineer (``by``; None in a studio without accounts): a review task takes
  the samples of a dataset that match a filter (status pending by default, optionally a question type and an
  origin); a rating task takes every output (generation) of a comparison, blind by default (raters do not see
  which system wrote an output); an arena task takes every prompt of a comparison with two answers, each with
  the pair of outputs the Compare page's arena shows first for it (as A and B, fixed for everyone who holds
  it), blind by default too. Its items are fixed at creation, in a stable order.
- **Distribution**: every item goes to exactly ``overlap`` (k, 1..people) of the chosen people, balanced:
  each item to the k people holding the fewest items of this task so far, ties broken round-robin
  (``distribute``; deterministic, so everyone gets n·k/p items, give or take one).
- **People** are account names; with accounts each must be an account whose role does the work (review:
  admin, engineer, reviewer; rating: admin, engineer, rater). Without accounts they are typed names, as on
  the Review and Compare pages, so a single-user studio can use tasks too.
- **Recording** goes through the existing functions with the person's name as reviewer / rater
  (``studio.data.review.decide``, ``studio.evaluate.ratings.rate`` / ``vote``), then closes that person's assignment and
  keeps what they said on it (for agreement, see ``task_stats``). Only a holder of the item may record it.
- **Reassigning** moves one person's open items to another person, never to someone who already holds the
  item (those stay where they were and are counted as kept).
"""
from __future__ import annotations

from typing import Any

from store import db
from store import tasks as store
from studio.core.errors import InputError, NotFound
from studio.core.i18n import N_, _
from studio.service import accounts

KINDS = ("review", "rating", "arena")
KIND_LABELS = {"review": N_("review"), "rating": N_("rating"), "arena": N_("arena")}
MANAGERS = ("admin", "engineer")
WORKERS = {"review": ("admin", "engineer", "reviewer"), "rating": ("admin", "engineer", "rater"),
           "arena": ("admin", "engineer", "rater")}
REVIEW_ACTIONS = ("accept", "reject")
STATUSES = ("pending", "accepted", "rejected", "draft", "all")


def kind_label(kind: str) -> str:
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else str(kind)


def may_manage(user: dict[str, Any] | None) -> bool:
    """Whether this account may create tasks and reassign items (anyone without accounts)."""
    return user is None or user.get("role") in MANAGERS


def require_manager(user: dict[str, Any] | None) -> None:
    if not may_manage(user):
        raise accounts.NotAllowed(_("not allowed for role {role}").format(role=user["role"]))


def distribute(items: list[int], people: list[str], k: int) -> list[tuple[int, str]]:
    """(item, person) pairs: each item to the ``k`` people with the fewest items so far, ties broken
    round-robin from the person after the last one served. 3 items, 3 people, k=2 -> 2 items each."""
    if not 1 <= k <= len(people):
        raise InputError(_("the overlap is 1 to {n} (the number of people), not {k}").format(n=len(people), k=k))
    load = [0] * len(people)
    start, out = 0, []
    for item in items:
        chosen = sorted(range(len(people)), key=lambda i: (load[i], (i - start) % len(people)))[:k]
        for i in chosen:
            load[i] += 1
            out.append((item, people[i]))
        start = (chosen[-1] + 1) % len(people)
    return out


def _names(people: str | list[str]) -> list[str]:
    """Names from a list or a comma-separated text, trimmed, each once, in the order given."""
    raw = people.replace("，", ",").split(",") if isinstance(people, str) else list(people or [])
    return list(dict.fromkeys(n.strip() for n in raw if n and n.strip()))


def check_person(name: str, kind: str) -> str:
    """A person who may hold items of a ``kind`` task: with accounts, an account whose role does that work."""
    name = (name or "").strip()
    if not name:
        raise InputError(_("give a name: every decision records who made it"))
    if len(name) > 80:
        raise InputError(_("a name has at most 80 characters"))
    if accounts.enabled():
        role = {u["name"]: u["role"] for u in accounts.list_users()}.get(name)
        if role is None:
            raise NotFound(_("no account named {name}").format(name=name))
        if role not in WORKERS[kind]:
            raise InputError(_("{name} is a {role}: a {kind} task goes to {roles}").format(
                name=name, role=accounts.role_label(role), kind=kind_label(kind),
                roles=", ".join(accounts.role_label(r) for r in WORKERS[kind])))
    return name


def _overlap(value, people: int) -> int:
    try:
        k = int(value)
    except (TypeError, ValueError):
        raise InputError(_("the overlap is a whole number, not {value}").format(value=repr(value))) from None
    if not 1 <= k <= people:
        raise InputError(_("the overlap is 1 to {n} (the number of people), not {k}").format(n=people, k=k))
    return k


def _review_items(dataset: str, status: str, qtype: str | None, origin: str | None) -> tuple[dict, list]:
    from store import datasets

    if status not in STATUSES:
        raise InputError(_("unknown status {status}; choose one of {choices}").format(
            status=repr(status), choices=", ".join(STATUSES)))
    d = datasets.get((dataset or "").strip())
    if d["kind"] != "samples":
        raise InputError(_("dataset {name} holds {kind} records; review works on sample datasets").format(
            name=repr(d["name"]), kind=d["kind"]))
    ids = store.sample_ids(d["id"], status=status, qtype=qtype or None, origin=origin or None)
    if not ids:
        raise InputError(_("no sample of {name} matches the filter: nothing to review").format(name=d["name"]))
    return d, [(i, n, None) for n, i in enumerate(ids)]


def _rating_items(comparison) -> tuple[dict, list]:
    """Every output of the comparison: prompt by prompt, each prompt's systems in their blind order."""
    from studio.evaluate import comparisons

    cid = _comparison_id(comparison)
    grid = comparisons.grid(cid)
    items = []
    for p in grid["prompts"]:
        for sid in comparisons.blind_order(cid, p["prompt_id"], list(p["outputs"])):
            items.append((p["outputs"][sid]["generation_id"], len(items), p["prompt_id"]))
    if not items:
        raise InputError(_("comparison {id} has no outputs yet: generate them first").format(id=cid))
    return grid["comparison"], items


def _arena_items(comparison) -> tuple[dict, list]:
    """Every prompt with two answers or more: the pair the Compare page's arena shows first for it."""
    from studio.evaluate import comparisons, ratings

    cid = _comparison_id(comparison)
    prompts = ratings.arena_prompts(cid)
    items = []
    for n, p in enumerate(prompts):
        _p, a, b = ratings.arena_at(cid, n, prompts)
        items.append((p["prompt_id"], n, p["prompt_id"], p["outputs"][a]["generation_id"],
                      p["outputs"][b]["generation_id"]))
    if not items:
        raise InputError(_("comparison {id} has no prompt with two answers yet: an A/B vote needs two systems' "
                           "outputs").format(id=cid))
    return comparisons.get(cid), items   # the grid arena_prompts built already holds it; this is one row


def _comparison_id(comparison) -> int:
    try:
        return int(comparison)
    except (TypeError, ValueError):
        raise InputError(_("a comparison is given by its number, not {value}").format(value=repr(comparison))) \
            from None


def create(kind: str, *, people: str | list[str], overlap: int, dataset: str | None = None,
           comparison: int | str | None = None, guidelines: str = "", name: str | None = None,
           status: str = "pending", qtype: str | None = None, origin: str | None = None, blind: bool = True,
           by: dict[str, Any] | None = None) -> dict[str, Any]:
    """A new task with its items distributed (see the module's docstring); returns its summary."""
    from studio.service import task_stats

    require_manager(by)
    if kind not in KINDS:
        raise InputError(_("a task is a review, rating or arena task, not {kind}").format(kind=repr(kind)))
    names = [check_person(n, kind) for n in _names(people)]
    if not names:
        raise InputError(_("choose the people who share the task"))
    k = _overlap(overlap, len(names))
    if kind == "review":
        d, items = _review_items(dataset, status, qtype, origin)
        source = {"dataset_id": d["id"], "comparison_id": None,
                  "filter": {"status": status, "qtype": qtype or None, "origin": origin or None}}
        default = _("Review {dataset}").format(dataset=d["name"])
    else:
        comp, items = (_rating_items if kind == "rating" else _arena_items)(comparison)
        source = {"dataset_id": None, "comparison_id": comp["id"], "filter": None}
        default = (_("Rate {comparison}") if kind == "rating" else _("A/B votes on {comparison}")).format(
            comparison=comp["name"])
    with db.transaction() as cur:
        task_id = store.insert_task(name=(name or "").strip() or default, kind=kind, blind=bool(blind), overlap=k,
                                    guidelines=(guidelines or "").strip(), people=names,
                                    created_by=by["name"] if by else None, cur=cur, **source)
        store.insert_items(task_id, items, cur=cur)
        store.insert_assignments(task_id, distribute([item[0] for item in items], names, k), cur=cur)
    return task_stats.summary(task_id)


def get(task_id) -> dict[str, Any]:
    try:
        found = store.task(int(task_id))
    except (TypeError, ValueError):
        found = None
    if found is None:
        raise NotFound(_("no task {id}").format(id=task_id))
    return found


def _held(task: dict, item_id: int, person: str) -> dict:
    found = store.assignment(task["id"], int(item_id), (person or "").strip())
    if found is None:
        raise InputError(_("item {item} is not one of {person}'s items in task {task}").format(
            item=item_id, person=person, task=task["id"]))
    return found


def decide(task_id, person: str, sample_id: int, version: int, action: str, *, reason: str | None = None,
           edits: dict | None = None) -> dict[str, Any]:
    """One person's review decision on a sample of their task: accept (with edits, if any differ) or reject.

    Recorded by ``studio.data.review.decide`` with the person as reviewer, then kept in the task."""
    from store import review as review_store
    from studio.data import review

    task = get(task_id)
    _of_kind(task, "review")
    if action not in REVIEW_ACTIONS:
        raise InputError(_("unknown review action {action}").format(action=repr(action)))
    person = (person or "").strip()
    _held(task, sample_id, person)
    now = review_store.sample(int(sample_id)) or {}
    edited = action == "accept" and any(k in ("instruction", "input", "output") and v != now.get(k)
                                        for k, v in (edits or {}).items())
    review.decide(task["dataset"], int(sample_id), int(version), action, person, reason=reason,
                  edits=edits if edited else None, filters=review.Filters(status="all"))
    with db.transaction() as cur:
        store.mark_done(task["id"], int(sample_id), person, decision=action, edited=edited, cur=cur)
    return {"task": task["id"], "item": int(sample_id), "person": person, "decision": action, "edited": edited}


def rate(task_id, person: str, generation_id: int, score: int, comment: str | None = None) -> dict[str, Any]:
    """One person's 1-5 rating of an output of their task, through ``studio.evaluate.ratings.rate``."""
    from studio.evaluate import ratings

    task = get(task_id)
    _of_kind(task, "rating")
    person = (person or "").strip()
    held = _held(task, generation_id, person)
    ratings.rate(int(generation_id), person, score, comment, prompt_id=held["prompt_id"])
    with db.transaction() as cur:
        store.mark_done(task["id"], int(generation_id), person, score=int(score), cur=cur)
    return {"task": task["id"], "item": int(generation_id), "person": person, "score": int(score)}


def vote(task_id, person: str, prompt_id: int, winner: str) -> dict[str, Any]:
    """One person's A/B vote on a prompt of their arena task, through ``studio.evaluate.ratings.vote`` (the
    pair is the item's, A and B as shown)."""
    from studio.evaluate import ratings

    task = get(task_id)
    _of_kind(task, "arena")
    person = (person or "").strip()
    held = _held(task, prompt_id, person)
    ratings.vote(int(prompt_id), held["generation_a"], held["generation_b"], winner, person)
    with db.transaction() as cur:
        store.mark_done(task["id"], int(prompt_id), person, decision=winner, cur=cur)
    return {"task": task["id"], "item": int(prompt_id), "person": person, "winner": winner}


def _of_kind(task: dict, kind: str) -> None:
    if task["kind"] != kind:
        raise InputError(_("task {id} holds {kind} items, not {wanted} items").format(
            id=task["id"], kind=kind_label(task["kind"]), wanted=kind_label(kind)))


def reassign(task_id, from_person: str, to_person: str, *, by: dict[str, Any] | None = None) -> dict[str, Any]:
    """Move ``from_person``'s open items to ``to_person`` (never an item they already hold)."""
    require_manager(by)
    task = get(task_id)
    from_person = (from_person or "").strip()
    to_person = check_person(to_person, task["kind"])
    if from_person == to_person:
        raise InputError(_("choose someone else to take over the items"))
    if not store.items_of(task["id"], from_person):
        raise InputError(_("{person} holds no items in task {task}").format(person=from_person, task=task["id"]))
    with db.transaction() as cur:
        moved, kept = store.reassign(task["id"], from_person, to_person, cur=cur)
    return {"task": task["id"], "from": from_person, "to": to_person, "moved": moved, "kept": kept}


def my_tasks(person: str) -> list[dict[str, Any]]:
    """The tasks a person holds items of, with their own progress (open first, then newest)."""
    found = [{**t, "open": t["assigned"] - t["done"]} for t in store.mine((person or "").strip())]
    return sorted(found, key=lambda t: (t["open"] == 0, -t["id"]))


def open_items(task_id, person: str) -> list[dict[str, Any]]:
    """A person's open items of a task, in the task's stable order."""
    return store.items_of(get(task_id)["id"], (person or "").strip(), open_only=True)


def item(task_id, person: str, item_id: int) -> dict[str, Any]:
    """What a person sees of one of their items: the sample (review); the prompt and output (rating) or the
    prompt and outputs A and B (arena), with the systems named only when the task is not blind."""
    from store import compare as compare_store
    from store import review as review_store
    from studio.evaluate import comparisons

    task = get(task_id)
    held = _held(task, item_id, person)
    if task["kind"] == "review":
        return {"kind": "review", "sample": review_store.sample(int(item_id)), "assignment": held}
    base = (compare_store.comparison(task["comparison_id"]) or {}).get("base_model")

    def shown(generation_id) -> tuple[dict, str | None]:
        g = compare_store.generation(int(generation_id)) or {}
        return g, None if task["blind"] else comparisons.system_label(g.get("model_system") or "", base)

    if task["kind"] == "arena":
        (a, system_a), (b, system_b) = shown(held["generation_a"]), shown(held["generation_b"])
        return {"kind": "arena", "prompt": a.get("prompt") or "", "a": a.get("output") or "",
                "b": b.get("output") or "", "system_a": system_a, "system_b": system_b,
                "prompt_id": int(item_id), "assignment": held}
    g, system = shown(item_id)
    return {"kind": "rating", "prompt": g.get("prompt") or "", "output": g.get("output") or "", "system": system,
            "generation_id": int(item_id), "assignment": held}
