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
- Requests go out in parallel (``concurrency``, default 8) with generation's retry and fail-fast rules
  (:mod:`studio.evaluate.api_pool`); each is stored with its scores as it returns.
- Every judgement keeps the judge's raw verdict (``judge_scores.raw``) and its request: :func:`verdicts`
  lists them; ``judge_comparison(..., again=[prompt ids])`` judges those prompts again (the newest parsed
  score of an output counts). A failed request of an API system is no answer and is not judged.
- Agreement with people: Spearman and Pearson correlation between the judge's score and the mean
  human rating of each output that has both.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
import unicodedata
from collections import defaultdict
from datetime import datetime
from typing import Any, Callable

from store import compare as store
from store import db
from studio.core.errors import InputError, WorkFailed
from studio.core.i18n import _
from studio.core.llm import get_client
from studio.evaluate import api_pool, comparisons, limits, ratings

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
        raise InputError(_("a template needs a name"))
    if name == BUILTIN:
        raise InputError(_("{name} is the built-in template; choose another name").format(name=repr(BUILTIN)))
    if "{prompt}" not in (text or "") or ("{answers}" not in text and "{answer}" not in text):
        raise InputError(_("a judge template needs {prompt} and {answers} (all systems) or {answer} (one output)"))
    scale = limits.JUDGE_SCALE.check(scale)
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
        raise InputError(_("no judge template {name} (templates: {known})").format(name=repr(name), known=known))
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
                     stop: threading.Event | None = None, since: datetime | None = None,
                     concurrency: int = api_pool.DEFAULT_CONCURRENCY, again: list[int] | None = None,
                     backoff_s: float = 1.0) -> dict[str, Any]:
    """Ask the judge about every output of a comparison that has no parsed score from it yet.

    Requests go out ``concurrency`` at a time with generation's retry and fail-fast rules (see
    :mod:`studio.evaluate.api_pool`; ``max_retries`` retries of 429 / 5xx / timeouts, a 401 / 403 / 404
    stops all). ``again``: prompt ids whose outputs are judged again even if scored (re-judging; the new
    score counts). ``stop`` (set by a cancel) starts no more requests; each request is stored with its
    scores as it returns. ``since``: outputs this judge already answered at or after that time, even
    unparsed, are not asked again (a job resumed after a restart passes its first start: nothing twice)."""
    if not (model or "").strip():
        raise InputError(_("name the judge model"))
    concurrency = limits.CONCURRENCY.check(concurrency)
    body = template(template_name)["body"]
    scale = float(body.get("scale", 10))
    per_request = 1 if "{answers}" not in body["text"] else max(1, int(body.get("max_systems", 5)))
    client = client or get_client(base_url, key=key, timeout=timeout, max_retries=0)
    jobs, skipped = _jobs(comparison_id, model, template_name, per_request, seed, since, set(again or []))
    counts = {"requests": 0, "failed": 0, "scored": 0, "unparsed": 0, "skipped": skipped}
    asks = [api_pool.Ask(n, [{"role": "user", "content": render(body, p["prompt"],
                                                                 [p["outputs"][sid]["output"] for sid in chunk],
                                                                 p.get("reference"))}])
            for n, (p, chunk) in enumerate(jobs)]
    if progress:
        progress(0, len(jobs), "")
    options = {"temperature": 0, "base_url": str(client.base_url), "template": template_name}

    def stored(answers: list[api_pool.Answer]) -> None:
        for answer, verdicts in _store(answers, jobs, comparison_id, model, template_name, options, scale):
            counts["requests"] += 1
            counts["failed"] += answer.error is not None
            counts["scored"] += sum(1 for v in verdicts if v["parsed"])
            counts["unparsed"] += sum(1 for v in verdicts if not v["parsed"])
            if progress:
                progress(counts["requests"], len(jobs), jobs[answer.key][0]["prompt"][:30])

    result = api_pool.run(client, model, asks, stored, temperature=0, concurrency=concurrency, stop=stop,
                          settings=api_pool.Settings(timeout=timeout, retries=max_retries, backoff_s=backoff_s))
    stopped_by = result["fatal"] or result["paused"]
    if stopped_by or (jobs and counts["failed"] == len(jobs)):
        err = WorkFailed(_("the judge stopped: {error}").format(error=stopped_by) if stopped_by else
                         _("every judge request failed ({n}); check the endpoint, the model name and the API key "
                           "(each request and its error are in `llm_requests`)").format(n=counts["failed"]))
        err.summary = counts
        raise err
    return counts


