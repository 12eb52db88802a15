"""Supervised fine-tuning of a causal LM with a peft adapter: LoRA or P-Tuning v2 (prefix tuning).

    python -m trainers.sft runs/<id>/config.json

Reads top to bottom: the config, the prompt and its labels, the model and adapter, the run folder
callback, then ``train``. The process never opens the database; it reads the frozen snapshot files
named in its config and writes its run folder (see ``trainers/runfolder.py``): ``status.json``,
``metrics.jsonl``, ``checkpoint-N/``, ``adapter/``. The app ingests those.

- Loss on the response only: prompt tokens get label -100 (``labels_for``).
- ``max_source_length`` / ``max_target_length`` as in the ChatGLM P-Tuning v2 recipe: the prompt
  keeps its beginning (and the template's answer cue), the response its first tokens.
- No padding: each batch is packed into one row (``trainers/packing.py``: position ids restart per
  sample, attention stays inside each sample, the output layer runs on response tokens only), where a
  check on the run's first rows finds that exact for the model; else (``packing`` off, P-Tuning v2, a
  model that cannot) each batch is padded to its own longest row (``collate``). Batches are drawn
  from rows of similar length either way (``train_sampling_strategy="group_by_length"``).
- SIGTERM: a checkpoint at the current step, then state ``cancelled``. A crash: ``failed`` with the
  error. Starting the same config again continues from the newest checkpoint (optimizer, scheduler,
  RNG and step count included). ``from_adapter`` starts a new run from an earlier run's adapter.
- Evaluation is capped (``eval_rows``, ``eval_subset``, ``EvalBudget``): each evaluation scores a seeded
  sample of at most ``eval_samples`` validation rows, and an evaluation the cadence asks for is skipped
  unless evaluation stays under ``eval_time_share`` of the training time measured so far. The first
  (step 0) and the last evaluation always run. ``eval_steps`` > 0 is an exact cadence, without the cap;
  ``eval_samples=0`` scores the whole split. An evaluation leaves the random state as it found it
  (``RandomState``): a seed trains on the same batches whether or not the clock let evaluations run.
"""
from __future__ import annotations

import json
import math
import os
import random
import signal
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python trainers/sft.py CONFIG`` works too
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from studio.core.formats import messages, user_text
from studio.core.i18n import N_, _
from studio.core.labels import label
from trainers import runfolder

IGNORE = -100  # the label value the loss skips


# ---------------------------------------------------------------------------------------------- config

def setting(group: str, default: Any, why: str, *, low: float | None = None, high: float | None = None) -> Any:
    """A Config field: ``field(default=..., metadata={"group": ..., "help": ..., "min": ..., "max": ...})``.

    The Train form and ``python -m studio train --help`` read the group, the one-line why (marked ``N_``,
    translated where shown) and the range of a number from ``dataclasses.fields(Config)``; ``make_config``
    and the studio's coercion refuse a number outside ``[low, high]``.
    """
    return field(default=default, metadata={"group": group, "help": why, "min": low, "max": high})


BIG = 1_000_000  # a step or row count no run reaches


