"""The chat playground: one to four systems (the base model, finished runs, API systems) answer the same
turns side by side, each with its own history, streamed as they are written.

- A :class:`ChatSystem` is ``base``, a run (its adapter on its base model) or an API system of
  :mod:`studio.evaluate.systems` (``LABEL=MODEL@BASE_URL``, any OpenAI-compatible endpoint, defined once
  for Compare, exams and here; its key from the variable it names, never stored).
- Local systems run on a :class:`LocalChat`: one base model with the runs' LoRA adapters loaded onto it by
  name (base = adapters disabled), so three adapters cost one copy of the base; a prefix (P-Tuning v2)
  adapter gets its own copy (peft cannot mix the kinds). The caller keeps it (the page: ``st.cache_resource``).
- :func:`ask` answers in a background thread and returns a :class:`Reply` at once, whose text grows as
  tokens arrive (transformers' ``TextStreamer``; OpenAI streaming). The thread never touches the page: the
  page polls (:func:`follow`) and draws. A reply ends ``stop`` (end of sequence), ``length`` (max new
  tokens), ``error`` (with the reason) or ``cancelled``; an empty one says which (:func:`note`).
- :func:`save_exchange` keeps an exchange as a sample pending review (origin ``playground``, the earlier
  turns as its history). torch, transformers, peft and openai are imported inside functions only.
"""
from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from store import datasets as store_datasets
from store import db
from store import samples as store_samples
from studio.core.errors import InputError, StudioError
from studio.core.formats import messages as sample_messages
from studio.core.i18n import N_, _
from studio.evaluate import comparisons, inference, limits
from studio.evaluate import systems as api_systems

MAX_SYSTEMS = 4
ORIGIN = "playground"
TEMPERATURE = limits.Limit(N_("Temperature"), 0, 2, whole=False)   # 0: greedy
TOP_P = limits.Limit(N_("Top-p"), 0.01, 1, whole=False)
DEFAULT_DECODE = {"max_new_tokens": 128, "temperature": 0.7, "top_p": 0.9, "seed": 0}
FINISH = {"stop": N_("ended by the model"), "length": N_("max new tokens reached"), "error": N_("failed"),
          "cancelled": N_("stopped")}
EMPTY = {"stop": N_("No text: the model ended its answer at once (end of sequence first)."),
         "length": N_("No text: max new tokens reached before any visible text."),
         "cancelled": N_("No text: stopped before the first token.")}


# ---------------------------------------------------------------- systems and settings


@dataclass(frozen=True)
class ChatSystem:
    """Something to chat with: the base model, a run's adapter on its base model, or an API model."""
    key: str                      # 'base', a run id, or 'api:LABEL'
    kind: str                     # base | run | api
    label: str
    base_model: str | None = None
    adapter: str | None = None    # a run's adapter folder
    method: str = "base"          # base | lora | prefix (api: api)
    model: str | None = None      # an API system's model name
    base_url: str | None = None
    key_env: str | None = None    # the environment variable holding an API system's key


def local_systems(base_model: str | None = None) -> list[ChatSystem]:
    """The base model (``base_model``, else the demo model) and every finished run with an adapter."""
    base = str(base_model or comparisons.default_base_model([]))
    out = [ChatSystem("base", "base", _("base ({model})").format(model=Path(base).name), base_model=base)]
    for r in comparisons.available_runs():
        s = inference.run_system(r["id"])
        out.append(ChatSystem(s.id, "run", r["label"], base_model=s.base_model, adapter=s.adapter, method=s.method))
    return out


def api_system(api: api_systems.ApiSystem) -> ChatSystem:
    """A stored API system as something to chat with."""
    return ChatSystem(api.id, "api", api.label, model=api.model, base_url=api.base_url, key_env=api.key_env,
                      method="api")


def chat_systems(base_model: str | None = None) -> list[ChatSystem]:
    """Everything to chat with: the base model, the finished runs, then the API systems defined so far."""
    return local_systems(base_model) + [api_system(a) for a in api_systems.list_all()]


def check_systems(systems: list[ChatSystem]) -> list[ChatSystem]:
    """One to four systems, each once."""
    if not systems:
        raise InputError(_("choose at least one system to chat with"))
    if len(systems) > MAX_SYSTEMS:
        raise InputError(_("chat with at most {n} systems at a time").format(n=MAX_SYSTEMS))
    keys = [s.key for s in systems]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise InputError(_("{system} is chosen twice").format(system=", ".join(twice)))
    return systems


