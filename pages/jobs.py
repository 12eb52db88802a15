"""Jobs: every long operation the server runs (generation batches, CLI commands sent to the server), with
progress, cancel and retry. Work goes on whether or not this page is open; fine-tunes are on Runs."""
import pandas as pd
import streamlit as st

from pages.ui import guarded
from studio.core.i18n import _
from studio.core.labels import label
from studio.service import jobs

ACTIVE = ("queued", "running")

st.title(_("Jobs"))
st.caption(_("Long work runs in the studio's server, not in this page: close the browser and it goes on; "
             "restart the server and an interrupted generation batch resumes where it stopped. "
             "Fine-tunes have their own page (Runs)."))
st.page_link(page="pages/runs.py", label=_("Fine-tune runs"), icon=":material/monitoring:")


def what(job: dict) -> str:
    """What a job does, in a line: the command, the batch, or the kind's name and its first arguments."""
    if job["kind"] == "command":
        return "python -m studio " + " ".join(job["args"].get("argv", []))
    if job["kind"] == "generate":
        a = job["args"]
        return _("{strategy} batch: {corpus} → {into}").format(strategy=a.get("strategy"), corpus=a.get("corpus"),
                                                              into=a.get("into"))
    name = _(jobs.label_of(job["kind"]))
    shown = [f"{k} {v}" for k, v in job["args"].items() if isinstance(v, (str, int, float)) and str(v) != ""][:4]
    return _("{kind}: {args}").format(kind=name, args=", ".join(shown)) if shown else name


rows = guarded(jobs.list_jobs, limit=200) or []
if not rows:
    st.info(_("No jobs yet. A generation batch started on the Generate page, or a command sent from the shell "
              "while the studio runs, shows up here."))
    st.stop()
live = any(r["state"] in ACTIVE for r in rows)


@st.fragment(run_every=2 if live else None)
def table():
    shown = jobs.list_jobs(limit=200)
    st.dataframe(pd.DataFrame([{
        _("job"): j["id"], _("what"): what(j), _("state"): label("state", j["state"]),
        _("progress"): (j["done"] or 0) / j["total"] if j["total"] else None,
        _("done"): f"{j['done']}/{j['total']}" if j["total"] else "", _("message"): j["message"] or "",
        _("started by"): j["who"] or "", _("created"): j["created_at"], _("finished"): j["finished_at"],
    } for j in shown]), hide_index=True, width="stretch",
        column_config={_("progress"): st.column_config.ProgressColumn(_("progress"), min_value=0.0, max_value=1.0)})


table()

st.subheader(_("Cancel or retry"))
pick = st.selectbox(_("Job"), [j["id"] for j in rows], key="jobs_pick",
                    format_func=lambda i: next(f"#{j['id']} · {label('state', j['state'])} · {what(j)}"
                                               for j in rows if j["id"] == i))
job = next(j for j in rows if j["id"] == pick)
c1, c2 = st.columns(2)
if c1.button(_("Cancel"), key="jobs_cancel", disabled=job["state"] not in ACTIVE,
             help=_("a queued job is dropped; a running one stops after the unit in flight (a passage, a question)")):
    if guarded(jobs.cancel, pick):
        st.rerun()
if c2.button(_("Retry"), key="jobs_retry", disabled=job["state"] not in ("failed", "paused", "cancelled", "interrupted"),
             help=_("queue it again; a generation batch continues where it stopped")):
    if guarded(jobs.retry, pick):
        st.rerun()
if job.get("result") and job["kind"] == "command":
    with st.expander(_("Output")):
        st.code((job["result"].get("stdout") or "") + (job["result"].get("stderr") or ""), language=None)
