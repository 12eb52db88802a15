"""Tokens per second of the studio's trainer against an alpaca-lora-style baseline, same run.

Both train the same LoRA on the same model, data, seed and number of steps with transformers' Trainer;
they differ only in batching:

- baseline: every row padded to the maximum length (max_source_length + max_target_length, the
  ChatGLM P-Tuning recipe's ``pad_to_max_length``), rows drawn at random;
- studio (``trainers/sft.py``): each batch padded to its own longest row, rows of similar length
  batched together (``group_by_length``).

Throughput counts non-padding tokens only (what was actually learned from), per second of
``trainer.train()``. Data: the real CMMLU electrical-engineering bank (172 questions) as exam pairs
of both kinds the studio converts to — QA (question -> answer text) and choice (question + options ->
``B. 绝缘靴``) — so lengths are mixed as in a real exam-derived snapshot.

    .venv/bin/python benchmarks/bench_trainer.py [--quick] [--steps N] [--model DIR]
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trainers import sft  # noqa: E402

CMMLU = ROOT.parent / "shared" / "data" / "exam" / "cmmlu" / "electrical_engineering_test.csv"
TARGET = 2.0


def exam_samples() -> list[dict[str, str]]:
    """QA and choice pairs from a real exam bank: mixed lengths."""
    with open(CMMLU, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        letter = r["Answer"].strip()
        out.append({"instruction": r["Question"].strip(), "input": "", "output": r[letter].strip()})
        options = "".join(f"{k}. {r[k].strip()}\n" for k in "ABCD")
        out.append({"instruction": r["Question"].strip(), "input": options, "output": f"{letter}. {r[letter].strip()}"})
    return out


def run(cfg: sft.Config, rows: list[dict], *, baseline: bool, steps: int, out: Path) -> dict[str, float]:
    """Train ``steps`` steps; return non-padding tokens, padded tokens, seconds and tokens/s."""
    import torch
    from datasets import Dataset
    from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

    set_seed(cfg.seed)
    cuda, bf16, dtype = sft.pick_device(cfg)
    tokenizer = sft.load_tokenizer(cfg)
    model = sft.attach_adapter(sft.load_base(cfg, dtype), cfg, out)
    width = cfg.max_source_length + cfg.max_target_length
    pad_id = tokenizer.pad_token_id
    seen = {"real": 0, "padded": 0}

    def collate(batch):
        b = sft.collate(batch, pad_id, pad_to=width if baseline else None)
        seen["real"] += int(b["attention_mask"].sum())
        seen["padded"] += int(b["attention_mask"].numel())
        return b

    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
        max_steps=steps, seed=cfg.seed, logging_steps=steps, save_strategy="no", report_to="none",
        disable_tqdm=True, remove_unused_columns=False, label_names=["labels"], bf16=bf16, use_cpu=not cuda,
        train_sampling_strategy="random" if baseline else "group_by_length", dataloader_num_workers=0)
    trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_list(rows), data_collator=collate,
                      processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    t = time.perf_counter()
    result = trainer.train()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    figures = {"tokens": seen["real"], "padded_tokens": seen["padded"], "seconds": round(seconds, 2),
               "tokens_per_s": round(seen["real"] / seconds, 1), "loss": round(result.training_loss, 4)}
    if cuda:
        figures["peak_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps (about a minute on 2 CPU cores)")
    p.add_argument("--steps", type=int, help="optimizer steps per trainer (default 16; --quick 8)")
    p.add_argument("--repeat", type=int, help="alternating runs of each, the fastest kept (default 2; --quick 1): "
                                              "other work on a shared machine only ever slows a run down")
    p.add_argument("--model", help="base model folder (default: the demo model, built in a temp folder)")
    p.add_argument("--batch-size", type=int, default=8)
    args = p.parse_args()
    steps = args.steps or (8 if args.quick else 16)
    repeat = args.repeat or (1 if args.quick else 2)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = args.model
        if not model_dir:
            from studio.train.demo_model import build

            model_dir = str(tmp / "demo")
            build(model_dir)
        # the ChatGLM P-Tuning v2 recipe's lengths; LoRA r 8 / alpha 16 as the studio's preset
        cfg = sft.make_config(base_model=model_dir, method="lora", max_source_length=200, max_target_length=256,
                              batch_size=args.batch_size, learning_rate=2e-4, seed=0)
        samples = exam_samples()
        rows = sft.encode(samples, sft.load_tokenizer(cfg), cfg)
        lengths = sorted(r["length"] for r in rows)
        print(f"{len(rows)} exam pairs (QA + choice), tokens per row: min {lengths[0]}, "
              f"median {lengths[len(lengths) // 2]}, max {lengths[-1]}; padded width "
              f"{cfg.max_source_length + cfg.max_target_length}; {steps} steps of {cfg.batch_size}")
        base = studio = None
        for i in range(repeat):
            b = run(cfg, rows, baseline=True, steps=steps, out=tmp / f"baseline{i}")
            s = run(cfg, rows, baseline=False, steps=steps, out=tmp / f"studio{i}")
            base = b if base is None or b["tokens_per_s"] > base["tokens_per_s"] else base
            studio = s if studio is None or s["tokens_per_s"] > studio["tokens_per_s"] else studio

    ratio = studio["tokens_per_s"] / base["tokens_per_s"]
    print(f"{'trainer':<10}{'tokens':>10}{'padded':>10}{'seconds':>10}{'tokens/s':>12}")
    for name, f in (("baseline", base), ("studio", studio)):
        print(f"{name:<10}{f['tokens']:>10,}{f['padded_tokens']:>10,}{f['seconds']:>10.2f}{f['tokens_per_s']:>12,.1f}"
              + (f"  peak {f['peak_memory_mib']} MiB" if "peak_memory_mib" in f else ""))
    print(f"studio / baseline tokens/s: {ratio:.2f}x (target >= {TARGET}x)")
    device = "cuda" if "peak_memory_mib" in studio else "cpu"
    print(json.dumps({"bench": "trainer", "ratio": round(ratio, 2), "target": TARGET, "better": "higher",
                      "device": device, "steps": steps, "repeat": repeat,
                      **{f"baseline_{k}": v for k, v in base.items()}, **{f"studio_{k}": v for k, v in studio.items()}}))


if __name__ == "__main__":
    main()
