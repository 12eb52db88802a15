"""AppTest checks from the UX pass over Home, Snapshots, Export, Train and Runs: each one a bug seen in
the browser (a default that cannot work, an action offered on unusable input, a hint that was missing)."""
from streamlit.testing.v1 import AppTest

from store import datasets, db
from studio.data import overview, snapshots
from tests.conftest import ROOT


def seed():
    """An exam bank, a corpus, a dataset with only pending samples (first by name) and one with accepted."""
    pend = datasets.create("A待审", "samples")
    acc = datasets.create("B已审", "samples")
    cur = db.cursor()
    cur.execute("INSERT INTO samples (dataset_id, instruction, output, status, origin) "
                "SELECT ?, '待审' || i, '答', 'pending', 'cloze' FROM range(3) t(i)", [pend])
    cur.execute("INSERT INTO samples (dataset_id, instruction, output, status, origin, qtype) "
                "SELECT ?, '第' || i || '题 雷雨天气巡视', '绝缘靴' || i, 'accepted', 'exam-qa', 'single' "
                "FROM range(12) t(i)", [acc])
    datasets.create("题库", "exam")
    datasets.create("规程", "corpus")


def open_page(page):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def test_home_says_what_to_do_next_per_dataset():
    seed()
    at = open_page("pages/home.py")
    links = {p.label for p in at.get("page_link")}
    assert "review 3 pending samples" in links
    assert "freeze its 12 accepted samples into a snapshot" in links
    assert "import an exam bank into it" in links and "import documents into it" in links
    table = at.dataframe[0].value
    status_cols = [c for c in table.columns if c.startswith("status: ")]
    assert status_cols == ["status: pending", "status: accepted"]  # grouped, in workflow order
    snapshots.create("B已审")
    at = open_page("pages/home.py")
    assert any(p.label.startswith("train an adapter on snapshot") for p in at.get("page_link"))


def test_next_step_follows_the_loop():
    d = {"kind": "samples", "samples": 4, "by_status": {"accepted": 4}}
    assert overview.next_step(d, {"snapshots": 1, "latest_snapshot": "abc", "runs": 1, "runs_done": 1})[1] == "compare"
    assert overview.next_step(d, {"snapshots": 1, "runs": 1, "runs_done": 0})[1] == "runs"
    assert overview.next_step({"kind": "exam", "questions": 5}, {"derived_from_questions": 0})[1] == "convert"


def test_snapshot_and_train_pickers_offer_a_dataset_that_has_accepted_samples():
    seed()
    at = open_page("pages/snapshots.py")
    box = at.selectbox(key="snapshots_dataset")
    assert box.value == "B已审" and box.format_func("A待审") == "A待审 (0 accepted)"
    at.button[0].click().run()  # create with the defaults: works, no error
    assert not at.error and any("Created snapshot" in s.value for s in at.success)
    # one snapshot: nothing to compare it with, so no self-comparison of zeros
    assert not at.metric and any("Freeze the dataset again" in c.value for c in at.caption)

    at = open_page("pages/train.py")
    at.radio(key="train_source").set_value("Dataset (snapshot it now)").run()
    box = at.selectbox(key="train_dataset")
    assert box.value == "B已审" and "12 accepted" in box.format_func("B已审")


def test_export_refuses_a_name_outside_the_folder_before_the_click(studio_env):
    seed()
    at = open_page("pages/export.py")
    out_key = next(t.key for t in at.text_input if t.key.startswith("export_out_"))
    at.text_input(key=out_key).set_value("../x").run()
    assert len(at.error) == 1 and "inside the export folder" in at.error[0].value
    assert at.button(key="export_go").disabled
    at.text_input(key=out_key).set_value("").run()
    assert len(at.error) == 1 and at.button(key="export_go").disabled
    assert not (studio_env.parent / "x").exists()


def test_compare_keeps_the_comparison_and_the_rater_in_the_url(demo_model):
    from studio.evaluate import comparisons
    from studio.evaluate import prompt_sets as prompts

    set_id = prompts.save("安规两问", "test", [{"prompt": "雷雨天气巡视应穿什么？", "category": "安规"},
                                             {"prompt": "工作票有效期多久？", "category": "安规"}])
    if isinstance(set_id, dict):
        set_id = set_id.get("prompt_set", set_id.get("id"))
    first = comparisons.open_comparison(set_id, [], base_model=str(demo_model), name="第一")["id"]
    second = comparisons.open_comparison(set_id, [], base_model=str(demo_model), max_new_tokens=8, name="第二")["id"]
    assert first != second
    at = open_page("pages/compare.py")
    at.selectbox(key="compare_id").set_value(first).run()
    at.text_input(key="compare_rater").input("张工").run()
    assert at.query_params["rater"] in ("张工", ["张工"]) and at.query_params["comparison"] in (str(first), [str(first)])

    # a reload is a new session with the same URL: the same comparison, the same rater
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    again.query_params["comparison"] = str(first)
    again.query_params["rater"] = "张工"
    again.run()
    again.switch_page("pages/compare.py").run()
    assert not again.exception, again.exception
    assert again.selectbox(key="compare_id").value == first
    assert again.text_input(key="compare_rater").value == "张工"


def test_export_writes_and_offers_the_folder_as_a_zip(studio_env):
    import io
    import json
    import zipfile

    from studio.data import export

    seed()
    at = open_page("pages/export.py")
    out_key = next(t.key for t in at.text_input if t.key.startswith("export_out_"))
    at.text_input(key=out_key).set_value("b-alpaca").run()
    at.button(key="export_go").click().run()
    from studio.service import jobs

    jobs.wait(at.session_state["export_job"], timeout=60)  # the export is a job of the server
    at.run()
    assert not at.exception and any("Written to" in s.value for s in at.success)
    folder = studio_env / "exports" / "b-alpaca"
    assert (folder / "README.md").exists()
    names = zipfile.ZipFile(io.BytesIO(export.zip_folder(folder))).namelist()
    assert "b-alpaca/README.md" in names and "b-alpaca/dataset_info.json" in names
    info = json.loads(zipfile.ZipFile(io.BytesIO(export.zip_folder(folder))).read("b-alpaca/dataset_info.json"))
    assert info  # LLaMA-Factory's registry travels with the download
