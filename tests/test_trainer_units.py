"""Pure parts of the trainer: label masking, truncation, rendering, batching, config, launch commands."""
import json
import sys

import pytest

from trainers import launcher, runfolder, sft


@pytest.mark.parametrize("ids, prompt_len, expected", [
    ([7, 8, 9, 10], 2, [-100, -100, 9, 10]),
    ([7, 8, 9], 0, [7, 8, 9]),
    ([7, 8, 9], 3, [-100, -100, -100]),
    ([7, 8], 5, [-100, -100]),   # a prompt longer than the row masks everything, never more
    ([], 0, []),
])
def test_labels_train_on_the_response_only(ids, prompt_len, expected):
    assert sft.labels_for(ids, prompt_len) == expected


@pytest.mark.parametrize("head, tail, response, src, tgt, prompt, answer", [
    ([1, 2, 3], [9], [5, 6], 10, 10, [1, 2, 3, 9], [5, 6]),          # fits: unchanged
    ([1, 2, 3, 4], [9], [5, 6, 7], 3, 2, [1, 2, 9], [5, 6]),         # head keeps its start, tail whole
    ([1, 2], [8, 9], [5], 2, 1, [8, 9], [5]),                        # only the answer cue fits
    ([1, 2], [7, 8, 9], [5], 2, 1, [8, 9], [5]),                     # a cue longer than the budget: its end
    ([], [], [5, 6, 7], 4, 2, [], [5, 6]),
])
def test_truncation_follows_the_chatglm_recipe(head, tail, response, src, tgt, prompt, answer):
    assert sft.truncate(head, tail, response, src, tgt) == (prompt, answer)


def test_build_example_masks_the_prompt_and_counts_the_mask():
    row = sft.build_example([1, 2, 3], [9], [5, 6, 7], 3, 2)
    assert row == {"input_ids": [1, 2, 9, 5, 6], "labels": [-100, -100, -100, 5, 6],
                   "attention_mask": [1, 1, 1, 1, 1]}


def test_collate_pads_to_the_longest_row_only():
    rows = [sft.build_example([1], [9], [5, 6], 8, 8), sft.build_example([1, 2, 3], [9], [5], 8, 8)]
    batch = sft.collate(rows, pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 9, 5, 6, 0], [1, 2, 3, 9, 5]]
    assert batch["labels"].tolist() == [[-100, -100, 5, 6, -100], [-100, -100, -100, -100, 5]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]]
    assert sft.collate(rows, pad_id=0, pad_to=8)["input_ids"].shape == (2, 8)


def test_render_uses_the_chat_template_and_splits_off_the_answer_cue(demo_model):
    tok = sft.load_tokenizer(sft.make_config(base_model=str(demo_model)))
    sample = {"instruction": "雷雨天气应穿___", "input": "", "output": "绝缘靴", "system": "你是电工",
              "history": [["问一", "答一"]]}
    head, tail, response = sft.render(sample, tok)
    assert head == "你是电工\n问：问一\n答：答一</s>\n问：雷雨天气应穿___"
    assert tail == "\n答：" and response == "绝缘靴</s>"
    cfg = sft.make_config(base_model=str(demo_model), max_source_length=6, max_target_length=2)
    row = sft.encode([sample], tok, cfg)[0]
    assert tok.decode(row["input_ids"]) == "你是电\n答：绝缘"  # 3 head + 3 cue tokens
    assert [t for t in row["labels"] if t != -100] == tok("绝缘", add_special_tokens=False)["input_ids"]
    assert row["length"] == 8


def test_render_without_a_chat_template_uses_user_text(demo_model):
    tok = sft.load_tokenizer(sft.make_config(base_model=str(demo_model)))
    tok.chat_template = None
    head, tail, response = sft.render({"instruction": "问", "input": "补充", "output": "答"}, tok)
    assert (head, tail, response) == ("问\n补充", "\n", "答</s>")


def test_planned_steps():
    cfg = sft.make_config(base_model="m", batch_size=4, epochs=2.0)
    assert sft.planned_steps(10, cfg) == 6          # 3 batches per epoch
    assert sft.planned_steps(10, sft.make_config(base_model="m", batch_size=4, max_steps=7)) == 7
    assert sft.planned_steps(10, sft.make_config(base_model="m", batch_size=4, epochs=1.0,
                                                 gradient_accumulation_steps=2)) == 1


