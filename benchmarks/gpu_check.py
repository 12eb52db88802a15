"""The trainer and the compare engine on a GPU: tokens/s, model FLOPs utilisation, peak memory.

Run it once on a CUDA machine (no hub needed): it builds a random-init model with the shapes of
Qwen2.5-0.5B (Qwen2: 24 layers, hidden 896, 14 heads / 2 KV heads, MLP 4864, vocabulary 151,936, tied
embeddings; ~494M parameters) around the demo model's character tokenizer (its ~23k entries use the
first ids of that vocabulary), then measures, each in its own child process:

- trainer, LoRA and P-Tuning v2: ``trainers.sft.train`` as a run uses it (bf16 where supported, packing
  on, r 8 on every linear layer / pre_seq_len 128), ``--steps`` steps of batch ``--batch`` over rows of
  exactly ``--length`` tokens (so tokens are counted, not estimated): tokens/s from the Trainer's own
  runtime, peak CUDA memory, and MFU = tokens/s x 4N / peak bf16 FLOP/s (4N per token: the forward pass
  and the backward pass for activations; frozen weights get no weight gradients, so 6N would overstate
  the useful work). Peak FLOP/s is looked up from the device name (H100/H200 989 T, A100 312 T, L40S
  362 T, A10 125 T, RTX 4090 165 T); unknown devices report MFU null.
- compare engine: ``studio.evaluate.inference.Engine`` with 4 LoRA adapters (random, non-zero) x 32
  prompts, greedy, 128 new tokens, all adapters in shared batches: generated tokens/s, peak memory.

    .venv/bin/python benchmarks/gpu_check.py [--steps 30] [--batch 8] [--length 512]
    .venv/bin/python benchmarks/gpu_check.py --tiny --device cpu      # a seconds-long smoke run anywhere

Ends with one JSON line {"bench": "gpu_check", "device", "lora": {...}, "prefix": {...}, "compare": {...}};
without CUDA (and no ``--device cpu``) it says so in that line and measures nothing.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "4090": 165e12}
QWEN25_05B = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
              "num_key_value_heads": 2, "vocab_size": 151936}
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1, "vocab_size": 32000}


def build_model(folder: Path, shape: dict) -> dict:
    """A random-init Qwen2 model of ``shape`` saved with the demo tokenizer; its parameter count."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from studio.train.demo_model import build

    build(folder / "tokenizer", layers=1, hidden=64)
    tok = AutoTokenizer.from_pretrained(folder / "tokenizer")
    torch.manual_seed(0)
    config = Qwen2Config(**{**shape, "vocab_size": max(shape["vocab_size"], len(tok))},
                         max_position_embeddings=4096, tie_word_embeddings=True, initializer_range=0.02,
                         pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                         eos_token_id=tok.eos_token_id)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder / "model")
    tok.save_pretrained(folder / "model")
    return {"base": str(folder / "model"), "params": sum(p.numel() for p in model.parameters())}


def peak_flops(device: str) -> float | None:
    return next((v for k, v in PEAK_BF16.items() if k in device), None)


