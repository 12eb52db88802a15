"""Fail fast on a bad endpoint: 401/403/404 stop a batch at once, a run of failed passages pauses it, a
rerun resumes it; every message is one line naming the status and the endpoint's own message, key masked.

The endpoint is the loopback server of ``testkit.fake_openai``, so the real openai client, our retries
and the CLI run end to end.
"""
import json
import os
import subprocess
import sys
import time

import httpx2 as httpx  # the transport the openai client uses
import openai
import pytest

from store import db
from studio.core.errors import WorkFailed
from studio.data.corpus import import_corpus
from studio.generate import Options, run
from studio.generate.caller import describe, redact
from testkit.canned import reply
from testkit.fake_openai import FakeOpenAI
from tests.conftest import DATA, ROOT

LAWS = DATA / "corpus" / "laws" / "power_facilities_protection_regulations_2011.txt"  # 32 passages
KEY = "sk-studio-TEST-7f3a9c1e5b2d4a6f"
FAST = {"timeout": 2.0, "retries": 2, "backoff_s": 0.01, "client_retries": 0}  # 3 attempts per request


def _status_error(cls, status: int, body, text: str = ""):
    request = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    response = httpx.Response(status, request=request, text=text)
    return cls(f"Error code: {status} - {body}", response=response, body=body)


@pytest.mark.parametrize("err,expected", [
    (_status_error(openai.AuthenticationError, 401, {"message": "Incorrect API key provided", "code": "invalid_api_key"}),
     "the endpoint refused the key (401): Incorrect API key provided"),
    (_status_error(openai.PermissionDeniedError, 403, {"message": "Project has no access"}),
     "the endpoint denied access to the model (403): Project has no access"),
    (_status_error(openai.NotFoundError, 404, {"message": "The model `m` does not exist"}),
     "the endpoint has no model 'm' (or no such path) (404): The model `m` does not exist"),
    (_status_error(openai.InternalServerError, 500, {"message": "boom\n  at line 3"}),
     "the endpoint failed (500): boom at line 3"),
    (_status_error(openai.InternalServerError, 502, "<html><title>502 Bad Gateway</title></html>"),
     "the endpoint failed (502): 502 Bad Gateway"),
    (_status_error(openai.InternalServerError, 503, None), "the endpoint failed (503): Service Unavailable"),
    (_status_error(openai.RateLimitError, 429, {"message": "slow down"}),
     "the endpoint is rate-limiting the requests (429): slow down"),
    (_status_error(openai.BadRequestError, 400, {"detail": "max_tokens too large"}),
     "the endpoint rejected the request (400): max_tokens too large"),
    (openai.APITimeoutError(httpx.Request("POST", "http://x")), "the endpoint did not answer within 2 s"),
])
def test_errors_read_as_one_line_with_status_and_message(err, expected):
    assert describe(err, model="m", timeout=2.0, key=KEY) == expected


@pytest.mark.parametrize("text,expected", [
    (f"Incorrect API key provided: {KEY}.", "Incorrect API key provided: [key hidden]."),
    ("Incorrect API key provided: sk-abc12*********************wxyz.", "Incorrect API key provided: [key hidden]."),
    ("header was Bearer abc.def.ghi", "header was [key hidden]"),
    ("the model `m` does not exist", "the model `m` does not exist"),
])
def test_keys_are_masked(text, expected):
    assert redact(text, KEY) == expected


@pytest.fixture
def laws():
    import_corpus([LAWS], "条例")
    return "条例"


def _cli(server_url: str, *extra: str, model: str = "m") -> tuple[subprocess.CompletedProcess, float]:
    """Run `python -m studio generate` (qa, concurrency 4, 3 attempts, short backoff) against ``server_url``."""
    db.close_all()  # the CLI process must hold the database
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    cmd = [sys.executable, "-m", "studio", "generate", "--dataset", "条例", "--into", "条例-qa", "--model", model,
           "--base-url", server_url, "--concurrency", "4", "--timeout", "2", "--retries", "2", "--backoff", "0.01",
           "--no-progress", "--json", *extra]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    return done, time.monotonic() - started


def _key_nowhere(studio_env, *texts: str) -> None:
    db.close_all()
    blobs = [(studio_env / "studio.duckdb").read_bytes(), *(t.encode() for t in texts)]
    assert not any(KEY.encode() in b for b in blobs)


@pytest.mark.parametrize("status,model,expected", [
    (401, "m", "the endpoint refused the key (401): Incorrect API key provided: [key hidden]."),
    (404, "no-such-model", ("the endpoint has no model 'no-such-model' (or no such path) (404): "
                            "The model `no-such-model` does not exist or you do not have access to it.")),
])
def test_bad_key_or_unknown_model_stops_the_cli_at_once(laws, studio_env, status, model, expected):
    with FakeOpenAI(reply=reply, models={"m"}) as server:
        if status == 401:
            server.fail_with = 401
        done, seconds = _cli(server.url, model=model)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [f"error: generation batch 1 failed: {expected}"], done.stderr
    summary = json.loads(done.stdout)
    assert summary["state"] == "failed" and summary["passages"] == 0 and summary["remaining"] == 32
    assert 1 <= len(server.requests) <= 4  # the requests already in flight, none retried
    assert seconds < 20  # mostly the CLI's start; the batch itself stops within one round trip
    assert db.scalar("SELECT state FROM generation_batches") == "failed"
    assert db.scalar("SELECT count(*) FROM batch_passages") == 0  # nothing marked: all still to do
    _key_nowhere(studio_env, done.stdout, done.stderr)


