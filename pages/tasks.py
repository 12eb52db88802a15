"""My tasks: the review, rating and A/B vote items assigned to you, one at a time, with the task's guidelines
beside them; for admins and engineers also creating tasks, their progress and agreement, and reassigning open
items.

With accounts, "you" is the signed-in account and only admins and engineers see the second part. Without
accounts (a single-user studio) you type your name, as on the Review and Compare pages, and the second part is
there too: people are then typed names.
"""
import pandas as pd
import streamlit as st

from pages.ui import account as current_account
from pages.ui import guarded
from studio.core.errors import StudioError
from studio.core.i18n import _, ngettext
from studio.core.labels import label, options
from studio.data.review import REJECT_REASONS
from studio.data.samples import ORIGINS, origin_label
from studio.evaluate import ratings
from studio.service import task_stats, tasks

st.title(_("My tasks"))
st.caption(_("Review and rating work shared among people: each item goes to as many people as the task's "
             "overlap says. Your open items come one at a time, in the same order on every visit."))

user = current_account()
manager = tasks.may_manage(user)
if user is None:
    if "tasks_person" not in st.session_state:
        st.session_state["tasks_person"] = st.query_params.get("person", "")
    person = st.text_input(_("Your name"), key="tasks_person", placeholder=_("the name your items were given to"),
                           help=_("This studio has no accounts: tasks go to typed names.")).strip()
    if person:
        st.query_params["person"] = person
else:
    person = user["name"]


def _say(kind: str, text: str, where: str = "work") -> None:
    st.session_state[f"tasks_message_{where}"] = (kind, text)


def _said(where: str) -> None:
    message = st.session_state.pop(f"tasks_message_{where}", None)
    if message:
        (st.success if message[0] == "success" else st.error)(message[1])


def _decide(task_id: int, s: dict, action: str, keys: dict) -> None:
    """A button's callback: the decision with the edited fields (accept) or the chosen reason (reject)."""
    edits = {field: st.session_state.get(key) for field, key in keys.items()}
    reason = (st.session_state.get("tasks_reason_text") or "").strip() or st.session_state.get("tasks_reason")
    try:
        done = tasks.decide(task_id, person, s["id"], s["version"], action,
                            reason=reason if action == "reject" else None, edits=edits if action == "accept" else None)
    except StudioError as err:  # e.g. another reviewer changed the sample meanwhile: it is shown again
        _say("error", str(err))
        return
    _say("success", _("Rejected.") if action == "reject" else
         (_("Accepted with your edits.") if done["edited"] else _("Accepted.")))


def _review_item(task_id: int, view: dict) -> None:
    s = view["sample"]
    if s is None:
        st.warning(_("This sample no longer exists."))
        return
    k = f"tasks_{task_id}_{s['id']}_{s['version']}"
    keys = {"instruction": f"{k}_instruction", "output": f"{k}_output"}
    st.text_area(_("Instruction"), s["instruction"], key=keys["instruction"], height=110)
    if s["input"]:
        keys["input"] = f"{k}_input"
        st.text_area(_("Input"), s["input"], key=keys["input"], height=70)
    st.text_area(_("Output"), s["output"], key=keys["output"], height=110)
    st.caption(_("origin {origin} · type {qtype} · status {status}").format(
        origin=origin_label(s["origin"]), qtype=label("qtype", s.get("qtype")) or "-",
        status=label("status", s["status"])))
    if s.get("passage_text"):
        with st.expander(_("Source passage")):
            st.text(s["passage_text"])
    b1, b2 = st.columns(2)
    b1.button(_("Accept"), type="primary", key="tasks_accept", on_click=_decide,
              args=(task_id, s, "accept", keys), help=_("saves your edits, if any"), width="stretch")
    b2.button(_("Reject"), key="tasks_reject", on_click=_decide, args=(task_id, s, "reject", keys),
              help=_("with the reason below"), width="stretch")
    r1, r2 = st.columns(2)
    r1.selectbox(_("Reject reason"), REJECT_REASONS, key="tasks_reason", format_func=_)
    r2.text_input(_("Other reason"), key="tasks_reason_text")


