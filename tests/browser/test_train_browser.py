"""Start a fine-tune from the Train page in headless Chromium and watch its live curve on Runs."""
import os
import time

import pytest

from tests.browser.conftest import screenshot, wait_for_text
from tests.browser.test_golden_path import set_field
from tests.train_helpers import seed_dataset

pytestmark = pytest.mark.browser


def _click(driver, text: str, timeout: float = 30):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    xpath = f"//button[normalize-space(.)='{text}'] | //a[contains(., '{text}')]"
    el = WebDriverWait(driver, timeout).until(EC.element_to_be_clickable((By.XPATH, xpath)))
    el.click()


def _traces(driver) -> int:
    return driver.execute_script(
        "return document.querySelectorAll('.js-plotly-plot .scatterlayer .trace').length")


@pytest.fixture
def seeded(studio_env, demo_model):
    seed_dataset(n=30)
    (studio_env / "models").mkdir()
    os.symlink(demo_model, studio_env / "models" / "demo-tiny-llama")
    return studio_env


def test_train_page_to_live_curve_in_chromium(seeded, studio_server, browser):
    browser.get(studio_server + "/train")
    wait_for_text(browser, "Train on", timeout=90)
    wait_for_text(browser, "Base model")
    wait_for_text(browser, "python -m trainers.sft")
    # the demo model's preset trains 90 steps; a person wanting a quick look types 12
    set_field(browser, "Max steps", 12, prefix=True)
    _click(browser, "Start")
    wait_for_text(browser, "Follow it on Runs", timeout=90)
    _click(browser, "Follow it on Runs")
    wait_for_text(browser, "Compare curves", timeout=60)
    deadline = time.time() + 240
    while time.time() < deadline and _traces(browser) == 0:
        time.sleep(0.5)  # the fragment polls the run folder every 2 s
    assert _traces(browser) > 0, "no curve appeared"
    wait_for_text(browser, "12/12", timeout=240)
    browser.refresh()  # a refresh loses nothing: the run and its curve come back from the database
    wait_for_text(browser, "12/12", timeout=90)
    deadline = time.time() + 60
    while time.time() < deadline and _traces(browser) == 0:
        time.sleep(0.5)
    assert _traces(browser) > 0
    shot = screenshot(browser, seeded, "runs_live_curve")
    assert shot.stat().st_size > 10_000
