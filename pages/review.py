"""Review: pending samples beside their source passage; accept, edit then accept, or reject.

Keys: A accept (with your edits), X reject (with the chosen reason), N next, P previous. Your name and
the dataset stay in the URL and your place in the queue is kept in the database, so a reload opens the
same sample. The counts in the dataset picker and the status filter are read again on every run (see
``_fresh`` for why the picker needs a nudge to show them).
"""
import pandas as pd
import streamlit as st

from pages import jobview
from pages.ui import account as current_account
from pages.ui import guarded
from studio.core.errors import StudioError
from studio.core.i18n import _, ngettext
from studio.core.labels import label
from studio.data import review
from studio.data.review_flags import FLAGS, flag_label
from studio.data.samples import origin_label

st.title(_("Review"))
st.caption(_("Check each pending sample against its source passage: accept (with your edits) or reject with a "
             "reason. Keys: **A** accept · **X** reject · **N** next · **P** previous. Only accepted samples go "
             "into snapshots and training."))

sets = review.datasets_to_review()
if not sets:
    st.info(_("No sample datasets yet: generate samples (Generate page) or import pairs first."))
    st.stop()


def _fresh(key: str, texts: list[str]) -> None:
    """Make a keyed selectbox show its options' current text.

    Streamlit 1.67 keeps a keyed selectbox's choice in the browser as the text it had when chosen, so a count
    in that text ("12 pending") stayed as it was after a decision until a reload. When the texts change, the
    choice is handed back to the box, which then shows the new text."""
    seen = f"{key}_texts"
    if key in st.session_state and st.session_state.get(seen) not in (None, texts):
        st.session_state[key] = st.session_state[key]
    st.session_state[seen] = texts


params = st.query_params
by_name = {d["name"]: d for d in sets}
names = list(by_name)
c1, c2 = st.columns([1, 2])
account = current_account()  # with accounts the reviewer is the signed-in account, not a typed name
if account is None and "review_reviewer" not in st.session_state:
    st.session_state["review_reviewer"] = params.get("reviewer", "")
if "review_dataset" not in st.session_state or st.session_state["review_dataset"] not in names:
    st.session_state["review_dataset"] = params.get("dataset") if params.get("dataset") in names else names[0]
picker = {n: _("{name} · {pending} pending of {total}").format(**d) for n, d in by_name.items()}
_fresh("review_dataset", list(picker.values()))
if account is None:
    reviewer = c1.text_input(_("Reviewer"), key="review_reviewer", placeholder=_("your name"))
else:
    reviewer = c1.text_input(_("Reviewer"), value=account["name"], disabled=True)
dataset = c2.selectbox(_("Dataset"), names, key="review_dataset", format_func=picker.get)
st.query_params.update({"reviewer": reviewer, "dataset": dataset} if account is None else {"dataset": dataset})
if not reviewer.strip():
    st.info(_("Enter your name: every decision records its reviewer."))
    st.stop()

if st.session_state.pop("review_bulk_done", False):
    st.session_state["review_bulk_confirm"] = False  # a new bulk decision needs a new confirmation
with st.expander(_("Filter"), expanded=False):
    f1, f2, f3, f4 = st.columns(4)
    mine = by_name[dataset]
    statuses = {s: _("{status} ({n})").format(status=label("status", s), n=mine[s])
                for s in ("pending", "accepted", "rejected")}
    statuses["all"] = _("all ({n})").format(n=mine["total"])
    _fresh("review_status", list(statuses.values()))
    status = f1.selectbox(_("Status"), list(statuses), key="review_status", format_func=statuses.get)
    flag_names = {"": _("(all)"), "any": _("any flag"), "none": _("no flag")}
    flag = f2.selectbox(_("Flag"), ["", "any", "none", *FLAGS], key="review_flag",
                        format_func=lambda f: flag_names.get(f) or flag_label(f))
    template = f3.selectbox(_("Template"), ["", *(guarded(review.templates_in, dataset) or [])], key="review_template",
                            format_func=lambda t: t or _("(all)"))
    search = f4.text_input(_("Search"), key="review_search")
filters = review.Filters(status=status, flag=flag or None, template=template or None, search=search)

tab_queue, tab_bulk, tab_stats = st.tabs([_("Queue"), _("Bulk"), _("Statistics")])
DONE = {"accept": _("Sample {id}: accepted."), "reject": _("Sample {id}: rejected.")}


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
        st.session_state["review_message"] = ("success", DONE[action].format(id=sample_id))
    except StudioError as err:  # bad input, or a Conflict: the sample changed in another tab
        st.session_state["review_message"] = ("error", str(err))


def _move(direction: str):
    st.session_state["review_move"] = direction


