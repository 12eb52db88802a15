"""How many requests a batch keeps in flight: a fixed number, or a limit that adapts to the endpoint's 429s.

One :class:`Concurrency` is shared by every worker thread of a batch; each request passes through
:meth:`Concurrency.acquire` / :meth:`Concurrency.release`, so at most ``now`` requests are in flight.

The adaptive limit (AIMD with a remembered ceiling; ``most`` is the user's concurrency and is never
exceeded, 1 is the floor):

- **Start** at ``min(most, 4)``. A *window* is as many answered requests, sent at the current limit, as
  the limit; while nothing has been rate-limited, each clean window doubles the limit (slow start).
- **A 429** to a request sent at the current limit (the first one only: the others in flight were sent
  at the same level) marks that level too high. A level the limit has held for ``PROBE`` clean windows
  in a row (a *settled* level: the endpoint's limit dropped since) is halved; any other level goes back
  to the settled level below it, or the last level that ran a clean window (one lucky window is not
  enough to halve on: a level just above the endpoint's limit often runs one clean window).
- **Between** the last clean level and the lowest level refused, each clean window halves the gap. One
  below the refused level the limit stays ``probe`` clean windows (4, doubled after each refused try, at
  most 64) before trying that level again; a try that runs clean forgets the ceiling and resumes
  doubling (the endpoint allows more now).

Against an endpoint that refuses more than 6 at once this settles at 6 after a few windows and tries 7
less and less often. ``Retry-After`` is honoured per request by :mod:`studio.generate.caller`: the
refused request waits that long without holding a place, which another request takes meanwhile.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager

START = 4           # the first limit of an adaptive batch (at most the user's concurrency)
PROBE = 4           # clean windows one below a refused level before trying it again
PROBE_MOST = 64     # the longest wait, in windows, between tries of a refused level


class Concurrency:
    """The requests in flight of one batch, their limit, and the counts the runner shows."""

    def __init__(self, most: int, adaptive: bool = True, start: int = START):
        self.most, self.adaptive = max(1, int(most)), adaptive
        self.now = min(self.most, max(1, start)) if adaptive else self.most
        self.inflight = 0          # requests sent and not yet answered
        self.waiting = 0           # requests waiting to be retried (they hold no place)
        self.successes = 0         # requests answered, in the whole batch
        self.limited = 0           # 429 answers, in the whole batch
        self.peak = self.now
        self.history: list[tuple[float, int]] = [(time.monotonic(), self.now)]
        self._level = 0            # bumped at each change of the limit: what a request was sent at
        self._clean = 0            # answers to requests sent at the current level
        self._good = 0             # the last level that ran a clean window (0: none yet)
        self._settled = 0          # the last level held for PROBE clean windows in a row (0: none yet)
        self._windows = 0          # clean windows in a row at the current level
        self._bad: int | None = None  # the lowest level refused since, None: no ceiling known
        self._probe, self._stayed = PROBE, 0
        self._cond = threading.Condition()

    def acquire(self, halt: threading.Event | None = None) -> int | None:
        """Wait for a place; return the level the request is sent at (for :meth:`release`), None on a halt."""
        with self._cond:
            while self.inflight >= self.now:
                if halt is not None and halt.is_set():
                    return None
                self._cond.wait(0.1)
            self.inflight += 1
            return self._level

    def release(self, level: int, result: str) -> None:
        """A request sent at ``level`` ended: ``ok`` (answered), ``limited`` (429) or ``other``."""
        with self._cond:
            self.inflight -= 1
            if result == "ok":
                self.successes += 1
                if self.adaptive and level == self._level:
                    self._clean += 1
                    if self._clean >= self.now:
                        self._grow()
            elif result == "limited":
                self.limited += 1
                if self.adaptive and level == self._level:
                    self._shrink()
            self._cond.notify_all()

    @contextmanager
    def backing_off(self):
        """Count a request waiting to be retried: its place is free for another passage meanwhile."""
        with self._cond:
            self.waiting += 1
        try:
            yield
        finally:
            with self._cond:
                self.waiting -= 1

    def room(self) -> int:
        """How many passages the batch should have in flight: the limit, plus those waiting to retry."""
        if not self.adaptive:
            return self.most
        with self._cond:
            return min(self.most, self.now + self.waiting)

    def wake(self) -> None:
        """Wake the threads waiting for a place (a halt)."""
        with self._cond:
            self._cond.notify_all()

    def _grow(self) -> None:
        """A clean window at the current limit."""
        level = self.now
        self._good = level
        self._windows += 1
        if self._windows >= PROBE:
            self._settled = level
        if self._bad is not None and self._bad <= level:  # a refused level runs clean now: no ceiling known
            self._bad, self._probe = None, PROBE
        if self._bad is None:
            self._set(min(self.most, level * 2))
        elif self._bad - level > 1:
            self._set(level + (self._bad - level) // 2)
        else:
            self._stayed += 1
            if self._stayed >= self._probe:
                self._set(self._bad)
            else:
                self._clean = 0

    def _shrink(self) -> None:
        """A 429 to a request sent at the current limit."""
        level = self.now
        if self._settled >= level:  # this level ran clean for a while: the endpoint allows less now
            self._good = self._settled = 0
            target = max(1, level // 2)
        else:                       # a raised level is too high: back to a level that ran clean
            target = max(self._settled, self._good if self._good < level else 0) or max(1, level // 2)
            if self._bad == level:
                self._probe = min(PROBE_MOST, self._probe * 2)
        self._bad = level
        self._set(target)

    def _set(self, limit: int) -> None:
        limit = max(1, min(self.most, limit))
        self._clean = self._stayed = 0
        if limit != self.now:
            self._windows = 0
            self.now, self._level = limit, self._level + 1
            self.peak = max(self.peak, limit)
            self.history.append((time.monotonic(), limit))
            self._cond.notify_all()
