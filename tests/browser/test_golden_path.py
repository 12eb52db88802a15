"""The golden path in a real headless Chromium against one real `streamlit run`, in one browser session.

A domain expert's day, all through the pages (navigating with the sidebar, never seeding the database):
Home (empty) -> Import exam bank (upload a real C-Eval-layout bank, preview counts by type, import) ->
Convert (QA pairs) -> Snapshots (freeze) -> Train (LoRA on the snapshot with the demo base model, a few
steps set in the fields) -> Runs (live loss curve until done) -> Compare (base vs the run on the bank's
first questions, generate, rate one output) -> Results (the rating counted and in the table) -> Home
(the counts). The only thing put in place outside the UI is the tiny demo model in ``STUDIO_MODELS``,
where a user drops a downloaded model folder. A screenshot per step lands in the test's tmp folder.
"""
import shutil
import time

import pytest
from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.conftest import screenshot, wait_for_text
from tests.conftest import DATA

pytestmark = pytest.mark.browser

BANK = DATA / "exam/ceval_format/evalscope_example_val_current.csv"  # 12 single-choice questions
DATASET = "evalscope_example_val_current"
PAIRS = f"{DATASET}-qa"
STEPS = 10
RUN_NAME = "电工LoRA"


# ------------------------------------------------------------------ small Selenium helpers (user actions)

def _until(driver, check, timeout=30, message=""):
    return WebDriverWait(driver, timeout, poll_frequency=0.2,
                         ignored_exceptions=(StaleElementReferenceException,)).until(check, message=message)


def body_text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def main_text(driver) -> str:
    """The page's own text (not the sidebar's navigation labels)."""
    return driver.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text


def go(driver, page: str, title: str, timeout=60):
    """Click the page's link in the sidebar (same session) and wait for its title."""
    link = _until(driver, lambda d: d.find_element(
        By.CSS_SELECTOR, f'[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]:has(span[label="{page}"])'),
        message=f"no sidebar link {page!r}")
    link.click()
    _until(driver, lambda d: any(h.text.strip() == title
                                 for h in d.find_elements(By.CSS_SELECTOR, "[data-testid=stMain] h1")),
           timeout, f"page {title!r} never opened")


def click_button(driver, label, timeout=30, exact=False):
    """Click the enabled button whose text is (or contains) ``label``."""
    def find(d):
        for b in d.find_elements(By.TAG_NAME, "button"):
            text = b.text.strip()
            if (text == label if exact else label in text) and b.is_enabled() and b.is_displayed():
                return b
        return False

    button = _until(driver, find, timeout, f"no enabled button {label!r}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()


def set_field(driver, label, value, prefix=False):
    """Type into the text or number input labelled ``label`` (or starting so) and commit it (Enter)."""
    css = f'input[aria-label{"^" if prefix else ""}="{label}"]'

    def focus(d):
        box = d.find_element(By.CSS_SELECTOR, css)
        d.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
        try:
            box.click()  # refused while an expander still animates open: try again
        except ElementClickInterceptedException:
            return False
        return box

    box = _until(driver, focus, message=f"no clickable field {label!r}")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.ENTER)
    _until(driver, lambda d: d.find_element(By.CSS_SELECTOR, css).get_attribute("value") == str(value),
           message=f"{label!r} did not take {value!r}")


def open_expander(driver, label):
    """Open the expander whose header starts with ``label`` (its text: the icon's name, a new line, the header)."""
    def find(d):
        for s in d.find_elements(By.CSS_SELECTOR, "[data-testid=stExpander] summary"):
            if s.text.split("\n")[-1].startswith(label):
                return s
        return False

    summary = _until(driver, find, message=f"no expander {label!r}")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", summary)
    if summary.find_element(By.XPATH, "..").get_attribute("open") is None:
        summary.click()


def metric(driver, label) -> str:
    """The value shown by the st.metric labelled ``label`` ('' when absent)."""
    for m in driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
        lab = m.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]')
        val = m.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricValue"]')
        if lab and val and lab[0].text.strip() == label:
            return val[0].text.strip()
    return ""


