"""Exam accuracy: ask a system the exam's choice questions, parse the labels it chose, score them.

- A question is asked in the converter's choice format: the stem (blanks written ``___``), then one
  option per line ``A. 雨鞋``. A judge question without options is asked with ``A. 正确`` / ``B. 错误``.
- The chosen labels are read from the first answer block: label tokens (``B``, ``B. 绝缘靴``, ``答案：BD``,
  ``A、D``) on the first line that has any, plus the lines right after it that start with a label (the
  newline-joined multi answer of the seed). Option texts are masked first, so letters inside them are
  not read as labels. Without labels, the option texts the answer names count (for judge questions:
  正确 / 对 / √ versus 错误 / 不正确 / ×, whichever comes first). Nothing found: unparsed, and wrong.
- Single and judge: right when the chosen set is the answer; multi: right only on the exact set.
- K shuffles: each question is asked again K times with its options in a seeded random order and
  relabelled A, B, C...; the chosen labels are mapped back. Reported: accuracy over the shuffled
  presentations, and the share of questions answered with the same original option(s) every time.
"""
from __future__ import annotations

import random
import re
import threading
import unicodedata
from typing import Any, Callable

from store import compare as store
from store import datasets as store_datasets
from studio.core.errors import InputError, NotFound
from studio.evaluate import inference

LABELS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
TYPES = ("single", "multi", "judge")
TRUE_WORDS = ("正确", "对", "√", "✓", "true", "True")
FALSE_WORDS = ("不正确", "错误", "不对", "错", "×", "✗", "false", "False")
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


# ---------------------------------------------------------------- parsing answers


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "")


def _label_tokens(line: str, valid: set[str]) -> list[str]:
    """Label letters on one line: uppercase runs not touching other Latin letters, all valid, no repeats."""
    found: list[str] = []
    for m in re.finditer(r"(?<![A-Za-z])([A-Z]+)(?![A-Za-z])", line):
        run = m.group(1)
        if len(run) <= len(valid) and set(run) <= valid and len(set(run)) == len(run):
            found.extend(ch for ch in run if ch not in found)
    return found


def _starts_with_label(line: str, valid: set[str]) -> bool:
    m = re.match(r"\s*([A-Z])(?![A-Za-z])", line)
    return bool(m and m.group(1) in valid)


def parse_labels(answer: str, options: list[dict[str, str]]) -> frozenset[str] | None:
    """The option labels an answer chose, or None when it names none."""
    text = _norm(answer).strip()
    if not text:
        return None
    valid = {o["label"] for o in options}
    masked = text
    for o in sorted(options, key=lambda o: -len(o["text"])):
        t = _norm(o["text"]).strip()
        if len(t) >= 2 or (t and not t.isascii()):
            masked = masked.replace(t, "◇")
    lines = [ln for ln in masked.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        got = _label_tokens(line, valid)
        if got:
            chosen = list(got)
            for nxt in lines[i + 1:]:
                if not _starts_with_label(nxt, valid):
                    break
                chosen.extend(lab for lab in _label_tokens(nxt, valid) if lab not in chosen)
            return frozenset(chosen)
    return _by_text(text, options)


def _by_text(text: str, options: list[dict[str, str]]) -> frozenset[str] | None:
    first = text.splitlines()[0] if text.splitlines() else text
    compact = re.sub(r"\s+", "", first)
    by_text = {re.sub(r"\s+", "", _norm(o["text"])): o["label"] for o in options}
    truth = {t: lab for t, lab in by_text.items() if t in ("正确", "对", "√")}
    falsity = {t: lab for t, lab in by_text.items() if t in ("错误", "错", "×")}
    if truth and falsity:  # a judge question: whichever verdict word comes first
        hits = [(compact.find(w), -len(w), w) for w in TRUE_WORDS + FALSE_WORDS if w in compact]
        if hits:
            _, _, word = min(hits)
            return frozenset(truth.values() if word in TRUE_WORDS else falsity.values())
        return None
    matched = [t for t in by_text if t and t in compact]
    matched = [t for t in matched if not any(t != u and t in u for u in matched)]
    return frozenset(by_text[t] for t in matched) if matched else None


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
             stop: threading.Event | None = None) -> dict[str, Any]:
    """Exam accuracy of one system (a run id, or ``base``) on an exam dataset; stored in exam_evals.

    ``stop`` (set by a cancel) ends the answering after the batch in flight: the answers so far stay in
    the generations cache (a rerun asks only the rest) and nothing is scored or stored (``stopped``)."""
    if shuffles < 0 or shuffles > 20:
        raise InputError("--shuffles must be between 0 and 20")
    found = store_datasets.get(dataset)
    questions = [q for q in store.exam_questions(found["id"], limit=limit) if q["qtype"] in TYPES]
    questions = [q for q in questions if expected_labels(q)]
    if not questions:
        raise NotFound(f"exam dataset {dataset!r} has no single, multi or judge questions with an answer")
    if run_id == "base":
        system = inference.resolve_systems([], base_model=base_model)[0]
    else:
        system = inference.run_system(run_id)
    decode = decode or inference.decode_settings("greedy", max_new_tokens=64)
    items, keys = [], []
    for q in questions:
        for k in range(shuffles + 1):
            opts, _ = shuffled(q, k, seed)
            items.append({"prompt": exam_prompt(q["question"], opts, q["qtype"])})
            keys.append((q["id"], k))
    gen = inference.ensure_generations([system], items, decode, batch_size=batch_size, progress=progress,
                                       stop=stop)
    if stop is not None and stop.is_set():
        return {"run": run_id, "dataset": dataset, "stopped": True, "generated": gen["generated"],
                "cached": gen["cached"]}
    answers = {}
    for key, it in zip(keys, items):
        row = gen["rows"].get((system.id, inference.prompt_key(it["prompt"])))
        answers[key] = row["output"] if row else ""
    result = score(questions, answers, shuffles, seed)
    eval_id = store.insert_exam_eval({
        "model_system": system.id, "base_model": system.base_model, "dataset_id": found["id"],
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


def history() -> list[dict[str, Any]]:
    """Every stored exam evaluation, newest first."""
    return store.exam_evals()


def datasets() -> list[dict[str, Any]]:
    """Exam datasets with their number of questions."""
    return store.exam_datasets()
