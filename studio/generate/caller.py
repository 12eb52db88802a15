"""The request caller: one chat completion at a time, with retries, a shared rate limit and a log entry
per attempt, written into the passage's :class:`Outcome`.

- **Retries**: 429, 5xx, timeouts and connection errors are retried with exponential backoff up to
  ``retries`` times, after the wait the endpoint names (``retry-after`` / ``retry-after-ms``) when it
  names one; every attempt is logged. A 429 while the endpoint answers other requests is throttling,
  not failure: it is retried without using up a retry (see :meth:`Caller.ask`). Authentication,
  permission and unknown-model errors (401, 403, 404) raise :class:`Fatal` at once.
- **Concurrency**: each attempt holds a place of the batch's :class:`~studio.generate.concurrency.Concurrency`
  while it is in flight (not while it waits to be retried); a 429 lowers an adaptive limit, answers
  raise it.
- **Halt**: :meth:`Caller.halt` (a fatal error, or the runner pausing the batch) wakes every thread
  waiting to retry; its next attempt raises :class:`Halted` and the passage stays to do.
- **Messages**: every failure is one line in the user's words naming the HTTP status and the endpoint's
  own message (``the endpoint refused the key (401): Incorrect API key provided``), with anything that
  looks like an API key masked; it is what the request log, the batch row and the CLI show.
- **Rate**: a shared :class:`RateLimiter` spaces request starts ``60/rpm`` seconds apart.
- Cost per request is tokens × price from ``usage`` (prices per 1M tokens).

Worker threads only talk HTTP here (the openai client is thread-safe); nothing in this module writes
to the database.
"""
from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from studio.core.i18n import N_, _
from studio.generate.concurrency import Concurrency

if TYPE_CHECKING:
    from studio.generate.runner import Options


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
    """One passage's result: every request made for it, and the samples or exam questions it gave."""
    passage_id: int
    status: str = "ok"            # ok | empty | failed | unparsed; fatal | halted: not finished, stays to do
    error: str | None = None
    requests: list[Request] = field(default_factory=list)
    samples: list[dict] = field(default_factory=list)
    questions: list[dict] = field(default_factory=list)


class PassageFailed(Exception):
    """This passage gets no samples (``status`` failed or unparsed); the batch goes on."""

    def __init__(self, status: str, error: str):
        super().__init__(error)
        self.status, self.error = status, error


class Fatal(Exception):
    """An error no retry can fix (bad key, unknown model): the batch stops."""


class Halted(Exception):
    """The batch is stopping (a fatal error elsewhere, or it paused): this passage stays to do."""


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

    def __init__(self, client, model: str, opts: Options, limiter: RateLimiter, gate: Concurrency | None = None):
        self.client, self.model, self.opts, self.limiter = client, model, opts, limiter
        self.gate = gate or Concurrency(10**6, adaptive=False)  # no gate given: only counting
        self._halt = threading.Event()

    def halt(self) -> None:
        """Make every thread's next attempt raise :class:`Halted`, waking those waiting to retry or for a place."""
        self._halt.set()
        self.gate.wake()

    def ask(self, out: Outcome, step: str, messages: list, temperature: float) -> tuple[int, str]:
        """Send ``messages``; return (index of the request in ``out.requests``, reply text).

        A 429 uses up one of ``retries`` only when nothing else was answered since this request was last
        refused (its first refusal is free): a throttled batch loses no passage, and an endpoint that
        refuses everything (quota exhausted) still fails its passages and pauses the batch.
        """
        options = {"temperature": temperature, "timeout": self.opts.timeout}
        attempts, counted, answered_before = 0, 0, None
        while True:
            if self._halt.is_set():  # a fatal error or a pause: leave this passage to do
                raise Halted()
            attempts += 1
            req, wait_s, limited = self._attempt(out, step, messages, temperature, {**options, "attempt": attempts})
            if req.status == "ok":
                return len(out.requests) - 1, req.response
            free = limited and (answered_before is None or self.gate.successes > answered_before)
            if limited:
                answered_before = self.gate.successes
            if not free:
                counted += 1
                if counted > self.opts.retries:
                    raise PassageFailed("failed", _("gave up after {n} attempts: {error}").format(
                        n=attempts, error=req.error))
            req.error += _(" (retried)")
            delay = self.opts.backoff_s * (2 ** max(counted - 1, 0)) * (0.75 + random.random() / 2)
            if wait_s is not None:  # the endpoint said when: not sooner, a little spread
                delay = wait_s * (1 + random.random() / 10)
            with self.gate.backing_off():
                self._halt.wait(delay)  # a halt ends the wait at once

    def _attempt(self, out: Outcome, step: str, messages: list, temperature: float,
                 options: dict) -> tuple[Request, float | None, bool]:
        """One request, holding a place of :attr:`gate` while it is in flight: (the logged request, the
        wait the endpoint asked for, whether it was a 429). Raises :class:`Fatal`, :class:`PassageFailed`
        (refused as it stands) or :class:`Halted`."""
        import openai

        level = self.gate.acquire(self._halt)
        if level is None:
            raise Halted()
        result = "other"
        try:
            self.limiter.wait()
            req = Request(step, self.model, options, messages)
            out.requests.append(req)
            started = time.monotonic()
            try:
                reply = self.client.chat.completions.create(model=self.model, messages=messages,
                                                            temperature=temperature)
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as err:
                req.status, req.error = "failed", self.describe(err)
                self.halt()  # every other passage stops too
                raise Fatal(req.error) from None
            except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                    openai.APIConnectionError, openai.ConflictError) as err:
                req.status, req.error = "failed", self.describe(err)
                result = "limited" if isinstance(err, openai.RateLimitError) else "other"
                return req, _retry_after(err), result == "limited"
            except openai.APIStatusError as err:  # 400 and the like: this passage's request is refused
                req.status, req.error = "failed", self.describe(err)
                raise PassageFailed("failed", req.error) from None
            finally:
                req.duration_ms = int((time.monotonic() - started) * 1000)
            self._record_reply(req, reply)
            result = "ok"
            return req, None, False
        finally:
            self.gate.release(level, result)

    def describe(self, err) -> str:
        """``err`` as one line in the user's words, the key masked (see :func:`describe`)."""
        return describe(err, model=self.model, timeout=self.opts.timeout,
                        key=getattr(self.client, "api_key", None))

    def _record_reply(self, req: Request, reply) -> None:
        """Put the reply's text, tokens and estimated cost on its request."""
        text = reply.choices[0].message.content if reply.choices else None
        req.response = text or ""
        usage = getattr(reply, "usage", None)
        if usage is not None:
            req.prompt_tokens = usage.prompt_tokens
            req.completion_tokens = usage.completion_tokens
            req.cost = ((usage.prompt_tokens or 0) * self.opts.price_in
                        + (usage.completion_tokens or 0) * self.opts.price_out) / 1e6


