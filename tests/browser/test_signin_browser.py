"""Signing in through a real Chromium: the studio with accounts sends a browser to /login, the session cookie
survives a reload, a rater's navigation has no Train page and /train does not open it, and signing out
ends the session."""
from __future__ import annotations

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser


def _until(driver, check, timeout=60, message=""):
    return WebDriverWait(driver, timeout, poll_frequency=0.3,
                         ignored_exceptions=(StaleElementReferenceException,)).until(check, message=message)


def _nav(driver) -> list[str]:
    """The page names in the sidebar (each link's text ends with its name, after the icon's)."""
    return [a.text.strip().splitlines()[-1] for a in driver.find_elements(
        By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a') if a.text.strip()]


def _sign_in(driver, url, name, password):
    driver.get(url + "/")
    _until(driver, lambda d: "/login" in d.current_url, message="not sent to the sign-in page")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


@pytest.mark.timeout(300)
def test_sign_in_reload_roles_and_sign_out(studio_env, request, browser):
    from studio.service import accounts

    accounts.add("lead", "admin", "lead-password-1")
    accounts.add("wang", "rater", "rater-password-1")
    url = request.getfixturevalue("studio_server")

    _sign_in(browser, url, "wang", "wrong password")
    _until(browser, lambda d: "wrong account name or password" in d.find_element(By.TAG_NAME, "body").text)

    _sign_in(browser, url, "wang", "rater-password-1")
    _until(browser, lambda d: "Signed in as wang" in d.find_element(By.TAG_NAME, "body").text,
           message="the rater never got in")
    assert "Train" not in _nav(browser) and "Datasets" not in _nav(browser)
    assert any("studio_session" == c["name"] and c.get("httpOnly") for c in browser.get_cookies())

    browser.refresh()  # the cookie holds across a reload
    _until(browser, lambda d: "Signed in as wang" in d.find_element(By.TAG_NAME, "body").text)
    browser.get(url + "/train")  # a page the role may not use does not open
    _until(browser, lambda d: "Signed in as wang" in d.find_element(By.TAG_NAME, "body").text)
    heads = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "[data-testid=stMain] h1")]
    assert "Train" not in heads

    browser.get(url + "/logout")
    _until(browser, lambda d: "/login" in d.current_url)
    browser.get(url + "/datasets")
    _until(browser, lambda d: "/login" in d.current_url, message="signed out, yet a page opened")

    _sign_in(browser, url, "lead", "lead-password-1")
    _until(browser, lambda d: "Users" in _nav(d) and "Train" in _nav(d), message="the admin's navigation")

