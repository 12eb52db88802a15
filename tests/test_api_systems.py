"""API systems beside local runs: defined by LABEL=MODEL@BASE_URL, keys from the environment only, asked the
same prompts (exam accuracy exact against a loopback server answering a fixed letter), judged in parallel
with raw verdicts and re-judging, empty outputs that say why, the arena moving on after a vote, and the
commands that serve runs on vLLM / LLaMA-Factory. Loopback OpenAI-compatible servers stand in for
ChatGPT and vLLM."""
from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from store import compare as store
from store import db
from studio.core.errors import InputError, NotFound, WorkFailed
from studio.evaluate import (
    comparisons,
    exam_accuracy,
    inference,
    judge,
    ratings,
    serve_commands,
    systems,
)
from studio.evaluate import prompt_sets as prompts
from studio.service import jobs
from testkit.fake_openai import FakeOpenAI
from tests.compare_helpers import make_run_folder, register_run
from tests.conftest import DATA, ROOT, run_cli
from tests.test_exam_eval import seed_exam


def loopback(reply=None, **kw) -> FakeOpenAI:
    server = FakeOpenAI(reply=reply, **kw)
    server._server.socket.listen(64)   # eight requests at once: the default backlog of 5 would drop some
    return server


class LengthServer(FakeOpenAI):
    """A loopback server whose every answer ends because max_tokens was reached."""

    def _handler(self):
        base = super()._handler()

        class Handler(base):
            def _send(self, status, body, headers=None):
                for choice in body.get("choices", []):
                    choice["finish_reason"] = "length"
                super()._send(status, body, headers)
        return Handler


def questions_of(server) -> list[str]:
    return [r["messages"][-1]["content"] for r in server.requests]


# ---------------------------------------------------------------- defining API systems


