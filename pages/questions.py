"""Exam questions: find a question of a bank (search, type, pages) and fix it in place; its converted pairs
are counted, and one click takes the bank to the Convert page to replace them with the fixed ones."""
import streamlit as st

from pages.ui import guarded
from studio.core.errors import StudioError
from studio.core.i18n import _
from studio.core.labels import label
from studio.data.exams import convert as cv
from studio.data.exams import edit as ed

st.title(_("Exam questions"))
st.caption(_("Fix a question of an imported bank: its text, options (one `A. text` per line), answer labels "
             "(`B`, `ACD`; a judge question also 正确/错误), the answer text of blank and open questions, basis, "
             "type. An edit is checked like an imported row and refused if someone changed the question since it "
             "was shown. Converted pairs keep a link to their question: convert again into the same dataset to "
             "replace them."))

banks = guarded(cv.exam_datasets) or []
if not banks:
    st.info(_("No exam bank yet: import one on the Import exam bank page."))
    st.page_link(page="pages/import_exam.py", label=_("Import exam bank"), icon=":material/upload_file:")
    st.stop()

PAIR_KINDS = {"qa": _("QA"), "choice": _("choice")}
TYPE_LABELS = {None: _("All types"), **{t: label("qtype", t) for t in ed.QTYPES}}
c1, c2, c3, c4 = st.columns([2, 3, 2, 1])
dataset = c1.selectbox(_("Exam bank"), banks, key="questions_dataset")
search = c2.text_input(_("Search"), key="questions_search", placeholder=_("text, option, answer, basis, #id"))
qtype = c3.selectbox(_("Type"), list(TYPE_LABELS), format_func=TYPE_LABELS.get, key="questions_type")
per_page = c4.selectbox(_("Per page"), ed.PER_PAGE, key="questions_per_page")
page_key = f"questions_page_{dataset}_{search}_{qtype}_{per_page}"   # a new filter starts at page 1
page = int(st.session_state.get(page_key, 1))


def _save(qid: int, version: int, prefix: str) -> None:
    """Form callback: save before the page reloads the rows, so the stored (or current) row is what shows."""
    s = st.session_state
    try:
        saved = ed.save_question(qid, version, qtype=s[f"{prefix}_type"], question=s[f"{prefix}_question"],
                                 options=s[f"{prefix}_options"], answer_labels=s[f"{prefix}_labels"],
                                 answer_text=s[f"{prefix}_text"], basis=s[f"{prefix}_basis"],
                                 subject=s[f"{prefix}_subject"])
    except StudioError as err:
        s["questions_flash"] = {"id": qid, "kind": "error", "text": str(err)}
    else:
        s["questions_flash"] = {"id": qid, "kind": "success",
                                "text": _("Saved question #{id} (version {version}).").format(
                                    id=qid, version=saved["version"])}


result = guarded(ed.questions_page, dataset, search=search, qtype=qtype, page=page, per_page=per_page)
if result is None:
    st.stop()
flash = st.session_state.pop("questions_flash", None)

targets = result["targets"]
if targets:
    st.subheader(_("Converted pairs"))
    for t in targets:
        to = t["origin"].removeprefix("exam-")
        t1, t2 = st.columns([4, 1])
        pairs_of = PAIR_KINDS.get(to, to)
        if t["stale"]:
            line = _("**{dataset}**: {n} {kind} pairs (template {template}), **{stale} made before a fix**")
        else:
            line = _("**{dataset}**: {n} {kind} pairs (template {template}), all up to date")
        t1.markdown(line.format(dataset=t["dataset"], n=t["n"], kind=pairs_of,
                                 template=PAIR_KINDS.get(t["template"], t["template"]), stale=t["stale"]))
        if t2.button(_("Re-convert…"), key=f"questions_reconvert_{t['dataset']}_{to}",
                     type="primary" if t["stale"] else "secondary",
                     help=_("Open the Convert page set to this bank, pair kind and dataset; converting replaces "
                            "the pairs made from these questions.")):
            st.session_state["convert_dataset"] = dataset
            st.session_state["convert_to"] = to
            if t["dataset"] != f"{dataset}-{to}":   # the Convert page's default target otherwise
                st.session_state[f"convert_into_{dataset}_{to}"] = t["dataset"]
            st.switch_page("pages/convert.py")

