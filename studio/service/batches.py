"""A generation batch started from the Generate page runs as a job of the server (kind ``generate``).

The page calls ``start``; the batch is recorded as a job and run by the server's supervisor in a worker
thread, whether or not the page stays open; a restart of the server resumes it per passage (see
``studio.service.jobs``). The page shows progress by reading the batch row in an
``st.fragment(run_every=...)`` and stops it with ``request_stop`` (read between passages). The API key the
page read from the environment or Streamlit secrets goes to the job in memory only, never stored.
"""
from __future__ import annotations

import dataclasses
import time

from studio.core.i18n import _

_job_of: dict[tuple, int] = {}   # (corpus, into, strategy) -> job id submitted from this process


def start(corpus: str, into: str, strategy: str, **kwargs) -> tuple:
    """Queue the batch as a job (or find the one already queued or running); return the job key."""
    from studio.core.errors import Conflict
    from studio.service import jobs

    key = (corpus, into, strategy)
    opts = kwargs.pop("options", None)
    secrets = {"key": kwargs.pop("key")} if kwargs.get("key") else None
    kwargs.pop("key", None)
    args = {"corpus": corpus, "into": into, "strategy": strategy,
            "options": dataclasses.asdict(opts) if opts is not None else {}, **kwargs}
    for running in jobs.list_jobs(active=True, kind="generate"):
        same = tuple(running["args"].get(k) for k in ("corpus", "into", "strategy")) == key
        if same and running["args"] != args:
            raise Conflict(_("a {strategy} batch from {corpus} into {into} is already running (job {id})").format(
                strategy=strategy, corpus=corpus, into=into, id=running["id"]))
    job = jobs.submit("generate", args, who="page", secrets=secrets)
    _job_of[key] = job["id"]
    return key


def job(key: tuple) -> dict:
    """{"running", "batch", "error", "job"} for the batch job of this corpus, dataset and strategy."""
    from store import generation as store
    from studio.service import jobs

    job_id = _job_of.get(key)
    if job_id is None:
        return {"running": False, "batch": None, "error": None, "job": None}
    row = jobs.get(job_id)
    batch = (row.get("result") or {}).get("batch")
    if batch is None:
        found = store.batches(limit=20)
        batch = next((b["id"] for b in found if (b["corpus"], b["into_dataset"], b["strategy"]) == key), None)
    return {"running": row["state"] in ("queued", "running"), "batch": batch,
            "error": row["message"] if row["state"] in ("failed", "paused") else None, "job": job_id}


def wait_started(key: tuple, timeout: float = 3.0) -> dict:
    """Wait until the job has its batch, ended, or failed to start (bad input shows at once)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = job(key)
        if state["batch"] is not None or state["error"] or not state["running"]:
            return state
        time.sleep(0.05)
    return job(key)


def is_running(batch_id: int) -> bool:
    """Whether a job of this process is running this batch."""
    from studio.service import jobs

    return any(getattr(ctx, "batch_id", None) == batch_id for ctx in list(jobs.running.values()))


def wait(key: tuple, timeout: float | None = None) -> dict:
    """Wait for the batch job to end (tests)."""
    from studio.service import jobs

    job_id = _job_of.get(key)
    if job_id is not None:
        jobs.wait(job_id, timeout=timeout)
    return job(key)
