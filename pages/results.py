"""Results: what the ratings, votes, judge and exams say about the systems of a comparison.

Mean human rating per system and category with 95 % intervals, agreement between raters, the
Bradley-Terry ranking from A/B votes with bootstrap intervals, GPT-as-judge scores (DreamerGPT's
prompt or your own template) with their agreement with people, exam accuracy per type and subject
(with option shuffles), and the seeds' table (categories down, systems across) as Markdown and CSV.
Judging and exam evaluation run as jobs of the server: this page starts them and follows their progress.
"""
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages.ui import api_key, guarded
from studio.core import settings
from studio.evaluate import comparisons, exam_accuracy, judge, ratings, report
from studio.service import jobs
from studio.service import kinds_evaluate as evaluate_jobs

st.title("Results")
st.caption("What the ratings, A/B votes, a GPT judge and exam accuracy say about each system of a comparison "
           "(pick the comparison below); every table downloads as Markdown or CSV.")


def _bars(rows, y_title, key, category=None):
    """Bars of means with 95 % interval whiskers; grouped by category when given."""
    fig = go.Figure()
    groups = sorted({r["category"] for r in rows}) if category else [None]
    for g in groups:
        sel = [r for r in rows if g is None or r["category"] == g]
        fig.add_bar(x=[r["label"] for r in sel], y=[r["mean"] for r in sel], name=g or y_title,
                    error_y=dict(type="data", symmetric=False,
                                 array=[(r["high"] - r["mean"]) if r["high"] is not None else 0 for r in sel],
                                 arrayminus=[(r["mean"] - r["low"]) if r["low"] is not None else 0 for r in sel]))
    fig.update_layout(barmode="group", yaxis_title=y_title, height=340, margin=dict(t=20, b=20))
    st.plotly_chart(fig, key=key)


@st.fragment(run_every=1)
def _follow(job_id, what, cancel_key):
    """A job's progress, read from its row every second; the whole page reruns when it ends."""
    job = jobs.get(job_id)
    if job["state"] not in ("queued", "running"):
        st.rerun()
    done, total = job["done"] or 0, job["total"] or 0
    text = (f"{what}: waiting for its turn (another job holds the slot)" if job["state"] == "queued"
            else f"{what}: {job['message'] or 'starting…'}")
    st.progress(min(done / total, 1.0) if total else 0.0, text=text)
    if st.button("Cancel", key=cancel_key, help="stops after the unit in flight; what is done stays"):
        guarded(jobs.cancel, job_id)


def _job(kind, state_key, what, cancel_key, **match):
    """Follow the job of this kind (this session's, or one another user started), or say how ours ended."""
    job = evaluate_jobs.current(kind, st.session_state.get(state_key), **match)
    if job and job["state"] in ("queued", "running"):
        _follow(job["id"], what, cancel_key)
    elif job:  # this session's job ended: say how, once
        del st.session_state[state_key]
        if job["state"] == "done":
            st.success(job["message"])
        elif job["state"] == "failed":
            st.error(job["message"], icon=":material/error:")
        else:
            st.info(f"{what} {job['state']}: what was done is kept; start it again for the rest.")


def _table(rows, cols):
    st.dataframe(pd.DataFrame([{c: r.get(k) for c, k in cols.items()} for r in rows]), hide_index=True,
                 width="stretch")


saved = comparisons.list_all()

if saved:
    ids = [c["id"] for c in saved]
    if st.session_state.get("results_id") not in ids:
        st.session_state["results_id"] = st.session_state.get("compare_id") if st.session_state.get(
            "compare_id") in ids else ids[0]
    cid = st.selectbox("Comparison", ids, key="results_id",
                       format_func=lambda i: next(f"#{c['id']} {c['name']}" for c in saved if c["id"] == i))
else:
    cid = None
tab_ratings, tab_judge, tab_exam = st.tabs(["Ratings and votes", "GPT judge", "Exam accuracy"])

