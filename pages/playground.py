"""Playground: chat with one to four systems side by side — the base model, finished runs and API systems
(``LABEL=MODEL@BASE_URL``) — with the decoding settings in view, answers streamed, and any exchange kept
as a sample pending review. The quickest way to try an adapter (as LLaMA-Factory's Chat tab).

Why a chat turn is not a job: the studio's rule is that pages submit long work (generating a prompt set,
judging, training) as jobs of the server. A chat turn is interactive — one short answer per system,
bounded by max new tokens, read while it is written — and a job would queue it behind training and
lose the streaming. So the page answers directly: the model loads once per process (``st.cache_resource``,
one base model with the runs' LoRA adapters loaded onto it by name) and each answer is generated in a
background thread of ``studio.evaluate.playground``; this script only polls the replies and draws them,
so no thread ever calls Streamlit. The stop button (the chat box during an answer) cancels the answers.
The conversation is UI state (``st.session_state``) until an exchange is saved into a dataset.
"""
import streamlit as st

from pages.ui import guarded, secret_keys
from studio.core.i18n import _
from studio.core.labels import label
from studio.data import samples
from studio.evaluate import comparisons, limits
from studio.evaluate import playground as pg
from studio.evaluate import systems as api_systems

st.title(_("Playground"))
st.caption(_("Chat with up to four systems at once — the base model, your runs, API models — and compare their "
             "answers turn by turn. Keep a good exchange as a sample: it goes to Review as pending."))
ss = st.session_state


@st.cache_resource(show_spinner=False, max_entries=2)
def local_chat(base_model: str) -> pg.LocalChat:
    """The base model (and the adapters loaded onto it since), once per process."""
    return pg.LocalChat(base_model)


def kind_name(s: pg.ChatSystem) -> str:
    if s.kind == "api":
        return _("API · {model}").format(model=s.model)
    return _("base model") if s.kind == "base" else label("method", "ptuning" if s.method == "prefix" else s.method)


# ---------------------------------------------------------------- systems and decoding

with st.expander(_("Add an API system"), expanded=False):
    with st.form("playground_api_form", enter_to_submit=False, border=False):
        a1, a2, a3, a4 = st.columns(4)
        api_label = a1.text_input(_("Label"), key="playground_api_label", placeholder=api_systems.EXAMPLE["label"])
        api_model = a2.text_input(_("Model"), key="playground_api_model", placeholder=api_systems.EXAMPLE["model"])
        api_url = a3.text_input(_("Base URL"), key="playground_api_url", placeholder=api_systems.EXAMPLE["base_url"])
        api_env = a4.text_input(_("Key variable (optional)"), key="playground_api_env",
                                placeholder=api_systems.EXAMPLE["key_env"],
                                help=_("the environment variable that holds this endpoint's key; the key itself is "
                                       "never stored"))
        if st.form_submit_button(_("Save API system")):   # stored: Compare and exam evaluation offer it too
            added = guarded(api_systems.add, api_label, api_model, api_url, api_env)
            if added:
                st.success(_("Added {name}: choose it below.").format(name=added.label))

with st.container(border=True):
    b1, b2 = st.columns([1, 2])
    base_model = b1.text_input(_("Base model"), key="playground_base", placeholder=comparisons.default_base_model([]),
                               help=_("model folder of the base system; empty: the demo model"))
    found = guarded(pg.chat_systems, base_model.strip() or None) or []
    by_key = {s.key: s for s in found}
    if ss.get("playground_systems") is None:
        ss["playground_systems"] = [k for k in by_key][:1]
    ss["playground_systems"] = [k for k in ss["playground_systems"] if k in by_key]
    chosen = b2.multiselect(_("Systems (up to four)"), list(by_key), key="playground_systems",
                            max_selections=pg.MAX_SYSTEMS, format_func=lambda k: by_key[k].label,
                            placeholder=_("the base model, a run, an API system"))
    d1, d2, d3, d4 = st.columns(4)
    tokens_help = _("at most this many tokens per answer ({low}-{high})").format(
        low=int(limits.MAX_NEW_TOKENS.low), high=int(limits.MAX_NEW_TOKENS.high))
    max_new = d1.number_input(_("Max new tokens"), value=pg.DEFAULT_DECODE["max_new_tokens"], step=16,
                              key="playground_max_new", help=tokens_help)
    temperature = d2.number_input(_("Temperature"), value=pg.DEFAULT_DECODE["temperature"], step=0.1,
                                  key="playground_temperature", help=_("0: greedy (always the most likely token); "
                                                                       "higher: more varied answers (0-2)"))
    top_p = d3.number_input(_("Top-p"), value=pg.DEFAULT_DECODE["top_p"], step=0.05, key="playground_top_p",
                            help=_("sample only from the most likely tokens that together reach this share (0.01-1)"))
    seed = d4.number_input(_("Seed"), value=pg.DEFAULT_DECODE["seed"], step=1, key="playground_seed",
                           help=_("the same seed and settings give the same sampled answer"))
    system_prompt = st.text_input(_("System prompt (optional)"), key="playground_system_prompt")
    bad = pg.decode_problems(max_new, temperature, top_p, seed)
    for reason in bad:
        st.warning(reason, icon=":material/block:")

