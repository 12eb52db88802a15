"""GPT-as-judge: an OpenAI-compatible model scores the outputs of a comparison.

- The built-in template is DreamerGPT's (README §6.1): the systems' answers to one prompt in one
  request, "System1:..." per answer, scored out of 10, "输出结果格式为：System 分数；System 解释。".
  DreamerGPT always judged five systems; the template says how many there are, and a comparison of
  more than five systems is judged five at a time. The order of the systems is shuffled per prompt
  (seeded) so no system always sits first.
- User templates are rows of ``templates`` (kind ``judge``): text with ``{prompt}`` and ``{answers}``
  (all answers, one request per prompt) or ``{answer}`` (one request per output); ``{count}`` and
  ``{reference}`` are filled too. Placeholders are replaced literally, so other braces are kept.
- A verdict is parsed per system: the number after the system's marker (after 分数 / 得分 / 评分 / score
  when present), on the template's scale; the rest is the explanation. A system whose score cannot be
  read is stored unparsed (score NULL) with the raw verdict, never as a score, and is asked again on
  the next run. Every request is logged in ``llm_requests`` (model, options, prompt, response, tokens,
  duration; never the key).
- Agreement with people: Spearman and Pearson correlation between the judge's score and the mean
  human rating of each output that has both.
"""
from __future__ import annotations

import hashlib
import math
import random
import re
import threading
import time
import unicodedata
from collections import defaultdict
from datetime import datetime
from typing import Any, Callable

from store import compare as store
from store import db
from studio.core.errors import InputError, WorkFailed
from studio.core.llm import get_client
from studio.evaluate import comparisons, ratings

BUILTIN = "dreamergpt"
DREAMERGPT_TEXT = ("以下是{count}个类似 ChatGPT 的系统的输出。请以 10 分制为每一项打分，并给出解释以证明您的分数。"
                   "输出结果格式为：System 分数；System 解释。\nPrompt:{prompt}\n答案：\n{answers}")
BUILTIN_BODY = {"text": DREAMERGPT_TEXT, "scale": 10, "max_systems": 5,
                "source": "DreamerGPT README §6.1 (Apache-2.0)"}
_NUMERALS = "零一二三四五六七八九十"
_MARKER = re.compile(r"(?:System|系统)\s*(\d+)", re.IGNORECASE)
_KEYWORD_SCORE = re.compile(r"(?:分数|得分|评分|打分|score)\s*(?:为|是)?\s*[:：]?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?:\s*/\s*10)?")


# ---------------------------------------------------------------- templates


def ensure_builtin() -> None:
    """Store the DreamerGPT template (kind 'judge') once."""
    if store.template("judge", BUILTIN) is None:
        with db.transaction() as cur:
            store.upsert_template("judge", BUILTIN, BUILTIN_BODY, builtin=True, cur=cur)


def save_template(name: str, text: str, *, scale: float = 10, max_systems: int = 5) -> int:
    """Save a user judge template; it needs ``{prompt}`` and ``{answers}`` or ``{answer}``."""
    name = (name or "").strip()
    if not name:
        raise InputError("a template needs a name")
    if name == BUILTIN:
        raise InputError(f"{BUILTIN!r} is the built-in template; choose another name")
    if "{prompt}" not in text or ("{answers}" not in text and "{answer}" not in text):
        raise InputError("a judge template needs {prompt} and {answers} (all systems) or {answer} (one output)")
    if not (0 < float(scale) <= 100):
        raise InputError("the scale is a number between 1 and 100")
    with db.transaction() as cur:
        return store.upsert_template("judge", name, {"text": text, "scale": float(scale),
                                                     "max_systems": int(max_systems)}, cur=cur)


def templates() -> list[dict[str, Any]]:
    ensure_builtin()
    return store.templates("judge")


def template(name: str) -> dict[str, Any]:
    ensure_builtin()
    found = store.template("judge", name)
    if found is None:
        known = ", ".join(t["name"] for t in store.templates("judge"))
        raise InputError(f"no judge template {name!r} (templates: {known})")
    return found


def render(body: dict[str, Any], prompt: str, answers: list[str], reference: str | None = None) -> str:
    """The judge request for one prompt and its answers (``System1:...`` lines)."""
    text = body["text"]
    count = len(answers)
    numeral = _NUMERALS[count] if count <= 10 else str(count)
    listed = "\n".join(f"System{i}:{a}" for i, a in enumerate(answers, start=1))
    for key, value in (("{count}", numeral), ("{prompt}", prompt), ("{answers}", listed),
                       ("{answer}", answers[0] if answers else ""), ("{reference}", reference or "")):
        text = text.replace(key, value)
    return text


# ---------------------------------------------------------------- parsing verdicts


def _score_in(segment: str, scale: float) -> tuple[float | None, str]:
    m = _KEYWORD_SCORE.search(segment) or _NUMBER.search(segment)
    if not m:
        return None, segment
    value = float(m.group(1))
    if not (0 <= value <= scale) or math.isnan(value):
        return None, segment
    rest = (segment[:m.start()] + segment[m.end():])
    return value, rest


