"""Merge a finished LoRA run into its base model: a standalone model folder (DreamerGPT's merge step).

Torch, transformers and peft are imported only inside ``merge``.
"""
from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.core import settings
from studio.core.errors import Conflict, InputError
from studio.core.i18n import _
from studio.core.labels import label
from studio.train import runs
from trainers import runfolder, sft


def merge(run_id: str, out: str | None = None,
          progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Merge a done LoRA run into its base model and save the result (DreamerGPT's merge step).

    The model is written into a hidden folder beside the target and renamed into place at the end, so an
    interrupted merge leaves no half-written model and can simply run again. ``progress(done, total,
    stage)`` is called between the stages (a job's progress; it may raise to stop)."""
    progress = progress or (lambda done, total, stage: None)
    row = runs.get(run_id)
    adapter = Path(row["dir"]) / "adapter"
    if row["method"] != "lora":
        raise InputError(_("only LoRA adapters merge into the base; a P-Tuning v2 prefix stays an adapter"),
                         run_id=run_id)
    if not (adapter / "adapter_config.json").exists():
        raise InputError(_("the run has no adapter yet (state: {state})").format(state=label("state", row["state"])),
                         run_id=run_id)
    target = Path(out).expanduser() if out else settings.path("models") / f"{run_id}-merged"
    if target.exists() and any(target.iterdir()):
        raise Conflict(_("already exists and is not empty; choose another folder"), file=str(target))
    cfg = sft.load_config(Path(row["dir"]) / "config.json")
    progress(0, 3, _("loading the base model"))
    import torch  # noqa: F401  (heavy imports only here)
    from peft import PeftModel

    dtype = sft.pick_device(cfg)[2]
    base = sft.load_base(cfg, dtype)
    progress(1, 3, _("merging the adapter"))
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    progress(2, 3, _("saving the merged model"))
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        merged.save_pretrained(str(tmp))
        tokenizer = sft.load_tokenizer(cfg)
        tokenizer.padding_side = "left"  # ready for batched generation
        tokenizer.save_pretrained(str(tmp))
        runfolder.write_json_atomic(tmp / "studio_merged.json", {
            "run": run_id, "base_model": row["base_model"], "adapter": str(adapter),
            "parent_run": row.get("parent_run_id"), "snapshot": row.get("snapshot_id")})
        if target.exists():
            target.rmdir()  # empty (checked above)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"run": run_id, "out": str(target)}
