"""The demo base model's short pre-training at ``init`` (issue 14: a demo that shows something true).

Real parts: the tiny demo model built from scratch, trained with torch on the shipped text, saved and
loaded back with transformers; ``init`` through the CLI as ``make run`` calls it. Few steps here: what a
user checks is that the model moved from noise toward the text, that a second start does not train
again, and that a bad setting changes nothing.
"""
from __future__ import annotations

import json
import re

import pytest

from studio.train import demo_model, demo_pretrain

pytestmark = pytest.mark.slow  # trains the tiny model

HAN = re.compile(r"[\u4e00-\u9fff]")


def _greedy(folder, prompt: str, tokens: int = 40) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    x = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                      return_tensors="pt", return_dict=True)
    out = model.generate(**x, max_new_tokens=tokens, do_sample=False)
    return tokenizer.decode(out[0][x["input_ids"].shape[1]:], skip_special_tokens=True)


def _share_of_text_characters(answer: str) -> float:
    """The share of an answer's characters that the shipped text uses (random weights pick from ~23k)."""
    known = set(demo_pretrain.corpus_text())
    chars = [c for c in answer if not c.isspace()]
    return sum(c in known for c in chars) / max(len(chars), 1)


@pytest.mark.timeout(600)
def test_pretraining_moves_the_demo_model_from_noise_to_the_shipped_text(tmp_path):
    folder = tmp_path / "demo"
    demo_model.build(folder)
    before = _greedy(folder, "什么是工作负责人？")
    record = demo_pretrain.pretrain(folder, max_steps=40, batch_size=8, seq_len=64)
    after = _greedy(folder, "什么是工作负责人？")

    assert record["steps"] == 40 and record["loss_last"] < record["loss_first"] - 2, record
    assert _share_of_text_characters(before) < 0.3, before
    assert _share_of_text_characters(after) > 0.9 and len(HAN.findall(after)) >= 10, after
    saved = json.loads((folder / "studio_demo_model.json").read_text(encoding="utf-8"))
    assert saved["pretrained"]["steps"] == 40 and saved["parameters"] > 0

    again = demo_pretrain.pretrain(folder, max_steps=40)  # cached: the same text trains nothing twice
    assert again["cached"] is True and again["steps"] == 40
    assert _greedy(folder, "什么是工作负责人？") == after


def test_the_exam_answers_are_not_in_the_pretraining_text():
    """The base must not learn the bank: the demo's exam evaluation then shows what the adapter learnt."""
    import csv

    text = demo_pretrain.corpus_text()
    with open(demo_pretrain.DEMO / "exam_bank.csv", encoding="utf-8") as f:
        stems = [row["题目内容"] for row in csv.DictReader(f)]
    assert len(stems) == 30
    assert not [s for s in stems if s[:12] in text]


@pytest.mark.timeout(600)
def test_init_builds_and_pretrains_a_new_demo_model_once(studio_env, monkeypatch, capsys):
    from studio.cli import main

    monkeypatch.setenv("STUDIO_DEMO_PRETRAIN_STEPS", "3")
    assert main(["init", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    folder = demo_model.demo_model_dir()
    assert summary["demo_model_built"] is True and str(folder) == summary["demo_model"]
    assert demo_pretrain.pretrained(folder)["steps"] == 3
    assert not folder.with_name(folder.name + ".building").exists()
    assert json.loads((folder / "studio_demo_model.json").read_text(encoding="utf-8"))["out"] == str(folder)

    monkeypatch.setenv("STUDIO_DEMO_PRETRAIN_STEPS", "50")
    assert main(["init", "--json"]) == 0  # an existing demo model is kept as it is: runs trained on it stay valid
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["demo_model_built"] is False
    assert demo_pretrain.pretrained(folder)["steps"] == 3


def test_a_bad_pretraining_setting_is_one_line_and_builds_nothing(studio_env, monkeypatch, capsys):
    from studio.cli import main

    monkeypatch.setenv("STUDIO_DEMO_PRETRAIN_STEPS", "a minute")
    assert main(["init"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "STUDIO_DEMO_PRETRAIN_STEPS" in err and "'a minute'" in err
    assert not demo_model.demo_model_dir().exists()
