"""Import exam bank: upload, pick sheets, check and change the column mapping (per sheet: header row,
each field's column and why it was chosen, the type's source, counts and first errors), preview every
row's fate, then import all rows (or only the valid ones, keeping the error report).

The upload is kept under the data folder (``importer.upload_path``); the preview and mapping run here
(they are quick and write nothing); the import itself is a job of the server (kind ``import-exam``): one
transaction, its progress shown from the job row, then its summary. A reload or another tab finds the
running import."""
import re
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from pages import jobview
from pages.ui import guarded
from studio.core.errors import StudioError
from studio.core.exam_rules import type_word
from studio.core.i18n import _, ngettext
from studio.core.labels import label
from studio.data.exams import importer, read
from studio.data.exams.mapping import FIELDS, field_label, field_name

JOB = "exam_import_job"   # the session's import job id

st.title(_("Import exam bank"))
st.caption(_("{suffixes} · UTF-8, UTF-8 with BOM or GBK · headers in Chinese or English, decorated or not "
             "(`题目（必填）：` / `选项A` / `正确答案` / `questionContent` …), a title row above them, or none · one "
             "sheet per type (单选题 / 多选题 / …) · options in separate columns or in one cell (`A. 雨鞋,B. 绝缘靴`, "
             "`A.admin B.root`, new lines, `&`, JSON) · nothing is written before you import, and an import lands "
             "whole.").format(suffixes=" ".join(f"`{s}`" for s in read.SUFFIXES)))


def _counts(by_type: dict) -> str:
    return ", ".join(f"{type_word(t)} {n}" for t, n in by_type.items() if n)


def imported(job: dict) -> None:
    """A finished import: what it wrote, where, and the way on to Convert."""
    r = job["result"]
    st.success(ngettext("Imported {n} question into **{dataset}** ({types}); rejected {rejected}.",
                        "Imported {n} questions into **{dataset}** ({types}); rejected {rejected}.", r["imported"])
               .format(n=r["imported"], dataset=r["dataset"], types=_counts(r["by_type"]) or _("none"),
                       rejected=r["rejected"]), icon=":material/check_circle:")
    st.page_link(page="pages/convert.py", label=_("Convert them into training pairs"), icon=":material/arrow_forward:")


def follow_import():
    return jobview.follow(JOB, "import-exam", what=_("Importing"), done=imported)


upload = st.file_uploader(_("Exam bank file"), type=[s.lstrip(".") for s in read.SUFFIXES], key="exam_file")
if upload is None:
    if follow_import() is None:   # a reload or another tab: the import goes on, shown here
        st.info(_("Upload a question bank to see how it will be read."))
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
    if (job := jobview.current(JOB, "import-exam")) and job["state"] not in jobview.ACTIVE:
        jobview.forget(JOB)   # the last file's result; a running import stays shown
    st.session_state["exam_chosen_for"] = (upload.name, upload.size)

path = importer.upload_path(upload.name, upload.getvalue())   # kept where the import job can read it
sheet_names = guarded(read.sheet_names, path, upload.name)
if sheet_names is None:
    st.stop()

c1, c2 = st.columns(2)
dataset = c1.text_input(_("Import into exam dataset"), value=Path(upload.name).stem, key="exam_dataset")
sheets = None
if len(sheet_names) > 1 or sheet_names[0]:
    sheets = c2.multiselect(_("Sheets"), sheet_names, default=sheet_names, key="exam_sheets")
    if not sheets:
        st.warning(_("Pick at least one sheet."))
        st.stop()
c3, c4 = st.columns(2)
no_header = c3.checkbox(_("No header row: the first row is already a question"), key="exam_no_header",
                        help=_("Detected from the content; tick it when the first question was taken for a header."))
judge01 = c4.radio(_("0/1 judge answers mean"), ["0 = 正确, 1 = 错误", "1 = 正确, 0 = 错误"], horizontal=True,
                   key="exam_judge01", help=_("Banks differ; both real banks seen so far use 0 = 正确."))


def _plain(text) -> str:
    """Text from the file (sheet names, header cells, reasons) shown as written, not as Markdown:
    `*题目` keeps its star, `_(1)_` its underscores."""
    return re.sub(r"([\\`*_~$\[\]<>|#])", r"\\\1", str(text))


def _map_key(sheet: str, field: str) -> str:
    return f"exam_map_{sheet or '_'}_{field}"