def decode_problems(max_new_tokens, temperature, top_p, seed) -> list[str]:
    """Why the decoding settings cannot be used (each in the user's words); empty when they can."""
    return limits.problems((limits.MAX_NEW_TOKENS, max_new_tokens), (TEMPERATURE, temperature), (TOP_P, top_p),
                           (limits.SEED, seed))


def decode_settings(max_new_tokens=DEFAULT_DECODE["max_new_tokens"], temperature=DEFAULT_DECODE["temperature"],
                    top_p=DEFAULT_DECODE["top_p"], seed=DEFAULT_DECODE["seed"]) -> dict[str, Any]:
    """Checked decoding settings; temperature 0 is greedy decoding."""
    return {"max_new_tokens": limits.MAX_NEW_TOKENS.check(max_new_tokens),
            "temperature": float(TEMPERATURE.check(temperature)), "top_p": float(TOP_P.check(top_p)),
            "seed": limits.SEED.check(seed)}


def chat_messages(prompt: str, history: list | None = None, system_prompt: str | None = None) -> list[dict]:
    """The turns as chat messages: system prompt, earlier [question, answer] pairs, the new question."""
    return sample_messages({"instruction": prompt, "system": system_prompt or None, "history": history})[:-1]


# ---------------------------------------------------------------- a reply in the making


@dataclass
class Reply:
    """One system's answer to one turn; a background thread writes it, the page reads it."""
    system: ChatSystem
    text: str = ""
    finish: str | None = None     # stop | length | error | cancelled; None while it runs
    error: str | None = None
    tokens: int | None = None
    seconds: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    _t0: float = field(default_factory=time.perf_counter)

    def add(self, piece: str) -> None:
        self.text += piece

    def end(self, finish: str, error: str | None = None) -> None:
        if self.cancel.is_set() and finish == "stop":
            finish = "cancelled"
        self.finish, self.error = finish, error
        self.seconds = round(time.perf_counter() - self._t0, 2)
        self.done.set()

    def result(self) -> dict[str, Any]:
        """What the page keeps of a finished reply."""
        return {"text": self.text, "finish": self.finish, "error": self.error, "tokens": self.tokens,
                "seconds": self.seconds}


def note(reply: dict[str, Any]) -> str:
    """How a reply ended, in the user's words; an empty one says why."""
    finish = reply.get("finish")
    if finish == "error":
        return _("Failed: {reason}").format(reason=reply.get("error") or _("unknown error"))
    if not (reply.get("text") or "").strip() and finish in EMPTY:
        return _(EMPTY[finish])
    parts = [_(FINISH.get(finish, finish or ""))] if finish else []
    if reply.get("tokens") is not None:
        parts.append(_("{n} tokens").format(n=reply["tokens"]))
    if reply.get("seconds") is not None:
        parts.append(_("{s} s").format(s=f"{reply['seconds']:g}"))
    return " · ".join(p for p in parts if p)


def follow(replies: list[Reply], on_update: Callable[[int, Reply], None], *, poll: float = 0.05,
           timeout: float | None = None) -> None:
    """Call ``on_update(i, reply)`` whenever a reply's text grows or it ends, until all have ended
    (after ``timeout`` seconds the rest are cancelled). Runs in the caller's thread (the page's)."""
    seen = [None] * len(replies)
    start = time.monotonic()
    try:
        while True:
            for i, r in enumerate(replies):
                state = (len(r.text), r.finish)
                if state != seen[i]:
                    seen[i] = state
                    on_update(i, r)
            if all(r.done.is_set() for r in replies):
                return
            if timeout is not None and time.monotonic() - start > timeout:
                cancel(replies)
            time.sleep(poll)
    finally:  # a rerun of the page interrupts the loop: stop the answers nobody reads any more
        if not all(r.done.is_set() for r in replies):
            cancel(replies)


def cancel(replies: list[Reply]) -> None:
    """Ask the answers to stop (each stops after the token or chunk in flight)."""
    for r in replies:
        r.cancel.set()


# ---------------------------------------------------------------- local models


