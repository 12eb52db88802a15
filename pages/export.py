"""Export: a dataset or a snapshot in the format a trainer reads, with a card and a LLaMA-Factory entry.
The export is a job of the server (kind ``export``); this page shows its progress and then what it wrote."""
from pathlib import Path

import streamlit as st

from pages import jobview
from pages.ui import guarded
from studio.data import export, samples, snapshots

st.title("Export")
st.caption("Write a dataset or a snapshot as files a trainer reads (ChatGLM, Alpaca, ShareGPT, messages, "
           "datasets, Parquet, CSV, XLSX), with a README card and a LLaMA-Factory `dataset_info.json`.")
formats = export.formats()
c = st.columns([1, 3])
source = c[0].radio("From", ["dataset", "snapshot"], key="export_source")
if source == "dataset":
    names = [d["name"] for d in samples.samples_datasets()]
    if not names:
        st.info("No sample datasets yet.")
        st.stop()
    chosen = c[1].selectbox("Dataset", names, key="export_dataset")
else:
    snaps = snapshots.list_all()
    if not snaps:
        st.info("No snapshots yet: create one on the Snapshots page.")
        st.stop()
    labels = {s["id"]: f"{s['id']} · {s['name']} ({s['n_train']} + {s['n_validation']})" for s in snaps}
    chosen = c[1].selectbox("Snapshot", list(labels), format_func=labels.get, key="export_snapshot")

fmt = st.selectbox("Format", list(formats), format_func=formats.get, key="export_format")
st.caption(export.format_note(fmt))
out = st.text_input("Folder name (under the export folder)", value=f"{chosen}_{fmt}".replace(" ", "_"),
                    key=f"export_out_{source}_{chosen}_{fmt}")
val_ratio, seed, statuses = None, 0, None
if source == "dataset":
    c = st.columns([1, 1, 3])
    val_ratio = c[0].number_input("Validation share (0 = none)", 0.0, 0.9, 0.0, 0.05, key="export_val")
    seed = c[1].number_input("Seed", 0, 2**31 - 1, 0, key="export_seed")
    statuses = c[2].multiselect("Statuses", samples.STATUSES, default=["draft", "pending", "accepted"],
                                key="export_statuses")
with st.expander("Length warnings (ChatGLM's trainer truncates longer samples silently)"):
    c = st.columns(3)
    max_source = c[0].number_input("max_source_length", 0, 100000, 0, key="export_max_source")
    max_target = c[1].number_input("max_target_length", 0, 100000, 0, key="export_max_target")
    tokenizer = c[2].text_input("Tokenizer folder (count tokens, not characters)", key="export_tokenizer")

already = guarded(export.exists, out)  # None: the name is unusable, and the error is shown
force = False
if already is None:
    st.caption("Choose a plain folder name to export.")
elif already:
    st.warning(f"`{out}` already exists in the export folder.")
    force = st.checkbox("Overwrite it", key="export_force")
if st.button("Export", type="primary", disabled=already is None or (already and not force), key="export_go"):
    jobview.submit("export_job", "export", {
        "format": fmt, "out": out, "force": force, "val_ratio": val_ratio or None, "seed": int(seed),
        "statuses": statuses, "max_source_length": int(max_source) or None,
        "max_target_length": int(max_target) or None, "tokenizer_dir": tokenizer.strip() or None,
        **({"dataset": chosen} if source == "dataset" else {"snapshot": chosen})})


def written(job: dict) -> None:
    """A finished export: its warnings, where it went, its files and a zip to download."""
    result = job["result"]
    for w in result["warnings"]:
        st.warning(w)
    st.success(f"Exported {result['train']:,} train + {result['validation']:,} validation samples. "
               f"Written to `{result['out']}`", icon=":material/check_circle:")
    st.code("\n".join(result["files"]), language=None)
    if Path(result["out"]).is_dir():
        st.download_button("Download .zip", data=lambda: export.zip_folder(result["out"]),
                           file_name=f"{Path(result['out']).name}.zip", mime="application/zip",
                           on_click="ignore", icon=":material/download:", key="export_download")


# the export runs as a job of the server: a reload or another tab shows it too
jobview.follow("export_job", "export", what="Exporting", done=written)
