"""Compare: a prompt set answered by the base model and chosen runs, side by side; rate and vote.

Choose the prompts and the systems, generate what is missing (a job of the server: it goes on when the
page closes; stored: reopening generates nothing), then read the grid (prompts down, systems across,
with the reference), rate outputs 1-5 with a comment, blind ("System 1..K" shuffled per prompt, names
revealed once you rated them all) or open, and vote A/B in the arena. Results, exam accuracy and the
judge are on the Results page.
"""
import streamlit as st

from pages.ui import guarded, shown_errors
from studio.evaluate import comparisons, prompt_sets, ratings
from studio.evaluate.inference import DEFAULT_MAX_NEW_TOKENS, PRESET_HELP, PRESETS
from studio.service import jobs
from studio.service import kinds_evaluate as evaluate_jobs

st.title("Compare")
st.caption("Answer a prompt set with the base model and your runs, read the answers side by side, rate them "
           "1-5 (blind if you like) or vote A/B. The comparison and your name stay in the URL, so a reload "
           "or a shared link opens the same place.")
PAGE_SIZE = 5
qp = st.query_params

# ---------------------------------------------------------------- prompt sets

with st.expander("Add a prompt set", expanded=not prompt_sets.list_sets()):
    t_upload, t_snapshot, t_exam = st.tabs(["Upload files", "Snapshot validation split", "Exam dataset"])
    with t_upload:
        files = st.file_uploader("JSON array of prompts (DreamerGPT test_data: the file name is the category) "
                                 "or JSON lines with prompt, category, reference", type=["json", "jsonl"],
                                 accept_multiple_files=True, key="compare_upload")
        set_name = st.text_input("Name (optional)", key="compare_upload_name")
        if st.button("Import prompts", key="compare_import", disabled=not files):
            r = guarded(prompt_sets.import_uploads, [(f.name, f.getvalue()) for f in files], name=set_name or None)
            if r:
                st.session_state["compare_set"] = r["prompt_set"]
                st.success(f"{r['prompts']} prompts in {r['categories']} categories: {r['name']}"
                           + (" (already imported)" if r["reused"] else ""))
    with t_snapshot:
        from studio.data import snapshots

        snaps = guarded(snapshots.list_all) or []
        if snaps:
            snap = st.selectbox("Snapshot", [s["id"] for s in snaps], key="compare_snapshot",
                                format_func=lambda i: next(f"{s['name']} · {s['n_validation']} validation"
                                                           for s in snaps if s["id"] == i))
            if st.button("Use its validation split", key="compare_from_snapshot"):
                r = guarded(prompt_sets.from_snapshot, snap)
                if r:
                    st.session_state["compare_set"] = r["prompt_set"]
                    st.success(f"{r['prompts']} prompts: {r['name']}")
        else:
            st.caption("No snapshots yet.")
    with t_exam:
        from studio.evaluate import exam_accuracy

        exams = exam_accuracy.datasets()
        if exams:
            exam = st.selectbox("Exam dataset", [e["name"] for e in exams], key="compare_exam")
            limit = st.number_input("First N questions (0: all)", 0, 100_000, 0, key="compare_exam_limit")
            if st.button("Use its questions", key="compare_from_exam"):
                r = guarded(prompt_sets.from_exam, exam, limit=int(limit) or None)
                if r:
                    st.session_state["compare_set"] = r["prompt_set"]
                    st.success(f"{r['prompts']} prompts: {r['name']}")
        else:
            st.caption("No exam datasets yet.")

sets = prompt_sets.list_sets()
if not sets:
    st.info("Add a prompt set to start: upload DreamerGPT's test_data or a JSON lines file.")
    st.stop()

# ---------------------------------------------------------------- systems and decoding

ids = [s["id"] for s in sets]
if st.session_state.get("compare_set") not in ids:
    st.session_state["compare_set"] = ids[0]
