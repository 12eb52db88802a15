"""Jobs: every long operation the server runs (generation batches, CLI commands sent to the server), with
progress, cancel and retry. Work goes on whether or not this page is open; fine-tunes are on Runs."""
import pandas as pd
import streamlit as st

from pages.ui import guarded
from studio.service import jobs

st.title("Jobs")
st.caption("Long work runs in the studio's server, not in this page: close the browser and it goes on; "
           "restart the server and an interrupted generation batch resumes where it stopped. "
           "Fine-tunes have their own page (Runs).")
st.page_link("pages/runs.py", label="Fine-tune runs", icon=":material/monitoring:")


def what(job: dict) -> str:
    if job["kind"] == "command":
        return "python -m studio " + " ".join(job["args"].get("argv", []))
    if job["kind"] == "generate":
        a = job["args"]
        return f"{a.get('strategy')} batch: {a.get('corpus')} → {a.get('into')}"
    label = jobs.label_of(job["kind"])
    shown = [f"{k} {v}" for k, v in job["args"].items() if isinstance(v, (str, int, float)) and str(v) != ""][:4]
    return f"{label}: {', '.join(shown)}" if shown else label


rows = guarded(jobs.list_jobs, limit=200) or []
if not rows:
    st.info("No jobs yet. A generation batch started on the Generate page, or a command sent from the shell "
            "while the studio runs, shows up here.")
    st.stop()
live = any(r["state"] in ("queued", "running") for r in rows)


@st.fragment(run_every=2 if live else None)
def table():
    shown = jobs.list_jobs(limit=200)
    st.dataframe(pd.DataFrame([{
        "job": j["id"], "what": what(j), "state": j["state"],
        "progress": (j["done"] or 0) / j["total"] if j["total"] else None,
        "done": f"{j['done']}/{j['total']}" if j["total"] else "", "message": j["message"] or "",
        "started by": j["who"] or "", "created": j["created_at"], "finished": j["finished_at"],
    } for j in shown]), hide_index=True, width="stretch",
        column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)})


table()

st.subheader("Cancel or retry")
pick = st.selectbox("Job", [j["id"] for j in rows], key="jobs_pick",
                    format_func=lambda i: next(f"#{j['id']} · {j['state']} · {what(j)}" for j in rows if j["id"] == i))
job = next(j for j in rows if j["id"] == pick)
c1, c2 = st.columns(2)
if c1.button("Cancel", key="jobs_cancel", disabled=job["state"] not in ("queued", "running"),
             help="a queued job is dropped; a running one stops after the unit in flight (a passage, a question)"):
    if guarded(jobs.cancel, pick):
        st.rerun()
if c2.button("Retry", key="jobs_retry", disabled=job["state"] not in ("failed", "cancelled", "interrupted"),
             help="queue it again; a generation batch continues where it stopped"):
    if guarded(jobs.retry, pick):
        st.rerun()
if job.get("result") and job["kind"] == "command":
    with st.expander("Output"):
        st.code((job["result"].get("stdout") or "") + (job["result"].get("stderr") or ""), language=None)
