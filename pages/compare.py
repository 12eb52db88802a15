"""Compare: a prompt set answered by the base model, chosen runs and API systems, side by side; rate and vote.

API systems are OpenAI-compatible endpoints (label, model, URL, the name of the key's variable; the key
is read from the environment or Streamlit secrets, never stored); the commands that serve the chosen
runs on vLLM or LLaMA-Factory show under "Serve the chosen runs", to compare big models as API systems.
An empty output says why (end-of-sequence first, max new tokens, a failed request); after a vote the
arena moves to the next pair you have not voted on.

Choose the prompts and the systems, generate what is missing (a job of the server: it goes on when the
page closes; stored: reopening generates nothing), then read the grid (prompts down, systems across,
with the reference), rate outputs 1-5 with a comment, blind ("System 1..K" shuffled per prompt, names
revealed once you rated them all) or open, and vote A/B in the arena. Results, exam accuracy and the
judge are on the Results page. Number fields are checked by ``studio.evaluate.limits``: out of range,
the reason shows and the button that would start the work stays disabled.
"""
import streamlit as st

from pages.ui import account as current_account
from pages.ui import guarded, secret_keys, shown_errors
from studio.core.i18n import N_, _, ngettext
from studio.core.labels import label
from studio.evaluate import comparisons, limits, prompt_sets, ratings, serve_commands
from studio.evaluate import systems as api_systems
from studio.evaluate.inference import DEFAULT_MAX_NEW_TOKENS, PRESET_HELP, PRESETS
from studio.service import jobs
from studio.service import kinds_evaluate as evaluate_jobs

st.title(_("Compare"))
st.caption(_("Answer a prompt set with the base model and your runs, read the answers side by side, rate them "
             "1-5 (blind if you like) or vote A/B. The comparison and your name stay in the URL, so a reload "
             "or a shared link opens the same place."))
PAGE_SIZE = 5
VIEWS = {"Grid": N_("Grid"), "Blind rating": N_("Blind rating"), "Arena": N_("Arena")}
VOTED = {"a": N_("Your vote: a, A is better (A = {a}, B = {b})"),
         "b": N_("Your vote: b, B is better (A = {a}, B = {b})"),
         "tie": N_("Your vote: tie (A = {a}, B = {b})"), "both_bad": N_("Your vote: both bad (A = {a}, B = {b})")}
SCALE_HELP = " · ".join(f"{n} {_(text)}" for n, text in ratings.SCALE.items())
qp = st.query_params


def refused(*checks) -> list[str]:
    """The reasons the values are out of range, each shown as a warning (the caller disables its button)."""
    reasons = limits.problems(*checks)
    for reason in reasons:
        st.warning(reason, icon=":material/block:")
    return reasons


def method_name(method: str) -> str:
    return label("method", "ptuning" if method == "prefix" else method)


def prompt_set_added(r: dict) -> None:
    st.session_state["compare_set"] = r["prompt_set"]
    text = ngettext("{n} prompt: {name}", "{n} prompts: {name}", r["prompts"]).format(n=r["prompts"], name=r["name"])
    st.success(text + (_(" (already imported)") if r.get("reused") else ""))


def add_api_system():
    """An OpenAI-compatible endpoint as a system: label, model, URL and the NAME of its key's variable."""
    with st.form("compare_api_form", enter_to_submit=False, border=False):
        a1, a2, a3, a4 = st.columns(4)
        name = a1.text_input(_("Label"), placeholder=api_systems.EXAMPLE["label"], key="compare_api_label")
        model = a2.text_input(_("Model"), placeholder=api_systems.EXAMPLE["model"], key="compare_api_model")
        url = a3.text_input(_("Base URL"), placeholder=api_systems.EXAMPLE["base_url"],
                            key="compare_api_url")
        env = a4.text_input(_("Key variable (optional)"), key="compare_api_env",
                            placeholder=api_systems.EXAMPLE["key_env"],
                            help=_("the name of the environment variable or Streamlit secret that holds the key; "
                                   "empty: the studio's default; the key itself is never stored"))
        if st.form_submit_button(_("Save API system")):
            added = guarded(api_systems.add, name, model, url, env)
            if added:  # the API systems box above is drawn already: run again so it offers the new one
                st.session_state["compare_api_saved"] = added.label
                st.rerun()
    if saved := st.session_state.pop("compare_api_saved", None):
        st.success(_("Saved {label}: choose it under API systems").format(label=saved))


