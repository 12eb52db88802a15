"""The generation batch runner: a resumable batch over a corpus, a bounded number of requests in flight.

How it keeps its promises:

- **Bounded concurrency**: worker threads only talk HTTP (:mod:`studio.generate.caller`, through the
  passage handlers of :mod:`studio.generate.strategies`); the thread that called :func:`run` is the
  only one writing to the database.
- **Nothing lost, nothing twice**: each passage's requests, samples and its row in ``batch_passages``
  are committed in one transaction as soon as the passage finishes. ``batch_passages`` has the primary
  key (batch, passage), and a new run skips every passage any batch of the same strategy into the same
  dataset has finished. A killed run loses only the passages in flight (never committed), which the
  next run generates.
- **Retries**: see :mod:`studio.generate.caller`; an authentication, permission or unknown-model error
  stops the batch at once.
- **Rate and budget**: a shared limiter spaces request starts ``60/rpm`` seconds apart; before each
  passage is started the batch's spent cost (tokens × price from ``usage``) and tokens are checked
  against the budget, and the batch stops (state ``stopped``) when it is reached. Passages in flight
  then finish, so the budget can be overshot by at most ``concurrency`` passages.
- **Stop**: ``request_stop(batch)`` (the page's Stop button) is read between passages through the
  batch's heartbeat; in-flight passages finish and are committed.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Iterator

from studio.core.errors import InputError, WorkFailed
from studio.generate import prompting as tpl
from studio.generate.caller import Caller, Outcome, RateLimiter
from studio.generate.strategies import Context, work


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
    from store import generation as store

    opts = options or Options()
    source_id = _check(corpus, strategy, opts)
    store.ensure_templates(tpl.BUILTIN)
    setup = _setup(strategy, template, template_body, model, base_url, key, opts)
    opened = _open_batch(source_id, into, strategy, setup, opts, seed_dataset)
    if opened is None:  # everything was generated before: no empty batch
        return {"dataset": into, "batch": None, "state": "done", "passages": 0, "samples": 0, "failed": 0,
                "requests": 0, "tokens": 0, "cost": 0.0, "remaining": 0}
    batch_id, into_id, todo, examples = opened
    if on_batch:
        on_batch(batch_id)
    if opts.limit is not None:
        todo = todo[:max(0, opts.limit)]
    ctx = Context(strategy, setup.name, setup.body, opts, setup.caller, examples)
    batch = _Batch(batch_id, into_id, ctx, total=len(todo), progress=progress, stop=stop)
    try:
        if strategy == "cloze":
            batch.run_in_order(todo)
        else:
            batch.run_concurrently(todo)
    except BaseException as err:
        store.update_batch(batch_id, state="stopped", error=f"interrupted: {type(err).__name__}")
        raise
    return batch.finish(source_id, into)


def _check(corpus: str, strategy: str, opts: Options) -> int:
    """The corpus's dataset id, after checking the strategy, the concurrency and that it is a corpus."""
    from store import datasets

    if strategy not in tpl.STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}; choose one of {', '.join(tpl.STRATEGIES)}")
    if opts.concurrency < 1 or opts.concurrency > 64:
        raise InputError("concurrency must be between 1 and 64")
    source = datasets.get(corpus)
    if source["kind"] != "corpus":
        raise InputError(f"dataset {corpus!r} is a {source['kind']} dataset, not a corpus")
    return source["id"]


@dataclass(frozen=True)
class _Setup:
    """What a batch runs with: its template (checked, with this run's overrides) and, unless cloze, the model."""
    name: str
    body: dict
    template_id: int | None
    caller: Caller | None
    model: str | None
    base_url: str | None