def _jobs(comparison_id: int, model: str, template_name: str, per_request: int, seed: int,
          since: datetime | None = None, again: set[int] | None = None) -> tuple[list[tuple[dict, list[str]]], int]:
    """The judge requests still to make, as (prompt, system ids in shuffled order, at most
    ``per_request``), and how many outputs are skipped: those with a parsed score from this judge and
    template, and (with ``since``) those it answered at or after that time. Failed requests of API systems
    are no answers and are not judged; prompts in ``again`` are judged again whatever they have."""
    g = comparisons.grid(comparison_id)
    gen_ids = [o["generation_id"] for p in g["prompts"] for o in p["outputs"].values()]
    done = {s["generation_id"] for s in store.judge_scores_for(gen_ids, judge_model=model, template=template_name)
            if s["parsed"] or (since is not None and s["created_at"] >= since)}
    again = again or set()
    jobs = []
    for p in g["prompts"]:
        todo = [sid for sid in _order(comparison_id, p["prompt_id"], comparisons.answered(p), seed)
                if p["prompt_id"] in again or p["outputs"][sid]["generation_id"] not in done]
        for start in range(0, len(todo), per_request):
            jobs.append((p, todo[start:start + per_request]))
    return jobs, len(done - {o["generation_id"] for p in g["prompts"] if p["prompt_id"] in again
                             for o in p["outputs"].values()})


def _store(answers: list[api_pool.Answer], jobs: list[tuple[dict, list[str]]], comparison_id: int, model: str,
           template_name: str, options: dict[str, Any], scale: float) -> list[tuple[api_pool.Answer, list[dict]]]:
    """The judge answers that arrived together, stored in one transaction: each request, and a score per
    system (NULL when unreadable; none for a failed request). Returns each answer with its verdicts."""
    found = []
    for a in answers:
        verdicts = parse_verdict(a.text, len(jobs[a.key][1]), scale=scale) if a.text is not None else []
        found.append((verdicts, "failed" if a.error else ("ok" if all(v["parsed"] for v in verdicts) else "unparsed")))
    with db.transaction() as cur:
        rids = store.insert_requests([api_pool.request_row(a, "judge", f"comparison {comparison_id}", model, options,
                                                           a.last.messages if a.last else [], status=status)
                                      for a, (_v, status) in zip(answers, found)], cur=cur)
        store.insert_judge_scores([
            {"generation_id": jobs[a.key][0]["outputs"][sid]["generation_id"], "request_id": rid, "judge_model": model,
             "template": template_name, "score": v["score"], "explanation": v["explanation"], "raw": a.text,
             "parsed": v["parsed"]}
            for a, rid, (verdicts, _s) in zip(answers, rids, found) for sid, v in zip(jobs[a.key][1], verdicts)],
            cur=cur)
    return [(a, verdicts) for a, (verdicts, _s) in zip(answers, found)]


def verdicts(comparison_id: int, prompt_id: int | None = None) -> list[dict[str, Any]]:
    """Every judgement of a comparison's outputs (of one prompt), newest first: the system, the score (None
    when unread), the explanation, the judge's raw verdict, the request sent (the judge prompt) and when."""
    g = comparisons.grid(comparison_id)
    labels = {s["id"]: s["label"] for s in g["systems"]}
    meta = {o["generation_id"]: (p, sid) for p in g["prompts"] if prompt_id in (None, p["prompt_id"])
            for sid, o in p["outputs"].items()}
    out = []
    for s in reversed(store.judge_scores_for(meta)):
        p, sid = meta[s["generation_id"]]
        out.append({"id": s["id"], "prompt_id": p["prompt_id"], "prompt": p["prompt"], "system": sid,
                    "label": labels[sid], "score": s["score"], "parsed": s["parsed"],
                    "explanation": s["explanation"], "raw": s["raw"], "judge_model": s["judge_model"],
                    "template": s["template"], "request_id": s["request_id"], "created_at": s["created_at"]})
    return out


def request_text(request_id: int | None) -> str:
    """The judge prompt a request sent (its user message), for showing beside the raw verdict."""
    found = store.request(int(request_id)) if request_id is not None else None
    messages = (found or {}).get("prompt") or []
    if isinstance(messages, str):
        messages = json.loads(messages)
    return "\n\n".join(m.get("content") or "" for m in messages)


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


def _scale(template_names: set[str]) -> float:
    """The highest score the judges' templates allow (10 for DreamerGPT's; a deleted template counts as 10)."""
    found = [store.template("judge", name) for name in template_names]
    return max([float((t["body"] or {}).get("scale", 10)) for t in found if t] or [10.0])


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
    agreement = {"n": len(both), "spearman": spearman([a for a, _h in both], [b for _j, b in both]),
                 "pearson": pearson([a for a, _h in both], [b for _j, b in both])}
    judges = sorted({(s["judge_model"], s["template"]) for s in scores})
    table = ratings.seed_table(cells, [{"id": s["system"], "label": s["label"]} for s in systems], overall=systems)
    return {"systems": systems, "cells": cells, "scored": len(latest), "unparsed": unparsed,
            "scale": _scale({t for _m, t in judges}),
            "agreement": agreement, "judges": [{"model": m, "template": t} for m, t in judges], "table": table,
            "explanations": {gid: s["explanation"] for gid, s in latest.items()},
            "scores": {gid: s["score"] for gid, s in latest.items()}}
