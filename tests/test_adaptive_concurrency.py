"""Adaptive concurrency: against a loopback endpoint that answers 429 above 6 requests at once, a batch backs
off, grows back, settles near 6, honours Retry-After, and loses or repeats nothing (requests, answers and
stored rows counted). The limit's rules on their own; a fixed concurrency; an endpoint that refuses
everything still pauses; the page shows the concurrency (English and Chinese)."""
from __future__ import annotations

import statistics
import threading

import pytest
from streamlit.testing.v1 import AppTest

from store import db
from studio.core.errors import WorkFailed
from studio.data.corpus import import_corpus
from studio.generate import Options, run
from studio.generate.concurrency import PROBE, Concurrency
from studio.generate.runner import AUTO_CONCURRENCY, concurrency_value
from testkit.canned import reply
from testkit.fake_openai import FakeOpenAI
from tests.conftest import ROOT

CAP = 6


@pytest.fixture
def rules(tmp_path):
    """A corpus of 150 short passages (one request each with the exam strategy)."""
    text = "## 第一章 总则\n\n" + "\n\n".join(
        f"第{i}条 作业人员与{i % 35 + 1}千伏带电设备的安全距离不得小于{0.5 + i % 7 / 10:.1f}米。" for i in range(1, 151))
    (tmp_path / "rules.md").write_text(text, encoding="utf-8")
    import_corpus([tmp_path / "rules.md"], "规程")
    return "规程"


def _answered(c: Concurrency, n: int) -> None:
    """``n`` requests sent at the current limit, all answered."""
    for _i in range(n):
        c.release(c.acquire(), "ok")


def _refused(c: Concurrency) -> None:
    c.release(c.acquire(), "limited")


# --- the limit's rules ----------------------------------------------------------------------------------

def test_the_limit_starts_at_4_and_doubles_per_clean_window_up_to_the_users_most():
    c = Concurrency(20)
    assert c.now == 4
    _answered(c, 4)
    assert c.now == 8
    _answered(c, 8)
    assert c.now == 16
    _answered(c, 16)
    assert c.now == 20 and c.peak == 20  # never above the user's concurrency
    _answered(c, 40)
    assert c.now == 20
    assert Concurrency(2).now == 2 and Concurrency(64, adaptive=False).now == 64


def test_a_429_steps_back_and_the_limit_finds_the_endpoints_ceiling():
    c = Concurrency(64)
    _answered(c, 4)                 # 4 ran clean: try 8
    _refused(c)                     # 8 is too many: back to 4, the last clean level
    assert c.now == 4
    _answered(c, 4)                 # halfway to the refused level
    assert c.now == 6
    _answered(c, 6)
    assert c.now == 7
    _refused(c)
    assert c.now == 6               # one below the refused level: stay there a while
    for _window in range(PROBE - 1):
        _answered(c, 6)
        assert c.now == 6
    _answered(c, 6)
    assert c.now == 7               # then try again
    _refused(c)
    for _window in range(2 * PROBE - 1):  # a second refusal doubles the wait before the next try
        _answered(c, 6)
        assert c.now == 6
    _answered(c, 6)
    assert c.now == 7
    _answered(c, 7)                 # the endpoint takes 7 now: the old ceiling is forgotten
    assert c.now == 14


def test_a_429_at_a_level_held_for_a_while_halves_the_limit():
    c = Concurrency(16)
    _answered(c, 4)
    _answered(c, 8)
    for _window in range(PROBE):
        _answered(c, 16)
    assert c.now == 16
    _refused(c)       # 16 ran clean for PROBE windows: the endpoint allows less than before
    assert c.now == 8 and c.limited == 1


def test_one_lucky_window_above_the_endpoints_limit_is_not_halved_on():
    c = Concurrency(64)
    _answered(c, 4)
    _refused(c)                        # 8
    _answered(c, 4)
    _answered(c, 6)
    _refused(c)                        # 7
    for _window in range(PROBE):
        _answered(c, 6)                # 6 is settled; then 7 is tried again
    assert c.now == 7
    _answered(c, 7)                    # one lucky clean window at 7: doubling
    assert c.now == 14
    _refused(c)
    assert c.now == 7
    _refused(c)                        # 7 is refused after all: back to the settled 6, not halved to 3
    assert c.now == 6


def test_only_the_first_429_of_a_level_counts():
    c = Concurrency(64)
    _answered(c, 4)
    sent = [c.acquire() for _i in range(8)]  # 8 in flight at level 8
    c.release(sent[0], "limited")
    c.release(sent[1], "limited")            # sent at the same level: no second step back
    assert c.now == 4 and c.limited == 2


def test_a_fixed_concurrency_never_moves_and_the_gate_holds_requests_back():
    c = Concurrency(3, adaptive=False)
    levels = [c.acquire() for _i in range(3)]
    got = []
    waiter = threading.Thread(target=lambda: got.append(c.acquire(threading.Event())))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and c.inflight == 3  # the fourth waits for a place
    c.release(levels[0], "limited")
    waiter.join(2)
    assert got and c.inflight == 3 and c.now == 3 and c.room() == 3
    halt = threading.Event()
    halt.set()
    assert c.acquire(halt) is None  # a halt wakes a request waiting for a place


def test_auto_on_the_command_line_means_adaptive_up_to_64():
    assert concurrency_value("auto") == concurrency_value(" AUTO ") == AUTO_CONCURRENCY == 64
    assert concurrency_value("8") == 8
    with pytest.raises(ValueError):
        concurrency_value("many")


# --- a real batch against a throttling endpoint ------------------------------------------------------------