@dataclass(frozen=True)
class Config:
    """Everything a run needs, saved as its config.json and into every checkpoint."""

    # model
    base_model: str = setting("model", "", N_("local model folder or hub id: the weights we adapt (frozen)"))
    trust_remote_code: bool = setting("model", False,
                                      N_("runs the code shipped with the model (ChatGLM needs it): only on request"))
    device: str = setting("model", "auto", N_("auto: CUDA (bf16 where supported) when present, else CPU fp32"))
    # data
    train_file: str = setting("data", "train.jsonl",
                              N_("canonical JSONL (instruction/input/output/system/history), run-folder relative"))
    validation_file: str = setting("data", "validation.jsonl",
                                   N_("gives the eval-loss curve; missing or empty: no evaluation"))
    max_source_length: int = setting("data", 200, N_("prompt tokens kept (ChatGLM recipe): bounds memory on long "
                                                     "questions"), low=1, high=32768)
    max_target_length: int = setting("data", 256, N_("response tokens trained on: longer answers are cut"),
                                     low=1, high=32768)
    cutoff_len: int = setting("data", 0, N_("> 0: prompt + response tokens kept in all, shared out as LLaMA-Factory's "
                                            "cutoff_len does; 0: only the two limits above"), low=0, high=65536)
    # adapter
    method: str = setting("adapter", "lora", N_("lora | prefix (P-Tuning v2)"))
    lora_r: int = setting("adapter", 8, N_("rank of the update: its capacity"), low=1, high=1024)
    lora_alpha: int = setting("adapter", 16, N_("the update is scaled by alpha / r"), low=1, high=4096)
    lora_dropout: float = setting("adapter", 0.05, N_("regularises small data sets"), low=0.0, high=0.9)
    lora_target_modules: tuple[str, ...] = setting("adapter", (),
                                                   N_("empty: every linear layer of the blocks, found by type"))
    pre_seq_len: int = setting("adapter", 128, N_("P-Tuning v2: virtual tokens per layer (ChatGLM recipe: 128)"),
                               low=1, high=2048)
    prefix_projection: bool = setting("adapter", False,
                                      N_("P-Tuning v2: learn the prefix through an MLP (more parameters)"))
    from_adapter: str = setting("adapter", "",
                                N_("chained training: start from this adapter folder instead of fresh"))
    parent_run: str = setting("adapter", "", N_("lineage: the run that adapter came from"))
    # optimisation
    learning_rate: float = setting("optimisation", 2e-4, N_("LoRA likes ~2e-4; the P-Tuning v2 recipe uses 2e-2"),
                                   low=0.0, high=1.0)
    epochs: float = setting("optimisation", 3.0,
                            N_("passes over the training split (ignored when max_steps > 0)"), low=0.0, high=1000.0)
    max_steps: int = setting("optimisation", 0, N_("> 0: exactly this many optimizer steps"), low=0, high=BIG)
    batch_size: int = setting("optimisation", 8, N_("rows per device per step"), low=1, high=4096)
    gradient_accumulation_steps: int = setting("optimisation", 1,
                                               N_("larger effective batch without more memory"), low=1, high=4096)
    warmup_ratio: float = setting("optimisation", 0.0, N_("share of steps with a rising learning rate"),
                                  low=0.0, high=1.0)
    lr_scheduler: str = setting("optimisation", "linear", N_("transformers scheduler name"))
    weight_decay: float = setting("optimisation", 0.0, N_("adapters are small: no decay by default"),
                                  low=0.0, high=1.0)
    seed: int = setting("optimisation", 42, N_("same seed, same data order and initial adapter"),
                        low=0, high=2**32 - 1)
    logging_steps: int = setting("optimisation", 5, N_("a metrics.jsonl line every N steps"), low=1, high=BIG)
    eval_steps: int = setting("optimisation", 0, N_("evaluate every N steps exactly; 0: at most ten times, within "
                                                    "eval_time_share"), low=0, high=BIG)
    eval_samples: int = setting("optimisation", 200, N_("validation rows per evaluation, a seeded sample; 0: the "
                                                        "whole split (slow)"), low=0, high=100 * BIG)
    eval_time_share: float = setting("optimisation", 0.1, N_("with eval_steps 0: evaluation takes at most this "
                                                             "share of training time"), low=0.0, high=1.0)
    save_steps: int = setting("optimisation", 0, N_("checkpoint every N steps; 0: about five times per run"),
                              low=0, high=BIG)
    save_total_limit: int = setting("optimisation", 2, N_("checkpoints kept on disk"), low=1, high=1000)
    group_by_length: bool = setting("optimisation", True,
                                    N_("batches of similar length: less padding, more tokens/s"))
    packing: bool = setting("optimisation", True,
                            N_("each batch as one row without padding, attention kept inside each sample (LoRA; "
                               "padding where the model cannot pack exactly)"))
    # launch (read by trainers/launcher.py)
    num_processes: int = setting("launch", 1, N_("> 1: `accelerate launch` over that many GPUs"), low=1, high=64)
    deepspeed: bool = setting("launch", False,
                              N_("with num_processes > 1: DeepSpeed ZeRO-2 (trainers/deepspeed_zero2.yaml)"))
    run_id: str = setting("launch", "", N_("the run folder's name, for the log"))

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["lora_target_modules"] = list(self.lora_target_modules)
        return data


