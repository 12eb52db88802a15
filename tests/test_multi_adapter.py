"""All LoRA adapters in one batch: mixed batches answer exactly as one adapter at a time; how each output
ended; trust_remote_code from the run's config; the engine on the job's device."""
import json
import pickle

import pytest

from store import compare as store
from studio.evaluate import batching, comparisons, inference
from studio.evaluate import prompt_sets as prompts
from tests.compare_helpers import PAIRS_A, adapters, make_run_folder, register_run, runs  # noqa: F401 - fixtures
from tests.train_helpers import tiny_model

QUESTIONS = [q for q, _a in PAIRS_A]
ITEMS = [{"prompt": q} for q in QUESTIONS] + [
    {"prompt": "天空为什么是蓝的？请用一句话说明。"}, {"prompt": "请介绍牛顿运动定律"}, {"prompt": "电"},
    {"prompt": "接地", "system": "你是电力安全专家。", "history": [["你好", "你好！"]]}]


def random_lora(base, out, seed: int):
    """A LoRA adapter built by hand with random, non-zero weights (no training)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                      init_lora_weights=False))
    model.save_pretrained(out)
    return out


@pytest.fixture
def four_systems(runs, demo_model, tmp_path):  # noqa: F811 - the fixture imported above
    """base + three LoRA runs (two trained, one random) + one prefix run, as a comparison resolves them."""
    from studio.core import settings

    make_run_folder(settings.path("runs"), "rand-c", random_lora(demo_model, tmp_path / "rand", 7), demo_model)
    inference.release()
    return inference.resolve_systems([runs["a"], runs["b"], "rand-c", runs["prefix"]])


pytestmark = pytest.mark.slow


def test_mixed_batches_equal_one_adapter_at_a_time_token_for_token(four_systems, demo_model):
    eng = inference.engine(str(demo_model))
    decode = inference.decode_settings("greedy", max_new_tokens=10)
    batches = list(eng.generate_many([(s, it) for s in four_systems for it in ITEMS], decode, batch_size=6))
    kinds = [{a.system for a in answers} for _idx, answers in batches]
    assert any(len(k) >= 3 for k in kinds), kinds            # rows of several adapters share a batch
    assert {"pt-1"} in kinds and all(k == {"pt-1"} or "pt-1" not in k for k in kinds)  # prefix alone
    mixed = eng.generate_systems(four_systems, ITEMS, decode, batch_size=6)
    for s in four_systems:
        alone = eng.generate(s, ITEMS, decode, batch_size=3)               # set_adapter / disable_adapter
        single = [eng.generate(s, [it], decode)[0] for it in ITEMS]       # one prompt, no padding at all
        assert [a.token_ids for a in mixed[s.id]] == [a.token_ids for a in alone] == [a.token_ids for a in single], s.id
        assert mixed[s.id] == alone == single
        assert [a.finish_reason for a in mixed[s.id]] == [a.finish_reason for a in single]
    # the systems really differ: every prompt gets more than one distinct answer across the five systems
    assert all(len({tuple(mixed[s.id][i].token_ids) for s in four_systems}) >= 3 for i in range(len(ITEMS)))
    assert mixed["run-a"][:4] == [a for _q, a in PAIRS_A]
    assert eng.stats["base_loads"] == 1 and eng.stats["mixed_batches"] > 0


def test_the_full_size_cache_answers_as_the_growing_one(four_systems, demo_model, monkeypatch):
    """A key/value cache allocated at the call's full size and filled in place changes no token: the same
    mixed batches with transformers' default cache, which grows token by token, answer alike. Prefix
    systems, and calls over the size limit, keep the default cache."""
    eng = inference.engine(str(demo_model))
    decode = inference.decode_settings("greedy", max_new_tokens=12)
    used, real = [], inference.Engine._static_cache

    def spy(self, model, rows, length):
        got = real(self, model, rows, length)
        used.append((model is self.prefix, got is not None))
        return got

    monkeypatch.setattr(inference.Engine, "_static_cache", spy)
    full = eng.generate_systems(four_systems, ITEMS, decode, batch_size=6)
    assert {(False, True), (True, False)} == set(used)   # base + LoRA batches in place; prefix batches not
    monkeypatch.setattr(inference, "STATIC_CACHE_MAX_BYTES", 0)
    used.clear()
    growing = eng.generate_systems(four_systems, ITEMS, decode, batch_size=6)
    assert used and not any(static for _prefix, static in used)
    for s in four_systems:
        assert [a.token_ids for a in full[s.id]] == [a.token_ids for a in growing[s.id]], s.id
        assert full[s.id] == growing[s.id]


@pytest.mark.parametrize("arch", ["qwen2", "qwen3", "gpt2", "mistral-sliding-window"])
def test_each_architecture_answers_alike_with_either_cache(arch, demo_model, tmp_path, monkeypatch):
    """Other architectures the studio trains, and one with a sliding window shorter than the answers: the
    full-size cache gives the tokens of the default cache (random tiny models, the demo tokenizer)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(demo_model)
    tiny_model(arch, tmp_path / arch, vocab_size=len(tok))
    tok.save_pretrained(tmp_path / arch)
    eng = inference.Engine(str(tmp_path / arch), device="cpu")
    base = inference.System("base", str(tmp_path / arch), "base", None, "base")
    decode = inference.decode_settings("greedy", max_new_tokens=16)
    assert eng._static_cache(eng.model, len(ITEMS), 64) is not None
    full = eng.generate(base, ITEMS, decode, batch_size=8)
    monkeypatch.setattr(inference, "STATIC_CACHE_MAX_BYTES", 0)
    assert eng._static_cache(eng.model, len(ITEMS), 64) is None
    growing = eng.generate(base, ITEMS, decode, batch_size=8)
    assert [a.token_ids for a in full] == [a.token_ids for a in growing]
    assert sum(len(a.token_ids) for a in full) > 4 * len(ITEMS)   # they said something