def test_adaptive_run_against_an_endpoint_refusing_above_6_loses_nothing_and_settles_near_6(rules, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-adaptive-0000")
    seen = []
    with FakeOpenAI(reply=reply, latency_s=0.1, max_inflight=CAP, retry_after_s=0.3) as server:
        summary = run(rules, "规程-题库", "exam", model="m", base_url=server.url,
                      options=Options(concurrency=AUTO_CONCURRENCY, timeout=5, retries=0, backoff_s=0.01),
                      progress=lambda p: seen.append(p["concurrency"]))
    n = 150
    # every passage done once, none failed although retries=0: a 429 is throttling, not failure
    assert summary["state"] == "done" and summary["passages"] == n and summary["failed"] == 0
    assert summary["remaining"] == 0
    assert server.answered == n                        # one answered request per passage: nothing asked twice
    assert server.refused > 0 and summary["rate_limited"] == server.refused
    assert summary["requests"] == n + server.refused == len(server.requests)
    assert db.scalar("SELECT count(*) FROM llm_requests WHERE batch_id = ?", [summary["batch"]]) == len(server.requests)
    assert db.scalar("SELECT count(*) FROM llm_requests WHERE status = 'ok'") == n
    assert db.scalar("SELECT count(*) FROM llm_requests WHERE status = 'failed' AND error LIKE '%(429)%'") == \
        server.refused
    stored = db.one("SELECT count(*) AS n, count(DISTINCT passage_id) AS once FROM batch_passages")
    assert stored == {"n": n, "once": n}
    assert db.scalar("SELECT count(*) FROM exam_questions") == summary["samples"] == 2 * n
    assert db.scalar("SELECT count(DISTINCT passage_id) FROM exam_questions") == n
    # it settled near the endpoint's 6 and never went wild
    assert server.peak_inflight <= CAP
    late = seen[len(seen) // 2:]
    assert 5 <= statistics.median(late) <= 7, seen
    assert max(seen) <= 2 * (CAP + 1), seen
    assert server.refused <= n // 5, server.refused
    # each refused request came back no sooner than the Retry-After it was given
    for i in server.refusals:
        body = server.requests[i]
        later = [j for j in range(i + 1, len(server.requests)) if server.requests[j] == body]
        assert later and server.arrived[later[0]] - server.arrived[i] >= 0.3
    options = db.one("SELECT options FROM generation_batches WHERE id = ?", [summary["batch"]])["options"]
    assert '"concurrency_now": ' in options and f'"rate_limited": {server.refused}' in options


def test_a_fixed_concurrency_above_the_endpoints_stays_fixed_and_loses_nothing(rules):
    with FakeOpenAI(reply=reply, latency_s=0.05, max_inflight=CAP, retry_after_s=0.1) as server:
        summary = run(rules, "规程-题库", "exam", model="m", base_url=server.url,
                      options=Options(concurrency=10, adaptive=False, limit=60, timeout=5, retries=0))
    assert summary["passages"] == 60 and summary["failed"] == 0 and summary["concurrency"] == 10
    assert server.answered == 60 and summary["requests"] == 60 + server.refused
    assert server.refused > 0  # more asked than the endpoint takes: refused, retried, not failed


def test_an_endpoint_that_refuses_everything_still_pauses_the_batch(rules):
    with FakeOpenAI(reply=reply) as server:
        server.fail_with = 429  # a quota used up: every request refused, nothing answered
        with pytest.raises(WorkFailed) as err:
            run(rules, "规程-题库", "exam", model="m", base_url=server.url,
                options=Options(concurrency=8, timeout=5, retries=1, backoff_s=0.01, pause_after=3))
    summary = err.value.summary
    assert summary["state"] == "paused" and "429" in summary["error"]
    assert db.scalar("SELECT count(*) FROM batch_passages") == 0  # nothing marked done: all still to do
    assert summary["rate_limited"] == len(server.requests) < 40


# --- the page ------------------------------------------------------------------------------------------

def _page_after_a_throttled_batch(monkeypatch, lang: str) -> AppTest:
    monkeypatch.setenv("STUDIO_LANG", lang)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-adaptive-0000")
    with FakeOpenAI(reply=reply, latency_s=0.05, max_inflight=2, retry_after_s=0.05) as server:
        summary = run("规程", "规程-qa", "qa", model="m", base_url=server.url,
                      options=Options(concurrency=8, limit=20, timeout=5, retries=0))
    assert summary["failed"] == 0 and summary["rate_limited"] > 0
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/generate.py").run()
    assert not at.exception, at.exception
    return at


def test_the_page_shows_the_concurrency_and_the_429s_retried(rules, monkeypatch):
    at = _page_after_a_throttled_batch(monkeypatch, "en")
    checkbox = at.checkbox(key="gen_adaptive")
    assert checkbox.label == "Adapt to rate limits" and checkbox.value is True
    line = next(c.value for c in at.caption if c.value.startswith("Concurrency at the end:"))
    assert "(up to 8, adapting to rate limits)" in line and "rate-limited (429) and retried" in line
    checkbox.uncheck().run()
    assert not at.exception and not at.warning  # the batch can start with a fixed concurrency


def test_the_page_shows_the_concurrency_in_chinese(rules, monkeypatch):
    at = _page_after_a_throttled_batch(monkeypatch, "zh")
    assert at.checkbox(key="gen_adaptive").label == "根据限流自动调整并发"
    line = next(c.value for c in at.caption if c.value.startswith("结束时并发数："))
    assert "最多 8" in line and "429" in line and "Concurrency" not in line
