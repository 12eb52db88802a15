"""The chat playground: local answers streamed from the tiny demo model (base and a trained LoRA run, the
same text as the comparison engine's greedy output), API answers streamed from our loopback
OpenAI-compatible server, why an answer ended, keeping an exchange as a pending sample with its history,
and the page in AppTest (English and Chinese)."""
import pytest
from streamlit.testing.v1 import AppTest

from store import datasets
from studio.core.errors import InputError
from studio.data import samples
from studio.evaluate import inference
from studio.evaluate import playground as pg
from studio.evaluate import systems as api_systems
from testkit.fake_openai import FakeOpenAI
from tests.compare_helpers import PAIRS_A, make_prefix, make_run_folder, register_run, train_lora
from tests.conftest import ROOT

GREEDY = {"max_new_tokens": 12, "temperature": 0.0, "top_p": 1.0, "seed": 0}


@pytest.fixture(scope="module")
def chat(demo_model):
    return pg.LocalChat(str(demo_model))


def base(demo_model) -> pg.ChatSystem:
    return pg.ChatSystem("base", "base", "base", base_model=str(demo_model))


def streamed(reply: pg.Reply) -> list[str]:
    """Follow one reply as the page does; return the texts seen on the way."""
    seen = []
    pg.follow([reply], lambda i, r: seen.append(r.text), poll=0.005, timeout=120)
    return seen


# ---------------------------------------------------------------- settings and systems


def test_the_systems_are_the_base_the_runs_and_the_stored_api_systems(studio_env, demo_model):
    api_systems.add("通义千问", "qwen-plus", "https://dashscope.aliyuncs.com/compatible-mode/v1/", "DASHSCOPE_API_KEY")
    found = pg.chat_systems(str(demo_model))
    assert [(s.key, s.kind, s.label) for s in found] == [("base", "base", "base (demo-tiny-llama)"),
                                                         ("api:通义千问", "api", "通义千问")]
    api = found[1]
    assert (api.model, api.base_url, api.key_env) == ("qwen-plus", "https://dashscope.aliyuncs.com/compatible-mode/v1",
                                                      "DASHSCOPE_API_KEY")


def test_decoding_settings_are_checked_in_words():
    assert pg.decode_problems(128, 0.7, 0.9, 0) == []
    assert pg.decode_settings(64, 0, 1, 3) == {"max_new_tokens": 64, "temperature": 0.0, "top_p": 1.0, "seed": 3}
    problems = pg.decode_problems(0, 2.5, 0, -1)
    assert problems == ["Max new tokens must be a whole number from 1 to 4096, not 0",
                        "Temperature must be a number from 0 to 2, not 2.5",
                        "Top-p must be a number from 0.01 to 1, not 0",
                        "Seed must be a whole number from 0 to 4294967295, not -1"]
    with pytest.raises(InputError, match="Temperature"):
        pg.decode_settings(temperature="hot")


def test_one_to_four_systems_each_once():
    s = [pg.ChatSystem(f"k{i}", "base", f"k{i}") for i in range(5)]
    assert pg.check_systems(s[:4]) == s[:4]
    with pytest.raises(InputError, match="at most 4"):
        pg.check_systems(s)
    with pytest.raises(InputError, match="at least one"):
        pg.check_systems([])
    with pytest.raises(InputError, match="k1 is chosen twice"):
        pg.check_systems([s[1], s[1]])


@pytest.mark.parametrize("reply, text", [
    ({"text": "", "finish": "stop"}, "No text: the model ended its answer at once (end of sequence first)."),
    ({"text": " ", "finish": "length"}, "No text: max new tokens reached before any visible text."),
    ({"text": "", "finish": "error", "error": "the endpoint refused the key (401)"},
     "Failed: the endpoint refused the key (401)"),
    ({"text": "好", "finish": "length", "tokens": 8, "seconds": 0.5}, "max new tokens reached · 8 tokens · 0.5 s"),
    ({"text": "好", "finish": "stop", "tokens": 2}, "ended by the model · 2 tokens"),
])
def test_a_reply_says_how_it_ended(reply, text):
    assert pg.note(reply) == text


# ---------------------------------------------------------------- local models