runs = comparisons.available_runs()
run_labels = {r["id"]: f"{r['label']} · {r['method']}" for r in runs}
with st.container(border=True):
    c1, c2 = st.columns([1, 2])
    set_id = c1.selectbox("Prompt set", ids, key="compare_set",
                          format_func=lambda i: next(f"{s['name']} · {s['prompts']} prompts" for s in sets
                                                     if s["id"] == i))
    chosen = c2.multiselect("Runs", list(run_labels), key="compare_runs", format_func=run_labels.get,
                            placeholder="finished runs with an adapter" if runs else "no finished runs yet")
    c3, c4, c5, c6 = st.columns([1, 2, 1, 1])
    with_base = c3.checkbox("Base model", value=True, key="compare_with_base",
                            help="the base model without adapter is one of the systems")
    base_model = c4.text_input("Base model", key="compare_base_model",
                               placeholder=comparisons.default_base_model(chosen),
                               help="model folder of the base system; empty: the first run's base model "
                                    "(the demo model when no run is chosen)")
    preset = c5.selectbox("Decoding", list(PRESETS), key="compare_preset", format_func=PRESET_HELP.get)
    max_new = c6.number_input("Max new tokens", 1, 4096, min(DEFAULT_MAX_NEW_TOKENS, 64), key="compare_max_new")
    if st.button("Open comparison", type="primary", key="compare_open", disabled=not (chosen or with_base)):
        comp = guarded(comparisons.open_comparison, set_id, chosen, base_model=base_model.strip() or None,
                       preset=preset, max_new_tokens=int(max_new), include_base=with_base)
        if comp:
            st.session_state["compare_id"] = comp["id"]
            st.session_state["compare_page"] = 0

saved = comparisons.list_all()
if not saved:
    st.stop()
saved_ids = [c["id"] for c in saved]
if "compare_id" not in st.session_state and str(qp.get("comparison", "")).isdigit():  # a reload or a shared link
    st.session_state["compare_id"] = int(qp["comparison"])
if st.session_state.get("compare_id") not in saved_ids:
    st.session_state["compare_id"] = saved_ids[0]
cid = st.selectbox("Comparison", saved_ids, key="compare_id",
                   format_func=lambda i: next(f"#{c['id']} {c['name']}" for c in saved if c["id"] == i))

qp["comparison"] = str(cid)
grid = comparisons.grid(cid)


@st.fragment(run_every=1)
def generation(job_id):
    """The generation job's progress, read from its row every second; the whole page reruns when it ends."""
    job = jobs.get(job_id)
    if job["state"] not in ("queued", "running"):
        st.rerun()
    done, total = job["done"] or 0, job["total"] or 0
    text = ("Generating: waiting for the model (another model job runs)" if job["state"] == "queued"
            else f"Generating: {job['message'] or 'loading the model…'}")
    st.progress(min(done / total, 1.0) if total else 0.0, text=text)
    if st.button("Cancel", key="compare_cancel", help="stops after the batch in flight; what is generated stays"):
        guarded(jobs.cancel, job_id)


# the generation runs as a job of the server: this page (or another user's, or a reload) only follows it
job = evaluate_jobs.current("compare", st.session_state.get("compare_job"), comparison=cid)
if job and job["state"] in ("queued", "running"):
    generation(job["id"])
elif job:  # this session's job ended: say how, once
    del st.session_state["compare_job"]
    if job["state"] == "done":
        st.success(job["message"])
    elif job["state"] == "failed":
        st.error(job["message"], icon=":material/error:")
    else:
        st.info(f"Generation {job['state']}: what was generated is kept; generate again for the rest.")
if grid["missing"] and not (job and job["state"] in ("queued", "running")):
    st.warning(f"{grid['missing']} outputs not generated yet.")
    if st.button(f"Generate {grid['missing']} outputs", type="primary", key="compare_generate"):
        started = guarded(evaluate_jobs.start_compare, cid)
        if started:
            st.session_state["compare_job"] = started["id"]
            st.rerun()

# ---------------------------------------------------------------- rating

systems = grid["systems"]
labels = {s["id"]: s["label"] for s in systems}
if "compare_rater" not in st.session_state and qp.get("rater"):
    st.session_state["compare_rater"] = qp["rater"]
name_col, hint_col = st.columns([1, 2], vertical_alignment="bottom")
rater = name_col.text_input("Your name (rater)", key="compare_rater", placeholder="needed to rate and vote").strip()
if not rater:  # the hint sits next to the box it is about
    hint_col.info("Enter your name to rate and vote: your ratings and votes are saved under it.",
                  icon=":material/badge:")
if rater:
    qp["rater"] = rater
elif "rater" in qp:
    del qp["rater"]
prog = ratings.progress(cid)
mine = ratings.progress(cid, rater) if rater else {"rated": 0}
total = max(prog["total"], 1)
st.progress(prog["rated"] / total,
            text=f"rated {prog['rated']} / {prog['total']} outputs · {prog['raters']} raters · you {mine['rated']}")