def _rate(task_id: int, gid: int) -> None:
    score = st.session_state.get(f"tasks_score_{task_id}_{gid}")
    if score is None:
        _say("error", _("Choose a rating from 1 to 5 first."))
        return
    try:
        tasks.rate(task_id, person, gid, score, st.session_state.get(f"tasks_note_{task_id}_{gid}"))
    except StudioError as err:
        _say("error", str(err))
        return
    _say("success", _("Rated {score}.").format(score=score))


def _rating_item(task_id: int, view: dict) -> None:
    gid = view["generation_id"]
    st.markdown(_("**Prompt**"))
    st.text(view["prompt"])  # as written: line breaks kept, no Markdown read into * _ #
    st.markdown(_("**Output** · written by {system}").format(system=view["system"]) if view["system"]
                else _("**Output** · system hidden (blind rating)"))
    with st.container(border=True):
        st.text(view["output"] or _("(empty)"))
    st.radio(_("Rating"), list(ratings.SCORES), index=None, horizontal=True, key=f"tasks_score_{task_id}_{gid}",
             format_func=lambda n: _("{n} · {meaning}").format(n=n, meaning=_(ratings.SCALE[n])))
    st.text_input(_("Comment"), key=f"tasks_note_{task_id}_{gid}")
    st.button(_("Save rating"), type="primary", key="tasks_rate", on_click=_rate, args=(task_id, gid))


def _vote(task_id: int, prompt_id: int, winner: str) -> None:
    try:
        tasks.vote(task_id, person, prompt_id, winner)
    except StudioError as err:
        _say("error", str(err))
        return
    _say("success", _("Voted: {vote}.").format(vote=_(ratings.VOTE_NAMES[winner])))


def _arena_item(task_id: int, view: dict) -> None:
    """The prompt, outputs A and B side by side (systems hidden in a blind task), and the four votes."""
    st.markdown(_("**Prompt**"))
    st.text(view["prompt"])
    for col, side in zip(st.columns(2), ("a", "b")):
        system = view[f"system_{side}"]
        col.markdown(f"**{side.upper()}**" + (f" · {system}" if system else ""))
        with col.container(border=True):
            st.text(view[side] or _("(empty)"))
    for col, (winner, text) in zip(st.columns(len(ratings.VOTE_NAMES)), ratings.VOTE_NAMES.items()):
        col.button(_(text), key=f"tasks_vote_{winner}", on_click=_vote, args=(task_id, view["prompt_id"], winner),
                   type="primary" if winner in ("a", "b") else "secondary", width="stretch")


def _skip(task_id: int, n: int) -> None:
    key = f"tasks_at_{task_id}"
    st.session_state[key] = (st.session_state.get(key, 0) + 1) % max(n, 1)


def my_work() -> None:
    """The signed-in (or named) person's tasks, and their open items one at a time."""
    if not person:
        st.info(_("Enter your name to see the items given to you."))
        return
    mine = tasks.my_tasks(person)
    if not mine:
        st.info(_("Nothing is given to you yet: create a task under New task.") if manager else
                _("No tasks for you yet: an admin or engineer gives you work on this page."))
        return
    by_id = {t["id"]: t for t in mine}
    chosen = st.selectbox(_("Task"), list(by_id), key="tasks_pick", format_func=lambda i: _(
        "{name} · {kind} · {open} open of {assigned}").format(name=by_id[i]["name"], kind=tasks.kind_label(
            by_id[i]["kind"]), open=by_id[i]["open"], assigned=by_id[i]["assigned"]))
    t = by_id[chosen]
    st.progress(t["done"] / max(t["assigned"], 1), text=_("You have done {done} of {assigned} items.").format(
        done=t["done"], assigned=t["assigned"]))
    _said("work")
    work, guide = st.columns([2, 1])
    with guide, st.container(border=True):
        st.markdown(_("**Guidelines**"))
        st.markdown(t["guidelines"] or _("This task has no guidelines."))
    with work:
        items = tasks.open_items(t["id"], person)
        if not items:
            st.success(_("Nothing left for you in this task."))
            return
        at = st.session_state.get(f"tasks_at_{t['id']}", 0) % len(items)
        st.caption(_("Item {n} of your {total} open items").format(n=at + 1, total=len(items)))
        view = guarded(tasks.item, t["id"], person, items[at]["item_id"])
        if view is not None:
            {"review": _review_item, "rating": _rating_item, "arena": _arena_item}[view["kind"]](t["id"], view)
        if len(items) > 1:
            st.button(_("Skip for now"), key="tasks_skip", on_click=_skip, args=(t["id"], len(items)))


