"""The golden path with an API system and the playground, in one headless Chromium session against one real
`streamlit run` (nothing seeded: only the demo model in ``STUDIO_MODELS``, as in test_golden_path).

A loopback OpenAI-compatible server (``testkit.fake_openai``) stands in for ChatGPT. Through the pages:
Compare (upload a small prompt set as a user would, add the endpoint as an API system, open a comparison
of the base model and the API system, generate, read each prompt's card: the base's output beside the API
system's answer) -> Playground (the base model and the API system, one Chinese message, both answers with
how each ended, save the API system's answer as a sample into a new dataset) -> Review (the dataset holds
that sample, pending). The endpoint's key comes from the environment variable named in the form: the
server receives it, no page shows it. A screenshot per step lands in the test's tmp folder.
"""
import json
import time

import pytest
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    StaleElementReferenceException,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from testkit.fake_openai import FakeOpenAI
from tests.browser.conftest import screenshot, wait_for_text
from tests.browser.test_golden_path import (
    _until,
    body_text,
    click_button,
    go,
    main_text,
    models_folder,  # noqa: F401 - the fixture: the demo model copied into STUDIO_MODELS
    open_expander,
    selectbox_shows,
    set_field,
    shoot,
    wait_main,
)

pytestmark = pytest.mark.browser

API_LABEL = "FakeGPT"
API_MODEL = "fake-gpt-4o"
KEY_ENV = "LOOPBACK_LLM_KEY"
KEY = "sk-loopback-test-7731"
ANSWER = "API答："  # the loopback server answers this, then the user's message
PROMPTS = [
    {"prompt": "高压验电前应做哪些准备？", "category": "安全规程", "reference": "检查验电器完好"},
    {"prompt": "雷雨天气巡视设备应注意什么？", "category": "安全规程", "reference": "穿绝缘靴，不得靠近避雷器"},
]
MESSAGE = "请简要说明安全帽的佩戴要求。"
TARGET = "试用记录"
BASE = "base (demo-tiny-llama)"


@pytest.fixture
def api_key(studio_env, monkeypatch):
    """The endpoint's key, in the environment of the studio (asked for before ``studio_server`` starts it)."""
    monkeypatch.setenv(KEY_ENV, KEY)
    return KEY


def test_golden_path_with_an_api_system_and_the_playground(studio_env, models_folder, api_key,  # noqa: F811
                                                          studio_server, browser):
    with FakeOpenAI(reply=lambda req: ANSWER + req["messages"][-1]["content"]) as llm:
        try:
            compare_with_api(studio_env, studio_server, browser, llm)
            playground(studio_env, browser, llm)
            review(studio_env, browser)
        except BaseException:
            screenshot(browser, studio_env, "zz-failure")  # what the page showed when it failed
            raise
    auth = {h.get("Authorization") or h.get("authorization") for h in llm.headers}
    assert auth == {f"Bearer {KEY}"}, auth  # the key named in the form reached the endpoint, every time


# ------------------------------------------------------------------ small helpers (user actions)

# A page with a chat box (the Playground) draws its main area in this container instead of stMain.
MAIN = ":is([data-testid=stMain], [data-testid=stAppScrollToBottomContainer])"


def page_text(d) -> str:
    """The page's own text (not the sidebar), on any page."""
    return d.find_element(By.CSS_SELECTOR, MAIN).text


def open_page(d, page, title, timeout=60):
    """Click the page's sidebar link and wait for its title (``go`` for pages with a chat box too)."""
    link = _until(d, lambda x: x.find_element(
        By.CSS_SELECTOR, f'[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]:has(span[label="{page}"])'),
        message=f"no sidebar link {page!r}")
    link.click()
    _until(d, lambda x: any(h.text.strip() == title for h in x.find_elements(By.CSS_SELECTOR, f"{MAIN} h1")),
           timeout, f"page {title!r} never opened")


def wait_page(d, text, timeout=30):
    _until(d, lambda x: text in page_text(x), timeout, f"{text!r} never appeared on the page")


def shoot_at(d, folder, name, text):
    """``shoot`` with the element holding ``text`` scrolled into view, on any page."""
    found = d.execute_script("""
        for (const e of document.querySelectorAll(arguments[1] + ' *')) {
            if (e.textContent.includes(arguments[0])
                && !Array.from(e.children).some(c => c.textContent.includes(arguments[0]))) {
                e.scrollIntoView({block: 'center'}); return true;
            }
        }
        return false;""", text, MAIN)
    assert found, f"{text!r} not on the page for the screenshot"
    time.sleep(0.3)  # let the scroll settle before the picture
    return shoot(d, folder, name)

