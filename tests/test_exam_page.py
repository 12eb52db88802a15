"""The Import exam bank and Convert pages in AppTest: upload, adjust a mapping, preview, import, convert."""
from streamlit.testing.v1 import AppTest

from store import db
from studio.service import jobs
from tests.conftest import DATA, ROOT

LV = DATA / "exam/power_safety/low_voltage_electrician_first_option_correct.xlsx"


def metrics(at):
    return {m.label: m.value for m in at.metric}


def test_upload_map_preview_import_convert(studio_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/import_exam.py").run()
    assert not at.exception, at.exception
    at.file_uploader(key="exam_file").set_value((LV.name, LV.read_bytes(), "application/octet-stream"))
    at.run()
    assert not at.exception, at.exception
    assert metrics(at) == {"Rows": "918", "Valid": "516", "Invalid": "402", "Duplicates": "1"}
    assert any("no answer column" in i.value for i in at.info)
    assert at.button(key="exam_import_all").disabled
    errors = [d.value for d in at.dataframe if "reason" in d.value.columns]
    assert len(errors[0]) == 402 and set(errors[0]["reason"]) == {"missing answer"}
    # adjust the mapping: sheet xz's first option is its answer
    at.selectbox(key="exam_map_xz_answer").set_value(2)
    at.text_input(key="exam_dataset").set_value("低压电工")
    at.run()
    assert metrics(at)["Invalid"] == "0" and metrics(at)["Valid"] == "918"
    assert db.scalar("SELECT count(*) FROM exam_questions") == 0  # a preview writes nothing
    at.button(key="exam_import_all").click().run()
    assert not at.exception, at.exception
    assert any("Imported 918 questions" in s.value for s in at.success)
    assert db.scalar("SELECT count(*) FROM exam_questions") == 918

    at.switch_page("pages/convert.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="convert_dataset").set_value("低压电工").run()
    at.radio(key="convert_to").set_value("choice").run()
    assert "A. 他人" in at.code[0].value and '"summary": "A. 他人"' in at.code[0].value
    at.number_input(key="convert_shuffle").set_value(1).run()
    at.button(key="convert_go").click().run()
    jobs.wait(at.session_state["convert_job"], timeout=120)   # the conversion is a job of the server
    at.run()
    assert not at.exception, at.exception
    assert any("Wrote 1320 pairs into **低压电工-choice**" in s.value for s in at.success), [s.value for s in at.success]
    assert db.scalar("SELECT count(*) FROM samples WHERE origin = 'exam-choice'") == 918 + 402


def test_partial_import_and_error_report(studio_env):
    f = DATA / "exam/electrician/diangong_choose_gbk_noheader.csv"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/import_exam.py").run()
    at.file_uploader(key="exam_file").set_value((f.name, f.read_bytes(), "text/csv")).run()
    assert metrics(at)["Invalid"] == "1"
    assert at.get("download_button")
    at.button(key="exam_import_valid").click().run()
    assert any("Imported 1083 questions" in s.value and "rejected 1" in s.value for s in at.success)


def test_garbage_upload_shows_one_error(studio_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/import_exam.py").run()
    at.file_uploader(key="exam_file").set_value(("bank.xlsx", b"\x00not a workbook" * 50, "application/octet-stream"))
    at.run()
    assert not at.exception
    assert len(at.error) == 1 and "bank.xlsx" in at.error[0].value


def test_convert_page_without_banks_and_with_template_editing(studio_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/convert.py").run()
    assert any("No exam bank yet" in i.value for i in at.info)
    from studio.project.demo_exams import load_demo

    load_demo()
    at.run()
    assert not at.exception, at.exception
    assert '"content": "雷雨天气，需要巡视室外高压设备时，应穿___，并不准靠近避雷器和避雷针。", "summary": "绝缘靴"' in at.code[0].value
    at.text_area(key="convert_ins_qa").set_value("问：{question}").run()
    assert '"content": "问：雷雨天气' in at.code[0].value
    at.text_input(key="convert_new_name").set_value("问答体")
    at.button(key="convert_save").click().run()
    assert any("Saved template 问答体" in s.value for s in at.success)
    at.text_area(key="convert_ins_qa").set_value("{oops}").run()
    assert any("unknown placeholder {oops}" in e.value for e in at.error)


def test_a_failing_mapping_can_be_changed_back(studio_env):
    """A mapping that makes the file unreadable used to hide the mapping selects: the user was stuck."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/import_exam.py").run()
    at.file_uploader(key="exam_file").set_value((LV.name, LV.read_bytes(), "application/octet-stream")).run()
    at.selectbox(key="exam_map_pd_question").set_value("none").run()
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "no question column" in at.error[0].value and "sheet pd" in at.error[0].value
    assert at.selectbox(key="exam_map_pd_question").value == "none"  # still there to change back
    at.button(key="exam_reset_mapping").click().run()
    assert not at.error and metrics(at)["Valid"] == "516"
    assert all("page" in i.value for i in at.info if "--" in i.value)  # a page user is told where to act


def test_another_upload_starts_from_its_own_name_and_mapping(studio_env):
    """The dataset name, sheets and mapping of the previous upload used to stick to the next file."""
    other = DATA / "exam/other_layouts/linux_options_in_one_cell.xlsx"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/import_exam.py").run()
    at.file_uploader(key="exam_file").set_value((LV.name, LV.read_bytes(), "application/octet-stream")).run()
    at.selectbox(key="exam_map_xz_answer").set_value(2).run()
    at.file_uploader(key="exam_file").set_value((other.name, other.read_bytes(), "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert at.text_input(key="exam_dataset").value == "linux_options_in_one_cell"
    assert at.multiselect(key="exam_sheets").value == ["Sheet1"]
    assert metrics(at) == {"Rows": "4", "Valid": "4", "Invalid": "0", "Duplicates": "0"}


def test_importing_the_same_bank_again_asks_first(studio_env):
    f = DATA / "exam/ceval_format/evalscope_example_val_current.csv"
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/import_exam.py").run()
    at.file_uploader(key="exam_file").set_value((f.name, f.read_bytes(), "text/csv")).run()
    at.button(key="exam_import_all").click().run()
    assert any("Imported 12 questions" in s.value for s in at.success)
    at.run()
    assert any("already in" in w.value for w in at.warning)
    assert at.button(key="exam_import_all").disabled
    at.checkbox(key="exam_import_again").check().run()
    assert not at.button(key="exam_import_all").disabled
    assert db.scalar("SELECT count(*) FROM exam_questions") == 12