with tab_ratings:
    if cid is None:
        st.info("No comparison yet: open one on the Compare page.")
    else:
        s = ratings.summary(cid)
        p = s["progress"]
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Rated outputs", f"{p['rated']} / {p['total']}")
        m2.metric("Raters", len(s["raters"]))
        alpha = s["agreement"]["alpha"]
        m3.metric("Agreement (Krippendorff α)", "—" if alpha is None else f"{alpha:.2f}",
                  help="interval α over outputs rated by two or more raters; 1 = perfect, 0 = chance")
        m4.metric("A/B votes", s["votes"])
        if s["ratings"]:
            st.subheader("Mean rating (1-5) with 95 % interval")
            _bars(s["systems"], "mean rating", "results_rating_systems")
            if len(s["categories"]) > 1:
                st.caption("Per category")
                _bars([c for c in s["cells"] if c["mean"] is not None], "mean rating", "results_rating_cells",
                      category=True)
            ex = s["agreement"]
            if ex["pairs"]:
                st.caption(f"Rater pairs on the same output: {ex['pairs']}; exact agreement {ex['exact']:.0%}, "
                           f"within one point {ex['within_1']:.0%}.")
        else:
            st.info("No ratings yet: rate outputs on the Compare page.")
        if s["ranking"]:
            st.subheader("Ranking from A/B votes (Bradley-Terry, Elo scale)")
            fig = go.Figure()
            rk = s["ranking"]
            fig.add_scatter(x=[r["rating"] for r in rk], y=[r["label"] for r in rk], mode="markers",
                            error_x=dict(type="data", symmetric=False,
                                         array=[(r["high"] or r["rating"]) - r["rating"] for r in rk],
                                         arrayminus=[r["rating"] - (r["low"] or r["rating"]) for r in rk]))
            fig.update_layout(height=80 + 50 * len(rk), xaxis_title="rating (95 % bootstrap interval)",
                              yaxis=dict(autorange="reversed"), margin=dict(t=20, b=20))
            st.plotly_chart(fig, key="results_ranking")
            _table(rk, {"rank": "rank", "system": "label", "rating": "rating", "low": "low", "high": "high",
                        "rank range": "rank_low", "to": "rank_high", "wins": "wins", "losses": "losses",
                        "ties": "ties", "both bad": "both_bad"})
        st.subheader("Table (categories down, systems across)")
        table = ratings.rating_table(cid)
        st.markdown(ratings.to_markdown(table))
        d1, d2, d3 = st.columns(3)
        d1.download_button("Markdown", ratings.to_markdown(table), file_name=f"ratings-{cid}.md",
                           key="results_md")
        d2.download_button("CSV", ratings.to_csv(table), file_name=f"ratings-{cid}.csv", mime="text/csv",
                           key="results_csv")
        d3.download_button("Every output (CSV)", report.csv_text(report.output_rows(cid)),
                           file_name=f"comparison-{cid}.csv", mime="text/csv", key="results_outputs_csv")

