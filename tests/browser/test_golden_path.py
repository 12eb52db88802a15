"""The golden path in a real headless Chromium against a real `streamlit run`."""
import pytest

from store import db, datasets
from tests.browser.conftest import screenshot, wait_for_text

pytestmark = pytest.mark.browser


def test_home_page_in_chromium(studio_env, studio_server, browser):
    browser.get(studio_server)
    wait_for_text(browser, "Project overview", timeout=60)
    wait_for_text(browser, "No datasets yet")
    body = browser.find_element("tag name", "body").text
    assert "Database file" in body and "studio.duckdb" in body
    shot = screenshot(browser, studio_env, "home")
    assert shot.stat().st_size > 10_000