def serve_help(run_ids):
    """The commands that serve the chosen runs on a GPU server, and the API systems that compare them."""
    if not run_ids:
        st.caption(_("Choose runs above to see the commands that serve them."))
        return
    found = guarded(serve_commands.commands, run_ids)
    if found:
        st.caption(_("vLLM: the base model and every adapter in one server, then add these API systems:"))
        st.code(found["vllm"]["command"] + "\n\n" + "\n".join(f"--api {a}" for a in found["vllm"]["apis"]),
                language="bash", wrap_lines=True)
        st.caption(_("LLaMA-Factory: one OpenAI-compatible server per adapter:"))
        st.code("\n".join(f"{c['command']}\n--api {c['api']}" for c in found["llamafactory"]), language="bash",
                wrap_lines=True)


def shown(out):
    """An output as written, or why it is empty; a caption when it was cut off."""
    st.text(api_systems.shown(out))
    if api_systems.note(out):
        st.caption(api_systems.note(out))


# ---------------------------------------------------------------- prompt sets

with st.expander(_("Add a prompt set"), expanded=not prompt_sets.list_sets()):
    t_upload, t_snapshot, t_exam = st.tabs([_("Upload files"), _("Snapshot validation split"), _("Exam dataset")])
    with t_upload:
        files = st.file_uploader(_("JSON array of prompts (DreamerGPT `test_data`: the file name is the category) "
                                   "or JSON lines with `prompt`, `category`, `reference`"), type=["json", "jsonl"],
                                 accept_multiple_files=True, key="compare_upload")
        set_name = st.text_input(_("Name (optional)"), key="compare_upload_name")
        if st.button(_("Import prompts"), key="compare_import", disabled=not files):
            r = guarded(prompt_sets.import_uploads, [(f.name, f.getvalue()) for f in files], name=set_name or None)
            if r:
                prompt_set_added(r)
    with t_snapshot:
        from studio.data import snapshots

        snaps = guarded(snapshots.list_all) or []
        if snaps:
            names = {s["id"]: ngettext("{name} · {n} validation sample", "{name} · {n} validation samples",
                                       s["n_validation"]).format(name=s["name"], n=s["n_validation"]) for s in snaps}
            snap = st.selectbox(_("Snapshot"), list(names), key="compare_snapshot", format_func=names.get)
            if st.button(_("Use its validation split"), key="compare_from_snapshot"):
                r = guarded(prompt_sets.from_snapshot, snap)
                if r:
                    prompt_set_added(r)
        else:
            st.caption(_("No snapshots yet: freeze a dataset with a validation share on the Snapshots page."))
    with t_exam:
        from studio.evaluate import exam_accuracy

        exams = exam_accuracy.datasets()
        if exams:
            exam = st.selectbox(_("Exam dataset"), [e["name"] for e in exams], key="compare_exam")
            limit = st.number_input(_("First N questions (0: all)"), value=0, step=1, key="compare_exam_limit")
            bad = refused((limits.QUESTIONS, limit))
            if st.button(_("Use its questions"), key="compare_from_exam", disabled=bool(bad)):
                r = guarded(prompt_sets.from_exam, exam, limit=int(limit) or None)
                if r:
                    prompt_set_added(r)
        else:
            st.caption(_("No exam datasets yet: import an exam bank first."))

sets = prompt_sets.list_sets()
if not sets:
    st.info(_("Add a prompt set to start: upload DreamerGPT's `test_data` or a JSON lines file."))
    st.stop()

# ---------------------------------------------------------------- systems and decoding

ids = [s["id"] for s in sets]
if st.session_state.get("compare_set") not in ids:
    st.session_state["compare_set"] = ids[0]
runs = comparisons.available_runs()
run_labels = {r["id"]: f"{r['label']} · {method_name(r['method'])}" for r in runs}
set_labels = {s["id"]: ngettext("{name} · {n} prompt", "{name} · {n} prompts", s["prompts"]).format(
    name=s["name"], n=s["prompts"]) for s in sets}
