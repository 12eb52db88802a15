"""A review decision in a real headless Chromium: a click and a keyboard shortcut."""
import urllib.parse

import pytest

from store import db
from studio.project.demo_corpus import DEMO_CLOZE, load_demo
from tests.browser.conftest import screenshot, wait_for_text

pytestmark = pytest.mark.browser


def test_review_decisions_in_chromium(studio_env, browser, request):
    load_demo()
    first, second = [r["id"] for r in db.rows("SELECT id FROM samples ORDER BY id LIMIT 2")]
    db.close_all()
    url = request.getfixturevalue("studio_server")
    query = urllib.parse.urlencode({"reviewer": "bob", "dataset": DEMO_CLOZE})
    browser.get(f"{url}/review?{query}")
    wait_for_text(browser, "Answer support", timeout=60)
    wait_for_text(browser, f"id {first}")
    from selenium.common.exceptions import (
        ElementClickInterceptedException,
        StaleElementReferenceException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def click_accept(d):   # the sample's text can show before its buttons do, and a rerun can replace them
        try:
            accept = next((b for b in d.find_elements(By.TAG_NAME, "button") if b.text.startswith("Accept")), None)
            if accept is None:
                return False
            accept.click()
            return True
        except (ElementClickInterceptedException, StaleElementReferenceException):
            return False

    WebDriverWait(browser, 30, poll_frequency=0.2).until(click_accept, message="no Accept button to click")
    wait_for_text(browser, f"Sample {first}: accepted.")
    wait_for_text(browser, f"id {second}")
    browser.find_element(By.TAG_NAME, "body").send_keys("x")  # the Reject shortcut
    wait_for_text(browser, f"Sample {second}: rejected.")
    screenshot(browser, studio_env, "review")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "accepted: 1" in body and "rejected: 1" in body
