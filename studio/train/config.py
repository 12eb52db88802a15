"""The Train form's settings: trainer fields (read from ``sft.Config``), method presets, labels, base models.

Every editable field, its group and its one-line why come from ``dataclasses.fields(sft.Config)`` and
the metadata the trainer declares on each field; this module only adds what people read (labels,
which fields are basic) and turns loosely typed values (CLI strings, widgets) into Config types.
"""
from __future__ import annotations

import re
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Any

from studio.core import settings
from studio.core.errors import InputError
from studio.train import demo_model
from trainers import sft

# Method presets. "prefix" is the ChatGLM-6B P-Tuning v2 recipe of the seed (pre_seq_len 128,
# max_source_length 200, max_target_length 256, learning rate 2e-2); "lora" the common r 8 / alpha 16.
PRESETS: dict[str, dict[str, Any]] = {
    "lora": {"method": "lora", "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "learning_rate": 2e-4,
             "max_source_length": 200, "max_target_length": 256, "epochs": 3.0, "batch_size": 8},
    "prefix": {"method": "prefix", "pre_seq_len": 128, "prefix_projection": False, "learning_rate": 2e-2,
               "max_source_length": 200, "max_target_length": 256, "epochs": 3.0, "batch_size": 8},
}
PRESET_LABELS = {
    "lora": "LoRA (r 8, alpha 16; lr 2e-4, 5e-3 on the random demo model)",
    "prefix": "P-Tuning v2, ChatGLM recipe (pre_seq_len 128, source 200, target 256, lr 2e-2)",
}
# fields the studio sets itself, never typed by people
MANAGED = ("base_model", "train_file", "validation_file", "from_adapter", "parent_run", "run_id", "method")

# What people read on the Train page; the config name stays visible (in the label or its help) so ML
# engineers can map a field to `--flag` of `python -m studio train` and to config.json.
FIELD_LABELS = {
    "trust_remote_code": "Run the model's own code (trust_remote_code)",
    "device": "Device (auto, cuda, cpu)",
    "max_source_length": "Max prompt tokens",
    "max_target_length": "Max response tokens",
    "lora_r": "LoRA rank (r)",
    "lora_alpha": "LoRA scaling (alpha)",
    "lora_dropout": "LoRA dropout",
    "lora_target_modules": "LoRA target modules (comma-separated, empty = all linear)",
    "pre_seq_len": "Prefix length in virtual tokens (pre_seq_len)",
    "prefix_projection": "Learn the prefix through an MLP (prefix_projection)",
    "learning_rate": "Learning rate",
    "epochs": "Epochs",
    "max_steps": "Max steps (0 = use epochs)",
    "batch_size": "Batch size per device",
    "gradient_accumulation_steps": "Gradient accumulation steps",
    "warmup_ratio": "Warm-up share of steps (warmup_ratio)",
    "lr_scheduler": "Learning-rate schedule (lr_scheduler)",
    "weight_decay": "Weight decay",
    "seed": "Random seed",
    "logging_steps": "Log metrics every N steps",
    "eval_steps": "Evaluate every N steps (0 = at most 10 per run, within the time share)",
    "eval_samples": "Validation rows per evaluation (0 = the whole split)",
    "eval_time_share": "Max share of training time spent evaluating (eval_time_share)",
    "save_steps": "Save a checkpoint every N steps (0 = about 5 per run)",
    "save_total_limit": "Checkpoints kept on disk",
    "group_by_length": "Batch rows of similar length (group_by_length)",
    "num_processes": "GPUs (num_processes)",
    "deepspeed": "DeepSpeed ZeRO-2 (with several GPUs)",
}
# the settings a domain expert sets (data, base model and method have their own widgets); the rest are
# shown under "Advanced"
BASIC_FIELDS = ("epochs", "max_steps", "learning_rate", "max_source_length", "max_target_length")