def _explanation(text: str) -> str:
    text = re.sub(r"(?:解释|理由|说明|explanation)\s*[:：]?", " ", text, flags=re.IGNORECASE)
    text = re.sub(r"^[\s:：;；,，。.分/]+", "", text.strip())
    return re.sub(r"\s+", " ", text).strip(" ;；")


def parse_verdict(text: str, count: int, *, scale: float = 10) -> list[dict[str, Any]]:
    """Per system 1..count: ``score`` (None when unreadable), ``explanation``, ``parsed``."""
    norm = unicodedata.normalize("NFKC", text or "")
    marks = list(_MARKER.finditer(norm))
    out = []
    if count == 1 and not marks:
        score, rest = _score_in(norm, scale)
        return [{"score": score, "explanation": _explanation(rest) if score is not None else "",
                 "parsed": score is not None}]
    segments: dict[int, list[str]] = defaultdict(list)
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(norm)
        segments[int(m.group(1))].append(norm[m.end():end])
    for i in range(1, count + 1):
        score, explanation = None, ""
        parts = segments.get(i, [])
        for j, part in enumerate(parts):
            if score is None:
                score, rest = _score_in(part, scale)
                if score is not None:
                    parts = parts[:j] + [rest] + parts[j + 1:]
                    break
        if score is not None:
            explanation = _explanation(" ".join(parts))
        out.append({"score": score, "explanation": explanation, "parsed": score is not None})
    return out


# ---------------------------------------------------------------- judging a comparison


def _order(comparison_id: int, prompt_id: int, system_ids: list[str], seed: int) -> list[str]:
    r = int(hashlib.sha256(f"judge:{seed}:{comparison_id}:{prompt_id}".encode()).hexdigest()[:12], 16)
    order = list(system_ids)
    random.Random(r).shuffle(order)
    return order


def judge_comparison(comparison_id: int, *, model: str, base_url: str | None = None, template_name: str = BUILTIN,
                     key: str | None = None, seed: int = 0, max_retries: int = 2, timeout: float = 60.0,
                     progress: Callable[[int, int, str], None] | None = None, client=None,
                     stop: threading.Event | None = None, since: datetime | None = None) -> dict[str, Any]:
    """Ask the judge about every output of a comparison that has no parsed score from it yet.

    ``stop`` (set by a cancel) ends the work after the request in flight; each request is stored with its
    scores as it returns. ``since``: outputs this judge already answered at or after that time, even
    unparsed, are not asked again (a job resumed after a restart passes its first start: nothing twice)."""
    if not (model or "").strip():
        raise InputError("name the judge model")
    body = template(template_name)["body"]
    scale = float(body.get("scale", 10))
    per_request = 1 if "{answers}" not in body["text"] else max(1, int(body.get("max_systems", 5)))
    client = client or get_client(base_url, key=key, timeout=timeout, max_retries=max_retries)
    jobs, skipped = _jobs(comparison_id, model, template_name, per_request, seed, since)
    counts = {"requests": 0, "failed": 0, "scored": 0, "unparsed": 0, "skipped": skipped}
    if progress:
        progress(0, len(jobs), "")
    for n, (p, chunk) in enumerate(jobs, start=1):
        if stop is not None and stop.is_set():
            break
        verdicts, error = _judge_chunk(client, comparison_id, model, template_name, body, scale, p, chunk)
        counts["requests"] += 1
        if error:
            counts["failed"] += 1
        counts["scored"] += sum(1 for v in verdicts if v["parsed"])
        counts["unparsed"] += sum(1 for v in verdicts if not v["parsed"])
        if progress:
            progress(n, len(jobs), p["prompt"][:30])
    if jobs and counts["failed"] == len(jobs):
        err = WorkFailed(f"every judge request failed ({counts['failed']}); see llm_requests for the errors")
        err.summary = counts
        raise err
    return counts


def _jobs(comparison_id: int, model: str, template_name: str, per_request: int, seed: int,
          since: datetime | None = None) -> tuple[list[tuple[dict, list[str]]], int]:
    """The judge requests still to make, as (prompt, system ids in shuffled order, at most
    ``per_request``), and how many outputs are skipped: those with a parsed score from this judge and
    template, and (with ``since``) those it answered at or after that time."""
    g = comparisons.grid(comparison_id)
    gen_ids = [o["generation_id"] for p in g["prompts"] for o in p["outputs"].values()]
    done = {s["generation_id"] for s in store.judge_scores_for(gen_ids, judge_model=model, template=template_name)
            if s["parsed"] or (since is not None and s["created_at"] >= since)}
    jobs = []
    for p in g["prompts"]:
        todo = [sid for sid in _order(comparison_id, p["prompt_id"], list(p["outputs"]), seed)
                if p["outputs"][sid]["generation_id"] not in done]
        for start in range(0, len(todo), per_request):
            jobs.append((p, todo[start:start + per_request]))
    return jobs, len(done)


