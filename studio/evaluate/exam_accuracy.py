"""Exam accuracy: ask a system the exam's choice questions, parse the labels it chose, score them.

- A question is asked in the converter's choice format: the stem (blanks written ``___``), then one
  option per line ``A. 雨鞋``. A judge question without options is asked with ``A. 正确`` / ``B. 错误``.
- Every system kind is asked the same way: the base model and runs render the prompt with their chat
  template, an API system (``api:LABEL``) gets it as the user message, greedy (temperature 0).
- The chosen labels are read by the one shared parser, :func:`studio.evaluate.answers.parse_labels`
  (``答案：B``, ``B. 绝缘靴``, ``选B``, ``AC``, ``正确答案是 A 和 C``, 对 / 错; prose naming no option is
  unparsed, and wrong).
- Single and judge: right when the chosen set is the answer; multi: right only on the exact set.
- K shuffles: each question is asked again K times with its options in a seeded random order and
  relabelled A, B, C...; the chosen labels are mapped back. Reported: accuracy over the shuffled
  presentations, and the share of questions answered with the same original option(s) every time.
- The objective table (YaYi's): question types and subjects down, systems across, each system's latest
  evaluation on the exam.
"""
from __future__ import annotations

import random
import re
import threading
from typing import Any, Callable

from store import compare as store
from store import datasets as store_datasets
from studio.core.errors import NotFound, WorkFailed
from studio.core.i18n import _
from studio.evaluate import inference, limits
from studio.evaluate import systems as api_systems
from studio.evaluate.answers import LABELS, parse_labels

TYPES = ("single", "multi", "judge")
_BLANK = re.compile(r"[（(][\s\u3000]*[）)]|_{2,}")


# ---------------------------------------------------------------- asking


def exam_prompt(question: str, options: list[dict[str, str]], qtype: str = "single") -> str:
    """A question as the converter's choice pair content: the stem, then one option per line."""
    stem = _BLANK.sub("___", (question or "").strip())
    options = options or (judge_options() if qtype == "judge" else [])
    lines = [stem] + [f"{o['label']}. {o['text']}" for o in options]
    return "\n".join(lines) + "\n"


def judge_options() -> list[dict[str, str]]:
    return [{"label": "A", "text": "正确"}, {"label": "B", "text": "错误"}]


def options_of(q: dict[str, Any]) -> list[dict[str, str]]:
    opts = [{"label": str(o.get("label", "")).strip().upper(), "text": str(o.get("text", ""))}
            for o in (q.get("options") or [])]
    if not opts and q.get("qtype") == "judge":
        return judge_options()
    return opts


def expected_labels(q: dict[str, Any]) -> frozenset[str] | None:
    """The labels of the right answer, or None when the question has none we can score."""
    opts = options_of(q)
    labels = {str(x).strip().upper() for x in (q.get("answer_labels") or []) if str(x).strip()}
    valid = {o["label"] for o in opts}
    if labels and labels <= valid:
        return frozenset(labels)
    text = (q.get("answer_text") or "").strip()
    if text or labels:
        found = parse_labels(text or " ".join(sorted(labels)), opts)
        if found:
            return found
    return None


def answer_string(q: dict[str, Any]) -> str:
    """The reference answer as the choice pair writes it: ``B. 绝缘靴`` (several joined by newlines)."""
    want = expected_labels(q) or frozenset()
    by_label = {o["label"]: o["text"] for o in options_of(q)}
    return "\n".join(f"{lab}. {by_label.get(lab, '')}" for lab in sorted(want)) or (q.get("answer_text") or "")


# ---------------------------------------------------------------- shuffling and scoring


def shuffled(q: dict[str, Any], k: int, seed: int) -> tuple[list[dict[str, str]], dict[str, str]]:
    """Presentation ``k`` of a question: options in a seeded order relabelled A, B, ...; and the map
    from new labels to original labels. ``k = 0`` is the question as it is."""
    opts = options_of(q)
    if k == 0:
        return opts, {o["label"]: o["label"] for o in opts}
    rng = random.Random(f"{seed}:{q.get('id')}:{k}")
    order = list(range(len(opts)))
    rng.shuffle(order)
    new = [{"label": LABELS[j], "text": opts[i]["text"]} for j, i in enumerate(order)]
    return new, {LABELS[j]: opts[i]["label"] for j, i in enumerate(order)}


