"""Datasets: counts and charts, a paginated editor straight from DuckDB, bulk actions with undo,
deduplication (a job of the server: it goes on when the page closes), and importing pair files."""
import pandas as pd
import streamlit as st

from pages import jobview
from pages.ui import guarded
from studio.core.errors import StudioError
from studio.data import pairs, samples

st.title("Datasets")
st.caption("Browse and edit training pairs page by page, filter them, change many at once (undoable), remove "
           "duplicates and see length charts. Only **accepted** samples go into snapshots and training.")
ss = st.session_state

with st.expander("Import training pairs (Alpaca, content/summary, ShareGPT, OpenAI messages, Parquet, CSV, XLSX)",
                 expanded=False):
    with st.form("datasets_import_form"):
        upload = st.file_uploader("File", key="datasets_upload",
                                  type=["json", "jsonl", "parquet", "csv", "tsv", "xlsx", "txt"])
        target = st.text_input("Into dataset (created when missing)", key="datasets_import_target")
        status = st.selectbox("Status of the imported samples", samples.STATUSES, index=2, key="datasets_import_status")
        strict = st.checkbox("Refuse the whole file if any row is invalid", key="datasets_import_strict")
        go = st.form_submit_button("Import", type="primary")
    if go:
        if upload is None:
            st.error("Choose a file first.")
        else:
            with st.spinner("Importing…"):
                got = guarded(pairs.import_upload, upload.name, upload.getvalue(), target, status=status, strict=strict)
            if got:
                st.success(f"Imported {got['imported']:,} {got['format']} samples into **{got['dataset']}**"
                           f"; {got['rejected']} rejected.")
                if got["errors"]:
                    st.dataframe(pd.DataFrame(got["errors"]), hide_index=True)

infos = samples.samples_datasets()
if not infos:
    st.info("No sample datasets yet: import a pairs file above, or convert an exam bank / generate from a corpus.")
    st.stop()


def _keys(facet: str, order=()) -> list[str]:
    """Every value of a facet over all datasets: the known order first, then alphabetical."""
    seen = {k for d in infos for k in d[facet]}
    return [k for k in order if k in seen] + sorted(seen - set(order), key=str)


st.dataframe(pd.DataFrame([{
    "dataset": d["name"], "samples": d["samples"],
    **{f"status: {k}": d["by_status"].get(k, 0) for k in _keys("by_status", samples.STATUSES)},
    **{f"origin: {k}": d["by_origin"].get(k, 0) for k in _keys("by_origin")},
    **{f"type: {k}": d["by_type"].get(k, 0) for k in _keys("by_type")},
} for d in infos]), hide_index=True, width="stretch")

names = [d["name"] for d in infos]
name = st.selectbox("Open dataset", names, key="datasets_name")
info = next(d for d in infos if d["name"] == name)

# ---- the filter shared by the editor, bulk actions and dedup
with st.container(border=True):
    c = st.columns([3, 2, 2, 2, 2])
    search = c[0].text_input("Search", key="datasets_search", placeholder="text in instruction, input or output")
    status_f = c[1].multiselect("Status", samples.STATUSES, key="datasets_status")
    origin_f = c[2].multiselect("Origin", list(info["by_origin"]), key="datasets_origin")
    type_f = c[3].multiselect("Type", list(info["by_type"]), key="datasets_type")
    tag_f = c[4].text_input("Tag", key="datasets_tag")
    c = st.columns([2, 2, 2, 3, 1, 2])
    length_of = c[0].selectbox("Length of", ["content", "summary"], key="datasets_length_of")
    min_len = c[1].number_input("Min length", min_value=0, value=None, step=10, key="datasets_min_len")
    max_len = c[2].number_input("Max length", min_value=0, value=None, step=10, key="datasets_max_len")
    sort = c[3].selectbox("Sort by", list(samples.SORTS), key="datasets_sort")
    desc = c[4].toggle("Desc", key="datasets_desc")
    page_size = c[5].selectbox("Rows per page", [25, 50, 100, 200], index=1, key="datasets_page_size")

filter_args = {"search": search, "status": status_f, "origin": origin_f, "qtype": type_f, "tag": tag_f,
               "min_len": min_len, "max_len": max_len, "length_of": length_of}
flt = guarded(samples.make_filter, **filter_args)
if flt is None:
    st.stop()

view = st.segmented_control("View", ["Browse and edit", "Bulk actions", "Deduplicate", "Charts"],
                            default="Browse and edit", key="datasets_view") or "Browse and edit"

if msg := ss.pop("datasets_flash", None):
    (st.error if msg[0] == "error" else st.success)(msg[1])


