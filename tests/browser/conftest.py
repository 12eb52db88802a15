"""A real studio server on a free 127.0.0.1 port and Debian's headless Chromium driving it.

Seed the database before asking for ``studio_server``: the server process then holds the file.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def studio_server(studio_env):
    """Start the studio as ``make run`` does (serve.py = ``streamlit run app.py``) on a free port."""
    from store import db

    db.close_all()  # the server must be the one process holding the database
    port = free_port()
    log = open(studio_env / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "serve.py", "--server.address", "127.0.0.1",
         "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the studio did not start:\n" + (studio_env / "streamlit.log").read_text())
    if proc.poll() is not None:
        pytest.fail("the studio exited:\n" + (studio_env / "streamlit.log").read_text())
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def browser(tmp_path):
    """Selenium driving Debian's chromium through Debian's chromedriver (never a downloaded browser)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", "--lang=zh-CN",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.add_argument("--accept-lang=zh-CN,zh")
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})  # navigator.language
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def wait_for_text(driver, text: str, timeout: float = 30) -> None:
    """Wait until ``text`` is visible in the page body."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: text in d.find_element(By.TAG_NAME, "body").text,
        message=f"{text!r} never appeared")


def screenshot(driver, folder: Path, name: str) -> Path:
    """Save a PNG of the page under the test's tmp folder."""
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