with tab_judge:
    if cid is None:
        st.info("No comparison yet: open one on the Compare page.")
    else:
        names = [t["name"] for t in judge.templates()]
        with st.form("results_judge_form"):
            j1, j2, j3 = st.columns(3)
            jmodel = j1.text_input("Judge model", value=settings.get("model"), key="results_judge_model")
            jurl = j2.text_input("Endpoint (base URL)", value=settings.get("base_url"), key="results_judge_url")
            jtemplate = j3.selectbox("Template", names, key="results_judge_template")
            go_judge = st.form_submit_button("Judge the outputs")
        if go_judge:  # a job of the server: it goes on when this page closes; the key travels in memory only
            started = guarded(evaluate_jobs.start_judge, cid, model=jmodel, base_url=jurl or None,
                              template=jtemplate, key=api_key())
            if started:
                st.session_state["results_judge_job"] = started["id"]
        _job("judge", "results_judge_job", "Judging", "results_judge_cancel", comparison=cid)
        with st.expander("Your own judge template"):
            tname = st.text_input("Name", key="results_tpl_name")
            ttext = st.text_area("Text: {prompt} and {answers} (all systems, System1:...) or {answer} (one output); "
                                 "{count} and {reference} are filled too", key="results_tpl_text",
                                 value=judge.DREAMERGPT_TEXT)
            if st.button("Save template", key="results_tpl_save"):
                if guarded(judge.save_template, tname, ttext) is not None:
                    st.success(f"Saved {tname}")
        js = judge.summary(cid)
        if js["scored"] or js["unparsed"]:
            k1, k2, k3 = st.columns(3)
            k1.metric("Scored outputs", js["scored"])
            k2.metric("Unparsed verdicts", js["unparsed"])
            ag = js["agreement"]
            k3.metric("Judge vs people (Spearman)", "—" if ag["spearman"] is None else f"{ag['spearman']:.2f}",
                      help=f"over {ag['n']} outputs that have both a judge score and a human rating")
            _bars([r for r in js["systems"] if r["mean"] is not None], "mean judge score", "results_judge_systems")
            st.markdown(ratings.to_markdown(js["table"]))
            e1, e2 = st.columns(2)
            e1.download_button("Judge table (Markdown)", ratings.to_markdown(js["table"]),
                               file_name=f"judge-{cid}.md", key="results_judge_md")
            e2.download_button("Judge table (CSV)", ratings.to_csv(js["table"]), file_name=f"judge-{cid}.csv",
                               mime="text/csv", key="results_judge_csv")
        else:
            st.caption("No judge scores yet.")

with tab_exam:
    exams = exam_accuracy.datasets()
    if not exams:
        st.info("No exam dataset yet: import an exam bank first.")
    else:
        runs = comparisons.available_runs()
        options = ["base"] + [r["id"] for r in runs]
        label = {"base": "base model", **{r["id"]: r["label"] for r in runs}}
        with st.form("results_exam_form"):
            x1, x2, x3, x4 = st.columns(4)
            run = x1.selectbox("System", options, format_func=label.get, key="results_exam_run")
            exam = x2.selectbox("Exam dataset", [e["name"] for e in exams], key="results_exam_ds")
            shuffles = x3.number_input("Option shuffles (K)", 0, 20, 0, key="results_exam_k")
            limit = x4.number_input("First N questions (0: all)", 0, 1_000_000, 0, key="results_exam_limit")
            base = st.text_input("Base model (for the base system)", value=comparisons.default_base_model([]),
                                 key="results_exam_base")
            go_exam = st.form_submit_button("Evaluate")
        if go_exam:  # a job of the server (the model loads there, never in this page)
            started = guarded(evaluate_jobs.start_eval, run, exam, shuffles=int(shuffles), limit=int(limit) or None,
                              base_model=base.strip() or None)
            if started:
                st.session_state["results_exam_job"] = started["id"]
        _job("eval", "results_exam_job", "Answering the exam", "results_exam_cancel")
        history = exam_accuracy.history()
        if history:
            latest = history[0]
            st.subheader(f"Latest: {label.get(latest['model_system'], latest['model_system'])} on {latest['dataset']}")
            fig = go.Figure()
            types = ["single", "multi", "judge"]
            for h in history[:6]:
                fig.add_bar(x=types, y=[(h["by_type"] or {}).get(t) for t in types],
                            name=f"#{h['id']} {h['model_system']} · {h['dataset']}")
            fig.update_layout(barmode="group", yaxis=dict(title="accuracy", range=[0, 1]), height=320,
                              margin=dict(t=20, b=20))
            st.plotly_chart(fig, key="results_exam_chart")
            _table(history, {"#": "id", "system": "model_system", "dataset": "dataset", "n": "n",
                             "accuracy": "accuracy", "shuffles": "shuffles", "under shuffling": "shuffled_accuracy",
                             "consistent": "consistent", "unparsed": "unparsed"})
            if latest["by_subject"]:
                st.caption("Accuracy per subject (latest)")
                st.dataframe(pd.DataFrame([{"subject": k, "accuracy": v} for k, v in latest["by_subject"].items()]),
                             hide_index=True)
