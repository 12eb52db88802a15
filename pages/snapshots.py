"""Snapshots: freeze a dataset's accepted samples (optionally mixed with others), list, compare two.

No form: Enter in the name field keeps the name and starts nothing; only the Create button freezes. Numbers
are checked by ``snapshots.problem`` (the same check the CLI gets): out of range, the button is off and
says why.
"""
import pandas as pd
import streamlit as st

from pages.ui import guarded
from studio.core.i18n import _, ngettext
from studio.data import samples, snapshots

st.title(_("Snapshots"))
st.caption(_("A snapshot is a frozen, hashed copy of a dataset's **accepted** samples, split train / validation "
             "by seed (stratified by type). Runs train on snapshots, so every adapter traces back to its data. "
             "Freezing the same data twice gives the same snapshot."))

infos = samples.samples_datasets()
names = [d["name"] for d in infos]
accepted = {d["name"]: d["by_status"].get("accepted", 0) for d in infos}
if not names:
    st.info(_("No sample datasets yet: import or generate samples first."))
    st.stop()


def create_form() -> None:
    """The dataset, split and mix of a new snapshot, and the one button that freezes it."""
    c = st.columns([3, 1, 1, 3])
    # a dataset with nothing accepted cannot be frozen: offer the first one that can, and say the counts
    dataset = c[0].selectbox(_("Dataset"), names, key="snapshots_dataset",
                             index=next((i for i, n in enumerate(names) if accepted[n]), 0),
                             format_func=lambda n: ngettext("{name} ({n} accepted)", "{name} ({n} accepted)",
                                                            accepted[n]).format(name=n, n=f"{accepted[n]:,}"))
    val_ratio = c[1].number_input(_("Validation share"), value=0.1, step=0.05, key="snapshots_val",
                                  help=_("0 to 0.9: the share of samples held out to measure the run"))
    seed = c[2].number_input(_("Seed"), value=0, step=1, key="snapshots_seed",
                             help=_("0 to 2147483647: the same seed gives the same split"))
    name = c[3].text_input(_("Name (optional)"), key="snapshots_name")
    mixed = st.multiselect(_("Mix in other datasets (keeps general ability: domain-only data makes a model forget "
                             "general chat)"), names, key="snapshots_mix", placeholder=_("none"))
    mixed = [n for n in mixed if n != dataset]  # the dataset itself is all the rest of the snapshot
    shares = {}
    for col, other in zip(st.columns(len(mixed)) if mixed else [], mixed):
        shares[other] = col.number_input(_("Share of {name}").format(name=other), value=0.2, step=0.05,
                                         key=f"snapshots_share_{other}", help=_("0.01 to 0.9 of the snapshot"))
    why = snapshots.problem(val_ratio, seed, shares)
    if why:
        st.warning(why, icon=":material/block:")
    if not st.button(_("Create snapshot"), type="primary", disabled=why is not None, key="snapshots_create"):
        return
    with st.spinner(_("Freezing…")):
        snap = guarded(snapshots.create, dataset, val_ratio=float(val_ratio), seed=int(seed), mix=shares or None,
                       name=name.strip() or None)
    if snap:
        text = _("Created snapshot `{id}`: {train} train + {validation} validation.") if snap.get("created") else \
            _("Already frozen as snapshot `{id}`: {train} train + {validation} validation.")
        st.success(text.format(id=snap["id"], train=f"{snap['n_train']:,}", validation=f"{snap['n_validation']:,}"))


create_form()

rows = snapshots.list_all()
if not rows:
    st.info(_("No snapshots yet."))
    st.stop()
st.dataframe(pd.DataFrame([{
    _("ID"): r["id"], _("name"): r["name"], _("dataset"): r["dataset"], _("train"): r["n_train"],
    _("validation"): r["n_validation"], _("seed"): r["seed"], _("validation share"): r["val_ratio"],
    _("mixed in"): ", ".join(f"{k} {v:.0%}" for k, v in ((r["spec"] or {}).get("mix") or {}).items()),
    _("content hash"): r["content_hash"][:16], _("created"): r["created_at"],
} for r in rows]), hide_index=True, width="stretch")

st.subheader(_("Compare two snapshots"))
if len(rows) < 2:
    st.caption(_("Freeze the dataset again after editing it to see what changed between two snapshots."))
    st.stop()
ids = [r["id"] for r in rows]
labels = {r["id"]: f"{r['id']} · {r['name']}" for r in rows}
c = st.columns(2)
a = c[0].selectbox(_("From"), ids, format_func=labels.get, index=min(1, len(ids) - 1), key="snapshots_a")
b = c[1].selectbox(_("To"), ids, format_func=labels.get, index=0, key="snapshots_b")
d = guarded(snapshots.diff, a, b)
if d:
    m = st.columns(3)
    m[0].metric(_("Added"), f"{len(d['added']):,}")
    m[1].metric(_("Removed"), f"{len(d['removed']):,}")
    m[2].metric(_("Changed"), f"{len(d['changed']):,}")
    show = {"split": _("split"), "instruction": _("instruction"), "input": _("input"), "output": _("output"),
            "qtype": _("question type"), "origin": _("origin")}
    for title, items in ((_("Added"), d["added"]), (_("Removed"), d["removed"])):
        if items:
            with st.expander(f"{title} ({len(items):,})"):
                st.dataframe(pd.DataFrame(items[:500])[list(show)].rename(columns=show), hide_index=True)
    if d["changed"]:
        with st.expander(f"{_('Changed')} ({len(d['changed']):,})"):
            st.dataframe(pd.DataFrame([{
                _("sample"): c["sample_id"], _("fields"): ", ".join(c["fields"]),
                **{_("before: {field}").format(field=f): str(c["before"].get(f)) for f in c["fields"]},
                **{_("after: {field}").format(field=f): str(c["after"].get(f)) for f in c["fields"]}}
                for c in d["changed"][:500]]), hide_index=True)
