"""Runs: every fine-tune with state, progress and ETA; live curves; cancel, resume, train further, merge
(a job of the server, in the device slot).

While a run is active its row and the selected run's panel refresh every ``POLL_S`` seconds in fragments;
the panel reruns the whole page when the run starts or ends, so its actions (Cancel, Resume, Train further,
Merge) always match its state. Cancel and Resume act in a callback, before the page draws, so the next
draw already shows ``cancelling`` (or the resumed run) and a toast says what happened."""
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages import jobview
from pages.ui import guarded
from studio.core.errors import StudioError
from studio.core.i18n import _
from studio.core.labels import label
from studio.train import config, display, runs, supervisor

LIVE = ("queued", "starting", "running")
POLL_S = 1.5  # a state change shows within this (the trainer rewrites status.json every 2 s, the poll reads it)

st.title(_("Runs"))
st.caption(_("Every fine-tune with live progress and loss curves (refreshes by itself while one runs). "
             "Cancel saves a checkpoint; Resume continues from it; a finished adapter can be trained further "
             "or merged."))

rows = guarded(runs.list_runs) or []  # polls active runs: re-attaches live ones, marks dead ones failed
if not rows:
    st.info(_("No runs yet. Start one on the Train page."))
    st.page_link(page="pages/train.py", label=_("Train"), icon=":material/model_training:")
    st.stop()
live = any(r["state"] in LIVE for r in rows)


