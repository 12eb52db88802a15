"""Compare generation, exam evaluation and judging run as jobs: the pages start them and follow them.

Each page test holds the job after its first unit (a gate), so the page is seen mid-way: its progress
comes from the job row; a new AppTest (the page closed, a reload, a second user) finds the running job by
its arguments; released, the job finishes by itself and the page shows the result from the database.
"""
import re
import threading
import time

import pytest
from streamlit.testing.v1 import AppTest

from store import compare as store
from store import db
from studio.evaluate import comparisons, exam_accuracy, judge
from studio.evaluate import prompt_sets as prompts
from studio.service import jobs, kinds_evaluate
from testkit.fake_openai import FakeOpenAI
from tests.compare_helpers import PAIRS_A
from tests.conftest import ROOT
from tests.test_exam_eval import seed_exam
from tests.test_ratings import fake_comparison

THROTTLE_S = 0.6   # a job records progress at most every 0.5 s: a held unit waits past that first


def open_page(page, secrets=None):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for k, v in (secrets or {}).items():
        at.secrets[k] = v
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def bars(at):
    return [p.proto.text for p in at.get("progress")]


def until(check, timeout=60.0, what="the job"):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} never got there"
        time.sleep(0.05)


def held(real, gate, after=1):
    """``real`` (a function taking ``progress``) run one unit per batch and held after ``after`` units."""
    def run(*args, progress=None, **kwargs):
        def report(done, total, label):
            if done:
                time.sleep(THROTTLE_S)
            progress(done, total, label)
            if done == after:
                gate.wait(60)
        return real(*args, progress=report, batch_size=1, **kwargs)
    return run


@pytest.fixture(autouse=True)
def supervisor_stopped(studio_env):
    """Stop the job runner this test started before the database closes (its tick would race the close)."""
    yield
    from studio.service import supervisor

    supervisor.stop()


@pytest.fixture
def gate():
    g = threading.Event()
    yield g
    g.set()   # never leave a worker thread waiting


@pytest.mark.slow
def test_compare_generation_runs_as_a_job_the_page_follows(demo_model, monkeypatch, gate):
    pset = prompts.save("安规四问", "test", [{"prompt": q} for q, _ in PAIRS_A])
    comp = comparisons.open_comparison(pset["prompt_set"], [], base_model=str(demo_model), max_new_tokens=4)
    monkeypatch.setattr(comparisons, "generate", held(comparisons.generate, gate))
    at = open_page("pages/compare.py")
    at.button(key="compare_generate").click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["compare_job"]
    assert jobs.get(job_id)["kind"] == "compare" and jobs.get(job_id)["args"] == {"comparison": comp["id"]}
    until(lambda: jobs.get(job_id)["done"] == 1)
    at.run()
    assert any("Generating: 1 / 4 outputs" in t for t in bars(at)), bars(at)
    assert not any(b.key == "compare_generate" for b in at.button)   # no second start while it runs

    del at   # the page closes; a reload (or a second user) sees the running job
    again = open_page("pages/compare.py")
    assert any("Generating: 1 / 4 outputs" in t for t in bars(again)), bars(again)
    assert jobs.get(job_id)["state"] == "running"
    gate.set()
    done = jobs.wait(job_id, timeout=120)
    assert done["state"] == "done" and done["message"] == "Generated 4 outputs (0 from the cache)"
    again.run()
    assert not again.exception and not again.warning, [w.value for w in again.warning]
    assert comparisons.grid(comp["id"])["missing"] == 0
    assert not any("Generating" in t for t in bars(again))
    assert {q for q, _ in PAIRS_A} <= {t.value for t in again.text}   # the grid, read from the database


@pytest.mark.slow
def test_a_cancelled_compare_job_keeps_its_outputs_and_a_retry_does_only_the_rest(demo_model, monkeypatch, gate):
    pset = prompts.save("安规四问", "test", [{"prompt": q} for q, _ in PAIRS_A])
    comp = comparisons.open_comparison(pset["prompt_set"], [], base_model=str(demo_model), max_new_tokens=4)
    monkeypatch.setattr(comparisons, "generate", held(comparisons.generate, gate, after=2))
    job = kinds_evaluate.start_compare(comp["id"])
    assert kinds_evaluate.start_compare(comp["id"])["id"] == job["id"]   # a second click finds the same job
    until(lambda: jobs.get(job["id"])["done"] == 2)
    jobs.cancel(job["id"])
    until(lambda: job["id"] not in jobs.running or jobs.running[job["id"]].stop.is_set(), what="the cancel")
    gate.set()
    assert jobs.wait(job["id"], timeout=60)["state"] == "cancelled"
    assert store.count_generations() == 2   # stopped after the unit in flight; what was made is kept
    jobs.retry(job["id"])
    again = jobs.wait(job["id"], timeout=120)
    assert again["state"] == "done" and again["result"]["generated"] == 2 and again["result"]["cached"] == 2
    assert store.count_generations() == 4   # nothing twice
    assert kinds_evaluate.current("compare", job["id"], comparison=comp["id"])["id"] == job["id"]
    assert kinds_evaluate.current("compare", job["id"], comparison=comp["id"] + 1) is None
    assert all(jobs.KINDS[k].resumes({}) for k in ("compare", "eval", "judge"))
    assert [jobs.KINDS[k].slot_for({}) for k in ("compare", "eval", "judge")] == ["model", "model", "io"]


