"""Fine-tune throughput: the studio's trainer against LLaMA-Factory 0.9.5, same data, model and run.

Both train the same LoRA (r 8, alpha 16, dropout 0.05, every linear layer of the blocks) on the demo
model (``studio/train/demo_model.py``, fp32 on CPU) for one epoch over the same rows of LLaMA-Factory's
own ``alpaca_zh_demo`` (the first ``--rows``, default 256, of its 1,000 Chinese alpaca rows), the same
chat template (LLaMA-Factory parses the demo tokenizer's), batch 8, cutoff 456 tokens (prompt +
response, shared out by the same rule), learning rate 5e-3 (linear), seed 42, loss on the response
only. One epoch over the same rows, not a number of steps: every run then trains on exactly the same
samples (a LLaMA-Factory packing step holds ~2 samples per row, and a length-grouped sampler starts
with the longest batch, so N steps are not the same work), and samples and tokens are counted, not
estimated. Default and the studio take rows / 8 steps, the packing runs about half as many.

- studio: ``trainers/sft.py`` as a run uses it (``make_trainer``: packing on, as by default; the run
  folder callback logging every step), and once more with ``packing`` off (each batch padded to its
  longest row: the trainer before packing), to show where the speed comes from;
- LLaMA-Factory, ``llamafactory-cli train x.yaml`` in its own venv (``benchmarks/lf_env.sh``, which
  ``make bench`` runs first), three ways: default (each batch padded to its longest row), ``packing:
  true`` (rows concatenated up to the cutoff, attention across samples) and ``neat_packing: true``
  (packing with a block-diagonal 4D attention mask: attention kept inside each sample, our equivalent).

Each run is its own process with the same torch thread count (``--threads``, default 1: on a shared
2-core machine a second thread mostly waits for a core, and an oversubscribed one stalls both sides
several-fold); the time is the Trainer's ``train_runtime`` on both sides (the training
loop: no imports, model load or tokenization). Samples/s counts original samples (rows / runtime);
non-padding tokens/s counts the studio's batches and LLaMA-Factory's tokenized (packed) dataset
(``tokenized_path``; a pack's trailing padding excluded).
Runs alternate, ``--repeat`` times (default 2), and the fastest of each is kept: other work on a shared
machine only ever slows a run down. The first and last logged losses of each show the curves agree.

    .venv/bin/python benchmarks/bench_trainer.py [--quick] [--rows N] [--repeat N] [--threads N] [--lf-venv DIR]

Ends with one JSON line: {"bench": "trainer", "ratio": studio samples/s / fastest LLaMA-Factory samples/s,
"target": 1.3, ...}; without the LLaMA-Factory venv it says so, reports the studio only and ratio null.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "trainer_formats" / "llamafactory" / "alpaca_zh_demo.json"
LF_VENV = ROOT / "bench_out" / "lf-venv"
TARGET = 1.3
BATCH, CUTOFF, LORA_R, LORA_ALPHA, LORA_DROPOUT, LR, SEED = 8, 456, 8, 16, 0.05, 5e-3, 42
LF_MODES = {"default": {}, "packing": {"packing": True}, "neat_packing": {"neat_packing": True}}
BASELINE = ("LLaMA-Factory 0.9.5, fastest of default / packing / neat_packing (same data: one epoch over the same "
            "rows; model, batch, cutoff, LoRA)")


# ----------------------------------------------------------------------------------------- studio

def studio_child(model_dir: str, data: Path, out: Path, packing: bool) -> dict:
    """One studio training run in this process (``--child``): figures from the Trainer's own account."""
    import torch
    from transformers import set_seed

    from trainers import sft

    cfg = sft.make_config(base_model=model_dir, method="lora", max_source_length=CUTOFF, max_target_length=CUTOFF,
                          cutoff_len=CUTOFF, lora_r=LORA_R, lora_alpha=LORA_ALPHA, lora_dropout=LORA_DROPOUT,
                          batch_size=BATCH, learning_rate=LR, lr_scheduler="linear", seed=SEED, epochs=1.0,
                          logging_steps=1, save_steps=sft.BIG, packing=packing)
    set_seed(cfg.seed)
    cuda, bf16, dtype = sft.pick_device(cfg)
    tokenizer = sft.load_tokenizer(cfg)
    rows = sft.encode(json.loads(data.read_text(encoding="utf-8")), tokenizer, cfg)
    model = sft.attach_adapter(sft.load_base(cfg, dtype), cfg, out)
    steps = sft.planned_steps(len(rows), cfg)
    args = sft.training_args(cfg, out, steps=steps, has_eval=False, resuming=False, cuda=cuda, bf16=bf16)
    status = sft.Status(out, writer=True)
    trainer = sft.make_trainer(cfg, model, tokenizer, rows, [], args,
                               callbacks=[sft.make_callback(out, cfg, status, False)])
    result = trainer.train()
    runtime = result.metrics["train_runtime"]
    samples, tokens = len(rows), sum(r["length"] for r in rows)  # one epoch: every row once, no padding counted
    assert trainer.state.num_input_tokens_seen == tokens, (trainer.state.num_input_tokens_seen, tokens)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {"samples_per_s": samples / runtime, "tokens_per_s": tokens / runtime,
            "seconds": runtime, "samples": samples, "tokens": tokens, "steps": trainer.state.global_step,
            "loss_first": losses[0], "loss_last": losses[-1], "loss_mean": sum(losses) / len(losses),
            "threads": torch.get_num_threads()}