with st.container(border=True):
    c1, c2 = st.columns([1, 2])
    set_id = c1.selectbox(_("Prompt set"), ids, key="compare_set", format_func=set_labels.get)
    chosen = c2.multiselect(_("Runs"), list(run_labels), key="compare_runs", format_func=run_labels.get,
                            placeholder=_("finished runs with an adapter") if runs else _("no finished runs yet"))
    apis = {a.label: a for a in api_systems.list_all()}
    chosen_apis = st.multiselect(_("API systems"), list(apis), key="compare_apis",
                                 format_func=lambda a: f"{a} · {apis[a].model}",
                                 placeholder=_("OpenAI-compatible endpoints (ChatGPT, DeepSeek, Qwen, Ollama, vLLM)")
                                 if apis else _("no API systems yet: add one below"))
    c3, c4, c5, c6 = st.columns([1, 2, 1, 1])
    with_base = c3.checkbox(_("Base model"), value=True, key="compare_with_base",
                            help=_("the base model without adapter is one of the systems"))
    base_model = c4.text_input(_("Base model"), key="compare_base_model",
                               placeholder=comparisons.default_base_model(chosen),
                               help=_("model folder of the base system; empty: the first run's base model "
                                      "(the demo model when no run is chosen)"))
    preset = c5.selectbox(_("Decoding"), list(PRESETS), key="compare_preset", format_func=lambda p: _(PRESET_HELP[p]))
    max_new = c6.number_input(_("Max new tokens"), value=min(DEFAULT_MAX_NEW_TOKENS, 64), step=1,
                              key="compare_max_new",
                              help=_("at most this many tokens per answer ({low}-{high})").format(
                                  low=int(limits.MAX_NEW_TOKENS.low), high=int(limits.MAX_NEW_TOKENS.high)))
    bad = refused((limits.MAX_NEW_TOKENS, max_new))
    if not (chosen or with_base or chosen_apis):
        st.caption(_("Choose at least one run or API system, or keep the base model, to open a comparison."))
    if st.button(_("Open comparison"), type="primary", key="compare_open",
                 disabled=bool(bad) or not (chosen or with_base or chosen_apis)):
        comp = guarded(comparisons.open_comparison, set_id, chosen, base_model=base_model.strip() or None,
                       preset=preset, max_new_tokens=max_new, include_base=with_base, apis=chosen_apis)
        if comp:
            st.session_state["compare_id"] = comp["id"]
            st.session_state["compare_page"] = 0
    with st.expander(_("Add an API system")):
        add_api_system()
    with st.expander(_("Serve the chosen runs on vLLM or LLaMA-Factory")):
        serve_help(chosen)

saved = comparisons.list_all()
if not saved:
    st.info(_("No comparison yet: choose the systems above and press Open comparison."))
    st.stop()
saved_ids = [c["id"] for c in saved]
if "compare_id" not in st.session_state and str(qp.get("comparison", "")).isdigit():  # a reload or a shared link
    st.session_state["compare_id"] = int(qp["comparison"])
if st.session_state.get("compare_id") not in saved_ids:
    st.session_state["compare_id"] = saved_ids[0]
comparison_names = {c["id"]: f"#{c['id']} {c['name']}" for c in saved}
cid = st.selectbox(_("Comparison"), saved_ids, key="compare_id", format_func=comparison_names.get)

qp["comparison"] = str(cid)
grid = comparisons.grid(cid)


@st.fragment(run_every=1)
def generation(job_id):
    """The generation job's progress, read from its row every second; the whole page reruns when it ends."""
    job = jobs.get(job_id)
    if job["state"] not in ("queued", "running"):
        st.rerun()
    done, total = job["done"] or 0, job["total"] or 0
    text = (_("Generating: waiting for the model (another model job runs)") if job["state"] == "queued"
            else _("Generating: {message}").format(message=job["message"] or _("loading the model…")))
    st.progress(min(done / total, 1.0) if total else 0.0, text=text)
    if st.button(_("Cancel"), key="compare_cancel", help=_("stops after the batch in flight; what is generated stays")):
        guarded(jobs.cancel, job_id)


