"""One run of a generation batch: passages in flight, each committed as it finishes, with the counts,
budget, stop flag and failing-endpoint pause of :mod:`studio.generate.runner` (whose docstring says what
it promises)."""
from __future__ import annotations

import contextvars
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Callable, Iterator

from studio.core.errors import WorkFailed
from studio.core.i18n import _
from studio.generate.caller import Outcome
from studio.generate.strategies import Context, work


class BatchRun:
    """A batch being run: commits each finished passage, keeps this run's counts, watches budget, stop and a
    failing endpoint."""

    def __init__(self, batch_id: int, into_id: int, ctx: Context, *, total: int,
                 progress: Callable[[dict], None] | None, stop: threading.Event | None, pause_after: int = 0):
        from store import generation as store

        self.batch_id, self.into_id, self.ctx, self.total = batch_id, into_id, ctx, total
        self.progress, self.stop, self.pause_after = progress, stop, pause_after
        self.spent = store.spent(batch_id)
        self.counts = {"passages": 0, "samples": 0, "failed": 0, "requests": 0, "tokens": 0, "cost": 0.0}
        self.state, self.error = "running", None
        self.stop_requested = False
        self.last_beat = time.monotonic()
        self.failing: list[Outcome] = []  # failed passages in a row, logged but not yet marked finished
        self.gate = ctx.caller.gate if ctx.caller is not None else None  # requests in flight and their limit
        self.shown: dict | None = None    # the concurrency and 429s last written to the batch row

    def over_budget(self) -> str | None:
        """Why the batch must stop for its budget (earlier runs' spending included), or None."""
        opts = self.ctx.opts
        tokens = self.spent["tokens"] + self.counts["tokens"]
        cost = self.spent["cost"] + self.counts["cost"]
        if opts.budget is not None and cost >= opts.budget:
            return _("budget reached: estimated cost {cost} >= {budget}").format(cost=f"{cost:.4f}",
                                                                                 budget=opts.budget)
        if opts.budget_tokens is not None and tokens >= opts.budget_tokens:
            return _("token budget reached: {tokens} >= {budget}").format(tokens=tokens, budget=opts.budget_tokens)
        return None

    def commit(self, outcome: Outcome) -> None:
        """Store one passage's outcome in its own transaction and count it.

        A passage that failed on its requests is logged at once but marked finished only when a later
        passage gets an answer; ``pause_after`` of them in a row pause the batch and stay to do.
        """
        from store import db
        from store import generation as store

        if outcome.status in ("fatal", "halted"):  # not finished: the passage stays to do; its attempts are logged
            if outcome.status == "fatal":
                self.error = self.error or outcome.error
            self._log(outcome)
            return
        if outcome.status == "failed" and self.pause_after:
            self._log(outcome)
            self.failing.append(outcome)
            if len(self.failing) >= self.pause_after and self.state != "paused":
                self._pause()
            return
        if self.state != "paused":  # the endpoint answers again: the failures before were the passages' own
            self._settle_failures()
        with db.transaction() as cur:
            store.commit_outcome(self.batch_id, self.into_id, outcome, cur=cur)
        self._count_requests(outcome)
        self._count_finished(outcome)

    def _log(self, outcome: Outcome) -> None:
        """Log a passage's requests without marking it finished."""
        from store import db
        from store import generation as store

        with db.transaction() as cur:
            for req in outcome.requests:
                store.log_request(self.batch_id, outcome.passage_id, req, cur=cur)
        self._count_requests(outcome)

    def _settle_failures(self) -> None:
        """Mark the failed passages held back as finished (failed), in one transaction."""
        from store import db
        from store import generation as store

        if not self.failing:
            return
        with db.transaction() as cur:
            for outcome in self.failing:
                store.mark_finished(self.batch_id, outcome.passage_id, "failed", 0, outcome.error, cur=cur)
        failing, self.failing = self.failing, []
        for outcome in failing:
            self._count_finished(outcome)

    def _pause(self) -> None:
        """Stop starting passages and halt the retries in flight; the failed passages held back stay to do."""
        last = self.failing[-1]
        reason = next((r.error for r in reversed(last.requests) if r.status == "failed" and r.error), last.error)
        self.state = "paused"
        self.error = _("paused after {n} failed passages in a row: {reason}").format(n=len(self.failing),
                                                                                      reason=reason)
        if self.ctx.caller is not None:
            self.ctx.caller.halt()

    def _count_requests(self, outcome: Outcome) -> None:
        counts = self.counts
        counts["requests"] += len(outcome.requests)
        counts["tokens"] += sum((r.prompt_tokens or 0) + (r.completion_tokens or 0) for r in outcome.requests)
        counts["cost"] += sum(r.cost for r in outcome.requests)

    def _count_finished(self, outcome: Outcome) -> None:
        counts = self.counts
        counts["passages"] += 1
        counts["samples"] += len(outcome.samples) + len(outcome.questions)
        counts["failed"] += outcome.status in ("failed", "unparsed")
        if self.progress:
            self.progress({"done": counts["passages"], "total": self.total, **counts, **self._concurrency()})

    def _concurrency(self) -> dict:
        """The current limit of requests in flight and the 429s so far (none for cloze)."""
        if self.gate is None:
            return {}
        return {"concurrency": self.gate.now, "rate_limited": self.gate.limited}

    def _show_concurrency(self) -> None:
        """Write the current limit and the 429s so far into the batch row's options (``concurrency_now``,
        ``rate_limited``) when they changed: the page reads them from there."""
        from store import generation as store

        now = self._concurrency()
        if not now or now == self.shown:
            return
        self.shown = now
        store.update_batch(self.batch_id, options={**self.ctx.opts.logged(), "concurrency_now": now["concurrency"],
                                                   "rate_limited": now["rate_limited"]})

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
        self._show_concurrency()
        with ThreadPoolExecutor(max_workers=self.ctx.opts.concurrency, thread_name_prefix="generate") as pool:
            while True:
                if not interrupted:
                    self._start_more(pool, pending, inflight)
                if not inflight:
                    break
                try:  # a short wait: a passage waiting to retry makes room for another one
                    done, _unused = wait(list(inflight), timeout=0.2, return_when=FIRST_COMPLETED)
                    for f in done:
                        inflight.pop(f)
                        self.commit(f.result())
                except KeyboardInterrupt:
                    interrupted = True  # finish and commit what is in flight, start nothing new
                    continue
                if self._stop_set() or (time.monotonic() - self.last_beat > 1.0):
                    self.last_beat = time.monotonic()
                    self._show_concurrency()
                    if store.heartbeat(self.batch_id) or self._stop_set():
                        self.stop_requested = True
        if interrupted:
            self.stop_requested = True

    def _start_more(self, pool: ThreadPoolExecutor, pending: Iterator[dict], inflight: dict) -> None:
        """Submit passages until the room is full, unless a stop, an error or the budget says no.

        The room is the concurrency's current limit plus the passages waiting to retry a request (they hold
        no place); one at a time while the passages ending last failed: a failing endpoint is not flooded.
        """
        room = 1 if self.failing else (self.gate.room() if self.gate is not None else self.ctx.opts.concurrency)
        while len(inflight) < room and not self.stop_requested and not self.error:
            reason = self.over_budget()
            if reason:
                self.error, self.state = reason, "stopped"
                break
            p = next(pending, None)
            if p is None:
                break
            # in the batch's context: the worker writes its messages in the language of whoever started it
            inflight[pool.submit(contextvars.copy_context().run, work, p, self.ctx)] = p["id"]

    def finish(self, source_id: int, into: str) -> dict:
        """Settle the batch's state, refresh review flags and return this run's summary.

        Raises :class:`WorkFailed` (with the summary) when a fatal error stopped the batch or it paused.
        """
        from store import generation as store

        if self.state != "paused":  # the run ended another way: the failures held back are the passages' own
            self._settle_failures()
        remaining = len(store.todo_passages(source_id, self.into_id, self.ctx.strategy))
        self._show_concurrency()
        state, error = self.state, self.error
        if state in ("paused", "stopped"):
            pass  # ``error`` says why
        elif error:
            state = "failed"
        elif remaining == 0:
            state = "done"
        else:
            state = "stopped"
            if self.stop_requested:
                error = _("stopped on request")
        store.update_batch(self.batch_id, state=state, error=error, stop_requested=False)
        if self.ctx.strategy != "exam":
            from studio.data.review import refresh_flags

            refresh_flags(self.into_id)
        counts = self.counts
        summary = {"dataset": into, "batch": self.batch_id, "state": state, **counts,
                   "cost": round(counts["cost"], 6), "remaining": remaining, **self._concurrency()}
        if error:
            summary["error"] = error
        if state in ("failed", "paused"):
            err = WorkFailed(_("generation batch {batch} failed: {error}").format(batch=self.batch_id, error=error)
                             if state == "failed" else
                             _("generation batch {batch} {error} (run it again to resume)").format(
                                 batch=self.batch_id, error=error))
            err.summary = summary
            raise err
        if counts["passages"] and counts["failed"] == counts["passages"]:
            summary["_exit"] = 1
        return summary
