"""Reports: the seeds' evaluation tables rebuilt from what the studio stored, each with a chart and its
Markdown and CSV.

- DreamerGPT (README §6.2): task categories x systems, the mean GPT-judge score 0-10, samples per category
  — from the judge scores of a comparison (judge it on the Results page).
- YaYi, subjective: domains (prompt categories) x systems, the mean of the raters' 1-5 ratings and the number
  of raters — from the ratings of a comparison (rate on the Compare page).
- YaYi, objective: accuracy by subject or question type x systems — from the latest exam evaluation of each
  system on an exam dataset (evaluate on the Results page).
The tables are built by ``studio.evaluate.report``; this page only picks, shows and offers the downloads.
"""
import streamlit as st

from pages.ui import guarded
from studio.core.i18n import _, ngettext
from studio.evaluate import comparisons, report

st.title(_("Reports"))
st.caption(_("The tables of the DreamerGPT and YaYi reports, rebuilt from your comparisons, ratings, judge scores "
             "and exam evaluations. Each downloads as Markdown or CSV."))


def show(df, name: str, y_title: str, key: str) -> None:
    """The table, its chart and its two downloads."""
    st.dataframe(report.people_frame(df), hide_index=True, width="stretch")
    st.plotly_chart(report.table_chart(df, y_title=y_title), key=f"reports_chart_{key}")
    c1, c2 = st.columns(2)
    c1.download_button(_("Markdown"), report.table_markdown(df), file_name=f"{name}.md", mime="text/markdown",
                       key=f"reports_md_{key}", icon=":material/download:")
    c2.download_button(_("CSV"), report.table_csv(df), file_name=f"{name}.csv", mime="text/csv",
                       key=f"reports_csv_{key}", icon=":material/download:")


def pick_comparison():
    """The comparison the judge and rating tables are about (None while there is none)."""
    saved = comparisons.list_all()
    if not saved:
        return None
    names = {c["id"]: f"#{c['id']} {c['name']}" for c in saved}
    ids = list(names)
    if st.session_state.get("reports_comparison") not in ids:
        st.session_state["reports_comparison"] = ids[0]
    return st.selectbox(_("Comparison (judge and rating tables)"), ids, key="reports_comparison",
                        format_func=names.get)


cid = pick_comparison()

tab_judge, tab_subjective, tab_objective = st.tabs([_("DreamerGPT: judge scores"), _("YaYi: human ratings"),
                                                    _("YaYi: exam accuracy")])
with tab_judge:
    st.caption(_("Task categories down, systems across: the mean score (0-10) the GPT judge gave each system's "
                 "answers, as DreamerGPT's table; the last row is over all categories."))
    df = guarded(report.dreamergpt_table, cid) if cid is not None else None
    if cid is None:
        st.info(_("No comparison yet: open one on the Compare page."))
    elif df is not None and not df.attrs["scored"]:
        st.info(_("No judge scores in this comparison yet: judge it on the Results page."), icon=":material/gavel:")
    elif df is not None:
        if df.attrs["unscored"]:
            st.caption(ngettext("{n} output has no judge score yet and is left out.",
                                "{n} outputs have no judge score yet and are left out.",
                                df.attrs["unscored"]).format(n=df.attrs["unscored"]))
        show(df, f"dreamergpt-{cid}", _("mean judge score (0-{scale})").format(scale=f"{df.attrs['scale']:g}"),
             "judge")

with tab_subjective:
    st.caption(_("Domains down, systems across: the mean rating (1 very poor … 5 very good) of each system's "
                 "answers, each answer's raters averaged first, as YaYi's tables; with the number of raters."))
    df = guarded(report.yayi_subjective_table, cid) if cid is not None else None
    if cid is None:
        st.info(_("No comparison yet: open one on the Compare page."))
    elif df is not None and not df.attrs["rated"]:
        st.info(_("No ratings in this comparison yet: rate its answers on the Compare page."),
                icon=":material/star_rate:")
    elif df is not None:
        st.caption(_("{rated} of {outputs} answers rated.").format(rated=df.attrs["rated"],
                                                                   outputs=df.attrs["outputs"]))
        show(df, f"yayi-subjective-{cid}", _("mean rating (1-5)"), "subjective")

with tab_objective:
    st.caption(_("Accuracy (correct / total) of each system's latest exam evaluation, by subject or by question "
                 "type, as YaYi's objective table; the last row is over all questions."))
    exams = report.exam_datasets_evaluated()
    if not exams:
        st.info(_("No exam evaluation yet: evaluate a system on an exam dataset on the Results page."),
                icon=":material/quiz:")
    else:
        o1, o2 = st.columns([2, 1])
        exam = o1.selectbox(_("Exam dataset"), exams, key="reports_exam")
        groups = {"subject": _("by subject"), "type": _("by question type")}
        by = o2.radio(_("Table rows"), list(groups), format_func=groups.get, key="reports_by", horizontal=True)
        df = guarded(report.yayi_objective_table, exam, by=by)
        if df is not None:
            if df.attrs["mixed_sizes"]:
                st.warning(_("The systems answered different numbers of questions: evaluate them on the same "
                             "questions to compare them fairly."))
            show(df, f"yayi-objective-{exam}", _("accuracy"), "objective")
