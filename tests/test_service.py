"""The studio as a service: the real server on a free loopback port, the CLI beside it, jobs that survive a
kill -9 of the server, a trainer's death noticed with no client, and one safe writer inside a process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from store import db
from testkit.canned import reply
from testkit.fake_openai import FakeOpenAI
from tests.browser.conftest import free_port
from tests.conftest import DATA, ROOT, run_cli

KEY = "sk-service-test-key-never-stored"


class Server:
    """``python -m studio serve`` in its own process group, on a free port."""

    def __init__(self, env_dir: Path, extra_env: dict | None = None):
        self.port = free_port()
        self.env = {**os.environ, **(extra_env or {})}
        self.log = open(env_dir / f"server-{self.port}.log", "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "studio", "serve", "--port", str(self.port)], cwd=ROOT,
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.info_file = Path(os.environ["STUDIO_DB"] + ".server.json")
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("the server exited:\n" + Path(self.log.name).read_text())
            if self.info_file.exists():
                try:
                    self.info = json.loads(self.info_file.read_text())
                    if self.info["port"] == self.port and self.get("/api/v1/health")["ok"]:
                        return
                except (OSError, ValueError):
                    pass
            time.sleep(0.3)
        self.kill()
        pytest.fail("the server did not start:\n" + Path(self.log.name).read_text())

    def get(self, path: str, token: str | None = "ok") -> dict:
        headers = {} if token is None else {"Authorization": f"Bearer {self.info['token'] if token == 'ok' else token}"}
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


class Servers:
    def __init__(self, env_dir: Path):
        self.env_dir, self.started = env_dir, []

    def __call__(self, **env) -> Server:
        db.close_all()  # the server is the one process holding the database
        s = Server(self.env_dir, env)
        self.started.append(s)
        return s

    def stop_all(self) -> None:
        for s in self.started:
            s.stop()


@pytest.fixture
def start_server(studio_env):
    servers = Servers(studio_env)
    yield servers
    servers.stop_all()


def test_the_api_refuses_requests_without_the_token(start_server):
    server = start_server()
    assert oct(server.info_file.stat().st_mode & 0o777) == "0o600"
    for token in (None, "wrong-token"):
        with pytest.raises(urllib.error.HTTPError) as err:
            server.get("/api/v1/jobs", token=token)
        assert err.value.code == 401
    assert server.get("/api/v1/jobs") == {"jobs": []}
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/_stcore/health", timeout=10) as r:
        assert r.read() == b"ok"  # the pages are served by the same process


def test_the_cli_works_beside_the_server_and_prints_what_it_prints_alone(start_server, studio_env, tmp_path):
    bank = str(DATA / "exam" / "cmmlu" / "electrical_engineering_test.csv")
    alone_env = {"STUDIO_DB": str(tmp_path / "alone.duckdb")}
    alone = run_cli("import", "exam", bank, "--dataset", "cm", "--json", env=alone_env)
    start_server()
    beside = run_cli("import", "exam", bank, "--dataset", "cm", "--json")
    assert beside.returncode == alone.returncode == 0, beside.stderr
    assert json.loads(beside.stdout) == json.loads(alone.stdout)
    assert json.loads(beside.stdout)["imported"] == 172

    status = run_cli("status", "--json")
    assert status.returncode == 0, status.stderr
    assert {d["name"] for d in json.loads(status.stdout)["datasets"]} == {"cm"}
    assert run_cli("convert", "--dataset", "cm", "--to", "choice", "--into", "cm-choice").returncode == 0
    out = studio_env / "out"
    exported = run_cli("export", "--dataset", "cm-choice", "--format", "alpaca", "--out", str(out), "--json")
    assert exported.returncode == 0, exported.stderr
    assert json.loads(exported.stdout)["train"] == 172 and (out / "train.json").exists()
    assert json.loads(run_cli("runs", "--json").stdout)["runs"] == []

    bad = run_cli("import", "exam", str(studio_env / "missing.csv"), "--dataset", "x")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "missing.csv" in bad.stderr
    assert "Traceback" not in bad.stderr
    listed = json.loads(run_cli("jobs", "--json").stdout)["jobs"]
    assert {j["state"] for j in listed} == {"done", "failed"}   # the missing file: failed, with its reason
    assert {"id", "kind", "state", "progress", "total", "message"} <= set(listed[0])
    assert any("missing.csv" in (j["message"] or "") for j in listed if j["state"] == "failed")


def _passages_table() -> dict:
    rows = db.rows("""SELECT p.id, count(bp.passage_id) AS marks, max(bp.status) AS status
                      FROM passages p LEFT JOIN batch_passages bp ON bp.passage_id = p.id
                      GROUP BY p.id ORDER BY p.id""")
    return {r["id"]: (r["marks"], r["status"]) for r in rows}


@pytest.mark.slow
def test_a_batch_finishes_by_itself_after_a_kill_9_of_the_server(start_server, studio_env):
    from studio.data.corpus import import_corpus

    import_corpus([DATA / "corpus" / "laws" / "power_facilities_protection_regulations_2011.txt"], "条例")
    n_passages = db.scalar("SELECT count(*) FROM passages")
    with FakeOpenAI(reply=reply, latency_s=0.4) as llm:
        server = start_server(OPENAI_API_KEY=KEY)
        client = subprocess.Popen([sys.executable, "-m", "studio", "generate", "--dataset", "条例", "--into", "条例-qa",
                                   "--strategy", "qa", "--model", "m", "--base-url", llm.url, "--concurrency", "2"],
                                  cwd=ROOT, env={k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while len(llm.requests) < 12 and time.time() < deadline:
            time.sleep(0.1)
        assert len(llm.requests) >= 12, "the batch never got going"
        server.kill()                     # kill -9 in the middle of the batch
        client.wait(60)
        assert client.returncode != 0     # the CLI lost its server; the job is recorded in the database
        start_server(OPENAI_API_KEY=KEY)  # nobody runs the command again: the server resumes the job
        deadline = time.time() + 240
        while time.time() < deadline:
            listed = json.loads(run_cli("jobs", "--json").stdout)["jobs"]
            if listed and listed[0]["state"] in ("done", "failed"):
                break
            time.sleep(1)
        assert listed[0]["state"] == "done", listed[0]
        assert listed[0]["args"]["argv"][0] == "generate" and len(listed) == 1   # one job, resumed in place
        assert listed[0]["total"] and listed[0]["progress"] == listed[0]["total"]  # passages, as it went
    start_server.stop_all()               # the file is free again: read what landed
    table = _passages_table()
    assert len(table) == n_passages
    assert all(marks == 1 and status == "ok" for marks, status in table.values()), table
    per_passage = db.rows("SELECT s.passage_id, count(*) AS n, any_value(bp.samples) AS recorded FROM samples s "
                          "JOIN batch_passages bp ON bp.passage_id = s.passage_id GROUP BY s.passage_id "
                          "HAVING count(*) <> any_value(bp.samples)")
    assert per_passage == []              # no passage's samples landed twice
    assert KEY.encode() not in Path(os.environ["STUDIO_DB"]).read_bytes()


@pytest.mark.slow
def test_a_sigkilled_trainer_is_marked_failed_within_30_s_with_no_client(start_server, studio_env, demo_model):
    from tests.train_helpers import seed_dataset

    seed_dataset(n=10)
    start_server()
    started = run_cli("train", "--dataset", "电工问答", "--base-model", str(demo_model), "--method", "lora",
                      "--max-steps", "5000", "--logging-steps", "5", "--detach", "--json")
    assert started.returncode == 0, started.stderr
    run = json.loads(started.stdout)
    status_file = Path(run["dir"]) / "status.json"
    deadline = time.time() + 120
    while time.time() < deadline:
        status = json.loads(status_file.read_text()) if status_file.exists() else {}
        if status.get("state") == "running" and status.get("step", 0) >= 5:
            break
        time.sleep(0.5)
    assert status.get("state") == "running", status
    os.kill(int(status["pid"]), signal.SIGKILL)
    killed = time.time()
    while time.time() - killed < 30:    # no page, no CLI: only the server's supervisor watches
        status = json.loads(status_file.read_text())
        if status["state"] == "failed":
            break
        time.sleep(0.5)
    assert status["state"] == "failed", status
    assert "signal 9 (SIGKILL)" in status["error"]
    runs = json.loads(run_cli("runs", "--json").stdout)["runs"]
    assert [(r["id"], r["state"]) for r in runs] == [(run["run"], "failed")]


def test_threads_writing_the_same_row_lose_no_update(studio_env):
    db.cursor().execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)")
    db.cursor().execute("INSERT INTO counter VALUES (1, 0)")
    errors = []

    def bump(times: int) -> None:
        try:
            for _ in range(times):
                with db.transaction() as cur:   # read, then write what was read plus one
                    n = db.scalar("SELECT n FROM counter WHERE id = 1", cur=cur)
                    cur.execute("UPDATE counter SET n = ? WHERE id = 1", [n + 1])
        except Exception as err:  # noqa: BLE001 - the test reports any failure
            errors.append(repr(err))

    threads = [threading.Thread(target=bump, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.scalar("SELECT n FROM counter WHERE id = 1") == 200


def test_a_bulk_status_change_racing_the_flag_refresh_changes_every_row(studio_env):
    from studio.data import review, samples
    from tests.train_helpers import seed_dataset

    seed_dataset("并发", n=60)
    db.cursor().execute("UPDATE samples SET status = 'pending'")
    did = db.scalar("SELECT id FROM datasets WHERE name = '并发'")
    stop, errors = threading.Event(), []

    def refresh_flags() -> None:
        try:
            while not stop.is_set():
                review.refresh_flags(did)
        except Exception as err:  # noqa: BLE001
            errors.append(repr(err))

    racer = threading.Thread(target=refresh_flags)
    racer.start()
    try:
        f = samples.make_filter(status=("pending",))
        n = samples.bulk_count("并发", f, "status", {"status": "accepted"})
        changed = samples.bulk("并发", f, "status", {"status": "accepted"}, confirm=n)
    finally:
        stop.set()
        racer.join()
    assert errors == []
    assert n == changed["affected"] == 60
    assert db.scalar("SELECT count(*) FROM samples WHERE status = 'pending'") == 0


def test_a_write_conflict_from_elsewhere_is_one_clear_message(studio_env, tmp_path):
    import duckdb

    from studio.core.errors import Conflict

    cur = db.cursor()
    cur.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
    cur.execute("INSERT INTO t VALUES (1, 0)")
    other = db.connect().cursor()           # a second cursor outside the studio's write path
    other.execute("BEGIN TRANSACTION")
    other.execute("UPDATE t SET v = 1 WHERE id = 1")
    with pytest.raises(Conflict, match="someone else changed the same rows"):
        with db.transaction() as c:
            c.execute("UPDATE t SET v = 2 WHERE id = 1")
    other.execute("COMMIT")
    assert db.scalar("SELECT v FROM t WHERE id = 1") == 1
    assert isinstance(other, duckdb.DuckDBPyConnection)


def test_the_jobs_page_lists_cancels_and_retries(studio_env):
    from streamlit.testing.v1 import AppTest

    from store import jobs as store_jobs
    from studio.service import jobs

    job_id = store_jobs.insert("generate", {"corpus": "无此语料", "into": "x", "strategy": "cloze"}, "page")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    at.switch_page("pages/jobs.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["job"]) == [job_id] and list(table["state"]) == ["queued"]
    assert "cloze batch: 无此语料 → x" in list(table["what"])
    at.button(key="jobs_cancel").click().run()
    assert jobs.get(job_id)["state"] == "cancelled"
    assert at.button(key="jobs_cancel").disabled and not at.button(key="jobs_retry").disabled
    at.button(key="jobs_retry").click().run()
    done = jobs.wait(job_id, timeout=30)   # retried: the supervisor runs it, and it fails with its reason
    assert done["state"] == "failed" and "无此语料" in done["message"]


def test_a_live_trainer_without_steps_is_reported_as_stalled(monkeypatch):
    from studio.train import supervisor

    monkeypatch.setenv("STUDIO_STALL_AFTER_S", "900")
    status = {"state": "running", "step": 5}
    assert supervisor._stalled("r1", status, now=0.0) is None
    assert supervisor._stalled("r1", status, now=600.0) is None
    assert "stalled: no training step for 17 min at step 5" in supervisor._stalled("r1", status, now=1000.0)
    assert supervisor._stalled("r1", {"state": "running", "step": 6}, now=1001.0) is None  # it moved again
    monkeypatch.setenv("STUDIO_STALL_AFTER_S", "0")
    assert supervisor._stalled("r1", {"state": "running", "step": 6}, now=99999.0) is None


def test_two_submitters_of_the_same_work_get_one_job(studio_env):
    from store import jobs as store_jobs   # what jobs.submit queues through (no supervisor runs it here)

    args = {"corpus": "无此语料", "into": "x", "strategy": "cloze"}
    got, barrier = [], threading.Barrier(4)

    def submit() -> None:
        barrier.wait()
        got.append(store_jobs.queue("generate", args, "page")[0])

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(got)) == 1 and db.scalar("SELECT count(*) FROM jobs") == 1