def threads_env(threads: int) -> dict[str, str]:
    """The environment of a run: torch's (OpenMP's, MKL's) thread count fixed."""
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def studio_run(model_dir: str, data: Path, out: Path, packing: bool, threads: int) -> dict:
    """A studio run in a fresh process, as LLaMA-Factory's."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--child", model_dir, str(data), str(out), "1" if packing else "0"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=threads_env(threads))
    if proc.returncode != 0:
        raise RuntimeError(f"studio run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ LLaMA-Factory

def lf_yaml(model_dir: str, data_dir: Path, out: Path, mode: str) -> str:
    """The LLaMA-Factory config of one run: the studio's settings in its names (no ``template``: it
    parses the demo tokenizer's chat template, so both train on the same text)."""
    settings = {
        "model_name_or_path": model_dir, "stage": "sft", "do_train": True, "finetuning_type": "lora",
        "lora_rank": LORA_R, "lora_alpha": LORA_ALPHA, "lora_dropout": LORA_DROPOUT, "lora_target": "all",
        "dataset": "alpaca_zh_demo", "dataset_dir": str(data_dir), "cutoff_len": CUTOFF, "overwrite_cache": True,
        "tokenized_path": str(out.parent / f"tokenized-{mode}"), "output_dir": str(out),
        "overwrite_output_dir": True, "logging_steps": 1, "save_steps": 100000, "report_to": "none",
        "plot_loss": False, "per_device_train_batch_size": BATCH, "gradient_accumulation_steps": 1,
        "learning_rate": LR, "lr_scheduler_type": "linear", "warmup_ratio": 0.0, "num_train_epochs": 1.0,
        "seed": SEED, "bf16": False, "fp16": False, "dataloader_num_workers": 0, **LF_MODES[mode]}
    return "".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items())


def lf_dataset(tokenized: Path) -> dict:
    """Original samples and non-padding tokens in LLaMA-Factory's tokenized (maybe packed) dataset: a
    pack's samples are its position-id restarts, its trailing padding (position 0s) excluded."""
    from datasets import load_from_disk

    ds = load_from_disk(str(tokenized))["train"]
    if "position_ids" not in ds.column_names:
        return {"rows": len(ds), "samples": len(ds), "tokens": sum(len(ids) for ids in ds["input_ids"])}
    samples = tokens = 0
    for pos in ds["position_ids"]:
        pad = 0
        while pad < len(pos) and pos[len(pos) - 1 - pad] == 0:
            pad += 1
        real = pos[:len(pos) - pad]
        samples += sum(1 for p in real if p == 0)
        tokens += len(real)
    return {"rows": len(ds), "samples": samples, "tokens": tokens}


