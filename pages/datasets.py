"""Datasets: counts and charts, a paginated editor straight from DuckDB, bulk actions with undo,
deduplication (a job of the server: it goes on when the page closes), and importing pair files.

Only explicit buttons start work: no form here, so Enter in a text field just keeps the text. A bulk
action's confirmation unticks whenever the action, its values, the filter or the count change, and after
every apply or undo; its button names what it does and to how many rows.
"""
import pandas as pd
import streamlit as st

from pages import jobview
from pages.ui import guarded
from studio.core.errors import StudioError
from studio.core.i18n import N_, _, ngettext
from studio.core.labels import label, options
from studio.data import pairs, samples

VIEWS = [N_("Browse and edit"), N_("Bulk actions"), N_("Deduplicate"), N_("Charts")]
SORT_LABELS = {"id": N_("ID"), "updated": N_("last edited"), "status": N_("status"), "origin": N_("origin"),
               "type": N_("question type"), "content length": N_("prompt length"),
               "summary length": N_("answer length")}
LENGTH_OF = {"content": N_("prompt (content)"), "summary": N_("answer (summary)")}
FIELDS = {"instruction": N_("instruction"), "input": N_("input"), "output": N_("output"),
          "system": N_("system prompt")}
KINDS = {"exact": N_("exact duplicates"), "near": N_("near duplicates")}
UPLOAD_TYPES = ["json", "jsonl", "parquet", "csv", "tsv", "xlsx", "xls", "txt"]

st.title(_("Datasets"))
st.caption(_("Browse and edit training pairs page by page, filter them, change many at once (undoable), remove "
             "duplicates and see length charts. Only **accepted** samples go into snapshots and training."))
ss = st.session_state


def qtype_label(v) -> str:
    return _("no type") if v in (None, samples.NO_TYPE) else label("qtype", v)


def import_pairs() -> None:
    """Upload a pairs file into a dataset: nothing starts until the Import button."""
    upload = st.file_uploader(_("File"), key="datasets_upload", type=UPLOAD_TYPES)
    c = st.columns([3, 2])
    target = c[0].text_input(_("Into dataset (created when missing)"), key="datasets_import_target")
    status = c[1].selectbox(_("Status of the imported samples"), samples.STATUSES, index=2,
                            format_func=lambda s: label("status", s), key="datasets_import_status")
    strict = st.checkbox(_("Refuse the whole file if any row is invalid"), key="datasets_import_strict")
    why = _("Choose a file first.") if upload is None else \
        _("Name the dataset to import into.") if not target.strip() else None
    if why:
        st.caption(why)
    if not st.button(_("Import"), type="primary", disabled=why is not None, key="datasets_import_go"):
        return
    with st.spinner(_("Importing…")):
        got = guarded(pairs.import_upload, upload.name, upload.getvalue(), target, status=status, strict=strict)
    if got:
        st.success(ngettext("Imported {n} {format} sample into **{dataset}**; {rejected} rejected.",
                            "Imported {n} {format} samples into **{dataset}**; {rejected} rejected.",
                            got["imported"]).format(n=f"{got['imported']:,}", format=got["format"],
                                                    dataset=got["dataset"], rejected=got["rejected"]))
        if got["errors"]:
            st.dataframe(pd.DataFrame(got["errors"]).rename(columns={"row": _("row"), "reason": _("reason")}),
                         hide_index=True)


importing = st.expander(_("Import training pairs (Alpaca, content/summary, ShareGPT, OpenAI messages, Parquet, CSV, "
                          "XLSX)"), key="datasets_import_open", on_change="rerun")
if importing.open:  # drawn only while open (opening reruns the page); closing it forgets a chosen file
    with importing:
        import_pairs()

infos = samples.samples_datasets()
if not infos:
    st.info(_("No sample datasets yet: import a pairs file above, or convert an exam bank / generate from a corpus."))
    st.stop()


def _keys(facet: str, order=()) -> list[str]:
    """Every value of a facet over all datasets: the known order first, then alphabetical."""
    seen = {k for d in infos for k in d[facet]}
    return [k for k in order if k in seen] + sorted(seen - set(order), key=str)