# the generation runs as a job of the server: this page (or another user's, or a reload) only follows it
job = evaluate_jobs.current("compare", st.session_state.get("compare_job"), comparison=cid)
if job and job["state"] in ("queued", "running"):
    generation(job["id"])
elif job:  # this session's job ended: say how, once
    del st.session_state["compare_job"]
    if job["state"] == "done":
        st.success(evaluate_jobs.done_message(job))
    elif job["state"] == "failed":
        st.error(job["message"], icon=":material/error:")
    else:
        st.info(_("Generation {state}: what was generated is kept; generate again for the rest.").format(
            state=label("state", job["state"])))
if grid["missing"] and not (job and job["state"] in ("queued", "running")):
    n = grid["missing"]
    st.warning(ngettext("{n} output not generated yet.", "{n} outputs not generated yet.", n).format(n=n)
               + (" " + ngettext("{n} request failed: generating asks it again.",
                                 "{n} requests failed: generating asks them again.",
                                 grid["failed"]).format(n=grid["failed"]) if grid["failed"] else ""))
    if st.button(ngettext("Generate {n} output", "Generate {n} outputs", n).format(n=n), type="primary",
                 key="compare_generate"):
        started = guarded(evaluate_jobs.start_compare, cid, keys=secret_keys(grid["comparison"]["systems"]))
        if started:
            st.session_state["compare_job"] = started["id"]
            st.rerun()

# ---------------------------------------------------------------- rating

systems = grid["systems"]
labels = {s["id"]: s["label"] for s in systems}
account = current_account()  # with accounts the rater is the signed-in account, not a typed name
if account is None and "compare_rater" not in st.session_state and qp.get("rater"):
    st.session_state["compare_rater"] = qp["rater"]
name_col, hint_col = st.columns([1, 2], vertical_alignment="bottom")
if account is not None:
    rater = name_col.text_input(_("Your name (rater)"), value=account["name"], disabled=True)
else:
    rater = name_col.text_input(_("Your name (rater)"), key="compare_rater",
                                placeholder=_("needed to rate and vote")).strip()
if not rater:  # the hint sits next to the box it is about
    hint_col.info(_("Enter your name to rate and vote: your ratings and votes are saved under it."),
                  icon=":material/badge:")
if rater and account is None:
    qp["rater"] = rater
elif "rater" in qp:
    del qp["rater"]
prog = ratings.progress(cid)
mine = ratings.progress(cid, rater) if rater else {"rated": 0}
total = max(prog["total"], 1)
st.progress(prog["rated"] / total, text=_("rated {rated} / {total} outputs · {raters} raters · you {mine}").format(
    rated=prog["rated"], total=prog["total"], raters=prog["raters"], mine=mine["rated"]))

mode = st.radio(_("View"), list(VIEWS), horizontal=True, key="compare_mode", format_func=lambda v: _(VIEWS[v]))
prompt_rows = [p for p in grid["prompts"] if comparisons.answered(p)]
if not prompt_rows:
    st.info(_("Generate the outputs to rate them."))
    st.stop()


def _reference(p):
    if p["reference"]:
        st.caption(_("Reference"))
        st.text(p["reference"])


def _save_ratings(p, order):
    """Store the form's ratings of one prompt (only the outputs given a score)."""
    with shown_errors():
        for sid in order:
            gid = p["outputs"][sid]["generation_id"]
            score = st.session_state.get(f"compare_score_{gid}_{rater}")
            if score is not None:
                ratings.rate(gid, rater, score, st.session_state.get(f"compare_note_{gid}_{rater}"),
                             prompt_id=p["prompt_id"])
        st.rerun()