mode = st.radio("View", ["Grid", "Blind rating", "Arena"], horizontal=True, key="compare_mode")
prompt_rows = [p for p in grid["prompts"] if p["outputs"]]
if not prompt_rows:
    st.info("Generate the outputs to rate them.")
    st.stop()


def _reference(p):
    if p["reference"]:
        st.caption("Reference")
        st.text(p["reference"])


if mode in ("Grid", "Blind rating"):
    blind = mode == "Blind rating"
    pages = max(1, -(-len(prompt_rows) // PAGE_SIZE))
    page = st.number_input(f"Page (of {pages})", 1, pages, 1, key="compare_page_no") - 1
    my = ratings.my_ratings(cid, rater) if rater else {}
    for p in prompt_rows[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]:
        with st.container(border=True):
            st.markdown(f"**{p['ord'] + 1}.** `{p['category'] or '—'}`")
            st.text(p["prompt"])  # as written: line breaks kept, no Markdown read into * _ #
            _reference(p)
            order = comparisons.blind_order(cid, p["prompt_id"], list(p["outputs"])) if blind else list(p["outputs"])
            all_rated = bool(rater) and all(p["outputs"][s]["generation_id"] in my for s in order)
            with st.form(f"compare_form_{cid}_{p['prompt_id']}", border=False):
                cols = st.columns(len(order))
                for n, (col, sid) in enumerate(zip(cols, order), start=1):
                    out = p["outputs"][sid]
                    gid = out["generation_id"]
                    prev = my.get(gid)
                    with col:
                        st.markdown(f"**System {n}**" if blind and not all_rated else f"**{labels[sid]}**")
                        st.text(out["output"] or "(empty)")
                        st.radio("Rating", [1, 2, 3, 4, 5], index=(prev["score"] - 1) if prev else None,
                                 horizontal=True, key=f"compare_score_{gid}_{rater}", disabled=not rater)
                        st.text_input("Comment", value=(prev or {}).get("comment") or "", key=f"compare_note_{gid}_{rater}",
                                      disabled=not rater)
                if st.form_submit_button("Save ratings", disabled=not rater):
                    with shown_errors():
                        for sid in order:
                            gid = p["outputs"][sid]["generation_id"]
                            score = st.session_state.get(f"compare_score_{gid}_{rater}")
                            if score is not None:
                                ratings.rate(gid, rater, score, st.session_state.get(f"compare_note_{gid}_{rater}"),
                                             prompt_id=p["prompt_id"])
                        st.rerun()
            if blind and all_rated:
                st.caption("Revealed: " + ", ".join(f"System {n} = {labels[s]}" for n, s in enumerate(order, 1)))
else:
    if len(systems) < 2:
        st.info("The arena needs at least two systems.")
        st.stop()
    i = int(st.session_state.get("compare_arena_i", 0))
    p = prompt_rows[i % len(prompt_rows)]
    present = list(p["outputs"])
    a, b = comparisons.arena_pair(cid, p["prompt_id"], present, i // len(prompt_rows))
    ga, gb = p["outputs"][a]["generation_id"], p["outputs"][b]["generation_id"]
    voted = ratings.my_votes(cid, rater).get(frozenset((ga, gb))) if rater else None
    st.markdown(f"**Prompt {p['ord'] + 1}** `{p['category'] or '—'}`")
    st.text(p["prompt"])
    _reference(p)
    ca, cb = st.columns(2)
    ca.markdown("**A**" + (f" — {labels[a]}" if voted else ""))
    ca.text(p["outputs"][a]["output"] or "(empty)")
    cb.markdown("**B**" + (f" — {labels[b]}" if voted else ""))
    cb.text(p["outputs"][b]["output"] or "(empty)")
    b1, b2, b3, b4, b5 = st.columns(5)
    for col, (winner, text) in zip([b1, b2, b3, b4], [("a", "A is better"), ("b", "B is better"), ("tie", "Tie"),
                                                       ("both_bad", "Both bad")]):
        if col.button(text, key=f"compare_vote_{winner}", disabled=not rater, use_container_width=True):
            if guarded(ratings.vote, p["prompt_id"], ga, gb, winner, rater) is not None:
                st.rerun()
    if b5.button("Next pair", key="compare_arena_next", use_container_width=True):
        st.session_state["compare_arena_i"] = i + 1
        st.rerun()
    if voted:
        st.success(f"Your vote: {voted['winner'].replace('_', ' ')} (A = {labels[a]}, B = {labels[b]})")
