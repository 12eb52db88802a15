"""Import corpus: regulation texts, manuals, papers -> ordered passages; browse them per document."""
import pandas as pd
import streamlit as st

from pages.ui import guarded
from studio.data import corpus

st.title("Import corpus")
st.caption("`.txt` `.md` `.jsonl` `.docx` `.pdf` · UTF-8, UTF-8 with BOM or GBK · chunked at chapters "
           "(`## 第X章`), articles (`第X条`), paragraphs and sentence ends (。！？；); an article is never split "
           "unless it is longer than the passage size.")

with st.form("corpus_import_form"):
    files = st.file_uploader("Files", type=[s.lstrip(".") for s in corpus.SUFFIXES], accept_multiple_files=True,
                             key="corpus_files")
    name = st.text_input("Corpus name", key="corpus_dataset", placeholder="e.g. 电力法规")
    c1, c2, c3 = st.columns(3)
    size = c1.number_input("Passage size (characters)", min_value=20, max_value=20000,
                           value=corpus.DEFAULT_SIZE, step=50, key="corpus_size")
    overlap = c2.number_input("Overlap (characters, where a long article is split)", min_value=0,
                              max_value=5000, value=corpus.DEFAULT_OVERLAP, step=10, key="corpus_overlap")
    text_field = c3.text_input("JSON lines: text field", key="corpus_text_field", placeholder="text / content")
    submitted = st.form_submit_button("Import", type="primary")

if submitted:
    bar = st.progress(0.0, text="Reading and chunking…")
    result = guarded(corpus.import_uploads, [(f.name, f.getvalue()) for f in files or []], name,
                     size=int(size), overlap=int(overlap), text_field=text_field.strip() or None,
                     progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
    bar.empty()
    if result:
        st.success(f"Imported {result['documents']} document(s) into **{result['dataset']}**: "
                   f"{result['passages']} passages.")

st.header("Passages")
names = corpus.corpora()
if not names:
    st.info("No corpus yet: import a file above.")
    st.stop()
chosen = st.selectbox("Corpus", names, key="corpus_browse")
docs = guarded(corpus.documents, chosen) or []
if not docs:
    st.info("This corpus has no documents.")
    st.stop()
st.dataframe(pd.DataFrame(docs)[["id", "title", "source_file", "chars", "passages"]], hide_index=True,
             width="stretch")
labels = {d["id"]: f"{d['title']} ({d['passages']} passages)" for d in docs}
doc_id = st.selectbox("Document", list(labels), format_func=labels.get, key="corpus_document")
search = st.text_input("Search passages", key="corpus_search", placeholder="a word or an article number")
rows = corpus.passages(doc_id, search)
st.caption(f"{len(rows)} passage(s)")
for p in rows[:200]:
    with st.expander(f"#{p['ord'] + 1} · {p['heading'] or '(no heading)'} · {len(p['text'])} chars"):
        st.text(p["text"])
if len(rows) > 200:
    st.caption("Showing the first 200; search to narrow down.")