def _chosen_options():
    """The user's mapping, read from the widgets' state before parsing: overrides, header rows, options."""
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
    return overrides, header_rows, importer.ImportOptions(
        sheets=sheets, no_header=no_header, overrides=overrides, zero_is_true=judge01.startswith("0"),
        header_rows=header_rows)


overrides, header_rows, options = _chosen_options()


def _how(m) -> str:
    return _("header row {row}").format(row=m.header_row) if m.header_row is not None else _("no header row")


def mapping_section(plans, errors=()):
    """Per sheet: the header row, each field's column (header text, a sample, why it was chosen), the
    type's source, counts and first errors, and the controls to change them (also shown when the chosen
    mapping cannot be read, so a wrong choice can be undone). The controls stay open while you edit."""
    st.subheader(_("Column mapping"))
    for plan in plans:
        how = _how(plan.mapping)
        _sheet_summary(plan, how, errors)
        edited = bool(overrides.get(plan.name or "*")) or (plan.name or "*") in header_rows
        title = (_("Change the mapping of sheet {sheet}").format(sheet=plan.name) if plan.name
                 else _("Change the mapping"))
        with st.expander(title, expanded=edited, key=f"exam_mapexp_{plan.name or '_'}"):
            _mapping_controls(plan, how)
        if plan.head:
            with st.expander(_("The first rows as read")):
                width = plan.ncols
                st.dataframe(pd.DataFrame([[r] + (cells + [None] * (width - len(cells)))[:width] for r, cells in plan.head],
                                          columns=[_("row"), *[plan.mapping.column_label(c) for c in range(width)]]),
                             hide_index=True)
    if overrides or header_rows:
        st.button(_("Reset the mapping to the detected one"), key="exam_reset_mapping", on_click=_reset_mapping,
                  icon=":material/restart_alt:")


def _sheet_summary(plan, how: str, errors) -> None:
    """One sheet's counts, its fields' columns (with a sample and why), the type's source, the columns
    left unread and the first errors."""
    m = plan.mapping
    name = _("Sheet {sheet}").format(sheet=plan.name) if plan.name else _("Columns")
    line = _("**{name}** · {rows} data rows · {how} · {counts}").format(
        name=_plain(name), rows=plan.rows, how=how, counts=_counts(plan.by_type) or _("none valid"))
    if plan.errors:
        line = _("{summary} · {n} invalid").format(summary=line, n=plan.errors)
    st.markdown(line)
    described = m.describe()
    st.dataframe(pd.DataFrame({"field": [field_name(f) for f in described], "column": list(described.values()),
                               "sample": [plan.samples[c] if c < len(plan.samples) else ""
                                          for f, c in sorted(m.fields.items(), key=lambda kv: FIELDS.index(kv[0]))],
                               "why": [m.why.get(f, "") for f in described]}),
                 hide_index=True, width="stretch",
                 column_config={"field": _("field"), "column": _("column"), "sample": _("sample value"), "why": _("why")})
    st.caption(_plain(_("Type: {source}").format(source=plan.type_source)))
    for col, looks in plan.unread:
        st.warning(_("Column {column} {looks} and holds data but is not mapped: its rows are not valid until you map "
                     "it (or leave it out on purpose below).").format(column=_plain(m.column_label(col)), looks=looks),
                   icon=":material/warning:")
    first = [e for e in errors if e["sheet"] == plan.name][:5]
    if first:
        st.caption(_plain(_("First errors: {errors}").format(errors="; ".join(
            _("row {row}: {reason}").format(row=e["row"], reason=e["reason"]) for e in first))))


def _mapping_controls(plan, how: str) -> None:
    """The header row, each field's column, an answer over several columns and the columns left out; a
    choice that names a column of another file is dropped."""
    columns = list(range(1, plan.ncols + 1))
    names = {c: plan.choice_label(c - 1) for c in columns}
    hkey = _map_key(plan.name, "_header")
    rows_choice = ["auto", "none", *range(1, 11)]
    if st.session_state.get(hkey, "auto") not in rows_choice:
        del st.session_state[hkey]
    st.selectbox(_("Header row"), rows_choice, key=hkey,
                 format_func=lambda r, how=how: {"auto": _("(as detected: {how})").format(how=how),
                                                 "none": _("none: every row is a question")}.get(
                     r, _("row {row}").format(row=r)))
    choices = ["auto", "none", *columns]
    cols = st.columns(4)
    for i, field in enumerate(FIELDS):
        key = _map_key(plan.name, field)
        if st.session_state.get(key, "auto") not in choices:  # a column of another file
            del st.session_state[key]
        cols[i % 4].selectbox(
            field_label(field), choices, key=key,
            format_func=lambda c, names=names: {"auto": _("(as detected)"), "none": _("(not mapped)")}.get(
                c, names.get(c, str(c))))
    for suffix, text, help_text in (
            ("_answers", _("Answer over several columns (joined in order)"),
             _("A cloze sheet keeping its answers in 答案A…答案L: pick them in order; joined with ；.")),
            ("_skip", _("Columns to leave out"),
             _("Columns that look like options or answers but are not (remarks): their rows are then read "
               "without them."))):
        key = _map_key(plan.name, suffix)
        if any(c not in columns for c in st.session_state.get(key) or []):
            del st.session_state[key]
        st.multiselect(text, columns, key=key, format_func=lambda c, names=names: names.get(c, str(c)),
                       help=help_text)