def wait_metric(driver, label, value, timeout=30):
    _until(driver, lambda d: metric(d, label) == value, timeout,
           f"metric {label!r} never showed {value!r} (shows {metric(driver, label)!r})")


def selectbox_shows(driver, label) -> str:
    """What the selectbox labelled ``label`` shows (its label, the chosen value)."""
    return driver.execute_script("""
        for (const box of document.querySelectorAll('[data-testid=stMain] [data-testid=stSelectbox]')) {
            const text = box.innerText;
            if (text.split('\\n')[0].trim() !== arguments[0]) continue;
            const values = Array.from(box.querySelectorAll('input')).map(i => i.value);
            return [text, ...values].join('\\n');
        }
        return '';""", label)


def wait_main(driver, text, timeout=30):
    _until(driver, lambda d: text in main_text(d), timeout, f"{text!r} never appeared on the page")


def curve_points(driver) -> int:
    """Markers drawn on the run's loss chart (train and eval traces)."""
    return driver.execute_script(
        "const p = document.querySelector('.js-plotly-plot');"
        "return p ? p.querySelectorAll('.scatterlayer .trace .point').length : 0;")


def shoot(driver, folder, name, anchor_text=None):
    """Scroll the element holding ``anchor_text`` into view, then save the screenshot."""
    if anchor_text:
        el = driver.execute_script("""
            const want = arguments[0];
            const all = document.querySelectorAll('[data-testid=stMain] *');
            let best = null;
            for (const e of all) {
                if (e.textContent.includes(want)
                    && !Array.from(e.children).some(c => c.textContent.includes(want))) { best = e; break; }
            }
            if (best) best.scrollIntoView({block: 'center'});
            return best !== null;""", anchor_text)
        assert el, f"{anchor_text!r} not on the page for the screenshot"
        time.sleep(0.3)  # let the smooth scroll settle before the picture
    path = screenshot(driver, folder, name)
    assert path.stat().st_size > 10_000
    return path


# ------------------------------------------------------------------ the test

@pytest.fixture
def models_folder(studio_env, demo_model):
    """Where the Train page looks for base models: a copy of the tiny demo model, before the server starts."""
    shutil.copytree(demo_model, studio_env / "models" / "demo-tiny-llama")
    return studio_env / "models"


def test_golden_path_in_chromium(studio_env, models_folder, studio_server, browser):
    try:
        golden_path(studio_env, studio_server, browser)
    except BaseException:
        screenshot(browser, studio_env, "zz-failure")  # what the page showed when it failed
        raise