def _people_picker(kind: str, key: str) -> list[str]:
    """Accounts whose role does this work; without accounts, typed names."""
    if user is None:
        typed = st.text_input(_("People (names, comma-separated)"), key=f"{key}_typed")
        return [n.strip() for n in typed.replace("，", ",").split(",") if n.strip()]
    from studio.service import accounts

    fit = [u["name"] for u in accounts.list_users() if u["role"] in tasks.WORKERS[kind]]
    return st.multiselect(_("People"), fit, key=f"{key}_{kind}")


def _source(kind: str) -> dict | None:
    """The dataset and filter of a review task, or the comparison of a rating or arena task."""
    if kind == "review":
        from studio.data.review import datasets_to_review

        sets = [d["name"] for d in datasets_to_review()]
        if not sets:
            st.info(_("No sample datasets yet: generate samples or import pairs first."))
            return None
        c1, c2, c3, c4 = st.columns(4)
        any_label = {"": _("(any)")}
        return {"dataset": c1.selectbox(_("Dataset"), sets, key="tasks_new_dataset"),
                "status": c2.selectbox(_("Status"), list(tasks.STATUSES), key="tasks_new_status",
                                       format_func=lambda v: _("all") if v == "all" else label("status", v)),
                "qtype": c3.selectbox(_("Question type"), ["", *options("qtype")], key="tasks_new_qtype",
                                      format_func=lambda v: any_label.get(v) or label("qtype", v)),
                "origin": c4.selectbox(_("Origin"), ["", *ORIGINS], key="tasks_new_origin",
                                       format_func=lambda v: any_label.get(v) or origin_label(v))}
    from studio.evaluate import comparisons

    found = {c["id"]: c for c in comparisons.list_all()}
    if not found:
        st.info(_("No comparisons yet: open one on the Compare page first."))
        return None
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    cid = c1.selectbox(_("Comparison"), list(found), key="tasks_new_comparison",
                       format_func=lambda i: _("#{id} {name}").format(id=i, name=found[i]["name"]))
    return {"comparison": cid, "blind": c2.checkbox(_("Blind: hide which system wrote each output"), value=True,
                                                    key="tasks_new_blind")}


def create_form() -> None:
    kinds = {k: tasks.kind_label(k) for k in tasks.KINDS}
    kind = st.segmented_control(_("Kind"), list(kinds), format_func=kinds.get, default="review",
                                key="tasks_new_kind") or "review"
    source = _source(kind)
    if source is None:
        return
    people = _people_picker(kind, "tasks_new_people")
    c1, c2 = st.columns([1, 2])
    most = max(len(people), 1)
    if st.session_state.get("tasks_new_overlap", 1) > most:  # fewer people chosen than the overlap had
        st.session_state["tasks_new_overlap"] = most
    overlap = c1.number_input(_("Overlap (people per item)"), 1, most, 1, key="tasks_new_overlap")
    name = c2.text_input(_("Name (optional)"), key="tasks_new_name")
    guidelines = st.text_area(_("Guidelines"), key="tasks_new_guidelines",
                              placeholder=_("What to look for, with an example of a good and a bad item"))
    if st.button(_("Create task"), type="primary", key="tasks_create", disabled=not people):
        made = guarded(tasks.create, kind, people=people, overlap=int(overlap), guidelines=guidelines,
                       name=name, by=user, **source)
        if made:
            st.success(_("Created task {name}: {items} items, {assigned} assignments.").format(**made))