def curve_figure(run_ids: list[str], names: dict[str, str]) -> go.Figure:
    """Train loss (solid) and eval loss (dotted) per run against the step."""
    points = pd.DataFrame(display.curve_points(run_ids))
    fig = go.Figure()
    kinds = (("loss", "solid", _("train")), ("eval_loss", "dot", _("eval")))
    if not points.empty:
        for rid in run_ids:
            for kind, dash, shown in kinds:
                p = points[(points["run"] == rid) & (points["kind"] == kind)]
                if not p.empty:
                    fig.add_trace(go.Scatter(x=p["step"], y=p["value"], mode="lines+markers",
                                             line={"dash": dash}, marker={"size": 4},
                                             name=f"{names.get(rid, rid)} · {shown}"))
    fig.update_layout(xaxis_title=_("step"), yaxis_title=_("loss"), height=360,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h"})
    return fig


@st.fragment(run_every=POLL_S if live else None)
def where(run: dict, plan: dict) -> str:
    """Where a run trains (its placement), or where a queued run goes when the device queue next moves."""
    if run["state"] == "queued":
        spot = plan.get(run["id"])
        return _("next on {device}").format(device=spot) if spot else _("waits for a free device")
    return run.get("device") or "" if run["state"] in ("starting", "running") else ""


def table():
    shown = runs.list_runs()
    plan = supervisor.planned() if any(r["state"] == "queued" for r in shown) else {}
    st.dataframe(pd.DataFrame([{
        _("run"): r["id"], _("name"): r["name"], _("method"): label("method", r["method"]),
        _("state"): display.state_label(r), _("progress"): r["progress"], _("step"): f"{r['step']}/{r['total']}",
        _("ETA"): display.format_seconds(r["eta_s"]) if r["eta_s"] is not None else "",
        _("final loss"): r["final_loss"], _("eval loss"): r["eval_loss"], _("from run"): r["parent_run"] or "",
        _("device"): where(r, plan), _("base model"): r["base_model"], _("created"): r["created_at"],
    } for r in shown]), hide_index=True, width="stretch",
        column_config={_("progress"): st.column_config.ProgressColumn(_("progress"), min_value=0.0, max_value=1.0),
                       _("final loss"): st.column_config.NumberColumn(format="%.4f"),
                       _("eval loss"): st.column_config.NumberColumn(format="%.4f")})


table()

ids = [r["id"] for r in rows]
titles = {r["id"]: f"{r['id']} · {r['name']}" if r["name"] else r["id"] for r in rows}
short = {r["id"]: f"{r['name'] or r['id']} ({r['id'][-4:]})" for r in rows}
if st.session_state.get("runs_pick_next") in ids:  # set by Start / Train further
    st.session_state["runs_selected"] = st.session_state.pop("runs_pick_next")
if st.session_state.get("runs_selected") not in ids:
    st.session_state["runs_selected"] = ids[0]
run_id = st.selectbox(_("Run"), ids, format_func=titles.get, key="runs_selected")
selected_live = next(r for r in rows if r["id"] == run_id)["state"] in LIVE


def _act(action, run_id: str, done: str) -> None:
    """A button's callback: act before the page draws, and leave a toast (or the refusal) for the draw."""
    try:
        action(run_id)
        st.session_state["runs_toast"] = done
    except StudioError as err:
        st.session_state["runs_refused"] = str(err)


@st.fragment(run_every=POLL_S if selected_live else None)
def detail(run_id: str, was_live: bool):
    d = guarded(runs.detail, run_id, poll=True)
    if not d:
        return
    if (d["state"] in LIVE) != was_live:
        st.rerun()  # it started or ended: the whole page follows (table, actions, polling)
    m = st.columns(5)
    m[0].metric(_("State"), display.state_label(d))
    m[1].metric(_("Step"), f"{d['step']}/{d['total']}")
    m[2].metric(_("ETA"), display.format_seconds(d["eta_s"]) if d["eta_s"] is not None else "–")
    m[3].metric(_("Train loss"), f"{d['final_loss']:.4f}" if d["final_loss"] is not None else "–")
    m[4].metric(_("Eval loss"), f"{d['eval_loss']:.4f}" if d["eval_loss"] is not None else "–")
    st.progress(min(1.0, d["progress"]), text=display.progress_text(d))
    if d["cancelling"]:
        st.info(_("Cancelling: the run saves a checkpoint at the end of this step, then stops; Resume then "
                  "continues from it."), icon=":material/hourglass_top:")
    if d["error"]:
        st.error(d["error"])
    if d["step"] or d["final_loss"] is not None:
        st.plotly_chart(curve_figure([run_id], short), key=f"runs_curve_{run_id}")
    else:
        st.caption(_("No loss logged yet: the curve appears with the first logged step."))
    with st.expander(_("Log (last lines)"), expanded=d["state"] in ("failed",)):
        st.code(d["log_tail"] or _("(empty)"), language="text")


detail(run_id, selected_live)

if toast := st.session_state.pop("runs_toast", None):
    st.toast(toast, icon=":material/check_circle:")
if refused := st.session_state.pop("runs_refused", None):
    st.error(refused, icon=":material/error:")
d = guarded(runs.detail, run_id)
if d:
    st.caption(_("Command: {command}").format(command=d["command"] or ""))
    if d["lineage"]:
        st.caption(_("Trained further from: {runs}").format(runs=" ← ".join(d["lineage"])))
    with st.expander(_("Config and estimate")):
        st.json({"config": d["config"], "estimate": d["estimate"], "checkpoints": d["checkpoints"],
                 "folder": d["dir"], "resumes": d["resumes"]})

    c = st.columns(4)
    if d["state"] in LIVE and not d["cancelling"]:
        c[0].button(_("Cancel"), key="runs_cancel", help=_("SIGTERM: saves a checkpoint, then stops"),
                    on_click=_act, args=(runs.cancel, run_id, label("state", "cancelled") if d["state"] == "queued"
                                         else _("Cancelling: a checkpoint is saved first")))
    if d["state"] in ("failed", "cancelled"):
        c[1].button(_("Resume"), key="runs_resume", type="primary",
                    help=_("continue from the newest checkpoint; the step count continues"),
                    on_click=_act, args=(runs.resume, run_id, _("Resumed: it continues from its newest checkpoint")))
    if d["has_adapter"]:
        with c[2].popover(_("Train further")):
            st.caption(_("A new run that starts from this adapter (same base model and method)."))
            # unbounded number widgets: what is typed reaches config.problems, which keeps the button disabled
            st.session_state.setdefault("runs_further_steps", 0.0)
            st.session_state.setdefault("runs_further_epochs", 1.0)
            steps = st.number_input(_("max steps (0: epochs)"), value=None, step=1.0, format="%.10g",
                                    key="runs_further_steps")
            epochs = st.number_input(_("epochs"), value=None, step=1.0, format="%.10g", key="runs_further_epochs")
            why = list(config.problems({"max_steps": steps, "epochs": epochs}).values())
            if why:
                st.warning("\n\n".join(why), icon=":material/block:")
            if st.button(_("Start the next run"), key="runs_further_go", disabled=bool(why),
                         help=why[0] if why else None):
                child = guarded(runs.train_further, run_id, max_steps=steps, epochs=epochs)
                if child:
                    st.session_state["runs_pick_next"] = child["id"]
                    st.rerun()
        if d["method"] == "lora":
            with c[3].popover(_("Merge into the base")):
                st.caption(_("Merge the LoRA weights into the base model and save a standalone model folder."))
                out = st.text_input(_("Folder (empty: models/<run>-merged)"), key="runs_merge_out")
                if st.button(_("Merge and save"), key="runs_merge_go"):
                    jobview.submit("runs_merge_job", "merge", {"run": run_id, "out": out.strip() or None})
    # the merge is a job of the server (it loads the model in the device slot); a reload shows it too
    jobview.follow("runs_merge_job", "merge", what=_("Merging"), match=lambda a: a["run"] == run_id,
                   done=lambda job: st.success(_("Saved the merged model to `{folder}`").format(
                       folder=job["result"]["out"]), icon=":material/check_circle:"))

st.subheader(_("Compare curves"))
chosen = st.multiselect(_("Runs"), ids, default=ids[: min(3, len(ids))], format_func=titles.get, key="runs_overlay")
if chosen:
    st.plotly_chart(curve_figure(chosen, short), key="runs_overlay_chart")
