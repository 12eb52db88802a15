"""Home: the project at a glance, and the next step for each dataset."""
from pathlib import Path

import pandas as pd
import streamlit as st

from pages.ui import may_open
from studio.core.i18n import N_, _
from studio.core.labels import label
from studio.data.overview import project_overview
from studio.data.samples import STATUSES

KINDS = {"exam": N_("exam bank"), "corpus": N_("corpus"), "samples": N_("training pairs")}  # dataset kinds

st.title(_("Project overview"))
st.caption(_("The loop: import an exam bank or documents → convert / generate training pairs → review → "
             "snapshot → train an adapter → compare and rate it. Each dataset below says what to do next."))
view = project_overview()
t = view["totals"]

cols = st.columns(6)
for col, (name, key) in zip(cols, [(N_("Datasets"), "datasets"), (N_("Exam questions"), "questions"),
                                   (N_("Passages"), "passages"), (N_("Samples"), "samples"),
                                   (N_("Snapshots"), "snapshots"), (N_("Runs"), "runs")]):
    col.metric(_(name), f"{t[key]:,}")


def kind_of(kind: str) -> str:
    return _(KINDS[kind]) if kind in KINDS else kind


st.subheader(_("Datasets"))
if view["datasets"]:
    seen = {k for d in view["datasets"] for k in d["by_status"]}
    statuses = [s for s in STATUSES if s in seen] + sorted(seen - set(STATUSES))
    origins = sorted({k for d in view["datasets"] for k in d["by_origin"]})
    table = pd.DataFrame([{
        _("dataset"): d["name"], _("kind"): kind_of(d["kind"]), _("questions"): d["questions"],
        _("passages"): d["passages"], _("samples"): d["samples"],
        **{_("status: {status}").format(status=label("status", k)): d["by_status"].get(k, 0) for k in statuses},
        **{_("origin: {origin}").format(origin=label("source", k)): d["by_origin"].get(k, 0) for k in origins},
    } for d in view["datasets"]])
    st.dataframe(table, hide_index=True, width="stretch")
    with st.container(border=True):
        st.markdown("**{}**".format(_("Next steps")))
        for d in view["datasets"]:
            c = st.columns([2, 3])
            c[0].markdown(f"**{d['name']}** · {kind_of(d['kind'])}")
            if may_open(Path(d["next_page"]).stem):  # a reviewer or rater has no link to an engineer's page
                c[1].page_link(d["next_page"], label=_(d["next_step"]), icon=":material/arrow_forward:")
else:
    st.info(_("No datasets yet. Import an exam bank or a corpus to start."))
    c = st.columns(3)
    for col, (stem, text, icon) in zip(c, (("import_exam", _("Import an exam bank"), "quiz"),
                                           ("import_corpus", _("Import documents"), "article"),
                                           ("datasets", _("Import training pairs"), "table_view"))):
        if may_open(stem):
            col.page_link(page=f"pages/{stem}.py", label=text, icon=f":material/{icon}:")

st.subheader(_("Recent runs"))
if view["runs"]:
    st.dataframe(pd.DataFrame([{
        _("run"): r["id"], _("name"): r["name"] or "", _("method"): label("method", r["method"]),
        _("base model"): r["base_model"], _("state"): label("state", r["state"]),
        _("progress"): (r["step"] or 0) / r["total"] if r["total"] else 0.0,
        _("step"): f"{r['step'] or 0}/{r['total'] or 0}", _("train loss"): r["final_loss"],
        _("eval loss"): r["eval_loss"], _("created"): r["created_at"],
    } for r in view["runs"]]), hide_index=True, width="stretch",
        column_config={_("progress"): st.column_config.ProgressColumn(_("progress"), min_value=0.0, max_value=1.0),
                       _("train loss"): st.column_config.NumberColumn(format="%.4f"),
                       _("eval loss"): st.column_config.NumberColumn(format="%.4f")})
    if may_open("runs"):
        st.page_link(page="pages/runs.py", label=_("All runs, live curves"), icon=":material/monitoring:")
else:
    st.caption(_("No fine-tune runs yet."))

size = view["db_bytes"]
st.caption(_("Database file: `{file}` ({size} MB) · the CLI can open it while the studio is stopped "
             "(`python -m studio status`).").format(file=view["db"], size=f"{size / 2**20:,.1f}"))