def _judge_chunk(client, comparison_id: int, model: str, template_name: str, body: dict[str, Any], scale: float,
                 p: dict, chunk: list[str]) -> tuple[list[dict[str, Any]], str | None]:
    """One judge request about the outputs of ``chunk`` for prompt ``p``; the request and a score per
    system (NULL when unreadable) are stored in one transaction. Returns (verdicts, error)."""
    answers = [p["outputs"][sid]["output"] for sid in chunk]
    prompt_text = render(body, p["prompt"], answers, p.get("reference"))
    messages = [{"role": "user", "content": prompt_text}]
    options = {"temperature": 0, "base_url": str(client.base_url), "template": template_name}
    started = time.perf_counter()
    try:
        resp = client.chat.completions.create(model=model, messages=messages, temperature=0)
        content = resp.choices[0].message.content or ""
        usage = getattr(resp, "usage", None)
        error = None
    except Exception as err:  # noqa: BLE001 - any API failure is logged and counted, never raised mid-batch
        content, usage, error = None, None, f"{type(err).__name__}: {str(err)[:300]}"
    ms = int((time.perf_counter() - started) * 1000)
    verdicts = parse_verdict(content, len(chunk), scale=scale) if content is not None else []
    status = "failed" if error else ("ok" if all(v["parsed"] for v in verdicts) else "unparsed")
    with db.transaction() as cur:
        rid = store.insert_request({
            "purpose": "judge", "step": f"comparison {comparison_id}", "model": model, "options": options,
            "prompt": messages, "response": content, "status": status, "error": error,
            "prompt_tokens": getattr(usage, "prompt_tokens", None),
            "completion_tokens": getattr(usage, "completion_tokens", None), "duration_ms": ms}, cur=cur)
        for sid, v in zip(chunk, verdicts):
            store.insert_judge_score({"generation_id": p["outputs"][sid]["generation_id"], "request_id": rid,
                                      "judge_model": model, "template": template_name, "score": v["score"],
                                      "explanation": v["explanation"], "raw": content, "parsed": v["parsed"]},
                                     cur=cur)
    return verdicts, error


# ---------------------------------------------------------------- results


def _ranks(xs: list[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(xs: list[float], ys: list[float]) -> float | None:
    n = len(xs)
    if n < 3:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sx = math.sqrt(sum((x - mx) ** 2 for x in xs))
    sy = math.sqrt(sum((y - my) ** 2 for y in ys))
    return sxy / (sx * sy) if sx and sy else None


def spearman(xs: list[float], ys: list[float]) -> float | None:
    return pearson(_ranks(xs), _ranks(ys)) if len(xs) >= 3 else None


def summary(comparison_id: int, *, judge_model: str | None = None, template_name: str | None = None) -> dict[str, Any]:
    """Judge scores per system and category (mean with interval), unparsed count, agreement with people."""
    g = comparisons.grid(comparison_id)
    meta = {o["generation_id"]: (sid, p["category"]) for p in g["prompts"] for sid, o in p["outputs"].items()}
    scores = store.judge_scores_for(meta, judge_model=judge_model, template=template_name)
    latest: dict[int, dict] = {}
    for s in scores:  # ordered by id: the latest parsed score of each output counts
        if s["parsed"]:
            latest[s["generation_id"]] = s
    unparsed = len({s["generation_id"] for s in scores if not s["parsed"]} - set(latest))  # outputs, not requests
    by_system: dict[str, list[float]] = defaultdict(list)
    by_cell: dict[tuple[str, str], list[float]] = defaultdict(list)
    for gid, s in latest.items():
        sid, cat = meta[gid]
        by_system[sid].append(s["score"])
        by_cell[(cat, sid)].append(s["score"])
    labels = {s["id"]: s["label"] for s in g["systems"]}
    systems = [{"system": s, "label": labels[s], **ratings.mean_ci(by_system.get(s, []))} for s in labels]
    categories = sorted({p["category"] for p in g["prompts"]})
    cells = [{"system": s, "label": labels[s], "category": c, **ratings.mean_ci(by_cell.get((c, s), []))}
             for c in categories for s in labels]
    human: dict[int, list[int]] = defaultdict(list)
    for r in store.ratings_for(meta):
        human[r["generation_id"]].append(r["score"])
    both = [(latest[gid]["score"], sum(h) / len(h)) for gid, h in human.items() if gid in latest]
    agreement = {"n": len(both), "spearman": spearman([a for a, _ in both], [b for _, b in both]),
                 "pearson": pearson([a for a, _ in both], [b for _, b in both])}
    judges = sorted({(s["judge_model"], s["template"]) for s in scores})
    table = ratings.seed_table(cells, [{"id": s["system"], "label": s["label"]} for s in systems], overall=systems)
    return {"systems": systems, "cells": cells, "scored": len(latest), "unparsed": unparsed,
            "agreement": agreement, "judges": [{"model": m, "template": t} for m, t in judges], "table": table,
            "explanations": {gid: s["explanation"] for gid, s in latest.items()},
            "scores": {gid: s["score"] for gid, s in latest.items()}}
