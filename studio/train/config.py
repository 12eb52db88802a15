"""The Train form's settings: trainer fields (read from ``sft.Config``), method presets, labels, base models.

Every editable field, its group, its one-line why and the range of a number come from
``dataclasses.fields(sft.Config)`` and the metadata the trainer declares on each field; this module only
adds what people read (labels, which fields are basic) and turns loosely typed values (CLI strings,
widgets) into Config types, refusing text that is not a number and numbers outside their range (``check``),
so the page and the CLI refuse the same values in the same words.
"""
from __future__ import annotations

import math
import re
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Any

from studio.core import settings
from studio.core.errors import InputError
from studio.core.i18n import N_, _
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
    "lora": N_("LoRA (r 8, alpha 16; lr 2e-4; on the demo model lr 1e-2, 90 steps)"),
    "prefix": N_("P-Tuning v2, ChatGLM recipe (pre_seq_len 128, source 200, target 256, lr 2e-2)"),
}
# fields the studio sets itself, never typed by people
MANAGED = ("base_model", "train_file", "validation_file", "from_adapter", "parent_run", "run_id", "method")

# What people read on the Train page; the config name stays visible (in the label or its help) so ML
# engineers can map a field to `--flag` of `python -m studio train` and to config.json.
FIELD_LABELS = {
    "trust_remote_code": N_("Run the model's own code (trust_remote_code)"),
    "device": N_("Device (auto, cuda, cpu)"),
    "max_source_length": N_("Max prompt tokens"),
    "max_target_length": N_("Max response tokens"),
    "cutoff_len": N_("Max tokens per sample, prompt + response (cutoff_len; 0 = the two limits only)"),
    "lora_r": N_("LoRA rank (r)"),
    "lora_alpha": N_("LoRA scaling (alpha)"),
    "lora_dropout": N_("LoRA dropout"),
    "lora_target_modules": N_("LoRA target modules (comma-separated, empty = all linear)"),
    "pre_seq_len": N_("Prefix length in virtual tokens (pre_seq_len)"),
    "prefix_projection": N_("Learn the prefix through an MLP (prefix_projection)"),
    "learning_rate": N_("Learning rate"),
    "epochs": N_("Epochs"),
    "max_steps": N_("Max steps (0 = use epochs)"),
    "batch_size": N_("Batch size per device"),
    "gradient_accumulation_steps": N_("Gradient accumulation steps"),
    "warmup_ratio": N_("Warm-up share of steps (warmup_ratio)"),
    "lr_scheduler": N_("Learning-rate schedule (lr_scheduler)"),
    "weight_decay": N_("Weight decay"),
    "seed": N_("Random seed"),
    "logging_steps": N_("Log metrics every N steps"),
    "eval_steps": N_("Evaluate every N steps (0 = at most 10 per run, within the time share)"),
    "eval_samples": N_("Validation rows per evaluation (0 = the whole split)"),
    "eval_time_share": N_("Max share of training time spent evaluating (eval_time_share)"),
    "save_steps": N_("Save a checkpoint every N steps (0 = about 5 per run)"),
    "save_total_limit": N_("Checkpoints kept on disk"),
    "group_by_length": N_("Batch rows of similar length (group_by_length)"),
    "packing": N_("Pack each batch into one row without padding (packing)"),
    "num_processes": N_("GPUs (num_processes)"),
    "deepspeed": N_("DeepSpeed ZeRO-2 (with several GPUs)"),
}
# the groups of sft.Config as people read them, in the order the form shows them
GROUP_LABELS = {"adapter": N_("Adapter"), "optimisation": N_("Batches, schedule, logging and checkpoints"),
                "model": N_("Model loading"), "data": N_("Data"), "launch": N_("Launch (GPUs)")}
# the settings a domain expert sets (data, base model and method have their own widgets); the rest are
# shown under "Advanced"
BASIC_FIELDS = ("epochs", "max_steps", "learning_rate", "max_source_length", "max_target_length")

# The demo model is tiny (2 layers; random or briefly pre-trained by `init`): at LoRA's 2e-4 its loss
# hardly moves in a short demo run (10.0 -> 9.97 in 30 steps). On it the LoRA preset trains faster and for
# a fixed 90 steps (a minute or two on a CPU, whatever the dataset's size), with which the demo adapter
# learns the demo exam bank (安规示例-选择题, 23 training rows; measured: exam accuracy 100 % against the
# base model's 0 %). Real models keep the presets, and P-Tuning v2 keeps the seed's ChatGLM recipe.
DEMO_MODEL_PRESET = {"lora": {"learning_rate": 1e-2, "max_steps": 90}}


def default_of(f: Field) -> Any:
    """A Config field's default value (``default`` or what its ``default_factory`` makes)."""
    return f.default_factory() if f.default is MISSING else f.default


