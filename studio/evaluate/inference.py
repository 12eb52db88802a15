"""Local inference for comparisons, exam evaluation and the playground: one base model in memory, every
LoRA adapter of a request answering in the same batches.

- ``engine(base_model)`` keeps ONE base model per process (a different base replaces it), on the device
  ``studio.train.devices.torch_device()`` names (a model job placed on ``cuda:i`` gets that GPU; CPU
  otherwise). LoRA adapters of any number of runs are loaded onto it by safe names derived from the run
  ids (peft ``load_adapter``); the base system is the same model without an adapter.
- All LoRA adapters in one batch (``Engine.generate_many``): the rows of a batch may belong to different
  LoRA systems and the base, each row naming its adapter through peft's ``adapter_names`` (see
  ``studio.evaluate.batching``); greedy outputs equal one-system-at-a-time generation, token for token.
  A system alone (``generate`` / ``generate_batches``) runs as before: ``set_adapter`` /
  ``disable_adapter()``.
- P-Tuning v2 (peft prefix tuning) adapters cannot share a PeftModel with LoRA adapters (peft raises):
  switching between the two kinds unloads the LoRA layers (``unload()``, no reload of the base weights)
  and wraps the base in a prefix PeftModel, whose prefix adapters again switch by name, each in batches of
  its own. Base and LoRA go first, then prefix, so a request switches kind at most once.
- Batched generation with left padding; prompts are rendered with the tokenizer's chat template when it
  has one (system prompt and earlier turns as in ``studio.formats``), else as plain text; batches are
  formed from prompts of similar length; stop strings end a sequence and are cut from the output. Each
  output is a ``batching.Answer``: its text plus ``finish_reason`` (``eos`` | ``stop`` | ``length`` |
  ``error``, with ``error`` saying why) and the generated ``token_ids``. A call's key/value cache is
  allocated at its full size and filled in place (``Engine._static_cache``), where the model allows.
- ``trust_remote_code`` comes from the run's config (``config.json``, as the trainer saved it), never on
  by default; the base system inherits it from runs on the same base model.
- Generations are stored in the ``generations`` table keyed by a hash of prompt + system prompt +
  history, the model system (``base`` or a run id) and a decode key (decode settings + base model), so
  a comparison reopens instantly and nothing is generated twice.

torch, transformers and peft are imported inside functions only: importing this module is cheap.
"""
from __future__ import annotations

import gc
import hashlib
import json
import re
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from store import compare as store
from store import db
from studio.core import settings
from studio.core.errors import InputError, NotFound, WorkFailed
from studio.core.formats import messages as sample_messages
from studio.core.i18n import N_, _
from studio.core.labels import label
from studio.evaluate import batching, limits
from studio.evaluate.batching import Answer, cut_at_stop  # noqa: F401 - cut_at_stop: public here too

# Decode presets. "chatglm" is the seed recipe (ChatGLM-6B P-Tuning answers with temperature 0.01,
# top_p 1): sampling, but so cold that it is nearly greedy; seeded, so it repeats.
PRESETS: dict[str, dict[str, Any]] = {
    "greedy": {"do_sample": False},
    "chatglm": {"do_sample": True, "temperature": 0.01, "top_p": 1.0},
    "sampled": {"do_sample": True, "temperature": 0.8, "top_p": 0.9},
}
PRESET_HELP = {  # marked: translate with _() where shown
    "greedy": N_("greedy: the most likely token each step (deterministic)"),
    "chatglm": N_("ChatGLM recipe: temperature 0.01, top_p 1 (the seed's setting)"),
    "sampled": N_("sampled: temperature 0.8, top_p 0.9, seeded"),
}
DEFAULT_PRESET = "greedy"
DEFAULT_MAX_NEW_TOKENS = 128
STATIC_CACHE_MAX_BYTES = 2 * 2**30   # a larger key/value cache for one call grows as the default one does
METHOD_ORDER = {"base": 0, "lora": 1, "prefix": 2}


# ---------------------------------------------------------------- keys and settings


