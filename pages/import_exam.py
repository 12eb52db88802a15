"""Import exam bank: upload, pick sheets, check and change the column mapping (per sheet: header row,
each field's column and why it was chosen, the type's source, counts and first errors), preview every
row's fate, then import all rows (or only the valid ones, keeping the error report)."""
import re
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from pages.ui import guarded
from studio.core.errors import StudioError
from studio.data.exams import importer, read
from studio.data.exams.mapping import FIELD_HELP, FIELDS

st.title("Import exam bank")
st.caption(" ".join(f"`{s}`" for s in read.SUFFIXES) + " · UTF-8, UTF-8 with BOM or GBK · headers in Chinese "
           "or English, decorated or not (`题目（必填）：` / `选项A` / `正确答案` / `questionContent` …), a title row "
           "above them, or none · one sheet per type (单选题 / 多选题 / …) · options in separate columns or in one "
           "cell (`A. 雨鞋,B. 绝缘靴`, `A.admin B.root`, new lines, `&`, JSON) · nothing is written before you "
           "import, and an import lands whole.")

upload = st.file_uploader("Exam bank file", type=[s.lstrip(".") for s in read.SUFFIXES], key="exam_file")
if upload is None:
    st.info("Upload a question bank to see how it will be read.")
    st.stop()


def _reset_mapping():
    for key in [k for k in st.session_state if str(k).startswith("exam_map_")]:
        del st.session_state[key]


# choices belong to the file they were made for: another upload starts from its own name, sheets and
# detected mapping (not the previous file's, which would import it into the wrong dataset)
if st.session_state.get("exam_chosen_for") != (upload.name, upload.size):
    _reset_mapping()
    for key in ("exam_dataset", "exam_sheets", "exam_no_header"):
        st.session_state.pop(key, None)
    st.session_state["exam_chosen_for"] = (upload.name, upload.size)

path = importer.upload_path(upload.name, upload.getvalue())
sheet_names = guarded(read.sheet_names, path)
if sheet_names is None:
    st.stop()

c1, c2 = st.columns(2)
dataset = c1.text_input("Import into exam dataset", value=Path(upload.name).stem, key="exam_dataset")
sheets = None
if len(sheet_names) > 1 or sheet_names[0]:
    sheets = c2.multiselect("Sheets", sheet_names, default=sheet_names, key="exam_sheets")
    if not sheets:
        st.warning("Pick at least one sheet.")
        st.stop()
c3, c4 = st.columns(2)
no_header = c3.checkbox("No header row: the first row is already a question", key="exam_no_header",
                        help="Detected from the content; tick it when the first question was taken for a header.")
judge01 = c4.radio("0/1 judge answers mean", ["0 = 正确, 1 = 错误", "1 = 正确, 0 = 错误"], horizontal=True,
                   key="exam_judge01", help="Banks differ; both real banks seen so far use 0 = 正确.")


def _plain(text) -> str:
    """Text from the file (sheet names, header cells, reasons) shown as written, not as Markdown:
    `*题目` keeps its star, `_(1)_` its underscores."""
    return re.sub(r"([\\`*_~$\[\]<>|#])", r"\\\1", str(text))


def _map_key(sheet: str, field: str) -> str:
    return f"exam_map_{sheet or '_'}_{field}"


# the user's mapping changes live in the widgets below; read them before parsing
overrides: dict[str, dict[str, str]] = {}
header_rows: dict[str, int] = {}
for sheet in (sheets or [""]):
    chosen = overrides.setdefault(sheet or "*", {})
    for field in FIELDS:
        value = st.session_state.get(_map_key(sheet, field), "auto")
        if value != "auto":
            chosen[field] = "" if value == "none" else str(value)
    joined = st.session_state.get(_map_key(sheet, "_answers")) or []
    if joined:
        chosen["answer"] = "+".join(str(c) for c in joined)
    left_out = st.session_state.get(_map_key(sheet, "_skip")) or []
    if left_out:
        chosen["skip"] = "+".join(str(c) for c in left_out)
    header = st.session_state.get(_map_key(sheet, "_header"), "auto")
    if header != "auto":
        header_rows[sheet or "*"] = 0 if header == "none" else int(header)