def rating_card(p, blind, my):
    """One prompt with its outputs across and a 1-5 rating under each; Enter never saves, the button does."""
    st.markdown(f"**{p['ord'] + 1}.** `{p['category'] or '—'}`")
    st.text(p["prompt"])  # as written: line breaks kept, no Markdown read into * _ #
    _reference(p)
    answered = comparisons.answered(p)   # a failed request is no answer to rate: it says why below
    order = comparisons.blind_order(cid, p["prompt_id"], answered) if blind else answered
    all_rated = bool(rater) and all(p["outputs"][s]["generation_id"] in my for s in order)
    with st.form(f"compare_form_{cid}_{p['prompt_id']}", border=False, enter_to_submit=False):
        cols = st.columns(len(order))
        for n, (col, sid) in enumerate(zip(cols, order), start=1):
            out = p["outputs"][sid]
            gid = out["generation_id"]
            prev = my.get(gid)
            with col:
                st.markdown("**{name}**".format(name=_("System {n}").format(n=n) if blind and not all_rated
                                                else labels[sid]))
                shown(out)
                st.radio(_("Rating"), list(ratings.SCORES), index=(prev["score"] - 1) if prev else None,
                         horizontal=True, key=f"compare_score_{gid}_{rater}", disabled=not rater, help=SCALE_HELP)
                st.text_input(_("Comment"), value=(prev or {}).get("comment") or "",
                              key=f"compare_note_{gid}_{rater}", disabled=not rater)
        if st.form_submit_button(_("Save ratings"), disabled=not rater):
            _save_ratings(p, order)
    for sid in [s for s in p["outputs"] if s not in answered]:
        st.caption(f"{labels[sid]}: {api_systems.shown(p['outputs'][sid])}")
    if blind and all_rated:
        pairs = ", ".join(_("System {n} = {name}").format(n=n, name=labels[s]) for n, s in enumerate(order, 1))
        st.caption(_("Revealed: {pairs}").format(pairs=pairs))


def arena():
    """Two answers to one prompt as A and B; the names show once you voted, and a vote moves to the next pair."""
    duels = ratings.arena_prompts(cid)
    i = int(st.session_state.get("compare_arena_i", 0))
    p, a, b = ratings.arena_at(cid, i, duels)
    ga, gb = p["outputs"][a]["generation_id"], p["outputs"][b]["generation_id"]
    voted = ratings.my_votes(cid, rater).get(frozenset((ga, gb))) if rater else None
    last = st.session_state.pop("compare_arena_voted", None)   # the vote that brought us here
    if last:
        st.success(_(VOTED[last["winner"]]).format(a=last["a"], b=last["b"]) + " " + _("Next pair:"))
    st.markdown(_("**Prompt {n}** `{category}`").format(n=p["ord"] + 1, category=p["category"] or "—"))
    st.text(p["prompt"])
    _reference(p)
    ca, cb = st.columns(2)
    with ca:
        st.markdown("**A**" + (f" — {labels[a]}" if voted else ""))
        shown(p["outputs"][a])
    with cb:
        st.markdown("**B**" + (f" — {labels[b]}" if voted else ""))
        shown(p["outputs"][b])
    *vote_cols, next_col = st.columns(5)
    for col, (winner, text) in zip(vote_cols, ratings.VOTE_NAMES.items()):
        if col.button(_(text), key=f"compare_vote_{winner}", disabled=not rater, use_container_width=True):
            if guarded(ratings.vote, p["prompt_id"], ga, gb, winner, rater) is not None:
                st.session_state["compare_arena_voted"] = {"winner": winner, "a": labels[a], "b": labels[b]}
                st.session_state["compare_arena_i"] = ratings.next_duel(cid, rater, i, duels)
                st.rerun()
    if next_col.button(_("Next pair"), key="compare_arena_next", use_container_width=True):
        st.session_state["compare_arena_i"] = i + 1
        st.rerun()
    if voted:
        st.success(_(VOTED[voted["winner"]]).format(a=labels[a], b=labels[b]))


if mode in ("Grid", "Blind rating"):
    pages = max(1, -(-len(prompt_rows) // PAGE_SIZE))
    page = st.number_input(_("Page (of {pages})").format(pages=pages), 1, pages, 1, key="compare_page_no") - 1
    my = ratings.my_ratings(cid, rater) if rater else {}
    for p in prompt_rows[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]:
        with st.container(border=True):
            rating_card(p, mode == "Blind rating", my)
elif len(systems) < 2 or not ratings.arena_prompts(cid):
    st.info(_("The arena needs at least two systems: open a comparison with two or more."))
else:
    arena()
