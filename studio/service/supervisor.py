"""The studio's supervisor: one thread per server process that keeps work moving with no page open.

Every tick it (1) mirrors fine-tune runs from their folders (a trainer that died is marked failed, the
next queued run starts: ``studio.train.supervisor.refresh``), (2) claims queued jobs and runs each in a
worker thread: ``model`` jobs where the device queue places them (``studio.train.devices``: one line with
the fine-tunes; on CPU one slot, on GPUs one free GPU each), ``io`` jobs up to ``IO_SLOTS`` side by side, and (3) beats the heartbeat of the jobs it runs. The server starts it in its
lifespan (after ``jobs.recover()``); a process without a server (tests, a page under AppTest) starts it
on the first ``jobs.submit``.

The thread is bound to the database it started on: when the process switches databases (tests do) it
stops, and the next ``ensure_running`` starts one for the new file.
"""
from __future__ import annotations

import logging
import os
import threading
import time

from store import db
from store import jobs as store

TICK_S = 1.0
RUNS_EVERY_S = 2.0
IO_SLOTS = 4
log = logging.getLogger(__name__)
_lock = threading.Lock()
_current: "Supervisor | None" = None


class Supervisor(threading.Thread):
    def __init__(self, db_file: str):
        super().__init__(name="studio-supervisor", daemon=True)
        self.db_file = db_file
        self._wake = threading.Event()
        self._halt = threading.Event()
        self.workers: dict[int, tuple[threading.Thread, str]] = {}   # job id -> (thread, slot)
        self._runs_at = 0.0

    def wake(self) -> "Supervisor":
        self._wake.set()
        return self

    def halt(self, timeout: float = 5.0) -> None:
        self._halt.set()
        self._wake.set()
        self.join(timeout)

    def run(self) -> None:
        while not self._halt.is_set():
            if str(db.db_path().resolve()) != self.db_file:
                return  # the process moved to another database: a new supervisor serves that one
            try:
                self.tick()
            except Exception:  # a bug in one tick must not stop the supervisor
                log.exception("supervisor tick failed")
            self._wake.wait(TICK_S)
            self._wake.clear()

    def tick(self) -> None:
        from studio.train import supervisor as runs

        now = time.monotonic()
        if now - self._runs_at >= RUNS_EVERY_S:
            self._runs_at = now
            runs.refresh(advance_queue=False)
        self.workers = {j: w for j, w in self.workers.items() if w[0].is_alive()}
        from studio.service import jobs

        for job_id in self.workers:
            if store.beat(job_id) and job_id in jobs.running:
                jobs.running[job_id].stop.set()   # a cancel was asked for: the work stops at its next unit
        self._start_queued()

    def _start_queued(self) -> None:
        """Start queued io jobs while io slots are free, and queued model jobs where the device queue
        (one line with the fine-tunes, oldest first) places them."""
        from studio.service import jobs, kinds  # noqa: F401 - registers the kinds
        from studio.train import supervisor as runs

        queued = [j for j in reversed(store.list_jobs(states=("queued",), limit=50)) if j["kind"] in jobs.KINDS]
        model = [j for j in queued if jobs.KINDS[j["kind"]].slot_for(j["args"]) == "model"]
        with runs.lock:
            plan = runs.advance(model)
        for job in queued:
            slot = jobs.KINDS[job["kind"]].slot_for(job["args"])
            spot = plan.get(job["id"]) if slot == "model" else None
            if slot == "model" and spot is None:
                continue
            if slot == "io" and [s for _, s in self.workers.values()].count("io") >= IO_SLOTS:
                continue
            if not store.claim(job["id"], os.getpid(), device=spot):
                continue
            job = store.get(job["id"])
            t = threading.Thread(target=jobs.execute, args=(job,), name=f"job-{job['id']}-{job['kind']}",
                                 daemon=True)
            self.workers[job["id"]] = (t, slot)
            t.start()


def ensure_running() -> Supervisor:
    """This process's supervisor for the current database, started if needed."""
    global _current
    with _lock:
        here = str(db.db_path().resolve())
        if _current is None or not _current.is_alive() or _current.db_file != here:
            if _current is not None and _current.is_alive():
                _current.halt(timeout=0)
            db.connect()
            _current = Supervisor(here)
            _current.start()
        return _current


def start_for_server() -> Supervisor:
    """At a server's start: recover what a dead server left running, then start supervising."""
    from studio.service import jobs

    db.connect()
    requeued = jobs.recover()
    if requeued:
        log.info("resuming jobs %s after a restart", requeued)
    from studio.train import supervisor as runs

    runs.reattach()
    return ensure_running()


def stop() -> None:
    global _current
    with _lock:
        if _current is not None:
            _current.halt()
        _current = None
