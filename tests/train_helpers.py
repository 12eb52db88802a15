"""Shared by the training tests: a small real exam-QA dataset and a loop that waits for a run."""
from __future__ import annotations

import csv
import time

from store import datasets, db
from tests.conftest import DATA

CMMLU = DATA / "exam" / "cmmlu" / "electrical_engineering_test.csv"


def exam_pairs(n: int, start: int = 0) -> list[dict[str, str]]:
    """Question -> answer-text pairs from the real CMMLU electrical-engineering bank."""
    with open(CMMLU, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[start:start + n]
    return [{"instruction": r["Question"].strip(), "input": "", "output": r[r["Answer"]].strip()} for r in rows]


def seed_dataset(name: str = "电工问答", n: int = 10, start: int = 0) -> list[dict[str, str]]:
    """A samples dataset of ``n`` accepted exam QA pairs; returns the pairs."""
    did = datasets.get_or_create(name, "samples")
    pairs = exam_pairs(n, start)
    cur = db.cursor()
    for p in pairs:
        cur.execute("INSERT INTO samples (dataset_id, instruction, input, output, status, origin, qtype) "
                    "VALUES (?, ?, '', ?, 'accepted', 'exam-qa', 'single')", [did, p["instruction"], p["output"]])
    return pairs


def wait(run_id: str, until, timeout: float = 240.0, every: float = 0.5) -> dict:
    """Poll (``supervisor.refresh``) until ``until(row)`` holds; fail with the run's log on timeout."""
    from studio.train import runs, supervisor

    deadline = time.time() + timeout
    while time.time() < deadline:
        supervisor.refresh()
        row = runs.get(run_id)
        if until(row):
            return row
        if row["state"] in ("failed",) and not until(row):
            raise AssertionError(f"run failed: {row['error']}\n{runs.detail(run_id)['log_tail']}")
        time.sleep(every)
    raise AssertionError(f"timed out; state {runs.get(run_id)['state']}\n{runs.detail(run_id)['log_tail']}")


def finished(row: dict) -> bool:
    return row["state"] in ("done", "failed", "cancelled")


# Settings that make the tiny demo model learn in seconds on CPU.
FAST_LORA = {"lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "learning_rate": 5e-3, "batch_size": 8,
             "lr_scheduler": "constant", "logging_steps": 5, "max_source_length": 64, "max_target_length": 32}


def tiny_model(kind: str, folder, vocab_size: int = 96):
    """A tiny random model of an architecture the studio trains, saved into ``folder``: ``llama``, ``qwen2``
    (biased q/k/v), ``qwen3`` (q/k norms), ``gpt2`` (learned absolute positions, no dropout) or
    ``mistral-sliding-window`` (a window of 6 positions)."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    shape = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=True)
    if kind == "llama":
        model = tf.LlamaForCausalLM(tf.LlamaConfig(**shape))
    elif kind == "qwen2":
        model = tf.Qwen2ForCausalLM(tf.Qwen2Config(**shape, use_sliding_window=False))
    elif kind == "qwen3":
        model = tf.Qwen3ForCausalLM(tf.Qwen3Config(**shape, head_dim=16, use_sliding_window=False))
    elif kind == "mistral-sliding-window":
        model = tf.MistralForCausalLM(tf.MistralConfig(**shape, sliding_window=6))
    else:
        no_dropout = dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)  # exact comparisons
        model = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=vocab_size, n_embd=64, n_layer=2, n_head=4,
                                                 n_positions=256, **no_dropout))
    model.save_pretrained(folder)
    return folder
