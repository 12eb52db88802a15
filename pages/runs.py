"""Runs: every fine-tune with state, progress and ETA; live curves; cancel, resume, train further, merge
(a job of the server, in the device slot)."""
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages import jobview
from pages.ui import guarded
from studio.train import display, runs

st.title("Runs")
st.caption("Every fine-tune with live progress and loss curves (refreshes by itself while one runs). "
           "Cancel saves a checkpoint; Resume continues from it; a finished adapter can be trained further or merged.")

rows = guarded(runs.list_runs) or []  # polls active runs: re-attaches live ones, marks dead ones failed
if not rows:
    st.info("No runs yet. Start one on the Train page.")
    st.page_link("pages/train.py", label="Train", icon=":material/model_training:")
    st.stop()
live = any(r["state"] in ("queued", "starting", "running") for r in rows)
POLL = 2 if live else None


def curve_figure(run_ids: list[str], labels: dict[str, str]) -> go.Figure:
    """Train loss (solid) and eval loss (dotted) per run against the step."""
    points = pd.DataFrame(display.curve_points(run_ids))
    fig = go.Figure()
    if not points.empty:
        for rid in run_ids:
            for kind, dash in (("loss", "solid"), ("eval_loss", "dot")):
                p = points[(points["run"] == rid) & (points["kind"] == kind)]
                if not p.empty:
                    fig.add_trace(go.Scatter(x=p["step"], y=p["value"], mode="lines+markers",
                                             line={"dash": dash}, marker={"size": 4},
                                             name=f"{labels.get(rid, rid)} · {'eval' if kind == 'eval_loss' else 'train'}"))
    fig.update_layout(xaxis_title="step", yaxis_title="loss", height=360, margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"orientation": "h"})
    return fig


@st.fragment(run_every=POLL)
def table():
    shown = runs.list_runs()
    st.dataframe(pd.DataFrame([{
        "run": r["id"], "name": r["name"], "method": r["method"], "state": r["state"], "progress": r["progress"],
        "step": f"{r['step']}/{r['total']}",
        "ETA": display.format_seconds(r["eta_s"]) if r["eta_s"] is not None else "",
        "final loss": r["final_loss"], "eval loss": r["eval_loss"], "from run": r["parent_run"] or "",
        "base model": r["base_model"], "created": r["created_at"],
    } for r in shown]), hide_index=True, width="stretch",
        column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0),
                       "final loss": st.column_config.NumberColumn(format="%.4f"),
                       "eval loss": st.column_config.NumberColumn(format="%.4f")})


table()

ids = [r["id"] for r in rows]
labels = {r["id"]: f"{r['id']} · {r['name']}" if r["name"] else r["id"] for r in rows}
short = {r["id"]: f"{r['name'] or r['id']} ({r['id'][-4:]})" for r in rows}
if st.session_state.get("runs_pick_next") in ids:  # set by Start / Train further
    st.session_state["runs_selected"] = st.session_state.pop("runs_pick_next")
if st.session_state.get("runs_selected") not in ids:
    st.session_state["runs_selected"] = ids[0]
run_id = st.selectbox("Run", ids, format_func=labels.get, key="runs_selected")


@st.fragment(run_every=POLL)
def detail(run_id: str):
    d = guarded(runs.detail, run_id)
    if not d:
        return
    m = st.columns(5)
    m[0].metric("State", d["state"])
    m[1].metric("Step", f"{d['step']}/{d['total']}")
    m[2].metric("ETA", display.format_seconds(d["eta_s"]) if d["eta_s"] is not None else "–")
    m[3].metric("Train loss", f"{d['final_loss']:.4f}" if d["final_loss"] is not None else "–")
    m[4].metric("Eval loss", f"{d['eval_loss']:.4f}" if d["eval_loss"] is not None else "–")
    st.progress(min(1.0, d["progress"]), text=display.progress_text(d))
    if d["error"]:
        st.error(d["error"])
    if d["step"] or d["final_loss"] is not None:
        st.plotly_chart(curve_figure([run_id], short), key=f"runs_curve_{run_id}")
    else:
        st.caption("No loss logged yet: the curve appears with the first logged step.")
    with st.expander("Log (last lines)", expanded=d["state"] in ("failed",)):
        st.code(d["log_tail"] or "(empty)", language="text")


detail(run_id)

d = guarded(runs.detail, run_id)
if d:
    st.caption("Command: " + (d["command"] or ""))
    if d["lineage"]:
        st.caption("Trained further from: " + " ← ".join(d["lineage"]))
    with st.expander("Config and estimate"):
        st.json({"config": d["config"], "estimate": d["estimate"], "checkpoints": d["checkpoints"],
                 "folder": d["dir"], "resumes": d["resumes"]})

    c = st.columns(4)
    if d["state"] in ("queued", "starting", "running"):
        if c[0].button("Cancel", key="runs_cancel", help="SIGTERM: saves a checkpoint, then stops"):
            if guarded(runs.cancel, run_id):
                st.toast("Cancelling: a checkpoint is saved first")
                st.rerun()
    if d["state"] in ("failed", "cancelled"):
        if c[1].button("Resume", key="runs_resume", type="primary",
                       help="continue from the newest checkpoint; the step count continues"):
            if guarded(runs.resume, run_id):
                st.rerun()
    if d["has_adapter"]:
        with c[2].popover("Train further"):
            st.caption("A new run that starts from this adapter (same base model and method).")
            steps = st.number_input("max steps (0: epochs)", 0, value=0, key="runs_further_steps")
            epochs = st.number_input("epochs", 0.0, value=1.0, key="runs_further_epochs")
            if st.button("Start the next run", key="runs_further_go"):
                child = guarded(runs.train_further, run_id, max_steps=int(steps), epochs=float(epochs))
                if child:
                    st.session_state["runs_pick_next"] = child["id"]
                    st.rerun()
        if d["method"] == "lora":
            with c[3].popover("Merge into the base"):
                st.caption("Merge the LoRA weights into the base model and save a standalone model folder.")
                out = st.text_input("Folder (empty: models/<run>-merged)", key="runs_merge_out")
                if st.button("Merge and save", key="runs_merge_go"):
                    jobview.submit("runs_merge_job", "merge", {"run": run_id, "out": out.strip() or None})
    # the merge is a job of the server (it loads the model in the device slot); a reload shows it too
    jobview.follow("runs_merge_job", "merge", what="Merging", match=lambda a: a["run"] == run_id,
                   done=lambda job: st.success(f"Saved the merged model to `{job['result']['out']}`",
                                               icon=":material/check_circle:"))

st.subheader("Compare curves")
chosen = st.multiselect("Runs", ids, default=ids[: min(3, len(ids))], format_func=labels.get, key="runs_overlay")
if chosen:
    st.plotly_chart(curve_figure(chosen, short), key="runs_overlay_chart")