def test_dead_endpoint_pauses_the_batch_and_a_rerun_finishes_it(laws, studio_env):
    with FakeOpenAI(reply=reply) as server:
        server.fail_with = 500
        paused, seconds = _cli(server.url)
        failed_requests = len(server.requests)
        server.fail_with = None  # the endpoint recovers
        resumed, _ = _cli(server.url)
    assert paused.returncode == 1 and seconds < 60
    assert paused.stderr.strip().splitlines() == [(
        "error: generation batch 1 paused after 5 failed passages in a row: the endpoint failed (500): "
        "injected 500 (run it again to resume)")]
    summary = json.loads(paused.stdout)
    assert summary["state"] == "paused" and summary["passages"] == 0 and summary["remaining"] == 32
    # 5 passages x 3 attempts: after the first failures only one passage is in flight
    assert failed_requests == summary["requests"] == 5 * 3
    assert resumed.returncode == 0, resumed.stderr
    rest = json.loads(resumed.stdout)
    assert rest["batch"] == 1 and rest["state"] == "done" and rest["passages"] == 32 and rest["failed"] == 0
    finished = db.rows("SELECT passage_id, count(*) AS n FROM batch_passages GROUP BY passage_id")
    assert len(finished) == 32 and all(r["n"] == 1 for r in finished)
    assert db.scalar("SELECT count(*) FROM samples") == db.scalar("SELECT count(DISTINCT (passage_id, instruction)) "
                                                                 "FROM samples") == 64
    assert db.scalar("SELECT count(*) FROM llm_requests WHERE status = 'failed'") == 15  # every attempt logged
    assert db.one("SELECT state, error FROM generation_batches") == {"state": "done", "error": None}
    _key_nowhere(studio_env, paused.stdout, paused.stderr, resumed.stdout, resumed.stderr)


def test_failures_between_successes_do_not_pause(laws, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(reply=reply) as server:
        # one request per attempt: 4 failed passages (1 attempt each), then one answered (2 requests), x3
        server.faults.extend(([500] * 4 + [None, None]) * 3)
        summary = run(laws, "条例-qa", "qa", model="m", base_url=server.url,
                      options=Options(concurrency=1, **{**FAST, "retries": 0}))
    assert summary["state"] == "done" and summary["passages"] == 32 and summary["failed"] == 12
    assert db.scalar("SELECT count(*) FROM batch_passages WHERE status = 'failed'") == 12


def test_the_setting_sets_how_many_failures_pause(laws, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("STUDIO_GENERATE_PAUSE_AFTER", "2")
    with FakeOpenAI(reply=reply) as server:
        server.fail_with = 503
        with pytest.raises(WorkFailed, match=r"paused after 2 failed passages in a row: the endpoint failed \(503\)"):
            run(laws, "条例-qa", "qa", model="m", base_url=server.url, options=Options(concurrency=4, **FAST))
        assert 2 * 3 <= len(server.requests) <= 4 * 3  # 4 passages in flight; the last 2 halted mid-retry
        monkeypatch.setenv("STUDIO_GENERATE_PAUSE_AFTER", "0")  # never pause: failures are marked, as before
        summary = run(laws, "条例-qa", "qa", model="m", base_url=server.url,
                      options=Options(concurrency=1, limit=3, **FAST))
    assert summary["state"] == "stopped" and summary["failed"] == summary["passages"] == 3
    assert summary["_exit"] == 1


def test_the_page_runner_pauses_and_start_resumes(laws, monkeypatch):
    """The Generate page's Start / resume runs the batch as a job of the server: same pause, same resume."""
    # the page starts batches with studio.service.batches
    from studio import generate
    from studio.service import batches as background

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI(reply=reply) as server:
        server.fail_with = 500
        kwargs = {"model": "m", "base_url": server.url, "options": Options(concurrency=4, **FAST)}
        job = background.start(laws, "条例-qa", "qa", **kwargs)
        state = background.wait(job, timeout=60)
        assert "paused after 5 failed passages in a row: the endpoint failed (500)" in state["error"]
        b = generate.batch(state["batch"])
        assert b["display_state"] == "paused" and b["passages_done"] == 0 and b["error"].startswith("paused")
        server.fail_with = None
        state = background.wait(background.start(laws, "条例-qa", "qa", **kwargs), timeout=120)
    assert state["error"] is None
    b = generate.batch(state["batch"])
    assert b["state"] == "done" and b["passages_done"] == 32
    assert db.scalar("SELECT count(*) FROM batch_passages") == 32