@pytest.mark.slow
def test_exam_evaluation_runs_as_a_job_the_page_follows(demo_model, monkeypatch, gate):
    seed_exam()
    monkeypatch.setattr(exam_accuracy, "evaluate", held(exam_accuracy.evaluate, gate))
    at = open_page("pages/results.py")
    at.text_input(key="results_exam_base").set_value(str(demo_model))
    [b for b in at.button if b.label == "Evaluate"][0].click().run()
    assert not at.exception, at.exception
    job_id = at.session_state["results_exam_job"]
    assert jobs.get(job_id)["args"]["base_model"] == str(demo_model)
    until(lambda: jobs.get(job_id)["done"] == 1)
    at.run()
    assert any("Answering the exam: 1 / 5 answers" in t for t in bars(at)), bars(at)

    del at
    again = open_page("pages/results.py")
    assert any("Answering the exam: 1 / 5 answers" in t for t in bars(again)), bars(again)
    assert exam_accuracy.history() == []   # nothing is scored before every answer is in
    gate.set()
    done = jobs.wait(job_id, timeout=120)
    assert done["state"] == "done" and re.fullmatch(r"Accuracy \d+\.\d% on 5 questions", done["message"])
    again.run()
    assert not again.exception, again.exception
    assert any(s.value == "Latest: base model on 安规题库" for s in again.subheader)
    assert [h["model_system"] for h in exam_accuracy.history()] == ["base"]


def scored(request):
    content = request["messages"][-1]["content"]
    systems = re.findall(r"System(\d+):", content)
    return "\n".join(f"System{i} 分数：6；System{i} 解释：可以。" for i in systems)


def test_judging_runs_as_a_job_with_the_pages_key_in_memory_only(studio_env, gate):
    fake_comparison(n_prompts=4)
    calls = []

    def reply(request):
        calls.append(1)
        time.sleep(THROTTLE_S)
        if len(calls) == 2:
            gate.wait(60)   # the second request is held: the job is mid-way
        return scored(request)

    with FakeOpenAI(reply=reply) as server:
        at = open_page("pages/results.py", secrets={"OPENAI_API_KEY": "sk-from-secrets-42"})
        at.text_input(key="results_judge_model").input("fake-judge")
        at.text_input(key="results_judge_url").input(server.url)
        at.number_input(key="results_judge_flight").set_value(1)   # one request at a time: the gate holds the 2nd
        [b for b in at.button if b.label == "Judge the outputs"][0].click().run()
        assert not at.exception, at.exception
        job_id = at.session_state["results_judge_job"]
        until(lambda: jobs.get(job_id)["done"] == 1)
        at.run()
        assert any("Judging: 1 / 4 requests" in t for t in bars(at)), bars(at)

        del at
        again = open_page("pages/results.py")   # no secrets here: the job already has its key
        assert any("Judging: 1 / 4 requests" in t for t in bars(again)), bars(again)
        gate.set()
        done = jobs.wait(job_id, timeout=60)
        assert done["state"] == "done", done["message"]
        assert done["message"] == "12 scored, 0 unparsed, 0 failed requests"
        again.run()
        assert not again.exception, again.exception
        assert {m.label: m.value for m in again.metric}["Scored outputs"] == "12"
        sent = {next(v for k, v in h.items() if k.lower() == "authorization") for h in server.headers}
        assert sent == {"Bearer sk-from-secrets-42"}
    dump = db.rows("SELECT string_agg(CAST(j AS VARCHAR), ' ') AS t FROM jobs j")[0]["t"]
    assert "sk-from-secrets-42" not in dump


def test_a_failed_judge_job_shows_its_message(studio_env):
    fake_comparison(n_prompts=2)
    with FakeOpenAI() as server:
        server.fail_with = 500
        at = open_page("pages/results.py")
        at.text_input(key="results_judge_model").input("fake-judge")
        at.text_input(key="results_judge_url").input(server.url)
        [b for b in at.button if b.label == "Judge the outputs"][0].click().run()
        assert jobs.wait(at.session_state["results_judge_job"], timeout=120)["state"] == "failed"
        at.run()
    assert any("every judge request failed (2)" in e.value for e in at.error), [e.value for e in at.error]


def test_a_resumed_judge_asks_nothing_twice(studio_env):
    cid, _ = fake_comparison(n_prompts=2)
    with FakeOpenAI(reply=lambda req: "无法评价") as server:
        started = db.scalar("SELECT current_timestamp::TIMESTAMP")
        first = judge.judge_comparison(cid, model="j", base_url=server.url, max_retries=0)
        assert first["requests"] == 2 and first["unparsed"] == 6
        # resumed (the same job, its first start): the unparsed verdicts it already got are not asked again
        assert judge.judge_comparison(cid, model="j", base_url=server.url, since=started)["requests"] == 0
        # a new judging asks them again
        assert judge.judge_comparison(cid, model="j", base_url=server.url)["requests"] == 2