def test_a_comparison_generates_its_lora_systems_in_shared_batches(four_systems, demo_model, monkeypatch):
    calls = []
    real = inference.Engine._batch

    def spy(self, model, texts, systems, names, *args):
        calls.append(sorted({s.id for s in systems}))
        return real(self, model, texts, systems, names, *args)

    monkeypatch.setattr(inference.Engine, "_batch", spy)
    pset = prompts.save("五问", "test", [{"prompt": it["prompt"]} for it in ITEMS[:5]])
    ids = [s.id for s in four_systems if s.id != "base"]
    comp = comparisons.open_comparison(pset["prompt_set"], ids, max_new_tokens=8)
    done = comparisons.generate(comp["id"], batch_size=25)
    assert done["generated"] == 25 and done["cached"] == 0
    # base + three LoRA systems x 5 prompts = 20 rows in one batch; the prefix run's 5 rows on their own
    assert calls == [["base", "double", "rand-c", "run-a"], ["pt-1"]]
    grid = comparisons.grid(comp["id"])
    ended = {o["finish_reason"] for p in grid["prompts"] for o in p["outputs"].values()}
    assert ended <= {"eos", "length"} and ended
    # every stored output equals what the system says alone
    eng = inference.engine(str(demo_model))
    decode = comp["decode"]
    for s in four_systems:
        alone = eng.generate(s, [{"prompt": it["prompt"]} for it in ITEMS[:5]], decode)
        assert [p["outputs"][s.id]["output"] for p in grid["prompts"]] == alone, s.id


def test_each_output_says_how_it_ended(runs, demo_model):  # noqa: F811 - the fixture
    eng = inference.engine(str(demo_model))
    system = inference.run_system(runs["a"])
    items = [{"prompt": "雷雨天气"}]
    eos = eng.tokenizer.eos_token_id
    done = eng.generate(system, items, inference.decode_settings(max_new_tokens=12))[0]
    assert done == "穿绝缘靴" and done.finish_reason == "eos" and done.token_ids[-1] == eos and done.error is None
    cut = eng.generate(system, items, inference.decode_settings(max_new_tokens=2))[0]
    assert cut == "穿绝" and cut.finish_reason == "length" and len(cut.token_ids) == 2
    empty = eng.generate(system, items, inference.decode_settings(max_new_tokens=12, stop=["穿"]))[0]
    assert empty == "" and empty.finish_reason == "stop"     # an empty output that says why
    # the old (text, ms) pairs of generate_batches still unpack; the text carries the reason
    [(idx, [(text, ms)])] = list(eng.generate_batches(system, items, inference.decode_settings(max_new_tokens=2)))
    assert idx == [0] and text == "穿绝" and text.finish_reason == "length" and isinstance(ms, int)
    # stored rows say it too
    made = inference.ensure_generations([system], items, inference.decode_settings(max_new_tokens=2))
    key = (system.id, inference.prompt_key("雷雨天气"))
    assert made["finish_reasons"] == {key: "length"} and made["rows"][key]["finish_reason"] == "length"


