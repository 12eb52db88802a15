"""Exam questions: find a question of a bank (search, type, pages) and fix it in place; its converted pairs
are counted, and one click takes the bank to the Convert page to replace them with the fixed ones."""
import streamlit as st

from pages.ui import guarded
from studio.core.errors import StudioError
from studio.data.exams import convert as cv
from studio.data.exams import edit as ed

st.title("Exam questions")
st.caption("Fix a question of an imported bank: its text, options (one `A. text` per line), answer labels "
           "(`B`, `ACD`; a judge question also 正确/错误), the answer text of blank and open questions, basis, "
           "type. An edit is checked like an imported row and refused if someone changed the question since it "
           "was shown. Converted pairs keep a link to their question: convert again into the same dataset to "
           "replace them.")

banks = guarded(cv.exam_datasets) or []
if not banks:
    st.info("No exam bank yet: import one on the Import exam bank page.")
    st.page_link("pages/import_exam.py", label="Import exam bank", icon=":material/upload_file:")
    st.stop()

TYPE_LABELS = {None: "All types", **{t: f"{ed.TYPE_NAMES[t]} ({t})" for t in ed.QTYPES}}
c1, c2, c3, c4 = st.columns([2, 3, 2, 1])
dataset = c1.selectbox("Exam bank", banks, key="questions_dataset")
search = c2.text_input("Search", key="questions_search", placeholder="text, option, answer, basis, #id")
qtype = c3.selectbox("Type", list(TYPE_LABELS), format_func=TYPE_LABELS.get, key="questions_type")
per_page = c4.selectbox("Per page", ed.PER_PAGE, key="questions_per_page")
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
                                "text": f"Saved question #{qid} (version {saved['version']})."}


result = guarded(ed.questions_page, dataset, search=search, qtype=qtype, page=page, per_page=per_page)
if result is None:
    st.stop()
flash = st.session_state.pop("questions_flash", None)

targets = result["targets"]
if targets:
    st.subheader("Converted pairs")
    for t in targets:
        to = t["origin"].removeprefix("exam-")
        t1, t2 = st.columns([4, 1])
        stale = f", **{t['stale']} made before a fix**" if t["stale"] else ", all up to date"
        t1.markdown(f"**{t['dataset']}**: {t['n']} {to} pairs (template {t['template']}){stale}")
        if t2.button("Re-convert…", key=f"questions_reconvert_{t['dataset']}_{to}",
                     type="primary" if t["stale"] else "secondary",
                     help="Open the Convert page set to this bank, pair kind and dataset; converting replaces "
                          "the pairs made from these questions."):
            st.session_state["convert_dataset"] = dataset
            st.session_state["convert_to"] = to
            if t["dataset"] != f"{dataset}-{to}":   # the Convert page's default target otherwise
                st.session_state[f"convert_into_{dataset}_{to}"] = t["dataset"]
            st.switch_page("pages/convert.py")

st.caption(f"{result['total']} questions match · page {result['page']} of {result['pages']}")
if not result["rows"]:
    st.info("No question matches.")
if flash is not None and flash["id"] not in {q["id"] for q in result["rows"]}:
    (st.error if flash["kind"] == "error" else st.success)(flash["text"])

for q in result["rows"]:
    pairs = sum(p["n"] for p in q["pairs"])
    stale = sum(p["stale"] for p in q["pairs"])
    label = (f"#{q['id']} · {ed.TYPE_NAMES.get(q['qtype'], q['qtype'])} · {q['question'][:70]}"
             f" · {pairs} pairs" + (f" ({stale} to re-convert)" if stale else ""))
    mine = flash is not None and flash["id"] == q["id"]
    with st.expander(label, expanded=mine):
        if mine:
            (st.error if flash["kind"] == "error" else st.success)(
                flash["text"], icon=":material/error:" if flash["kind"] == "error" else ":material/check:")
        prefix = f"questions_q{q['id']}_v{q['version']}"   # a new version (saved or changed) shows fresh values
        with st.form(f"{prefix}_form", border=False):
            f1, f2 = st.columns([1, 2])
            f1.selectbox("Type", ed.QTYPES, index=ed.QTYPES.index(q["qtype"]), format_func=TYPE_LABELS.get,
                         key=f"{prefix}_type")
            f2.text_input("Subject", q["subject"], key=f"{prefix}_subject")
            st.text_area("Question", q["question"], key=f"{prefix}_question")
            st.text_area("Options (one `A. text` per line)", q["options"], key=f"{prefix}_options",
                         height=max(68, 28 * (q["options"].count("\n") + 2)))
            f3, f4 = st.columns([1, 2])
            f3.text_input("Answer labels", q["answer_labels"], key=f"{prefix}_labels",
                          help="B, ACD or A,C,D; a judge question also 正确/错误. Empty for blank and open questions.")
            f4.text_input("Answer text", q["answer_text"], key=f"{prefix}_text",
                          help="Blank and open questions; for choice and judge questions it follows the labels.")
            st.text_area("Basis (解析 / 依据)", q["basis"], key=f"{prefix}_basis", height=68)
            st.form_submit_button("Save", type="primary", key=f"{prefix}_save", on_click=_save,
                                  args=(q["id"], q["version"], prefix))
        where = ", ".join(f"{p['n']} in {p['dataset']} ({p['origin']})" for p in q["pairs"]) or "none yet"
        st.caption(f"From {q['source'] or 'unknown'} · version {q['version']} · converted pairs: {where}")

if result["pages"] > 1:
    st.number_input("Page", 1, result["pages"], result["page"], key=page_key)