def editor_key() -> str:
    """The editor's widget key; a new key after each save gives a fresh editor on fresh rows."""
    ss.setdefault("datasets_editor_gen", 0)
    return f"datasets_editor_{ss['datasets_editor_gen']}"


if view == "Browse and edit":
    key = editor_key()
    changes = ss.get(key)
    shown = ss.get(f"{key}_shown")
    if changes and shown is not None and any(changes.get(k) for k in ("edited_rows", "added_rows", "deleted_rows")):
        try:
            res = samples.save_editor(name, shown, changes)
        except StudioError as err:
            res = {"saved": 0, "added": 0, "deleted": 0, "conflicts": [str(err)]}
        ss.pop(f"{key}_shown", None)
        ss["datasets_editor_gen"] += 1
        key = editor_key()
        done = f"Saved {res['saved']} edit(s), added {res['added']}, deleted {res['deleted']}."
        if res["conflicts"]:
            st.error(" ".join(res["conflicts"]), icon=":material/sync_problem:")
            if res["saved"] or res["added"] or res["deleted"]:
                st.success(done)
        else:
            st.success(done)

    signature = repr((name, flt, sort, desc, page_size))
    if ss.get("datasets_signature") != signature:  # another filter or order: back to the first page
        ss["datasets_signature"] = signature
        ss["datasets_page"] = 1
    c = st.columns([2, 6])
    page_no = c[0].number_input("Page", min_value=1, value=1, step=1, key="datasets_page")
    # rows first, the total after: at a million rows a search shows its first page before it is counted
    result = guarded(samples.page, name, flt, page_no=int(page_no), page_size=page_size, sort=sort,
                     descending=desc, with_total=False)
    if result is None:
        st.stop()
    count_slot = c[1].empty()
    rows = result["rows"]
    ss[f"{key}_shown"] = [{"id": r["id"], "version": r["version"]} for r in rows]
    frame = pd.DataFrame(rows, columns=list(samples.PAGE_COLUMNS))
    frame["tags"] = frame["tags"].map(lambda t: ", ".join(t) if isinstance(t, (list, tuple)) else (t or ""))
    st.data_editor(
        frame, key=key, hide_index=True, width="stretch", num_rows="dynamic",
        disabled=["id", "version", "updated_at"],
        column_config={
            "id": st.column_config.NumberColumn("id", width="small"),
            "version": st.column_config.NumberColumn("v", width="small"),
            "status": st.column_config.SelectboxColumn("status", options=list(samples.STATUSES)),
            "instruction": st.column_config.TextColumn("instruction", width="large"),
            "input": st.column_config.TextColumn("input"),
            "output": st.column_config.TextColumn("output", width="large"),
            "tags": st.column_config.TextColumn("tags", help="comma-separated"),
        })
    total = samples.count(name, flt)
    pages = max(1, -(-total // page_size))
    count_slot.caption(f"{total:,} rows match · page {int(page_no)} of {pages:,} · edits save each row with its "
                       "version; a row changed in another tab since you saw it is refused and shown fresh.")
    if not rows and int(page_no) > pages:
        st.info(f"Past the last page ({pages:,}).")

elif view == "Bulk actions":
    st.caption("Applies to every row matching the filter above, in one transaction; the last bulk action can be undone.")
    c = st.columns([2, 3])
    action = c[0].selectbox("Action", list(samples.BULK_ACTIONS), format_func=samples.BULK_ACTIONS.get,
                            key="datasets_bulk_action")
    params = {}
    if action in ("tag", "untag"):
        params["tag"] = c[1].text_input("Tag", key="datasets_bulk_tag")
    elif action == "status":
        params["status"] = c[1].selectbox("New status", samples.STATUSES, key="datasets_bulk_status")
    elif action in ("copy", "move"):
        params["target"] = c[1].selectbox("Target dataset", [n for n in names if n != name], key="datasets_bulk_target")
    elif action == "replace":
        params["find"] = c[1].text_input("Find", key="datasets_bulk_find")
        params["replace"] = c[1].text_input("Replace with", key="datasets_bulk_replace")
        params["fields"] = c[1].multiselect("In", ["instruction", "input", "output"],
                                            default=["instruction", "input", "output"], key="datasets_bulk_fields")
    count = None
    try:
        count = samples.bulk_count(name, flt, action, params)
    except StudioError as err:  # an incomplete form: say what is missing, no alarm
        st.info(str(err))
    if count is not None:
        st.warning(f"This will {samples.BULK_ACTIONS[action]} on **{count:,}** row(s) of **{name}**.")
        confirmed = st.checkbox(f"Yes, change these {count:,} rows", key="datasets_bulk_confirm")
        if st.button("Apply", type="primary", disabled=not confirmed or count == 0, key="datasets_bulk_apply"):
            done = guarded(samples.bulk, name, flt, action, params, confirm=count)
            if done:
                ss["datasets_flash"] = ("ok", f"{samples.BULK_ACTIONS[action].capitalize()}: {done['affected']:,} rows.")
                ss["datasets_editor_gen"] = ss.get("datasets_editor_gen", 0) + 1
                del ss["datasets_bulk_confirm"]
                st.rerun()
    last = samples.last_bulk(name)
    if last:
        st.caption(f"Last bulk action: {last['label']} on {last['affected']:,} rows ({last['created_at']:%Y-%m-%d %H:%M}).")
        if st.button("Undo it", key="datasets_bulk_undo"):
            done = guarded(samples.undo_last, name)
            if done:
                note = f" ({done['skipped']} rows edited since were left as they are)" if done["skipped"] else ""
                ss["datasets_flash"] = ("ok", f"Undone: {done['restored']:,} rows restored{note}.")
                ss["datasets_editor_gen"] = ss.get("datasets_editor_gen", 0) + 1
                st.rerun()

elif view == "Deduplicate":
    # finding and removing duplicates are jobs of the server (kind ``dedup``); only the job id is kept here
    mine = lambda a: a.get("dataset") == name  # a reload or another tab finds the running job
    job = jobview.current("datasets_dedup_job", "dedup", mine)
    if job and job["args"].get("action") == "remove" and job["state"] not in jobview.ACTIVE:
        # a removal ended: say how it went once, then start over with "Find duplicates" off
        jobview.show(job, key="datasets_dedup_job", what="Removing duplicates")
        jobview.forget("datasets_dedup_job")
        if job["state"] == "done":
            ss.pop("datasets_dedup_on", None)
            ss["datasets_editor_gen"] = ss.get("datasets_editor_gen", 0) + 1
        job = None
    c = st.columns(3)
    threshold = c[0].slider("Near-duplicate similarity (Jaccard of 3-grams)", 0.5, 1.0, 0.8, 0.05,
                            key="datasets_dedup_threshold")
    exact_only = c[1].checkbox("Exact duplicates only", key="datasets_dedup_exact")
    ask = {"dataset": name, "action": "find", "filter": filter_args, "near": not exact_only,
           "threshold": float(threshold)}
    if not c[2].toggle("Find duplicates", key="datasets_dedup_on"):
        if job and job["state"] not in jobview.ACTIVE:
            jobview.forget("datasets_dedup_job")  # turned on again, it looks afresh
    else:
        if job is None or (job["args"].get("action") == "find" and job["args"] != ask):
            jobview.submit("datasets_dedup_job", "dedup", ask)

        def found(job: dict) -> None:
            """A finished search: the groups, and the button that removes all but one row of each."""
            r = job["result"]
            st.write(f"{len(r['groups'])} group(s) among {r['rows']:,} rows; "
                     f"{r['duplicates']} row(s) would go (the kept row is first: accepted first, then oldest).")
            for g in r["shown"]:
                with st.expander(f"{g['kind']} · {len(g['rows'])} rows · keep #{g['keep']}"):
                    st.dataframe(pd.DataFrame(g["rows"]), hide_index=True)
            if len(r["groups"]) > len(r["shown"]):
                st.caption(f"The first {len(r['shown'])} groups are shown.")
            if r["duplicates"] and st.button(f"Keep one per group (delete {r['duplicates']})", type="primary",
                                             key="datasets_dedup_apply"):
                # the count shown is the count confirmed: if the rows changed since, nothing is deleted
                jobview.submit("datasets_dedup_job", "dedup", {"dataset": name, "action": "remove",
                                                               "find_job": job["id"], "confirm": r["duplicates"]})
                st.rerun()

        jobview.follow("datasets_dedup_job", "dedup", what="Duplicates", match=mine, done=found)

else:
    tokenizer = st.text_input("Tokenizer folder (optional: lengths in tokens too)", key="datasets_tokenizer")
    figs = guarded(samples.charts, name, tokenizer.strip() or None)
    if figs:
        st.plotly_chart(figs["chars"], key="datasets_chart_chars")
        if "tokens" in figs:
            st.plotly_chart(figs["tokens"], key="datasets_chart_tokens")
        c = st.columns(2)
        for col, k in zip(c, ("qtype", "origin")):
            if k in figs:
                col.plotly_chart(figs[k], key=f"datasets_chart_{k}")
