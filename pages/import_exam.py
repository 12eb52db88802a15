"""Import exam bank: upload, pick sheets, check and change the column mapping, preview every row's
fate, then import all rows (or only the valid ones, keeping the error report)."""
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from pages.ui import guarded
from studio.core.errors import StudioError
from studio.data.exams import importer, read
from studio.data.exams.mapping import FIELD_HELP, FIELDS

st.title("Import exam bank")
st.caption("`.xlsx` `.xls` `.csv` `.tsv` `.json` `.jsonl` · UTF-8, UTF-8 with BOM or GBK · headers in Chinese or "
           "English (题目 / 选项 / 正确答案 / question / answer …) or none · options in separate columns or in one "
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


def _map_key(sheet: str, field: str) -> str:
    return f"exam_map_{sheet or '_'}_{field}"


# the user's mapping changes live in the selectboxes below; read them before parsing
overrides: dict[str, dict[str, str]] = {}
for sheet in (sheets or [""]):
    for field in FIELDS:
        value = st.session_state.get(_map_key(sheet, field), "auto")
        if value != "auto":
            overrides.setdefault(sheet or "*", {})[field] = "" if value == "none" else str(value)
options = importer.ImportOptions(sheets=sheets, no_header=no_header, overrides=overrides,
                                 zero_is_true=judge01.startswith("0"))


def mapping_section(plans):
    """The detected mapping per sheet, with a select per field to change it (also shown when the
    chosen mapping cannot be read, so a wrong choice can be undone)."""
    st.subheader("Column mapping")
    for plan in plans:
        label = f"Sheet {plan.name}" if plan.name else "Columns"
        how = "header row " + str(plan.mapping.header_row) if plan.mapping.header_row is not None else "no header row"
        st.markdown(f"**{label}** · {plan.rows} data rows · {how}")
        described = plan.mapping.describe()
        st.dataframe(pd.DataFrame({"field": list(described), "column": list(described.values())}),
                     hide_index=True, width="content")
        with st.expander(f"Change the mapping{' of sheet ' + plan.name if plan.name else ''}"):
            choices = ["auto", "none", *range(1, plan.ncols + 1)]
            names = {c: plan.mapping.column_label(c - 1) for c in range(1, plan.ncols + 1)}
            cols = st.columns(4)
            for i, field in enumerate(FIELDS):
                key = _map_key(plan.name, field)
                if st.session_state.get(key, "auto") not in choices:  # a column of another file
                    del st.session_state[key]
                cols[i % 4].selectbox(
                    f"{field} ({FIELD_HELP[field]})", choices, key=key,
                    format_func=lambda c: {"auto": "(as detected)", "none": "(not mapped)"}.get(c, names.get(c, str(c))))
        if plan.head:
            with st.expander("The first rows as read"):
                width = plan.ncols
                st.dataframe(pd.DataFrame([[r] + (cells + [None] * (width - len(cells)))[:width] for r, cells in plan.head],
                                          columns=["row", *[plan.mapping.column_label(c) for c in range(width)]]),
                             hide_index=True)
    if overrides:
        st.button("Reset the mapping to the detected one", key="exam_reset_mapping", on_click=_reset_mapping,
                  icon=":material/restart_alt:")


bar = st.progress(0.0, text="Reading…")
preview = guarded(importer.preview, path, options, dataset=dataset or None, display_name=upload.name,
                  progress=lambda f, t: bar.progress(min(f, 1.0), text=t))
bar.empty()
if preview is None:
    if overrides:  # the chosen mapping failed: show the detected one so the choice can be changed back
        try:
            detected = importer.preview(path, importer.ImportOptions(sheets=sheets, no_header=no_header),
                                        display_name=upload.name)
        except StudioError:
            detected = None
        if detected is not None:
            mapping_section(detected.sheets)
    st.stop()

for note in preview.notes:
    st.info(note, icon=":material/info:")

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

mapping_section(preview.sheets)

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