def load_config(path: str | Path) -> Config:
    """The config in a ``config.json``; unknown keys are an error, not silently ignored."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return make_config(**data)


def shown_number(x: Any) -> str:
    """A number as people type it: ``4096``, ``0.9``, ``2e-05``.

    >>> shown_number(1.0), shown_number(4294967295), shown_number(2e-5)
    ('1', '4294967295', '2e-05')
    """
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:g}" if isinstance(x, float) else str(x)


def out_of_range(name: str, value: float, typed: str | None = None) -> str | None:
    """Why ``value`` (as ``typed``, if given) is outside the range the Config declares for ``name`` (None when
    inside, or when none is declared).

    >>> out_of_range("learning_rate", 100000)
    'learning_rate must be at most 1, not 100000 (allowed: 0 to 1)'
    >>> out_of_range("batch_size", 8) is None
    True
    >>> out_of_range("cutoff_len", 1)
    'cutoff_len must be 0 (no limit in all) or at least 2, not 1'
    """
    meta = next((f.metadata for f in fields(Config) if f.name == name), {})
    low, high = meta.get("min"), meta.get("max")
    shown = {"name": name, "value": typed or shown_number(value), "low": shown_number(low),
             "high": shown_number(high)}
    if low is not None and value < low:
        return _("{name} must be at least {low}, not {value} (allowed: {low} to {high})").format(**shown)
    if high is not None and value > high:
        return _("{name} must be at most {high}, not {value} (allowed: {low} to {high})").format(**shown)
    if name == "cutoff_len" and 0 < value < 2:  # one token in all leaves no response token to train on
        return _("{name} must be 0 (no limit in all) or at least 2, not {value}").format(**shown)
    return None


def make_config(**values: Any) -> Config:
    """A checked Config from plain values (lists become tuples); every number within its declared range."""
    known = {f.name for f in fields(Config)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(_("unknown config fields: {names}").format(names=", ".join(unknown)))
    if "lora_target_modules" in values:
        values["lora_target_modules"] = tuple(values["lora_target_modules"] or ())
    cfg = Config(**values)
    if cfg.method not in ("lora", "prefix"):
        raise ValueError(_("method must be lora or prefix, not {method}").format(method=repr(cfg.method)))
    if not cfg.base_model:
        raise ValueError(_("base_model is required"))
    if cfg.max_steps <= 0 and cfg.epochs <= 0:
        raise ValueError(_("give max_steps or epochs"))
    for name in ("eval_steps", "eval_samples"):
        if int(getattr(cfg, name)) < 0:
            raise ValueError(_("{name} must be 0 or more").format(name=name))
    if not 0 < cfg.eval_time_share <= 1:
        raise ValueError(_("eval_time_share must be more than 0 and at most 1"))
    for f in fields(Config):
        value = getattr(cfg, f.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            problem = out_of_range(f.name, value)
            if problem:
                raise ValueError(problem)
    return cfg


def planned_steps(n_train: int, cfg: Config, world_size: int | None = None) -> int:
    """Optimizer steps the Trainer will run: max_steps, else epochs over the batches."""
    if cfg.max_steps > 0:
        return cfg.max_steps
    world = world_size or cfg.num_processes
    batches = math.ceil(n_train / (cfg.batch_size * world))
    per_epoch = max(1, batches // cfg.gradient_accumulation_steps)
    return max(1, math.ceil(cfg.epochs * per_epoch))


def eval_rows(n_validation: int, cfg: Config, trained_rows: int) -> int:
    """How many validation rows each evaluation scores.

    ``eval_samples`` bounds it (0: every row). Under the time cap (``eval_steps`` 0) the run's length
    bounds it too: every run evaluates at least twice (start, end), and an evaluated row costs about
    as much as a trained one (measured on CPU: the backward pass through a frozen base is cheap), so
    ``eval_time_share * trained_rows / 2`` rows keep those two within the share; never less than one
    batch.

    >>> eval_rows(684, make_config(base_model="m", max_steps=60), trained_rows=480)
    24
    >>> eval_rows(684, make_config(base_model="m", max_steps=60, eval_samples=0), trained_rows=480)
    684
    """
    if cfg.eval_samples == 0:
        return n_validation
    k = min(n_validation, cfg.eval_samples)
    if cfg.eval_steps == 0:
        k = min(k, max(cfg.batch_size, int(cfg.eval_time_share * trained_rows / 2)))
    return k


def eval_subset(n_validation: int, k: int, seed: int) -> list[int]:
    """Indices of the ``k`` validation rows evaluated: a sample fixed by the seed, in split order.

    >>> eval_subset(10, 3, seed=42) == eval_subset(10, 3, seed=42)
    True
    >>> eval_subset(4, 4, seed=0)
    [0, 1, 2, 3]
    """
    if k >= n_validation:
        return list(range(n_validation))
    return sorted(random.Random(seed).sample(range(n_validation), k))


class EvalBudget:
    """Keeps evaluation under ``share`` of training time, measured as the run goes.

    Training time is the wall time since ``start`` less the evaluations. An evaluation the cadence
    asks for runs only if the evaluations so far, this one and the final one (each estimated by the
    last one measured) fit in ``share`` of the training time so far, so the final evaluation, which
    always runs, stays inside the share too. Before any measurement an evaluation is allowed: it is
    the measurement.

    >>> b = EvalBudget(0.1, start=0.0)
    >>> b.record(1.0)              # the evaluation at step 0 took 1 s
    >>> b.allows(now=20.0), b.allows(now=31.0)   # 19 s, 30 s of training
    (False, True)
    """

    def __init__(self, share: float, start: float, estimate: float | None = None):
        self.share, self.start, self.estimate = share, start, estimate
        self.spent, self.count = 0.0, 0

    def train_seconds(self, now: float) -> float:
        return max(0.0, now - self.start - self.spent)

    def allows(self, now: float) -> bool:
        if self.estimate is None:
            return True
        return self.spent + 2 * self.estimate <= self.share * self.train_seconds(now)

    def record(self, seconds: float) -> None:
        self.spent += seconds
        self.estimate = seconds
        self.count += 1


# ------------------------------------------------------------------------------ prompt, labels, batches

def render(sample: dict[str, Any], tokenizer) -> tuple[str, str, str]:
    """A sample as (prompt head, prompt tail, response) text.

    The head ends with the user's text; the tail is what the template puts between it and the answer
    (``"\\n答："``), kept whole when the prompt is cut. With a chat template the prompt is the template
    with ``add_generation_prompt`` and the response what the full conversation adds to it (up to and
    including the EOS token); without one, ``user_text`` on a line and the output plus EOS.
    """
    eos = tokenizer.eos_token or ""
    turns = messages(sample)
    user = turns[-2]["content"]
    prompt = response = None
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(turns[:-1], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(turns, tokenize=False)
        if full.startswith(prompt):
            response = full[len(prompt):]
            if eos and eos in response:
                response = response[: response.rindex(eos) + len(eos)]
        else:
            response = (sample.get("output") or "") + eos
    else:
        context = [t["content"] for t in turns[:-2]]
        prompt = "".join(c + "\n" for c in context) + user_text(sample.get("instruction", ""),
                                                                   sample.get("input", "")) + "\n"
        response = (sample.get("output") or "") + eos
    cut = prompt.rfind(user) if user else -1
    if cut < 0:
        return prompt, "", response
    end = cut + len(user)
    return prompt[:end], prompt[end:], response


def truncate(head: list[int], tail: list[int], response: list[int], max_source_length: int,
             max_target_length: int, cutoff_len: int = 0) -> tuple[list[int], list[int]]:
    """(prompt ids, response ids) within the limits: the head keeps its start, the tail stays whole.
    With ``cutoff_len`` the two together keep at most that many, shared as ``cutoff_split`` says.

    >>> truncate([1, 2, 3, 4], [9], [5, 6, 7], 3, 2)
    ([1, 2, 9], [5, 6])
    >>> truncate([1, 2, 3, 4], [9], [5, 6, 7], 100, 100, cutoff_len=6)
    ([1, 2, 3, 9], [5, 6])
    """
    if cutoff_len > 0:
        source, target = cutoff_split(min(len(head) + len(tail), max_source_length),
                                      min(len(response), max_target_length), cutoff_len)
        max_source_length = max(1, source)
        max_target_length = min(target, cutoff_len - max_source_length)
    budget = max(0, max_source_length - len(tail))
    prompt = (head[:budget] + tail)[-max_source_length:]
    return prompt, response[:max_target_length]


def cutoff_split(source_len: int, target_len: int, cutoff_len: int) -> tuple[int, int]:
    """(prompt, response) lengths kept within ``cutoff_len`` in all, as LLaMA-Factory's ``infer_seqlen``:
    a short response is kept whole, else a short prompt, else both cut in proportion.

    >>> cutoff_split(20, 600, 456), cutoff_split(300, 100, 256), cutoff_split(300, 300, 256)
    ((20, 436), (156, 100), (128, 128))
    """
    if target_len * 2 < cutoff_len:
        max_target = cutoff_len
    elif source_len * 2 < cutoff_len:
        max_target = cutoff_len - source_len
    else:
        max_target = int(cutoff_len * (target_len / (source_len + target_len)))
    target = min(max_target, target_len)
    return min(max(cutoff_len - target, 0), source_len), target


def labels_for(input_ids: list[int], prompt_len: int) -> list[int]:
    """Labels that train on the response only: the first ``prompt_len`` positions are ignored.

    >>> labels_for([7, 8, 9, 10], 2)
    [-100, -100, 9, 10]
    """
    prompt_len = max(0, min(prompt_len, len(input_ids)))
    return [IGNORE] * prompt_len + list(input_ids[prompt_len:])


def build_example(head: list[int], tail: list[int], response: list[int], max_source_length: int,
                  max_target_length: int, cutoff_len: int = 0) -> dict[str, list[int]]:
    """One training row: input_ids, labels (response only), attention_mask."""
    prompt, answer = truncate(head, tail, response, max_source_length, max_target_length, cutoff_len)
    ids = prompt + answer
    return {"input_ids": ids, "labels": labels_for(ids, len(prompt)), "attention_mask": [1] * len(ids)}


def collate(rows: list[dict[str, Any]], pad_id: int, pad_to: int | None = None) -> dict[str, Any]:
    """Right-pad a batch to its longest row (or to ``pad_to``): pad ids, label -100, mask 0."""
    import torch

    width = pad_to or max(len(r["input_ids"]) for r in rows)
    ids, labels, mask = [], [], []
    for r in rows:
        n = width - len(r["input_ids"])
        ids.append(list(r["input_ids"]) + [pad_id] * n)
        labels.append(list(r["labels"]) + [IGNORE] * n)
        mask.append(list(r["attention_mask"]) + [0] * n)
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask)}


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Canonical samples from a JSONL file; a missing file is an empty split."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                raise ValueError(_("{file}, line {line}: not valid JSON").format(file=path, line=n)) from None
    return out


def encode(samples: list[dict[str, Any]], tokenizer, cfg: Config) -> list[dict[str, Any]]:
    """Tokenized training rows (with their ``length`` for the length-grouped sampler)."""
    if not samples:
        return []
    parts = [render(s, tokenizer) for s in samples]
    tok = lambda texts: tokenizer(list(texts), add_special_tokens=False)["input_ids"]  # noqa: E731
    heads, tails, responses = (tok(column) for column in zip(*parts))
    rows = []
    for h, t, r in zip(heads, tails, responses):
        row = build_example(h, t, r, cfg.max_source_length, cfg.max_target_length, cfg.cutoff_len)
        row["length"] = len(row["input_ids"])
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------ model, adapter

def pick_device(cfg: Config) -> tuple[bool, bool, Any]:
    """(use CUDA, use bf16, torch dtype): CUDA with bf16 where supported, else fp32 (CPU)."""
    import torch

    cuda = cfg.device != "cpu" and torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    return cuda, bf16, (torch.bfloat16 if bf16 else torch.float32)


def load_tokenizer(cfg: Config):
    """The base model's tokenizer, right-padded for training, with a pad token."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(cfg.base_model, trust_remote_code=cfg.trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    tok.padding_side = "right"
    return tok