def decode_settings(preset: str = DEFAULT_PRESET, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                    stop: list[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """The full decode settings of a preset (what the decode key hashes)."""
    if preset not in PRESETS:
        raise InputError(_("unknown decode preset {preset}; choose one of {choices}").format(
            preset=repr(preset), choices=", ".join(PRESETS)))
    return {"preset": preset, **PRESETS[preset], "max_new_tokens": limits.MAX_NEW_TOKENS.check(max_new_tokens),
            "stop": [s for s in (stop or []) if s], "seed": limits.SEED.check(seed)}


def prompt_key(prompt: str, system: str | None = None, history: list | None = None) -> str:
    """Hash of what the model is asked: prompt text, system prompt and earlier turns."""
    body = json.dumps([prompt, system or "", history or []], ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:32]


def decode_key(decode: dict[str, Any], base_model: str) -> str:
    """Hash of the decode settings and the base model they ran on."""
    body = json.dumps({"decode": decode, "base_model": str(base_model)}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def adapter_name(run_id: str, folder: str | None = None) -> str:
    """A peft adapter name for a run id (and its adapter folder) that cannot clash with module
    attributes such as ``double``."""
    safe = re.sub(r"[^0-9A-Za-z_]", "_", run_id)[:40]
    digest = hashlib.sha1(f"{run_id}|{folder or ''}".encode()).hexdigest()[:8]
    return f"run_{safe}_{digest}"


# ---------------------------------------------------------------- systems


@dataclass(frozen=True)
class System:
    """Something that answers prompts: the base model, or a run's adapter on its base model."""
    id: str                 # 'base' or a run id
    base_model: str
    method: str             # base | lora | prefix
    adapter: str | None     # the adapter folder
    label: str
    trust_remote_code: bool = False   # from the run's config (ChatGLM needs it); never on by default


def _peft_kind(adapter_dir: Path) -> str:
    try:
        cfg = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "lora"
    peft_type = str(cfg.get("peft_type", "LORA")).upper()
    return "prefix" if peft_type in ("PREFIX_TUNING", "P_TUNING", "PROMPT_TUNING") else "lora"


def _config_of(row: dict | None, folder: Path) -> dict[str, Any]:
    """A run's config: its ``config`` column in the runs table, else the ``config.json`` in its folder."""
    config = (row or {}).get("config")
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            config = None
    if isinstance(config, dict) and "trust_remote_code" in config:
        return config
    try:
        found = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        found = None
    return found if isinstance(found, dict) else (config if isinstance(config, dict) else {})


def run_system(run_id: str) -> System:
    """A run as a system: its row in the runs table, else its folder ``$STUDIO_RUNS/<id>/config.json``."""
    run_id = (run_id or "").strip()
    if not run_id or "/" in run_id or "\\" in run_id or run_id in (".", ".."):
        raise InputError(_("not a run id: {run_id}").format(run_id=repr(run_id)))
    row = store.run(run_id)
    config: dict[str, Any] = {}
    if row is not None:
        folder = Path(row["dir"]).expanduser()
        if not folder.exists():
            folder = settings.path("runs") / run_id
        base_model, method, state = row["base_model"], row["method"], row["state"]
    else:
        folder = settings.path("runs") / run_id
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            known = ", ".join(r["id"] for r in store.runs_with_state()[:20]) or _("none yet")
            raise NotFound(_("no run {run_id} (runs: {known})").format(run_id=repr(run_id), known=known)) from None
        base_model, method, state = config.get("base_model"), config.get("method", "lora"), "unknown"
    adapter = folder / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise InputError(_("run {run_id} has no adapter yet (state: {state}); wait until it is done").format(
            run_id=run_id, state=label("state", state) if row is not None else _("unknown")), run_id=run_id)
    if not base_model:
        raise InputError(_("the run names no base model"), run_id=run_id)
    kind = _peft_kind(adapter)
    if method in ("lora", "prefix") and method != kind:
        method = kind  # the adapter on disk decides how it is loaded
    trust = _config_of(row, folder).get("trust_remote_code") is True
    return System(id=run_id, base_model=str(base_model), method=kind, adapter=str(adapter),
                  label=(row or {}).get("name") or run_id, trust_remote_code=trust)


def _base_trusted(base_model: str) -> bool:
    """Whether a run on ``base_model`` was configured with ``trust_remote_code`` (the user chose it for
    that model folder when training)."""
    for r in store.runs_with_state():
        if str(r.get("base_model")) == str(base_model):
            row = store.run(r["id"])
            folder = Path(str((row or {}).get("dir") or settings.path("runs") / r["id"])).expanduser()
            if _config_of(row, folder).get("trust_remote_code") is True:
                return True
    return False


def base_system(base_model: str, *, trust_remote_code: bool | None = None) -> System:
    """The base model as a system; ``trust_remote_code`` None: on when a run on this base model has it."""
    trust = _base_trusted(base_model) if trust_remote_code is None else bool(trust_remote_code)
    return System(id="base", base_model=str(base_model), method="base", adapter=None,
                  label=_("base ({model})").format(model=Path(str(base_model)).name), trust_remote_code=trust)


def resolve_systems(run_ids: list[str], *, base_model: str | None = None, include_base: bool = True) -> list[System]:
    """The systems of a comparison: the base model first (unless left out), then each run in order.

    The base model is ``base_model`` when given, else the first run's base model, else the demo model.
    """
    runs = []
    for rid in run_ids:
        if rid == "base":
            continue
        if rid in [r.id for r in runs]:
            raise InputError(_("run {run_id} is listed twice").format(run_id=rid))
        runs.append(run_system(rid))
    if base_model is None:
        if runs:
            base_model = runs[0].base_model
        else:
            from studio.train.demo_model import demo_model_dir

            base_model = str(demo_model_dir())
    same = [r.trust_remote_code for r in runs if r.base_model == str(base_model)]
    out = [base_system(base_model, trust_remote_code=any(same) if same else None)] if include_base else []
    if not out and not runs:
        raise InputError(_("choose at least one system to compare"))
    return out + runs


# ---------------------------------------------------------------- the engine


class Engine:
    """One base model and its tokenizer, with adapters loaded on it by name."""

    def __init__(self, base_model: str, *, trust_remote_code: bool = False, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from studio.train.devices import torch_device

        self.base_model = str(base_model)
        self.device = device or torch_device()
        self.trust_remote_code = bool(trust_remote_code)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.base_model, trust_remote_code=self.trust_remote_code)
            dtype = "auto" if self.device.startswith("cuda") else torch.float32
            model = AutoModelForCausalLM.from_pretrained(self.base_model, trust_remote_code=self.trust_remote_code,
                                                         dtype=dtype)
        except (OSError, ValueError) as err:
            raise InputError(_("cannot load the base model: is it a model folder with its config, tokenizer and "
                               "weights? ({reason})").format(reason=str(err).splitlines()[0]),
                             file=self.base_model) from None
        self.tokenizer.padding_side = "left"       # decoder-only batches pad on the left
        self.tokenizer.truncation_side = "left"    # a too-long prompt keeps its end (the question)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = model.to(self.device).eval()
        self.lora = None     # PeftModel holding every LoRA adapter loaded so far
        self.prefix = None   # PeftModel holding prefix adapters (never at the same time as self.lora)
        self.stats = {"base_loads": 1, "adapter_loads": 0, "kind_switches": 0, "generated": 0, "batches": 0,
                      "mixed_batches": 0}
        self.lock = threading.Lock()
        self.chat = bool(getattr(self.tokenizer, "chat_template", None))

    # -- rendering

    def render(self, item: dict[str, Any]) -> str:
        """The model input for one prompt: chat template (system, history, user turn) or plain text."""
        sample = {"instruction": item["prompt"], "system": item.get("system"), "history": item.get("history")}
        msgs = sample_messages(sample)[:-1]  # without the empty answer
        if self.chat:
            try:
                return self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            except Exception:  # noqa: BLE001 - templates that refuse a system turn: fold it into the user turn
                if msgs and msgs[0]["role"] == "system":
                    rest = msgs[1:]
                    rest[-1] = {"role": "user", "content": msgs[0]["content"] + "\n" + rest[-1]["content"]}
                    return self.tokenizer.apply_chat_template(rest, tokenize=False, add_generation_prompt=True)
                raise
        parts = [m["content"] for m in msgs]
        return "\n".join(parts)

    # -- adapters

    def _load(self, system: System):
        """Load the system's adapter once, into the PeftModel of its kind (switching kind if needed);
        return that PeftModel."""
        from peft import PeftModel

        name = adapter_name(system.id, system.adapter)
        try:
            if system.method == "lora":
                if self.prefix is not None:
                    self.prefix = None
                    self.stats["kind_switches"] += 1
                if self.lora is None:
                    self.lora = PeftModel.from_pretrained(self.model, system.adapter, adapter_name=name)
                    self.lora.eval()
                    self.stats["adapter_loads"] += 1
                elif name not in self.lora.peft_config:
                    self.lora.load_adapter(system.adapter, adapter_name=name)
                    self.stats["adapter_loads"] += 1
                return self.lora
            if self.lora is not None:
                self.model = self.lora.unload()   # removes the LoRA layers; the base weights stay in memory
                self.lora = None
                self.stats["kind_switches"] += 1
            if self.prefix is None:
                self.prefix = PeftModel.from_pretrained(self.model, system.adapter, adapter_name=name)
                self.prefix.eval()
                self.stats["adapter_loads"] += 1
            elif name not in self.prefix.peft_config:
                self.prefix.load_adapter(system.adapter, adapter_name=name)
                self.stats["adapter_loads"] += 1
            return self.prefix
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise InputError(_("cannot load the run's adapter: is its adapter folder complete, and made for this "
                               "base model? ({reason})").format(reason=str(err).splitlines()[0]),
                             run_id=system.id) from None

    def _select(self, system: System):
        """The model to call for ``system`` alone and the context to call it in."""
        if system.method == "base":
            if self.lora is not None:
                return self.lora, self.lora.disable_adapter()
            return self.model, nullcontext()   # a prefix PeftModel leaves the base modules untouched
        model = self._load(system)
        model.set_adapter(adapter_name(system.id, system.adapter))
        return model, nullcontext()

    def _pool(self, pool: list[System]):
        """The model, context and per-system ``adapter_names`` entry (None: a system alone) for a pool."""
        if len(pool) == 1:
            return (*self._select(pool[0]), None)
        for s in pool:
            if s.method == "lora":
                self._load(s)
        names = {s.id: adapter_name(s.id, s.adapter) if s.method == "lora" else batching.BASE for s in pool}
        return self.lora, nullcontext(), names

    # -- generation

    def _batch(self, model, texts: list[str], systems: list[System], names: dict[str, str] | None,
               kwargs: dict[str, Any], decode: dict[str, Any], max_len: int | None) -> list[Answer]:
        """One generate call: the rows' prompts (each answered by its system) to answers."""
        import torch

        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=not self.chat,
                             truncation=max_len is not None, max_length=max_len).to(self.device)
        if kwargs["do_sample"]:
            torch.manual_seed(int(decode.get("seed", 0)))
        extra = {"adapter_names": [names[s.id] for s in systems]} if names else {}
        cache = self._static_cache(model, len(texts), enc["input_ids"].shape[1] + kwargs["max_new_tokens"])
        if cache is not None:
            extra["past_key_values"] = cache
        t0 = time.perf_counter()
        out = model.generate(**enc, **kwargs, **extra)
        ms = int((time.perf_counter() - t0) * 1000 / len(texts))
        answers = batching.answers(self.tokenizer, out[:, enc["input_ids"].shape[1]:].tolist(),
                                   [s.id for s in systems], eos=kwargs.get("eos_token_id"),
                                   stop=decode.get("stop") or [], ms=ms)
        self.stats["generated"] += len(texts)
        self.stats["batches"] += 1
        self.stats["mixed_batches"] += bool(names)
        return answers

    def _static_cache(self, model, rows: int, length: int):
        """A key/value cache of the call's full size, filled in place, or None for transformers' default one,
        which grows by copying itself whole at every new token (on a CPU a tenth of a 128-row call's time at
        32 new tokens, a fifth at 64). Only for models transformers can run with a static cache, not for
        prefix (P-Tuning v2) systems, whose prefix is the cache, and only up to ``STATIC_CACHE_MAX_BYTES``:
        the static cache holds every row's full length from the start, the default one only what is used."""
        if model is self.prefix or not getattr(type(self.model), "_can_compile_fullgraph", False):
            return None
        from transformers import StaticCache

        cfg = self.model.config.get_text_config(decoder=True)
        heads = getattr(cfg, "num_attention_heads", None)
        kv_heads = getattr(cfg, "num_key_value_heads", None) or heads
        head_dim = getattr(cfg, "head_dim", None) or (cfg.hidden_size // heads if heads else None)
        if not (kv_heads and head_dim and getattr(cfg, "num_hidden_layers", None)):
            return None
        size = rows * length * cfg.num_hidden_layers * 2 * kv_heads * head_dim * self.model.dtype.itemsize
        return StaticCache(config=cfg, max_cache_len=length) if size <= STATIC_CACHE_MAX_BYTES else None

    def generate_many(self, requests: list[tuple[System, dict[str, Any]]], decode: dict[str, Any], *,
                      batch_size: int = 16) -> Iterator[tuple[list[int], list[Answer]]]:
        """Answer (system, item) requests of several systems on this base model; yield (positions in
        ``requests``, answers) per batch. The base and the LoRA systems share batches (peft
        ``adapter_names``); other adapters get batches of their own. A batch holds at most ``batch_size``
        rows; prompts of similar length go together (each prompt's systems side by side)."""
        import torch

        systems = list({s.id: s for s, _it in requests}.values())
        for s in systems:
            if s.base_model != self.base_model:
                raise InputError(_("system {system} runs on {model}, not on {loaded}").format(
                    system=s.id, model=s.base_model, loaded=self.base_model))
        rendered = [self.render(it) for _s, it in requests]
        texts = list(dict.fromkeys(rendered))
        where = {t: i for i, t in enumerate(texts)}
        prompt_of = [where[t] for t in rendered]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=not self.chat)["input_ids"]]
        rank = {s.id: i for i, s in enumerate(systems)}
        ranks = [rank[s.id] for s, _it in requests]
        kwargs = batching.generate_kwargs(self.tokenizer, decode, DEFAULT_MAX_NEW_TOKENS)
        limit = getattr(self.model.config, "max_position_embeddings", None)
        max_len = max(8, int(limit) - kwargs["max_new_tokens"] - 64) if limit else None
        with self.lock:
            for pool in batching.pools(systems):
                ids = {s.id for s in pool}
                positions = [i for i, (s, _it) in enumerate(requests) if s.id in ids]
                model, context, names = self._pool(pool)
                with context, torch.inference_mode():
                    for idx in batching.plan(positions, [lengths[p] for p in prompt_of], prompt_of, ranks,
                                             batch_size):
                        yield idx, self._batch(model, [texts[prompt_of[i]] for i in idx],
                                               [requests[i][0] for i in idx], names, kwargs, decode, max_len)

    def generate_batches(self, system: System, items: list[dict[str, Any]], decode: dict[str, Any], *,
                         batch_size: int = 16) -> Iterator[tuple[list[int], list[tuple[Answer, int]]]]:
        """Generate for ``items`` as ``system``; yield (indices, [(output, ms per prompt)]) per batch; each
        output is an ``Answer`` (a str with ``finish_reason`` and ``token_ids``)."""
        batches = self.generate_many([(system, it) for it in items], decode, batch_size=batch_size)
        try:
            for idx, answers in batches:
                yield idx, [(a, a.ms) for a in answers]
        finally:
            batches.close()

    def generate(self, system: System, items: list[dict[str, Any]], decode: dict[str, Any], *,
                 batch_size: int = 16) -> list[Answer]:
        """Outputs for ``items`` in order (no storage); each a str with ``finish_reason`` and ``token_ids``."""
        return self.generate_systems([system], items, decode, batch_size=batch_size)[system.id]

    def generate_systems(self, systems: list[System], items: list[dict[str, Any]], decode: dict[str, Any], *,
                         batch_size: int = 16) -> dict[str, list[Answer]]:
        """Every system's outputs for ``items`` in order, by system id (no storage): the base and all LoRA
        systems answer in shared batches."""
        requests = [(s, it) for s in systems for it in items]
        found: dict[int, Answer] = {}
        for idx, answers in self.generate_many(requests, decode, batch_size=batch_size):
            found.update(zip(idx, answers))
        n = len(items)
        return {s.id: [found[k * n + i] for i in range(n)] for k, s in enumerate(systems)}


_ENGINES: dict[tuple[str, bool, str], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine(base_model: str, *, trust_remote_code: bool = False) -> Engine:
    """The process's engine for ``base_model`` on this job's device (``devices.torch_device()``); one base
    model in memory (another one, or another device, replaces it)."""
    from studio.train.devices import torch_device

    key = (str(base_model), bool(trust_remote_code), torch_device())
    with _ENGINES_LOCK:
        found = _ENGINES.get(key)
        if found is None:
            _ENGINES.clear()
            gc.collect()
            found = _ENGINES[key] = Engine(base_model, trust_remote_code=trust_remote_code, device=key[2])
        return found


def release() -> None:
    """Drop the cached engine (frees the base model)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()
    gc.collect()


# ---------------------------------------------------------------- stored generations


def _failed(err: RuntimeError, systems: list[System]) -> WorkFailed:
    """A torch error during generation in the user's words (out of memory says what to lower)."""
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    text = (_("generation ran out of memory: try a smaller batch size or fewer new tokens")
            if "out of memory" in reason.lower() else _("generation failed: {reason}").format(reason=reason))
    runs = sorted({s.id for s in systems if s.id != "base"})
    return WorkFailed(text, run_id=runs[0] if len(runs) == 1 else None)


def _missing(systems: list[System], items: list[dict[str, Any]], keys: list[str],
             decode: dict[str, Any]) -> list[tuple[System, str, str, dict[str, Any]]]:
    """(system, decode key, prompt key, item) for every answer not stored yet, each once."""
    out = []
    for s in systems:
        dk = decode_key(decode, s.base_model)
        have = store.generations_for(keys, s.id, dk)
        seen: set[str] = set()
        for k, it in zip(keys, items):
            if k not in have and k not in seen:
                seen.add(k)
                out.append((s, dk, k, it))
    return out


def ensure_generations(systems: list[System], items: list[dict[str, Any]], decode: dict[str, Any], *,
                       batch_size: int = 16, trust_remote_code: bool = False,
                       progress: Callable[[int, int, str], None] | None = None,
                       stop: threading.Event | None = None) -> dict[str, Any]:
    """Make sure every item has a stored generation from every system; generate only what is missing.

    ``items``: dicts with ``prompt`` and optional ``system`` / ``history``. The systems of one base model
    answer in shared batches (base and LoRA mixed; prefix adapters in batches of their own). Returns
    ``generated``, ``cached``, ``rows``: {(system id, prompt key): generation row} and ``finish_reasons``:
    {(system id, prompt key): reason} for what was generated now (rows generated now also carry
    ``finish_reason``). ``progress(done, total, label)`` is called after each batch. Each batch is stored as
    it finishes, so an interrupted run keeps its work; when ``stop`` is set the work ends after the batch
    in flight (``rows`` then holds what is stored). ``trust_remote_code`` adds to what the systems' runs
    say.
    """
    batch_size = limits.BATCH_SIZE.check(batch_size)
    keys = [prompt_key(it["prompt"], it.get("system"), it.get("history")) for it in items]
    todo = _missing(systems, items, keys, decode)
    total = len(todo)
    cached = len(keys) * len(systems) - total
    done, reasons = 0, {}
    if progress:
        progress(0, total, "")
    for base in sorted({s.base_model for s, *_rest in todo}):
        if stop is not None and stop.is_set():
            break
        part = [t for t in todo if t[0].base_model == base]
        trust = bool(trust_remote_code) or any(s.trust_remote_code for s in systems if s.base_model == base)
        eng = engine(base, trust_remote_code=trust)
        batches = eng.generate_many([(s, it) for s, _dk, _k, it in part], decode, batch_size=batch_size)
        try:
            for idx, answers in batches:
                rows = [{"prompt_key": part[i][2], "prompt": part[i][3]["prompt"],
                         "system_prompt": part[i][3].get("system"), "model_system": part[i][0].id,
                         "base_model": base, "decode_key": part[i][1], "decode": decode, "output": str(a),
                         "duration_ms": a.ms, "finish_reason": a.finish_reason, "error": a.error}
                        for i, a in zip(idx, answers)]
                with db.transaction() as cur:
                    store.insert_generations(rows, cur=cur)
                reasons.update({(r["model_system"], r["prompt_key"]): r["finish_reason"] for r in rows})
                done += len(idx)
                if progress:
                    progress(done, total, ", ".join(dict.fromkeys(part[i][0].label for i in idx)))
                if stop is not None and stop.is_set():
                    break
        except RuntimeError as err:  # torch errors (out of memory, shape mismatches) end the work
            raise _failed(err, [t[0] for t in part]) from None
        finally:
            batches.close()   # a stop mid-way releases the engine's lock now, not when collected
    rows = {}
    for s in systems:
        dk = decode_key(decode, s.base_model)
        for k, row in store.generations_for(keys, s.id, dk).items():
            if (s.id, k) in reasons:
                row.setdefault("finish_reason", reasons[(s.id, k)])
            rows[(s.id, k)] = row
    return {"generated": done, "cached": cached, "rows": rows, "finish_reasons": reasons}
