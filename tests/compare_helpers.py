"""Adapters and runs for the comparison tests, made with peft on the tiny demo model.

``train_lora`` really trains (loss on the answer only, 20 AdamW steps) so two adapters
trained on different answers give different outputs. ``make_prefix`` saves a freshly initialised
P-Tuning v2 (prefix) adapter: its random prefix already changes the outputs.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

PAIRS_A = [("电压等级", "高压"), ("安全帽", "必须佩戴"), ("雷雨天气", "穿绝缘靴"), ("接地", "先验电")]
PAIRS_B = [("电压等级", "低压低压"), ("安全帽", "不戴"), ("雷雨天气", "回家"), ("接地", "随便")]


def train_lora(base: Path, out: Path, pairs: list[tuple[str, str]], *, steps: int = 20, seed: int = 0,
               lr: float = 1e-2) -> Path:
    """Train a LoRA adapter on (question, answer) pairs; save it into ``out``."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "k_proj", "v_proj",
                                                                                  "o_proj"], lora_dropout=0.0))
    batch_ids, batch_labels = [], []
    for q, a in pairs:
        prompt = tok.apply_chat_template([{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True)
        p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
        a_ids = tok(a, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        batch_ids.append(p_ids + a_ids)
        batch_labels.append([-100] * len(p_ids) + a_ids)
    width = max(len(x) for x in batch_ids)
    ids = torch.tensor([[tok.pad_token_id] * (width - len(x)) + x for x in batch_ids])
    labels = torch.tensor([[-100] * (width - len(x)) + x for x in batch_labels])
    mask = (torch.arange(width)[None, :] >= torch.tensor([width - len(x) for x in batch_ids])[:, None]).long()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out)
    return out


def make_prefix(base: Path, out: Path, *, seed: int = 0, tokens: int = 8) -> Path:
    import torch
    from peft import PrefixTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=tokens))
    model.save_pretrained(out)
    return out


def make_run_folder(runs_dir: Path, run_id: str, adapter: Path, base_model: Path, method: str = "lora") -> Path:
    """A run folder as the trainer leaves it: config.json and adapter/ (no database row)."""
    folder = Path(runs_dir) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"base_model": str(base_model), "method": method}),
                                        encoding="utf-8")
    shutil.copytree(adapter, folder / "adapter", dirs_exist_ok=True)
    return folder


def register_run(run_id: str, folder: Path, base_model: Path, method: str = "lora", name: str | None = None) -> None:
    """A row in the runs table for a finished run folder (what the app mirrors)."""
    from store import db

    db.cursor().execute("INSERT INTO runs (id, name, base_model, method, config, dir, state) "
                        "VALUES (?, ?, ?, ?, ?, ?, 'done')",
                        [run_id, name or run_id, str(base_model), method, json.dumps({"method": method}),
                         str(folder)])


# ---------------------------------------------------------------- shared pytest fixtures (import into a test module)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def adapters(demo_model, tmp_path_factory) -> dict[str, Path]:
    """Two LoRA adapters trained on different answers and one prefix adapter, once per session."""
    root = tmp_path_factory.mktemp("compare-adapters")
    return {"a": train_lora(demo_model, root / "lora-a", PAIRS_A, seed=1),
            "b": train_lora(demo_model, root / "lora-b", PAIRS_B, seed=2),
            "prefix": make_prefix(demo_model, root / "prefix", seed=3)}


@pytest.fixture
def runs(studio_env, demo_model, adapters) -> dict[str, str]:
    """Run folders in this test's STUDIO_RUNS: 'run-a' (in the runs table), 'double' (folder only: a name
    that clashes with a module attribute), 'pt-1' (prefix)."""
    from studio.core import settings

    runs_dir = settings.path("runs")
    register_run("run-a", make_run_folder(runs_dir, "run-a", adapters["a"], demo_model), demo_model,
                 name="安规 LoRA")
    make_run_folder(runs_dir, "double", adapters["b"], demo_model)
    make_run_folder(runs_dir, "pt-1", adapters["prefix"], demo_model, "prefix")
    return {"a": "run-a", "b": "double", "prefix": "pt-1"}
