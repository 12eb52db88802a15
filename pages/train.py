"""Train: pick data, a base model and a method preset, edit any setting, see the estimate, start."""
import streamlit as st

from pages.ui import guarded
from studio.data import samples, snapshots
from studio.train import config, display, estimate, runs

st.title("Train")
st.caption("Fine-tune a LoRA or P-Tuning v2 adapter in a background process. It keeps running when you "
           "close the page; follow it on **Runs**.")

# --- data
snaps = snapshots.list_all()
infos = samples.samples_datasets()
datasets = [d["name"] for d in infos]
accepted = {d["name"]: d["by_status"].get("accepted", 0) for d in infos}
if not snaps and not datasets:
    st.info("No training data yet: import or generate samples and accept some first.")
    st.stop()
source = st.radio("Train on", ["Snapshot", "Dataset (snapshot it now)"] if snaps else ["Dataset (snapshot it now)"],
                  horizontal=True, key="train_source")
snapshot = dataset = None
if source == "Snapshot":
    labels = {s["id"]: f"{s['id']} · {s['name']} ({s['n_train']} train / {s['n_validation']} validation)"
              for s in snaps}
    snapshot = st.selectbox("Snapshot", list(labels), format_func=labels.get, key="train_snapshot")
else:
    # only accepted samples train: offer the first dataset that has some, and say the counts
    dataset = st.selectbox("Dataset (its accepted samples are frozen into a snapshot)", datasets,
                           index=next((i for i, n in enumerate(datasets) if accepted[n]), 0),
                           format_func=lambda n: f"{n} ({accepted[n]:,} accepted)", key="train_dataset")

# --- base model
models = config.base_models()
TYPED = "Type a folder or hub id…"
choices = [m["path"] for m in models] + [TYPED]
names = {m["path"]: m["name"] for m in models} | {TYPED: TYPED}
picked = st.selectbox("Base model", choices, format_func=names.get, key="train_model_pick")
base_model = st.text_input("Model folder or hub id", key="train_model_typed",
                           placeholder="/models/Qwen2.5-1.5B-Instruct") if picked == TYPED else picked

# --- method and settings
method = st.radio("Method", list(config.PRESETS), format_func=config.PRESET_LABELS.get, horizontal=True,
                  key="train_method")
preset = config.preset(method, base_model)
hidden = {"lora": {"pre_seq_len", "prefix_projection"},
          "prefix": {"lora_r", "lora_alpha", "lora_dropout", "lora_target_modules"}}[method]
fields = [f for f in config.config_fields() if f["name"] not in hidden]
values = {}


def field(col, f):
    """One editable setting: a readable label, its config name and --flag in the help."""
    default = preset.get(f["name"], f["default"])
    key = f"train_{method}_{f['name']}"
    label = f["label"]
    help_ = f"{f['help']}\n\nConfig `{f['name']}` · CLI `python -m studio train {f['flag']}`"
    if f["type"] == "bool":
        return col.checkbox(label, value=bool(default), help=help_, key=key)
    if f["type"] == "int":
        return int(col.number_input(label, value=int(default), step=1, help=help_, key=key))
    if f["type"] == "float":
        return float(col.number_input(label, value=float(default), format="%g", help=help_, key=key))
    if f["type"] == "tuple":
        return col.text_input(label, value=",".join(default), help=help_, key=key)
    return col.text_input(label, value=str(default), help=help_, key=key)


st.subheader("Settings")
basic = sorted((f for f in fields if f["basic"]), key=lambda f: config.BASIC_FIELDS.index(f["name"]))
cols = st.columns(3)
for i, f in enumerate(basic):
    values[f["name"]] = field(cols[i % 3], f)
GROUPS = {"adapter": "Adapter", "optimisation": "Batches, schedule, logging and checkpoints",
          "model": "Model loading", "data": "Data", "launch": "Launch (GPUs)"}
with st.expander("Advanced: adapter, batches, schedule, checkpoints, GPUs"):
    st.caption("The method's preset fills these; hover a field's ⓘ for its config name and `--flag`.")
    for group in list(GROUPS) + sorted({f["group"] for f in fields} - set(GROUPS)):  # none is ever dropped
        rest = [f for f in fields if f["group"] == group and not f["basic"]]
        if not rest:
            continue
        st.markdown(f"**{GROUPS.get(group, group.capitalize())}**")
        cols = st.columns(3)
        for i, f in enumerate(rest):
            values[f["name"]] = field(cols[i % 3], f)
name = st.text_input("Run name (optional)", key="train_name")

st.caption("The command the run will start:")
st.code(display.command_preview(values.get("num_processes", 1), values.get("deepspeed", False)),
        language="bash")

data = {"snapshot": snapshot} if snapshot else {"dataset": dataset}
left, right = st.columns([1, 1])
if left.button("Estimate", key="train_estimate_btn"):
    with st.spinner("Tokenizing the training split…"):
        est = guarded(estimate.estimate, base_model=base_model, method=method, **data, **values)
    if est:
        m = st.columns(4)
        m[0].metric("Training rows", f"{est['n_train']:,}")
        m[1].metric("Tokens per epoch", f"{est['tokens_per_epoch']:,}")
        m[2].metric("Steps", f"{est['steps']:,}")
        m[3].metric("Tokens in all", f"{est['tokens_total']:,}")
        st.caption(f"Mean row {est['mean_length']} tokens, longest {est['max_length']}; "
                   f"{est['response_tokens_per_epoch']:,} response tokens per epoch carry the loss; "
                   f"{est['epochs']} epochs; snapshot `{est['snapshot']}`.")
if right.button("Start", type="primary", key="train_start"):
    with st.spinner("Freezing the data and launching…"):
        run = guarded(runs.submit, base_model=base_model, method=method, name=name.strip() or None, **data, **values)
    if run:
        st.session_state["runs_pick_next"] = run["id"]
        est = run.get("estimate") or {}
        st.success(f"Run `{run['id']}` is {run['state']}: {est.get('n_train', '?')} rows, "
                   f"{est.get('tokens_per_epoch', '?')} tokens per epoch, {run['total']} steps.")
        st.code(run["command"], language="bash")
        st.page_link("pages/runs.py", label="Follow it on Runs", icon=":material/monitoring:")