def config_fields() -> list[dict[str, Any]]:
    """Every editable trainer setting: name, group, default, type, range and the one-line why of sft.Config
    (label, help and group in English, as marked: translate them where they are shown)."""
    out = []
    for f in fields(sft.Config):
        if f.name in MANAGED:
            continue
        default = default_of(f)
        out.append({"name": f.name, "group": f.metadata["group"], "default": default,
                    "type": type(default).__name__, "help": f.metadata["help"],
                    "min": f.metadata.get("min"), "max": f.metadata.get("max"),
                    "label": FIELD_LABELS.get(f.name, f.name.replace("_", " ")),
                    "flag": "--" + f.name.replace("_", "-"), "basic": f.name in BASIC_FIELDS})
    return out


def preset(method: str, base_model: str | None = None) -> dict[str, Any]:
    """The preset values of a method (every other field keeps the trainer's default); on the demo
    model a learning rate and length with which the demo adapter learns the demo exam bank."""
    if method not in PRESETS:
        raise InputError(_("unknown method {method}; choose lora or prefix").format(method=repr(method)))
    values = dict(PRESETS[method])
    if method in DEMO_MODEL_PRESET and base_model and demo_model.is_built(base_model):
        values.update(DEMO_MODEL_PRESET[method])
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
                found.append({"name": folder.relative_to(root).as_posix(), "path": str(folder), "demo": demo})
    return sorted(found, key=lambda m: (not m["demo"], m["name"]))


def check_base_model(base_model: str) -> str:
    """A local model folder (resolved) or a hub id; InputError for anything else."""
    base_model = (base_model or "").strip()
    if not base_model:
        raise InputError(_("choose a base model: a local model folder or a hub id"))
    p = Path(base_model).expanduser()
    if p.exists():
        if not (p / "config.json").exists():
            raise InputError(_("not a model folder (no config.json)"), file=str(p))
        return str(p.resolve())
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", base_model) or base_model.startswith("."):
        raise InputError(_("no such model folder"), file=base_model)
    return base_model  # a hub id such as Qwen/Qwen2.5-0.5B-Instruct (needs network)


shown_number = sft.shown_number  # 4096, 0.9, 2e-05: how a range is written
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_INT = re.compile(r"[+-]?\d+")


def _number(name: str, value: Any, kind: type) -> int | float:
    """``value`` (typed text, a widget's number) as an int or float; InputError for text that is not one,
    a fraction where a whole number belongs, or inf/nan. Never a silent guess: "1e12" is no whole number."""
    shown = repr(value) if isinstance(value, str) else sft.shown_number(value)
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        if kind is int and _INT.fullmatch(text):
            return int(text)
        try:
            number = float(text)
        except ValueError:
            number = None
    else:
        number = None if isinstance(value, bool) else value
    if kind is int and isinstance(number, float) and not isinstance(value, str) and number.is_integer():
        number = int(number)  # a page's number widget sends 6.0
    if kind is int and not isinstance(number, int):
        raise InputError(_("{name} must be a whole number, not {value}").format(name=name, value=shown))
    if not isinstance(number, (int, float)) or not math.isfinite(number):
        raise InputError(_("{name} must be a float number, not {value}").format(name=name, value=shown))
    return kind(number)


def check(name: str, value: Any) -> Any:
    """One setting typed for sft.Config and within its declared range; InputError naming the setting and,
    for a number, its range (the page disables Start with it, the CLI exits 2 with it)."""
    f = next((f for f in fields(sft.Config) if f.name == name), None)
    if f is None:
        raise InputError(_("unknown training setting {name}").format(name=repr(name)))
    kind = type(default_of(f))
    if kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in TRUE + FALSE:
            raise InputError(_("{name} must be true or false, not {value}").format(name=name, value=repr(value)))
        return text in TRUE
    if kind is tuple:
        return tuple(x.strip() for x in value.split(",") if x.strip()) if isinstance(value, str) else tuple(value)
    if kind in (int, float):
        number = _number(name, value, kind)
        problem = sft.out_of_range(name, number, value.strip() if isinstance(value, str) else None)
        if problem:
            raise InputError(problem)
        return number
    return str(value)


def coerce(values: dict[str, Any]) -> dict[str, Any]:
    """Typed, range-checked values for sft.Config fields (CLI strings and page widgets come in loosely typed)."""
    return {k: check(k, v) for k, v in values.items() if v is not None}


def problems(values: dict[str, Any]) -> dict[str, str]:
    """Per setting, why its value cannot start a run (empty when all can): what the Train page shows while
    it keeps Start disabled."""
    found = {}
    for name, value in values.items():
        if value is None:
            found[name] = _("{name}: enter a number").format(name=name)
            continue
        try:
            check(name, value)
        except InputError as err:
            found[name] = str(err)
    return found


def make_config(**values: Any) -> sft.Config:
    """``sft.make_config`` whose complaints (a bad method, a zero batch size) come back as InputError."""
    try:
        return sft.make_config(**values)
    except (ValueError, TypeError) as err:
        raise InputError(str(err)) from None