def test_local_answer_streams_the_engines_greedy_text(chat, demo_model):
    history = [["电压等级", "高压"]]
    reply = pg.ask(base(demo_model), "安全帽", history, GREEDY, system_prompt="你是电力安规助手", local=lambda b: chat)
    seen = streamed(reply)
    assert reply.finish in ("stop", "length") and 1 <= reply.tokens <= 12
    assert len(seen) > 2 and seen[-1] == reply.text                 # it grew while being written
    engine = inference.engine(str(demo_model))
    want = engine.generate(inference.base_system(str(demo_model)),
                           [{"prompt": "安全帽", "history": history, "system": "你是电力安规助手"}],
                           inference.decode_settings("greedy", max_new_tokens=12))[0]
    assert reply.text.strip() == want


def test_max_new_tokens_reached_and_stop(chat, demo_model):
    one = pg.ask(base(demo_model), "接地", None, {**GREEDY, "max_new_tokens": 1}, local=lambda b: chat)
    streamed(one)
    assert (one.finish, one.tokens) == ("length", 1)
    long = pg.ask(base(demo_model), "接地", None, {**GREEDY, "max_new_tokens": 4000}, local=lambda b: chat)
    pg.cancel([long])
    streamed(long)
    assert long.finish == "cancelled" and long.tokens < 4000


def test_sampling_is_seeded(chat, demo_model):
    sampled = {"max_new_tokens": 10, "temperature": 1.0, "top_p": 0.9, "seed": 7}
    texts = []
    for _i in range(2):
        r = pg.ask(base(demo_model), "雷雨天气", None, sampled, local=lambda b: chat)
        streamed(r)
        texts.append(r.text)
    assert texts[0] == texts[1]


def test_a_run_answers_with_its_adapter_and_the_base_without(chat, demo_model, tmp_path, studio_env):
    adapter = train_lora(demo_model, tmp_path / "adapter-a", PAIRS_A, steps=30)
    folder = make_run_folder(studio_env / "runs", "run-a", adapter, demo_model)
    register_run("run-a", folder, demo_model, name="安规 A")
    systems = pg.local_systems(str(demo_model))
    assert [(s.key, s.kind, s.method) for s in systems] == [("base", "base", "base"), ("run-a", "run", "lora")]
    run = systems[1]
    replies = [pg.ask(s, "安全帽", None, GREEDY, local=lambda b: chat) for s in (run, systems[0])]
    pg.follow(replies, lambda i, r: None, poll=0.005, timeout=120)
    decode = inference.decode_settings("greedy", max_new_tokens=12)
    engine = inference.engine(str(demo_model))
    want_run = engine.generate(inference.run_system("run-a"), [{"prompt": "安全帽"}], decode)[0]
    want_base = engine.generate(inference.base_system(str(demo_model)), [{"prompt": "安全帽"}], decode)[0]
    assert want_run != want_base and want_run.startswith("必须")   # the adapter learnt its answer
    assert [r.text.strip() for r in replies] == [want_run, want_base]


def test_a_prefix_run_answers_on_its_own_copy(chat, demo_model, tmp_path, studio_env):
    adapter = make_prefix(demo_model, tmp_path / "prefix")
    folder = make_run_folder(studio_env / "runs", "run-p", adapter, demo_model, method="ptuning")
    register_run("run-p", folder, demo_model, method="ptuning")
    run = next(s for s in pg.local_systems(str(demo_model)) if s.key == "run-p")
    assert run.method == "prefix"
    replies = [pg.ask(s, "接地", None, GREEDY, local=lambda b: chat) for s in (run, base(demo_model))]
    pg.follow(replies, lambda i, r: None, poll=0.005, timeout=120)
    decode = inference.decode_settings("greedy", max_new_tokens=12)
    engine = inference.engine(str(demo_model))
    want_base = engine.generate(inference.base_system(str(demo_model)), [{"prompt": "接地"}], decode)[0]
    want_run = engine.generate(inference.run_system("run-p"), [{"prompt": "接地"}], decode)[0]
    assert [r.text.strip() for r in replies] == [want_run, want_base] and want_run != want_base