overrides = {k: v for k, v in overrides.items() if v}
options = importer.ImportOptions(sheets=sheets, no_header=no_header, overrides=overrides,
                                 zero_is_true=judge01.startswith("0"), header_rows=header_rows)


def mapping_section(plans, errors=()):
    """Per sheet: the header row, each field's column (header text, a sample, why it was chosen), the
    type's source, counts and first errors, and the controls to change them (also shown when the chosen
    mapping cannot be read, so a wrong choice can be undone). The controls stay open while you edit."""
    st.subheader("Column mapping")
    for plan in plans:
        m = plan.mapping
        how = f"header row {m.header_row}" if m.header_row is not None else "no header row"
        _sheet_summary(plan, how, errors)
        edited = bool(overrides.get(plan.name or "*")) or (plan.name or "*") in header_rows
        with st.expander(f"Change the mapping{' of sheet ' + plan.name if plan.name else ''}", expanded=edited,
                         key=f"exam_mapexp_{plan.name or '_'}"):
            _mapping_controls(plan, how)
        if plan.head:
            with st.expander("The first rows as read"):
                width = plan.ncols
                st.dataframe(pd.DataFrame([[r] + (cells + [None] * (width - len(cells)))[:width] for r, cells in plan.head],
                                          columns=["row", *[m.column_label(c) for c in range(width)]]),
                             hide_index=True)
    if overrides or header_rows:
        st.button("Reset the mapping to the detected one", key="exam_reset_mapping", on_click=_reset_mapping,
                  icon=":material/restart_alt:")


def _sheet_summary(plan, how: str, errors) -> None:
    """One sheet's counts, its fields' columns (with a sample and why), the type's source, the columns
    left unread and the first errors."""
    m = plan.mapping
    label = f"Sheet {plan.name}" if plan.name else "Columns"
    counts = ", ".join(f"{t} {n}" for t, n in plan.by_type.items() if n) or "none valid"
    st.markdown(f"**{_plain(label)}** · {plan.rows} data rows · {how} · {counts}"
                + (f" · {plan.errors} invalid" if plan.errors else ""))
    described = m.describe()
    st.dataframe(pd.DataFrame({"field": list(described), "column": list(described.values()),
                               "sample": [plan.samples[c] if c < len(plan.samples) else ""
                                          for f, c in sorted(m.fields.items(), key=lambda kv: FIELDS.index(kv[0]))],
                               "why": [m.why.get(f, "") for f in described]}),
                 hide_index=True, width="stretch")
    st.caption(_plain(f"Type: {plan.type_source}"))
    for col, looks in plan.unread:
        st.warning(f"Column {_plain(m.column_label(col))} {looks} and holds data but is not mapped: its rows are not "
                   "valid until you map it (or leave it out on purpose below).", icon=":material/warning:")
    first = [e for e in errors if e["sheet"] == plan.name][:5]
    if first:
        st.caption(_plain("First errors: " + "; ".join(f"row {e['row']}: {e['reason']}" for e in first)))


def _mapping_controls(plan, how: str) -> None:
    """The header row, each field's column, an answer over several columns and the columns left out; a
    choice that names a column of another file is dropped."""
    columns = list(range(1, plan.ncols + 1))
    names = {c: plan.choice_label(c - 1) for c in columns}
    hkey = _map_key(plan.name, "_header")
    rows_choice = ["auto", "none", *range(1, 11)]
    if st.session_state.get(hkey, "auto") not in rows_choice:
        del st.session_state[hkey]
    st.selectbox("Header row", rows_choice, key=hkey,
                 format_func=lambda r, how=how: {"auto": f"(as detected: {how})",
                                                 "none": "none: every row is a question"}.get(r, f"row {r}"))
    choices = ["auto", "none", *columns]
    cols = st.columns(4)
    for i, field in enumerate(FIELDS):
        key = _map_key(plan.name, field)
        if st.session_state.get(key, "auto") not in choices:  # a column of another file
            del st.session_state[key]
        cols[i % 4].selectbox(
            f"{field} ({FIELD_HELP[field]})", choices, key=key,
            format_func=lambda c, names=names: {"auto": "(as detected)", "none": "(not mapped)"}.get(
                c, names.get(c, str(c))))
    for suffix, text, help_text in (
            ("_answers", "Answer over several columns (joined in order)",
             "A cloze sheet keeping its answers in 答案A…答案L: pick them in order; joined with ；."),
            ("_skip", "Columns to leave out",
             "Columns that look like options or answers but are not (remarks): their rows are then read "
             "without them.")):
        key = _map_key(plan.name, suffix)
        if any(c not in columns for c in st.session_state.get(key) or []):
            del st.session_state[key]
        st.multiselect(text, columns, key=key, format_func=lambda c, names=names: names.get(c, str(c)),
                       help=help_text)