def _sample_editor(s: dict, view: dict) -> None:
    """The sample's fields (editable), its flags and the decision buttons; then its source passage."""
    left, right = st.columns(2)
    with left:
        k = f"review_{s['id']}_{s['version']}"
        keys = {"instruction": f"{k}_instruction", "input": f"{k}_input", "output": f"{k}_output"}
        st.text_area(_("Instruction"), s["instruction"], key=keys["instruction"], height=110)
        if s["input"]:
            st.text_area(_("Input"), s["input"], key=keys["input"], height=70)
        else:
            keys.pop("input")
        st.text_area(_("Output"), s["output"], key=keys["output"], height=110)
        badges = " ".join(f":orange-badge[{flag_label(f)}]" for f in s["flags"] or []) or \
            f":green-badge[{_('no flags')}]"
        st.markdown(badges)
        meta = _("origin {origin} · template {template} · model {model}").format(
            origin=origin_label(s["origin"]), template=s["template"] or "-", model=s["model"] or "-")
        if s["reviewer"]:
            meta += _(" · last decision by {reviewer}").format(reviewer=s["reviewer"])
        st.caption(meta)
        b1, b2, b3, b4 = st.columns(4)
        b1.button(_("Accept"), type="primary", shortcut="A", key="review_accept", on_click=_act,
                  args=("accept", s["id"], s["version"], keys), help=_("saves your edits (A)"))
        b2.button(_("Reject"), shortcut="X", key="review_reject", on_click=_act,
                  args=("reject", s["id"], s["version"]), help=_("with the reason below (X)"))
        b3.button(_("Previous"), shortcut="P", key="review_prev", on_click=_move, args=("prev",))
        b4.button(_("Next"), shortcut="N", key="review_next", on_click=_move, args=("next",))
        r1, r2 = st.columns(2)
        r1.selectbox(_("Reject reason"), review.REJECT_REASONS, key="review_reason", format_func=_)
        r2.text_input(_("Other reason"), key="review_reason_text")
    with right:
        if s.get("passage_text"):
            st.markdown(_("**Source passage** · {title} · {heading}").format(
                title=s["document_title"] or "", heading=s["passage_heading"] or ""))
            st.caption(_("Answer support in the passage: {share} (highlighted)").format(share=f"{view['support']:.0%}"))
            passage_html = f"<div style='line-height:1.8'>{view['highlight']}</div>"  # marks the answer's support
            st.markdown(passage_html, unsafe_allow_html=True)
        else:
            st.caption(_("This sample has no source passage."))


with tab_queue:
    move = st.session_state.pop("review_move", None)
    view = guarded(review.current, dataset, reviewer, filters, move)
    message = st.session_state.pop("review_message", None)
    if message:
        (st.success if message[0] == "success" else st.error)(message[1])
    if view is not None:
        st.caption(" · ".join(f"{label('status', k)}: {v}" for k, v in sorted(view["counts"].items())))
        s = view["sample"]
        if s is None:
            if status == "pending":
                st.success(_("Nothing left in this queue. 🎉"))
            else:
                st.info(_("No sample matches."))
        else:
            st.progress(view["position"] / max(view["total"], 1),
                        text=_("Sample {position} of {total} · id {id} · {status}").format(
                            position=view["position"], total=view["total"], id=s["id"],
                            status=label("status", s["status"])))
            _sample_editor(s, view)

with tab_bulk:
    rows = guarded(review.queue_table, dataset, filters, 500) or []
    total = view["total"] if view else len(rows)
    shown = ngettext("{n} sample matches the filter", "{n} samples match the filter", total).format(n=total)
    st.caption(shown + (_(" (first 500 shown)") if total > 500 else ""))
    if "review_bulk_message" in st.session_state:
        st.success(st.session_state.pop("review_bulk_message"))
    if rows:
        frame = pd.DataFrame(rows)
        frame["status"] = frame["status"].map(lambda v: label("status", v))
        frame["flags"] = frame["flags"].map(lambda fs: [flag_label(f) for f in fs] if fs is not None else [])
        frame["origin"] = frame["origin"].map(origin_label)
        st.dataframe(frame, hide_index=True, width="stretch", height=260, column_config={
            "id": _("ID"), "instruction": _("Instruction"), "output": _("Output"), "status": _("Status"),
            "flags": _("Flags"), "template": _("Template"), "origin": _("Origin")})
        a1, a2, a3 = st.columns([1, 2, 1])
        decisions = {"accept": _("Accept"), "reject": _("Reject")}
        action = a1.radio(_("Decision"), list(decisions), key="review_bulk_action", horizontal=True,
                          format_func=decisions.get)
        reason = a2.text_input(_("Reason (needed to reject)"), key="review_bulk_reason")
        sure = a3.checkbox(_("Apply to all {n}").format(n=total), key="review_bulk_confirm")
        if st.button(_("Apply to the {n} filtered samples").format(n=total), key="review_bulk_apply",
                     disabled=not sure):
            n = guarded(review.bulk, dataset, filters, action, reviewer, reason)
            if n is not None:
                done = (ngettext("{n} sample accepted by {reviewer}.", "{n} samples accepted by {reviewer}.", n)
                        if action == "accept" else
                        ngettext("{n} sample rejected by {reviewer}.", "{n} samples rejected by {reviewer}.", n))
                st.session_state["review_bulk_message"] = done.format(n=n, reviewer=reviewer)
                st.session_state["review_bulk_done"] = True
                st.rerun()  # the counts in the picker and the filter, read again
    if st.button(_("Recompute flags"), key="review_refresh"):
        jobview.submit("review_flags_job", "refresh-flags", {"dataset": dataset})
    # a job of the server: a reload or another tab shows it too
    jobview.follow("review_flags_job", "refresh-flags", what=_("Recomputing flags"),
                   match=lambda a: a["dataset"] == dataset)

with tab_stats:
    everything = st.toggle(_("All datasets"), key="review_stats_all")
    stats = guarded(review.stats, None if everything else dataset)
    figs = review.figures(stats) if stats else {}
    if not figs:
        st.info(_("No decisions yet."))
    for name in ("template", "model", "flag", "throughput"):
        if name in figs:
            st.plotly_chart(figs[name], key=f"review_chart_{name}")
