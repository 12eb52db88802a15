"""The generation runner: a resumable batch over a corpus, a bounded number of requests in flight.

How it keeps its promises:

- **Bounded concurrency**: worker threads only talk HTTP (the openai client is thread-safe); the thread
  that called :func:`run` is the only one writing to the database.
- **Nothing lost, nothing twice**: each passage's requests, samples and its row in ``batch_passages``
  are committed in one transaction as soon as the passage finishes. ``batch_passages`` has the primary
  key (batch, passage), and a new run skips every passage any batch of the same strategy into the same
  dataset has finished. A killed run loses only the passages in flight (never committed), which the
  next run generates.
- **Retries**: 429, 5xx, timeouts and connection errors are retried with exponential backoff (honouring
  ``retry-after``) up to ``retries`` times; every attempt is logged. Authentication, permission and
  unknown-model errors stop the batch at once: retrying them only burns time.
- **Rate and budget**: a shared limiter spaces request starts ``60/rpm`` seconds apart; before each
  passage is started the batch's spent cost (tokens × price from ``usage``) and tokens are checked
  against the budget, and the batch stops (state ``stopped``) when it is reached. Passages in flight
  then finish, so the budget can be overshot by at most ``concurrency`` passages.
- **Stop**: ``request_stop(batch)`` (the page's Stop button) is read between passages through the
  batch's heartbeat; in-flight passages finish and are committed.
"""
from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable

from studio.core.errors import InputError, WorkFailed
from studio.generate import cloze as cloze_mod
from studio.generate import prompting as tpl
from studio.generate.parse import ParseError, items, parse_json


