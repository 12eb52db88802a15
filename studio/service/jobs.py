"""Jobs: long work recorded in the database and run by the server's supervisor, not by a page.

A page or the CLI calls ``submit(kind, args)``; the row lands ``queued``; the supervisor
(:mod:`studio.service.supervisor`) claims it, runs the kind's function in a worker thread of the server
process, and records progress, a heartbeat, the result or the error. Nothing depends on a browser: close
the tab and the job goes on; restart the server and a job that was running is marked ``interrupted``,
then queued again when its kind resumes from committed work (a generation batch continues per passage).

A job's ``args`` are JSON and never hold an API key: a key given by a page travels in process memory only
(``secrets``); a job resumed after a restart reads keys from the server's environment, as the CLI does.

States: queued -> running -> done | failed | paused | cancelled; running -> interrupted (server died) -> queued.
``paused``: a generation batch stopped by a failing endpoint (``STUDIO_GENERATE_PAUSE_AFTER``); Retry resumes it.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from store import jobs as store
from studio.core import i18n, labels
from studio.core.errors import InputError, NotFound, StudioError
from studio.core.i18n import _

STATES = ("queued", "running", "done", "failed", "paused", "cancelled", "interrupted")


@dataclass(frozen=True)
class Kind:
    """What a job kind runs. ``slot``: ``model`` work (training, inference) takes the one device slot;
    ``io`` work (imports, exports, LLM requests) runs beside it."""
    name: str
    run: Callable[[dict[str, Any], "Context"], dict[str, Any] | None]
    label: str
    resumable: bool | Callable[[dict[str, Any]], bool] = False
    slot: str | Callable[[dict[str, Any]], str] = "io"

    def resumes(self, args: dict[str, Any]) -> bool:
        """Whether a job of this kind with these arguments continues from its committed work when rerun."""
        return self.resumable(args) if callable(self.resumable) else bool(self.resumable)

    def slot_for(self, args: dict[str, Any]) -> str:
        return self.slot(args) if callable(self.slot) else self.slot


KINDS: dict[str, Kind] = {}
_secrets: dict[int, dict[str, str]] = {}   # job id -> keys given by a page (never stored)
running: dict[int, "Context"] = {}         # job id -> the context of a job this process runs


def kind(name: str, label: str, *, resumable: bool | Callable[[dict[str, Any]], bool] = False,
         slot: str | Callable[[dict[str, Any]], str] = "io"):
    """Register a job kind: ``@kind("generate", "Generation batch", resumable=True)`` over ``f(args, ctx)``."""
    def register(func):
        KINDS[name] = Kind(name, func, label, resumable, slot)
        return func
    return register


class Cancelled(StudioError):
    exit_code = 1


class Context:
    """What a running job's function may use: progress, the cancel flag, the secrets it was given."""

    def __init__(self, job_id: int, secrets: dict[str, str] | None = None):
        self.job_id = job_id
        self.secrets = dict(secrets or {})
        self.stop = threading.Event()   # set when a cancel is asked for (work checks it between units)
        self._last = 0.0

    def progress(self, done: int | None = None, total: int | None = None, message: str | None = None,
                 *, force: bool = False) -> None:
        """Record progress (at most every half second unless ``force``); notice a cancel request."""
        now = time.monotonic()
        last_unit = total is not None and done is not None and done >= total
        if not force and not last_unit and now - self._last < 0.5:
            return
        self._last = now
        if store.beat(self.job_id, done=done, total=total, message=message):
            self.stop.set()

    def check(self) -> None:
        """Raise ``Cancelled`` when a cancel was asked for (for work without a natural stop point)."""
        if self.stop.is_set():
            raise Cancelled(_("cancelled"))


def submit(kind_name: str, args: dict[str, Any], *, who: str | None = None,
           secrets: dict[str, str] | None = None) -> dict[str, Any]:
    """Queue a job, or return the queued / running one of the same kind and arguments."""
    if kind_name not in KINDS:
        from studio.service import kinds  # noqa: F401 - registers the kinds

    if kind_name not in KINDS:
        raise InputError(_("unknown job kind {kind}; known: {known}").format(kind=kind_name,
                                                                          known=", ".join(sorted(KINDS))))
    job_id, new = store.queue(kind_name, args, who, lang=i18n.current())
    if secrets:
        _secrets.setdefault(job_id, dict(secrets))
    if new:
        from studio.service import supervisor

        supervisor.ensure_running().wake()
    return store.get(job_id)


def label_of(kind_name: str) -> str:
    """The kind's name for people ("Generation batch"), or the kind itself."""
    from studio.service import kinds  # noqa: F401 - registers the kinds

    k = KINDS.get(kind_name)
    return _(k.label) if k else kind_name


