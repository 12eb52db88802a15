"""Home: the project at a glance, and the next step for each dataset."""
import pandas as pd
import streamlit as st

from studio.data.overview import project_overview
from studio.data.samples import STATUSES

st.title("Project overview")
st.caption("The loop: import an exam bank or documents → convert / generate training pairs → review → "
           "snapshot → train an adapter → compare and rate it. Each dataset below says what to do next.")
view = project_overview()
t = view["totals"]

cols = st.columns(6)
for col, (label, key) in zip(cols, [("Datasets", "datasets"), ("Exam questions", "questions"),
                                    ("Passages", "passages"), ("Samples", "samples"),
                                    ("Snapshots", "snapshots"), ("Runs", "runs")]):
    col.metric(label, f"{t[key]:,}")

st.subheader("Datasets")
if view["datasets"]:
    seen = {k for d in view["datasets"] for k in d["by_status"]}
    statuses = [s for s in STATUSES if s in seen] + sorted(seen - set(STATUSES))
    origins = sorted({k for d in view["datasets"] for k in d["by_origin"]})
    table = pd.DataFrame([{
        "dataset": d["name"], "kind": d["kind"], "questions": d["questions"], "passages": d["passages"],
        "samples": d["samples"],
        **{f"status: {k}": d["by_status"].get(k, 0) for k in statuses},
        **{f"origin: {k}": d["by_origin"].get(k, 0) for k in origins},
    } for d in view["datasets"]])
    st.dataframe(table, hide_index=True, width="stretch")
    with st.container(border=True):
        st.markdown("**Next steps**")
        for d in view["datasets"]:
            c = st.columns([2, 3])
            c[0].markdown(f"**{d['name']}** · {d['kind']}")
            c[1].page_link(d["next_page"], label=d["next_step"], icon=":material/arrow_forward:")
else:
    st.info("No datasets yet. Import an exam bank or a corpus to start.")
    c = st.columns(3)
    c[0].page_link("pages/import_exam.py", label="Import an exam bank", icon=":material/quiz:")
    c[1].page_link("pages/import_corpus.py", label="Import documents", icon=":material/article:")
    c[2].page_link("pages/datasets.py", label="Import training pairs", icon=":material/table_view:")

st.subheader("Recent runs")
if view["runs"]:
    st.dataframe(pd.DataFrame([{
        "run": r["id"], "name": r["name"] or "", "method": r["method"], "base model": r["base_model"],
        "state": r["state"], "progress": (r["step"] or 0) / r["total"] if r["total"] else 0.0,
        "step": f"{r['step'] or 0}/{r['total'] or 0}", "train loss": r["final_loss"], "eval loss": r["eval_loss"],
        "created": r["created_at"],
    } for r in view["runs"]]), hide_index=True, width="stretch",
        column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0),
                       "train loss": st.column_config.NumberColumn(format="%.4f"),
                       "eval loss": st.column_config.NumberColumn(format="%.4f")})
    st.page_link("pages/runs.py", label="All runs, live curves", icon=":material/monitoring:")
else:
    st.caption("No fine-tune runs yet.")

size = view["db_bytes"]
st.caption(f"Database file: `{view['db']}` ({size / 2**20:,.1f} MiB) · the CLI can open it while the studio "
           "is stopped (`python -m studio status`).")