@dataclass
class Options:
    concurrency: int = 4          # requests (passages) in flight at once
    rpm: float = 0                # requests per minute across all threads; 0 = no limit
    budget: float | None = None   # stop when the estimated cost reaches this (price_in/price_out units)
    budget_tokens: int | None = None  # stop when this many tokens (prompt + completion) are spent
    price_in: float = 0.0         # price per 1M prompt tokens, for the estimated cost
    price_out: float = 0.0        # price per 1M completion tokens
    timeout: float = 60.0         # seconds per HTTP request
    retries: int = 3              # our retries of 429 / 5xx / timeouts, each attempt logged
    client_retries: int = 0       # the openai client's own retries (invisible to the log; keep 0-1)
    backoff_s: float = 1.0        # first retry wait; doubles each attempt (with jitter)
    limit: int | None = None      # at most this many passages in this run
    n: int | None = None          # questions / pairs per passage (overrides the template's n)
    temperature: float | None = None  # overrides the template's temperature
    per_passage: int = 3          # cloze pairs per passage
    examples: int = 3             # self-instruct few-shot examples per passage
    retry_failed: bool = False    # try passages whose earlier attempt failed again

    def logged(self) -> dict:
        """What is stored with the batch (never a key)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Request:
    step: str
    model: str
    options: dict
    messages: list
    response: str | None = None
    status: str = "ok"            # ok | failed | unparsed
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost: float = 0.0
    duration_ms: int = 0


@dataclass
class Outcome:
    passage_id: int
    status: str = "ok"            # ok | empty | failed | unparsed
    error: str | None = None
    requests: list[Request] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    questions: list[dict] = field(default_factory=list)


class _PassageFailed(Exception):
    def __init__(self, status: str, error: str):
        super().__init__(error)
        self.status, self.error = status, error


class Fatal(Exception):
    """An error no retry can fix (bad key, unknown model): the batch stops."""


class RateLimiter:
    """Space request starts at least 60/rpm seconds apart, across threads."""

    def __init__(self, rpm: float):
        self.interval = 60.0 / rpm if rpm and rpm > 0 else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


class Caller:
    """One chat completion with retries, rate limiting and a log entry per attempt."""

    def __init__(self, client, model: str, opts: Options, limiter: RateLimiter):
        self.client, self.model, self.opts, self.limiter = client, model, opts, limiter
        self.fatal: str | None = None

    def ask(self, out: Outcome, step: str, messages: list, temperature: float) -> tuple[int, str]:
        """Send ``messages``; return (index of the request in ``out.requests``, reply text)."""
        import openai

        options = {"temperature": temperature, "timeout": self.opts.timeout}
        for attempt in range(self.opts.retries + 1):
            if self.fatal:  # another thread hit an unfixable error: leave this passage to do
                raise Fatal(f"batch stopped: {self.fatal}")
            self.limiter.wait()
            req = Request(step, self.model, {**options, "attempt": attempt + 1}, messages)
            out.requests.append(req)
            started = time.monotonic()
            wait_s = None
            try:
                reply = self.client.chat.completions.create(model=self.model, messages=messages,
                                                            temperature=temperature)
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as err:
                req.status, req.error = "failed", _describe(err)
                req.duration_ms = int((time.monotonic() - started) * 1000)
                self.fatal = req.error
                raise Fatal(req.error) from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                    openai.APIConnectionError, openai.ConflictError) as err:
                req.status, req.error = "failed", _describe(err)
                req.duration_ms = int((time.monotonic() - started) * 1000)
                wait_s = _retry_after(err)
            except openai.APIStatusError as err:  # 400 and the like: this passage's request is refused
                req.status, req.error = "failed", _describe(err)
                req.duration_ms = int((time.monotonic() - started) * 1000)
                raise _PassageFailed("failed", req.error) from None
            else:
                req.duration_ms = int((time.monotonic() - started) * 1000)
                text = reply.choices[0].message.content if reply.choices else None
                req.response = text or ""
                usage = getattr(reply, "usage", None)
                if usage is not None:
                    req.prompt_tokens = usage.prompt_tokens
                    req.completion_tokens = usage.completion_tokens
                    req.cost = ((usage.prompt_tokens or 0) * self.opts.price_in
                                + (usage.completion_tokens or 0) * self.opts.price_out) / 1e6
                return len(out.requests) - 1, req.response
            if attempt < self.opts.retries:
                delay = self.opts.backoff_s * (2 ** attempt) * (0.75 + random.random() / 2)
                time.sleep(max(delay, wait_s or 0))
                req.error += " (retried)"
        raise _PassageFailed("failed", f"gave up after {self.opts.retries + 1} attempts: {out.requests[-1].error}")


def _describe(err) -> str:
    status = getattr(err, "status_code", None)
    name = type(err).__name__
    text = str(getattr(err, "message", "") or err).splitlines()[0][:300]
    return f"{name}{f' {status}' if status else ''}: {text}"


def _retry_after(err) -> float | None:
    response = getattr(err, "response", None)
    headers = getattr(response, "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return min(float(headers["retry-after"]), 60.0)
    except ValueError:
        return None
    return None


def _parsed(out: Outcome, index: int, text: str, *keys: str) -> list:
    """The list in a reply; an unreadable reply marks its request and the passage 'unparsed'."""
    try:
        return items(parse_json(text), *keys)
    except ParseError as err:
        out.requests[index].status = "unparsed"
        out.requests[index].error = str(err)
        raise _PassageFailed("unparsed", f"{out.requests[index].step}: {err}") from None


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


# -- strategies: each returns the passage's samples / questions into ``out`` --------------------------
def _qa(p: dict, ctx: "_Context", out: Outcome) -> None:
    body = ctx.body
    values = tpl.values_for(p, body)
    i, text = ctx.caller.ask(out, body["steps"][0].get("name", "questions"), tpl.messages(body, 0, values),
                             body["temperature"])
    questions = []
    for q in _parsed(out, i, text, "questions"):
        q = _text(q) or (_text(q.get("question") or q.get("q")) if isinstance(q, dict) else "")
        if q and q not in questions:
            questions.append(q)
    questions = questions[:max(1, body["n"]) * 2]
    if not questions:
        out.requests[i].status, out.requests[i].error = "unparsed", "no questions in the reply"
        raise _PassageFailed("unparsed", "questions: no questions in the reply")
    values = tpl.values_for(p, body, questions=questions)
    j, text = ctx.caller.ask(out, body["steps"][1].get("name", "answers"), tpl.messages(body, 1, values),
                             body["temperature"])
    answers = _parsed(out, j, text, "answers", "pairs")
    for k, a in enumerate(answers):
        if isinstance(a, dict):
            q = _text(a.get("question") or a.get("q")) or (questions[k] if k < len(questions) else "")
            ans = _text(a.get("answer") or a.get("a") or a.get("output"))
        else:
            q, ans = (questions[k] if k < len(questions) else ""), _text(a)
        if q and ans:
            out.samples.append({"instruction": q, "output": ans, "request": j, "origin": "generated"})
    if not out.samples:
        out.requests[j].status, out.requests[j].error = "unparsed", "no answers in the reply"
        raise _PassageFailed("unparsed", "answers: no question-answer pairs in the reply")


def _self_instruct(p: dict, ctx: "_Context", out: Outcome) -> None:
    body = ctx.body
    rng = random.Random(p["id"])
    examples = rng.sample(ctx.examples, min(ctx.opts.examples, len(ctx.examples)))
    values = tpl.values_for(p, body, examples=examples)
    i, text = ctx.caller.ask(out, body["steps"][0].get("name", "pairs"), tpl.messages(body, 0, values),
                             body["temperature"])
    for pair in _parsed(out, i, text, "pairs", "samples", "data"):
        if not isinstance(pair, dict):
            continue
        ins = _text(pair.get("instruction") or pair.get("question"))
        outp = _text(pair.get("output") or pair.get("answer"))
        if ins and outp:
            out.samples.append({"instruction": ins, "input": _text(pair.get("input")), "output": outp,
                                "request": i, "origin": "generated"})
    if not out.samples:
        out.requests[i].status, out.requests[i].error = "unparsed", "no instruction-output pairs"
        raise _PassageFailed("unparsed", "no instruction-output pairs in the reply")


_TYPES = {"single": "single", "单选": "single", "单选题": "single", "multi": "multi", "multiple": "multi",
          "多选": "multi", "多选题": "multi", "judge": "judge", "判断": "judge", "判断题": "judge",
          "true_false": "judge", "truefalse": "judge"}
_TRUE = {"正确", "对", "是", "true", "√", "t", "yes", "a"}
_FALSE = {"错误", "错", "否", "false", "×", "f", "no", "b"}


def exam_question(item) -> dict:
    """A generated exam question normalised to the exam_questions shape; ValueError says what is wrong."""
    import re

    if not isinstance(item, dict):
        raise ValueError("not an object")
    qtype = _TYPES.get(str(item.get("type", "")).strip().lower())
    question = _text(item.get("question") or item.get("stem"))
    if not question:
        raise ValueError("no question text")
    answer = item.get("answer")
    if qtype == "judge" or (qtype is None and not item.get("options")):
        word = str(answer).strip().lower() if not isinstance(answer, bool) else ("true" if answer else "false")
        if word in _TRUE:
            return {"qtype": "judge", "question": question, "options": None, "answer_labels": [],
                    "answer_text": "正确"}
        if word in _FALSE:
            return {"qtype": "judge", "question": question, "options": None, "answer_labels": [],
                    "answer_text": "错误"}
        raise ValueError(f"judge answer {answer!r} is not 正确/错误")
    raw = item.get("options")
    options = []
    if isinstance(raw, dict):
        options = [{"label": str(k).strip().upper()[:1], "text": _text(v)} for k, v in raw.items()]
    elif isinstance(raw, list):
        for n, o in enumerate(raw):
            if isinstance(o, dict):
                options.append({"label": str(o.get("label", chr(65 + n))).upper()[:1], "text": _text(o.get("text"))})
            else:
                m = re.match(r"^\s*([A-Ha-h])\s*[.．、:：)]\s*(.+)$", str(o))
                options.append({"label": m.group(1).upper(), "text": m.group(2).strip()} if m
                               else {"label": chr(65 + n), "text": str(o).strip()})
    if len(options) < 2 or not all(o["text"] for o in options):
        raise ValueError("a choice question needs at least two non-empty options")
    labels = [o["label"] for o in options]
    if isinstance(answer, list):
        chosen = [str(a).strip().upper()[:1] for a in answer]
    else:
        chosen = re.findall(r"[A-H]", str(answer or "").upper())
    chosen = sorted(dict.fromkeys(chosen))
    if not chosen or any(c not in labels for c in chosen):
        raise ValueError(f"answer {answer!r} names no given option")
    qtype = qtype or ("multi" if len(chosen) > 1 else "single")
    if qtype == "single" and len(chosen) != 1:
        raise ValueError("a single-choice question needs exactly one answer")
    texts = {o["label"]: o["text"] for o in options}
    return {"qtype": qtype, "question": question, "options": options, "answer_labels": chosen,
            "answer_text": "; ".join(texts[c] for c in chosen)}


def _exam(p: dict, ctx: "_Context", out: Outcome) -> None:
    body = ctx.body
    values = tpl.values_for(p, body)
    i, text = ctx.caller.ask(out, body["steps"][0].get("name", "exam"), tpl.messages(body, 0, values),
                             body["temperature"])
    problems = []
    for item in _parsed(out, i, text, "questions", "items"):
        try:
            q = exam_question(item)
        except ValueError as err:
            problems.append(str(err))
            continue
        out.questions.append({**q, "request": i, "subject": p.get("document_title"),
                              "basis": p.get("heading"), "source_file": p.get("source_file")})
    if problems:
        out.requests[i].error = f"{len(problems)} item(s) skipped: " + "; ".join(problems[:5])
    if not out.questions:
        out.requests[i].status = "unparsed"
        raise _PassageFailed("unparsed", "no valid exam question in the reply" +
                             (f" ({problems[0]})" if problems else ""))


def _cloze(p: dict, ctx: "_Context", out: Outcome) -> None:
    for pair in cloze_mod.cloze_pairs(p["text"], ctx.opts.per_passage):
        out.samples.append({"instruction": pair["instruction"], "output": pair["output"], "origin": "cloze",
                            "tags": ["cloze", pair["kind"]]})
    if not out.samples:
        out.status = "empty"


STRATEGY_FUNCS = {"qa": _qa, "exam": _exam, "self-instruct": _self_instruct, "cloze": _cloze}


@dataclass
class _Context:
    strategy: str
    template: str
    body: dict
    opts: Options
    caller: Caller | None
    examples: list


def _work(p: dict, ctx: _Context) -> Outcome:
    out = Outcome(p["id"])
    try:
        STRATEGY_FUNCS[ctx.strategy](p, ctx, out)
    except _PassageFailed as err:
        out.status, out.error = err.status, err.error
        out.samples, out.questions = [], []
    except Fatal as err:
        out.status, out.error = "fatal", str(err)
    from studio.data.quality import sample_flags

    for s in out.samples:
        s.setdefault("template", ctx.template)
        s.setdefault("tags", [ctx.strategy])
        s["source_file"] = p.get("source_file")
        s["flags"] = sample_flags(s["instruction"], s.get("input", ""), s["output"], p["text"])
    return out


def run(corpus: str, into: str, strategy: str = "cloze", *, template: str | None = None,
        template_body: dict | None = None, model: str | None = None, base_url: str | None = None, key: str | None = None,
        options: Options | None = None, seed_dataset: str | None = None,
        progress: Callable[[dict], None] | None = None, stop: threading.Event | None = None,
        on_batch: Callable[[int], None] | None = None) -> dict:
    """Run (or resume) the batch of ``strategy`` over corpus ``corpus`` into dataset ``into``.

    ``template_body`` runs edited (unsaved) template text under the template's name.
    Returns {"dataset", "batch", "state", "passages", "samples", "failed", "requests", "tokens", "cost",
    "remaining"}; the counts are this run's. ``progress`` gets a dict after every finished passage.
    """
    from store import datasets, db
    from store import generation as store

    opts = options or Options()
    if strategy not in tpl.STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}; choose one of {', '.join(tpl.STRATEGIES)}")
    if opts.concurrency < 1 or opts.concurrency > 64:
        raise InputError("concurrency must be between 1 and 64")
    source = datasets.get(corpus)
    if source["kind"] != "corpus":
        raise InputError(f"dataset {corpus!r} is a {source['kind']} dataset, not a corpus")
    store.ensure_templates(tpl.BUILTIN)
    body, template_id, template_name, caller, examples = {}, None, "cloze", None, []
    if strategy != "cloze":
        template_name = template or tpl.DEFAULT_FOR[strategy]
        found = store.template(template_name)
        if found is None:
            names = [t["name"] for t in store.templates()]
            raise InputError(f"no generation template {template_name!r} (templates: {', '.join(names)})")
        body = tpl.validate(template_body if template_body is not None else found["body"])
        if body["strategy"] != strategy:
            raise InputError(f"template {template_name!r} is for strategy {body['strategy']}, not {strategy}")
        template_id = found["id"]
        if opts.n:
            body["n"] = opts.n
        if opts.temperature is not None:
            body["temperature"] = opts.temperature
        from studio.core import settings
        from studio.core.llm import get_client

        model = model or settings.get("model")
        if not model:
            raise InputError("no model: name the model to call (Model on the page, --model, or STUDIO_MODEL)")
        client = get_client(base_url, key=key, timeout=opts.timeout, max_retries=opts.client_retries)
        base_url = str(client.base_url)
        caller = Caller(client, model, opts, RateLimiter(opts.rpm))
    else:
        model, base_url = None, None
    into_kind = "exam" if strategy == "exam" else "samples"
    with db.transaction() as cur:
        into_id = datasets.get_or_create(into, into_kind, cur=cur)
        if strategy == "self-instruct":
            seed = datasets.get(seed_dataset, cur=cur)["id"] if seed_dataset else into_id
            examples = store.accepted_examples(seed, cur=cur)
            if not examples:
                raise InputError(f"self-instruct needs accepted samples as examples in {seed_dataset or into!r}; "
                                 "accept some on the Review page first, or take the examples from another "
                                 "dataset (--seed-dataset)")
        if opts.retry_failed:
            store.forget_failures(source["id"], into_id, strategy, cur=cur)
        found = store.open_batch(source["id"], into_id, strategy, cur=cur)
        todo = store.todo_passages(source["id"], into_id, strategy, cur=cur)
        if found is None and not todo:  # everything was generated before: no empty batch
            return {"dataset": into, "batch": None, "state": "done", "passages": 0, "samples": 0, "failed": 0,
                    "requests": 0, "tokens": 0, "cost": 0.0, "remaining": 0}
        batch_id = found["id"] if found else store.create_batch(
            source["id"], into_id, strategy, template_id, model, base_url, opts.logged(), cur=cur)
        finished_before = store.finished_count(batch_id, cur=cur)
        store.update_batch(batch_id, state="running", pid=os.getpid(), stop_requested=False, error=None,
                           model=model, base_url=base_url, options=opts.logged(), template_id=template_id,
                           passages_total=int(finished_before) + len(todo), cur=cur)
    if on_batch:
        on_batch(batch_id)
    if opts.limit is not None:
        todo = todo[:max(0, opts.limit)]
    ctx = _Context(strategy, template_name, body, opts, caller, examples)
    spent = store.spent(batch_id)
    counts = {"passages": 0, "samples": 0, "failed": 0, "requests": 0, "tokens": 0, "cost": 0.0}
    state, error = "running", None
    total = len(todo)

    def over_budget() -> str | None:
        tokens = spent["tokens"] + counts["tokens"]
        cost = spent["cost"] + counts["cost"]
        if opts.budget is not None and cost >= opts.budget:
            return f"budget reached: estimated cost {cost:.4f} >= {opts.budget}"
        if opts.budget_tokens is not None and tokens >= opts.budget_tokens:
            return f"token budget reached: {tokens} >= {opts.budget_tokens}"
        return None

    def commit(outcome: Outcome) -> None:
        nonlocal error
        if outcome.status == "fatal":  # not finished: the passage stays to do; its attempts are still logged
            error = error or outcome.error
            outcome.status = "failed"
            with db.transaction() as cur:
                for req in outcome.requests:
                    store.log_request(batch_id, outcome.passage_id, req, cur=cur)
            counts["requests"] += len(outcome.requests)
            return
        with db.transaction() as cur:
            store.commit_outcome(batch_id, into_id, outcome, cur=cur)
        counts["passages"] += 1
        counts["samples"] += len(outcome.samples) + len(outcome.questions)
        counts["failed"] += outcome.status in ("failed", "unparsed")
        counts["requests"] += len(outcome.requests)
        counts["tokens"] += sum((r.prompt_tokens or 0) + (r.completion_tokens or 0) for r in outcome.requests)
        counts["cost"] += sum(r.cost for r in outcome.requests)
        if progress:
            progress({"done": counts["passages"], "total": total, **counts})

    last_beat = time.monotonic()
    stop_requested = False
    try:
        if strategy == "cloze":
            for p in todo:
                if stop is not None and stop.is_set():
                    stop_requested = True
                    break
                commit(_work(p, ctx))
                if time.monotonic() - last_beat > 1.0:
                    last_beat = time.monotonic()
                    if store.heartbeat(batch_id):
                        stop_requested = True
                        break
        else:
            pending = iter(todo)
            inflight = {}
            interrupted = False
            with ThreadPoolExecutor(max_workers=opts.concurrency, thread_name_prefix="generate") as pool:
                while True:
                    while (len(inflight) < opts.concurrency and not stop_requested and not error
                           and not interrupted):
                        reason = over_budget()
                        if reason:
                            error, state = reason, "stopped"
                            break
                        p = next(pending, None)
                        if p is None:
                            break
                        inflight[pool.submit(_work, p, ctx)] = p["id"]
                    if not inflight:
                        break
                    try:
                        done, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED)
                        for f in done:
                            inflight.pop(f)
                            commit(f.result())
                    except KeyboardInterrupt:
                        interrupted = True  # finish and commit what is in flight, start nothing new
                        continue
                    if (stop is not None and stop.is_set()) or (time.monotonic() - last_beat > 1.0):
                        last_beat = time.monotonic()
                        if store.heartbeat(batch_id) or (stop is not None and stop.is_set()):
                            stop_requested = True
            if interrupted:
                stop_requested = True
    except BaseException as err:
        store.update_batch(batch_id, state="stopped", error=f"interrupted: {type(err).__name__}")
        raise
    remaining = len(store.todo_passages(source["id"], into_id, strategy))
    if error and state != "stopped":
        state = "failed"
    elif error:
        state = "stopped"
    elif remaining == 0:
        state = "done"
    else:
        state = "stopped"
        if stop_requested:
            error = "stopped on request"
    store.update_batch(batch_id, state=state, error=error, stop_requested=False)
    if strategy != "exam":
        from studio.data.review import refresh_flags

        refresh_flags(into_id)
    summary = {"dataset": into, "batch": batch_id, "state": state, **counts, "cost": round(counts["cost"], 6),
               "remaining": remaining}
    if error:
        summary["error"] = error
    if state == "failed":
        summary["_exit"] = 1
        err = WorkFailed(f"generation batch {batch_id} failed: {error}")
        err.summary = summary
        raise err
    if counts["passages"] and counts["failed"] == counts["passages"]:
        summary["_exit"] = 1
    return summary