def load_base(cfg: Config, dtype):
    """The frozen base model."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(cfg.base_model, dtype=dtype,
                                                trust_remote_code=cfg.trust_remote_code)


def lora_targets(model) -> list[str]:
    """The modules LoRA adapts: every linear layer of the blocks (the QLoRA finding: adapting only
    q/v, peft's per-architecture table, learns markedly less), found by type so it fits any
    architecture (``q_proj``/``v_proj``/... in LLaMA, ``query_key_value`` in ChatGLM)."""
    import torch

    out_layer = model.get_output_embeddings()
    names = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module is not out_layer:
            names.add(name.rsplit(".", 1)[-1])
    if not names:  # e.g. GPT-2's Conv1D layers: peft's table knows them
        from peft import utils

        table = utils.TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING
        return list(table.get(getattr(model.config, "model_type", ""), []))
    return sorted(names)


def attach_adapter(model, cfg: Config, run_dir: Path):
    """The base wrapped in a trainable peft adapter: fresh, or the parent run's (chained)."""
    from peft import LoraConfig, PeftModel, PrefixTuningConfig, TaskType, get_peft_model

    if cfg.from_adapter:
        source = resolve(run_dir, cfg.from_adapter)
        peft_model = PeftModel.from_pretrained(model, str(source), is_trainable=True)
        kind = peft_model.peft_config["default"].peft_type.value.lower()
        expected = "lora" if cfg.method == "lora" else "prefix_tuning"
        if kind != expected:
            raise ValueError(_("the adapter in {folder} is {kind}, but this run's method is {method}").format(
                folder=source, kind=kind, method=cfg.method))
        return peft_model
    if cfg.method == "lora":
        spec = LoraConfig(task_type=TaskType.CAUSAL_LM, r=cfg.lora_r, lora_alpha=cfg.lora_alpha,
                          lora_dropout=cfg.lora_dropout,
                          target_modules=list(cfg.lora_target_modules) or lora_targets(model))
    else:
        spec = PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=cfg.pre_seq_len,
                                  prefix_projection=cfg.prefix_projection,
                                  encoder_hidden_size=model.config.hidden_size)
    return get_peft_model(model, spec)


