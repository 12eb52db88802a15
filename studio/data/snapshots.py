"""Snapshots: a frozen, hashed copy of a dataset's accepted samples, split train / validation.

A run trains on a snapshot, so every adapter traces back to exactly the data it saw. Decisions:

- What is frozen is what a trainer must see: the dataset's system prompt fills an empty ``system`` and
  its domain prefix is put before the instruction (once).
- ``mix={"通用对话": 0.3}`` makes accepted samples of the dataset 通用对话 30 % of the snapshot (all the
  main dataset's accepted samples are the other 70 %); the mixed-in samples are chosen by seed. The
  ChatGLM P-Tuning reports show domain-only data makes a model forget general chat.
- The split is by seed and stratified by ``qtype``: each sample gets a key hashed from the seed and its
  content, each type sends its share (largest remainder) of lowest keys to validation. The same
  samples and seed always give the same split, independent of row order.
- The content hash covers every frozen field and the split, in order; the id is its first 12 hex
  digits, so freezing the same data twice returns the existing snapshot. A sample's tool calling
  (``tools``, ``roles``) is hashed only when it has some, so snapshots of plain data keep their ids.
- Numbers have ranges (``VAL_RATIO``, ``SEED``, ``SHARE``) checked here, so a page and the CLI refuse the
  same values with the same words; ``problem()`` says why a value is out (None when all are fine).
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from store import datasets as store_datasets
from store import db
from store import snapshots as store
from studio.core.errors import InputError, NotFound
from studio.core.i18n import _

FIELDS = ("instruction", "input", "output", "system", "history", "qtype", "origin")
TOOL_FIELDS = ("tools", "roles")  # frozen too; hashed only when a sample has them
SPLITS = ("train", "validation")
VAL_RATIO = (0.0, 0.9)     # the validation share of a snapshot or an export
SEED = (0, 2**31 - 1)
SHARE = (0.01, 0.9)        # the share of a mixed-in dataset


def out_of_range(what: str, value, bounds: tuple, *, whole: bool = False) -> str | None:
    """Why ``value`` is not a number in ``bounds`` (both ends allowed), or None when it is.
    ``what`` is the name a person reads (already translated)."""
    lo, hi = bounds
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _("{what} must be a number, not {value}").format(what=what, value=repr(value))
    shown = lambda x: f"{int(x)}" if x == int(x) else f"{x:g}"  # noqa: E731
    if number != number or abs(number) == float("inf"):
        return _("{what} must be a number, not {value}").format(what=what, value=value)
    if not lo <= number <= hi:
        return _("{what} must be between {lo} and {hi}, not {value}").format(what=what, lo=shown(lo), hi=shown(hi),
                                                                            value=shown(number))
    if whole and number != int(number):
        return _("{what} must be a whole number, not {value}").format(what=what, value=shown(number))
    return None


def problem(val_ratio=0.1, seed=0, mix: dict[str, float] | None = None) -> str | None:
    """Why these snapshot settings cannot be used (the first reason), or None."""
    reasons = [out_of_range(_("The validation share (`val_ratio`)"), val_ratio, VAL_RATIO),
               out_of_range(_("The seed"), seed, SEED, whole=True)]
    reasons += [out_of_range(_("The share of {name}").format(name=name), v, SHARE) for name, v in (mix or {}).items()]
    reasons = [r for r in reasons if r]
    if not reasons and mix and sum(float(v) for v in mix.values()) >= 1:
        reasons.append(_("The mixed-in shares add up to {total:g}; they must stay below 1").format(
            total=sum(float(v) for v in mix.values())))
    return reasons[0] if reasons else None


def _frozen(s: dict[str, Any]) -> list:
    """The values that make a frozen sample what it is (tool calling only when it has some)."""
    values = [s.get(f) for f in FIELDS]
    extra = [s.get(f) or None for f in TOOL_FIELDS]
    return values + [list(v) if isinstance(v, tuple) else v for v in extra] if any(extra) else values


def _key(seed: int, s: dict[str, Any]) -> str:
    """The seeded sort key of a sample: stable across Python versions and row orders."""
    body = json.dumps([seed, s.get("dataset_id"), s.get("sample_id")] + _frozen(s),
                      ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.blake2b(body.encode("utf-8"), digest_size=16).hexdigest()


def _validation_counts(groups: dict[str, int], val_ratio: float) -> dict[str, int]:
    """How many of each group go to validation: round(n * ratio) overall, shared by largest remainder."""
    n = sum(groups.values())
    if n == 0 or val_ratio <= 0:
        return {g: 0 for g in groups}
    total = round(n * val_ratio)
    total = min(max(total, 1), n - 1) if n >= 2 else 0
    exact = {g: c * total / n for g, c in groups.items()}
    counts = {g: math.floor(x) for g, x in exact.items()}
    rest = total - sum(counts.values())
    for g in sorted(groups, key=lambda g: (-(exact[g] - counts[g]), g))[:rest]:
        counts[g] += 1
    return counts


def split(samples: list[dict[str, Any]], val_ratio: float, seed: int) -> list[dict[str, Any]]:
    """Assign ``split`` and ``ord`` to each sample (pure): train rows first, then validation, each in
    seeded order; stratified by ``qtype``."""
    keyed = sorted(((_key(seed, s), i, s) for i, s in enumerate(samples)), key=lambda t: (t[0], t[1]))
    groups: dict[str, int] = {}
    for *_unused, s in keyed:
        groups[s.get("qtype") or ""] = groups.get(s.get("qtype") or "", 0) + 1
    want = _validation_counts(groups, val_ratio)
    taken = {g: 0 for g in groups}
    train, validation = [], []
    for *_unused, s in keyed:
        g = s.get("qtype") or ""
        if taken[g] < want[g]:
            taken[g] += 1
            validation.append({**s, "split": "validation"})
        else:
            train.append({**s, "split": "train"})
    out = train + validation
    for i, s in enumerate(out):
        s["ord"] = i
    return out


def content_hash(samples: list[dict[str, Any]]) -> str:
    """sha256 over every frozen field and the split of each sample, in order."""
    h = hashlib.sha256()
    for s in samples:
        h.update(json.dumps([s["split"]] + _frozen(s), ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def _canonical(row: dict[str, Any]) -> dict[str, Any]:
    history = row.get("history")
    if isinstance(history, str):
        history = json.loads(history) if history else None
    roles = row.get("roles")
    return {**row, "history": history or None, "system": row.get("system") or None,
            "tools": row.get("tools") or None, "roles": list(roles) if roles else None}


def _mixed_in(name: str, fraction: float, base_n: int, total_fraction: float, seed: int) -> list[dict]:
    ds = store_datasets.get(name)
    pool = [_canonical(r) for r in store.accepted_samples(ds["id"])]
    want = round(base_n * fraction / (1 - total_fraction))
    if want > len(pool):
        raise InputError(_("The mix asks for {want} accepted samples of {name} ({share:.0%} of the snapshot) but it "
                           "has {have}; lower its share").format(want=want, name=name, share=fraction,
                                                                 have=len(pool)))
    pool.sort(key=lambda s: _key(seed, s))
    return pool[:want]


def create(dataset: str, *, val_ratio: float = 0.1, seed: int = 0, mix: dict[str, float] | None = None,
           name: str | None = None) -> dict[str, Any]:
    """Freeze the dataset's accepted samples (optionally mixed with others) into a snapshot and return it;
    the same data frozen twice returns the existing snapshot."""
    reason = problem(val_ratio, seed, mix)
    if reason:
        raise InputError(reason)
    ds = store_datasets.get(dataset)
    mix = {k: float(v) for k, v in (mix or {}).items()}
    if dataset in mix:
        raise InputError(_("The mix names the snapshot's own dataset {name}").format(name=dataset))
    total_fraction = sum(mix.values())
    base = [_canonical(r) for r in store.accepted_samples(ds["id"])]
    if not base:
        raise InputError(_("Dataset {name} has no accepted samples; accept some on the Datasets page first").format(
            name=dataset))
    rows = list(base)
    counts = {dataset: len(base)}
    for other, fraction in sorted(mix.items()):
        extra = _mixed_in(other, fraction, len(base), total_fraction, seed)
        counts[other] = len(extra)
        rows += extra
    frozen = split(rows, float(val_ratio), int(seed))
    digest = content_hash(frozen)
    snapshot_id = digest[:12]
    existing = store.find(snapshot_id)
    if existing:
        return {**_public(existing), "created": False}
    n_val = sum(1 for s in frozen if s["split"] == "validation")
    record = {"id": snapshot_id, "name": name or f"{dataset} · {len(frozen)}", "dataset_id": ds["id"],
              "spec": {"dataset": dataset, "mix": mix, "counts": counts}, "seed": int(seed),
              "val_ratio": float(val_ratio), "content_hash": digest,
              "n_train": len(frozen) - n_val, "n_validation": n_val}
    with db.transaction() as cur:
        if store.find(snapshot_id, cur=cur) is None:
            store.insert(record, frozen, cur=cur)
    return {**get(snapshot_id), "created": True}


def _public(row: dict[str, Any]) -> dict[str, Any]:
    spec = row.get("spec")
    if isinstance(spec, str):
        spec = json.loads(spec)
    return {"id": row["id"], "name": row["name"], "dataset": row.get("dataset") or (spec or {}).get("dataset"),
            "dataset_id": row["dataset_id"], "spec": spec, "seed": row["seed"], "val_ratio": row["val_ratio"],
            "content_hash": row["content_hash"], "n_train": row["n_train"],
            "n_validation": row["n_validation"], "created_at": row["created_at"]}


def resolve(snapshot_id: str) -> str:
    """The full id of a snapshot given its id or a unique prefix of it."""
    snapshot_id = (snapshot_id or "").strip()
    if snapshot_id and store.find(snapshot_id):
        return snapshot_id
    found = store.find_prefix(snapshot_id) if snapshot_id else []
    if len(found) == 1:
        return found[0]
    known = ", ".join(r["id"] for r in store.list_all()[:20]) or _("none yet")
    if len(found) > 1:
        raise InputError(_("Snapshot id {id} is ambiguous: {ids}").format(id=snapshot_id, ids=", ".join(found)))
    raise NotFound(_("No snapshot {id} (snapshots: {known})").format(id=snapshot_id, known=known))


def get(snapshot_id: str) -> dict[str, Any]:
    """One snapshot's record (id, name, dataset, spec, seed, val_ratio, content_hash, counts)."""
    return _public(store.find(resolve(snapshot_id)))