def _agreement_text(a: dict) -> str:
    if a["metric"] == "krippendorff_alpha_ordinal":
        return _("not defined yet") if a["alpha"] is None else f"{a['alpha']:.3f}"
    return _("not defined yet") if a["share"] is None else f"{a['share']:.0%}"


def _reassign_form(shown: dict) -> None:
    task = shown["task"]
    holders = [p["person"] for p in shown["people"] if p["open"]]
    if not holders:
        return
    st.markdown(_("**Reassign open items**"))
    c1, c2, c3 = st.columns([1, 1, 1], vertical_alignment="bottom")
    source = c1.selectbox(_("From"), holders, key=f"tasks_from_{task['id']}")
    if user is None:
        target = c2.text_input(_("To"), key=f"tasks_to_{task['id']}")
    else:
        from studio.service import accounts

        fit = [u["name"] for u in accounts.list_users() if u["role"] in tasks.WORKERS[task["kind"]]
               and u["name"] != source]
        target = c2.selectbox(_("To"), fit, key=f"tasks_to_{task['id']}", index=None)
    if c3.button(_("Reassign"), key=f"tasks_reassign_{task['id']}", disabled=not target):
        moved = guarded(tasks.reassign, task["id"], source, target, by=user)
        if moved:
            _say("success", ngettext("{moved} open item moved from {source} to {target}; {kept} kept.",
                                     "{moved} open items moved from {source} to {target}; {kept} kept.",
                                     moved["moved"]).format(moved=moved["moved"], kept=moved["kept"],
                                                            source=source, target=target), "manage")
            st.rerun()


def overview() -> None:
    """Every task's progress; one task's progress per person, agreement, and reassigning."""
    found = task_stats.list_tasks()
    if not found:
        st.info(_("No tasks yet."))
        return
    st.dataframe(pd.DataFrame([{
        _("Task"): t["id"], _("Name"): t["name"], _("Kind"): tasks.kind_label(t["kind"]), _("Overlap"): t["overlap"],
        _("Items done"): f"{t['done']} / {t['items']}",
        _("Assignments done"): f"{t['assignments_done']} / {t['assigned']}", _("People"): ", ".join(t["people"]),
    } for t in found]), hide_index=True, width="stretch")
    by_id = {t["id"]: t for t in found}
    chosen = st.selectbox(_("Task"), list(by_id), key="tasks_manage_pick",
                          format_func=lambda i: _("#{id} {name}").format(id=i, name=by_id[i]["name"]))
    _said("manage")
    shown = guarded(task_stats.show, chosen)
    if shown is None:
        return
    t, a = shown["task"], shown["agreement"]
    m1, m2, m3 = st.columns(3)
    m1.metric(_("Items done"), f"{t['done']} / {t['items']}")
    m2.metric(_("Assignments done"), f"{t['assignments_done']} / {t['assigned']}")
    m3.metric({"krippendorff_alpha_ordinal": _("Krippendorff's alpha (ordinal)"),
               "pairwise_agreement": _("Vote pairs that agree")}.get(a["metric"], _("Items decided alike")),
              _agreement_text(a),
              help=ngettext("over {n} item done by two or more people", "over {n} items done by two or more people",
                            a["items"]).format(n=a["items"]))
    st.plotly_chart(task_stats.progress_figure(shown), key=f"tasks_chart_{chosen}")
    _reassign_form(shown)


if manager:
    work_tab, create_tab, overview_tab = st.tabs([_("My items"), _("New task"), _("Progress")])
    with work_tab:
        my_work()
    with create_tab:
        create_form()
    with overview_tab:
        overview()
else:
    my_work()
