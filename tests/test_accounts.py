"""A team studio: accounts with roles, sign-in that slows guessing down, and the CLI and API acting as an
account and refused where its role may not go. Passwords never reach the database file in clear text."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from store import db
from studio.service import accounts
from tests.conftest import run_cli
from tests.test_service import start_server  # noqa: F401 - the real server fixture

ADMIN_PW = "correct horse battery"
RATER_PW = "rater-secret-42"


def _add(name: str, role: str, password: str, env: dict | None = None):
    return run_cli("users", "add", name, "--role", role, "--password-stdin", "--json", env=env, input=password + "\n")


def _as(name: str, password: str) -> dict:
    return {"STUDIO_USER": name, "STUDIO_PASSWORD": password}


@pytest.fixture
def team(studio_env):
    db.close_all()
    first = _add("rater1", "rater", RATER_PW)
    assert first.returncode == 2 and "first account must be an admin" in first.stderr
    assert _add("lead", "admin", ADMIN_PW).returncode == 0
    added = _add("rater1", "rater", RATER_PW, env=_as("lead", ADMIN_PW))
    assert added.returncode == 0, added.stderr
    assert _add("eng", "engineer", "engineer-pw-1", env=_as("lead", ADMIN_PW)).returncode == 0
    return studio_env


def test_accounts_from_the_cli_without_a_password_anywhere(team):
    listed = run_cli("users", "list", "--json", env=_as("lead", ADMIN_PW))
    assert listed.returncode == 0, listed.stderr
    users = json.loads(listed.stdout)["users"]
    assert [(u["name"], u["role"]) for u in users] == [("eng", "engineer"), ("lead", "admin"), ("rater1", "rater")]
    assert "hash" not in listed.stdout and "argon2" not in listed.stdout
    db.close_all()
    raw = (team / "studio.duckdb").read_bytes()
    for secret in (ADMIN_PW, RATER_PW, "engineer-pw-1"):
        assert secret.encode() not in raw
    assert b"$argon2" in raw  # what is kept is the argon2 hash


def test_the_cli_acts_as_an_account_and_its_role(team):
    nobody = run_cli("status")
    assert nobody.returncode == 2 and "STUDIO_USER" in nobody.stderr
    wrong = run_cli("status", env=_as("lead", "not the password"))
    assert wrong.returncode == 2 and wrong.stderr.strip() == "error: wrong account name or password"
    refused = run_cli("import", "exam", "x.csv", "--dataset", "d", env=_as("rater1", RATER_PW))
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: not allowed for role rater"
    assert run_cli("users", "list", env=_as("eng", "engineer-pw-1")).returncode == 2
    assert run_cli("status", "--json", env=_as("rater1", RATER_PW)).returncode == 0
    token = json.loads(run_cli("users", "token", "eng", "--json", env=_as("lead", ADMIN_PW)).stdout)["token"]
    assert run_cli("status", "--json", env={"STUDIO_TOKEN": token}).returncode == 0
    assert run_cli("status", env={"STUDIO_TOKEN": "st_forged"}).returncode == 2


def test_guessing_is_slowed_down_per_name_and_address(studio_env):
    accounts.add("lead", "admin", ADMIN_PW)
    for _attempt in range(accounts.FREE_FAILURES):
        with pytest.raises(accounts.InputError, match="wrong account name or password"):
            accounts.sign_in("lead", "guess", "10.0.0.9")
    with pytest.raises(accounts.InputError, match="too many failed sign-ins"):
        accounts.sign_in("lead", ADMIN_PW, "10.0.0.9")  # even the right password must wait now
    with pytest.raises(accounts.InputError, match="too many failed sign-ins"):
        accounts.sign_in("someone-else", "x", "10.0.0.9")  # the same address guessing another name
    assert accounts.wait_before_next("lead", "10.0.0.9") > 0


def test_a_session_cookie_ends_with_a_password_change_and_cannot_be_forged(studio_env):
    accounts.add("lead", "admin", ADMIN_PW)
    cookie = accounts.make_cookie(accounts.sign_in("lead", ADMIN_PW, "127.0.0.1"))
    assert accounts.from_cookie(cookie) == {"name": "lead", "role": "admin"}
    assert accounts.from_cookie(cookie[:-2] + "xx") is None
    accounts.set_password("lead", "a new password")
    assert accounts.from_cookie(cookie) is None


def _api(server, path: str, *, method="GET", body=None, headers=None) -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", method=method, headers=headers or {},
                                 data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_the_server_with_accounts_refuses_what_a_role_may_not(team, start_server):  # noqa: F811
    server = start_server()
    status, reply = _api(server, "/api/v1/jobs", headers={"Authorization": f"Bearer {server.info['token']}"})
    assert status == 401 and "accounts" in reply["error"]  # the server file's token is not an account
    rater = {"X-Studio-User": "rater1", "X-Studio-Password": RATER_PW, "Content-Type": "application/json"}
    status, reply = _api(server, "/api/v1/commands", method="POST", headers=rater,
                         body={"argv": ["import", "exam", "bank.csv", "--dataset", "x"]})
    assert (status, reply["error"]) == (403, "not allowed for role rater")
    status, _reply = _api(server, "/api/v1/commands", method="POST", headers=rater, body={"argv": ["status"]})
    assert status == 200
    beside = run_cli("import", "exam", "bank.csv", "--dataset", "x", env=_as("rater1", RATER_PW))
    assert beside.returncode == 2 and beside.stderr.strip() == "error: not allowed for role rater"
    assert run_cli("status", "--json", env=_as("eng", "engineer-pw-1")).returncode == 0
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/login", timeout=10) as r:
        assert r.status == 200 and b'name="password"' in r.read()
    page = urllib.request.Request(f"http://127.0.0.1:{server.port}/train")
    opener = urllib.request.build_opener(_NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as sent:
        opener.open(page, timeout=10)
    assert sent.value.code == 303 and sent.value.headers["Location"].startswith("/login?next=")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_serving_beyond_loopback_needs_accounts(studio_env):
    refused = run_cli("serve", "--host", "0.0.0.0", "--port", "1")
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1 and "accounts" in refused.stderr


def test_with_accounts_the_studio_may_serve_beyond_loopback(team):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.browser.conftest import free_port
    from tests.conftest import ROOT

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "studio", "serve", "--host", "0.0.0.0", "--port", str(port)],
                            cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline, ok = time.time() + 60, False
        while time.time() < deadline and not ok:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as r:
                    ok = json.loads(r.read())["ok"]
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()
                time.sleep(0.3)
        assert ok
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)


def test_a_rater_sees_a_home_page_without_engineers_links(studio_env, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    accounts.add("lead", "admin", ADMIN_PW)
    accounts.add("wang", "rater", RATER_PW)
    monkeypatch.setattr(accounts, "from_cookie", lambda value: {"name": "wang", "role": "rater"})
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert "Signed in as wang (rater)" in [c.value for c in at.sidebar.caption]
    assert not [link for link in at.get("page_link") if "import" in str(link.proto.page)]
