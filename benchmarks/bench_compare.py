"""Batched multi-adapter generation against the naive loop, in the same run.

3 LoRA adapters x 64 prompts on the tiny demo model, greedy, 32 new tokens:

- batched: ``studio.inference.Engine``: the base model loaded once, the three adapters loaded onto it by
  name and switched per batch, prompts batched (left padding, similar lengths together);
- naive: per system, load the base model and the adapter (``PeftModel.from_pretrained``), then
  generate one prompt at a time.

Each approach runs in its own child process so its peak memory (max RSS) is its own; the time counted
is from loading the model to the last output (imports excluded), on one torch thread each. The ratio
is of CPU time (``time.process_time``): on a shared machine wall-clock time swings with other load;
the wall-clock ratio is printed too. Both approaches must give the same outputs.

    .venv/bin/python benchmarks/bench_compare.py [--quick]

Ends with one JSON line: {"bench": "compare", "ratio": naive CPU s / batched CPU s, "target": 5, "better": "higher", ...}
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOPICS = ["雷雨天气巡视", "高压设备接地", "线路停电检修", "安全帽佩戴", "绝缘靴", "验电器使用", "工作票签发", "倒闸操作"]
FORMS = ["请解释{}的要求", "{}时应注意什么？", "简述{}的步骤", "{}有哪些规定", "为什么要{}", "{}的常见错误是什么",
         "如何检查{}", "{}的依据条款是什么"]


def make_prompts(n: int) -> list[str]:
    return [FORMS[i % len(FORMS)].format(TOPICS[(i // len(FORMS)) % len(TOPICS)]) + "。" * (i % 3) for i in range(n)]


def prepare(folder: Path, adapters: int) -> dict:
    """The tiny model and LoRA adapters with random, non-zero B (so every system answers differently)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio.train.demo_model import build

    base = folder / "model"
    build(base)
    paths = []
    for i in range(adapters):
        torch.manual_seed(100 + i)
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                               LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                          init_lora_weights=False))
        out = folder / f"adapter-{i}"
        model.save_pretrained(out)
        paths.append(str(out))
    return {"base": str(base), "adapters": paths}


def run_batched(base: str, adapters: list[str], prompts: list[str], max_new: int, batch: int) -> dict:
    import peft  # noqa: F401 - imports are excluded from the timing, as in run_naive
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    from studio.evaluate import inference

    t0, c0 = time.perf_counter(), time.process_time()
    eng = inference.Engine(base)
    decode = inference.decode_settings("greedy", max_new_tokens=max_new)
    items = [{"prompt": p} for p in prompts]
    outputs = {}
    for i, folder in enumerate(adapters):
        system = inference.System(f"adapter-{i}", base, "lora", folder, f"adapter-{i}")
        outputs[system.id] = eng.generate(system, items, decode, batch_size=batch)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "outputs": outputs,
            "base_loads": eng.stats["base_loads"]}


def run_naive(base: str, adapters: list[str], prompts: list[str], max_new: int) -> dict:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0, c0 = time.perf_counter(), time.process_time()
    outputs, loads = {}, 0
    for i, folder in enumerate(adapters):
        tok = AutoTokenizer.from_pretrained(base)
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), folder).eval()
        loads += 1
        outs = []
        for p in prompts:
            text = tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            enc = tok(text, return_tensors="pt", add_special_tokens=False)
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id,
                                     eos_token_id=tok.eos_token_id, temperature=None, top_p=None, top_k=None)
            outs.append(tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip())
        outputs[f"adapter-{i}"] = outs
        del model
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "outputs": outputs,
            "base_loads": loads}


def child(args) -> None:
    import torch

    torch.set_num_threads(1)   # both approaches on one core: the comparison is of the method, not the cores
    spec = json.loads(Path(args.child).read_text())
    prompts = make_prompts(spec["n"])
    if args.mode == "batched":
        r = run_batched(spec["base"], spec["adapters"], prompts, spec["max_new"], spec["batch"])
    else:
        r = run_naive(spec["base"], spec["adapters"], prompts, spec["max_new"])
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(r, ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="16 prompts instead of 64")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    n = 16 if args.quick else 64
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        spec = {**prepare(folder, 3), "n": n, "max_new": 32, "batch": 32}
        (folder / "spec.json").write_text(json.dumps(spec))
        results = {}
        for mode in ("batched", "naive"):
            out = subprocess.run([sys.executable, __file__, "--child", str(folder / "spec.json"), "--mode", mode],
                                 capture_output=True, text=True, cwd=ROOT, check=True)
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    b, nv = results["batched"], results["naive"]
    same = b["outputs"] == nv["outputs"]
    distinct = len({tuple(v) for v in b["outputs"].values()}) == 3
    ratio = nv["cpu_seconds"] / b["cpu_seconds"]
    wall = nv["seconds"] / b["seconds"]
    print(f"3 adapters x {n} prompts, 32 new tokens, greedy, batches of {spec['batch']}, one CPU thread each")
    for name, r in (("batched multi-adapter", b), ("naive loop", nv)):
        print(f"{name:22s} {r['cpu_seconds']:6.2f} s CPU, {r['seconds']:6.2f} s wall, base loaded {r['base_loads']}x, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB")
    print(f"speed-up {ratio:.1f}x in CPU time ({wall:.1f}x wall clock); same outputs: {same}; "
          f"adapters answer differently: {distinct}")
    print(json.dumps({"bench": "compare", "ratio": round(ratio, 2), "target": 5, "better": "higher",
                      "prompts": n, "adapters": 3, "batched_s": round(b["seconds"], 2),
                      "naive_s": round(nv["seconds"], 2), "batched_cpu_s": round(b["cpu_seconds"], 2),
                      "naive_cpu_s": round(nv["cpu_seconds"], 2), "wall_ratio": round(wall, 2), "batched_peak_rss_mb": round(b["peak_rss_mb"]),
                      "naive_peak_rss_mb": round(nv["peak_rss_mb"]), "batched_base_loads": b["base_loads"],
                      "naive_base_loads": nv["base_loads"], "same_outputs": same}))


if __name__ == "__main__":
    main()
