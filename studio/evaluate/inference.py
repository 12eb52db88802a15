"""Local inference for comparisons: one base model in memory, adapters switched on it per batch.

- ``engine(base_model)`` keeps ONE base model per process (a different base replaces it). LoRA adapters
  of any number of runs are loaded onto it by safe names derived from the run ids (peft
  ``load_adapter`` / ``set_adapter``); the base system is the same model under ``disable_adapter()``.
- P-Tuning v2 (peft prefix tuning) adapters cannot share a PeftModel with LoRA adapters (peft raises):
  switching between the two kinds unloads the LoRA layers (``unload()``, no reload of the base weights)
  and wraps the base in a prefix PeftModel, whose prefix adapters again switch by name. Systems are
  generated base first, then LoRA, then prefix, so a comparison switches kind at most once.
- Batched generation with left padding; prompts are rendered with the tokenizer's chat template when it
  has one (system prompt and earlier turns as in ``studio.formats``), else as plain text; batches are
  formed from prompts of similar length; stop strings end a sequence and are cut from the output.
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

# Decode presets. "chatglm" is the seed recipe (ChatGLM-6B P-Tuning answers with temperature 0.01,
# top_p 1): sampling, but so cold that it is nearly greedy; seeded, so it repeats.
PRESETS: dict[str, dict[str, Any]] = {
    "greedy": {"do_sample": False},
    "chatglm": {"do_sample": True, "temperature": 0.01, "top_p": 1.0},
    "sampled": {"do_sample": True, "temperature": 0.8, "top_p": 0.9},
}
PRESET_HELP = {
    "greedy": "greedy: the most likely token each step (deterministic)",
    "chatglm": "ChatGLM recipe: temperature 0.01, top_p 1 (the seed's setting)",
    "sampled": "sampled: temperature 0.8, top_p 0.9, seeded",
}
DEFAULT_PRESET = "greedy"
DEFAULT_MAX_NEW_TOKENS = 128
METHOD_ORDER = {"base": 0, "lora": 1, "prefix": 2}


# ---------------------------------------------------------------- keys and settings


def decode_settings(preset: str = DEFAULT_PRESET, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                    stop: list[str] | None = None, seed: int = 0) -> dict[str, Any]:
    """The full decode settings of a preset (what the decode key hashes)."""
    if preset not in PRESETS:
        raise InputError(f"unknown decode preset {preset!r}; choose one of {', '.join(PRESETS)}")
    if int(max_new_tokens) < 1:
        raise InputError("max_new_tokens must be at least 1")
    return {"preset": preset, **PRESETS[preset], "max_new_tokens": int(max_new_tokens),
            "stop": [s for s in (stop or []) if s], "seed": int(seed)}


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


def cut_at_stop(text: str, stop: list[str]) -> str:
    """The text up to the first stop string (exclusive)."""
    cut = len(text)
    for s in stop or []:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut].strip()


# ---------------------------------------------------------------- systems


@dataclass(frozen=True)
class System:
    """Something that answers prompts: the base model, or a run's adapter on its base model."""
    id: str                 # 'base' or a run id
    base_model: str
    method: str             # base | lora | prefix
    adapter: str | None     # the adapter folder
    label: str


def _peft_kind(adapter_dir: Path) -> str:
    try:
        cfg = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "lora"
    peft_type = str(cfg.get("peft_type", "LORA")).upper()
    return "prefix" if peft_type in ("PREFIX_TUNING", "P_TUNING", "PROMPT_TUNING") else "lora"


def run_system(run_id: str) -> System:
    """A run as a system: its row in the runs table, else its folder ``$STUDIO_RUNS/<id>/config.json``."""
    run_id = (run_id or "").strip()
    if not run_id or "/" in run_id or "\\" in run_id or run_id in (".", ".."):
        raise InputError(f"not a run id: {run_id!r}")
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
            known = ", ".join(r["id"] for r in store.runs_with_state()[:20]) or "none yet"
            raise NotFound(f"no run {run_id!r} (runs: {known})") from None
        base_model, method, state = config.get("base_model"), config.get("method", "lora"), "unknown"
    adapter = folder / "adapter"
    if not (adapter / "adapter_config.json").exists():
        raise InputError(f"run {run_id} has no adapter yet (state {state}); wait until it is done",
                         run_id=run_id)
    if not base_model:
        raise InputError("the run names no base model", run_id=run_id)
    kind = _peft_kind(adapter)
    if method in ("lora", "prefix") and method != kind:
        method = kind  # the adapter on disk decides how it is loaded
    return System(id=run_id, base_model=str(base_model), method=kind, adapter=str(adapter),
                  label=(row or {}).get("name") or run_id)