class LocalChat:
    """One base model and its tokenizer; LoRA adapters loaded onto it by name, prefix adapters on copies."""

    def __init__(self, base_model: str, *, trust_remote_code: bool = False):
        self.base_model, self.trust = str(base_model), bool(trust_remote_code)
        self.tokenizer, self.model = self._load()
        self.lora = None              # PeftModel holding every LoRA adapter loaded so far
        self.prefix: dict[str, Any] = {}   # adapter folder -> its PeftModel on its own copy of the base
        self.lock = threading.Lock()  # one generation at a time on these weights
        self.chat = bool(getattr(self.tokenizer, "chat_template", None))

    def _load(self, tokenizer: bool = True):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            tok = AutoTokenizer.from_pretrained(self.base_model, trust_remote_code=self.trust) if tokenizer else None
            model = AutoModelForCausalLM.from_pretrained(self.base_model, trust_remote_code=self.trust,
                                                         dtype="auto" if device == "cuda" else torch.float32)
        except (OSError, ValueError) as err:
            raise InputError(_("cannot load the base model: is it a model folder with its config, tokenizer and "
                               "weights? ({reason})").format(reason=str(err).splitlines()[0]),
                             file=self.base_model) from None
        if tok is not None:
            tok.truncation_side = "left"    # a long conversation keeps its end
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
        return tok, model.to(device).eval()

    def render(self, msgs: list[dict]) -> str:
        """The model input: the chat template when the tokenizer has one, else the turns as lines."""
        if self.chat:
            try:
                return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            except Exception:  # noqa: BLE001 - templates that refuse a system turn: fold it into the first user turn
                if msgs and msgs[0]["role"] == "system" and len(msgs) > 1:
                    rest = [dict(m) for m in msgs[1:]]
                    rest[0]["content"] = msgs[0]["content"] + "\n" + rest[0]["content"]
                    return self.tokenizer.apply_chat_template(rest, tokenize=False, add_generation_prompt=True)
                raise
        return "\n".join(m["content"] for m in msgs) + "\n"

    def _select(self, system: ChatSystem):
        """The model to call for ``system`` and the context to call it in (call under the lock)."""
        from peft import PeftModel

        if system.kind == "base":
            return (self.lora, self.lora.disable_adapter()) if self.lora is not None else (self.model, nullcontext())
        try:
            if system.method == "prefix":
                if system.adapter not in self.prefix:
                    _tok, copy = self._load(tokenizer=False)
                    self.prefix[system.adapter] = PeftModel.from_pretrained(copy, system.adapter).eval()
                return self.prefix[system.adapter], nullcontext()
            name = inference.adapter_name(system.key, system.adapter)
            if self.lora is None:
                self.lora = PeftModel.from_pretrained(self.model, system.adapter, adapter_name=name).eval()
            elif name not in self.lora.peft_config:
                self.lora.load_adapter(system.adapter, adapter_name=name)
            self.lora.set_adapter(name)
            return self.lora, nullcontext()
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise InputError(_("cannot load the run's adapter: is its adapter folder complete, and made for this "
                               "base model? ({reason})").format(reason=str(err).splitlines()[0]),
                             run_id=system.key) from None

    def _kwargs(self, decode: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {"max_new_tokens": int(decode["max_new_tokens"]), "do_sample": decode["temperature"] > 0,
                              "pad_token_id": self.tokenizer.pad_token_id, "eos_token_id": self.tokenizer.eos_token_id}
        if kw["do_sample"]:
            kw.update(temperature=float(decode["temperature"]), top_p=float(decode["top_p"]))
        else:  # silence the model's own sampling defaults under greedy decoding
            kw.update(temperature=None, top_p=None, top_k=None)
        return kw

    def answer(self, system: ChatSystem, msgs: list[dict], decode: dict[str, Any], reply: Reply) -> None:
        """Generate ``reply`` for ``system`` (blocking; :func:`ask` runs it in a thread)."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

        class Into(TextStreamer):
            def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
                reply.add(text)

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.full((input_ids.shape[0],), reply.cancel.is_set(), dtype=torch.bool,
                                  device=input_ids.device)

        kw = self._kwargs(decode)
        limit = getattr(self.model.config, "max_position_embeddings", None)
        max_len = max(8, int(limit) - kw["max_new_tokens"]) if limit else None
        enc = self.tokenizer([self.render(msgs)], return_tensors="pt", add_special_tokens=not self.chat,
                             truncation=max_len is not None, max_length=max_len).to(self.model.device)
        streamer = Into(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        with self.lock:
            model, context = self._select(system)
            with context, torch.inference_mode():
                if kw["do_sample"]:
                    torch.manual_seed(int(decode["seed"]))
                out = model.generate(**enc, **kw, streamer=streamer,
                                     stopping_criteria=StoppingCriteriaList([Cancelled()]))
        new = out[0, enc["input_ids"].shape[1]:]
        reply.tokens = int(new.shape[0])
        ended = self.tokenizer.eos_token_id is not None and bool((new == self.tokenizer.eos_token_id).any())
        reply.end("length" if reply.tokens >= kw["max_new_tokens"] and not ended else "stop")


# ---------------------------------------------------------------- asking


def _as_api(system: ChatSystem) -> api_systems.ApiSystem:
    return api_systems.ApiSystem(system.label, system.model, system.base_url, system.key_env)


def _answer_api(system: ChatSystem, msgs: list[dict], decode: dict[str, Any], reply: Reply,
                keys: dict[str, str] | None) -> None:
    """Stream an API system's answer into ``reply`` (blocking; :func:`ask` runs it in a thread)."""
    client = api_systems.client_for(_as_api(system), keys, timeout=60.0)
    sampling = {"top_p": decode["top_p"], "seed": decode["seed"]} if decode["temperature"] > 0 else {}
    stream = client.chat.completions.create(model=system.model, messages=msgs, stream=True,
                                            max_tokens=decode["max_new_tokens"], temperature=decode["temperature"],
                                            **sampling)   # greedy: temperature 0 alone, as Compare asks
    finish = "stop"
    try:
        for chunk in stream:
            if reply.cancel.is_set():
                finish = "cancelled"
                break
            for choice in chunk.choices or []:
                if choice.delta and choice.delta.content:
                    reply.add(choice.delta.content)
                if choice.finish_reason:
                    finish = "length" if choice.finish_reason == "length" else "stop"
            if getattr(chunk, "usage", None) and chunk.usage.completion_tokens is not None:
                reply.tokens = chunk.usage.completion_tokens
    finally:
        stream.close()
    reply.end(finish)


def ask(system: ChatSystem, prompt: str, history: list | None, decode: dict[str, Any], *,
        system_prompt: str | None = None, local: Callable[[str], LocalChat] | None = None,
        keys: dict[str, str] | None = None) -> Reply:
    """Start ``system``'s answer to ``prompt`` after ``history`` in a background thread; return its Reply.

    ``local(base_model)`` gives the LocalChat of a local system (the page's cached one); ``keys`` are API
    keys by variable name from the page's Streamlit secrets (the environment comes first)."""
    reply = Reply(system)
    msgs = chat_messages(prompt, history, system_prompt)

    def work() -> None:
        import openai

        try:
            if system.kind == "api":
                _answer_api(system, msgs, decode, reply, keys)
            else:
                chat = (local or LocalChat)(system.base_model)
                chat.answer(system, msgs, decode, reply)
        except StudioError as err:
            reply.end("error", str(err))
        except openai.OpenAIError as err:
            from studio.generate.caller import describe

            key = api_systems.key_for(_as_api(system), keys)
            reply.end("error", describe(err, model=system.model or "", timeout=60.0, key=key))
        except RuntimeError as err:  # torch: out of memory, shapes
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            reply.end("error", _("generation failed: {reason}").format(reason=reason))
        finally:
            if not reply.done.is_set():
                reply.end("error", _("generation failed: {reason}").format(reason=_("unknown error")))

    threading.Thread(target=work, name=f"playground-{system.key}", daemon=True).start()
    return reply


# ---------------------------------------------------------------- keeping an exchange


def save_exchange(dataset: str, turns: list, *, system_prompt: str | None = None, tags: list[str] | None = None,
                  origin: str = ORIGIN) -> dict[str, Any]:
    """Keep a conversation as one sample pending review: the last [question, answer] pair is the sample,
    the earlier pairs its history. The samples dataset is created when missing."""
    name = (dataset or "").strip()
    if not name:
        raise InputError(_("choose or name a dataset to save into"))
    pairs = [[str(q or ""), str(a or "")] for q, a in (turns or [])]
    if not pairs:
        raise InputError(_("nothing to save yet: chat first"))
    prompt, answer = pairs[-1]
    if not (prompt.strip() and answer.strip()):
        raise InputError(_("the question or the answer is empty: nothing to save"))
    row = {"instruction": prompt, "output": answer, "system": (system_prompt or "").strip() or None,
           "history": pairs[:-1] or None, "status": "pending", "origin": origin,
           "tags": [t for t in (tags or []) if t]}
    with db.transaction() as cur:
        did = store_datasets.get_or_create(name, "samples", cur=cur)
        store_samples.insert(did, [row], cur=cur)
    return {"dataset": name, "dataset_id": did, "history": len(pairs) - 1}