@pytest.mark.parametrize("values, message", [
    ({"base_model": "m", "method": "qlora"}, "method must be lora or prefix"),
    ({"base_model": "m", "bogus": 1}, "unknown config fields: bogus"),
    ({"method": "lora"}, "base_model is required"),
    ({"base_model": "m", "batch_size": 0}, "batch_size must be at least 1"),
])
def test_bad_configs_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        sft.make_config(**values)


def test_config_round_trips_through_json(tmp_path):
    cfg = sft.make_config(base_model="m", lora_target_modules=["q_proj", "v_proj"], method="prefix")
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_json()))
    assert sft.load_config(tmp_path / "config.json") == cfg


def test_single_process_command():
    assert launcher.command("runs/a/config.json") == [sys.executable, "-m", "trainers.sft", "runs/a/config.json"]
    assert launcher.shown(launcher.command("runs/a/config.json")) == "python -m trainers.sft runs/a/config.json"


def test_multi_gpu_commands_use_accelerate_launch():
    cmd = launcher.command("runs/a/config.json", num_processes=4)
    assert cmd[1:] == ["launch", "--num_processes", "4", "--multi_gpu", "-m", "trainers.sft", "runs/a/config.json"]
    assert cmd[0].endswith("accelerate")
    ds = launcher.command("runs/a/config.json", num_processes=2, deepspeed=True)
    assert launcher.shown(ds) == ("accelerate launch --num_processes 2 --config_file trainers/deepspeed_zero2.yaml "
                                  "-m trainers.sft runs/a/config.json")
    yaml = (launcher.ROOT / launcher.DEEPSPEED_CONFIG).read_text()
    assert "distributed_type: DEEPSPEED" in yaml and "deepspeed_zero2.json" in yaml
    zero = json.loads((launcher.ROOT / "trainers" / "deepspeed_zero2.json").read_text())
    assert zero["zero_optimization"]["stage"] == 2


def test_run_folder_files(tmp_path):
    runfolder.write_json_atomic(tmp_path / "status.json", {"state": "running", "heartbeat": 100.0})
    assert runfolder.read_status(tmp_path)["state"] == "running"
    assert runfolder.heartbeat_age(runfolder.read_status(tmp_path), now=130.0) == 30.0
    for step in (5, 10, 15):
        runfolder.append_metric(tmp_path, {"step": step, "loss": 1.0})
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 20, "lo')  # a line cut by SIGKILL
    assert [m["step"] for m in runfolder.read_metrics(tmp_path)] == [5, 10, 15]
    runfolder.truncate_metrics(tmp_path, 10)
    assert [m["step"] for m in runfolder.read_metrics(tmp_path)] == [5, 10]
    for n in (10, 2):
        (tmp_path / f"checkpoint-{n}").mkdir()
        (tmp_path / f"checkpoint-{n}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-30").mkdir()  # incomplete: no trainer_state.json
    assert runfolder.last_checkpoint(tmp_path).name == "checkpoint-10"
    (tmp_path / "log.txt").write_text("\n".join(f"line {i}" for i in range(100)))
    assert runfolder.tail(tmp_path / "log.txt", 2) == "line 98\nline 99"


def test_every_setting_has_a_reason():
    from studio.train.config import config_fields

    found = config_fields()
    assert {f["name"] for f in found} >= {"lora_r", "pre_seq_len", "max_source_length", "learning_rate"}
    assert all(f["help"] and f["group"] in ("model", "data", "adapter", "optimisation", "launch") for f in found)


def test_demo_model_gets_a_learning_rate_that_moves_its_loss(demo_model, tmp_path):
    from studio.train import config

    assert config.preset("lora", str(demo_model))["learning_rate"] == 1e-2
    assert config.preset("lora", str(demo_model))["max_steps"] == 90
    assert "max_steps" not in config.preset("lora")  # real models train by epochs (the trainer default 0)
    assert config.preset("lora")["learning_rate"] == 2e-4  # real models keep the preset
    (tmp_path / "config.json").write_text("{}")
    assert config.preset("lora", str(tmp_path))["learning_rate"] == 2e-4
    assert config.preset("prefix", str(demo_model))["learning_rate"] == 2e-2  # the ChatGLM recipe stays