st.dataframe(pd.DataFrame([{
    _("dataset"): d["name"], _("samples"): d["samples"],
    **{_("status: {status}").format(status=label("status", k)): d["by_status"].get(k, 0)
       for k in _keys("by_status", samples.STATUSES)},
    **{_("origin: {origin}").format(origin=samples.origin_label(k)): d["by_origin"].get(k, 0)
       for k in _keys("by_origin")},
    **{_("type: {type}").format(type=qtype_label(k)): d["by_type"].get(k, 0) for k in _keys("by_type")},
} for d in infos]), hide_index=True, width="stretch")

names = [d["name"] for d in infos]
name = st.selectbox(_("Open dataset"), names, key="datasets_name")
info = next(d for d in infos if d["name"] == name)


def filters() -> tuple[dict, str, bool, int]:
    """The filter shared by the editor, bulk actions and dedup; wide enough that labels and chips read whole."""
    with st.container(border=True):
        c = st.columns([3, 2, 3, 2])
        search = c[0].text_input(_("Search"), key="datasets_search",
                                 placeholder=_("text in instruction, input or output"))
        status_f = c[1].multiselect(_("Status"), samples.STATUSES, key="datasets_status", placeholder=_("any"),
                                    format_func=lambda s: label("status", s))
        origin_f = c[2].multiselect(_("Origin"), list(info["by_origin"]), key="datasets_origin", placeholder=_("any"),
                                    format_func=samples.origin_label)
        type_f = c[3].multiselect(_("Question type"), list(info["by_type"]), key="datasets_type", placeholder=_("any"),
                                  format_func=qtype_label)
        c = st.columns([2, 2, 2, 2])
        tag_f = c[0].text_input(_("Tag"), key="datasets_tag")
        length_of = c[1].selectbox(_("Length of"), list(LENGTH_OF), key="datasets_length_of",
                                   format_func=lambda k: _(LENGTH_OF[k]))
        min_len = c[2].number_input(_("Min length"), value=None, step=10, key="datasets_min_len")
        max_len = c[3].number_input(_("Max length"), value=None, step=10, key="datasets_max_len")
        c = st.columns([3, 2, 2])
        sort = c[0].selectbox(_("Sort by"), list(samples.SORTS), key="datasets_sort",
                              format_func=lambda k: _(SORT_LABELS.get(k, k)))
        page_size = c[1].selectbox(_("Rows per page"), [25, 50, 100, 200], index=1, key="datasets_page_size")
        desc = c[2].toggle(_("Descending order"), key="datasets_desc")
    args = {"search": search, "status": status_f, "origin": origin_f, "qtype": type_f, "tag": tag_f,
            "min_len": min_len, "max_len": max_len, "length_of": length_of}
    return args, sort, desc, page_size


filter_args, sort, desc, page_size = filters()
flt = guarded(samples.make_filter, **filter_args)
if flt is None:
    st.stop()

view = st.segmented_control(_("View"), VIEWS, default=VIEWS[0], format_func=_, key="datasets_view") or VIEWS[0]

if msg := ss.pop("datasets_flash", None):
    (st.error if msg[0] == "error" else st.success)(msg[1])


def editor_key() -> str:
    """The editor's widget key; a new key after each save gives a fresh editor on fresh rows."""
    ss.setdefault("datasets_editor_gen", 0)
    return f"datasets_editor_{ss['datasets_editor_gen']}"


def save_edits() -> None:
    """Save what the editor changed on its last run, each row with its version."""
    key = editor_key()
    changes, shown = ss.get(key), ss.get(f"{key}_shown")
    if not (changes and shown is not None and any(changes.get(k) for k in ("edited_rows", "added_rows",
                                                                            "deleted_rows"))):
        return
    try:
        res = samples.save_editor(name, shown, changes)
    except StudioError as err:
        res = {"saved": 0, "added": 0, "deleted": 0, "conflicts": [str(err)]}
    ss.pop(f"{key}_shown", None)
    ss["datasets_editor_gen"] += 1
    done = ngettext("Saved {saved} edit, added {added}, deleted {deleted}.",
                    "Saved {saved} edits, added {added}, deleted {deleted}.", res["saved"]).format(**res)
    if res["conflicts"]:
        st.error(" ".join(res["conflicts"]), icon=":material/sync_problem:")
    if not res["conflicts"] or res["saved"] or res["added"] or res["deleted"]:
        st.success(done)