def golden_path(shots, url, d):
    # 0. Home: an empty project on a fresh database
    d.get(url)
    wait_for_text(d, "Project overview", timeout=60)
    wait_for_text(d, "No datasets yet")
    body = body_text(d)
    assert "Database file" in body and "studio.duckdb" in body
    shoot(d, shots, "00-home-empty")

    # 1. Import exam bank: upload, preview with counts by type, import
    go(d, "Import exam bank", "Import exam bank")
    upload = _until(d, lambda x: x.find_element(By.CSS_SELECTOR, "input[type=file]"), message="no file input")
    upload.send_keys(str(BANK))
    wait_main(d, "First parsed rows", timeout=60)
    wait_metric(d, "Rows", "12")
    wait_metric(d, "Valid", "12")
    wait_metric(d, "Invalid", "0")
    _until(d, lambda x: "Valid questions by type" in x.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => p.textContent).join(' ')"),
        message="no chart of valid questions by type")
    bars = d.execute_script("return Array.from(document.querySelectorAll('.js-plotly-plot .bartext'))"
                            ".map(t => t.textContent)")
    assert "12" in bars, bars  # the single-choice bar is labelled with its count
    shoot(d, shots, "01a-import-preview", "Valid questions by type")
    click_button(d, "Import all 12 rows")
    wait_main(d, f"Imported 12 questions into {DATASET} (single 12); rejected 0.", timeout=60)
    shoot(d, shots, "01b-imported", "Imported 12 questions")

    # 2. Convert: QA pairs, the preview, then the result count
    go(d, "Convert", "Convert")
    wait_main(d, "Preview on the first rows", timeout=60)
    wait_main(d, "Questions: single 12")
    wait_main(d, '"summary": "343 m/s"')  # the answer letter became the answer text
    click_button(d, f"Convert into {PAIRS}")
    wait_main(d, f"Wrote 12 pairs into {PAIRS}.", timeout=60)
    shoot(d, shots, "02-converted", "Wrote 12 pairs")

    # 3. Snapshots: freeze the converted dataset
    go(d, "Snapshots", "Snapshots")
    _until(d, lambda x: PAIRS in selectbox_shows(x, "Dataset"), message="the converted dataset is not offered")
    click_button(d, "Create snapshot")
    wait_main(d, "Created snapshot", timeout=60)
    created = next(line for line in main_text(d).splitlines() if "Created snapshot" in line)
    n_train, n_val = [int(s) for s in
                      created.split(":")[-1].replace("train", "").replace("validation.", "").split("+")]
    assert n_train + n_val == 12 and n_train >= 10 and n_val >= 1, created
    snapshot_id = created.split("snapshot")[1].split(":")[0].strip().strip("`")
    shoot(d, shots, "03-snapshot", "Created snapshot")

    # 4. Train: LoRA on that snapshot with the demo model, a few steps set in the fields
    go(d, "Train", "Train")
    wait_main(d, "python -m trainers.sft", timeout=60)
    snap_box = selectbox_shows(d, "Snapshot")
    assert f"{snapshot_id} ·" in snap_box and f"({n_train} train / {n_val} validation)" in snap_box, snap_box
    assert "demo-tiny-llama (demo)" in selectbox_shows(d, "Base model")  # the copied model is offered, first
    set_field(d, "Max steps", STEPS, prefix=True)
    open_expander(d, "Advanced")  # the logging interval is an advanced setting
    set_field(d, "Log metrics every", 2, prefix=True)
    set_field(d, "Run name (optional)", RUN_NAME)
    shoot(d, shots, "04a-train-form", "Max steps")
    click_button(d, "Start", exact=True)
    wait_main(d, "Follow it on Runs", timeout=90)
    started = main_text(d)
    assert f"{n_train} rows" in started and f"{STEPS} steps." in started, started
    shoot(d, shots, "04b-train-started", "Follow it on Runs")
    link = next(a for a in d.find_elements(By.CSS_SELECTOR, "[data-testid=stMain] a") if "Follow it on Runs" in a.text)
    link.click()
    _until(d, lambda x: "Compare curves" in main_text(x), 60, "Runs did not open")
    assert RUN_NAME in selectbox_shows(d, "Run")
    # the detail view polls the run folder by itself: opened while the run starts, with no curve yet, it
    # turns to done with the loss curve drawn, and nobody reloads the page (on an idle machine the ten
    # steps take about a second, so the curve is not always caught mid-run)
    live_points, deadline, seen = 0, time.time() + 150, []
    while (state := metric(d, "State")) != "done":
        assert state != "failed", main_text(d)
        assert time.time() < deadline, f"the run never finished: {seen}"
        points = curve_points(d)
        if state == "running":
            live_points = max(live_points, points)
        if state and (not seen or seen[-1][1:] != (state, points)):
            seen.append((round(time.time() - deadline + 150, 1), state, points))
        time.sleep(0.25)
    assert seen and seen[0][1] in ("queued", "starting", "running"), f"the run was over before Runs opened: {seen}"
    wait_metric(d, "Step", f"{STEPS}/{STEPS}")
    assert metric(d, "Train loss") not in ("", "–")
    _until(d, lambda x: curve_points(x) >= max(live_points, seen[0][2] + STEPS // 2),  # a loss every 2 steps
           message=f"the curve did not grow by itself: {seen}")
    shoot(d, shots, "04c-run-done", "Train loss")

    # 5. Compare: the bank's first 3 questions, base vs the run, generate, rate one output
    go(d, "Compare", "Compare")
    tab = _until(d, lambda x: next((t for t in x.find_elements(By.CSS_SELECTOR, '[role="tab"]')
                                    if t.text.strip() == "Exam dataset"), False), 60, "no Exam dataset tab")
    tab.click()
    set_field(d, "First N questions (0: all)", 3)
    click_button(d, "Use its questions")
    wait_main(d, "3 prompts:", timeout=60)
    # choose the run in the Runs multiselect (base model stays ticked)
    select = _until(d, lambda x: x.find_element(By.CSS_SELECTOR, '[data-testid="stMultiSelect"] input'),
                    message="no Runs multiselect")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'});", select)
    select.click()
    option = _until(d, lambda x: next((o for o in x.find_elements(By.CSS_SELECTOR, '[role="option"]')
                                       if RUN_NAME in o.text), False), message="the run is not offered")
    option.click()
    _until(d, lambda x: RUN_NAME in x.find_element(By.CSS_SELECTOR, '[data-testid="stMultiSelect"]').text,
           message="the run was not chosen")
    d.switch_to.active_element.send_keys(Keys.ESCAPE)  # close the dropdown
    set_field(d, "Max new tokens", 16)
    click_button(d, "Open comparison")
    click_button(d, "Generate 6 outputs", timeout=60)
    wait_main(d, "Generated 6 outputs (0 from the cache)", timeout=150)
    wait_main(d, "rated 0 / 6 outputs")
    set_field(d, "Your name (rater)", "张工")
    wait_main(d, "you 0")
    # the first prompt's card: its two outputs, base and the run, each with a 1-5 rating

    def rating_widgets(x):
        found = [r for r in x.find_elements(By.CSS_SELECTOR, '[data-testid="stRadio"]') if r.text.startswith("Rating")]
        return found if len(found) == 6 else False  # 3 prompts x 2 systems, each rated 1-5

    cards = _until(d, rating_widgets, message="not 6 rating widgets")
    card_text = d.execute_script("return arguments[0].closest('[data-testid=stForm]').innerText", cards[0])
    assert "base (demo-tiny-llama)" in card_text and RUN_NAME in card_text, card_text
    columns = d.execute_script("return Array.from(arguments[0].closest('[data-testid=stForm]')"
                               ".querySelectorAll('[data-testid=stColumn]')).map(c => c.innerText)", cards[0])
    run_col = next(i for i, c in enumerate(columns) if RUN_NAME in c)
    options = cards[run_col].find_elements(By.CSS_SELECTOR, 'label[data-testid="stRadioOption"]')
    assert [o.text for o in options] == ["1", "2", "3", "4", "5"]
    d.execute_script("arguments[0].scrollIntoView({block: 'center'});", options[3])
    options[3].click()  # the run's answer to question 1 gets a 4
    click_button(d, "Save ratings")
    wait_main(d, "rated 1 / 6 outputs · 1 raters · you 1", timeout=30)
    shoot(d, shots, "05-compare-rated", "Save ratings")

    # Results: the rating is counted and the run's mean is 4 in the table
    go(d, "Results", "Results")
    wait_metric(d, "Rated outputs", "1 / 6", timeout=60)
    wait_metric(d, "Raters", "1")
    wait_main(d, "Mean rating (1-5) with 95 % interval")
    table = _until(d, lambda x: next((t for t in x.find_elements(By.CSS_SELECTOR, "[data-testid=stMain] table")
                                      if RUN_NAME in t.text), False), message="no rating table with the run")
    header = [c.text for c in table.find_elements(By.CSS_SELECTOR, "thead th")]
    run_at = next(i for i, h in enumerate(header) if RUN_NAME in h)
    cells = [[c.text for c in row.find_elements(By.TAG_NAME, "td")]
             for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    base_at = next(i for i, h in enumerate(header) if h.startswith("base"))
    overall = next(row for row in cells if row[0] == "overall")
    assert float(overall[run_at]) == 4.0 and overall[base_at] in ("—", "--"), (header, cells)
    shoot(d, shots, "06-results", "Table (categories down, systems across)")

    # Home again: the project now has the bank, the pairs and the run
    go(d, "Home", "Project overview")
    for label, value in (("Datasets", "2"), ("Exam questions", "12"), ("Samples", "12"), ("Snapshots", "1"),
                         ("Runs", "1")):
        wait_metric(d, label, value, timeout=60)
    shoot(d, shots, "07-home-after")
