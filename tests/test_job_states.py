"""A generation batch stopped by a failing endpoint is a ``paused`` job, not a failed one, and Retry
resumes it where it stopped; a job's messages are written in the language of the person who started it."""
from __future__ import annotations

from studio.core import i18n
from studio.data.corpus import import_corpus
from studio.generate import Options
from studio.service import batches, jobs
from testkit.canned import reply
from testkit.fake_openai import FakeOpenAI
from tests.conftest import DATA

LAWS = DATA / "corpus" / "laws" / "power_facilities_protection_regulations_2011.txt"  # 32 passages
FAST = Options(concurrency=4, timeout=2.0, retries=2, backoff_s=0.01, client_retries=0)


def test_a_paused_batch_is_a_paused_job_and_retry_resumes_it(studio_env):
    import_corpus([LAWS], "条例")
    with FakeOpenAI(reply=reply) as server:
        server.fail_with = 500
        key = batches.start("条例", "条例-qa", "qa", model="m", base_url=server.url, options=FAST)
        job = jobs.wait(batches.job(key)["job"], timeout=60)
        assert job["state"] == "paused", job
        assert "paused after 5 failed passages in a row" in job["message"]
        assert job["result"]["remaining"] == 32
        server.fail_with = None      # the endpoint answers again
        jobs.retry(job["id"])
        done = jobs.wait(job["id"], timeout=120)
    assert done["state"] == "done", done
    assert done["result"]["passages"] == 32 and done["result"]["remaining"] == 0


def test_a_job_speaks_the_language_of_whoever_started_it(studio_env):
    with i18n.using("zh"):
        job = jobs.submit("generate", {"corpus": "没有这个语料", "into": "x", "strategy": "qa", "options": {}})
    with i18n.using("en"):
        job = jobs.wait(job["id"], timeout=30)
        queued = jobs.submit("generate", {"corpus": "nothing", "into": "y", "strategy": "qa", "options": {}})
        cancelled = jobs.cancel(queued["id"]) if jobs.get(queued["id"])["state"] == "queued" else None
    assert job["state"] == "failed" and job["lang"] == "zh"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in job["message"]), job["message"]
    if cancelled is not None:
        assert cancelled["message"] == "cancelled before it started"
