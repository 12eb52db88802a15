"""The Compare page in headless Chromium: rate an output, and the rating is still there after a reload."""
import pytest

from tests.browser.conftest import screenshot, wait_for_text
from tests.test_ratings import fake_comparison

pytestmark = pytest.mark.browser


def enter_rater(browser, name):
    """Type the rater's name once the field is there (the page may still be drawing below the progress line)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.wait import WebDriverWait

    box = WebDriverWait(browser, 30).until(
        lambda d: d.find_element(By.CSS_SELECTOR, 'input[aria-label="Your name (rater)"]'))
    box.send_keys(name, Keys.ENTER)


def test_rating_survives_a_reload(studio_env, request, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    fake_comparison(n_prompts=4)
    url = request.getfixturevalue("studio_server")
    browser.get(url + "/compare")
    wait_for_text(browser, "Compare", timeout=60)
    wait_for_text(browser, "rated 0 / 12 outputs")
    enter_rater(browser, "张三")
    wait_for_text(browser, "you 0")
    def rating_options(d):   # the page draws its cards one after another: wait for the first one's scale
        radios = d.find_elements(By.CSS_SELECTOR, 'div[data-testid="stRadio"]')
        # the first radio is the view switch; the next ones rate the first prompt's outputs
        found = radios[1].find_elements(By.CSS_SELECTOR, 'label[data-testid="stRadioOption"]') if len(radios) > 1 else []
        return found if len(found) == 5 else False

    options = WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
        rating_options, message="no rating scale")
    assert [o.text for o in options] == ["1", "2", "3", "4", "5"]
    options[3].click()
    save = WebDriverWait(browser, 30, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: next((b for b in d.find_elements(By.TAG_NAME, "button") if b.text == "Save ratings"), False),
        message="no Save ratings button")
    save.click()
    wait_for_text(browser, "rated 1 / 12 outputs")
    screenshot(browser, studio_env, "compare-rated")
    browser.get(url + "/compare")   # a reload: a new session
    wait_for_text(browser, "rated 1 / 12 outputs", timeout=60)
    enter_rater(browser, "张三")
    wait_for_text(browser, "you 1")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "run-x 回答 问题0" in body
