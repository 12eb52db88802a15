"""The generation batch runner: a resumable batch over a corpus, a bounded number of requests in flight.

How it keeps its promises:

- **Bounded concurrency**: worker threads only talk HTTP (:mod:`studio.generate.caller`, through the
  passage handlers of :mod:`studio.generate.strategies`); the thread that called :func:`run` is the
  only one writing to the database. At most ``concurrency`` requests are in flight; with ``adaptive``
  (the default) fewer while the endpoint answers 429: the limit starts at 4 (or less), halves or steps
  back on a 429 and grows while requests are answered (:mod:`studio.generate.concurrency`). A 429 is
  retried after the endpoint's ``Retry-After`` and is not a failed passage while other requests are
  answered. The current limit is in the batch's ``options`` (``concurrency_now``), the progress dicts
  and the summary (``concurrency``, with ``rate_limited``: the 429s answered). ``AUTO_CONCURRENCY``
  is the ceiling of ``--concurrency auto`` (:func:`concurrency_value`).
- **Nothing lost, nothing twice**: each passage's requests, samples and its row in ``batch_passages``
  are committed in one transaction as soon as the passage finishes. ``batch_passages`` has the primary
  key (batch, passage), and a new run skips every passage any batch of the same strategy into the same
  dataset has finished. A killed run loses only the passages in flight (never committed), which the
  next run generates.
- **Retries**: see :mod:`studio.generate.caller`; an authentication, permission or unknown-model error
  (401, 403, 404) stops the batch at once (state ``failed``) with the endpoint's message.
- **A failing endpoint pauses the batch**: after ``pause_after`` (``STUDIO_GENERATE_PAUSE_AFTER``, 5)
  passages in a row fail on their requests, the batch stops starting passages, halts the retries in
  flight and ends in state ``paused`` with one line naming the status and the endpoint's message. A
  failed passage is marked finished only once a later passage gets an answer (an isolated failure, as
  before), so the passages of a failing run stay to do and the next run picks them up. After a failed
  passage only one passage is in flight until one succeeds, so a dead endpoint costs about
  ``max(pause_after, concurrency)`` passages' attempts.
- **Rate and budget**: a shared limiter spaces request starts ``60/rpm`` seconds apart; before each
  passage is started the batch's spent cost (tokens × price from ``usage``) and tokens are checked
  against the budget, and the batch stops (state ``stopped``) when it is reached. Passages in flight
  then finish, so the budget can be overshot by at most ``concurrency`` passages.
- **Stop**: ``request_stop(batch)`` (the page's Stop button) is read between passages through the
  batch's heartbeat; in-flight passages finish and are committed.
"""
from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from typing import Callable

from studio.core.errors import InputError
from studio.core.i18n import N_, _
from studio.generate import prompting as tpl
from studio.generate.batch_run import BatchRun
from studio.generate.caller import Caller, RateLimiter
from studio.generate.concurrency import Concurrency
from studio.generate.strategies import Context