bar = st.progress(0.0, text="Reading…")
preview = guarded(importer.preview, path, options, dataset=dataset or None, display_name=upload.name,
                  progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
bar.empty()
if preview is None:
    if overrides or header_rows:  # the chosen mapping failed: show the detected one to change it back
        try:
            detected = importer.preview(path, importer.ImportOptions(sheets=sheets, no_header=no_header),
                                        display_name=upload.name)
        except StudioError:
            detected = None
        if detected is not None:
            mapping_section(detected.sheets)
    st.stop()

for note in preview.notes:
    st.info(_plain(note), icon=":material/info:")

m1, m2, m3, m4 = st.columns(4)
m1.metric("Rows", preview.total)
m2.metric("Valid", preview.valid)
m3.metric("Invalid", len(preview.errors))
m4.metric("Duplicates", len(preview.duplicates))
if preview.by_type:
    counts = pd.DataFrame({"type": list(importer.QTYPES),
                           "questions": [preview.by_type.get(t, 0) for t in importer.QTYPES]})
    fig = px.bar(counts, x="type", y="questions", text="questions", height=260, title="Valid questions by type")
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, width="stretch")

mapping_section(preview.sheets, preview.errors)

st.subheader("First parsed rows")
st.dataframe(pd.DataFrame(preview.rows), hide_index=True, width="stretch")

if preview.errors:
    st.subheader(f"Invalid rows ({len(preview.errors)})")
    st.dataframe(pd.DataFrame(preview.errors), hide_index=True, width="stretch")
    st.download_button("Download the error report (CSV)", importer.errors_csv(preview.errors, preview.file),
                       file_name=f"{Path(upload.name).stem}-errors.csv", mime="text/csv", key="exam_errors_csv")
if preview.duplicates:
    with st.expander(f"Duplicates ({len(preview.duplicates)}): imported, listed for review"):
        st.dataframe(pd.DataFrame(preview.duplicates), hide_index=True, width="stretch")

again = True
if preview.already_imported:
    st.warning(f"{preview.already_imported} of the {preview.valid} valid questions are already in **{dataset}** "
               "(imported before?): importing adds them a second time.", icon=":material/content_copy:")
    if preview.already_imported == preview.valid:
        again = st.checkbox("Import them again anyway", key="exam_import_again")
b1, b2 = st.columns(2)
go_all = b1.button(f"Import all {preview.total} rows", type="primary",
                   disabled=bool(preview.errors) or not preview.valid or not again,
                   key="exam_import_all",
                   help="An import lands whole: fix the invalid rows (often a column mapping) or import only the "
                        "valid ones." if preview.errors else None)
go_valid = False
if preview.errors and preview.valid:
    go_valid = b2.button(f"Import the {preview.valid} valid rows, skip {len(preview.errors)}", key="exam_import_valid",
                         disabled=not again)

if go_all or go_valid:
    options.skip_invalid = go_valid
    bar = st.progress(0.0, text="Importing…")
    result = guarded(importer.import_exam, path, dataset, options, display_name=upload.name,
                     progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
    bar.empty()
    if result:
        types = ", ".join(f"{k} {v}" for k, v in result["by_type"].items() if v)
        st.success(f"Imported {result['imported']} questions into **{result['dataset']}** ({types}); "
                   f"rejected {result['rejected']}.", icon=":material/check_circle:")
        st.page_link("pages/convert.py", label="Convert them into training pairs", icon=":material/arrow_forward:")
