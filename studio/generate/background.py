"""Run a generation batch in a background thread of the app process.

Why a thread and not a child process: DuckDB lets one process hold the database file, and the app is
that process, so a child process could not write its results. The thread never calls Streamlit: it only
writes to the database through its own cursor (``store.db.cursor()`` is per thread). The page shows
progress by reading the batch row in an ``st.fragment(run_every=...)`` and stops it with
``request_stop`` (the runner reads the flag between passages). If the app stops, the batch row stays
'running' with an old heartbeat: the page shows it as interrupted and a new start resumes it.
"""
from __future__ import annotations

import logging
import threading

_threads: dict[tuple, threading.Thread] = {}
_batch_of: dict[tuple, int] = {}
_errors: dict[tuple, str] = {}
_lock = threading.Lock()
log = logging.getLogger(__name__)


def start(corpus: str, into: str, strategy: str, **kwargs) -> tuple:
    """Start ``runner.run`` in a thread unless the same job already runs; return the job key."""
    from studio.core.errors import Conflict

    key = (corpus, into, strategy)
    with _lock:
        t = _threads.get(key)
        if t is not None and t.is_alive():
            raise Conflict(f"a {strategy} batch from {corpus!r} into {into!r} is already running")
        _errors.pop(key, None)
        _batch_of.pop(key, None)
        t = threading.Thread(target=_run, args=(key, corpus, into, strategy, kwargs),
                             name=f"generate-{strategy}", daemon=True)
        _threads[key] = t
    t.start()
    return key


def _run(key, corpus, into, strategy, kwargs) -> None:
    from studio.core.errors import StudioError
    from studio.generate.runner import run

    def on_batch(batch_id: int) -> None:
        _batch_of[key] = batch_id

    try:
        run(corpus, into, strategy, on_batch=on_batch, **kwargs)
    except StudioError as err:
        _errors[key] = str(err)
    except Exception as err:  # a bug: keep the traceback in the log, show one line on the page
        log.exception("generation batch failed")
        _errors[key] = f"{type(err).__name__}: {err}"


def job(key: tuple) -> dict:
    """{"running", "batch", "error"} for a job started here."""
    t = _threads.get(key)
    return {"running": bool(t and t.is_alive()), "batch": _batch_of.get(key), "error": _errors.get(key)}


def wait_started(key: tuple, timeout: float = 3.0) -> dict:
    """Wait until the job has its batch, ended, or failed to start (bad input shows at once)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = job(key)
        if state["batch"] is not None or state["error"] or not state["running"]:
            return state
        time.sleep(0.05)
    return job(key)


def is_running(batch_id: int) -> bool:
    return any(b == batch_id and _threads.get(k) is not None and _threads[k].is_alive()
               for k, b in list(_batch_of.items()))


def wait(key: tuple, timeout: float | None = None) -> dict:
    """Wait for a job to end (tests)."""
    t = _threads.get(key)
    if t is not None:
        t.join(timeout)
    return job(key)