# what each refusal means, in the user's words; 5xx is "the endpoint failed"
_WHAT = {400: N_("the endpoint rejected the request"), 401: N_("the endpoint refused the key"),
         403: N_("the endpoint denied access to the model"),
         404: N_("the endpoint has no model {model} (or no such path)"),
         409: N_("the endpoint reported a conflict"), 413: N_("the endpoint found the request too large"),
         422: N_("the endpoint could not process the request"),
         429: N_("the endpoint is rate-limiting the requests")}
_TOKEN = r"[\w\-*~+/=]+(?:\.[\w\-*~+/=]+)*"  # a token, dotted parts included, not a sentence's full stop
_KEYLIKE = re.compile(rf"\b(?:sk|pk|rk)-(?=[\w\-*]{{6}}){_TOKEN}|(?i:bearer)\s+{_TOKEN}")
_TAG = re.compile(r"<[^>]*>")


def describe(err, *, model: str = "", timeout: float | None = None, key: str | None = None) -> str:
    """An openai error as one line naming the HTTP status and the endpoint's own message.

    A 401 whose body is ``{"error": {"message": "Incorrect API key provided"}}`` reads
    ``the endpoint refused the key (401): Incorrect API key provided``; a timeout, ``the endpoint did not
    answer within 60 s``.
    """
    import openai

    if isinstance(err, openai.APITimeoutError):
        line = (_("the endpoint did not answer within {seconds} s").format(seconds=f"{timeout:g}") if timeout
                else _("the endpoint did not answer in time"))
    elif isinstance(err, openai.APIConnectionError):
        cause = err.__cause__ or err.__context__
        line = _("could not reach the endpoint: {reason}").format(
            reason=_one_line(str(cause) if cause else "") or _one_line(err.message))
    elif isinstance(err, openai.APIStatusError):
        status = err.status_code
        what = (N_("the endpoint failed") if status >= 500
                else _WHAT.get(status, N_("the endpoint refused the request")))
        line = _("{what} ({status}): {message}").format(what=_(what).format(model=repr(model)), status=status,
                                                        message=_endpoint_message(err))
    else:
        line = _("the request failed: {reason}").format(reason=_one_line(str(err)) or type(err).__name__)
    return redact(line, key)


def _endpoint_message(err) -> str:
    """The endpoint's own error message: ``error.message`` of a JSON body, else the body's text, else the reason."""
    body = err.body
    text = ""
    if isinstance(body, dict):
        text = body.get("message") or body.get("detail") or body.get("error") or ""
        if not isinstance(text, str):
            text = (text.get("message") or "") if isinstance(text, dict) else str(text)
    elif isinstance(body, str):
        text = _TAG.sub(" ", body)
    text = _one_line(text)
    if not text:
        response = getattr(err, "response", None)
        text = getattr(response, "reason_phrase", "") or _("no message")
    return text


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def redact(text: str, key: str | None = None) -> str:
    """``text`` with ``key`` and anything that looks like an API key or bearer token masked."""
    if key and len(key) >= 8:
        text = text.replace(key, _("[key hidden]"))
    return _KEYLIKE.sub(_("[key hidden]"), text)


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
