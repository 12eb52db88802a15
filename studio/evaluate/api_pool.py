"""Chat requests to one OpenAI-compatible model, a bounded number in flight, for the judge and API systems.

The rules are generation's, by reusing its :class:`studio.generate.caller.Caller`: 429, 5xx, timeouts and
connection errors are retried with backoff (honouring ``retry-after``); 401, 403 and 404 stop everything
at once (fail fast: no other request is started and those waiting to retry give up); every failure is
one line in the user's words with anything key-like masked. After ``pause_after`` requests in a row fail
the pool starts no more (a dead endpoint is not flooded).

Worker threads only talk HTTP; ``on_answers`` runs in the calling thread with the answers that arrived
together (after the next requests went out) — the place to write them to the database in one
transaction. Requests carry the language of the calling thread.
"""
from __future__ import annotations

import contextvars
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from studio.core.i18n import _
from studio.generate.caller import (
    Caller,
    Fatal,
    Halted,
    Outcome,
    PassageFailed,
    RateLimiter,
    Request,
)

DEFAULT_CONCURRENCY = 8
PAUSE_AFTER = 5


@dataclass
class Ask:
    """One request: ``key`` is the caller's name for it; ``messages`` the chat sent."""
    key: Any
    messages: list[dict[str, str]]


@dataclass
class Answer:
    key: Any
    text: str | None = None              # None when the request failed
    finish_reason: str | None = None     # stop | length | content_filter | error
    error: str | None = None
    requests: list[Request] = field(default_factory=list)   # every attempt
    halted: bool = False                 # never answered: the pool stopped first
    fatal: bool = False                  # 401 / 403 / 404: nothing more is asked

    @property
    def last(self) -> Request | None:
        return self.requests[-1] if self.requests else None


@dataclass
class Settings:
    """What Caller reads from generation's Options (no cost accounting here)."""
    timeout: float = 60.0
    retries: int = 2
    backoff_s: float = 1.0
    price_in: float = 0.0
    price_out: float = 0.0


class _Params:
    """The client with fixed body parameters (max_tokens, top_p, stop, seed) added to every request, so
    generation's Caller sends them unchanged."""

    def __init__(self, client, params: dict[str, Any]):
        self._client, self._params = client, dict(params)
        self.api_key, self.base_url = getattr(client, "api_key", None), getattr(client, "base_url", None)
        self.chat, self.completions = self, self

    def create(self, **kwargs):
        return self._client.chat.completions.create(**{**self._params, **kwargs})


class _Caller(Caller):
    """Generation's caller, also keeping the reply's finish_reason on the request."""

    def _record_reply(self, req: Request, reply) -> None:
        super()._record_reply(req, reply)
        req.finish_reason = getattr(reply.choices[0], "finish_reason", None) if reply.choices else None


def _ask(caller: Caller, ask: Ask, temperature: float) -> Answer:
    out = Outcome(passage_id=0)
    try:
        _index, text = caller.ask(out, "answer", ask.messages, temperature)
    except Fatal as err:
        return Answer(ask.key, None, "error", str(err), out.requests, fatal=True)
    except PassageFailed as err:
        return Answer(ask.key, None, "error", err.error, out.requests)
    except Halted:
        return Answer(ask.key, requests=out.requests, halted=True)
    return Answer(ask.key, text or "", getattr(out.requests[-1], "finish_reason", None), None, out.requests)


def run(client, model: str, asks: Iterable[Ask], on_answers: Callable[[list[Answer]], None], *,
        temperature: float = 0.0, params: dict[str, Any] | None = None, concurrency: int = DEFAULT_CONCURRENCY,
        settings: Settings | None = None, stop: threading.Event | None = None,
        pause_after: int = PAUSE_AFTER) -> dict[str, Any]:
    """Send every ask (at most ``concurrency`` in flight); ``on_answers`` gets the answers as they arrive.

    Returns ``{"asked", "failed", "fatal", "paused", "stopped"}``: ``fatal`` is the message of a 401 / 403
    / 404 that stopped the pool, ``paused`` says why it stopped after failures in a row; halted asks (never
    answered) are not passed to ``on_answers``. ``stop`` (a cancel) starts nothing more; what is in flight
    finishes and is handed over."""
    caller = _Caller(_Params(client, params or {}), model, settings or Settings(), RateLimiter(0))
    pending = iter(asks)
    inflight: dict = {}
    room = max(1, int(concurrency))
    state = {"asked": 0, "failed": 0, "fatal": None, "paused": None, "stopped": False, "in_a_row": 0}
    with ThreadPoolExecutor(max_workers=room, thread_name_prefix="api") as pool:
        def fill() -> None:
            while len(inflight) < room and not _halted(state, stop):
                ask = next(pending, None)
                if ask is None:
                    break
                inflight[pool.submit(contextvars.copy_context().run, _ask, caller, ask, temperature)] = ask

        fill()
        while inflight:
            done, _unused = wait(list(inflight), return_when=FIRST_COMPLETED)
            answers = [f.result() for f in done if inflight.pop(f) is not None]
            for answer in answers:
                _count(answer, state, caller, pause_after)
            fill()   # the next requests go out before this thread writes the answers down
            answered = [a for a in answers if not a.halted]
            if answered:
                on_answers(answered)
    state["stopped"] = bool(stop is not None and stop.is_set())
    return {k: state[k] for k in ("asked", "failed", "fatal", "paused", "stopped")}


def _halted(state: dict, stop: threading.Event | None) -> bool:
    return bool(state["fatal"] or state["paused"] or (stop is not None and stop.is_set()))


def _count(answer: Answer, state: dict, caller: Caller, pause_after: int) -> None:
    """Count one answer; a fatal error, or ``pause_after`` failures in a row, stop the pool."""
    if answer.halted:
        return
    state["asked"] += 1
    if answer.error is None:
        state["in_a_row"] = 0
        return
    state["failed"] += 1
    state["in_a_row"] += 1
    if answer.fatal and state["fatal"] is None:
        state["fatal"] = answer.error
    elif pause_after and state["in_a_row"] >= pause_after and not state["paused"] and not state["fatal"]:
        state["paused"] = _("stopped after {n} failed requests in a row: {reason}").format(
            n=state["in_a_row"], reason=answer.error)
        caller.halt()


def request_row(answer: Answer, purpose: str, step: str, model: str, options: dict[str, Any],
                messages: list[dict[str, str]], *, status: str | None = None) -> dict[str, Any]:
    """The ``llm_requests`` row of one answer: its last attempt, the number of attempts in ``options``,
    the time of all of them (never a key: the client's key is not in ``options``)."""
    last = answer.last
    return {"purpose": purpose, "step": step, "model": model,
            "options": {**options, "attempts": len(answer.requests)}, "prompt": messages, "response": answer.text,
            "status": status or ("failed" if answer.error else "ok"), "error": answer.error,
            "prompt_tokens": last.prompt_tokens if last else None,
            "completion_tokens": last.completion_tokens if last else None,
            "duration_ms": sum(r.duration_ms for r in answer.requests)}