def test_a_model_that_does_not_load_fails_in_words(tmp_path):
    (tmp_path / "empty").mkdir()
    r = pg.ask(pg.ChatSystem("base", "base", "b", base_model=str(tmp_path / "empty")), "你好", None, GREEDY)
    streamed(r)
    assert r.finish == "error" and "cannot load the base model" in r.error


# ---------------------------------------------------------------- API systems


def test_api_answer_streams_from_an_openai_compatible_server(monkeypatch):
    monkeypatch.setenv("MY_ENDPOINT_KEY", "sk-playground-secret-123")
    pieces, add = [], pg.Reply.add
    monkeypatch.setattr(pg.Reply, "add", lambda self, piece: (pieces.append(piece), add(self, piece)))
    with FakeOpenAI(reply=lambda req: "答：" + req["messages"][-1]["content"] * 4) as server:
        s = pg.api_system(api_systems.check("Fake", "fake-model", server.url, "MY_ENDPOINT_KEY"))
        r = pg.ask(s, "安全帽怎么戴", [["你好", "你好！"]], {**GREEDY, "temperature": 0.3}, system_prompt="简短回答")
        streamed(r)
    assert r.text == "答：" + "安全帽怎么戴" * 4 and r.finish == "stop" and r.tokens == len(r.text)
    assert pieces == [r.text[i:i + 8] for i in range(0, 26, 8)]   # written chunk by chunk as they came
    body = server.requests[-1]
    assert body["stream"] is True and body["model"] == "fake-model" and body["max_tokens"] == 12
    assert (body["temperature"], body["top_p"], body["seed"]) == (0.3, 1.0, 0)
    assert body["messages"] == [{"role": "system", "content": "简短回答"}, {"role": "user", "content": "你好"},
                                {"role": "assistant", "content": "你好！"}, {"role": "user", "content": "安全帽怎么戴"}]
    headers = {k.lower(): v for k, v in server.headers[-1].items()}
    assert headers["authorization"] == "Bearer sk-playground-secret-123"   # the named variable's key


def test_api_errors_are_one_line_with_the_key_hidden(monkeypatch):
    monkeypatch.setenv("MY_ENDPOINT_KEY", "sk-playground-secret-123")
    with FakeOpenAI() as server:
        server.fail_with = 401
        r = pg.ask(pg.api_system(api_systems.check("Fake", "m", server.url, "MY_ENDPOINT_KEY")), "你好", None, GREEDY)
        streamed(r)
    assert r.finish == "error" and "401" in r.error and "sk-playground-secret-123" not in r.error
    assert pg.note(r.result()).startswith("Failed: the endpoint refused the key (401)")


def test_an_api_system_without_a_key_says_which_variable():
    r = pg.ask(pg.api_system(api_systems.check("Remote", "gpt-4o", "https://api.example.com/v1")), "你好", None, GREEDY)
    streamed(r)
    assert r.finish == "error" and "OPENAI_API_KEY" in r.error


# ---------------------------------------------------------------- keeping an exchange


def test_an_exchange_lands_as_a_pending_sample_with_its_history(studio_env):
    turns = [["电压等级", "高压"], ["安全帽", "必须佩戴"], ["雷雨天气", "穿绝缘靴"]]
    done = pg.save_exchange("试用记录", turns, system_prompt="你是电力安规助手", tags=["安规 A"])
    assert done == {"dataset": "试用记录", "dataset_id": done["dataset_id"], "history": 2}
    [row] = samples.page("试用记录")["rows"]
    sample = samples.get(row["id"])
    assert (sample["instruction"], sample["output"], sample["status"], sample["origin"]) == \
        ("雷雨天气", "穿绝缘靴", "pending", "playground")
    assert sample["history"] == [["电压等级", "高压"], ["安全帽", "必须佩戴"]]
    assert sample["system"] == "你是电力安规助手" and list(sample["tags"]) == ["安规 A"]
    pg.save_exchange("试用记录", turns[:1])                           # into the same dataset, no history
    assert samples.count("试用记录") == 2


