"""Results: what the ratings, votes, judge and exams say about the systems of a comparison.

Mean human rating per system and category with 95 % intervals, agreement between raters, the
Bradley-Terry ranking from A/B votes with bootstrap intervals, GPT-as-judge scores (DreamerGPT's
prompt or your own template) with their agreement with people, exam accuracy per type and subject
(with option shuffles), and the seeds' table (categories down, systems across) as Markdown and CSV.
Judging and exam evaluation run as jobs of the server: this page starts them and follows their progress.
The judge sends its requests in parallel; every judgement's raw verdict is shown beside the prompt it was
sent, and a prompt can be judged again. Exam accuracy covers every system kind (base, runs, API systems)
and YaYi's objective table puts the systems side by side (types and subjects down).
A chart is drawn only when it has data (else an empty state says what to do), on its score's own scale.
"""
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages.ui import api_key, guarded, secret_keys
from studio.core import settings
from studio.core.i18n import _, ngettext
from studio.core.labels import label
from studio.evaluate import comparisons, exam_accuracy, judge, limits, ratings, report
from studio.evaluate import systems as api_systems
from studio.service import jobs
from studio.service import kinds_evaluate as evaluate_jobs

st.title(_("Results"))
st.caption(_("What the ratings, A/B votes, a GPT judge and exam accuracy say about each system of a comparison "
             "(pick the comparison below); every table downloads as Markdown or CSV."))


def _bars(rows, y_title, key, *, scale, category=False):
    """Bars of means with 95 % interval whiskers on the axis 0..scale; grouped by category when asked."""
    rows = [r for r in rows if r["mean"] is not None]
    if not rows:
        st.info(_("Nothing to chart yet."))
        return
    fig = go.Figure()
    groups = sorted({r["category"] for r in rows}) if category else [None]
    for g in groups:
        sel = [r for r in rows if g is None or r["category"] == g]
        high = [min(r["high"], scale) - r["mean"] if r["high"] is not None else 0 for r in sel]
        low = [r["mean"] - max(r["low"], 0) if r["low"] is not None else 0 for r in sel]
        fig.add_bar(x=[r["label"] for r in sel], y=[r["mean"] for r in sel], name=g or y_title,
                    error_y=dict(type="data", symmetric=False, array=high, arrayminus=low))
    fig.update_layout(barmode="group", yaxis=dict(title=y_title, range=[0, scale * 1.02]), height=340,
                      margin=dict(t=20, b=20), showlegend=category)
    st.plotly_chart(fig, key=key)


@st.fragment(run_every=1)
def _follow(job_id, what, cancel_key):
    """A job's progress, read from its row every second; the whole page reruns when it ends."""
    job = jobs.get(job_id)
    if job["state"] not in ("queued", "running"):
        st.rerun()
    done, total = job["done"] or 0, job["total"] or 0
    text = (_("{what}: waiting for its turn (another job holds the slot)").format(what=what)
            if job["state"] == "queued" else
            _("{what}: {message}").format(what=what, message=job["message"] or _("starting…")))
    st.progress(min(done / total, 1.0) if total else 0.0, text=text)
    if st.button(_("Cancel"), key=cancel_key, help=_("stops after the unit in flight; what is done stays")):
        guarded(jobs.cancel, job_id)


def _job(kind, state_key, what, cancel_key, **match):
    """Follow the job of this kind (this session's, or one another user started), or say how ours ended."""
    job = evaluate_jobs.current(kind, st.session_state.get(state_key), **match)
    if job and job["state"] in ("queued", "running"):
        _follow(job["id"], what, cancel_key)
    elif job:  # this session's job ended: say how, once
        del st.session_state[state_key]
        if job["state"] == "done":
            st.success(evaluate_jobs.done_message(job))
        elif job["state"] == "failed":
            st.error(job["message"], icon=":material/error:")
        else:
            st.info(_("{what}: {state}. What was done is kept; start it again for the rest.").format(
                what=what, state=label("state", job["state"])))


def _table(rows, cols):
    """A table a person reads: ``cols`` maps each column's (translated) heading to the row key."""
    st.dataframe(pd.DataFrame([{c: r.get(k) for c, k in cols.items()} for r in rows]), hide_index=True,
                 width="stretch")