def resolve(run_dir: Path, name: str) -> Path:
    """A path from the config: absolute as given, else relative to the run folder."""
    p = Path(name).expanduser()
    return p if p.is_absolute() else run_dir / p


# --------------------------------------------------------------------------------- the run folder

class Status:
    """``status.json`` of this process, rewritten atomically; a thread keeps the heartbeat fresh."""

    def __init__(self, run_dir: Path, writer: bool, every: float = 2.0):
        previous = runfolder.read_status(run_dir) or {}
        self.run_dir, self.writer, self.every = run_dir, writer, every
        self.data = {"state": "starting", "pid": os.getpid(), "step": previous.get("step", 0),
                     "total": previous.get("total", 0), "error": None, "started": time.time()}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def update(self, **values: Any) -> None:
        if not self.writer:
            return
        with self._lock:
            self.data.update(values)
            self.data["heartbeat"] = time.time()
            runfolder.write_json_atomic(self.run_dir / "status.json", self.data)

    def beat(self) -> None:
        threading.Thread(target=self._loop, name="heartbeat", daemon=True).start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.update()

    def stop(self) -> None:
        self._stop.set()


class Stop:
    """Set by SIGTERM; the callback turns it into a checkpoint and a clean stop at the next step."""
    requested = False


def _on_sigterm(signum, frame) -> None:
    Stop.requested = True
    print(_("SIGTERM: saving a checkpoint at the end of this step, then stopping"), flush=True)