@dataclass
class Options:
    concurrency: int = 4          # the most requests in flight at once
    adaptive: bool = True         # below that: back off on 429, grow while answered (studio.generate.concurrency)
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
    pause_after: int | None = None  # pause after this many failed passages in a row; None = the setting
                                    # STUDIO_GENERATE_PAUSE_AFTER (5), 0 = never

    def logged(self) -> dict:
        """What is stored with the batch (never a key)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


# every number a batch takes and the range it must lie in, checked here so that the page (its Start button),
# the CLI and a job of the server refuse the same values: (option, label, lowest, highest, whole number,
# may be left empty)
LIMITS = (
    ("concurrency", N_("Concurrency"), 1, 64, True, False),
    ("rpm", N_("Requests / minute"), 0, 100_000, False, False),
    ("budget", N_("Budget (estimated cost)"), 0, 1e9, False, True),
    ("budget_tokens", N_("Token budget"), 1, 10**12, True, True),
    ("price_in", N_("Price per 1M prompt tokens"), 0, 10_000, False, False),
    ("price_out", N_("Price per 1M completion tokens"), 0, 10_000, False, False),
    ("timeout", N_("Timeout (seconds per request)"), 1, 3600, False, False),
    ("retries", N_("Retries"), 0, 20, True, False),
    ("client_retries", N_("Client retries"), 0, 5, True, False),
    ("backoff_s", N_("First retry wait (seconds)"), 0, 600, False, False),
    ("limit", N_("Passages this run"), 1, 10**9, True, True),
    ("n", N_("Questions / pairs per passage"), 1, 20, True, True),
    ("temperature", N_("Temperature"), 0, 2, False, True),
    ("per_passage", N_("Cloze pairs per passage"), 1, 20, True, False),
    ("examples", N_("Few-shot examples per passage"), 1, 20, True, False),
    ("pause_after", N_("Failed passages in a row that pause the batch"), 0, 1000, True, True),
)


AUTO_CONCURRENCY = 64  # the ceiling "auto" stands for: the highest concurrency a batch takes


def concurrency_value(text: str) -> int:
    """A concurrency as typed on the command line: a whole number, or ``auto`` (adaptive up to 64).

    ``concurrency_value("auto")`` -> 64; ``concurrency_value("8")`` -> 8; anything else raises
    ValueError (argparse's ``type=`` then says "invalid concurrency_value value").
    """
    text = str(text).strip()
    return AUTO_CONCURRENCY if text.lower() == "auto" else int(text)


def _number(x) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def option_problems(opts: Options) -> list[str]:
    """Why ``opts`` cannot start a batch, one sentence per number out of its range (empty when all are fine).

    ``Options(concurrency=-3)`` -> ``["Concurrency must be a whole number from 1 to 64, not -3."]``
    """
    out = []
    for name, label, low, high, whole, optional in LIMITS:
        value = getattr(opts, name)
        if value is None and optional:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if number and low <= value <= high and (not whole or float(value).is_integer()):
            continue
        text = (_("{field} must be a whole number from {low} to {high}, not {value}.") if whole else
                _("{field} must be a number from {low} to {high}, not {value}."))
        out.append(text.format(field=_(label), low=_number(low), high=_number(high), value=value))
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
    from store import generation as store

    opts = options or Options()
    source_id = _check(corpus, strategy, opts)
    pause_after = _pause_after(opts)
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
    batch = BatchRun(batch_id, into_id, ctx, total=len(todo), progress=progress, stop=stop, pause_after=pause_after)
    try:
        if strategy == "cloze":
            batch.run_in_order(todo)
        else:
            batch.run_concurrently(todo)
    except BaseException as err:
        store.update_batch(batch_id, state="stopped", error=_("interrupted ({reason})").format(
            reason=_("Ctrl-C") if isinstance(err, KeyboardInterrupt) else type(err).__name__))
        raise
    return batch.finish(source_id, into)


def _check(corpus: str, strategy: str, opts: Options) -> int:
    """The corpus's dataset id, after checking the strategy, the concurrency and that it is a corpus."""
    from store import datasets

    if strategy not in tpl.STRATEGIES:
        raise InputError(_("unknown strategy {strategy}; choose one of {choices}").format(
            strategy=repr(strategy), choices=", ".join(tpl.STRATEGIES)))
    problems = option_problems(opts)
    if problems:
        raise InputError(problems[0])
    source = datasets.get(corpus)
    if source["kind"] != "corpus":
        raise InputError(_("dataset {name} holds {kind} records, not a corpus: choose a corpus to generate "
                           "from").format(name=repr(corpus), kind=source["kind"]))
    return source["id"]


def _pause_after(opts: Options) -> int:
    """How many failed passages in a row pause the batch: the option, else the setting."""
    from studio.core import settings

    if opts.pause_after is not None:
        value = opts.pause_after
    else:
        try:
            value = int(settings.get("generate_pause_after"))
        except ValueError:
            raise InputError(_("STUDIO_GENERATE_PAUSE_AFTER must be a whole number (0 = never pause)")) from None
    if value < 0:
        raise InputError(_("the number of failed passages that pause a batch cannot be negative"))
    return value


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
        raise InputError(_("no generation template {name} (templates: {names})").format(
            name=repr(name), names=", ".join(names)))
    body = tpl.validate(template_body if template_body is not None else found["body"])
    if body["strategy"] != strategy:
        raise InputError(_("template {name} is for strategy {used}, not {strategy}").format(
            name=repr(name), used=body["strategy"], strategy=strategy))
    if opts.n:
        body["n"] = opts.n
    if opts.temperature is not None:
        body["temperature"] = opts.temperature
    from studio.core import settings
    from studio.core.llm import get_client

    model = model or settings.get("model")
    if not model:
        raise InputError(_("no model: name the model to call (Model on the page, --model, or STUDIO_MODEL)"))
    client = get_client(base_url, key=key, timeout=opts.timeout, max_retries=opts.client_retries)
    caller = Caller(client, model, opts, RateLimiter(opts.rpm), Concurrency(opts.concurrency, opts.adaptive))
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
                raise InputError(_("self-instruct needs accepted samples as examples in {name}; accept some on "
                                   "the Review page first, or take the examples from another dataset "
                                   "(--seed-dataset)").format(name=repr(seed_dataset or into)))
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
