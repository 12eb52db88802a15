"""Export: a dataset or a snapshot in the format a trainer reads, with a card and a LLaMA-Factory entry.
The export is a job of the server (kind ``export``); this page shows its progress and then what it wrote.
Numbers are checked by ``export.problem`` (the CLI's check too): out of range, Export is off and says why."""
from pathlib import Path

import streamlit as st

from pages import jobview
from pages.ui import guarded
from studio.core.i18n import N_, _
from studio.core.labels import label
from studio.data import export, samples, snapshots

SOURCES = {"dataset": N_("a dataset"), "snapshot": N_("a snapshot")}

st.title(_("Export"))
st.caption(_("Write a dataset or a snapshot as files a trainer reads (ChatGLM, Alpaca, ShareGPT, messages, "
             "datasets, Parquet, CSV, XLSX), with a README card and a LLaMA-Factory `dataset_info.json`."))
formats = export.formats()
c = st.columns([1, 3])
source = c[0].radio(_("From"), list(SOURCES), format_func=lambda k: _(SOURCES[k]), key="export_source")
if source == "dataset":
    names = [d["name"] for d in samples.samples_datasets()]
    if not names:
        st.info(_("No sample datasets yet."))
        st.stop()
    chosen = c[1].selectbox(_("Dataset"), names, key="export_dataset")
else:
    snaps = snapshots.list_all()
    if not snaps:
        st.info(_("No snapshots yet: create one on the Snapshots page."))
        st.stop()
    labels = {s["id"]: _("{id} · {name} ({train} train + {validation} validation)").format(
        id=s["id"], name=s["name"], train=s["n_train"], validation=s["n_validation"]) for s in snaps}
    chosen = c[1].selectbox(_("Snapshot"), list(labels), format_func=labels.get, key="export_snapshot")

fmt = st.selectbox(_("Format"), list(formats), format_func=formats.get, key="export_format")
st.caption(export.format_note(fmt))
out = st.text_input(_("Folder name (under the export folder)"), value=f"{chosen}_{fmt}".replace(" ", "_"),
                    key=f"export_out_{source}_{chosen}_{fmt}")
val_ratio, seed, statuses = None, 0, None
if source == "dataset":
    c = st.columns([1, 1, 3])
    val_ratio = c[0].number_input(_("Validation share (0 = none)"), value=0.0, step=0.05, key="export_val",
                                  help=_("0 to 0.9"))
    seed = c[1].number_input(_("Seed"), value=0, step=1, key="export_seed", help=_("0 to 2147483647"))
    statuses = c[2].multiselect(_("Statuses"), samples.STATUSES, default=["draft", "pending", "accepted"],
                                format_func=lambda s: label("status", s), key="export_statuses",
                                placeholder=_("all but rejected"))
with st.expander(_("Length warnings (ChatGLM's trainer truncates longer samples silently)")):
    c = st.columns(3)
    max_source = c[0].number_input(_("Longest prompt (`max_source_length`)"), value=0, step=1,
                                   key="export_max_source",
                                   help=_("0 = no check; longer prompts are listed before export"))
    max_target = c[1].number_input(_("Longest answer (`max_target_length`)"), value=0, step=1,
                                   key="export_max_target",
                                   help=_("0 = no check; longer answers are listed before export"))
    tokenizer = c[2].text_input(_("Tokenizer folder (count tokens, not characters)"), key="export_tokenizer")

if lost := guarded(export.tool_warning, fmt, **({"dataset": chosen} if source == "dataset" else {"snapshot": chosen})):
    st.warning(lost, icon=":material/build:")  # said before the click, and again in the result
already = guarded(export.exists, out)  # None: the name is unusable, and the error is shown
why = export.problem(val_ratio, seed, max_source, max_target)
force = False
if why:
    st.warning(why, icon=":material/block:")
if already is None:
    st.caption(_("Choose a plain folder name to export."))
elif already:
    st.warning(_("`{out}` already exists in the export folder.").format(out=out))
    force = st.checkbox(_("Overwrite it"), key="export_force")
if st.button(_("Export"), type="primary", disabled=bool(why) or already is None or (already and not force),
             key="export_go"):
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
    st.success(_("Exported {train} train + {validation} validation samples. Written to `{out}`").format(
        train=f"{result['train']:,}", validation=f"{result['validation']:,}", out=result["out"]),
        icon=":material/check_circle:")
    st.code("\n".join(result["files"]), language=None)
    if Path(result["out"]).is_dir():
        st.download_button(_("Download .zip"), data=lambda: export.zip_folder(result["out"]),
                           file_name=f"{Path(result['out']).name}.zip", mime="application/zip",
                           on_click="ignore", icon=":material/download:", key="export_download")


# the export runs as a job of the server: a reload or another tab shows it too
jobview.follow("export_job", "export", what=_("Exporting"), match=None, done=written)
