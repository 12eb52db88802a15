"""Inference for comparisons on the tiny model: adapters switched on one base, batching, the cache."""
import pytest

from store import compare as store
from studio.core.errors import InputError, NotFound
from studio.evaluate import comparisons, inference
from studio.evaluate import prompt_sets as prompts
from tests.compare_helpers import PAIRS_A, PAIRS_B, adapters, runs  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow
QUESTIONS = [q for q, _ in PAIRS_A]


def test_two_trained_adapters_answer_differently_on_one_base(runs, demo_model):
    inference.release()  # count loads from a fresh engine
    pset = prompts.save("安规四问", "test", [{"prompt": q, "category": "安规"} for q in QUESTIONS])
    comp = comparisons.open_comparison(pset["prompt_set"], [runs["a"], runs["b"], runs["prefix"]], max_new_tokens=12)
    assert comp["systems"] == ["base", "run-a", "double", "pt-1"]
    done = comparisons.generate(comp["id"])
    assert done == {"generated": 16, "cached": 0, "outputs": 16}
    grid = comparisons.grid(comp["id"])
    assert grid["missing"] == 0
    outputs = {sid: [p["outputs"][sid]["output"] for p in grid["prompts"]] for sid in comp["systems"]}
    # each trained adapter says what it was trained to say; the base and the prefix adapter say other things
    assert outputs["run-a"] == [a for _, a in PAIRS_A]
    assert outputs["double"] == [b for _, b in PAIRS_B]
    for i in range(len(QUESTIONS)):
        assert len({outputs[s][i] for s in comp["systems"]}) == 4
    eng = inference.engine(str(demo_model))
    assert eng.stats["base_loads"] == 1 and eng.stats["adapter_loads"] == 3
    # the run from the table carries its name, the folder-only run its id
    labels = {s["id"]: s["label"] for s in grid["systems"]}
    assert labels["run-a"] == "安规 LoRA (run-a)" and labels["double"] == "double"

    # reopening generates nothing: the same comparison row, every output from the cache
    again = comparisons.open_comparison(pset["prompt_set"], [runs["a"], runs["b"], runs["prefix"]], max_new_tokens=12)
    assert again["id"] == comp["id"]
    before = store.count_generations()
    assert comparisons.generate(comp["id"]) == {"generated": 0, "cached": 16, "outputs": 16}
    assert store.count_generations() == before == 16
    # other decode settings are other generations
    other = comparisons.open_comparison(pset["prompt_set"], [runs["a"]], max_new_tokens=5)
    assert other["id"] != comp["id"]
    assert comparisons.generate(other["id"])["generated"] == 8


def test_batched_generation_matches_one_prompt_at_a_time(runs, demo_model):
    systems = inference.resolve_systems([runs["a"], runs["prefix"]])
    eng = inference.engine(str(demo_model))
    items = [{"prompt": q} for q in QUESTIONS + ["天空为什么是蓝的", "请介绍牛顿运动定律"]]
    items.append({"prompt": "接地", "system": "你是电力安全专家。", "history": [["你好", "你好！"]]})
    decode = inference.decode_settings("greedy", max_new_tokens=8)
    for s in [systems[2], systems[0], systems[1]]:  # prefix, base, LoRA: the kinds switch both ways
        batched = eng.generate(s, items, decode, batch_size=4)
        single = [eng.generate(s, [it], decode)[0] for it in items]
        assert batched == single, s.id
    assert eng.stats["base_loads"] == 1


def test_stop_strings_and_presets(runs, demo_model):
    eng = inference.engine(str(demo_model))
    system = inference.run_system(runs["a"])
    items = [{"prompt": "雷雨天气"}]
    assert eng.generate(system, items, inference.decode_settings(max_new_tokens=8)) == ["穿绝缘靴"]
    assert eng.generate(system, items, inference.decode_settings(max_new_tokens=8, stop=["缘"])) == ["穿绝"]
    seed_recipe = inference.decode_settings("chatglm", max_new_tokens=8, seed=3)
    assert seed_recipe["temperature"] == 0.01 and seed_recipe["top_p"] == 1.0
    first = eng.generate(system, items * 3, seed_recipe)
    assert first == eng.generate(system, items * 3, seed_recipe)   # seeded: repeatable
    assert inference.decode_key(seed_recipe, "m") != inference.decode_key(inference.decode_settings(), "m")
    with pytest.raises(InputError, match="unknown decode preset"):
        inference.decode_settings("creative")


def test_unknown_and_unfinished_runs_are_clear_errors(runs, studio_env):
    with pytest.raises(NotFound, match="no run 'nope'.*run-a"):
        inference.run_system("nope")
    (studio_env / "runs" / "half").mkdir(parents=True)
    (studio_env / "runs" / "half" / "config.json").write_text('{"base_model": "x", "method": "lora"}')
    with pytest.raises(InputError, match="no adapter yet"):
        inference.run_system("half")
    with pytest.raises(InputError, match="not a run id"):
        inference.run_system("../etc")
    assert inference.adapter_name("double") != "double" and inference.adapter_name("a-b") != inference.adapter_name("a_b")