st.caption(_("{n} questions match · page {page} of {pages}").format(n=result["total"], page=result["page"],
                                                                     pages=result["pages"]))
if not result["rows"]:
    st.info(_("No question matches."))
if flash is not None and flash["id"] not in {q["id"] for q in result["rows"]}:
    (st.error if flash["kind"] == "error" else st.success)(flash["text"])

for q in result["rows"]:
    pairs = sum(p["n"] for p in q["pairs"])
    stale = sum(p["stale"] for p in q["pairs"])
    if stale:
        heading = _("#{id} · {type} · {question} · {pairs} pairs ({stale} to re-convert)")
    else:
        heading = _("#{id} · {type} · {question} · {pairs} pairs")
    heading = heading.format(id=q["id"], type=label("qtype", q["qtype"]), question=q["question"][:70], pairs=pairs,
                             stale=stale)
    mine = flash is not None and flash["id"] == q["id"]
    # the editor is drawn only while its question is open: a page of 20 closed forms cost more than the rest
    box = st.expander(heading, expanded=mine, key=f"questions_open_{q['id']}", on_change="rerun")
    if not (box.open or mine):
        continue
    with box:
        if mine:
            (st.error if flash["kind"] == "error" else st.success)(
                flash["text"], icon=":material/error:" if flash["kind"] == "error" else ":material/check:")
        prefix = f"questions_q{q['id']}_v{q['version']}"   # a new version (saved or changed) shows fresh values
        with st.form(f"{prefix}_form", border=False):
            f1, f2 = st.columns([1, 2])
            f1.selectbox(_("Type"), ed.QTYPES, index=ed.QTYPES.index(q["qtype"]), format_func=TYPE_LABELS.get,
                         key=f"{prefix}_type")
            f2.text_input(_("Subject"), q["subject"], key=f"{prefix}_subject")
            st.text_area(_("Question"), q["question"], key=f"{prefix}_question")
            st.text_area(_("Options (one `A. text` per line)"), q["options"], key=f"{prefix}_options",
                         height=max(68, 28 * (q["options"].count("\n") + 2)))
            f3, f4 = st.columns([1, 2])
            f3.text_input(_("Answer labels"), q["answer_labels"], key=f"{prefix}_labels",
                          help=_("B, ACD or A,C,D; a judge question also 正确/错误. Empty for blank and open "
                                 "questions."))
            f4.text_input(_("Answer text"), q["answer_text"], key=f"{prefix}_text",
                          help=_("Blank and open questions; for choice and judge questions it follows the labels."))
            st.text_area(_("Basis (解析 / 依据)"), q["basis"], key=f"{prefix}_basis", height=68)
            st.form_submit_button(_("Save"), type="primary", key=f"{prefix}_save", on_click=_save,
                                  args=(q["id"], q["version"], prefix))
        where = ", ".join(_("{n} in {dataset} ({kind})").format(n=p["n"], dataset=p["dataset"],
                                                               kind=PAIR_KINDS.get(p["origin"].removeprefix("exam-"),
                                                                                   p["origin"]))
                          for p in q["pairs"]) or _("none yet")
        st.caption(_("From {source} · version {version} · converted pairs: {where}").format(
            source=q["source"] or _("unknown"), version=q["version"], where=where))

if result["pages"] > 1:
    # the page number is clamped by ``questions_page``; the field's own bounds keep it in range while typing
    st.number_input(_("Page"), 1, result["pages"], result["page"], key=page_key)