def choose(d, label, option_text, timeout=30):
    """Pick the option containing ``option_text`` in the multiselect labelled ``label``, then close it."""
    def box(x):
        return next((m for m in x.find_elements(By.CSS_SELECTOR, f'{MAIN} [data-testid="stMultiSelect"]')
                     if m.text.split("\n")[0].strip() == label), False)

    def field(x):
        return box(x) and box(x).find_element(By.TAG_NAME, "input")

    def scrolled(x):   # each step finds the field again: a rerun of the page may have replaced it
        found = field(x)
        if found:
            x.execute_script("arguments[0].scrollIntoView({block: 'center'});", found)
        return found

    def open_and_pick(x):
        try:
            found = field(x)
            if not found:
                return False
            found.click()
            option = next((o for o in x.find_elements(By.CSS_SELECTOR, '[role="option"]') if option_text in o.text),
                          None)
            if option is None:
                return False
            option.click()
            return True
        except (ElementClickInterceptedException, StaleElementReferenceException):
            return False

    _until(d, scrolled, timeout, f"no multiselect {label!r}")
    _until(d, open_and_pick, timeout, f"{option_text!r} is not offered in {label!r}")
    _until(d, lambda x: bool(box(x)) and option_text in box(x).text, timeout, f"{option_text!r} was not chosen in {label!r}")
    d.switch_to.active_element.send_keys(Keys.ESCAPE)  # close the dropdown


def type_new_option(d, label, value):
    """Type a new name into the selectbox labelled ``label`` (one that accepts new options) and take it."""
    box = _until(d, lambda x: next((b for b in x.find_elements(By.CSS_SELECTOR, f"{MAIN} "
                                                                                "[data-testid=stSelectbox]")
                                    if b.text.split("\n")[0].strip() == label), False), message=f"no {label!r}")
    field = box.find_element(By.TAG_NAME, "input")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'});", field)
    field.click()
    field.send_keys(value)
    _until(d, lambda x: any(value in o.text for o in x.find_elements(By.CSS_SELECTOR, '[role="option"]')),
           message=f"{value!r} is not offered as a new option")
    field.send_keys(Keys.ENTER)
    _until(d, lambda x: field.get_attribute("value") == value or value in box.text, message=f"{label!r} did not "
                                                                                            f"take {value!r}")


def column_of(d, title):
    """The page column whose heading is ``title`` (a playground system)."""
    return _until(d, lambda x: next((c for c in x.find_elements(By.CSS_SELECTOR, f"{MAIN} "
                                                                                 "[data-testid=stColumn]")
                                     if any(h.text.strip() == title for h in c.find_elements(By.TAG_NAME, "h3"))),
                                    False), message=f"no column {title!r}")


def captions(element) -> list[str]:
    return [c.text.strip() for c in element.find_elements(By.CSS_SELECTOR, '[data-testid="stCaptionContainer"]')]


# ------------------------------------------------------------------ the steps

def compare_with_api(shots, url, d, llm):
    """Compare: upload two prompts, add the loopback endpoint, base + API system, generate, read the cards."""
    d.get(url)
    wait_for_text(d, "Project overview", timeout=60)
    go(d, "Compare", "Compare")
    wait_main(d, "Add a prompt set to start", timeout=60)
    prompts = shots / "安规问答.jsonl"
    prompts.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in PROMPTS) + "\n", encoding="utf-8")
    upload = _until(d, lambda x: x.find_element(By.CSS_SELECTOR, "input[type=file]"), message="no file input")
    upload.send_keys(str(prompts))
    click_button(d, "Import prompts", timeout=60)
    wait_main(d, "2 prompts: 安规问答", timeout=60)

    # 1. the API system: label, model, the loopback server's URL and the NAME of the key's variable
    open_expander(d, "Add an API system")
    set_field(d, "Label", API_LABEL)
    set_field(d, "Model", API_MODEL)
    set_field(d, "Base URL", llm.url)
    set_field(d, "Key variable (optional)", KEY_ENV)
    click_button(d, "Save API system")
    wait_main(d, f"Saved {API_LABEL}: choose it under API systems", timeout=60)
    shoot(d, shots, "10-compare-api-saved", f"Saved {API_LABEL}")

    # 2. systems: the base model (ticked by default) and the API system; generate. The page has just said
    # "choose it under API systems", so the API systems box must offer it now, without another click first.
    choose(d, "API systems", API_LABEL)
    set_field(d, "Max new tokens", 16)
    click_button(d, "Open comparison")
    click_button(d, "Generate 4 outputs", timeout=60)
    wait_main(d, "Generated 4 outputs (0 from the cache)", timeout=300)
    wait_main(d, "rated 0 / 4 outputs")
    asked = sorted(r["messages"][-1]["content"] for r in llm.requests)
    assert asked == sorted(p["prompt"] for p in PROMPTS), asked  # one request per prompt
    check_compare_cards(d)
    shoot(d, shots, "11-compare-base-and-api", ANSWER + PROMPTS[0]["prompt"])