def test_saving_refuses_what_cannot_be_a_sample(studio_env):
    datasets.create("安规题库", "exam")
    with pytest.raises(InputError, match="holds exam records"):
        pg.save_exchange("安规题库", [["问", "答"]])
    with pytest.raises(InputError, match="the answer is empty"):
        pg.save_exchange("新数据集", [["问", "  "]])
    with pytest.raises(InputError, match="dataset to save into"):
        pg.save_exchange(" ", [["问", "答"]])
    with pytest.raises(InputError, match="chat first"):
        pg.save_exchange("新数据集", [])
    assert datasets.find("新数据集") is None                          # nothing half-made


# ---------------------------------------------------------------- the page


@pytest.fixture
def page_env(studio_env):
    yield
    from studio.service import supervisor

    supervisor.stop()


def open_playground():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/playground.py").run()
    assert not at.exception, at.exception
    return at


def submit(at, label):
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception


def say(at, text):
    at.chat_input(key="playground_input").set_value(text).run()
    assert not at.exception, at.exception
    return at


def test_page_chats_with_the_base_model_and_an_api_system_then_saves(page_env, demo_model):
    datasets.create("试用记录", "samples")
    with FakeOpenAI(reply=lambda req: "回答：" + req["messages"][-1]["content"]) as server:
        at = open_playground()
        at.text_input(key="playground_base").input(str(demo_model)).run()
        at.text_input(key="playground_api_label").input("Fake")
        at.text_input(key="playground_api_model").input("fake-model")
        at.text_input(key="playground_api_url").input(server.url)
        submit(at, "Save API system")
        assert any("Added Fake" in s.value for s in at.success)
        at.multiselect(key="playground_systems").set_value(["base", "api:Fake"]).run()
        at.number_input(key="playground_max_new").set_value(8).run()
        at.number_input(key="playground_temperature").set_value(0.0).run()
        say(at, "电压等级")
        say(at, "安全帽")
    assert [s.value for s in at.subheader][:2] == ["base (demo-tiny-llama)", "Fake"]
    shown = [m.value for m in at.markdown]
    assert "回答：电压等级" in shown and "回答：安全帽" in shown
    notes = [c.value for c in at.caption]
    assert sum("tokens" in n for n in notes) == 4                    # every answer says how it ended
    assert len(server.requests) == 2 and len(server.requests[-1]["messages"]) == 3   # its own history went along
    assert server.requests[-1]["temperature"] == 0 and "seed" not in server.requests[-1]   # greedy, as Compare asks
    at.selectbox(key="playground_target").set_value("试用记录").run()
    at.button(key="playground_save_1_api:Fake").click().run()
    assert not at.exception, at.exception
    [row] = samples.page("试用记录")["rows"]
    sample = samples.get(row["id"])
    assert (sample["instruction"], sample["output"], sample["status"]) == ("安全帽", "回答：安全帽", "pending")
    assert sample["history"] == [["电压等级", "回答：电压等级"]] and list(sample["tags"]) == ["Fake"]
    at.button(key="playground_new").click().run()
    assert not at.chat_message


def test_page_refuses_bad_settings_and_keeps_the_box_closed(page_env):
    at = open_playground()
    at.number_input(key="playground_top_p").set_value(0.0).run()
    assert any("Top-p must be a number from 0.01 to 1" in w.value for w in at.warning)
    assert at.chat_input(key="playground_input").disabled
    at.multiselect(key="playground_systems").set_value([]).run()
    assert any("Choose one to four systems" in i.value for i in at.info)


def test_page_in_chinese(page_env, demo_model, monkeypatch):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    with FakeOpenAI(reply=lambda req: "") as server:
        at = open_playground()
        assert at.title[0].value == "对话试用"
        labels = {w.label for w in [*at.text_input, *at.number_input, *at.multiselect, *at.selectbox]}
        assert {"基座模型", "最大生成 token 数", "温度", "随机种子", "保存对话到"} <= labels
        at.text_input(key="playground_api_label").input("空回答")
        at.text_input(key="playground_api_model").input("fake-model")
        at.text_input(key="playground_api_url").input(server.url)
        submit(at, "保存 API 系统")
        at.multiselect(key="playground_systems").set_value(["api:空回答"]).run()
        say(at, "你好")
    assert any(c.value == "无输出：模型一开始就结束了回答（先生成了结束符）。" for c in at.caption)
    assert [b.label for b in at.button if b.key == "playground_new"] == ["新对话"]