def _rate(hits: list[bool]) -> float | None:
    return round(sum(hits) / len(hits), 4) if hits else None


def score(questions: list[dict[str, Any]], answers: dict[tuple[int, int], str], shuffles: int, seed: int) -> dict:
    """Accuracy per type and subject from answers keyed by (question id, presentation)."""
    details = []
    for q in questions:
        want = expected_labels(q)
        chosen = []
        for k in range(shuffles + 1):
            opts, back = shuffled(q, k, seed)
            got = parse_labels(answers.get((q["id"], k), ""), opts)
            chosen.append(sorted(back[lab] for lab in got) if got is not None else None)
        details.append({"id": q["id"], "qtype": q["qtype"], "subject": q.get("subject") or "",
                        "expected": sorted(want), "chosen": chosen,
                        "correct": [c is not None and set(c) == set(want) for c in chosen]})
    first = [d["correct"][0] for d in details]
    out: dict[str, Any] = {
        "n": len(details), "accuracy": _rate(first),
        "by_type": {t: _rate([d["correct"][0] for d in details if d["qtype"] == t]) for t in TYPES},
        "by_subject": {s: _rate([d["correct"][0] for d in details if d["subject"] == s])
                       for s in sorted({d["subject"] for d in details})},
        "counts": {t: sum(1 for d in details if d["qtype"] == t) for t in TYPES},
        "unparsed": sum(1 for d in details if d["chosen"][0] is None), "shuffles": shuffles,
        "details": details}
    if shuffles:
        out["shuffled_accuracy"] = _rate([c for d in details for c in d["correct"][1:]])
        out["consistent"] = _rate([d["chosen"][0] is not None and all(c == d["chosen"][0] for c in d["chosen"])
                                   for d in details])
        out["by_type_shuffled"] = {t: _rate([c for d in details if d["qtype"] == t for c in d["correct"][1:]])
                                   for t in TYPES}
    return out


# ---------------------------------------------------------------- the evaluation


def evaluate(run_id: str, dataset: str, *, shuffles: int = 0, seed: int = 0, limit: int | None = None,
             base_model: str | None = None, decode: dict[str, Any] | None = None, batch_size: int = 16,
             progress: Callable[[int, int, str], None] | None = None,
             stop: threading.Event | None = None, keys: dict[str, str] | None = None,
             concurrency: int = 8) -> dict[str, Any]:
    """Exam accuracy of one system (a run id, ``base`` or ``api:LABEL``) on an exam dataset; stored in
    exam_evals. An API system's key comes from the environment or ``keys``.

    ``stop`` (set by a cancel) ends the answering after the batch in flight: the answers so far stay in
    the generations cache (a rerun asks only the rest) and nothing is scored or stored (``stopped``).
    Requests of an API system that failed are not scored: WorkFailed says how many, a rerun asks them."""
    shuffles, seed = limits.SHUFFLES.check(shuffles), limits.SEED.check(seed)
    limit = limits.QUESTIONS.check(limit or 0) or None
    batch_size = limits.BATCH_SIZE.check(batch_size)
    found = store_datasets.get(dataset)
    questions = [q for q in store.exam_questions(found["id"], limit=limit) if q["qtype"] in TYPES]
    questions = [q for q in questions if expected_labels(q)]
    if not questions:
        raise NotFound(_("exam dataset {dataset} has no single choice, multiple choice or true/false questions with "
                         "an answer").format(dataset=repr(dataset)))
    decode = decode or inference.decode_settings("greedy", max_new_tokens=64)
    items, qkeys = [], []
    for q in questions:
        for k in range(shuffles + 1):
            opts, _back = shuffled(q, k, seed)
            items.append({"prompt": exam_prompt(q["question"], opts, q["qtype"])})
            qkeys.append((q["id"], k))
    system_id, answered_by, gen = _answer(run_id, items, decode, base_model=base_model, batch_size=batch_size,
                                          progress=progress, stop=stop, keys=keys, concurrency=concurrency)
    if stop is not None and stop.is_set():
        return {"run": run_id, "dataset": dataset, "stopped": True, "generated": gen["generated"],
                "cached": gen["cached"]}
    answers = {}
    for key, it in zip(qkeys, items):
        row = gen["rows"].get((system_id, inference.prompt_key(it["prompt"])))
        answers[key] = row["output"] if row else ""
    result = score(questions, answers, shuffles, seed)
    eval_id = store.insert_exam_eval({
        "model_system": system_id, "base_model": answered_by, "dataset_id": found["id"],
        "shuffles": shuffles, "seed": seed, "decode": decode, "n": result["n"], "accuracy": result["accuracy"],
        "shuffled_accuracy": result.get("shuffled_accuracy"), "consistent": result.get("consistent"),
        "unparsed": result["unparsed"], "by_type": result["by_type"], "by_subject": result["by_subject"],
        "details": result["details"]})
    summary = {"run": run_id, "accuracy": result["accuracy"], "by_type": result["by_type"], "n": result["n"],
               "by_subject": result["by_subject"], "unparsed": result["unparsed"], "shuffles": shuffles,
               "dataset": dataset, "eval": eval_id, "generated": gen["generated"], "cached": gen["cached"]}
    if shuffles:
        summary.update(shuffled_accuracy=result["shuffled_accuracy"], consistent=result["consistent"])
    return summary