def base_system(base_model: str) -> System:
    return System(id="base", base_model=str(base_model), method="base", adapter=None,
                  label=f"base ({Path(str(base_model)).name})")


def resolve_systems(run_ids: list[str], *, base_model: str | None = None, include_base: bool = True) -> list[System]:
    """The systems of a comparison: the base model first (unless left out), then each run in order.

    The base model is ``base_model`` when given, else the first run's base model, else the demo model.
    """
    runs = []
    for rid in run_ids:
        if rid == "base":
            continue
        if rid in [r.id for r in runs]:
            raise InputError(f"run {rid} is listed twice")
        runs.append(run_system(rid))
    if base_model is None:
        if runs:
            base_model = runs[0].base_model
        else:
            from studio.train.demo_model import demo_model_dir

            base_model = str(demo_model_dir())
    out = [base_system(base_model)] if include_base else []
    if not out and not runs:
        raise InputError("choose at least one system to compare")
    return out + runs


# ---------------------------------------------------------------- the engine


class Engine:
    """One base model and its tokenizer, with adapters switched on it by name."""

    def __init__(self, base_model: str, *, trust_remote_code: bool = False):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.base_model = str(base_model)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.base_model, trust_remote_code=trust_remote_code)
            dtype = "auto" if self.device == "cuda" else torch.float32
            model = AutoModelForCausalLM.from_pretrained(self.base_model, trust_remote_code=trust_remote_code,
                                                         dtype=dtype)
        except (OSError, ValueError) as err:
            raise InputError(f"cannot load the base model: {str(err).splitlines()[0]}", file=self.base_model) from None
        self.tokenizer.padding_side = "left"       # decoder-only batches pad on the left
        self.tokenizer.truncation_side = "left"    # a too-long prompt keeps its end (the question)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = model.to(self.device).eval()
        self.lora = None     # PeftModel holding every LoRA adapter loaded so far
        self.prefix = None   # PeftModel holding prefix adapters (never at the same time as self.lora)
        self.stats = {"base_loads": 1, "adapter_loads": 0, "kind_switches": 0, "generated": 0}
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

    def _select(self, system: System):
        """The model to call for ``system`` and the context to call it in."""
        from peft import PeftModel

        if system.method == "base":
            if self.lora is not None:
                return self.lora, self.lora.disable_adapter()
            return self.model, nullcontext()   # a prefix PeftModel leaves the base modules untouched
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
                self.lora.set_adapter(name)
                return self.lora, nullcontext()
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
            self.prefix.set_adapter(name)
            return self.prefix, nullcontext()
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise InputError(f"cannot load the adapter: {str(err).splitlines()[0]}", run_id=system.id) from None

    # -- generation

    def _generate_kwargs(self, decode: dict[str, Any]) -> dict[str, Any]:
        kw: dict[str, Any] = {"max_new_tokens": int(decode.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
                              "do_sample": bool(decode.get("do_sample")),
                              "pad_token_id": self.tokenizer.pad_token_id}
        if self.tokenizer.eos_token_id is not None:
            kw["eos_token_id"] = self.tokenizer.eos_token_id
        if kw["do_sample"]:
            kw["temperature"] = float(decode.get("temperature", 1.0))
            kw["top_p"] = float(decode.get("top_p", 1.0))
        else:  # silence the model's own sampling defaults under greedy decoding
            kw.update(temperature=None, top_p=None, top_k=None)
        if decode.get("stop"):
            kw["stop_strings"] = list(decode["stop"])
            kw["tokenizer"] = self.tokenizer
        return kw

    def generate_batches(self, system: System, items: list[dict[str, Any]], decode: dict[str, Any], *,
                         batch_size: int = 16) -> Iterator[tuple[list[int], list[tuple[str, int]]]]:
        """Generate for ``items`` as ``system``; yield (indices, [(output, ms per prompt)]) per batch."""
        import torch

        if system.base_model != self.base_model:
            raise InputError(f"system {system.id} runs on {system.base_model}, not on {self.base_model}")
        texts = [self.render(it) for it in items]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=not self.chat)["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: (-lengths[i], i))
        kwargs = self._generate_kwargs(decode)
        limit = getattr(self.model.config, "max_position_embeddings", None)
        max_len = max(8, int(limit) - kwargs["max_new_tokens"] - 64) if limit else None
        with self.lock:
            model, context = self._select(system)
            with context, torch.inference_mode():
                for start in range(0, len(order), max(1, batch_size)):
                    idx = order[start:start + batch_size]
                    enc = self.tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True,
                                         add_special_tokens=not self.chat, truncation=max_len is not None,
                                         max_length=max_len).to(self.device)
                    if kwargs["do_sample"]:
                        torch.manual_seed(int(decode.get("seed", 0)))
                    t0 = time.perf_counter()
                    out = model.generate(**enc, **kwargs)
                    ms = int((time.perf_counter() - t0) * 1000 / len(idx))
                    new = out[:, enc["input_ids"].shape[1]:]
                    texts_out = self.tokenizer.batch_decode(new, skip_special_tokens=True)
                    self.stats["generated"] += len(idx)
                    yield idx, [(cut_at_stop(t, decode.get("stop") or []), ms) for t in texts_out]

    def generate(self, system: System, items: list[dict[str, Any]], decode: dict[str, Any], *,
                 batch_size: int = 16) -> list[str]:
        """Outputs for ``items`` in order (no storage)."""
        out: list[str] = [""] * len(items)
        for idx, results in self.generate_batches(system, items, decode, batch_size=batch_size):
            for i, (text, _) in zip(idx, results):
                out[i] = text
        return out