systems = [by_key[k] for k in chosen]
chat = ss.get("playground_chat")
if chat is None or chat["systems"] != chosen:   # other systems: a new conversation
    chat = ss["playground_chat"] = {"systems": list(chosen), "turns": []}

# ---------------------------------------------------------------- keeping an exchange

s1, s2, s3 = st.columns([2, 1, 1], vertical_alignment="bottom")
target = s1.selectbox(_("Save exchanges into"), [d["name"] for d in samples.samples_datasets()], index=None,
                      key="playground_target", accept_new_options=True,
                      placeholder=_("a samples dataset, or type a new name"))
s2.caption(_("Saved as pending: review them on the Review page."))
if s3.button(_("New chat"), key="playground_new", disabled=not chat["turns"]):
    chat["turns"] = []
    st.rerun()


def history_of(key: str, upto: int) -> list[list[str]]:
    """This system's own earlier turns: [question, its answer] for the turns it answered."""
    turns = chat["turns"][:upto]
    return [[t["prompt"], t["replies"][key]["text"]] for t in turns
            if key in t["replies"] and (t["replies"][key].get("text") or "").strip()]


def save(key: str, index: int) -> None:
    s = by_key[key]
    turn = chat["turns"][index]
    pairs = history_of(key, index) + [[turn["prompt"], turn["replies"][key]["text"]]]
    done = guarded(pg.save_exchange, target or "", pairs, system_prompt=system_prompt, tags=[s.label])
    if done:
        st.toast(_("Saved into {dataset} as pending ({n} earlier turns as history)").format(
            dataset=done["dataset"], n=done["history"]), icon=":material/bookmark_added:")


def show_reply(key: str, index: int, reply: dict) -> None:
    text = reply.get("text") or ""
    if text.strip():
        st.markdown(text)
    finish = reply.get("finish") or "cancelled"   # a turn a rerun interrupted
    note = pg.note({**reply, "finish": finish})
    (st.error if finish == "error" else st.caption)(note)
    if text.strip() and st.button(_("Save as sample"), key=f"playground_save_{index}_{key}",
                                  icon=":material/bookmark_add:", disabled=not target,
                                  help=_("this turn, with the earlier turns as its history") if target else
                                  _("choose a dataset above first")):
        save(key, index)


# ---------------------------------------------------------------- the conversation, one column per system

if not systems:
    st.info(_("Choose one to four systems above to start chatting."))
columns = st.columns(len(systems)) if systems else []
for col, s in zip(columns, systems):
    with col:
        st.subheader(s.label)
        st.caption(kind_name(s))
        for i, turn in enumerate(chat["turns"]):
            st.chat_message("user").markdown(turn["prompt"])
            if s.key in turn["replies"]:
                with st.chat_message("assistant"):
                    show_reply(s.key, i, turn["replies"][s.key])

prompt = st.chat_input(_("Ask all chosen systems…"), key="playground_input", submit_mode="stop",
                       disabled=bool(bad) or not systems)
if prompt and prompt.strip() and systems and not bad:
    decode = pg.decode_settings(max_new, temperature, top_p, seed)
    turn = {"prompt": prompt, "replies": {}}
    chat["turns"].append(turn)
    chats = {}
    for base in sorted({s.base_model for s in systems if s.kind != "api"}):
        with st.spinner(_("Loading {model}…").format(model=base)):
            chats[base] = guarded(local_chat, base)
    slots = []
    for col, s in zip(columns, systems):
        with col:
            st.chat_message("user").markdown(prompt)
            slots.append(st.chat_message("assistant").empty())
    keys = secret_keys([s.key for s in systems])
    replies = []
    for s in systems:
        if s.kind != "api" and chats.get(s.base_model) is None:   # its load failed: the error shows above
            r = pg.Reply(s)
            r.end("error", _("the base model could not be loaded"))
        else:
            r = pg.ask(s, prompt, history_of(s.key, len(chat["turns"]) - 1), decode, system_prompt=system_prompt,
                       local=chats.get, keys=keys)
        replies.append(r)

    def draw(i: int, r: pg.Reply) -> None:
        turn["replies"][r.system.key] = r.result()   # kept as it grows: a stop keeps what was written
        slots[i].markdown((r.text or "…") + ("" if r.done.is_set() else " ▌"))

    pg.follow(replies, draw)
    st.rerun()   # redraw the turn with its notes and save buttons