# The tiny demo model starts from random weights: at LoRA's 2e-4 its loss hardly moves in a short demo
# run (10.0 -> 9.97 in 30 steps; at 5e-3 it falls to ~2). Real models keep the presets, and P-Tuning v2
# keeps the seed's ChatGLM recipe everywhere.
DEMO_MODEL_LEARNING_RATE = {"lora": 5e-3}


def default_of(f: Field) -> Any:
    """A Config field's default value (``default`` or what its ``default_factory`` makes)."""
    return f.default_factory() if f.default is MISSING else f.default


def config_fields() -> list[dict[str, Any]]:
    """Every editable trainer setting: name, group, default, type and the one-line why of sft.Config."""
    out = []
    for f in fields(sft.Config):
        if f.name in MANAGED:
            continue
        default = default_of(f)
        out.append({"name": f.name, "group": f.metadata["group"], "default": default,
                    "type": type(default).__name__, "help": f.metadata["help"],
                    "label": FIELD_LABELS.get(f.name, f.name.replace("_", " ")),
                    "flag": "--" + f.name.replace("_", "-"), "basic": f.name in BASIC_FIELDS})
    return out


def preset(method: str, base_model: str | None = None) -> dict[str, Any]:
    """The preset values of a method (every other field keeps the trainer's default); on the demo
    model a learning rate that shows a falling curve in a short run."""
    if method not in PRESETS:
        raise InputError(f"unknown method {method!r}; choose lora or prefix")
    values = dict(PRESETS[method])
    if method in DEMO_MODEL_LEARNING_RATE and base_model and demo_model.is_built(base_model):
        values["learning_rate"] = DEMO_MODEL_LEARNING_RATE[method]
    return values


def base_models() -> list[dict[str, str]]:
    """Local model folders under ``STUDIO_MODELS`` (a ``config.json`` beside weights), the demo model first."""
    root = settings.path("models")
    found = []
    if root.is_dir():
        for cfg in sorted(list(root.glob("*/config.json")) + list(root.glob("*/*/config.json"))):
            folder = cfg.parent
            if any(folder.glob("*.safetensors")) or any(folder.glob("*.bin")):
                demo = (folder / "studio_demo_model.json").exists()
                found.append({"name": folder.relative_to(root).as_posix() + (" (demo)" if demo else ""),
                              "path": str(folder), "demo": demo})
    return sorted(found, key=lambda m: (not m["demo"], m["name"]))


def check_base_model(base_model: str) -> str:
    """A local model folder (resolved) or a hub id; InputError for anything else."""
    base_model = (base_model or "").strip()
    if not base_model:
        raise InputError("choose a base model: a local model folder or a hub id")
    p = Path(base_model).expanduser()
    if p.exists():
        if not (p / "config.json").exists():
            raise InputError("not a model folder (no config.json)", file=str(p))
        return str(p.resolve())
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", base_model) or base_model.startswith("."):
        raise InputError("no such model folder", file=base_model)
    return base_model  # a hub id such as Qwen/Qwen2.5-0.5B-Instruct (needs network)


def coerce(values: dict[str, Any]) -> dict[str, Any]:
    """Typed values for sft.Config fields (CLI strings and page widgets come in loosely typed)."""
    types = {f.name: type(default_of(f)) for f in fields(sft.Config)}
    out = {}
    for k, v in values.items():
        if v is None:
            continue
        if k not in types:
            raise InputError(f"unknown training setting {k!r}")
        t = types[k]
        try:
            if t is bool and isinstance(v, str):
                v = v.strip().lower() in ("1", "true", "yes", "on")
            elif t is tuple:
                v = tuple(x.strip() for x in v.split(",") if x.strip()) if isinstance(v, str) else tuple(v)
            else:
                v = t(v)
        except (TypeError, ValueError):
            raise InputError(f"{k} must be a {t.__name__}, not {v!r}") from None
        out[k] = v
    return out


def make_config(**values: Any) -> sft.Config:
    """``sft.make_config`` whose complaints (a bad method, a zero batch size) come back as InputError."""
    try:
        return sft.make_config(**values)
    except (ValueError, TypeError) as err:
        raise InputError(str(err)) from None
