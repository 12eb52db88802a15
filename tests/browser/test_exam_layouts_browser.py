"""Upload a multi-sheet workbook with decorated headers (an exam system's upload template), check the
mapping screen per sheet, import — in headless Chromium against a real studio server."""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import screenshot, wait_for_text
from tests.browser.test_exam_browser import click_button
from tests.exam_layout_fixtures import upload_template_workbook

pytestmark = pytest.mark.browser


def test_template_workbook_mapping_screen_and_import(studio_env, studio_server, browser, tmp_path):
    bank = upload_template_workbook(tmp_path / "安规题库模板.xlsx")
    browser.get(studio_server + "/import_exam")
    wait_for_text(browser, "Upload a question bank", timeout=60)
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=file]"))
    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(bank))
    wait_for_text(browser, "Column mapping", timeout=90)
    for text in ("Sheet 单选题", "3 data rows · header row 2 · single 3", "Sheet 填空题", "blank 2",
                 "Sheet 问答题", "sheet 填写说明: skipped, not a question bank",
                 "Type: the sheet's name '判断题' (judge)"):
        wait_for_text(browser, text)
    shot = screenshot(browser, studio_env, "exam-layouts-mapping")
    assert shot.stat().st_size > 10_000
    click_button(browser, "Import all 10 rows")
    wait_for_text(browser, "Imported 10 questions into", timeout=90)
    screenshot(browser, studio_env, "exam-layouts-imported")
