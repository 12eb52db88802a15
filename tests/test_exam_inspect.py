"""The mapping screen: ``python -m studio inspect exam`` (nothing written) and the page's per-sheet mapping
(header row, each field's column with its header text, a sample and why, the type source, counts, first
errors; several answer columns; a chosen header row; the controls stay open while editing)."""
import json
import time

from streamlit.testing.v1 import AppTest

from store import db
from tests.conftest import ROOT, held_database, run_cli
from tests.exam_layout_fixtures import TEMPLATE_HEADER, upload_template_workbook, write_xlsx


def test_inspect_exam_json_per_sheet_and_nothing_written(studio_env, tmp_path):
    f = upload_template_workbook(tmp_path / "模板.xlsx")
    dbfile = tmp_path / "never.duckdb"
    r = run_cli("inspect", "exam", str(f), "--json", "--db", str(dbfile))
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert not dbfile.exists()  # nothing written, not even a database
    assert s["valid"] == 10 and s["invalid"] == 0
    assert s["by_type"] == {"single": 3, "multi": 2, "judge": 2, "blank": 2, "open": 1}
    assert [x["sheet"] for x in s["sheets"]] == ["单选题", "多选题", "判断题", "填空题", "问答题"]
    assert any("填写说明" in x for x in s["skipped"])
    single = s["sheets"][0]
    assert single["header_row"] == 2 and single["by_type"]["single"] == 3
    assert single["fields"]["A"] == {"columns": [2], "headers": ["选项A（必填）"], "sample": "雨鞋",
                                     "why": "header '选项A（必填）'"}
    assert single["fields"]["answer"]["headers"] == ["正确答案（必填）"]
    assert "sheet's name" in single["type_source"]
    cloze = s["sheets"][3]
    assert cloze["fields"]["answer"]["columns"] == list(range(2, 14))
    assert "joined in order" in cloze["fields"]["answer"]["why"]


def test_inspect_exam_text_names_sheets_errors_and_flags(studio_env, tmp_path):
    rows = [["题库"], TEMPLATE_HEADER, ["应穿（ ）", "雨鞋", "绝缘靴", "布鞋", "拖鞋", "E", ""]]
    f = write_xlsx(tmp_path / "bad.xlsx", {"单选题": rows})
    r = run_cli("inspect", "exam", str(f), "--sheet", "单选题", "--header-row", "2")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "sheet 单选题: 1 data rows, header row 2" in out
    assert "A            2: 选项A（必填） e.g. '雨鞋'" in out
    assert "row 3: " in out and "E" in out.split("row 3: ")[1].splitlines()[0]
    r = run_cli("inspect", "exam", str(f), "--header-row", "x")
    assert r.returncode == 2 and "--header-row 'x'" in r.stderr
    r = run_cli("inspect", "exam", str(f), "--map", "answer=3+4", "--json")
    assert json.loads(r.stdout)["sheets"][0]["fields"]["answer"]["columns"] == [3, 4]
    r = run_cli("import", "exam", "--help")
    assert "--header-row" in r.stdout and "answer=5+6+7" in r.stdout


def test_import_exam_cli_with_header_row_and_joined_answers(studio_env, tmp_path):
    f = tmp_path / "cloze.csv"
    f.write_text("说明：第一行是标题\n题目,空1,空2\n_(1)_和_(2)_,甲,乙\n", encoding="utf-8")
    r = run_cli("import", "exam", str(f), "--dataset", "cloze", "--header-row", "2", "--map", "type=", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["by_type"]["blank"] == 1


def _page(studio_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("pages/import_exam.py").run()
    return at


def test_page_shows_the_mapping_per_sheet_and_keeps_it_open(studio_env, tmp_path):
    f = upload_template_workbook(tmp_path / "模板.xlsx")
    at = _page(studio_env)
    at.file_uploader(key="exam_file").set_value((f.name, f.read_bytes(), "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric} == {"Rows": "10", "Valid": "10", "Invalid": "0", "Duplicates": "0"}
    text = " ".join(m.value for m in at.markdown)
    assert "**Sheet 单选题** · 3 data rows · header row 2 · single 3" in text
    assert any("填写说明" in i.value and "not a question bank" in i.value for i in at.info)
    tables = [d.value for d in at.dataframe if "why" in d.value.columns]
    assert len(tables) == 5
    single = tables[0].set_index("field")
    assert single.loc["A", "column"] == "2: 选项A（必填）" and single.loc["A", "sample"] == "雨鞋"
    assert single.loc["answer", "why"] == "header '正确答案（必填）'"
    assert any("Type: the sheet's name '单选题'" in c.value for c in at.caption)
    # the choices show header text and a sample value
    box = at.selectbox(key="exam_map_单选题_answer")
    assert "6: 正确答案（必填） · e.g. B" in box.options
    # join answer columns by hand on the cloze sheet, choose its header row: re-previewed, expander open
    at.multiselect(key="exam_map_填空题__answers").set_value([3, 2])
    at.selectbox(key="exam_map_填空题__header").set_value(2)
    t = time.perf_counter()
    at.run()
    assert not at.exception, at.exception
    assert time.perf_counter() - t < 30
    [exp] = [e for e in at.expander if e.label == "Change the mapping of sheet 填空题"]
    assert exp.proto.expanded  # open while you edit
    rows = [d.value for d in at.dataframe if "answer_text" in d.value.columns][0]
    assert list(rows[rows["sheet"] == "填空题"]["answer_text"]) == ["遮栏；验电", "禁止"]
    at.button(key="exam_reset_mapping").click().run()
    at.button(key="exam_import_all").click().run()
    assert not at.exception, at.exception
    assert any("Imported 10 questions" in s.value for s in at.success)
    assert db.scalar("SELECT count(*) FROM exam_questions") == 10


def test_inspect_works_while_another_process_holds_the_database(studio_env, tmp_path):
    path = tmp_path / "held.duckdb"
    with held_database(path):
        f = upload_template_workbook(tmp_path / "t.xlsx")
        r = run_cli("inspect", "exam", str(f), "--db", str(path), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["valid"] == 10