def ratings_tab(cid):
    """Mean ratings with intervals, rater agreement, the ranking from votes and the seeds' table."""
    s = ratings.summary(cid)
    p = s["progress"]
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(_("Rated outputs"), f"{p['rated']} / {p['total']}")
    m2.metric(_("Raters"), len(s["raters"]))
    alpha = s["agreement"]["alpha"]
    m3.metric(_("Agreement (Krippendorff α)"), "—" if alpha is None else f"{alpha:.2f}",
              help=_("interval α over outputs rated by two or more raters; 1 = perfect, 0 = chance"))
    m4.metric(_("A/B votes"), s["votes"])
    if s["ratings"]:
        st.subheader(_("Mean rating (1-5) with 95 % interval"))
        _bars(s["systems"], _("mean rating"), "results_rating_systems", scale=max(ratings.SCORES))
        if len(s["categories"]) > 1:
            st.caption(_("Per category"))
            _bars(s["cells"], _("mean rating"), "results_rating_cells", scale=max(ratings.SCORES), category=True)
        ex = s["agreement"]
        if ex["pairs"]:
            st.caption(_("Rater pairs on the same output: {pairs}; exact agreement {exact}, within one point "
                         "{near}.").format(pairs=ex["pairs"], exact=f"{ex['exact']:.0%}", near=f"{ex['within_1']:.0%}"))
    else:
        st.info(_("No ratings yet: rate outputs on the Compare page."))
    if s["ranking"]:
        ranking(s["ranking"])
    elif s["ratings"]:
        st.caption(_("No A/B votes yet: vote in the Arena view of the Compare page to rank the systems."))
    st.subheader(_("Table (categories down, systems across)"))
    table = ratings.rating_table(cid)
    st.markdown(ratings.to_markdown(table))
    d1, d2, d3 = st.columns(3)
    d1.download_button(_("Markdown"), ratings.to_markdown(table), file_name=f"ratings-{cid}.md", key="results_md")
    d2.download_button(_("CSV"), ratings.to_csv(table), file_name=f"ratings-{cid}.csv", mime="text/csv",
                       key="results_csv")
    d3.download_button(_("Every output (CSV)"), report.csv_text(report.output_rows(cid)),
                       file_name=f"comparison-{cid}.csv", mime="text/csv", key="results_outputs_csv",
                       help=_("one row per prompt and system; the column names stay English for scripts"))


def ranking(rk):
    """The Bradley-Terry ranking from A/B votes: a dot per system with its bootstrap interval, and a table."""
    st.subheader(_("Ranking from A/B votes (Bradley-Terry model, Elo scale)"))
    fig = go.Figure()
    fig.add_scatter(x=[r["rating"] for r in rk], y=[r["label"] for r in rk], mode="markers", name=_("rating"),
                    error_x=dict(type="data", symmetric=False,
                                 array=[(r["high"] or r["rating"]) - r["rating"] for r in rk],
                                 arrayminus=[r["rating"] - (r["low"] or r["rating"]) for r in rk]))
    fig.update_layout(height=80 + 50 * len(rk), xaxis_title=_("rating with its 95 % bootstrap interval"),
                      yaxis=dict(autorange="reversed"), margin=dict(t=20, b=20))
    st.plotly_chart(fig, key="results_ranking")
    _table(rk, {_("rank"): "rank", _("system"): "label", _("rating"): "rating", _("low"): "low", _("high"): "high",
                _("best rank"): "rank_low", _("worst rank"): "rank_high", _("wins"): "wins", _("losses"): "losses",
                _("ties"): "ties", _("both bad"): "both_bad"})


def judge_start(cid):
    """The judge's model, endpoint and template; only the button starts it (Enter in a field does not)."""
    names = [t["name"] for t in judge.templates()]
    with st.form("results_judge_form", enter_to_submit=False):
        j1, j2, j3, j4 = st.columns([2, 2, 2, 1])
        jmodel = j1.text_input(_("Judge model"), value=settings.get("model"), key="results_judge_model")
        jurl = j2.text_input(_("Endpoint URL"), value=settings.get("base_url"), key="results_judge_url")
        jtemplate = j3.selectbox(_("Template"), names, key="results_judge_template")
        jflight = j4.number_input(_("Requests in flight"), value=8, step=1, key="results_judge_flight",
                                  help=_("judge requests sent at once ({low}-{high})").format(
                                      low=int(limits.CONCURRENCY.low), high=int(limits.CONCURRENCY.high)))
        go_judge = st.form_submit_button(_("Judge the outputs"))
    if go_judge:  # a job of the server: it goes on when this page closes; the key travels in memory only
        started = guarded(evaluate_jobs.start_judge, cid, model=jmodel, base_url=jurl or None,
                          template=jtemplate, key=api_key(), concurrency=jflight)
        if started:
            st.session_state["results_judge_job"] = started["id"]
    _job("judge", "results_judge_job", _("Judging"), "results_judge_cancel", comparison=cid)
    with st.expander(_("Your own judge template")):
        tname = st.text_input(_("Name"), key="results_tpl_name")
        ttext = st.text_area(_("Text: `{prompt}` and `{answers}` (all systems, `System1:...`) or `{answer}` (one output); "
                               "`{count}` and `{reference}` are filled too"), key="results_tpl_text",
                             value=judge.DREAMERGPT_TEXT)
        if st.button(_("Save template"), key="results_tpl_save"):
            if guarded(judge.save_template, tname, ttext) is not None:
                st.success(_("Saved {name}").format(name=tname))


