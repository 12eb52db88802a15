"""A Chinese-reading expert walks every page in a real Chromium whose language is zh-CN.

The server gets no ``STUDIO_LANG``: the studio follows the browser's locale. Every page opens with a
Chinese title and shows no English words in its main area or sidebar beyond names of formats and tools
(the same rule as the AppTest check in tests/test_i18n.py). The sidebar switch turns the studio to
English, and the choice holds across a page change and a reload.

``STUDIO_SCREENSHOTS=docs/screenshots/zh pytest tests/browser/test_zh_walk.py`` also saves one screenshot
per page there (the README shows them).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import ROOT
from tests.test_i18n import PAGES, english_words

pytestmark = pytest.mark.browser

ZH = re.compile(r"[\u4e00-\u9fff]")
ICON = re.compile(r"[a-z_]+")  # a Material icon's ligature name, drawn as an icon, read as text by Selenium
STREAMLIT_OWN = {"Skip to main content", "Skip to content", "语言 / Language", "Browse files", "Upload"}


def _until(driver, check, timeout=60, message=""):
    return WebDriverWait(driver, timeout, poll_frequency=0.3,
                         ignored_exceptions=(StaleElementReferenceException,)).until(check, message=message)


def _title(driver) -> str:
    """The page's title (a page with a chat box lays its main area out differently: any h1 outside the
    sidebar)."""
    heads = [h.text.strip() for h in driver.find_elements(By.CSS_SELECTOR, "h1")
             if not h.find_elements(By.XPATH, "ancestor::*[@data-testid='stSidebar']")]
    return next((h for h in heads if h), "")


def _settled(driver) -> bool:
    """The script finished: no running indicator, and the main area has its title."""
    running = driver.find_elements(By.CSS_SELECTOR, "[data-testid=stStatusWidget]")
    return bool(_title(driver)) and not any("Running" in r.text or "运行" in r.text for r in running)


# what the page shows that is not the studio's words: code (commands, paths), icons drawn from ligature
# names, and Streamlit's own widgets' built-in texts (the file uploader's "Drag and drop files here")
NOT_OURS = ("code, pre, [data-testid=stIconMaterial], [data-testid=stFileUploaderDropzoneInstructions], "
            "[data-testid=stBaseButton-secondary][data-testid*=Uploader], a[href='#main'], [data-testid=stSkipLink]")


def _readable_text(driver) -> str:
    text = driver.execute_script("""
        const root = document.querySelector('[data-testid=stAppViewContainer]').cloneNode(true);
        root.querySelectorAll(arguments[0]).forEach(e => e.remove());
        document.body.appendChild(root); const t = root.innerText; root.remove(); return t;""", NOT_OURS)
    return "\n".join(line for line in text.splitlines()
                     if not ICON.fullmatch(line.strip()) and line.strip() not in STREAMLIT_OWN)


@pytest.fixture
def zh_project(studio_env, monkeypatch):
    monkeypatch.delenv("STUDIO_LANG")          # the server follows the browser
    monkeypatch.setenv("STUDIO_DEMO", "1")
    from studio.project import init

    init(build_model=False)


@pytest.mark.timeout(600)
def test_every_page_in_chinese_from_the_browsers_locale(zh_project, request, browser):
    url = request.getfixturevalue("studio_server")
    shots = os.environ.get("STUDIO_SCREENSHOTS")
    found = {}
    for page in PAGES:
        browser.get(f"{url}/{'' if page == 'home' else page}")
        _until(browser, _settled, message=f"{page} never finished")
        title = _title(browser)
        assert ZH.search(title), f"{page}: title {title!r}"
        words = english_words(_readable_text(browser))
        if words:
            found[page] = sorted(set(words))
        if shots:
            folder = ROOT / shots
            folder.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(Path(folder) / f"{page}.png"))
    assert not found, found


@pytest.mark.timeout(300)
def test_the_switch_turns_the_studio_english_across_pages_and_reloads(zh_project, request, browser):
    url = request.getfixturevalue("studio_server")
    browser.get(url + "/datasets")
    _until(browser, lambda d: _title(d) == "数据集", message="not Chinese: " + repr(_title(browser)))
    switch = _until(browser, lambda d: d.find_element(
        By.XPATH, "//*[@data-testid='stSidebar']//button[normalize-space()='English']"))
    switch.click()
    _until(browser, lambda d: _title(d) == "Datasets", message="the switch did not turn the page English")
    assert "lang=en" in browser.current_url
    link = _until(browser, lambda d: d.find_element(
        By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]:has(span[label="Review"])'))
    link.click()
    _until(browser, lambda d: _title(d) == "Review", message="another page did not keep English")
    browser.refresh()
    _until(browser, lambda d: _title(d) == "Review", message="a reload did not keep English")
