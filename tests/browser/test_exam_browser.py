"""Upload an exam bank and convert it, in headless Chromium against a real `streamlit run`."""
import time

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import screenshot, wait_for_text
from tests.conftest import DATA

pytestmark = pytest.mark.browser


def click_button(driver, label, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for b in driver.find_elements(By.TAG_NAME, "button"):
            if label in b.text and b.is_enabled():
                b.click()
                return
        time.sleep(0.3)
    raise AssertionError(f"no enabled button {label!r}")


def test_upload_and_convert_in_chromium(studio_env, studio_server, browser):
    bank = DATA / "exam/other_layouts/network_ethics_ampersand_answer_text.csv"
    browser.get(studio_server + "/import_exam")
    wait_for_text(browser, "Upload a question bank", timeout=60)
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=file]"))
    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(bank))
    wait_for_text(browser, "First parsed rows", timeout=60)
    wait_for_text(browser, "type codes read from content")
    for text in ("Valid", "Invalid", "options are joined to the question"):  # the preview renders in parts
        wait_for_text(browser, text)
    click_button(browser, "Import all 27 rows")
    wait_for_text(browser, "Imported 27 questions into", timeout=60)
    screenshot(browser, studio_env, "exam-imported")

    browser.get(studio_server + "/convert")
    wait_for_text(browser, "Preview on the first rows", timeout=60)
    wait_for_text(browser, '"content": "计算机信息系统安全管理包括___", "summary": "组织建设; 制度建设; 人员意识"')
    click_button(browser, "Convert into network_ethics_ampersand_answer_text-qa")
    wait_for_text(browser, "Wrote 27 pairs into", timeout=60)
    shot = screenshot(browser, studio_env, "exam-converted")
    assert shot.stat().st_size > 10_000