def list_all() -> list[dict[str, Any]]:
    """Every snapshot, newest first."""
    return [_public(r) for r in store.list_all()]


def samples(snapshot_id: str, split: str | None = None) -> list[dict[str, Any]]:
    """The frozen samples in order: canonical fields plus ``split``, ``sample_id``, ``dataset_id``."""
    if split is not None and split not in SPLITS:
        raise InputError(_("Unknown split {split}; choose train or validation").format(split=split))
    return [_canonical(r) for r in store.samples(resolve(snapshot_id), split)]


def record(sample: dict[str, Any]) -> dict[str, Any]:
    """The canonical fields of a sample as the trainer reads them (strings, history a list); ``tools`` and
    ``roles`` only when the sample calls tools."""
    out = {"instruction": sample.get("instruction") or "", "input": sample.get("input") or "",
           "output": sample.get("output") or "", "system": sample.get("system") or "",
           "history": [list(t) for t in (sample.get("history") or [])],
           "qtype": sample.get("qtype") or "", "origin": sample.get("origin") or ""}
    for f in TOOL_FIELDS:
        if sample.get(f):
            out[f] = list(sample[f]) if f == "roles" else sample[f]
    return out


def write_jsonl(snapshot_id: str, folder: str | Path) -> dict[str, Any]:
    """Write ``train.jsonl`` and ``validation.jsonl`` (canonical fields, UTF-8, not ASCII-escaped) and
    ``snapshot.json`` into ``folder``: what the trainer reads without opening the database."""
    meta = get(snapshot_id)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    for name in SPLITS:
        path = folder / f"{name}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            for s in samples(meta["id"], name):
                f.write(json.dumps(record(s), ensure_ascii=False) + "\n")
        tmp.replace(path)
        out[name] = str(path)
    (folder / "snapshot.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2, default=str),
                                          encoding="utf-8")
    return {**out, "n_train": meta["n_train"], "n_validation": meta["n_validation"],
            "content_hash": meta["content_hash"], "id": meta["id"]}


def _identity(s: dict[str, Any]) -> tuple:
    if s.get("sample_id") is not None:
        return (s.get("dataset_id"), s["sample_id"])
    return ("content", json.dumps(_frozen(s), ensure_ascii=False))


def diff(a: str, b: str) -> dict[str, list[dict[str, Any]]]:
    """What changed from snapshot ``a`` to ``b``: samples added, removed, and changed (same source sample,
    other content or split), matched by the sample they were frozen from."""
    old = {_identity(s): s for s in samples(a)}
    new = {_identity(s): s for s in samples(b)}
    added = [new[k] for k in new if k not in old]
    removed = [old[k] for k in old if k not in new]
    changed = []
    for k in new:
        if k in old:
            before, after = old[k], new[k]
            fields = [f for f in FIELDS + TOOL_FIELDS + ("split",) if before.get(f) != after.get(f)]
            if fields:
                changed.append({"sample_id": after.get("sample_id"), "fields": fields,
                                "before": before, "after": after})
    return {"added": added, "removed": removed, "changed": changed}