def lf_run(venv: Path, model_dir: str, data_dir: Path, out: Path, mode: str, threads: int) -> dict:
    """One ``llamafactory-cli train`` run (one epoch); its samples and tokens counted in its tokenized
    (maybe packed) dataset."""
    out.mkdir(parents=True, exist_ok=True)
    config = out.parent / f"{out.name}.yaml"
    config.write_text(lf_yaml(model_dir, data_dir, out, mode), encoding="utf-8")
    env = {**threads_env(threads), "DISABLE_VERSION_CHECK": "1", "LLAMAFACTORY_VERBOSITY": "WARN",
           "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(venv / "bin" / "llamafactory-cli"), "train", str(config)], capture_output=True,
                          text=True, env=env, cwd=out)
    results = out / "train_results.json"
    if proc.returncode != 0 or not results.exists():
        raise RuntimeError(f"LLaMA-Factory {mode} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    runtime = json.loads(results.read_text())["train_runtime"]
    state = json.loads((out / "trainer_state.json").read_text())
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    data = lf_dataset(out.parent / f"tokenized-{mode}")
    return {"samples_per_s": data["samples"] / runtime, "tokens_per_s": data["tokens"] / runtime,
            "samples": data["samples"], "tokens": data["tokens"], "steps": state["global_step"],
            "samples_per_row": data["samples"] / data["rows"], "seconds": runtime,
            "loss_first": losses[0], "loss_last": losses[-1], "loss_mean": sum(losses) / len(losses)}


def lf_ready(venv: Path) -> bool:
    """Whether LLaMA-Factory 0.9.5's CLI is installed in ``venv``."""
    cli = venv / "bin" / "llamafactory-cli"
    if not cli.exists():
        return False
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import llamafactory; print(llamafactory.__version__)"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and probe.stdout.strip() == "0.9.5"


# ------------------------------------------------------------------------------------------- main

def best(runs: list[dict]) -> dict:
    """The fastest of repeated runs (other load only slows a run down), with every run's samples/s."""
    top = dict(max(runs, key=lambda r: r["samples_per_s"]))
    top["all_samples_per_s"] = [round(r["samples_per_s"], 2) for r in runs]
    return top


def measure(args, tmp: Path, model_dir: str, lf: bool) -> dict[str, dict]:
    """Every configuration ``args.repeat`` times, alternating; the fastest of each."""
    data_dir = tmp / "data"
    data_dir.mkdir()
    data = data_dir / "alpaca_zh_demo.json"
    rows = json.loads(DATA.read_text(encoding="utf-8"))[:args.rows]
    data.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    (data_dir / "dataset_info.json").write_text(json.dumps({"alpaca_zh_demo": {"file_name": data.name}}))
    runs: dict[str, list[dict]] = {}
    for i in range(args.repeat):
        for name, packing in (("studio", True), ("studio_padded", False)):
            runs.setdefault(name, []).append(studio_run(model_dir, data, tmp / f"{name}{i}", packing, args.threads))
            print(f"  {name} run {i + 1}: {runs[name][-1]['samples_per_s']:.2f} samples/s", flush=True)
        for mode in LF_MODES if lf else ():
            name = f"lf_{mode}"
            runs.setdefault(name, []).append(lf_run(args.lf_venv, model_dir, data_dir, tmp / f"{name}{i}", mode,
                                                    args.threads))
            print(f"  {name} run {i + 1}: {runs[name][-1]['samples_per_s']:.2f} samples/s", flush=True)
    return {name: best(r) for name, r in runs.items()}


def report(figures: dict[str, dict], args, lf: bool, load: tuple[float, float]) -> dict:
    """The table, and the JSON line's fields: the ratio of samples/s to LLaMA-Factory's fastest configuration
    (named in ``baseline_config``), the same for non-padding tokens/s, and every run's figures."""
    print(f"{'run':<18}{'samples':>8}{'tokens':>8}{'steps':>6}{'seconds':>9}{'samples/s':>10}{'tokens/s':>10}"
          f"{'loss first':>11}{'loss last':>10}{'loss mean':>10}")
    for name, f in figures.items():
        print(f"{name:<18}{f['samples']:>8}{f['tokens']:>8}{f['steps']:>6}{f['seconds']:>9.1f}"
              f"{f['samples_per_s']:>10.2f}{f['tokens_per_s']:>10.1f}{f['loss_first']:>11.4f}{f['loss_last']:>10.4f}"
              f"{f['loss_mean']:>10.4f}")
    studio = figures["studio"]
    lf_runs = {n: f for n, f in figures.items() if n.startswith("lf_")}
    fastest = max(lf_runs, key=lambda n: lf_runs[n]["samples_per_s"]) if lf_runs else None
    line = {"bench": "trainer",
            "ratio": round(studio["samples_per_s"] / lf_runs[fastest]["samples_per_s"], 2) if fastest else None,
            "target": TARGET, "better": "higher", "baseline": BASELINE,
            "baseline_config": fastest[3:] if fastest else None,
            "tokens_ratio": round(studio["tokens_per_s"] / lf_runs[fastest]["tokens_per_s"], 2) if fastest else None}
    for mode in LF_MODES:
        f = figures.get(f"lf_{mode}")
        line[f"lf_{mode}_samples_per_s"] = round(f["samples_per_s"], 2) if f else None
    for name, f in figures.items():
        if not name.startswith("lf_"):
            line[f"{name}_samples_per_s"] = round(f["samples_per_s"], 2)
        line[f"{name}_tokens_per_s"] = round(f["tokens_per_s"], 1)
        line[f"{name}_loss_first_last"] = [round(f["loss_first"], 4), round(f["loss_last"], 4)]
        line[f"{name}_loss_mean"] = round(f["loss_mean"], 4)
        line[f"{name}_runs_samples_per_s"] = f["all_samples_per_s"]
        line[f"{name}_steps"] = f["steps"]
        if "samples_per_row" in f:
            line[f"{name}_samples_per_pack"] = round(f["samples_per_row"], 3)
    line.update(rows=args.rows, epochs=1, batch=BATCH, cutoff=CUTOFF, repeat=args.repeat, device="cpu",
                threads=args.threads, load_avg_1min=[load[0], load[1]], cores=os.cpu_count())
    if not lf:
        line["note"] = f"LLaMA-Factory 0.9.5 not installed in {args.lf_venv} (run benchmarks/lf_env.sh): studio only"
    else:
        print(f"studio / fastest LLaMA-Factory ({fastest[3:]}) samples/s: {line['ratio']}x (target >= {TARGET}x); "
              f"non-padding tokens/s: {line['tokens_ratio']}x")
    return line


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        model_dir, data, out, packing = sys.argv[2:6]
        print(json.dumps(studio_child(model_dir, Path(data), Path(out), packing == "1")))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="96 rows, one run of each")
    p.add_argument("--rows", type=int, help="rows of alpaca_zh_demo trained for one epoch (default 256; --quick 96)")
    p.add_argument("--repeat", type=int, help="alternating runs of each, the fastest kept (default 2; --quick 1)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of every run (default 1)")
    p.add_argument("--lf-venv", type=Path, default=LF_VENV, help="LLaMA-Factory 0.9.5's venv (benchmarks/lf_env.sh)")
    args = p.parse_args()
    args.rows = min(1000, args.rows or (96 if args.quick else 256))
    args.repeat = args.repeat or (1 if args.quick else 2)
    lf = lf_ready(args.lf_venv)
    if not lf:
        print(f"LLaMA-Factory 0.9.5 is not installed in {args.lf_venv}: run `bash benchmarks/lf_env.sh` "
              "(make bench does); reporting the studio only, ratio null")
    start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        from studio.train.demo_model import build

        model_dir = str(Path(tmp) / "demo")
        build(model_dir)
        print(f"alpaca_zh_demo, first {args.rows} rows, one epoch, demo model, batch {BATCH}, cutoff {CUTOFF}, "
              f"LoRA r {LORA_R}; {args.repeat} run(s) of each; load average {start:.1f} on {os.cpu_count()} cores",
              flush=True)
        t = time.perf_counter()
        figures = measure(args, Path(tmp), model_dir, lf)
        print(f"measured in {time.perf_counter() - t:.0f} s; load average now {os.getloadavg()[0]:.1f}")
    print(json.dumps(report(figures, args, lf, (round(start, 1), round(os.getloadavg()[0], 1))), ensure_ascii=False))


if __name__ == "__main__":
    main()