def judge_results(cid):
    """The judge's scores: an empty state until it judged; its scale's axis once there are scores."""
    js = judge.summary(cid)
    if not (js["scored"] or js["unparsed"]):
        st.info(_("No judge scores yet: name the judge model and its endpoint above, then press Judge the "
                  "outputs. The scores, a chart per system and the table show here."), icon=":material/gavel:")
        return
    k1, k2, k3 = st.columns(3)
    k1.metric(_("Scored outputs"), js["scored"])
    k2.metric(_("Unparsed verdicts"), js["unparsed"])
    ag = js["agreement"]
    both = ngettext("over {n} output that has both a judge score and a human rating",
                    "over {n} outputs that have both a judge score and a human rating", ag["n"]).format(n=ag["n"])
    k3.metric(_("Judge vs people (Spearman ρ)"), "—" if ag["spearman"] is None else f"{ag['spearman']:.2f}", help=both)
    if not js["scored"]:
        st.warning(_("The judge answered, but no score could be read from its verdicts. Make the template ask for "
                     "one score per system (`System1 分数：…`) or try another judge model; unread outputs are asked "
                     "again on the next run."))
        return
    _bars(js["systems"], _("mean judge score (0-{scale})").format(scale=f"{js['scale']:g}"), "results_judge_systems",
          scale=js["scale"])
    st.markdown(ratings.to_markdown(js["table"]))
    e1, e2 = st.columns(2)
    e1.download_button(_("Judge table (Markdown)"), ratings.to_markdown(js["table"]), file_name=f"judge-{cid}.md",
                       key="results_judge_md")
    e2.download_button(_("Judge table (CSV)"), ratings.to_csv(js["table"]), file_name=f"judge-{cid}.csv",
                       mime="text/csv", key="results_judge_csv")


def verdicts(cid):
    """Every judgement of one prompt: the judge's raw verdict, the scores read from it, the prompt it was
    sent; the prompt can be judged again with the judge named above."""
    prompts = {p["prompt_id"]: f"{p['ord'] + 1}. {p['prompt'][:80]}" for p in comparisons.grid(cid)["prompts"]}
    pid = st.selectbox(_("Prompt"), list(prompts), format_func=prompts.get, key="results_verdict_prompt")
    found = judge.verdicts(cid, pid)
    if not found:
        st.caption(_("This prompt has not been judged yet."))
    for rid in list(dict.fromkeys(v["request_id"] for v in found))[:5]:   # newest requests first
        group = [v for v in found if v["request_id"] == rid]
        scores = ", ".join(f"{v['label']}: {v['score']:g}" if v["parsed"] else
                           _("{system}: unread").format(system=v["label"]) for v in group)
        st.markdown(f"**{group[0]['judge_model']}** · `{group[0]['template']}` · {group[0]['created_at']:%Y-%m-%d %H:%M}")
        st.caption(scores)
        st.text(group[0]["raw"] or "")
        if st.toggle(_("Show the judge prompt"), key=f"results_verdict_sent_{rid}"):
            st.text(judge.request_text(rid))
    if st.button(_("Judge this prompt again"), key="results_rejudge",
                 help=_("asks the judge above about every answer to this prompt again; the new score counts")):
        started = guarded(evaluate_jobs.start_judge, cid, model=st.session_state.get("results_judge_model") or "",
                          base_url=st.session_state.get("results_judge_url") or None,
                          template=st.session_state.get("results_judge_template") or judge.BUILTIN, key=api_key(),
                          prompts=[pid], concurrency=st.session_state.get("results_judge_flight") or 8)
        if started:
            st.session_state["results_judge_job"] = started["id"]
            st.rerun()


def objective(exam):
    """YaYi's objective table: accuracy (%) per question type and subject, the systems across."""
    table = guarded(exam_accuracy.objective_table, exam)
    if not table or not table["columns"]:
        return
    st.subheader(_("Accuracy (%) on {dataset}: the systems side by side").format(dataset=exam))
    corner = _("type / subject")
    st.markdown(ratings.to_markdown(table, corner=corner))
    o1, o2 = st.columns(2)
    o1.download_button(_("Markdown"), ratings.to_markdown(table, corner=corner), file_name="exam-accuracy.md",
                       key="results_objective_md")
    o2.download_button(_("CSV"), ratings.to_csv(table, corner=corner), file_name="exam-accuracy.csv",
                       mime="text/csv", key="results_objective_csv")