def check_compare_cards(d):
    """Each prompt's card: the base's output and the API system's answer to that very prompt, side by side."""
    def cards(x):
        found = [f for f in x.find_elements(By.CSS_SELECTOR, "[data-testid=stMain] [data-testid=stForm]")
                 if "Save ratings" in f.text]
        return found if len(found) == len(PROMPTS) else False

    api_name = f"{API_LABEL} ({API_MODEL})"
    for prompt, card in zip(PROMPTS, _until(d, cards, 60, "not one rating card per prompt")):
        columns = card.find_elements(By.CSS_SELECTOR, "[data-testid=stColumn]")
        by_name = {c.text.split("\n")[0].strip(): c for c in columns}
        assert set(by_name) == {BASE, api_name}, list(by_name)
        api_text = by_name[api_name].find_element(By.CSS_SELECTOR, "[data-testid=stText]").text.strip()
        assert api_text == ANSWER + prompt["prompt"], api_text
        base_text = by_name[BASE].find_element(By.CSS_SELECTOR, "[data-testid=stText]").text.strip()
        assert base_text and base_text != api_text, base_text  # the base wrote something (or says why it is empty)
    assert KEY not in body_text(d)


def playground(shots, d, llm):
    """Playground: the base model and the API system, one Chinese message, both answers, save one as a sample."""
    open_page(d, "Playground", "Playground", timeout=180)  # its first open imports the model libraries
    wait_page(d, "Systems (up to four)", timeout=60)
    choose(d, "Systems (up to four)", API_LABEL)  # the base model is chosen already; the API system is offered
    for setting in ("Temperature", "Top-p", "Seed"):  # the decoding settings are in view
        assert d.find_elements(By.CSS_SELECTOR, f'input[aria-label="{setting}"]'), setting
    set_field(d, "Max new tokens", 16)
    # a person types the message once the page has taken the number (else its rerun stops the answer): on a
    # loaded machine that rerun can start a second after Enter, so the page must stay idle for a while
    quiet_since = [time.monotonic()]

    def idle_for_a_while(x):
        if any("Running" in r.text for r in x.find_elements(By.CSS_SELECTOR, "[data-testid=stStatusWidget]")):
            quiet_since[0] = time.monotonic()
        return time.monotonic() - quiet_since[0] >= 2.0

    _until(d, idle_for_a_while, 120, "the page never settled after Max new tokens")
    base_col, api_col = column_of(d, BASE), column_of(d, API_LABEL)
    assert "base model" in captions(base_col) and f"API · {API_MODEL}" in captions(api_col)
    sent = len(llm.requests)
    box = _until(d, lambda x: x.find_element(By.CSS_SELECTOR, '[data-testid="stChatInputTextArea"]'),
                 message="no chat box")
    box.send_keys(MESSAGE, Keys.ENTER)

    def answered(x):  # both columns end their answer with a note on how it ended
        cols = [column_of(x, BASE), column_of(x, API_LABEL)]
        notes = [captions(c)[1:] for c in cols]
        return notes if all(notes) and "Save as sample" in column_of(x, API_LABEL).text else False

    base_notes, api_notes = _until(d, answered, 240, "the two answers never ended")
    api_col = column_of(d, API_LABEL)
    assert MESSAGE in api_col.text and ANSWER + MESSAGE in api_col.text, api_col.text
    assert api_notes[0].startswith("ended by the model · "), api_notes  # how it ended · tokens · seconds
    assert any(n.startswith(("ended by the model", "max new tokens reached", "No text:")) for n in base_notes), \
        base_notes
    request = llm.requests[sent]
    assert request["stream"] is True and request["messages"][-1] == {"role": "user", "content": MESSAGE}
    assert request["max_tokens"] == 16 and len(llm.requests) == sent + 1
    shoot_at(d, shots, "20-playground-answers", ANSWER + MESSAGE)

    # 3. keep the API system's answer as a sample in a new dataset
    type_new_option(d, "Save exchanges into", TARGET)
    save = _until(d, lambda x: next((b for b in column_of(x, API_LABEL).find_elements(By.TAG_NAME, "button")
                                     if "Save as sample" in b.text and b.is_enabled()), False),
                  message="no enabled Save as sample under the API system")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'});", save)
    save.click()
    wait_for_text(d, f"Saved into {TARGET} as pending (0 earlier turns as history)", timeout=60)
    shoot_at(d, shots, "21-playground-saved", "Save exchanges into")
    assert KEY not in body_text(d)


def review(shots, d):
    """Review: the new dataset holds one sample, pending: the message and the API system's answer."""
    go(d, "Review", "Review")
    _until(d, lambda x: f"{TARGET} · 1 pending of 1" in selectbox_shows(x, "Dataset"), 60,
           f"{TARGET} does not show 1 pending sample")
    set_field(d, "Reviewer", "张工")
    wait_main(d, "Sample 1 of 1", timeout=60)
    assert "pending: 1" in main_text(d)

    def field(label):
        return d.find_element(By.CSS_SELECTOR, f'textarea[aria-label="{label}"]').get_attribute("value")

    _until(d, lambda x: field("Instruction") == MESSAGE, message="the sample's instruction is not the message")
    assert field("Output") == ANSWER + MESSAGE
    shoot(d, shots, "30-review-pending", "Sample 1 of 1")