def grid(rows: list[dict], key: str) -> None:
    """The editable grid: readable column names, statuses and types in words, long text columns wide."""
    frame = pd.DataFrame(rows, columns=list(samples.PAGE_COLUMNS))
    frame["tags"] = frame["tags"].map(lambda t: ", ".join(t) if isinstance(t, (list, tuple)) else (t or ""))
    qtypes = list(options("qtype"))
    st.data_editor(
        frame, key=key, hide_index=True, width="stretch", num_rows="dynamic",
        disabled=["id", "version", "updated_at"],
        column_config={
            "id": st.column_config.NumberColumn(_("ID"), width="small"),
            "version": st.column_config.NumberColumn(_("version"), width="small",
                                                     help=_("row version: it goes up with each edit")),
            "status": st.column_config.SelectboxColumn(_("status"), options=list(samples.STATUSES), width="small",
                                                       format_func=lambda s: label("status", s)),
            "instruction": st.column_config.TextColumn(_("instruction"), width="large"),
            "input": st.column_config.TextColumn(_("input"), width="small"),
            "output": st.column_config.TextColumn(_("output"), width="large"),
            "system": st.column_config.TextColumn(_("system prompt"), width="small"),
            "tags": st.column_config.TextColumn(_("tags"), help=_("comma-separated")),
            "origin": st.column_config.TextColumn(_("origin"), width="small"),
            "qtype": st.column_config.SelectboxColumn(_("question type"), options=qtypes, format_func=qtype_label),
            "updated_at": st.column_config.DatetimeColumn(_("last edited"), format="YYYY-MM-DD HH:mm"),
        })


def read_row(rows: list[dict]) -> None:
    """A row of this page in full below the grid: long questions are cut in the grid's cells."""
    by_id = {r["id"]: r for r in rows}
    if not by_id:
        return
    short = lambda i: (by_id[i]["instruction"] or by_id[i]["input"] or "").replace("\n", " ")  # noqa: E731
    pick = st.selectbox(_("Read a row in full"), list(by_id), index=None, key="datasets_read",
                        placeholder=_("choose a row of this page"),
                        format_func=lambda i: f"#{i} · {short(i)[:60]}{'…' if len(short(i)) > 60 else ''}")
    if pick is None:
        return
    row = guarded(samples.get, pick)
    if not row:
        return
    with st.container(border=True):
        st.caption(" · ".join([f"#{row['id']}", label("status", row["status"]), samples.origin_label(row["origin"]),
                               qtype_label(row["qtype"]), ", ".join(row.get("tags") or [])]))
        for turn, (q, a) in enumerate(row.get("history") or [], start=1):
            st.markdown(_("**Earlier turn {n}**").format(n=turn))
            st.code(f"{q}\n\n{a}", language=None, wrap_lines=True)
        for field in ("system", "instruction", "input", "output"):
            if row.get(field):
                st.markdown(f"**{_(FIELDS[field])}**")
                st.code(row[field], language=None, wrap_lines=True)
        if row.get("tools"):
            st.markdown("**{}**".format(_("tools")))
            st.code(row["tools"], language="json", wrap_lines=True)


