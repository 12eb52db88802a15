"""Train: pick data, a base model and a method preset, edit any setting, see the estimate, start."""
import streamlit as st

from pages.ui import guarded
from studio.core.i18n import N_, _
from studio.data import samples, snapshots
from studio.train import config, display, estimate, runs

st.title(_("Train"))
st.caption(_("Fine-tune a LoRA or P-Tuning v2 adapter in a background process. It keeps running when you "
             "close the page; follow it on **Runs**."))

# --- data
snaps = snapshots.list_all()
infos = samples.samples_datasets()
datasets = [d["name"] for d in infos]
accepted = {d["name"]: d["by_status"].get("accepted", 0) for d in infos}
if not snaps and not datasets:
    st.info(_("No training data yet: import or generate samples and accept some first."))
    st.stop()
SNAPSHOT, DATASET = N_("Snapshot"), N_("Dataset (snapshot it now)")  # option values stay English
source = st.radio(_("Train on"), [SNAPSHOT, DATASET] if snaps else [DATASET], format_func=_, horizontal=True,
                  key="train_source")
snapshot = dataset = None
if source == SNAPSHOT:
    labels = {s["id"]: _("{id} · {name} ({train} train / {validation} validation)").format(
        id=s["id"], name=s["name"], train=s["n_train"], validation=s["n_validation"]) for s in snaps}
    snapshot = st.selectbox(_("Snapshot"), list(labels), format_func=labels.get, key="train_snapshot")
else:
    # only accepted samples train: offer the first dataset that has some, and say the counts
    dataset = st.selectbox(_("Dataset (its accepted samples are frozen into a snapshot)"), datasets,
                           index=next((i for i, n in enumerate(datasets) if accepted[n]), 0),
                           format_func=lambda n: _("{name} ({n} accepted)").format(name=n, n=f"{accepted[n]:,}"),
                           key="train_dataset")

# --- base model
models = config.base_models()
TYPED = N_("Type a folder or hub id…")
EXAMPLE_MODEL = "/models/Qwen2.5-1.5B-Instruct"  # a path, the same in every language
choices = [m["path"] for m in models] + [TYPED]
names = {m["path"]: m["name"] + (" " + _("(demo)") if m["demo"] else "") for m in models} | {TYPED: _(TYPED)}
picked = st.selectbox(_("Base model"), choices, format_func=names.get, key="train_model_pick")
base_model = st.text_input(_("Model folder or hub id"), key="train_model_typed",
                           placeholder=EXAMPLE_MODEL) if picked == TYPED else picked

# --- method and settings
method = st.radio(_("Method"), list(config.PRESETS), format_func=lambda m: _(config.PRESET_LABELS[m]),
                  horizontal=True, key="train_method")
preset = config.preset(method, base_model)
hidden = {"lora": {"pre_seq_len", "prefix_projection"},
          "prefix": {"lora_r", "lora_alpha", "lora_dropout", "lora_target_modules"}}[method]
fields = [f for f in config.config_fields() if f["name"] not in hidden]
values = {}


def field(col, f):
    """One editable setting: a readable label, its config name, --flag and range in the help.

    A number is a float widget without bounds, so what a person types reaches ``config.problems`` as typed
    ("1e12" stays 1e12, an emptied or unreadable field is None) and Start says why it is disabled."""
    default = preset.get(f["name"], f["default"])
    key = f"train_{method}_{f['name']}"
    label = _(f["label"])
    help_ = _("{why}\n\nConfig `{name}` · CLI `python -m studio train {flag}`").format(
        why=_(f["help"]), name=f["name"], flag=f["flag"])
    if f["min"] is not None:
        help_ += " · " + _("from {low} to {high}").format(low=config.shown_number(f["min"]),
                                                          high=config.shown_number(f["max"]))
    if f["type"] == "bool":
        return col.checkbox(label, value=bool(default), help=help_, key=key)
    if f["type"] in ("int", "float"):
        if key not in st.session_state or st.session_state.get(f"{key}__preset") != default:
            st.session_state[key] = float(default)  # first shown, or the preset moved (another base model)
            st.session_state[f"{key}__preset"] = default
        return col.number_input(label, value=None, step=1.0 if f["type"] == "int" else None, format="%.10g",
                                help=help_, key=key)
    if f["type"] == "tuple":
        return col.text_input(label, value=",".join(default), help=help_, key=key)
    return col.text_input(label, value=str(default), help=help_, key=key)


