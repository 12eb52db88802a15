"""Before a run starts: its training split tokenized as the trainer will, counted into tokens and steps.

The tokenizer (transformers) is imported only when an estimate is asked for, and kept per base model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.errors import InputError
from studio.core.i18n import _
from studio.train import config
from trainers import sft

_tokenizers: dict[str, Any] = {}


def _tokenizer(cfg: sft.Config):
    key = f"{cfg.base_model}|{cfg.trust_remote_code}"
    if key not in _tokenizers:
        _tokenizers[key] = sft.load_tokenizer(cfg)
    return _tokenizers[key]


def estimate_for(cfg: sft.Config, folder: Path) -> dict[str, Any]:
    """Tokens and steps of a prepared run: its train split tokenized as the trainer will."""
    samples = sft.read_jsonl(sft.resolve(folder, cfg.train_file))
    return count(cfg, samples)


def count(cfg: sft.Config, samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Rows, tokens per epoch (all and response-only), row lengths, steps, epochs and total tokens."""
    try:
        rows = sft.encode(samples, _tokenizer(cfg), cfg)
    except (OSError, ValueError) as err:
        raise InputError(_("cannot load the tokenizer of this base model: no tokenizer files in the folder, or a "
                           "hub id that cannot be downloaded here"), file=cfg.base_model) from err
    n = len(rows)
    lengths = [r["length"] for r in rows]
    per_epoch = sum(lengths)
    trained = sum(sum(1 for x in r["labels"] if x != sft.IGNORE) for r in rows)
    steps = sft.planned_steps(n, cfg)
    rows_seen = steps * cfg.batch_size * cfg.gradient_accumulation_steps * cfg.num_processes
    return {"n_train": n, "tokens_per_epoch": per_epoch, "response_tokens_per_epoch": trained,
            "mean_length": round(per_epoch / n, 1) if n else 0, "max_length": max(lengths, default=0),
            "steps": steps, "epochs": round(rows_seen / n, 2) if n else 0,
            "tokens_total": int(per_epoch * rows_seen / n) if n else 0}


def estimate(*, base_model: str, method: str = "lora", snapshot: str | None = None,
             dataset: str | None = None, **settings_: Any) -> dict[str, Any]:
    """Before start: tokens per epoch, steps and total tokens for this data, model and settings."""
    from studio.data import snapshots

    if not snapshot and not dataset:
        raise InputError(_("choose the training data: a snapshot, or a dataset to snapshot"))
    snap = snapshots.get(snapshot) if snapshot else snapshots.create(dataset)
    cfg = config.make_config(**{**config.preset(method, base_model), **config.coerce(settings_),
                                "base_model": config.check_base_model(base_model), "method": method})
    samples = [snapshots.record(s) for s in snapshots.samples(snap["id"], "train")]
    return {**count(cfg, samples), "snapshot": snap["id"], "n_validation": snap["n_validation"]}