def _setup(strategy: str, template: str | None, template_body: dict | None, model: str | None,
           base_url: str | None, key: str | None, opts: Options) -> _Setup:
    """The template of ``strategy`` and a caller of the model (argument, else STUDIO_MODEL); cloze needs neither."""
    from store import generation as store

    if strategy == "cloze":
        return _Setup("cloze", {}, None, None, None, None)
    name = template or tpl.DEFAULT_FOR[strategy]
    found = store.template(name)
    if found is None:
        names = [t["name"] for t in store.templates()]
        raise InputError(f"no generation template {name!r} (templates: {', '.join(names)})")
    body = tpl.validate(template_body if template_body is not None else found["body"])
    if body["strategy"] != strategy:
        raise InputError(f"template {name!r} is for strategy {body['strategy']}, not {strategy}")
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
    caller = Caller(client, model, opts, RateLimiter(opts.rpm))
    return _Setup(name, body, found["id"], caller, model, str(client.base_url))


def _open_batch(source_id: int, into: str, strategy: str, setup: _Setup, opts: Options,
                seed_dataset: str | None) -> tuple[int, int, list[dict], list] | None:
    """In one transaction: the target dataset, the open (or a new) batch marked running, the passages
    still to do and the self-instruct examples; None when no batch is open and nothing is left to do."""
    from store import datasets, db
    from store import generation as store

    into_kind = "exam" if strategy == "exam" else "samples"
    examples = []
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
            store.forget_failures(source_id, into_id, strategy, cur=cur)
        found = store.open_batch(source_id, into_id, strategy, cur=cur)
        todo = store.todo_passages(source_id, into_id, strategy, cur=cur)
        if found is None and not todo:
            return None
        batch_id = found["id"] if found else store.create_batch(
            source_id, into_id, strategy, setup.template_id, setup.model, setup.base_url, opts.logged(), cur=cur)
        finished_before = store.finished_count(batch_id, cur=cur)
        store.update_batch(batch_id, state="running", pid=os.getpid(), stop_requested=False, error=None,
                           model=setup.model, base_url=setup.base_url, options=opts.logged(),
                           template_id=setup.template_id, passages_total=int(finished_before) + len(todo), cur=cur)
    return batch_id, into_id, todo, examples