def exam_start(exams, options, system_names):
    """System, exam and numbers for an exam evaluation; out of range, the reason shows and Evaluate waits."""
    x1, x2, x3, x4 = st.columns(4)
    run = x1.selectbox(_("System"), options, format_func=system_names.get, key="results_exam_run")
    exam = x2.selectbox(_("Exam dataset"), [e["name"] for e in exams], key="results_exam_ds")
    shuffles = x3.number_input(_("Option shuffles (K)"), value=0, step=1, key="results_exam_k",
                               help=_("ask each question K more times with its options shuffled ({low}-{high})").format(
                                   low=int(limits.SHUFFLES.low), high=int(limits.SHUFFLES.high)))
    limit = x4.number_input(_("First N questions (0: all)"), value=0, step=1, key="results_exam_limit")
    base = st.text_input(_("Base model (for the base system)"), value=comparisons.default_base_model([]),
                         key="results_exam_base")
    bad = limits.problems((limits.SHUFFLES, shuffles), (limits.QUESTIONS, limit))
    for reason in bad:
        st.warning(reason, icon=":material/block:")
    if st.button(_("Evaluate"), key="results_exam_go", disabled=bool(bad), type="primary"):
        # a job of the server (the model loads there, never in this page)
        started = guarded(evaluate_jobs.start_eval, run, exam, shuffles=shuffles, limit=limit or None,
                          base_model=base.strip() or None, keys=secret_keys([run]))
        if started:
            st.session_state["results_exam_job"] = started["id"]


def exam_history(system_names):
    """The latest evaluations: accuracy per question type (0-100 %), the table, and per subject."""
    history = exam_accuracy.history()
    if not history:
        st.info(_("No exam evaluation yet: choose a system and an exam above, then press Evaluate."))
        return
    latest = history[0]
    st.subheader(_("Latest: {system} on {dataset}").format(
        system=system_names.get(latest["model_system"], latest["model_system"]), dataset=latest["dataset"]))
    fig = go.Figure()
    for h in history[:6]:
        fig.add_bar(x=[label("qtype", t) for t in exam_accuracy.TYPES],
                    y=[(h["by_type"] or {}).get(t) for t in exam_accuracy.TYPES],
                    name=f"#{h['id']} {system_names.get(h['model_system'], h['model_system'])} · {h['dataset']}")
    fig.update_layout(barmode="group", yaxis=dict(title=_("accuracy"), range=[0, 1], tickformat=".0%"), height=320,
                      margin=dict(t=20, b=20))
    st.plotly_chart(fig, key="results_exam_chart")
    rows = [{**h, "system": system_names.get(h["model_system"], h["model_system"])} for h in history]
    _table(rows, {"#": "id", _("system"): "system", _("dataset"): "dataset", "n": "n", _("accuracy"): "accuracy",
                  _("shuffles"): "shuffles", _("accuracy under shuffling"): "shuffled_accuracy",
                  _("same answer every time"): "consistent", _("unparsed"): "unparsed"})
    if latest["by_subject"]:
        st.caption(_("Accuracy per subject (latest)"))
        subjects = latest["by_subject"].items()
        st.dataframe(pd.DataFrame([{_("subject"): k or "—", _("accuracy"): v} for k, v in subjects]), hide_index=True)


saved = comparisons.list_all()
if saved:
    ids = [c["id"] for c in saved]
    if st.session_state.get("results_id") not in ids:
        st.session_state["results_id"] = st.session_state.get("compare_id") if st.session_state.get(
            "compare_id") in ids else ids[0]
    comparison_names = {c["id"]: f"#{c['id']} {c['name']}" for c in saved}
    cid = st.selectbox(_("Comparison"), ids, key="results_id", format_func=comparison_names.get)
else:
    cid = None
tab_ratings, tab_judge, tab_exam = st.tabs([_("Ratings and votes"), _("GPT judge"), _("Exam accuracy")])

with tab_ratings:
    if cid is None:
        st.info(_("No comparison yet: open one on the Compare page."))
    else:
        ratings_tab(cid)

with tab_judge:
    if cid is None:
        st.info(_("No comparison yet: open one on the Compare page."))
    else:
        judge_start(cid)
        judge_results(cid)
        with st.expander(_("Raw verdicts and judging again")):
            verdicts(cid)

with tab_exam:
    exams = exam_accuracy.datasets()
    if not exams:
        st.info(_("No exam dataset yet: import an exam bank first."))
    else:
        runs = comparisons.available_runs()
        names = {"base": _("base model"), **{r["id"]: r["label"] for r in runs},
                 **{a.id: comparisons.system_label(a.id) for a in api_systems.list_all()}}
        exam_start(exams, list(names), names)
        _job("eval", "results_exam_job", _("Answering the exam"), "results_exam_cancel")
        objective(st.session_state.get("results_exam_ds") or exams[0]["name"])
        exam_history(names)