def _stop_everywhere(flag: bool) -> bool:
    """Every process stops at the same step (a rank stopping alone would hang the others)."""
    return _agree(flag, any_rank=True)


def _agree(flag: bool, any_rank: bool) -> bool:
    """The same answer on every process: True if any rank says so (``any_rank``), else only if all do."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        import torch

        t = torch.tensor([1 if flag else 0], device="cuda" if torch.cuda.is_available() else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX if any_rank else dist.ReduceOp.MIN)
        return bool(t.item())
    return flag


def last_eval_seconds(run_dir: Path) -> float | None:
    """The duration of the last evaluation logged in metrics.jsonl (a resumed run's first estimate)."""
    found = [m["eval_seconds"] for m in runfolder.read_metrics(run_dir) if m.get("eval_seconds")]
    return float(found[-1]) if found else None


class RandomState:
    """torch's random state (CPU and CUDA) kept before an evaluation and put back after it.

    Evaluating draws from the global generator (each DataLoader pass takes a seed from it), and the
    length-grouped sampler draws each epoch's order from the same generator. Under the time cap
    whether an evaluation runs depends on the clock, so without this the order of every later epoch
    (and LoRA dropout) would depend on machine speed: the same seed would train differently.
    """

    def __init__(self):
        self.saved = None

    def keep(self) -> None:
        import torch

        self.saved = (torch.get_rng_state(), torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None)

    def restore(self) -> None:
        import torch

        if self.saved is not None:
            cpu, cuda = self.saved
            torch.set_rng_state(cpu)
            if cuda is not None:
                torch.cuda.set_rng_state_all(cuda)


def make_callback(run_dir: Path, cfg: Config, status: Status, has_eval: bool, eval_rows: int = 0):
    """The TrainerCallback that writes status.json, metrics.jsonl and config.json into checkpoints,
    and holds evaluation to ``eval_time_share`` of training time (with ``eval_steps`` 0). Long because it is
    one TrainerCallback class, defined here so that transformers is imported only when training starts;
    each of its hooks is a few lines."""
    from transformers import TrainerCallback

    capped = has_eval and cfg.eval_steps == 0

    class RunFolder(TrainerCallback):
        def __init__(self):
            self.last = (time.time(), 0)  # (time, tokens seen) at the previous train log
            self.budget = EvalBudget(cfg.eval_time_share, time.time())
            self.random = RandomState()

        def on_train_begin(self, args, state, control, **kw):
            self.last = (time.time(), state.num_input_tokens_seen)
            self.budget = EvalBudget(cfg.eval_time_share, time.time(), last_eval_seconds(run_dir))
            self.random.keep()
            status.update(state="running", step=state.global_step, total=state.max_steps)

        def on_evaluate(self, args, state, control, **kw):
            self.random.restore()  # training goes on as if this evaluation had not run

        def on_step_end(self, args, state, control, **kw):
            self.random.keep()
            status.data.update(step=state.global_step, total=state.max_steps)
            if state.global_step >= state.max_steps:  # the last step is always logged and evaluated
                control.should_log = True
                control.should_evaluate = has_eval
            elif capped and control.should_evaluate:  # the cadence asks; the time share decides
                control.should_evaluate = _agree(self.budget.allows(time.time()), any_rank=False)
            if _stop_everywhere(Stop.requested):
                control.should_save = True
                control.should_training_stop = True
            return control

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "eval_runtime" in logs:  # every rank keeps the same account
                self.budget.record(float(logs["eval_runtime"]))
            if not state.is_world_process_zero or not logs:
                return
            record = {"step": state.global_step, "epoch": round(state.epoch or 0.0, 4), "time": time.time()}
            if "loss" in logs:
                now, seen = time.time(), state.num_input_tokens_seen
                record.update(loss=logs["loss"], learning_rate=logs.get("learning_rate"),
                              tokens_per_s=round((seen - self.last[1]) / max(now - self.last[0], 1e-9), 1))
                self.last = (now, seen)
            elif "eval_loss" in logs:
                record.update(eval_loss=logs["eval_loss"], eval_rows=eval_rows,
                              eval_seconds=round(float(logs.get("eval_runtime", 0.0)), 3),
                              train_seconds=round(self.budget.train_seconds(time.time()), 3))
            else:
                return
            runfolder.append_metric(run_dir, record)
            shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in record.items() if k != "time")
            print(f"[{state.global_step}/{state.max_steps}] {shown}", flush=True)

        def on_save(self, args, state, control, **kw):
            if state.is_world_process_zero:  # the config travels with every checkpoint
                folder = run_dir / f"checkpoint-{state.global_step}"
                if folder.is_dir():
                    runfolder.write_json_atomic(folder / "config.json", cfg.to_json())

        def on_train_end(self, args, state, control, **kw):
            if has_eval and state.is_world_process_zero:
                b = self.budget
                train_s = b.train_seconds(time.time())
                print(_("evaluation: {count} x {rows} rows, {spent} s; training {train} s ({share} % of training "
                        "time)").format(count=b.count, rows=eval_rows, spent=f"{b.spent:.1f}", train=f"{train_s:.1f}",
                                        share=f"{100 * b.spent / max(train_s, 1e-9):.1f}"), flush=True)

    return RunFolder()