def _rows(n: int, length: int) -> list[dict]:
    """Rows of exactly ``length`` characters (= tokens: one per character) of prompt + response."""
    text = "电力设施保护区内禁止堆放杂物并应设置明显的安全警示标志"
    prompt = (text * (length // len(text) + 1))[: length // 2]
    response = (text[::-1] * (length // len(text) + 1))[: length - length // 2 - 8]
    return [{"instruction": prompt, "input": "", "output": response} for _ in range(n)]


def child_train(spec: dict) -> dict:
    """One trainer run in this process: tokens/s, peak memory."""
    import torch

    from trainers import sft

    run = Path(spec["dir"]) / f"run-{spec['method']}"
    run.mkdir(parents=True, exist_ok=True)
    rows = _rows(spec["steps"] * spec["batch"], spec["length"])
    (run / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    cfg = sft.make_config(base_model=spec["base"], method=spec["method"], device=spec["device"],
                          max_steps=spec["steps"], batch_size=spec["batch"], max_source_length=spec["length"],
                          max_target_length=spec["length"], logging_steps=max(1, spec["steps"] // 5),
                          save_steps=10 ** 6, validation_file="", run_id=run.name)
    tokenizer = sft.load_tokenizer(cfg)
    tokens = sum(len(r["input_ids"]) for r in sft.encode(rows, tokenizer, cfg))
    cuda = torch.cuda.is_available() and spec["device"] != "cpu"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    status = sft.Status(run, writer=True)
    started = time.perf_counter()
    state = sft.train(cfg, run, status)
    wall = time.perf_counter() - started
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    seconds = next((m["train_seconds"] for m in reversed(metrics) if m.get("train_seconds")), wall)
    return {"state": state, "tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds),
            "peak_mb": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None}


def child_compare(spec: dict) -> dict:
    """The compare engine: 4 adapters x 32 prompts in shared batches; generated tokens/s, peak memory."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio.evaluate import inference

    folders = []
    for i in range(4):
        torch.manual_seed(100 + i)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(spec["base"]),
                               LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", init_lora_weights=False))
        model.save_pretrained(Path(spec["dir"]) / f"adapter-{i}")
        folders.append(str(Path(spec["dir"]) / f"adapter-{i}"))
        del model
    prompts = [{"prompt": f"第{i}条 电力设施保护区内哪些行为是禁止的？请说明理由。"} for i in range(spec["prompts"])]
    cuda = torch.cuda.is_available() and spec["device"] != "cpu"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    engine = inference.Engine(spec["base"])
    systems = [inference.System(f"adapter-{i}", spec["base"], "lora", f, f"adapter-{i}") for i, f in enumerate(folders)]
    decode = inference.decode_settings("greedy", max_new_tokens=spec["new_tokens"])
    found = engine.generate_systems(systems, prompts, decode, batch_size=128)
    seconds = time.perf_counter() - started
    generated = sum(len(a.token_ids) for answers in found.values() for a in answers)
    return {"rows": len(systems) * len(prompts), "generated_tokens": generated, "seconds": round(seconds, 2),
            "tokens_per_s": round(generated / seconds), "engine_device": str(getattr(engine, "device", "")),
            "peak_mb": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None}


def in_child(kind: str, spec: dict) -> dict:
    """Run one measurement in a fresh process (its own peak memory, nothing cached from the last)."""
    out = subprocess.run([sys.executable, __file__, "--child", kind, json.dumps(spec)], cwd=ROOT,
                         capture_output=True, text=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--device", choices=["auto", "cpu"], default="auto")
    parser.add_argument("--tiny", action="store_true", help="a tiny model and a few steps: a smoke run")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SPEC"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, spec = args.child
        print(json.dumps((child_train if kind == "train" else child_compare)(json.loads(spec))))
        return
    import torch

    cuda = torch.cuda.is_available() and args.device != "cpu"
    if not cuda and args.device != "cpu":
        print(json.dumps({"bench": "gpu_check", "device": None, "skipped": "no CUDA device here"}))
        return
    device = torch.cuda.get_device_name(0) if cuda else "cpu"
    if args.tiny:
        args.steps, args.batch, args.length, args.prompts, args.new_tokens = 3, 2, 64, 4, 8
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        model = build_model(Path(tmp), TINY if args.tiny else QWEN25_05B)
        spec = {**model, "dir": tmp, "device": args.device, "steps": args.steps, "batch": args.batch,
                "length": args.length, "prompts": args.prompts, "new_tokens": args.new_tokens}
        line = {"bench": "gpu_check", "device": device, "params": model["params"], "steps": args.steps,
                "batch": args.batch, "length": args.length}
        peak = peak_flops(device) if cuda else None
        for method in ("lora", "prefix"):
            found = in_child("train", {**spec, "method": method})
            if peak and "tokens_per_s" in found:
                found["mfu"] = round(found["tokens_per_s"] * 4 * model["params"] / peak, 4)
            line[method] = found
            print(f"{method}: {found}", flush=True)
        line["compare"] = in_child("compare", spec)
        print(f"compare: {line['compare']}", flush=True)
    print(json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