bar = st.progress(0.0, text=_("Reading…"))
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
    follow_import()
    st.stop()

for note in preview.notes:
    st.info(_plain(note), icon=":material/info:")

m1, m2, m3, m4 = st.columns(4)
m1.metric(_("Rows"), preview.total)
m2.metric(_("Valid"), preview.valid)
m3.metric(_("Invalid"), len(preview.errors))
m4.metric(_("Duplicates"), len(preview.duplicates))
if preview.by_type:
    counts = pd.DataFrame({"type": [label("qtype", t) for t in importer.QTYPES],
                           "questions": [preview.by_type.get(t, 0) for t in importer.QTYPES]})
    fig = px.bar(counts, x="type", y="questions", text_auto=True, height=260, title=_("Valid questions by type"),
                 labels={"type": _("type"), "questions": _("number of questions")})
    fig.update_layout(margin=dict(l=10, r=10, t=40, b=10))
    st.plotly_chart(fig, width="stretch")

mapping_section(preview.sheets, preview.errors)

ROW_COLUMNS = {"sheet": _("sheet"), "row": _("row"), "type": _("type"), "question": _("question"),
               "options": _("options"), "answer_labels": _("answer labels"), "answer_text": _("answer text"),
               "subject": _("subject"), "error": _("error"), "reason": _("reason")}
st.subheader(_("First parsed rows"))
first_rows = pd.DataFrame(preview.rows)
if "type" in first_rows:
    first_rows["type"] = first_rows["type"].map(lambda v: label("qtype", v))
st.dataframe(first_rows, hide_index=True, width="stretch", column_config=ROW_COLUMNS)

if preview.errors:
    st.subheader(_("Invalid rows ({n})").format(n=len(preview.errors)))
    st.dataframe(pd.DataFrame(preview.errors), hide_index=True, width="stretch", column_config=ROW_COLUMNS)
    st.download_button(_("Download the error report (CSV)"), importer.errors_csv(preview.errors, preview.file),
                       file_name=f"{Path(upload.name).stem}-errors.csv", mime="text/csv", key="exam_errors_csv")
if preview.duplicates:
    with st.expander(_("Duplicates ({n}): imported, listed for review").format(n=len(preview.duplicates))):
        st.dataframe(pd.DataFrame(preview.duplicates, columns=["sheet", "row", "reason"]), hide_index=True,
                     width="stretch", column_config=ROW_COLUMNS)

again = True
if preview.already_imported:
    st.warning(_("{n} of the {valid} valid questions are already in **{dataset}** (imported before?): importing adds "
                 "them a second time.").format(n=preview.already_imported, valid=preview.valid, dataset=dataset),
               icon=":material/content_copy:")
    if preview.already_imported == preview.valid:
        again = st.checkbox(_("Import them again anyway"), key="exam_import_again")
b1, b2 = st.columns(2)
go_all = b1.button(ngettext("Import all {n} row", "Import all {n} rows", preview.total).format(n=preview.total),
                   type="primary", disabled=bool(preview.errors) or not preview.valid or not again,
                   key="exam_import_all",
                   help=_("An import lands whole: fix the invalid rows (often a column mapping) or import only the "
                          "valid ones.") if preview.errors else None)
go_valid = False
if preview.errors and preview.valid:
    go_valid = b2.button(_("Import the {valid} valid rows, skip {invalid}").format(
        valid=preview.valid, invalid=len(preview.errors)), key="exam_import_valid", disabled=not again)

if go_all or go_valid:
    options.skip_invalid = go_valid
    jobview.submit(JOB, "import-exam", {"path": str(path), "file": upload.name, "dataset": dataset,
                                        "options": options.to_json()})

# the import runs as a job of the server: its progress, then its summary (a reload or another tab shows it too)
follow_import()