@pytest.mark.parametrize("spec, expected", [
    ("ChatGPT=gpt-4o-mini@https://api.openai.com/v1", ("ChatGPT", "gpt-4o-mini", "https://api.openai.com/v1", None)),
    ("DeepSeek=deepseek-chat@https://api.deepseek.com/v1/#DEEPSEEK_API_KEY",
     ("DeepSeek", "deepseek-chat", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY")),
    ("通义千问=qwen-plus@https://dashscope.aliyuncs.com/compatible-mode/v1#DASHSCOPE_API_KEY",
     ("通义千问", "qwen-plus", "https://dashscope.aliyuncs.com/compatible-mode/v1", "DASHSCOPE_API_KEY")),
    ("ollama=qwen2.5:7b@http://127.0.0.1:11434/v1", ("ollama", "qwen2.5:7b", "http://127.0.0.1:11434/v1", None)),
    ("vllm=Qwen/Qwen2.5-7B-Instruct@http://gpu:8000/v1", ("vllm", "Qwen/Qwen2.5-7B-Instruct", "http://gpu:8000/v1",
                                                         None)),
])
def test_api_specs(spec, expected):
    api = systems.parse_spec(spec)
    assert (api.label, api.model, api.base_url, api.key_env) == expected
    assert api.id == f"api:{expected[0]}"


@pytest.mark.parametrize("spec, reason", [
    ("gpt-4o-mini@https://api.openai.com/v1", "LABEL=MODEL@BASE_URL"),
    ("ChatGPT=gpt-4o-mini", "LABEL=MODEL@BASE_URL"),
    ("base=m@http://127.0.0.1:8000/v1", "not 'base'"),
    ("X=m@https://user:sk-secret@api.example.com/v1", "no credentials in the URL"),
    ("X=m@https://api.example.com/v1#sk-abcdef123456", "not an environment variable name"),
    ("X=@https://api.example.com/v1", "needs a model name"),
])
def test_bad_specs_say_what_to_fix(spec, reason):
    with pytest.raises(InputError, match=re.escape(reason)):
        systems.parse_spec(spec)


def test_keys_come_from_the_named_variable_and_are_never_stored(studio_env, monkeypatch):
    monkeypatch.setenv("TEST_DEEPSEEK_KEY", "sk-deepseek-secret-42")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret-77")
    with loopback(lambda req: "好的") as server:
        api = systems.define(f"DeepSeek=deepseek-chat@{server.url}#TEST_DEEPSEEK_KEY")
        r = systems.ensure_answers([api], [{"prompt": "你好"}], inference.decode_settings("greedy"))
        assert r["generated"] == 1
        # without the variable, a loopback endpoint gets no key at all: never another endpoint's key
        monkeypatch.delenv("TEST_DEEPSEEK_KEY")
        systems.ensure_answers([api], [{"prompt": "再见"}], inference.decode_settings("greedy"))
        # from the page's secrets (handed to the job in memory)
        secrets = systems.keys_from({"TEST_DEEPSEEK_KEY": "sk-from-secrets-9"}, [api.id, "base"])
        assert secrets == {"TEST_DEEPSEEK_KEY": "sk-from-secrets-9"}
        systems.ensure_answers([api], [{"prompt": "三"}], inference.decode_settings("greedy"), keys=secrets)
    sent = [next(v for k, v in h.items() if k.lower() == "authorization") for h in server.headers]
    assert sent == ["Bearer sk-deepseek-secret-42", "Bearer no-key", "Bearer sk-from-secrets-9"]
    remote = systems.save(systems.parse_spec("Far=m@https://api.example.com/v1#TEST_MISSING_KEY"))
    with pytest.raises(InputError, match="no API key for Far: set TEST_MISSING_KEY"):
        systems.ensure_answers([remote], [{"prompt": "x"}], inference.decode_settings("greedy"))
    dump = " ".join(db.rows(f"SELECT string_agg(CAST(t AS VARCHAR), ' ') AS s FROM {t} t")[0]["s"] or ""
                    for t in ("api_systems", "generations", "llm_requests"))
    assert "TEST_DEEPSEEK_KEY" in dump and not re.search(r"sk-(deepseek|openai|from)", dump)


# ---------------------------------------------------------------- exam accuracy, every system kind


def test_exam_accuracy_of_api_systems_is_exact(studio_env):
    seed_exam()   # single B, single D, multi AD, judge A (正确), judge B (错误)
    with loopback(lambda req: "答案：B") as fixed_b, loopback(lambda req: "A") as fixed_a:
        r = exam_accuracy.evaluate(systems.define(f"always-B=b-model@{fixed_b.url}").id, "安规题库")
        assert (r["n"], r["accuracy"], r["unparsed"]) == (5, 0.4, 0)
        assert r["by_type"] == {"single": 0.5, "multi": 0.0, "judge": 0.5}
        assert r["by_subject"] == {"变电专业": pytest.approx(1 / 3, abs=1e-3), "线路专业": 0.5}
        # the same prompt format as a local model: the converter's choice text as the user turn, greedy
        q = store.exam_questions(store.exam_datasets()[0]["id"])[0]
        assert exam_accuracy.exam_prompt(q["question"], q["options"], q["qtype"]) in questions_of(fixed_b)
        assert fixed_b.requests[0]["temperature"] == 0 and fixed_b.requests[0]["max_tokens"] == 64
        r = exam_accuracy.evaluate(systems.define(f"always-A=a-model@{fixed_a.url}").id, "安规题库", shuffles=2)
        assert r["accuracy"] == 0.2 and r["by_type"] == {"single": 0.0, "multi": 0.0, "judge": 0.5}
        assert len(fixed_a.requests) <= 15 and "consistent" in r
    table = exam_accuracy.objective_table("安规题库")
    assert table["columns"] == ["always-B (b-model)", "always-A (a-model)"]
    rows = {r["category"]: r["values"] for r in table["rows"]}
    assert rows == {"single choice": [50.0, 0.0], "multiple choice": [0.0, 0.0], "true/false": [50.0, 50.0],
                    "变电专业": [33.3, 33.3], "线路专业": [50.0, 0.0], "overall": [40.0, 20.0]}


def test_failed_exam_requests_are_not_scored(studio_env):
    seed_exam()
    with loopback(lambda req: "B") as server:
        server.faults.extend([400, 400])   # two of the five questions are refused
        api = systems.define(f"broken=m@{server.url}")
        with pytest.raises(WorkFailed, match="2 of the exam's requests to broken failed .* evaluate again"):
            exam_accuracy.evaluate(api.id, "安规题库", concurrency=1)
        assert exam_accuracy.history() == []
        r = exam_accuracy.evaluate(api.id, "安规题库")   # asks only the two again
        assert (r["generated"], r["cached"], r["accuracy"]) == (2, 3, 0.4) and len(server.requests) == 7
        server.fail_with = 400
        with pytest.raises(WorkFailed, match="stopped after 5 failed requests in a row"):
            exam_accuracy.evaluate(api.id, "安规题库", shuffles=3)


@pytest.mark.slow
def test_every_system_kind_in_one_objective_table(studio_env, demo_model):
    seed_exam()
    with loopback(lambda req: "答案：B") as server:
        exam_accuracy.evaluate("base", "安规题库", base_model=str(demo_model),
                               decode=inference.decode_settings("greedy", max_new_tokens=8))
        exam_accuracy.evaluate(systems.define(f"ChatGPT=gpt@{server.url}").id, "安规题库")
    table = exam_accuracy.objective_table("安规题库")
    assert table["columns"] == ["base (demo-tiny-llama)", "ChatGPT (gpt)"]
    assert table["rows"][-1]["values"][1] == 40.0


# ---------------------------------------------------------------- comparisons: outputs that say why


def test_a_comparison_of_api_systems_says_why_an_output_is_empty(studio_env):
    pset = prompts.save("三问", "test", [{"prompt": f"问题{i}", "category": "安规"} for i in range(3)])
    with loopback(lambda req: "" if req["messages"][-1]["content"] == "问题0" else "回答") as plain, \
            LengthServer(reply=lambda req: "") as capped, loopback(lambda req: "好") as flaky:
        flaky.faults.extend([400])   # one request refused (not retried): stored as a failure that says why
        for spec in (f"Plain=p@{plain.url}", f"Capped=c@{capped.url}", f"Flaky=f@{flaky.url}"):
            systems.define(spec)
        comp = comparisons.open_comparison(pset["prompt_set"], [], include_base=False, max_new_tokens=16,
                                           apis=["Plain", "Capped", "Flaky"])
        assert comp["systems"] == ["api:Plain", "api:Capped", "api:Flaky"]
        r = comparisons.generate(comp["id"], concurrency=1)
        assert (r["generated"], r["failed"], r["outputs"]) == (8, 1, 9)
        g = comparisons.grid(comp["id"])
        assert (g["failed"], g["missing"]) == (1, 1)
        shown = {sid: systems.shown(o) for sid, o in g["prompts"][0]["outputs"].items()}
        assert shown["api:Plain"] == "(empty: the model ended its answer at once, end-of-sequence came first)"
        assert shown["api:Capped"] == "(empty: max new tokens reached before any text; raise Max new tokens)"
        assert shown["api:Flaky"].startswith("(no answer: the request failed: the endpoint rejected the request (400)")
        assert comparisons.answered(g["prompts"][0]) == ["api:Plain", "api:Capped"]
        assert [s["label"] for s in g["systems"]] == ["Plain (p)", "Capped (c)", "Flaky (f)"]
        failed_id = g["prompts"][0]["outputs"]["api:Flaky"]["generation_id"]
        again = comparisons.generate(comp["id"])   # only the failed request is asked again
        assert (again["generated"], again["cached"], again["failed"]) == (1, 8, 0)
    g = comparisons.grid(comp["id"])
    assert g["missing"] == 0 and g["prompts"][0]["outputs"]["api:Flaky"] == {
        "generation_id": failed_id, "output": "好", "finish_reason": "stop", "error": None}
    assert systems.note({"output": "半句", "finish_reason": "length"}) == "cut off: max new tokens reached"
    # a local output: with the inference hook's finish reason it says why, without it still says it is empty
    assert systems.shown({"output": "", "finish_reason": "length"}).startswith("(empty: max new tokens reached")
    assert systems.shown({"output": "", "finish_reason": None}) == "(empty: the model wrote no text)"


def test_a_wrong_key_fails_fast(studio_env):
    pset = prompts.save("多问", "test", [{"prompt": f"问题{i}"} for i in range(40)])
    with loopback() as server:
        server.fail_with = 401
        systems.define(f"Locked=m@{server.url}")
        comp = comparisons.open_comparison(pset["prompt_set"], [], include_base=False, apis=["Locked"])
        with pytest.raises(WorkFailed, match=r"Locked: the endpoint refused the key \(401\)"):
            comparisons.generate(comp["id"])
        assert len(server.requests) <= 8   # what was in flight; nothing retried, nothing more started


# ---------------------------------------------------------------- the judge: parallel, raw, again


def six_systems_comparison(n_prompts=2):
    """A comparison of six systems whose outputs are stored (no model needed)."""
    ids = ["base", "r1", "r2", "r3", "r4", "r5"]
    items = [{"prompt": f"问题{i}", "category": "知识问答"} for i in range(n_prompts)]
    pset = prompts.save("六个系统", "test", items)
    decode = inference.decode_settings("greedy", max_new_tokens=8)
    cid = store.insert_comparison("六个系统", pset["prompt_set"], ids, "tiny", decode, "greedy")
    rows = [{"prompt_key": inference.prompt_key(it["prompt"]), "prompt": it["prompt"], "model_system": s,
             "base_model": "tiny", "decode_key": inference.decode_key(decode, "tiny"), "decode": decode,
             "output": f"{s} 的回答"} for it in items for s in ids]
    with db.transaction() as cur:
        store.insert_generations(rows, cur=cur)
    return cid


def scores(request):
    content = request["messages"][-1]["content"]
    return "\n".join(f"System{i} 分数：{7 if '问题0' in content else 3}；System{i} 解释：理由{i}。"
                     for i in re.findall(r"System(\d+):", content))


def test_dreamergpts_prompt_scores_five_systems_per_request(studio_env):
    body = judge.template("dreamergpt")["body"]
    seed = (DATA / "eval" / "dreamergpt" / "gpt_judge_prompt_from_readme.txt").read_text(encoding="utf-8")
    assert judge.render(body, "xxxx。", ["xxxx。"] * 5) == seed.strip()
    cid = six_systems_comparison()
    with loopback(scores) as server:
        r = judge.judge_comparison(cid, model="gpt-4", base_url=server.url)
    assert r == {"requests": 4, "failed": 0, "scored": 12, "unparsed": 0, "skipped": 0}
    sent = questions_of(server)
    assert sorted(s.count("\nSystem") for s in sent) == [1, 1, 5, 5]
    assert all(s.startswith("以下是五个类似 ChatGPT 的系统的输出") for s in sent if s.count("\nSystem") == 5)


def test_the_judge_sends_requests_in_parallel(studio_env):
    cid = six_systems_comparison(n_prompts=8)
    seen = {"now": 0, "most": 0}
    lock = threading.Lock()

    def slow(request):
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        time.sleep(0.2)
        with lock:
            seen["now"] -= 1
        return scores(request)

    with loopback(slow) as server:
        judge.judge_comparison(cid, model="j", base_url=server.url, concurrency=1)
        assert seen["most"] == 1
        seen["most"] = 0
        judge.judge_comparison(cid, model="j2", base_url=server.url, concurrency=8)
        assert seen["most"] >= 4, seen


def test_raw_verdicts_are_viewable_and_a_prompt_can_be_judged_again(studio_env):
    cid = six_systems_comparison()
    replies = iter(["System1 分数：2；System1 解释：太短。"] + ["我无法评价。"] * 10)
    first_prompt = comparisons.grid(cid)["prompts"][0]["prompt_id"]
    with loopback(scores) as server:
        judge.judge_comparison(cid, model="j", base_url=server.url)
        before = judge.summary(cid)["scores"]
        server.reply = lambda req: next(replies) if "问题0" in req["messages"][-1]["content"] else scores(req)
        r = judge.judge_comparison(cid, model="j", base_url=server.url, again=[first_prompt], concurrency=1)
    assert r["requests"] == 2 and r["skipped"] == 6    # only the first prompt's six outputs were asked again
    found = judge.verdicts(cid, first_prompt)
    assert len(found) == 12 and {v["prompt_id"] for v in found} == {first_prompt}
    newest = found[:6]
    assert sum(v["parsed"] for v in newest) == 1 and any(v["raw"] == "我无法评价。" for v in newest)
    assert "以下是" in judge.request_text(newest[0]["request_id"])
    after = judge.summary(cid)["scores"]
    rejudged = next(v for v in newest if v["parsed"])
    assert before[next(g for g in after if after[g] == 2.0)] == 7.0 and rejudged["score"] == 2.0


# ---------------------------------------------------------------- serving runs on a real engine


def fake_run(studio_env, run_id, base, *, r=8, peft="LORA", trust=False) -> Path:
    adapter = studio_env / "adapters" / run_id
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": peft, "r": r}), encoding="utf-8")
    folder = make_run_folder(studio_env / "runs", run_id, adapter, Path(base))
    if trust:
        cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        (folder / "config.json").write_text(json.dumps({**cfg, "trust_remote_code": True}), encoding="utf-8")
    register_run(run_id, folder, Path(base), "prefix" if peft != "LORA" else "lora")
    return folder


def test_serve_commands_for_vllm_and_llamafactory(studio_env):
    a = fake_run(studio_env, "run-a", "/models/qwen", r=8)
    b = fake_run(studio_env, "run b", "/models/qwen", r=24, trust=True)
    found = serve_commands.commands(["run-a", "run b"], port=8100)
    assert found["vllm"]["command"] == (
        f"vllm serve /models/qwen --served-model-name base --enable-lora --max-loras 2 --max-lora-rank 32 "
        f"--lora-modules run-a={a}/adapter 'run-b={b}/adapter' --trust-remote-code --host 127.0.0.1 --port 8100")
    assert found["vllm"]["apis"] == ["base=base@http://127.0.0.1:8100/v1", "run-a=run-a@http://127.0.0.1:8100/v1",
                                     "run-b=run-b@http://127.0.0.1:8100/v1"]
    first, second = found["llamafactory"]
    assert first["command"] == (f"API_HOST=127.0.0.1 API_PORT=8100 API_MODEL_NAME=run-a llamafactory-cli api "
                                f"--model_name_or_path /models/qwen --adapter_name_or_path {a}/adapter "
                                f"--finetuning_type lora --template default")
    assert second["command"].endswith("--trust_remote_code true") and "API_PORT=8101" in second["command"]
    assert second["api"] == "run-b=run-b@http://127.0.0.1:8101/v1"
    assert all(systems.parse_spec(s) for s in found["vllm"]["apis"][1:])   # each spec is an API system as given
    fake_run(studio_env, "pt", "/models/qwen", peft="PREFIX_TUNING")
    with pytest.raises(InputError, match="run pt is a P-Tuning v2 adapter"):
        serve_commands.commands(["run-a", "pt"])
    fake_run(studio_env, "other", "/models/glm")
    with pytest.raises(InputError, match="different base models"):
        serve_commands.commands(["run-a", "other"])


# ---------------------------------------------------------------- the CLI


def test_cli_compare_and_eval_with_api_systems(studio_env, tmp_path):
    seed_exam()
    fake_run(studio_env, "run-a", "/models/qwen")
    prompt_file = tmp_path / "p.jsonl"
    prompt_file.write_text("".join(json.dumps({"prompt": f"问{i}"}, ensure_ascii=False) + "\n" for i in range(4)),
                           encoding="utf-8")
    db.close_all()   # the CLI process opens the database file
    with loopback(lambda req: "答案：B") as server:
        out = tmp_path / "o.jsonl"
        r = run_cli("compare", "--api", f"ChatGPT=gpt@{server.url}", "--api", f"DeepSeek=ds@{server.url}",
                    "--no-base", "--prompts", str(prompt_file), "--out", str(out), "--json")
        assert r.returncode == 0, r.stderr
        s = json.loads(r.stdout.strip().splitlines()[-1])
        assert (s["systems"], s["system_ids"], s["generated"], s["base_included"]) == (
            2, ["api:ChatGPT", "api:DeepSeek"], 8, False)
        assert {json.loads(line)["system"] for line in out.read_text(encoding="utf-8").splitlines()} == {
            "api:ChatGPT", "api:DeepSeek"}
        r = run_cli("eval", "--api", f"fixed=b@{server.url}", "--dataset", "安规题库", "--json")
        assert r.returncode == 0, r.stderr
        ev = json.loads(r.stdout.strip().splitlines()[-1])
        assert (ev["run"], ev["accuracy"], ev["n"]) == ("api:fixed", 0.4, 5)
    r = run_cli("compare", "--serve-command", "--runs", "run-a", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["vllm"].startswith("vllm serve /models/qwen --served-model-name base --enable-lora")
    assert s["llamafactory_apis"] == ["run-a=run-a@http://127.0.0.1:8000/v1"]
    r = run_cli("compare", "--api", "nope", "--prompts", str(prompt_file), "--out", str(tmp_path / "x.jsonl"))
    assert r.returncode == 2 and "LABEL=MODEL@BASE_URL" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(NotFound):
        systems.get("nope")


# ---------------------------------------------------------------- pages


@pytest.fixture
def supervisor_stopped(studio_env):
    yield
    from studio.service import supervisor

    supervisor.stop()


def open_page(page="pages/compare.py"):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_compare_page_adds_an_api_system_generates_and_moves_on_after_a_vote(studio_env, supervisor_stopped):
    prompts.save("两问", "test", [{"prompt": "问题0", "category": "安规"}, {"prompt": "问题1", "category": "安规"}])
    with loopback(lambda req: "" if req["messages"][-1]["content"] == "问题0" else "甲的回答") as s1, \
            loopback(lambda req: "乙的回答") as s2, loopback(lambda req: "丙的回答") as s3:
        at = open_page()
        for label, server in (("甲", s1), ("乙", s2), ("丙", s3)):
            at.text_input(key="compare_api_label").input(label)
            at.text_input(key="compare_api_model").input("m")
            at.text_input(key="compare_api_url").input(server.url)
            next(b for b in at.button if b.label == "Save API system").click().run()
            assert not at.exception and not at.error, [e.value for e in at.error]
            # offered at once in the box above the form, and the page says so
            assert any(o.startswith(f"{label} · ") for o in at.multiselect(key="compare_apis").options)
            assert f"Saved {label}: choose it under API systems" in [m.value for m in at.success]
        at.checkbox(key="compare_with_base").uncheck()
        at.multiselect(key="compare_apis").set_value(["甲", "乙", "丙"]).run()
        at.button(key="compare_open").click().run()
        at.button(key="compare_generate").click().run()
        assert jobs.wait(at.session_state["compare_job"], timeout=120)["state"] == "done"
        at.run()
    shown = [t.value for t in at.text]
    assert "(empty: the model ended its answer at once, end-of-sequence came first)" in shown and "乙的回答" in shown
    at.text_input(key="compare_rater").input("张三").run()
    at.radio(key="compare_mode").set_value("Arena").run()
    [comp] = comparisons.list_all()
    duels = ratings.arena_prompts(comp["id"])
    before = ratings.arena_at(comp["id"], 0, duels)
    at.button(key="compare_vote_a").click().run()
    assert not at.exception, at.exception
    assert any(s.value.startswith("Your vote: a") and "Next pair" in s.value for s in at.success)
    assert at.session_state["compare_arena_i"] == 1 and ratings.arena_at(comp["id"], 1, duels) != before
    voted = {frozenset(v) for v in ratings.my_votes(comp["id"], "张三")}
    assert len(voted) == 1
    # every pair voted but one: the next vote jumps to it
    assert ratings.next_duel(comp["id"], "张三", 0, duels) == 1


def test_pages_in_chinese_offer_api_systems_serving_and_verdicts(studio_env, monkeypatch):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    fake_run(studio_env, "run-a", "/models/qwen")
    cid = six_systems_comparison()
    systems.define("ChatGPT=gpt-4o-mini@https://api.openai.com/v1")
    with loopback(scores) as server:
        judge.judge_comparison(cid, model="gpt-4", base_url=server.url)
    at = open_page()
    assert {"API 系统"} <= {m.label for m in at.multiselect}
    assert {"添加 API 系统", "在 vLLM 或 LLaMA-Factory 上部署所选训练任务"} <= {e.label for e in at.expander}
    assert "保存 API 系统" in {b.label for b in at.button}
    at.multiselect(key="compare_runs").set_value(["run-a"]).run()
    assert any(c.value.startswith("vllm serve /models/qwen") for c in at.get("code"))
    results = open_page("pages/results.py")
    assert "重新评判此提示词" in {b.label for b in results.button}
    assert "原始评语与重新评判" in {e.label for e in results.expander}