def _answer(run_id: str, items: list[dict], decode: dict[str, Any], *, base_model: str | None, batch_size: int,
            progress, stop, keys: dict[str, str] | None, concurrency: int) -> tuple[str, str, dict[str, Any]]:
    """(system id, what answered: base model or MODEL@URL, generations) for every item."""
    if api_systems.is_api(run_id):
        api = api_systems.get(run_id)
        gen = api_systems.ensure_answers([api], items, decode, keys=keys, concurrency=concurrency,
                                         progress=progress, stop=stop)
        if gen["failed"] and not (stop is not None and stop.is_set()):
            err = WorkFailed(_("{n} of the exam's requests to {system} failed ({error}); nothing is scored: "
                               "evaluate again to ask them again").format(n=gen["failed"], system=api.label,
                                                                          error=gen["errors"][0]))
            err.summary = {k: gen[k] for k in ("generated", "cached", "failed")}
            raise err
        return api.id, api.identity, gen
    if run_id == "base":
        system = inference.resolve_systems([], base_model=base_model)[0]
    else:
        system = inference.run_system(run_id)
    gen = inference.ensure_generations([system], items, decode, batch_size=batch_size, progress=progress,
                                       stop=stop)
    return system.id, system.base_model, gen


def _percent(rate: float | None) -> float | None:
    return None if rate is None else round(rate * 100, 1)


def objective_table(dataset: str) -> dict[str, Any]:
    """YaYi's objective table for one exam: accuracy per question type, then per subject, and overall,
    down; every system evaluated on it across (its latest evaluation). The shape of
    :func:`ratings.seed_table` (``columns``, ``rows`` of ``category``, ``n``, ``values``), for
    :func:`ratings.to_markdown` / ``to_csv``; values are accuracies in percent, one decimal."""
    from studio.core.labels import label
    from studio.evaluate import comparisons

    found = store_datasets.get(dataset)
    evals = store.latest_exam_evals(found["id"])
    rows = []
    groups = [("qtype", t, label("qtype", t)) for t in TYPES] + [
        ("subject", s, s) for s in sorted({d.get("subject") or "" for e in evals for d in e["details"] or []}) if s]
    for field, value, name in groups:
        per = [[d for d in e["details"] or [] if (d.get(field) or "") == value] for e in evals]
        n = max((len(p) for p in per), default=0)
        if n:
            rows.append({"category": name, "n": n, "values": [_percent(_rate([d["correct"][0] for d in p]))
                                                              for p in per]})
    rows.append({"category": "overall", "own": True, "n": max((e["n"] for e in evals), default=0),
                 "values": [_percent(e["accuracy"]) for e in evals]})
    return {"columns": [comparisons.system_label(e["model_system"], e["base_model"]) for e in evals], "rows": rows,
            "systems": [e["model_system"] for e in evals], "dataset": dataset}


def history() -> list[dict[str, Any]]:
    """Every stored exam evaluation, newest first."""
    return store.exam_evals()


def datasets() -> list[dict[str, Any]]:
    """Exam datasets with their number of questions."""
    return store.exam_datasets()
