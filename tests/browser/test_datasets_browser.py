"""The Datasets page in a real Chromium: edit a cell of the paginated editor, and two tabs editing the
same row — the second is refused with the fresh row shown, nothing lost."""
import time

import pytest

from store import datasets, db
from tests.browser.conftest import screenshot, wait_for_text

pytestmark = pytest.mark.browser

OUTPUT_COLUMN = 5  # id, v, status, instruction, input, output: arrow presses from the id cell


def seed():
    did = datasets.create("安规问答", "samples")
    db.cursor().execute("""INSERT INTO samples (dataset_id, instruction, output, status, origin)
        SELECT ?, '第' || i || '题 雷雨天气应穿什么', '绝缘靴' || i, 'accepted', 'exam-qa' FROM range(3) t(i)""", [did])
    db.close_all()


def edit_first_output(driver, text):
    """Click the first row's id cell, move to the output column, type a new value, commit with Enter."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    grid = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')[-1]  # the editor, below the counts
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", grid)
    time.sleep(0.3)
    canvas = grid.find_element(By.TAG_NAME, "canvas")
    box = canvas.rect
    # the first body row's id cell: 35 px header, 35 px rows, the id column first
    ActionChains(driver).move_to_element_with_offset(canvas, -box["width"] / 2 + 40, -box["height"] / 2 + 35 + 17) \
        .click().perform()
    time.sleep(0.3)
    actions = ActionChains(driver)
    for _ in range(OUTPUT_COLUMN):
        actions.send_keys(Keys.ARROW_RIGHT)
    actions.send_keys(Keys.ENTER).perform()
    time.sleep(0.5)
    editor = driver.switch_to.active_element
    editor.send_keys(Keys.CONTROL, "a")
    editor.send_keys(text)
    editor.send_keys(Keys.ENTER)


def open_datasets(driver, url):
    driver.get(url + "/datasets")
    wait_for_text(driver, "rows match", timeout=60)


def test_edit_in_two_tabs(studio_env, browser, request):
    seed()
    url = request.getfixturevalue("studio_server")
    open_datasets(browser, url)
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    second = browser.current_window_handle
    open_datasets(browser, url)

    browser.switch_to.window(first)
    edit_first_output(browser, "绝缘鞋A")
    wait_for_text(browser, "Saved 1 edit")
    screenshot(browser, studio_env, "datasets-edit-saved")

    browser.switch_to.window(second)
    edit_first_output(browser, "橡胶鞋B")
    wait_for_text(browser, "changed elsewhere")
    shot = screenshot(browser, studio_env, "datasets-edit-refused")
    assert shot.stat().st_size > 10_000
    body = browser.find_element("tag name", "body").text
    assert "version 2, you saw 1" in body
    # nothing lost: the first tab's value is in the database, the refused one is not
    search(browser, "绝缘鞋A")
    wait_for_text(browser, "1 row matches")  # one row: the singular
    search(browser, "橡胶鞋B")
    wait_for_text(browser, "0 rows match")


def search(driver, text):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, 'input[aria-label="Search"]')
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(text, Keys.ENTER)