class _Batch:
    """A batch being run: commits each finished passage, keeps this run's counts, watches budget and stop."""

    def __init__(self, batch_id: int, into_id: int, ctx: Context, *, total: int,
                 progress: Callable[[dict], None] | None, stop: threading.Event | None):
        from store import generation as store

        self.batch_id, self.into_id, self.ctx, self.total = batch_id, into_id, ctx, total
        self.progress, self.stop = progress, stop
        self.spent = store.spent(batch_id)
        self.counts = {"passages": 0, "samples": 0, "failed": 0, "requests": 0, "tokens": 0, "cost": 0.0}
        self.state, self.error = "running", None
        self.stop_requested = False
        self.last_beat = time.monotonic()

    def over_budget(self) -> str | None:
        """Why the batch must stop for its budget (earlier runs' spending included), or None."""
        opts = self.ctx.opts
        tokens = self.spent["tokens"] + self.counts["tokens"]
        cost = self.spent["cost"] + self.counts["cost"]
        if opts.budget is not None and cost >= opts.budget:
            return f"budget reached: estimated cost {cost:.4f} >= {opts.budget}"
        if opts.budget_tokens is not None and tokens >= opts.budget_tokens:
            return f"token budget reached: {tokens} >= {opts.budget_tokens}"
        return None

    def commit(self, outcome: Outcome) -> None:
        """Store one passage's outcome in its own transaction and count it."""
        from store import db
        from store import generation as store

        counts = self.counts
        if outcome.status == "fatal":  # not finished: the passage stays to do; its attempts are still logged
            self.error = self.error or outcome.error
            outcome.status = "failed"
            with db.transaction() as cur:
                for req in outcome.requests:
                    store.log_request(self.batch_id, outcome.passage_id, req, cur=cur)
            counts["requests"] += len(outcome.requests)
            return
        with db.transaction() as cur:
            store.commit_outcome(self.batch_id, self.into_id, outcome, cur=cur)
        counts["passages"] += 1
        counts["samples"] += len(outcome.samples) + len(outcome.questions)
        counts["failed"] += outcome.status in ("failed", "unparsed")
        counts["requests"] += len(outcome.requests)
        counts["tokens"] += sum((r.prompt_tokens or 0) + (r.completion_tokens or 0) for r in outcome.requests)
        counts["cost"] += sum(r.cost for r in outcome.requests)
        if self.progress:
            self.progress({"done": counts["passages"], "total": self.total, **counts})

    def _stop_set(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def run_in_order(self, todo: list[dict]) -> None:
        """One passage after another in this thread (cloze: no requests to wait for)."""
        from store import generation as store

        for p in todo:
            if self._stop_set():
                self.stop_requested = True
                break
            self.commit(work(p, self.ctx))
            if time.monotonic() - self.last_beat > 1.0:
                self.last_beat = time.monotonic()
                if store.heartbeat(self.batch_id):
                    self.stop_requested = True
                    break

    def run_concurrently(self, todo: list[dict]) -> None:
        """Up to ``concurrency`` passages in worker threads; each is committed here as it finishes.

        Ctrl-C finishes and commits what is in flight and starts nothing new.
        """
        from store import generation as store

        pending = iter(todo)
        inflight = {}
        interrupted = False
        with ThreadPoolExecutor(max_workers=self.ctx.opts.concurrency, thread_name_prefix="generate") as pool:
            while True:
                if not interrupted:
                    self._start_more(pool, pending, inflight)
                if not inflight:
                    break
                try:
                    done, _ = wait(list(inflight), timeout=1.0, return_when=FIRST_COMPLETED)
                    for f in done:
                        inflight.pop(f)
                        self.commit(f.result())
                except KeyboardInterrupt:
                    interrupted = True  # finish and commit what is in flight, start nothing new
                    continue
                if self._stop_set() or (time.monotonic() - self.last_beat > 1.0):
                    self.last_beat = time.monotonic()
                    if store.heartbeat(self.batch_id) or self._stop_set():
                        self.stop_requested = True
        if interrupted:
            self.stop_requested = True

    def _start_more(self, pool: ThreadPoolExecutor, pending: Iterator[dict], inflight: dict) -> None:
        """Submit passages until ``concurrency`` are in flight, unless a stop, an error or the budget says no."""
        while len(inflight) < self.ctx.opts.concurrency and not self.stop_requested and not self.error:
            reason = self.over_budget()
            if reason:
                self.error, self.state = reason, "stopped"
                break
            p = next(pending, None)
            if p is None:
                break
            inflight[pool.submit(work, p, self.ctx)] = p["id"]

    def finish(self, source_id: int, into: str) -> dict:
        """Settle the batch's state, refresh review flags and return this run's summary.

        Raises :class:`WorkFailed` (with the summary) when a fatal error stopped the batch.
        """
        from store import generation as store

        remaining = len(store.todo_passages(source_id, self.into_id, self.ctx.strategy))
        state, error = self.state, self.error
        if error and state != "stopped":
            state = "failed"
        elif error:
            state = "stopped"
        elif remaining == 0:
            state = "done"
        else:
            state = "stopped"
            if self.stop_requested:
                error = "stopped on request"
        store.update_batch(self.batch_id, state=state, error=error, stop_requested=False)
        if self.ctx.strategy != "exam":
            from studio.data.review import refresh_flags

            refresh_flags(self.into_id)
        counts = self.counts
        summary = {"dataset": into, "batch": self.batch_id, "state": state, **counts,
                   "cost": round(counts["cost"], 6), "remaining": remaining}
        if error:
            summary["error"] = error
        if state == "failed":
            summary["_exit"] = 1
            err = WorkFailed(f"generation batch {self.batch_id} failed: {error}")
            err.summary = summary
            raise err
        if counts["passages"] and counts["failed"] == counts["passages"]:
            summary["_exit"] = 1
        return summary
