"""Long work on a page is a job of the server (``studio.service.jobs``), never the page's own script.

A page submits the job and keeps only its id in ``st.session_state``; ``follow`` shows it from the
database: a progress bar refreshed every second in a fragment while it is queued or running, then the
page's own view of the result (read back from the job row and the database), or the job's one-line
message when it failed. A reload or a second tab has no id yet: it finds the running job of the kind.
Close the tab and the job goes on.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from pages.ui import guarded
from studio.core.errors import NotFound
from studio.core.i18n import _
from studio.core.labels import label
from studio.service import jobs

ACTIVE = ("queued", "running")


SETTLE_S = 2.0  # a job this quick shows its result in the run that submitted it, without a progress flash


def submit(key: str, kind: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """Queue a job (or find the same one already running) and remember its id under ``key``; wait up to
    ``SETTLE_S`` for it to end (a longer one goes on in the server and shows its progress)."""
    job = guarded(jobs.submit, kind, args, who="page")
    if job:
        st.session_state[key] = job["id"]
        job = jobs.wait(job["id"], timeout=SETTLE_S, poll=0.05)
    return job


def current(key: str, kind: str, match: Callable[[dict], bool] | None = None) -> dict[str, Any] | None:
    """The job this session follows: the id under ``key``, else a running job of ``kind`` whose args
    ``match`` (a reload, another tab), which this session then follows too."""
    job_id = st.session_state.get(key)
    if job_id is not None:
        try:
            return jobs.get(job_id)
        except NotFound:  # another database file (tests), or the row is gone
            st.session_state.pop(key, None)
    for job in jobs.list_jobs(active=True, kind=kind):
        if match is None or match(job["args"]):
            st.session_state[key] = job["id"]
            return job
    return None


def forget(key: str) -> None:
    st.session_state.pop(key, None)


def follow(key: str, kind: str, *, what: str, match: Callable[[dict], bool] | None = None,
           done: Callable[[dict], None] | None = None) -> dict[str, Any] | None:
    """Show this session's job of ``kind``: progress while it runs, then ``done(job)`` (default: its
    message) or its error. Return the job row as this run saw it (None when there is none)."""
    job = current(key, kind, match)
    if job is None:
        return None
    live = job["state"] in ACTIVE

    @st.fragment(run_every=1.0 if live else None)
    def panel():
        now = jobs.get(job["id"])
        if live and now["state"] not in ACTIVE:
            st.rerun()  # it ended: the whole page runs again, on fresh data, and shows the result
        show(now, key=key, what=what, done=done)

    panel()
    return job


def show(job: dict[str, Any], *, key: str, what: str, done: Callable[[dict], None] | None = None) -> None:
    """One job's state: a progress bar (with Cancel), its result, or its one-line message.

    ``what`` names the work in the page's words, already translated (``_("Exporting")``); a plain English
    literal still passes through the catalog here. States read through ``labels``."""
    what = _(what)
    if job["state"] in ACTIVE:
        total, count = job["total"] or 0, job["done"] or 0
        note = label("state", "queued") if job["state"] == "queued" else (job["message"] or label("state", "running"))
        left, right = st.columns([6, 1])
        left.progress(min(count / total, 1.0) if total else 0.0,
                      text=_("{what} · job {id} · {note}").format(what=what, id=job["id"], note=note))
        if right.button(_("Cancel"), key=f"{key}_cancel", help=_("stop it (the Jobs page lists every job)")):
            if guarded(jobs.cancel, job["id"]):
                st.toast(_("Cancelling: it stops after the piece of work in hand"), icon=":material/hourglass_top:")
    elif job["state"] == "done":
        if done is not None:
            done(job)
        else:
            st.success(job["message"] or label("state", "done"), icon=":material/check_circle:")
    elif job["state"] in ("failed", "paused"):
        st.error(job["message"] or label("state", "failed"), icon=":material/error:")
    else:  # cancelled, or interrupted by a restart of the server
        st.warning(_("{what} (job {id}): {message}").format(what=what, id=job["id"],
                                                           message=job["message"] or label("state", job["state"])),
                   icon=":material/warning:")
