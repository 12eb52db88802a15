"""Generation against a real loopback OpenAI-compatible server: faults, resume, budget, key never stored."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from store import db
from studio.core.errors import InputError, WorkFailed
from studio.data.corpus import import_corpus
from studio.generate import Options, run
from studio.generate.cloze import cloze_pairs
from studio.generate.exam_items import exam_question
from studio.generate.parse import ParseError, parse_json
from testkit.canned import reply
from testkit.fake_openai import FakeOpenAI
from tests.conftest import DATA, ROOT

LAWS = DATA / "corpus" / "laws"
KEY = "sk-studio-TEST-7f3a9c1e5b2d4a6f"
FAST = dict(timeout=1.0, retries=2, backoff_s=0.01, client_retries=0)


@pytest.fixture
def laws():
    import_corpus([LAWS / "power_facilities_protection_regulations_2011.txt"], "条例")  # 32 passages
    return "条例"


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(reply=reply, timeout_s=2.0) as s:
        yield s


def outcome_table(into: str) -> dict:
    rows = db.rows("""SELECT p.id, bp.status, bp.samples, count(DISTINCT bp.batch_id) AS marks
                      FROM passages p LEFT JOIN batch_passages bp ON bp.passage_id = p.id
                      LEFT JOIN generation_batches b ON b.id = bp.batch_id
                      LEFT JOIN datasets d ON d.id = b.into_dataset_id
                      WHERE d.name = ? OR bp.passage_id IS NULL GROUP BY ALL""", [into])
    return {r["id"]: r for r in rows}


@pytest.mark.parametrize("text,answers", [
    ("人员与10千伏带电设备的安全距离不得小于0.7米。", ["10千伏", "0.7米"]),
    ("本法所称电网，是指电力生产、输送的系统。", ["电网"]),
    ("依据《电力设施保护条例》制定本规程。", ["《电力设施保护条例》"]),
    ("应当填用“工作票”。", ["工作票"]),
    ("本法自1996年4月1日起施行。", ["1996年4月1日"]),
    ("因事故给用户或者第三人造成损害的，应当赔偿。", []),
])
def test_cloze_terms(text, answers):
    pairs = cloze_pairs(text)
    assert [p["output"] for p in pairs] == answers
    for p in pairs:
        assert "___" in p["instruction"] and p["instruction"].replace("___", p["output"], 1) in text


@pytest.mark.parametrize("text,expected", [
    ('{"questions": ["a"]}', {"questions": ["a"]}),
    ('好的，结果如下：\n```json\n{"questions": ["a", "b",]}\n```', {"questions": ["a", "b"]}),
    ('前言 [{"q": "x"}] 后记', [{"q": "x"}]),
    ('{“questions”: [“甲”]}', {"questions": ["甲"]}),
])
def test_parse_json_robustly(text, expected):
    assert parse_json(text) == expected


@pytest.mark.parametrize("text", ["", "没有 JSON", '{"questions": [ {"q": "unterminated'])
def test_unparseable_reply(text):
    with pytest.raises(ParseError):
        parse_json(text)


def test_exam_question_normalised():
    q = exam_question({"type": "单选题", "question": "应穿", "options": ["A. 雨鞋", "B. 绝缘靴"], "answer": "B"})
    assert q["qtype"] == "single" and q["answer_labels"] == ["B"] and q["answer_text"] == "绝缘靴"
    q = exam_question({"type": "multi", "question": "q", "options": {"A": "x", "B": "y", "C": "z"}, "answer": ["C", "A"]})
    assert q["answer_labels"] == ["A", "C"] and q["answer_text"] == "x; z"
    assert exam_question({"type": "judge", "question": "q", "answer": "对"})["answer_text"] == "正确"
    with pytest.raises(ValueError):
        exam_question({"type": "single", "question": "q", "options": {"A": "x", "B": "y"}, "answer": "E"})


def test_qa_with_faults_every_passage_ends_once(laws, server):
    server.faults.extend([429, 500, "timeout", "malformed", 503])
    summary = run(laws, "条例-qa", "qa", model="fake-model", base_url=server.url,
                  options=Options(concurrency=4, price_in=1.0, price_out=2.0, **FAST))
    assert summary["state"] == "done" and summary["remaining"] == 0
    assert summary["passages"] == 32 and summary["failed"] == 1  # the malformed reply
    table = outcome_table("条例-qa")
    assert len(table) == 32 and all(r["marks"] == 1 for r in table.values())
    failed = [r for r in table.values() if r["status"] != "ok"]
    assert [r["status"] for r in failed] == ["unparsed"]
    # the unparseable reply is kept with its raw text
    raw = db.one("SELECT response, error FROM llm_requests WHERE status = 'unparsed'")
    assert raw["response"].startswith('{"questions": [ {"q": "unterminated')
    # every ok passage has its two samples (two questions answered), each linked to passage and request
    samples = db.rows("SELECT s.passage_id, s.request_id, r.step, r.passage_id AS rp FROM samples s "
                      "JOIN llm_requests r ON r.id = s.request_id")
    assert len(samples) == summary["samples"] == 31 * 2
    assert all(s["step"] == "answers" and s["rp"] == s["passage_id"] for s in samples)
    # retried attempts are logged too; tokens and cost come from usage
    assert db.scalar("SELECT count(*) FROM llm_requests WHERE status = 'failed'") == 4
    assert summary["requests"] == db.scalar("SELECT count(*) FROM llm_requests") == 31 * 2 + 1 + 4
    logged = db.one("SELECT * FROM llm_requests WHERE status = 'ok' LIMIT 1")
    assert logged["prompt_tokens"] > 0 and logged["duration_ms"] >= 0 and logged["model"] == "fake-model"
    assert json.loads(logged["prompt"])[0]["role"] == "system"
    assert summary["tokens"] > 0 and summary["cost"] > 0
    # a rerun generates nothing twice; --retry-failed redoes only the failed passage
    again = run(laws, "条例-qa", "qa", model="fake-model", base_url=server.url, options=Options(**FAST))
    assert again["passages"] == 0
    retried = run(laws, "条例-qa", "qa", model="fake-model", base_url=server.url,
                  options=Options(retry_failed=True, **FAST))
    assert retried["passages"] == 1 and retried["failed"] == 0
    assert db.scalar("SELECT count(*) FROM samples") == 64
    assert db.scalar("SELECT count(DISTINCT (passage_id, instruction)) FROM samples") == 64


def test_exam_strategy_writes_an_exam_bank(laws, server):
    summary = run(laws, "条例-题库", "exam", model="fake-model", base_url=server.url,
                  options=Options(concurrency=3, limit=5, **FAST))
    assert summary["passages"] == 5 and summary["samples"] == 10 and summary["remaining"] == 27
    rows = db.rows("SELECT q.*, d.kind FROM exam_questions q JOIN datasets d ON d.id = q.dataset_id")
    assert {r["qtype"] for r in rows} == {"single", "judge"} and {r["kind"] for r in rows} == {"exam"}
    assert all(r["passage_id"] and r["request_id"] for r in rows)
    single = next(r for r in rows if r["qtype"] == "single")
    assert single["answer_labels"] == ["B"] and len(json.loads(single["options"])) == 4


def test_self_instruct_uses_accepted_samples(laws, server):
    with pytest.raises(InputError, match="accepted samples"):
        run(laws, "条例-si", "self-instruct", model="m", base_url=server.url, options=Options(**FAST))
    run(laws, "条例-cloze", "cloze")
    db.cursor().execute("UPDATE samples SET status = 'accepted'")
    summary = run(laws, "条例-si", "self-instruct", model="m", base_url=server.url, seed_dataset="条例-cloze",
                  options=Options(limit=3, **FAST))
    assert summary["passages"] == 3 and summary["samples"] == 3
    prompt = server.requests[-1]["messages"][-1]["content"]
    accepted = db.scalar("SELECT output FROM samples WHERE status = 'accepted' ORDER BY id LIMIT 1")
    assert "已经审核通过的示例" in prompt and '"output"' in prompt
    assert db.scalar("SELECT count(*) FROM samples s JOIN datasets d ON d.id = s.dataset_id "
                     "WHERE d.name = '条例-si' AND s.request_id IS NOT NULL") == 3
    assert accepted


def test_budget_stops_and_a_rerun_resumes(laws, server):
    first = run(laws, "条例-qa", "qa", model="m", base_url=server.url,
                options=Options(concurrency=1, budget_tokens=3000, **FAST))
    assert first["state"] == "stopped" and "budget" in first["error"]
    assert 0 < first["passages"] < 32
    rest = run(laws, "条例-qa", "qa", model="m", base_url=server.url, options=Options(concurrency=4, **FAST))
    assert rest["batch"] == first["batch"] and rest["state"] == "done"
    assert first["passages"] + rest["passages"] == 32
    assert db.scalar("SELECT count(*) FROM batch_passages") == 32


def test_a_bad_key_stops_the_batch_and_loses_nothing(laws, server):
    server.faults.extend([401] * 3)
    with pytest.raises(WorkFailed) as err:
        run(laws, "条例-qa", "qa", model="m", base_url=server.url, options=Options(concurrency=2, **FAST))
    assert err.value.summary["state"] == "failed" and "401" in err.value.summary["error"]
    assert db.scalar("SELECT count(*) FROM batch_passages") == 0  # nothing marked done: all still to do
    server.faults.clear()
    summary = run(laws, "条例-qa", "qa", model="m", base_url=server.url, options=Options(concurrency=4, **FAST))
    assert summary["passages"] == 32 and summary["state"] == "done"


def test_rpm_limits_request_starts(laws, server):
    started = time.monotonic()
    run(laws, "条例-qa", "qa", model="m", base_url=server.url, options=Options(concurrency=4, rpm=600, limit=3, **FAST))
    assert time.monotonic() - started >= 0.5  # 6 requests 0.1 s apart


def _wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_killed_cli_run_resumes_without_loss_or_repeat(studio_env, monkeypatch):
    """SIGKILL `python -m studio generate` mid-batch, rerun it, check every passage once; the key is
    nowhere in the database file, the logs or an export."""
    import_corpus([LAWS / "power_facilities_protection_regulations_2011.txt"], "条例")
    db.close_all()  # the CLI process must hold the database
    env = {**os.environ, "OPENAI_API_KEY": KEY, "STUDIO_DB": str(studio_env / "studio.duckdb")}
    cmd = [sys.executable, "-m", "studio", "generate", "--dataset", "条例", "--into", "条例-qa", "--model", "m",
           "--concurrency", "2", "--timeout", "2", "--retries", "1", "--backoff", "0.01", "--json"]
    with FakeOpenAI(reply=reply, latency_s=0.15) as server:
        proc = subprocess.Popen(cmd + ["--base-url", server.url], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert _wait_for(lambda: len(server.requests) >= 24), "the run never got going"
        proc.send_signal(signal.SIGKILL)
        out1, err1 = proc.communicate(timeout=30)
        first_requests = len(server.requests)
        server.faults.extend([500, "malformed"])
        done = subprocess.run(cmd + ["--base-url", server.url], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["state"] == "done" and summary["remaining"] == 0 and summary["failed"] == 1
    assert 0 < summary["passages"] < 32  # the killed run had committed some passages
    assert first_requests >= 24
    finished = db.rows("SELECT passage_id, count(*) AS n FROM batch_passages GROUP BY passage_id")
    assert len(finished) == 32 and all(r["n"] == 1 for r in finished)
    per_passage = db.rows("SELECT passage_id, count(DISTINCT request_id) AS requests, count(*) AS n "
                          "FROM samples GROUP BY passage_id")
    assert len(per_passage) == 31 and all(r["requests"] == 1 and r["n"] == 2 for r in per_passage)
    # every sample's request is logged with its passage
    assert db.scalar("SELECT count(*) FROM samples s LEFT JOIN llm_requests r ON r.id = s.request_id "
                     "WHERE r.id IS NULL OR r.passage_id <> s.passage_id") == 0
    # an export of what was generated (a plain JSON dump made with the store's rows)
    out = studio_env / "export.jsonl"
    out.write_text("\n".join(json.dumps(r, ensure_ascii=False, default=str) for r in db.rows(
        "SELECT * FROM llm_requests")), encoding="utf-8")
    from studio.data.export import export

    written = export(format="alpaca", out="keycheck", dataset="条例-qa")
    exported = b"".join(p.read_bytes() for p in (studio_env / "exports" / "keycheck").rglob("*") if p.is_file())
    assert written["train"] == 62 and "条例" in exported.decode("utf-8")
    db.close_all()
    for blob in [(studio_env / "studio.duckdb").read_bytes(), out.read_bytes(), exported,
                 (out1 + err1 + done.stdout + done.stderr).encode()]:
        assert KEY.encode() not in blob
    assert db.scalar("SELECT count(*) FROM generation_batches") == 1


def test_self_instruct_page_takes_examples_from_a_dataset_with_accepted_samples(laws, server):
    """The page had no way to name the examples' dataset: self-instruct always failed into a new dataset."""
    from streamlit.testing.v1 import AppTest

    from studio.service import batches as background

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/generate.py").run()
    at.radio(key="gen_strategy").set_value("self-instruct").run()
    assert not at.exception, at.exception
    assert any("accept some on the Review page" in w.value for w in at.warning)
    run(laws, "条例-cloze", "cloze")
    db.cursor().execute("UPDATE samples SET status = 'accepted'")
    at.run()
    assert at.selectbox(key="gen_seed_dataset").value == "条例-cloze"
    at.text_input(key="gen_model").set_value("m")
    at.text_input(key="gen_base_url").set_value(server.url)
    at.number_input(key="gen_limit").set_value(2)
    at.button(key="gen_start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    state = background.wait(("条例", "条例-self-instruct", "self-instruct"), timeout=60)
    assert state["error"] is None
    assert db.scalar("SELECT count(*) FROM samples s JOIN datasets d ON d.id = s.dataset_id "
                     "WHERE d.name = '条例-self-instruct'") == 2
    # the batches table reads in words and its tokens and costs are plotted per batch
    at.run()
    table = next(df.value for df in at.dataframe if "Estimated cost" in df.value.columns)
    assert {"State", "Passages done", "Tokens"} <= set(table.columns) and "display_state" not in table.columns
    charts = at.get("plotly_chart")
    assert charts and "Tokens (prompt + completion)" in charts[0].proto.spec


def test_the_logs_are_read_when_opened_and_show_the_batchs_requests(laws, server):
    """The Generate page reads the failures and the request log only while their section is open."""
    from streamlit.testing.v1 import AppTest

    server.faults.extend(["malformed"])
    run(laws, "条例-qa", "qa", model="fake-model", base_url=server.url, options=Options(limit=2, **FAST))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/generate.py").run()
    assert not at.exception, at.exception
    assert [e.label for e in at.expander][-2:] == ["Failures", "Request log (model, options, prompt, response, "
                                                               "tokens, duration)"]
    assert not any(len(d.value) for d in at.dataframe[1:])   # closed: only the batches table is drawn
    at.session_state["gen_failures_open"] = True   # the person opens both
    at.session_state["gen_log_open"] = True
    at.run()
    assert not at.exception, at.exception
    failures, log = at.dataframe[-2].value, at.dataframe[-1].value
    assert list(failures["status"]) == ["unreadable reply"]   # the malformed reply, in words
    assert len(log) == db.scalar("SELECT count(*) FROM llm_requests") and set(log["model"]) == {"fake-model"}