def browse() -> None:
    save_edits()
    key = editor_key()
    signature = repr((name, flt, sort, desc, page_size))
    if ss.get("datasets_signature") != signature:  # another filter or order: back to the first page
        ss["datasets_signature"] = signature
        ss["datasets_page"] = 1
    c = st.columns([2, 6])
    ss.setdefault("datasets_page", 1)  # dropped by Streamlit while another view was shown
    page_no = c[0].number_input(_("Page"), step=1, key="datasets_page")  # its value lives in the session
    reason = samples.page_problem(page_no, page_size)
    if reason:
        st.warning(reason)
        return
    # rows first, the total after: at a million rows a search shows its first page before it is counted
    result = guarded(samples.page, name, flt, page_no=int(page_no), page_size=page_size, sort=sort,
                     descending=desc, with_total=False)
    if result is None:
        return
    count_slot = c[1].empty()
    rows = result["rows"]
    ss[f"{key}_shown"] = [{"id": r["id"], "version": r["version"]} for r in rows]
    grid(rows, key)
    total = samples.count(name, flt)
    pages = max(1, -(-total // page_size))
    count_slot.caption(ngettext(
        "{total} row matches · page {page} of {pages} · edits save each row with its version; a row changed in "
        "another tab since you saw it is refused and shown fresh.",
        "{total} rows match · page {page} of {pages} · edits save each row with its version; a row changed in "
        "another tab since you saw it is refused and shown fresh.", total).format(
        total=f"{total:,}", page=int(page_no), pages=f"{pages:,}"))
    if not rows and int(page_no) > pages:
        st.info(_("Past the last page ({pages}).").format(pages=f"{pages:,}"))
    read_row(rows)


def bulk_values(action: str, c) -> dict:
    """The values a bulk action needs, in the second column."""
    params: dict = {}
    if action in ("tag", "untag"):
        params["tag"] = c.text_input(_("Tag"), key="datasets_bulk_tag")
    elif action == "status":
        params["status"] = c.selectbox(_("New status"), samples.STATUSES, key="datasets_bulk_status",
                                       format_func=lambda s: label("status", s))
    elif action in ("copy", "move"):
        params["target"] = c.selectbox(_("Target dataset"), [n for n in names if n != name], key="datasets_bulk_target")
    elif action == "replace":
        params["find"] = c.text_input(_("Find"), key="datasets_bulk_find")
        params["replace"] = c.text_input(_("Replace with"), key="datasets_bulk_replace")
        params["fields"] = c.multiselect(_("In"), list(samples.TEXT_FIELDS), default=list(samples.TEXT_FIELDS),
                                         key="datasets_bulk_fields", placeholder=_("choose fields"),
                                         format_func=lambda f: _(FIELDS[f]))
    return params


def bulk() -> None:
    st.caption(_("Applies to every row matching the filter above, in one transaction; the last bulk action can be "
                 "undone."))
    actions = samples.bulk_actions()
    c = st.columns([2, 3])
    action = c[0].selectbox(_("Action"), list(actions), format_func=actions.get, key="datasets_bulk_action")
    params = bulk_values(action, c[1])
    count = None
    try:
        count = samples.bulk_count(name, flt, action, params)
    except StudioError as err:  # an incomplete form: say what is missing, no alarm
        st.info(str(err))
    if count is not None:
        # a confirmation holds for exactly what it was given to: anything else changed, it unticks
        signature = repr((name, flt, action, params, count))
        if ss.pop("datasets_bulk_reset", False) or ss.get("datasets_bulk_signature") != signature:
            ss["datasets_bulk_signature"] = signature
            ss["datasets_bulk_confirm"] = False
        st.warning(_("This will {action} on **{n}** row(s) of **{name}**.").format(action=actions[action],
                                                                                  n=f"{count:,}", name=name))
        confirmed = st.checkbox(ngettext("Yes, change this {n} row", "Yes, change these {n} rows", count).format(
            n=f"{count:,}"), key="datasets_bulk_confirm")
        verb = ngettext("Delete {n} row", "Delete {n} rows", count) if action == "delete" else \
            ngettext("Apply to {n} row", "Apply to {n} rows", count)
        if st.button(verb.format(n=f"{count:,}"), type="primary", disabled=not confirmed or count == 0,
                     key="datasets_bulk_apply"):
            try:
                done = samples.bulk(name, flt, action, params, confirm=count)
                ss["datasets_flash"] = ("ok", ngettext("{action}: {n} row changed.", "{action}: {n} rows changed.",
                                                       done["affected"]).format(action=actions[action],
                                                                                n=f"{done['affected']:,}"))
                ss["datasets_editor_gen"] = ss.get("datasets_editor_gen", 0) + 1
            except StudioError as err:  # the rows changed since they were counted: nothing happened
                ss["datasets_flash"] = ("error", str(err))
            ss["datasets_bulk_reset"] = True
            st.rerun()
    undo()


def undo() -> None:
    last = samples.last_bulk(name)
    if not last:
        return
    st.caption(_("Last bulk action: {action} on {n} rows ({when}).").format(
        action=last["label"], n=f"{last['affected']:,}", when=f"{last['created_at']:%Y-%m-%d %H:%M}"))
    if st.button(_("Undo it"), key="datasets_bulk_undo"):
        try:
            done = samples.undo_last(name)
            note = _(" ({n} rows edited since were left as they are)").format(n=done["skipped"]) \
                if done["skipped"] else ""
            ss["datasets_flash"] = ("ok", ngettext("Undone: {n} row restored{note}.",
                                                   "Undone: {n} rows restored{note}.",
                                                   done["restored"]).format(n=f"{done['restored']:,}", note=note))
            ss["datasets_editor_gen"] = ss.get("datasets_editor_gen", 0) + 1
        except StudioError as err:
            ss["datasets_flash"] = ("error", str(err))
        ss["datasets_bulk_reset"] = True
        st.rerun()


def found(job: dict) -> None:
    """A finished search: the groups, and the button that removes all but one row of each."""
    r = job["result"]
    st.write(_("{groups} group(s) among {rows} rows; {dups} row(s) would go (the kept row is first: accepted "
               "first, then oldest).").format(groups=len(r["groups"]), rows=f"{r['rows']:,}", dups=r["duplicates"]))
    columns = {"id": _("ID"), "status": _("status"), **{k: _(v) for k, v in FIELDS.items()}}
    for g in r["shown"]:
        with st.expander(_("{kind} · {n} rows · keep #{keep}").format(kind=_(KINDS.get(g["kind"], g["kind"])),
                                                                      n=len(g["rows"]), keep=g["keep"])):
            frame = pd.DataFrame(g["rows"])
            if "status" in frame:
                frame["status"] = frame["status"].map(lambda s: label("status", s))
            st.dataframe(frame.rename(columns=columns), hide_index=True)
    if len(r["groups"]) > len(r["shown"]):
        st.caption(_("The first {n} groups are shown.").format(n=len(r["shown"])))
    if r["duplicates"] and st.button(ngettext("Keep one per group (delete {n} row)",
                                              "Keep one per group (delete {n} rows)", r["duplicates"]).format(
            n=r["duplicates"]), type="primary", key="datasets_dedup_apply"):
        # the count shown is the count confirmed: if the rows changed since, nothing is deleted
        jobview.submit("datasets_dedup_job", "dedup", {"dataset": name, "action": "remove",
                                                       "find_job": job["id"], "confirm": r["duplicates"]})
        st.rerun()


def deduplicate() -> None:
    # finding and removing duplicates are jobs of the server (kind ``dedup``); only the job id is kept here
    mine = lambda a: a.get("dataset") == name  # noqa: E731 - a reload or another tab finds the running job
    job = jobview.current("datasets_dedup_job", "dedup", mine)
    if job and job["args"].get("action") == "remove" and job["state"] not in jobview.ACTIVE:
        # a removal ended: say how it went once, then start over with "Find duplicates" off
        jobview.show(job, key="datasets_dedup_job", what=_("Removing duplicates"))
        jobview.forget("datasets_dedup_job")
        if job["state"] == "done":
            ss.pop("datasets_dedup_on", None)
            ss["datasets_editor_gen"] = ss.get("datasets_editor_gen", 0) + 1
        job = None
    c = st.columns(3)
    threshold = c[0].slider(_("Near-duplicate similarity (overlap of 3-character pieces)"), 0.5, 1.0, 0.8, 0.05,
                            key="datasets_dedup_threshold")
    exact_only = c[1].checkbox(_("Exact duplicates only"), key="datasets_dedup_exact")
    ask = {"dataset": name, "action": "find", "filter": filter_args, "near": not exact_only,
           "threshold": float(threshold)}
    if not c[2].toggle(_("Find duplicates"), key="datasets_dedup_on"):
        if job and job["state"] not in jobview.ACTIVE:
            jobview.forget("datasets_dedup_job")  # turned on again, it looks afresh
        return
    if job is None or (job["args"].get("action") == "find" and job["args"] != ask):
        jobview.submit("datasets_dedup_job", "dedup", ask)
    jobview.follow("datasets_dedup_job", "dedup", what=_("Duplicates"), match=mine, done=found)


def charts() -> None:
    tokenizer = st.text_input(_("Tokenizer folder (optional: lengths in tokens too)"), key="datasets_tokenizer")
    figs = guarded(samples.charts, name, tokenizer.strip() or None)
    if figs:
        st.plotly_chart(figs["chars"], key="datasets_chart_chars")
        if "tokens" in figs:
            st.plotly_chart(figs["tokens"], key="datasets_chart_tokens")
        for col, k in zip(st.columns(2), ("qtype", "origin")):
            if k in figs:
                col.plotly_chart(figs[k], key=f"datasets_chart_{k}")


{VIEWS[0]: browse, VIEWS[1]: bulk, VIEWS[2]: deduplicate, VIEWS[3]: charts}[view]()
