"""Import corpus: regulation texts, manuals, papers -> ordered passages; browse them per document.

No ``st.form`` here: Enter in a text field (the corpus name) only confirms that field; the Import button
alone starts the work, and it stays disabled, with the reason shown, while a number is out of range.
"""
import pandas as pd
import streamlit as st

from pages.ui import guarded
from studio.core.i18n import _, ngettext
from studio.data import corpus

st.title(_("Import corpus"))
st.caption(_("`.txt` `.md` `.jsonl` `.docx` `.pdf` · UTF-8, UTF-8 with BOM or GBK · chunked at chapters "
             "(`## 第X章`), articles (`第X条`), paragraphs and sentence ends (。！？；); an article is never split "
             "unless it is longer than the passage size."))

files = st.file_uploader(_("Files"), type=[s.lstrip(".") for s in corpus.SUFFIXES], accept_multiple_files=True,
                         key="corpus_files")
name = st.text_input(_("Corpus name"), key="corpus_dataset", placeholder=_("e.g. 电力法规"))
c1, c2, c3 = st.columns(3)
# no min/max on the number fields: an out-of-range value reaches the check below (Streamlit would keep the
# last valid value and show its own hint, so the import would run with a number the field does not show)
size = c1.number_input(_("Passage size (characters)"), value=corpus.DEFAULT_SIZE, step=50, key="corpus_size")
overlap = c2.number_input(_("Overlap (characters, where a long article is split)"), value=corpus.DEFAULT_OVERLAP,
                          step=10, key="corpus_overlap")
text_field = c3.text_input(_("JSON lines: text field"), key="corpus_text_field", placeholder=_("text / content"))
blockers = corpus.size_problems(int(size), int(overlap))  # missing files or name: said when Import is clicked
if blockers:
    st.warning("  \n".join(blockers), icon=":material/block:")
if st.button(_("Import"), type="primary", key="corpus_import", disabled=bool(blockers)):
    bar = st.progress(0.0, text=_("Reading and chunking…"))
    result = guarded(corpus.import_uploads, [(f.name, f.getvalue()) for f in files or []], name,
                     size=int(size), overlap=int(overlap), text_field=text_field.strip() or None,
                     progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
    bar.empty()
    if result:
        st.success(ngettext("Imported {documents} document into **{dataset}**: {passages} passages.",
                            "Imported {documents} documents into **{dataset}**: {passages} passages.",
                            result["documents"]).format(**result))

st.header(_("Passages"))
names = corpus.corpora()
if not names:
    st.info(_("No corpus yet: import a file above."))
    st.stop()
chosen = st.selectbox(_("Corpus"), names, key="corpus_browse")
docs = guarded(corpus.documents, chosen) or []
if not docs:
    st.info(_("This corpus has no documents."))
    st.stop()
st.dataframe(pd.DataFrame(docs)[["id", "title", "source_file", "chars", "passages"]], hide_index=True,
             width="stretch", column_config={
                 "id": st.column_config.NumberColumn(_("ID")), "title": st.column_config.TextColumn(_("Title")),
                 "source_file": st.column_config.TextColumn(_("File")),
                 "chars": st.column_config.NumberColumn(_("Characters")),
                 "passages": st.column_config.NumberColumn(_("Passages"))})
labels = {d["id"]: ngettext("{title} ({n} passage)", "{title} ({n} passages)", d["passages"]).format(
    title=d["title"], n=d["passages"]) for d in docs}
doc_id = st.selectbox(_("Document"), list(labels), format_func=labels.get, key="corpus_document")
search = st.text_input(_("Search passages"), key="corpus_search", placeholder=_("a word or an article number"))
rows = corpus.passages(doc_id, search)
st.caption(ngettext("{n} passage", "{n} passages", len(rows)).format(n=len(rows)))
for p in rows[:200]:
    with st.expander(_("#{n} · {heading} · {chars} characters").format(
            n=p["ord"] + 1, heading=p["heading"] or _("(no heading)"), chars=len(p["text"]))):
        st.text(p["text"])
if len(rows) > 200:
    st.caption(_("Showing the first 200; search to narrow down."))