# ------------------------------------------------------------------------------------------ train

def load_rows(cfg: Config, run_dir: Path, tokenizer) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(training rows, validation rows), tokenized; an empty training split is an error."""
    train_rows = encode(read_jsonl(resolve(run_dir, cfg.train_file)), tokenizer, cfg)
    val_rows = encode(read_jsonl(resolve(run_dir, cfg.validation_file)), tokenizer, cfg) \
        if cfg.validation_file else []
    if not train_rows:
        raise ValueError(_("the training split {file} has no rows").format(file=cfg.train_file))
    return train_rows, val_rows


def training_args(cfg: Config, run_dir: Path, *, steps: int, has_eval: bool, resuming: bool, cuda: bool,
                  bf16: bool):
    """The Trainer's arguments from the config: eval and checkpoint cadence default to the run's length."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps > 0 else -1,
        warmup_steps=cfg.warmup_ratio,
        lr_scheduler_type=cfg.lr_scheduler,
        weight_decay=cfg.weight_decay,
        seed=cfg.seed,
        logging_steps=cfg.logging_steps,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=cfg.eval_steps or max(1, steps // 10),
        eval_on_start=has_eval and not resuming,
        save_strategy="steps",
        save_steps=cfg.save_steps or max(1, steps // 5),
        save_total_limit=cfg.save_total_limit,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        include_num_input_tokens_seen="non_padding",
        prediction_loss_only=True,  # evaluation keeps the loss, never every batch's logits
        remove_unused_columns=False,
        label_names=["labels"],
        bf16=bf16,
        use_cpu=not cuda,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
    )


def evaluation_plan(cfg: Config, steps: int, k: int, n_val: int, *, resuming: bool) -> str:
    """The log line that says how often and on how many validation rows the run evaluates."""
    cadence = cfg.eval_steps or max(1, steps // 10)
    when = (_("every {n} steps (eval_steps)").format(n=cadence) if cfg.eval_steps else
            _("at most every {n} steps within {share} of training time").format(
                n=cadence, share=f"{cfg.eval_time_share:.0%}"))
    return (_("evaluation: {k} of {n} validation rows").format(k=k, n=n_val)
            + (_(" (sampled, seed {seed}; eval_samples=0 for all)").format(seed=cfg.seed) if k < n_val else "")
            + ("" if resuming else _(", at step 0")) + _(", {when}, and at the end").format(when=when))


def make_trainer(cfg: Config, model, tokenizer, train_rows: list[dict[str, Any]], val_rows: list[dict[str, Any]],
                 args, callbacks: list | None = None):
    """The Trainer over these rows: packed batches where ``packing.plan`` finds them exact for this model
    (checked on the first training rows), else each batch padded to its longest row; the plan is logged."""
    from datasets import Dataset
    from transformers import PrinterCallback, Trainer

    from trainers import packing

    plan = packing.plan(model, train_rows, method=cfg.method, wanted=cfg.packing)
    print(plan.note, flush=True)
    pad_id = tokenizer.pad_token_id
    trainer = Trainer(
        model=model, args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
        data_collator=plan.collate or (lambda rows: collate(rows, pad_id)),
        compute_loss_func=plan.loss,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # our callback prints one readable line per log
    return trainer


def train(cfg: Config, run_dir: Path, status: Status) -> str:
    """Fine-tune as configured; return the final state: done or cancelled."""
    import transformers
    from transformers import set_seed

    transformers.logging.set_verbosity_warning()
    set_seed(cfg.seed)
    cuda, bf16, dtype = pick_device(cfg)
    print(_("run {run}: {method} on {model} ({device}, {dtype})").format(
        run=cfg.run_id or run_dir.name, method=cfg.method, model=cfg.base_model, device="cuda" if cuda else "cpu",
        dtype=str(dtype).replace("torch.", "")), flush=True)

    tokenizer = load_tokenizer(cfg)
    train_rows, val_rows = load_rows(cfg, run_dir, tokenizer)
    model = attach_adapter(load_base(cfg, dtype), cfg, run_dir)
    trainable, total = model.get_nb_trainable_parameters()
    print(_("{train} training rows, {validation} validation rows; trainable parameters {trainable} of {total}").format(
        train=len(train_rows), validation=len(val_rows), trainable=f"{trainable:,}", total=f"{total:,}"), flush=True)

    world = int(os.environ.get("WORLD_SIZE", "1"))
    steps = planned_steps(len(train_rows), cfg, world)
    n_val = len(val_rows)
    k = eval_rows(n_val, cfg, steps * cfg.batch_size * cfg.gradient_accumulation_steps * world)
    # evaluated in length order: batches of similar length, little padding
    val_rows = sorted((val_rows[i] for i in eval_subset(n_val, k, cfg.seed)), key=lambda r: r["length"])
    resume = runfolder.last_checkpoint(run_dir)
    if val_rows:
        print(evaluation_plan(cfg, steps, k, n_val, resuming=resume is not None), flush=True)
    args = training_args(cfg, run_dir, steps=steps, has_eval=bool(val_rows), resuming=resume is not None,
                         cuda=cuda, bf16=bf16)
    trainer = make_trainer(cfg, model, tokenizer, train_rows, val_rows, args,
                           callbacks=[make_callback(run_dir, cfg, status, bool(val_rows), len(val_rows))])
    if resume is not None:
        done = int(resume.name.split("-")[1])
        runfolder.truncate_metrics(run_dir, done)
        print(_("resuming from {checkpoint} (step {step})").format(checkpoint=resume.name, step=done), flush=True)
    if Stop.requested:
        return "cancelled"
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    if Stop.requested:
        return "cancelled"
    if trainer.is_world_process_zero():
        adapter = run_dir / "adapter"
        trainer.model.save_pretrained(str(adapter))
        tokenizer.save_pretrained(str(adapter))
        runfolder.write_json_atomic(adapter / "studio_run.json", cfg.to_json())
    return "done"


def summary(run_dir: Path) -> dict[str, Any]:
    """The last train loss and eval loss in metrics.jsonl."""
    out: dict[str, Any] = {"final_loss": None, "eval_loss": None}
    for m in runfolder.read_metrics(run_dir):
        if m.get("loss") is not None:
            out["final_loss"] = m["loss"]
        if m.get("eval_loss") is not None:
            out["eval_loss"] = m["eval_loss"]
    return out


def failure(err: BaseException) -> str:
    """The one line a failed run shows: our own refusals (a bad config, an empty split) as they are, in the
    language of the person who started the run; anything else with its exception type, for an engineer."""
    if type(err) is ValueError:
        return str(err)
    return f"{type(err).__name__}: {err}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m trainers.sft RUN_DIR/config.json", file=sys.stderr)
        return 2
    config_path = Path(argv[0]).resolve()
    run_dir = config_path.parent
    writer = int(os.environ.get("RANK", "0")) == 0
    status = Status(run_dir, writer)
    signal.signal(signal.SIGTERM, _on_sigterm)
    status.update(state="starting", error=None)
    status.beat()
    try:
        cfg = load_config(config_path)
        state = train(cfg, run_dir, status)
    except BaseException as err:  # noqa: BLE001 - every failure ends as `failed` with its reason
        traceback.print_exc()
        sys.stdout.flush()
        status.stop()
        if isinstance(err, KeyboardInterrupt):
            status.update(state="cancelled", error=_("interrupted"), **summary(run_dir), finished=time.time())
            return 1
        status.update(state="failed", error=failure(err), **summary(run_dir), finished=time.time())
        return 1
    status.stop()
    status.update(state=state, **summary(run_dir), finished=time.time())
    print(_("{state}: step {step}/{total}").format(state=label("state", state), step=status.data.get("step"),
                                                    total=status.data.get("total")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