def test_answers_stay_plain_strings():
    a = batching.Answer("好", finish_reason="eos", token_ids=[5, 2], ms=3, system="base")
    assert a == "好" and json.dumps([a], ensure_ascii=False) == '["好"]' and a.token_ids == (5, 2)
    again = pickle.loads(pickle.dumps(a))
    assert again == "好" and again.finish_reason == "eos" and again.token_ids == (5, 2)
    why = batching.failed("run-a", "显存不足")
    assert why == "" and why.failed and why.finish_reason == "error" and why.error == "显存不足"


def test_pools_and_plan(tmp_path):
    def lora(name, **cfg):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", **cfg}))
        return inference.System(name, "m", "lora", str(tmp_path / name), name)

    base = inference.System("base", "m", "base", None, "base")
    a, b, dora, ia3 = lora("a"), lora("b"), lora("d", use_dora=True), lora("i", peft_type="IA3")
    prefix = inference.System("p", "m", "prefix", "x", "p")
    assert batching.pools([prefix, a, dora, base, ia3, b]) == [[base, a, b], [dora], [ia3], [prefix]]
    assert batching.pools([base]) == [[base]] and batching.pools([base, prefix]) == [[base], [prefix]]
    # longest prompt first; one prompt's systems side by side, in system order
    lengths, prompt_of, rank = [3, 9, 3, 9], [0, 1, 0, 1], [0, 0, 1, 1]
    assert batching.plan(range(4), lengths, prompt_of, rank, 3) == [[1, 3, 0], [2]]


def test_trust_remote_code_comes_from_the_runs_config(runs, demo_model, monkeypatch):  # noqa: F811
    from studio.core import settings

    assert inference.run_system(runs["a"]).trust_remote_code is False           # never on by default
    assert inference.resolve_systems([runs["a"]])[0].trust_remote_code is False
    folder = make_run_folder(settings.path("runs"), "glm", settings.path("runs") / "run-a" / "adapter", demo_model)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "trust_remote_code": True}))
    register_run("glm", folder, demo_model)   # its row's config lacks the key: the folder's config.json says it
    systems = inference.resolve_systems(["glm", runs["a"]])
    assert [s.trust_remote_code for s in systems] == [True, True, False]   # the base inherits it
    assert inference.resolve_systems([], base_model=str(demo_model))[0].trust_remote_code is True

    seen = []
    real = inference.Engine

    def recording(*args, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "Engine", recording)
    inference.release()
    inference.ensure_generations([systems[1]], [{"prompt": "电压等级"}], inference.decode_settings(max_new_tokens=2))
    inference.release()
    inference.ensure_generations([systems[2]], [{"prompt": "电压等级"}], inference.decode_settings(max_new_tokens=2))
    assert seen == [True, False]


def test_the_engine_goes_where_the_job_was_placed(demo_model, monkeypatch):
    from studio.train import devices

    asked = []
    monkeypatch.setattr(devices, "torch_device", lambda: asked.append(1) or "cpu")
    inference.release()
    eng = inference.engine(str(demo_model))
    assert asked and eng.device == "cpu" and str(eng.model.device) == "cpu"
    assert inference.engine(str(demo_model)) is eng
    monkeypatch.setattr(devices, "torch_device", lambda: "cpu:0")   # another placement: another engine
    moved = inference.engine(str(demo_model))
    assert moved is not eng and moved.device == "cpu:0"
    inference.release()


def test_stored_rows_are_unchanged_by_mixing(four_systems, demo_model):
    """A system's stored generations are the same whether it was generated alone or mixed with others."""
    items = [{"prompt": q} for q in QUESTIONS]
    decode = inference.decode_settings("greedy", max_new_tokens=6)
    inference.ensure_generations(four_systems, items, decode, batch_size=7)
    mixed = {s.id: store.generations_for([inference.prompt_key(q) for q in QUESTIONS], s.id,
                                         inference.decode_key(decode, s.base_model)) for s in four_systems}
    eng = inference.engine(str(demo_model))
    for s in four_systems:
        alone = eng.generate(s, items, decode)
        assert [mixed[s.id][inference.prompt_key(q)]["output"] for q in QUESTIONS] == alone
