"""The request caller: one chat completion at a time, with retries, a shared rate limit and a log entry
per attempt, written into the passage's :class:`Outcome`.

- **Retries**: 429, 5xx, timeouts and connection errors are retried with exponential backoff (honouring
  ``retry-after``) up to ``retries`` times; every attempt is logged. Authentication, permission and
  unknown-model errors raise :class:`Fatal` at once (retrying them only burns time), and every other
  thread's next attempt then stops too.
- **Rate**: a shared :class:`RateLimiter` spaces request starts ``60/rpm`` seconds apart.
- Cost per request is tokens × price from ``usage`` (prices per 1M tokens).

Worker threads only talk HTTP here (the openai client is thread-safe); nothing in this module writes
to the database.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
    status: str = "ok"            # ok | empty | failed | unparsed
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
                raise PassageFailed("failed", req.error) from None
            else:
                req.duration_ms = int((time.monotonic() - started) * 1000)
                self._record_reply(req, reply)
                return len(out.requests) - 1, req.response
            if attempt < self.opts.retries:
                delay = self.opts.backoff_s * (2 ** attempt) * (0.75 + random.random() / 2)
                time.sleep(max(delay, wait_s or 0))
                req.error += " (retried)"
        raise PassageFailed("failed", f"gave up after {self.opts.retries + 1} attempts: {out.requests[-1].error}")

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