def get(job_id: int) -> dict[str, Any]:
    found = store.get(int(job_id))
    if found is None:
        raise NotFound(_("no job {id}").format(id=job_id))
    return found


def list_jobs(*, active: bool = False, kind: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return store.list_jobs(states=("queued", "running") if active else None, kind=kind, limit=limit)


def cancel(job_id: int) -> dict[str, Any]:
    """Cancel a queued job at once; ask a running one to stop after the unit in flight."""
    job = get(job_id)
    if job["state"] == "queued":
        store.update(job["id"], state="cancelled", message=_("cancelled before it started"),
                     finished_at=_now())
    elif job["state"] == "running":
        store.update(job["id"], cancel_requested=True, message=_("cancelling…"))
    else:
        raise InputError(_("job {id} is {state}: only a queued or running job can be cancelled").format(
            id=job_id, state=labels.label("state", job["state"])))
    return get(job_id)


def retry(job_id: int) -> dict[str, Any]:
    """Queue a failed, cancelled or interrupted job again (resumable kinds continue where they stopped)."""
    job = get(job_id)
    if job["state"] not in ("failed", "cancelled", "interrupted", "paused"):
        raise InputError(_("job {id} is {state}: only a failed, paused, cancelled or interrupted job can be retried").format(
            id=job_id, state=labels.label("state", job["state"])))
    store.update(job["id"], state="queued", cancel_requested=False, message=_("queued again"), finished_at=None)
    from studio.service import supervisor

    supervisor.ensure_running().wake()
    return get(job_id)


def wait(job_id: int, timeout: float | None = None, poll: float = 0.1) -> dict[str, Any]:
    """Wait until a job ends (or the timeout passes); return its row."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = get(job_id)
        if job["state"] in ("done", "failed", "paused", "cancelled") or (deadline and time.monotonic() > deadline):
            return job
        time.sleep(poll)


def recover(pid: int | None = None) -> list[int]:
    """At a server's start: jobs a dead server left running become interrupted; resumable ones are queued
    again (they continue from their last committed unit). Return the ids queued again."""
    from studio.service import kinds  # noqa: F401 - registers the kinds

    pid = pid or os.getpid()
    again = []
    for job in store.orphaned(pid):
        k = KINDS.get(job["kind"])
        with i18n.using(job.get("lang")):
            if k is not None and k.resumes(job["args"]) and not job["cancel_requested"]:
                store.update(job["id"], state="queued", message=_("resumed after a restart of the server"))
                again.append(job["id"])
            else:
                store.update(job["id"], state="interrupted", finished_at=_now(),
                             message=_("interrupted by a restart of the server; retry to run it again"))
    return again


def execute(job: dict[str, Any]) -> None:
    """Run one claimed job to its end in this thread, recording the outcome (never raises)."""
    import logging

    from studio.train import devices

    k = KINDS[job["kind"]]
    ctx = running[job["id"]] = Context(job["id"], _secrets.get(job["id"]))
    i18n.set_lang(job.get("lang"))  # this worker thread writes the job's messages in its starter's language
    from studio.service import accounts

    accounts.acting.set(accounts.account_named(job.get("who")))  # a CLI command acts as who sent it
    devices.assigned.set(job.get("device"))
    try:
        result = k.run(job["args"], ctx) or {}
    except Cancelled:
        store.update(job["id"], state="cancelled", message=_("cancelled"), finished_at=_now())
    except StudioError as err:
        summary = getattr(err, "summary", None)
        paused = isinstance(summary, dict) and summary.get("state") == "paused"  # a failing endpoint
        store.update(job["id"], state="paused" if paused else "failed", message=str(err), finished_at=_now(),
                     result=summary)
    except Exception as err:  # a bug: the traceback goes to the server log, one line to the job
        logging.getLogger(__name__).exception("job %s (%s) failed", job["id"], job["kind"])
        store.update(job["id"], state="failed", finished_at=_now(), message=_(
            "the job stopped on an unexpected error ({error}); the server's log has the details").format(
                error=type(err).__name__))
    else:
        cancelled = ctx.stop.is_set() or bool(get(job["id"])["cancel_requested"])
        failed = bool(result.get("code"))  # a command that exited 1 or 2 failed, whatever it printed
        state = "cancelled" if cancelled else "failed" if failed else "done"
        message = (result.get("message") or (_last_line(result.get("stderr")) if failed else None)
                   or labels.label("state", state))
        store.update(job["id"], state=state, result=result, message=message, finished_at=_now())
    finally:
        _secrets.pop(job["id"], None)
        running.pop(job["id"], None)


def _last_line(text: str | None) -> str | None:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else None


def _now():
    from datetime import datetime

    return datetime.now()
