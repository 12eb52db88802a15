"""Snapshots: freeze a dataset's accepted samples (optionally mixed with others), list, compare two."""
import pandas as pd
import streamlit as st

from pages.ui import guarded
from studio.data import samples, snapshots

st.title("Snapshots")
st.caption("A snapshot is a frozen, hashed copy of a dataset's **accepted** samples, split train / validation "
           "by seed (stratified by type). Runs train on snapshots, so every adapter traces back to its data. "
           "Freezing the same data twice gives the same snapshot.")

infos = samples.samples_datasets()
names = [d["name"] for d in infos]
accepted = {d["name"]: d["by_status"].get("accepted", 0) for d in infos}
if not names:
    st.info("No sample datasets yet: import or generate samples first.")
    st.stop()

with st.form("snapshots_create"):
    c = st.columns([3, 1, 1, 3])
    # a dataset with nothing accepted cannot be frozen: offer the first one that can, and say the counts
    dataset = c[0].selectbox("Dataset", names, key="snapshots_dataset",
                             index=next((i for i, n in enumerate(names) if accepted[n]), 0),
                             format_func=lambda n: f"{n} ({accepted[n]:,} accepted)")
    val_ratio = c[1].number_input("Validation share", 0.0, 0.9, 0.1, 0.05, key="snapshots_val")
    seed = c[2].number_input("Seed", 0, 2**31 - 1, 0, key="snapshots_seed")
    name = c[3].text_input("Name (optional)", key="snapshots_name")
    mixed = st.multiselect("Mix in other datasets (keeps general ability: domain-only data makes a model forget "
                           "general chat)", names, key="snapshots_mix")
    shares = {}
    if mixed:
        cols = st.columns(len(mixed))
        for col, other in zip(cols, mixed):
            shares[other] = col.number_input(f"share of {other}", 0.01, 0.9, 0.2, 0.05,
                                             key=f"snapshots_share_{other}")
    create = st.form_submit_button("Create snapshot", type="primary")
if create:
    with st.spinner("Freezing…"):
        snap = guarded(snapshots.create, dataset, val_ratio=float(val_ratio), seed=int(seed),
                       mix={k: v for k, v in shares.items() if k != dataset} or None, name=name.strip() or None)
    if snap:
        verb = "Created" if snap.get("created") else "Already frozen as"
        st.success(f"{verb} snapshot `{snap['id']}`: {snap['n_train']:,} train + {snap['n_validation']:,} validation.")

rows = snapshots.list_all()
if not rows:
    st.info("No snapshots yet.")
    st.stop()
st.dataframe(pd.DataFrame([{
    "id": r["id"], "name": r["name"], "dataset": r["dataset"], "train": r["n_train"], "validation": r["n_validation"],
    "seed": r["seed"], "val_ratio": r["val_ratio"],
    "mix": ", ".join(f"{k} {v:.0%}" for k, v in ((r["spec"] or {}).get("mix") or {}).items()),
    "content hash": r["content_hash"][:16], "created": r["created_at"],
} for r in rows]), hide_index=True, width="stretch")

st.subheader("Compare two snapshots")
if len(rows) < 2:
    st.caption("Freeze the dataset again after editing it to see what changed between two snapshots.")
    st.stop()
ids = [r["id"] for r in rows]
labels = {r["id"]: f"{r['id']} · {r['name']}" for r in rows}
c = st.columns(2)
a = c[0].selectbox("From", ids, format_func=labels.get, index=min(1, len(ids) - 1), key="snapshots_a")
b = c[1].selectbox("To", ids, format_func=labels.get, index=0, key="snapshots_b")
d = guarded(snapshots.diff, a, b)
if d:
    m = st.columns(3)
    m[0].metric("Added", f"{len(d['added']):,}")
    m[1].metric("Removed", f"{len(d['removed']):,}")
    m[2].metric("Changed", f"{len(d['changed']):,}")
    show = ["split", "instruction", "input", "output", "qtype", "origin"]
    for label, items in (("Added", d["added"]), ("Removed", d["removed"])):
        if items:
            with st.expander(f"{label} ({len(items):,})"):
                st.dataframe(pd.DataFrame(items[:500])[show], hide_index=True)
    if d["changed"]:
        with st.expander(f"Changed ({len(d['changed']):,})"):
            st.dataframe(pd.DataFrame([{"sample": c["sample_id"], "fields": ", ".join(c["fields"]),
                                        **{f"before {f}": c["before"].get(f) for f in c["fields"]},
                                        **{f"after {f}": c["after"].get(f) for f in c["fields"]}}
                                       for c in d["changed"][:500]]), hide_index=True)
