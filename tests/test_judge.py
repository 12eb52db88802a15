"""GPT-as-judge against a loopback OpenAI server: the DreamerGPT prompt, parsed scores, unparsed verdicts."""
import re

import pytest

from store import compare as store
from store import db
from studio.core.errors import InputError, WorkFailed
from studio.evaluate import judge, ratings
from testkit.fake_openai import FakeOpenAI
from tests.test_ratings import fake_comparison


@pytest.mark.parametrize("text, count, expected", [
    ("System1 分数：8；System1 解释：准确。\nSystem2 分数：6；System2 解释：不全。", 2, [8, 6]),
    ("System1：9分；解释：好。System2：3/10；解释：差。System3 7.5；一般。", 3, [9, 3, 7.5]),
    ("System1 8；System1 解释：回答了3个要点。\nSystem2 解释：没有分数", 2, [8, None]),
    ("System 1: 得分 7\nSystem 2: 得分 12", 2, [7, None]),          # out of the 10-point scale: unparsed
    ("我无法对这些回答打分。", 2, [None, None]),
    ("ＳＹＳＴＥＭ１ 分数：５", 1, [5]),                              # full-width forms
])
def test_parse_verdict(text, count, expected):
    got = judge.parse_verdict(text, count)
    assert [v["score"] for v in got] == expected
    assert [v["parsed"] for v in got] == [e is not None for e in expected]


def test_explanations_are_kept():
    got = judge.parse_verdict("System1 分数：8；System1 解释：准确而完整。", 1)
    assert got[0]["explanation"] == "准确而完整。"


def test_the_dreamergpt_template_is_stored_and_rendered(studio_env):
    t = judge.template("dreamergpt")
    assert t["builtin"] and t["body"]["scale"] == 10
    text = judge.render(t["body"], "天空为什么是蓝的", ["瑞利散射。", "不知道。"])
    assert text.startswith("以下是二个类似 ChatGPT 的系统的输出。请以 10 分制为每一项打分")
    assert "输出结果格式为：System 分数；System 解释。\nPrompt:天空为什么是蓝的\n答案：\nSystem1:瑞利散射。\nSystem2:不知道。" in text
    judge.save_template("单项", "请给回答打分（0-10），格式：分数；解释。\n问题：{prompt}\n回答：{answer}")
    assert [x["name"] for x in judge.templates()] == ["dreamergpt", "单项"]
    with pytest.raises(InputError, match="needs"):
        judge.save_template("坏", "没有占位符")


def verdict(request):
    """The fake judge: scores by answer length, except prompts with 问题1, which get no verdict."""
    content = request["messages"][-1]["content"]
    if "Prompt:问题1" in content:
        return "抱歉，我无法评价。"
    answers = re.findall(r"System(\d+):(.*)", content)
    return "\n".join(f"System{i} 分数：{min(10, len(a) // 2)}；System{i} 解释：长度 {len(a)}。" for i, a in answers)


def test_judge_a_comparison_through_the_loopback_server(studio_env, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    cid, grid = fake_comparison(n_prompts=4)
    for p in grid["prompts"]:   # human ratings for agreement
        for sid, score in {"base": 2, "run-x": 3, "run-y": 4}.items():
            ratings.rate(p["outputs"][sid]["generation_id"], "甲", score)
    with FakeOpenAI(reply=verdict) as server:
        server.faults.append(500)   # one transient failure, retried by the client
        r = judge.judge_comparison(cid, model="gpt-judge", base_url=server.url, max_retries=1)
        assert r == {"requests": 4, "failed": 0, "scored": 9, "unparsed": 3, "skipped": 0}
        assert len(server.requests) == 5
        sent = server.requests[-1]["messages"][0]["content"]
        assert sent.startswith("以下是三个类似 ChatGPT 的系统的输出") and sent.count("System") == 5
        # only what has no parsed score is asked again
        r2 = judge.judge_comparison(cid, model="gpt-judge", base_url=server.url, max_retries=0)
        assert r2["requests"] == 1 and r2["skipped"] == 9
    gen_ids = [o["generation_id"] for p in grid["prompts"] for o in p["outputs"].values()]
    rows = store.judge_scores_for(gen_ids)
    unparsed = [s for s in rows if not s["parsed"]]
    assert len(unparsed) == 6 and all(s["score"] is None and "无法评价" in s["raw"] for s in unparsed)
    parsed = [s for s in rows if s["parsed"]]
    assert len(parsed) == 9 and all(0 <= s["score"] <= 10 and s["explanation"].startswith("长度") for s in parsed)
    reqs = db.rows("SELECT * FROM llm_requests WHERE purpose = 'judge' ORDER BY id")
    assert [q["status"] for q in reqs].count("unparsed") == 2 and len(reqs) == 5
    assert all(q["model"] == "gpt-judge" and q["duration_ms"] is not None for q in reqs)
    # the key never lands in the database
    dump = db.rows("SELECT string_agg(CAST(r AS VARCHAR), ' ') AS t FROM llm_requests r")[0]["t"]
    assert "sk-test-secret-123" not in dump
    s = judge.summary(cid)
    assert s["scored"] == 9 and s["unparsed"] == 3
    by = {x["system"]: x for x in s["systems"]}
    assert by["run-y"]["n"] == 3
    # outputs "run-y 回答 问题N" are longer than "base 回答 问题N": judge and raters agree on the order
    assert s["agreement"]["n"] == 9 and s["agreement"]["spearman"] > 0.5
    assert s["table"]["rows"][-1]["category"] == "overall"


def test_every_request_failing_is_a_failed_work(studio_env):
    cid, _ = fake_comparison(n_prompts=2)
    with FakeOpenAI() as server:
        server.faults.extend([500] * 10)
        with pytest.raises(WorkFailed, match="every judge request failed") as err:
            judge.judge_comparison(cid, model="gpt-judge", base_url=server.url, max_retries=0)
    assert err.value.summary["failed"] == 2
    assert db.scalar("SELECT count(*) FROM judge_scores") == 0
    assert db.scalar("SELECT count(*) FROM llm_requests WHERE status = 'failed' AND error LIKE '%500%'") == 2
