"""Home: the project at a glance."""
import pandas as pd
import streamlit as st

from studio.overview import project_overview

st.title("Project overview")
view = project_overview()
t = view["totals"]

cols = st.columns(6)
for col, (label, key) in zip(cols, [("Datasets", "datasets"), ("Exam questions", "questions"),
                                    ("Passages", "passages"), ("Samples", "samples"),
                                    ("Snapshots", "snapshots"), ("Runs", "runs")]):
    col.metric(label, f"{t[key]:,}")

st.subheader("Datasets")
if view["datasets"]:
    table = pd.DataFrame([{
        "dataset": d["name"], "kind": d["kind"], "questions": d["questions"], "passages": d["passages"],
        "samples": d["samples"],
        **{f"status: {k}": v for k, v in d["by_status"].items()},
        **{f"origin: {k}": v for k, v in d["by_origin"].items()},
    } for d in view["datasets"]]).fillna(0)
    st.dataframe(table, hide_index=True, width="stretch")
else:
    st.info("No datasets yet. Import an exam bank or a corpus to start.")

st.subheader("Recent runs")
if view["runs"]:
    st.dataframe(pd.DataFrame(view["runs"]), hide_index=True, width="stretch")
else:
    st.caption("No fine-tune runs yet.")

st.caption(f"Database file: `{view['db']}`")