st.subheader(_("Settings"))
basic = sorted((f for f in fields if f["basic"]), key=lambda f: config.BASIC_FIELDS.index(f["name"]))
cols = st.columns(3)
for i, f in enumerate(basic):
    values[f["name"]] = field(cols[i % 3], f)
with st.expander(_("Advanced: adapter, batches, schedule, checkpoints, GPUs")):
    st.caption(_("The method's preset fills these; hover a field's ⓘ for its config name and `--flag`."))
    groups = config.GROUP_LABELS
    for group in list(groups) + sorted({f["group"] for f in fields} - set(groups)):  # none is ever dropped
        rest = [f for f in fields if f["group"] == group and not f["basic"]]
        if not rest:
            continue
        st.markdown("**{}**".format(_(groups[group]) if group in groups else group.capitalize()))
        cols = st.columns(3)
        for i, f in enumerate(rest):
            values[f["name"]] = field(cols[i % 3], f)
name = st.text_input(_("Run name (optional)"), key="train_name")

st.caption(_("The command the run will start:"))
launch = config.problems({k: values[k] for k in ("num_processes",) if k in values})
st.code(display.command_preview(1 if launch else int(values.get("num_processes") or 1),
                                values.get("deepspeed", False)), language="bash")

# a value out of range (or not a number) keeps Estimate and Start disabled and says why
problems = config.problems(values)
labels_of = {f["name"]: _(f["label"]) for f in fields}
reasons = [_("{label}: {why}").format(label=labels_of.get(k, k), why=why) for k, why in problems.items()]
if reasons:
    st.warning(_("Fix these settings to start:") + "\n\n" + "\n".join(f"- {r}" for r in reasons),
               icon=":material/block:")
blocked = reasons[0] if reasons else None

data = {"snapshot": snapshot} if snapshot else {"dataset": dataset}
left, right = st.columns([1, 1])
if left.button(_("Estimate"), key="train_estimate_btn", disabled=bool(reasons), help=blocked):
    with st.spinner(_("Tokenizing the training split…")):
        est = guarded(estimate.estimate, base_model=base_model, method=method, **data, **values)
    if est:
        m = st.columns(4)
        m[0].metric(_("Training rows"), f"{est['n_train']:,}")
        m[1].metric(_("Tokens per epoch"), f"{est['tokens_per_epoch']:,}")
        m[2].metric(_("Steps"), f"{est['steps']:,}")
        m[3].metric(_("Tokens in all"), f"{est['tokens_total']:,}")
        st.caption(_("Mean row {mean} tokens, longest {longest}; {response} response tokens per epoch carry the "
                     "loss; {epochs} epochs; snapshot `{snapshot}`.").format(
            mean=est["mean_length"], longest=est["max_length"], response=f"{est['response_tokens_per_epoch']:,}",
            epochs=est["epochs"], snapshot=est["snapshot"]))
if right.button(_("Start"), type="primary", key="train_start", disabled=bool(reasons), help=blocked):
    with st.spinner(_("Freezing the data and launching…")):
        run = guarded(runs.submit, base_model=base_model, method=method, name=name.strip() or None, **data, **values)
    if run:
        st.session_state["runs_pick_next"] = run["id"]
        est = run.get("estimate") or {}
        st.success(_("Run `{run}` is {state}: {rows} rows, {tokens} tokens per epoch, {steps} steps.").format(
            run=run["id"], state=display.state_label(run), rows=est.get("n_train", "?"),
            tokens=est.get("tokens_per_epoch", "?"), steps=run["total"]))
        st.code(run["command"], language="bash")
        st.page_link(page="pages/runs.py", label=_("Follow it on Runs"), icon=":material/monitoring:")