_ENGINES: dict[tuple[str, bool], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def engine(base_model: str, *, trust_remote_code: bool = False) -> Engine:
    """The process's engine for ``base_model``; one base model in memory (another one replaces it)."""
    key = (str(base_model), bool(trust_remote_code))
    with _ENGINES_LOCK:
        found = _ENGINES.get(key)
        if found is None:
            _ENGINES.clear()
            gc.collect()
            found = _ENGINES[key] = Engine(base_model, trust_remote_code=trust_remote_code)
        return found


def release() -> None:
    """Drop the cached engine (frees the base model)."""
    with _ENGINES_LOCK:
        _ENGINES.clear()
    gc.collect()


# ---------------------------------------------------------------- stored generations


def ensure_generations(systems: list[System], items: list[dict[str, Any]], decode: dict[str, Any], *,
                       batch_size: int = 16, trust_remote_code: bool = False,
                       progress: Callable[[int, int, str], None] | None = None,
                       stop: threading.Event | None = None) -> dict[str, Any]:
    """Make sure every item has a stored generation from every system; generate only what is missing.

    ``items``: dicts with ``prompt`` and optional ``system`` / ``history``. Returns ``generated``,
    ``cached`` and ``rows``: {(system id, prompt key): generation row}. ``progress(done, total, label)``
    is called after each batch. Each batch is stored as it finishes, so an interrupted run keeps its work;
    when ``stop`` is set the work ends after the batch in flight (``rows`` then holds what is stored).
    """
    keys = [prompt_key(it["prompt"], it.get("system"), it.get("history")) for it in items]
    plan = []
    for s in systems:
        dk = decode_key(decode, s.base_model)
        have = store.generations_for(keys, s.id, dk)
        missing: dict[str, dict] = {}
        for k, it in zip(keys, items):
            if k not in have and k not in missing:
                missing[k] = it
        plan.append((s, dk, missing))
    total = sum(len(m) for _, _, m in plan)
    cached = len(keys) * len(systems) - total
    done = 0
    if progress:
        progress(0, total, "")
    stopped = False
    for s, dk, missing in sorted(plan, key=lambda p: (p[0].base_model, METHOD_ORDER.get(p[0].method, 9))):
        if not missing:
            continue
        if stopped or (stop is not None and stop.is_set()):
            break
        eng = engine(s.base_model, trust_remote_code=trust_remote_code)
        mkeys, mitems = list(missing), list(missing.values())
        batches = eng.generate_batches(s, mitems, decode, batch_size=batch_size)
        try:
            for idx, results in batches:
                rows = [{"prompt_key": mkeys[i], "prompt": mitems[i]["prompt"],
                         "system_prompt": mitems[i].get("system"), "model_system": s.id,
                         "base_model": s.base_model, "decode_key": dk, "decode": decode,
                         "output": text, "duration_ms": ms} for i, (text, ms) in zip(idx, results)]
                with db.transaction() as cur:
                    store.insert_generations(rows, cur=cur)
                done += len(idx)
                if progress:
                    progress(done, total, s.label)
                if stop is not None and stop.is_set():
                    stopped = True
                    break
        except RuntimeError as err:  # torch errors (out of memory, shape mismatches) end the work
            raise WorkFailed(f"generation failed: {str(err).splitlines()[0]}", run_id=None if s.id == "base"
                             else s.id) from None
        finally:
            batches.close()   # a stop mid-way releases the engine's lock now, not when collected
    rows = {}
    for s in systems:
        dk = decode_key(decode, s.base_model)
        for k, row in store.generations_for(keys, s.id, dk).items():
            rows[(s.id, k)] = row
    return {"generated": done, "cached": cached, "rows": rows}
