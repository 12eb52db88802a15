"""A comparison: one prompt set answered by several systems (the base model and runs) with one decode
setting, shown as a grid (prompts down, systems across) and rated blind or open.

The comparison row is found again by its prompt set, systems, base model and decode settings, and its
outputs come from the ``generations`` cache: reopening a comparison generates nothing.
"""
from __future__ import annotations

import hashlib
import random
import threading
from pathlib import Path
from typing import Any, Callable

from store import compare as store
from studio.core.errors import InputError, NotFound
from studio.evaluate import inference


def open_comparison(prompt_set_id: int, run_ids: list[str], *, base_model: str | None = None,
                    preset: str = inference.DEFAULT_PRESET, max_new_tokens: int = inference.DEFAULT_MAX_NEW_TOKENS,
                    stop: list[str] | None = None, seed: int = 0, include_base: bool = True,
                    name: str | None = None) -> dict[str, Any]:
    """The comparison of these systems on this prompt set with these decode settings (created once)."""
    pset = store.prompt_set(prompt_set_id)
    if pset is None:
        raise NotFound(f"no prompt set {prompt_set_id}")
    systems = inference.resolve_systems(run_ids, base_model=base_model, include_base=include_base)
    base = next((s.base_model for s in systems if s.id == "base"), systems[0].base_model)
    decode = inference.decode_settings(preset, max_new_tokens=max_new_tokens, stop=stop, seed=seed)
    ids = [s.id for s in systems]
    found = store.find_comparison(prompt_set_id, ids, base, decode)
    if found is None:
        label = name or f"{pset['name']}: {' vs '.join(ids)} ({preset})"
        cid = store.insert_comparison(label, prompt_set_id, ids, base, decode, preset)
    else:
        cid = found["id"]
    return get(cid)


def get(comparison_id: int) -> dict[str, Any]:
    found = store.comparison(int(comparison_id))
    if found is None:
        raise NotFound(f"no comparison {comparison_id}")
    return found


def list_all() -> list[dict[str, Any]]:
    return store.list_comparisons()


def systems_of(comp: dict[str, Any]) -> list[inference.System]:
    """The comparison's systems, resolved (adapters must exist: used before generating)."""
    runs = [s for s in comp["systems"] if s != "base"]
    return inference.resolve_systems(runs, base_model=comp["base_model"], include_base="base" in comp["systems"])


def system_label(system_id: str, base_model: str | None = None) -> str:
    """How a system is named on screen and in exports (no adapter needed)."""
    if system_id == "base":
        return f"base ({Path(str(base_model)).name})" if base_model else "base"
    row = store.run(system_id)
    name = (row or {}).get("name")
    return f"{name} ({system_id})" if name and name != system_id else system_id


def _items(prompt_rows: list[dict]) -> list[dict[str, Any]]:
    return [{"prompt": p["prompt"], "system": p.get("system"), "history": p.get("history")} for p in prompt_rows]


def generate(comparison_id: int, *, batch_size: int = 16,
             progress: Callable[[int, int, str], None] | None = None,
             stop: threading.Event | None = None) -> dict[str, Any]:
    """Generate every missing output of the comparison; returns generated and cached counts.

    ``stop`` (set by a cancel) ends the work after the batch in flight; what was generated is kept."""
    comp = get(comparison_id)
    prompt_rows = store.prompts_of(comp["prompt_set_id"])
    result = inference.ensure_generations(systems_of(comp), _items(prompt_rows), comp["decode"],
                                          batch_size=batch_size, progress=progress, stop=stop)
    return {"generated": result["generated"], "cached": result["cached"],
            "outputs": len(prompt_rows) * len(comp["systems"])}


def grid(comparison_id: int) -> dict[str, Any]:
    """Prompts down, systems across: each prompt with its reference and every stored output."""
    comp = get(comparison_id)
    prompt_rows = store.prompts_of(comp["prompt_set_id"])
    keys = [inference.prompt_key(p["prompt"], p.get("system"), p.get("history")) for p in prompt_rows]
    by_system = {}
    for sid in comp["systems"]:
        base = comp["base_model"] if sid == "base" else ((store.run(sid) or {}).get("base_model") or comp["base_model"])
        by_system[sid] = store.generations_for(keys, sid, inference.decode_key(comp["decode"], base))
    rows = []
    for p, k in zip(prompt_rows, keys):
        outputs = {}
        for sid in comp["systems"]:
            g = by_system[sid].get(k)
            if g is not None:
                outputs[sid] = {"generation_id": g["id"], "output": g["output"]}
        rows.append({"prompt_id": p["id"], "ord": p["ord"], "prompt": p["prompt"], "system": p.get("system"),
                     "category": p.get("category") or "", "reference": p.get("reference"),
                     "question_id": p.get("question_id"), "outputs": outputs})
    missing = sum(len(comp["systems"]) - len(r["outputs"]) for r in rows)
    return {"comparison": comp, "systems": [{"id": s, "label": system_label(s, comp["base_model"])}
                                            for s in comp["systems"]],
            "prompts": rows, "missing": missing}


def blind_order(comparison_id: int, prompt_id: int, system_ids: list[str]) -> list[str]:
    """The systems of one prompt in a seeded random order: shown as System 1..K in blind mode."""
    seed = int(hashlib.sha256(f"{comparison_id}:{prompt_id}".encode()).hexdigest()[:12], 16)
    order = list(system_ids)
    random.Random(seed).shuffle(order)
    return order


def arena_pair(comparison_id: int, prompt_id: int, system_ids: list[str], round_: int = 0) -> tuple[str, str]:
    """Two systems for an A/B vote on a prompt, chosen and ordered by seed (round_ gives the next pair)."""
    if len(system_ids) < 2:
        raise InputError("an A/B vote needs at least two systems")
    pairs = [(a, b) for i, a in enumerate(system_ids) for b in system_ids[i + 1:]]
    seed = int(hashlib.sha256(f"arena:{comparison_id}:{prompt_id}".encode()).hexdigest()[:12], 16)
    rng = random.Random(seed)
    rng.shuffle(pairs)
    a, b = pairs[round_ % len(pairs)]
    return (a, b) if rng.random() < 0.5 else (b, a)


def available_runs() -> list[dict[str, Any]]:
    """Runs that can be compared (an adapter on disk), newest first, with a label for menus."""
    out = []
    for r in store.runs_with_state():
        try:
            s = inference.run_system(r["id"])
        except InputError:
            continue
        out.append({"id": r["id"], "label": system_label(r["id"]), "method": s.method, "base_model": s.base_model,
                    "state": r["state"]})
    return out


def default_base_model(run_ids: list[str]) -> str:
    """The base model a comparison of these runs uses by default: the first run's, else the demo model."""
    for rid in run_ids:
        row = store.run(rid)
        if row and row.get("base_model"):
            return str(row["base_model"])
    from studio.train.demo_model import demo_model_dir

    return str(demo_model_dir())
