"""Review: pending samples beside their source passage; accept, edit then accept, or reject.

Keys: A accept (with your edits), X reject (with the chosen reason), N next, P previous. Your name and
the dataset stay in the URL and your place in the queue is kept in the database, so a reload opens the
same sample.
"""
import pandas as pd
import streamlit as st

from pages import jobview
from pages.ui import guarded
from studio.core.errors import StudioError
from studio.data import review
from studio.data.review_flags import FLAGS

st.title("Review")
st.caption("Check each pending sample against its source passage: accept (with your edits) or reject with a "
           "reason. Keys: **A** accept · **X** reject · **N** next · **P** previous. Only accepted samples go into "
           "snapshots and training.")

sets = review.datasets_to_review()
if not sets:
    st.info("No sample datasets yet: generate samples (Generate page) or import pairs first.")
    st.stop()

params = st.query_params
names = [d["name"] for d in sets]
c1, c2 = st.columns([1, 2])
if "review_reviewer" not in st.session_state:
    st.session_state["review_reviewer"] = params.get("reviewer", "")
if "review_dataset" not in st.session_state or st.session_state["review_dataset"] not in names:
    st.session_state["review_dataset"] = params.get("dataset") if params.get("dataset") in names else names[0]
reviewer = c1.text_input("Reviewer", key="review_reviewer", placeholder="your name")
dataset = c2.selectbox("Dataset", names, key="review_dataset",
                       format_func=lambda n: next(f"{n} · {d['pending']} pending of {d['total']}"
                                                  for d in sets if d["name"] == n))
st.query_params.update({"reviewer": reviewer, "dataset": dataset})
if not reviewer.strip():
    st.info("Enter your name: every decision records its reviewer.")
    st.stop()

with st.expander("Filter", expanded=False):
    f1, f2, f3, f4 = st.columns(4)
    status = f1.selectbox("Status", ["pending", "accepted", "rejected", "all"], key="review_status")
    flag = f2.selectbox("Flag", ["", "any", "none", *FLAGS], key="review_flag",
                        format_func=lambda f: {"": "(all)", "any": "any flag", "none": "no flag"}.get(f, f))
    template = f3.selectbox("Template", ["", *(guarded(review.templates_in, dataset) or [])], key="review_template",
                            format_func=lambda t: t or "(all)")
    search = f4.text_input("Search", key="review_search")
filters = review.Filters(status=status, flag=flag or None, template=template or None, search=search)

tab_queue, tab_bulk, tab_stats = st.tabs(["Queue", "Bulk", "Statistics"])


def _act(action: str, sample_id: int, version: int, edit_keys: dict | None = None):
    """Button callback: record the decision (on the version shown) and move on."""
    edits = {f: st.session_state.get(k) for f, k in (edit_keys or {}).items()}
    reason = None
    if action == "reject":
        reason = st.session_state.get("review_reason")
        if reason == "other":
            reason = st.session_state.get("review_reason_text") or ""
    try:
        review.decide(dataset, sample_id, version, action, reviewer, reason=reason, edits=edits or None,
                      filters=filters)
        st.session_state["review_message"] = ("success", f"Sample {sample_id}: {action}ed.")
    except StudioError as err:  # bad input, or a Conflict: the sample changed in another tab
        st.session_state["review_message"] = ("error", str(err))


def _move(direction: str):
    st.session_state["review_move"] = direction


with tab_queue:
    move = st.session_state.pop("review_move", None)
    view = guarded(review.current, dataset, reviewer, filters, move)
    message = st.session_state.pop("review_message", None)
    if message:
        (st.success if message[0] == "success" else st.error)(message[1])
    if view is not None:
        counts = view["counts"]
        st.caption(" · ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
        s = view["sample"]
        if s is None:
            st.success("Nothing left in this queue. 🎉") if status == "pending" else st.info("No sample matches.")
        else:
            st.progress(view["position"] / max(view["total"], 1),
                        text=f"Sample {view['position']} of {view['total']} · id {s['id']} · {s['status']}")
            left, right = st.columns(2)
            with left:
                k = f"review_{s['id']}_{s['version']}"
                keys = {"instruction": f"{k}_instruction", "input": f"{k}_input", "output": f"{k}_output"}
                st.text_area("Instruction", s["instruction"], key=keys["instruction"], height=110)
                if s["input"]:
                    st.text_area("Input", s["input"], key=keys["input"], height=70)
                else:
                    keys.pop("input")
                st.text_area("Output", s["output"], key=keys["output"], height=110)
                flags = list(s["flags"] or [])
                if flags:
                    st.markdown(" ".join(f":orange-badge[{f}]" for f in flags))
                else:
                    st.markdown(":green-badge[no flags]")
                st.caption(f"origin {s['origin']} · template {s['template'] or '-'} · model {s['model'] or '-'}"
                           + (f" · last decision by {s['reviewer']}" if s["reviewer"] else ""))
                b1, b2, b3, b4 = st.columns(4)
                b1.button("Accept", type="primary", shortcut="A", key="review_accept", on_click=_act,
                          args=("accept", s["id"], s["version"], keys), help="saves your edits (A)")
                b2.button("Reject", shortcut="X", key="review_reject", on_click=_act,
                          args=("reject", s["id"], s["version"]), help="with the reason below (X)")
                b3.button("Previous", shortcut="P", key="review_prev", on_click=_move, args=("prev",))
                b4.button("Next", shortcut="N", key="review_next", on_click=_move, args=("next",))
                r1, r2 = st.columns(2)
                r1.selectbox("Reject reason", review.REJECT_REASONS, key="review_reason")
                r2.text_input("Other reason", key="review_reason_text")
            with right:
                if s.get("passage_text"):
                    support = view["support"]
                    st.markdown(f"**Source passage** · {s['document_title'] or ''} · {s['passage_heading'] or ''}")
                    st.caption(f"Answer support in the passage: {support:.0%} (highlighted)")
                    st.markdown(f"<div style='line-height:1.8'>{view['highlight']}</div>", unsafe_allow_html=True)
                else:
                    st.caption("This sample has no source passage.")

with tab_bulk:
    rows = guarded(review.queue_table, dataset, filters, 500) or []
    total = view["total"] if view else len(rows)
    st.caption(f"{total} sample(s) match the filter" + (" (first 500 shown)" if total > 500 else ""))
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=260)
        a1, a2, a3 = st.columns([1, 2, 1])
        action = a1.radio("Decision", ["accept", "reject"], key="review_bulk_action", horizontal=True)
        reason = a2.text_input("Reason (needed to reject)", key="review_bulk_reason")
        sure = a3.checkbox(f"Apply to all {total}", key="review_bulk_confirm")
        if st.button(f"Apply to the {total} filtered samples", key="review_bulk_apply", disabled=not sure):
            n = guarded(review.bulk, dataset, filters, action, reviewer, reason)
            if n is not None:
                st.success(f"{n} sample(s) {action}ed by {reviewer}.")
    if st.button("Recompute flags", key="review_refresh"):
        jobview.submit("review_flags_job", "refresh-flags", {"dataset": dataset})
    # a job of the server: a reload or another tab shows it too
    jobview.follow("review_flags_job", "refresh-flags", what="Recomputing flags",
                   match=lambda a: a["dataset"] == dataset)

with tab_stats:
    everything = st.toggle("All datasets", key="review_stats_all")
    s = guarded(review.stats, None if everything else dataset)
    figs = review.figures(s) if s else {}
    if not figs:
        st.info("No decisions yet.")
    for name in ("template", "model", "flag", "throughput"):
        if name in figs:
            st.plotly_chart(figs[name], key=f"review_chart_{name}")
