"""The exam-bank part of the studio in the user's words, in Chinese first.

- A broken file (not a workbook, cut short, damaged inside, protected, a Word document under another name, a
  header without rows, a bad JSON line, an empty file) is one line naming the file (and line) and the reason
  in our words, never a library's: from the readers, the page and the CLI (exit 2, no traceback), and
  nothing lands in the database.
- The numbers of a conversion have ranges checked in ``studio`` (the page and the CLI get the same check);
  the page's Convert button is disabled, saying why, while one is out of range.
- The Import exam bank page imports through a job (kind ``import-exam``): progress from the job row, then
  the summary; a new session finds the running import; a failing import shows its one line and lands
  nothing; one transaction (a crash in the middle writes nothing, Retry runs it again).
- The pages in zh show Chinese labels and buttons, and question types in the glossary's words.
"""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import docx
import openpyxl
import pytest

from store import datasets, db
from studio.core.errors import InputError
from studio.data.exams import importer, read
from studio.service import jobs
from tests.conftest import run_cli
from tests.test_data_jobs import (  # noqa: F401
    gate,
    open_page,
    progress_texts,
    settle,
    supervisor_stopped,
)
from tests.test_i18n import english_words, visible_texts

HEADER = ["题目", "选项A", "选项B", "答案"]


def good_xlsx(path: Path, rows=None) -> Path:
    wb = openpyxl.Workbook()
    wb.active.title = "题库"
    for r in rows or [HEADER] + [[f"第{i}题（ ）", "甲", "乙", "A"] for i in range(1, 41)]:
        wb.active.append(r)
    wb.save(path)
    return path


def good_docx(path: Path) -> Path:
    d = docx.Document()
    for i in range(1, 31):
        for line in (f"{i}、第{i}题（ ）", "A、甲", "B、乙", "答案：A"):
            d.add_paragraph(line)
    d.save(path)
    return path


def _rewritten(src: Path, dst: Path, part: str, data: bytes) -> Path:
    """``src`` (a zip) with one part's bytes replaced: a workbook damaged inside."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item, data if item.filename.endswith(part) else zin.read(item.filename))
    return dst


def _xls(sheets) -> bytes:
    from tests.xls_writer import biff8, ole2

    return ole2(biff8(sheets))


def broken(tmp: Path, kind: str) -> Path:
    """One broken exam-bank file of each class a user meets."""
    if kind == "not-excel":
        (p := tmp / "成绩单.xlsx").write_bytes(b"%PDF-1.4 a PDF renamed .xlsx\n" * 40)
    elif kind == "excel-cut":
        whole = good_xlsx(tmp / "whole.xlsx").read_bytes()
        (p := tmp / "题库.xlsx").write_bytes(whole[: len(whole) // 2])
    elif kind == "excel-damaged":
        p = _rewritten(good_xlsx(tmp / "whole.xlsx"), tmp / "坏表.xlsx", "sheet1.xml", b"<worksheet><sheetData><row")
    elif kind == "zip-not-excel":
        with zipfile.ZipFile(p := tmp / "archive.xlsx", "w") as z:
            z.writestr("readme.txt", "not a workbook")
    elif kind == "word-as-excel":
        (p := tmp / "题库.xlsx").write_bytes(good_docx(tmp / "w.docx").read_bytes())
    elif kind == "not-word":
        (p := tmp / "题库.docx").write_text("1、这不是 Word 文档\nA、甲\n答案：A\n", encoding="utf-8")
    elif kind == "word-cut":
        whole = good_docx(tmp / "whole.docx").read_bytes()
        (p := tmp / "题库.docx").write_bytes(whole[: len(whole) // 2])
    elif kind == "excel-as-word":
        (p := tmp / "题库.docx").write_bytes(good_xlsx(tmp / "w.xlsx").read_bytes())
    elif kind == "xls-cut":
        whole = _xls({"单选题": [HEADER] + [[f"第{i}题", "甲", "乙", "A"] for i in range(300)]})
        (p := tmp / "旧题库.xls").write_bytes(whole[: len(whole) // 2])
    elif kind == "protected":  # an encrypted .xlsx is an OLE2 file holding an EncryptionInfo stream
        from tests.xls_writer import ole2

        (p := tmp / "加密.xlsx").write_bytes(ole2(b"\x00" * 4096, name="EncryptionInfo"))
    elif kind == "header-only-csv":
        (p := tmp / "只有表头.csv").write_text(",".join(HEADER) + "\n", encoding="utf-8")
    elif kind == "header-only-xlsx":
        p = good_xlsx(tmp / "只有表头.xlsx", [HEADER])
    elif kind == "jsonl-line-7":
        lines = [json.dumps({"question": f"第{i}题", "options": ["甲", "乙"], "answer": "A"}, ensure_ascii=False)
                 for i in range(1, 7)]
        (p := tmp / "题库.jsonl").write_text("\n".join(lines) + '\n{"question": "第7题", "answer": }\n',
                                            encoding="utf-8")
    elif kind == "json-cut":
        (p := tmp / "题库.json").write_text('[{"question": "第1题", "answer": "A"}, {"question": "第2', encoding="utf-8")
    elif kind == "empty":
        (p := tmp / "空.csv").write_bytes(b"")
    return p


BROKEN = {  # kind -> the exact line the user reads
    "not-excel": "成绩单.xlsx: not a valid .xlsx file: it is not an Excel workbook (it may be damaged or another format)",
    "excel-cut": "题库.xlsx: not a readable .xlsx file: the Excel workbook is cut short (an unfinished download or "
                 "copy?): get the whole file again",
    "excel-damaged": "坏表.xlsx: not a readable .xlsx file: the Excel workbook is damaged (a part of it cannot be "
                     "read): open it in Excel or WPS and save it again",
    "zip-not-excel": "archive.xlsx: not a readable .xlsx file: it is a zip archive of other files, not an Excel "
                     "workbook or a Word document",
    "word-as-excel": "题库.xlsx: not a readable .xlsx file: it is a Word document, not an Excel workbook: save it as "
                     ".docx, or copy its table into Excel",
    "not-word": "题库.docx: not a readable .docx file: it is not a Word document (it may be damaged or another format; "
                "a legacy .doc must be saved as .docx first)",
    "word-cut": "题库.docx: not a readable .docx file: the Word document is cut short (an unfinished download or "
                "copy?): get the whole file again",
    "excel-as-word": "题库.docx: not a readable .docx file: it is an Excel workbook, not a Word document: save it as "
                     ".xlsx",
    "xls-cut": "旧题库.xls: not a readable .xls file: the legacy Excel (.xls) workbook is damaged or cut short: open it "
               "in Excel or WPS and save it as .xlsx",
    "protected": "加密.xlsx: not a readable .xlsx file: it is protected by a password: open it, remove the password "
                 "and save it again",
    "header-only-csv": "只有表头.csv: the file has a header but no rows: no questions found below it",
    "header-only-xlsx": "只有表头.xlsx: the file has a header but no rows: no questions found below it",
    "jsonl-line-7": "题库.jsonl: line 7 is not valid JSON (column 31: a value is missing); nothing imported",
    "json-cut": "题库.json: not valid JSON at line 1, column 51: the text ends in the middle (a file cut short?); "
                "nothing imported",
    "empty": "空.csv: the file is empty (0 bytes)",
}
LIBRARY_WORDS = ("Error", "Exception", "Zip", "EOCD", "Package", "CRC", "Expecting", "Unterminated", "calamine",
                 "openpyxl", "Traceback", "Cannot detect")


def landed() -> tuple[int, int, int]:
    return (db.scalar("SELECT count(*) FROM exam_questions"), db.scalar("SELECT count(*) FROM datasets"),
            db.scalar("SELECT count(*) FROM imports"))


@pytest.mark.parametrize("kind", list(BROKEN))
def test_a_broken_file_is_one_line_in_our_words_and_lands_nothing(tmp_path, kind):
    p = broken(tmp_path, kind)
    before = landed()
    with pytest.raises(InputError) as err:
        importer.import_exam(p, "题库")
    assert str(err.value) == BROKEN[kind]
    assert landed() == before
    # the page reads the sheet names first: a workbook it cannot open says the same there
    if p.suffix in (".xlsx", ".xls") and kind not in ("header-only-xlsx", "excel-damaged"):  # names readable
        with pytest.raises(InputError) as again:
            read.sheet_names(p, p.name)
        assert str(again.value) == BROKEN[kind]
    # the CLI: exit 2, one line naming the file, no traceback, nothing written
    dbfile = tmp_path / "cli.duckdb"
    r = run_cli("import", "exam", str(p), "--dataset", "题库", "--db", str(dbfile))
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"error: {BROKEN[kind]}", r.stderr
    if dbfile.exists():
        import duckdb

        with duckdb.connect(str(dbfile)) as con:
            assert con.execute("SELECT count(*) FROM exam_questions").fetchone()[0] == 0
            assert con.execute("SELECT count(*) FROM datasets").fetchone()[0] == 0


def test_no_library_words_reach_the_user(tmp_path):
    assert not [(k, w) for k, line in BROKEN.items() for w in LIBRARY_WORDS if w in line.split(": ", 1)[1]]


def test_a_reader_that_panics_is_a_damaged_workbook_not_a_traceback(tmp_path, monkeypatch):
    """The Excel reader (Rust) panics on some damaged files: a BaseException, caught and said in our words."""
    import python_calamine

    from studio.data.exams import spreadsheets

    class PanicException(BaseException):  # what pyo3 raises (pyo3_runtime.PanicException)
        pass

    def panics(*args, **kwargs):
        raise PanicException("assertion `left == right` failed")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_filelike", panics)
    monkeypatch.setattr(spreadsheets, "OPENPYXL_MAX_BYTES", 0)   # the calamine path
    p = good_xlsx(tmp_path / "题库.xlsx")
    for call in (lambda: read.sheet_names(p, p.name), lambda: importer.preview(p)):
        with pytest.raises(InputError) as err:
            call()
        assert str(err.value) == ("题库.xlsx: not a readable .xlsx file: the Excel workbook is damaged (a part of it "
                                  "cannot be read): open it in Excel or WPS and save it again")


def test_broken_files_in_chinese(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    with pytest.raises(InputError) as err:
        importer.import_exam(broken(tmp_path, "not-excel"), "题库")
    assert str(err.value) == "成绩单.xlsx：不是有效的 .xlsx 文件：它不是 Excel 工作簿（可能已损坏，或是其他格式）"
    with pytest.raises(InputError) as err:
        importer.import_exam(broken(tmp_path, "jsonl-line-7"), "题库")
    assert str(err.value) == "题库.jsonl：第 7 行不是有效的 JSON（第 31 列：缺少一个值）；未导入任何内容"
    r = run_cli("import", "exam", str(broken(tmp_path, "header-only-csv")), "--dataset", "题库",
                "--db", str(tmp_path / "zh.duckdb"), env={"STUDIO_LANG": "zh"})
    assert r.returncode == 2 and r.stderr.strip().endswith("只有表头.csv：文件只有表头、没有数据行：表头下方没有试题")


def test_row_reasons_and_the_rule_table_in_chinese(monkeypatch, tmp_path):
    """The importer's SQL reasons and the editor's Python ones come from the same catalog entries."""
    from studio.core import exam_rules as rules

    monkeypatch.setenv("STUDIO_LANG", "zh")
    f = tmp_path / "bank.csv"
    f.write_text("题目,选项A,选项B,答案\n应穿（ ）,雨鞋,绝缘靴,E\n应穿（ ）,雨鞋,绝缘靴,B\n", encoding="utf-8")
    p = importer.preview(f)
    assert [e["reason"] for e in p.errors] == ["答案标号 E 不在选项 AB 之中"]
    q = {"qtype": "single", "question": "应穿（ ）", "options": [{"label": "A", "text": "雨鞋"}],
         "answer": "A", "answer_labels": ["A"]}
    assert rules.problems(q) == ["单选题的选项太少（1 个）"]
    assert rules.type_word("single") == "单选题"
    monkeypatch.setenv("STUDIO_LANG", "en")
    assert rules.problems(q) == ["too few options (1) for a single-choice question"]
    assert rules.type_word("single") == "single"


# --------------------------------------------------------------------------------- numbers of a conversion

@pytest.mark.parametrize("shuffle, seed, problem", [
    (0, 0, None), (50, 2**31 - 1, None), (3.0, "7", None),
    (51, 0, "shuffle"), (-3, 0, "shuffle"), (1e12, 0, "shuffle"), (2.5, 0, "shuffle"), (None, 0, "shuffle"),
    ("abc", 0, "shuffle"), (0, -1, "seed"), (0, 2**31, "seed"),
])
def test_conversion_numbers_have_ranges(shuffle, seed, problem):
    from studio.data.exams import convert as cv

    found = cv.option_problems(shuffle=shuffle, seed=seed)
    assert list(found) == ([problem] if problem else [])


def test_out_of_range_numbers_are_refused_by_the_conversion_and_the_cli(tmp_path):
    from studio.data.exams import convert as cv
    from tests.test_data_jobs import exam_bank

    exam_bank()
    with pytest.raises(InputError, match=r"^Option-shuffle copies \(--shuffle-options\): 1,000,000,000,000 is out of "
                                         r"range: enter a whole number from 0 to 50$"):
        cv.convert("安规", to="choice", into="x", shuffle=1e12)
    with pytest.raises(InputError, match=r"^Seed \(--seed\): -1 is out of range"):
        cv.preview("安规", to="choice", shuffle=1, seed=-1)
    assert db.scalar("SELECT count(*) FROM samples") == 0
    db.close_all()   # the CLI opens the database file itself
    r = run_cli("convert", "--dataset", "安规", "--to", "choice", "--into", "x", "--shuffle-options", "51",
                "--db", os.environ["STUDIO_DB"])
    assert r.returncode == 2 and r.stderr.strip() == ("error: Option-shuffle copies (--shuffle-options): 51 is out of "
                                                      "range: enter a whole number from 0 to 50"), r.stderr


def test_convert_page_disables_convert_while_a_number_is_out_of_range():
    from tests.test_data_jobs import exam_bank

    exam_bank()
    at = open_page("pages/convert.py")
    at.radio(key="convert_to").set_value("choice").run()
    assert not at.button(key="convert_go").disabled
    for bad, words in ((1e12, "1,000,000,000,000 is out of range"), (-3, "-3 is out of range"),
                       (2.5, "2.5 is not a whole number"), (None, "enter a whole number from 0 to 50")):
        at.number_input(key="convert_shuffle").set_value(bad).run()
        assert not at.exception, at.exception
        go = at.button(key="convert_go")
        assert go.disabled and words in go.help, (bad, go.help)
        assert any(words in w.value for w in at.warning), [w.value for w in at.warning]
    at.number_input(key="convert_shuffle").set_value(2).run()
    at.number_input(key="convert_seed").set_value(2**31).run()
    assert at.button(key="convert_go").disabled and "Seed (--seed)" in at.button(key="convert_go").help
    at.number_input(key="convert_seed").set_value(7).run()
    assert not at.button(key="convert_go").disabled and not at.warning
    at.button(key="convert_go").click().run()
    job = jobs.wait(at.session_state["convert_job"], timeout=120)
    assert job["state"] == "done" and job["args"]["shuffle"] == 2 and job["args"]["seed"] == 7


# --------------------------------------------------------------------------------- the import as a job

def upload(at, path: Path):
    at.file_uploader(key="exam_file").set_value((path.name, path.read_bytes(), "application/octet-stream")).run()
    assert not at.exception, at.exception
    return at


def bank_with_one_bad_row(tmp: Path) -> Path:
    return good_xlsx(tmp / "安规.xlsx", [HEADER, ["应穿（ ）", "雨鞋", "绝缘靴", "B"], ["应系（ ）", "安全带", "围裙", "A"],
                                         ["坏行（ ）", "甲", "乙", "E"]])


def test_import_is_a_job_that_outlives_its_tab(gate, tmp_path):  # noqa: F811
    gate.hold(importer, "import_exam")
    at = upload(open_page("pages/import_exam.py"), bank_with_one_bad_row(tmp_path))
    at.button(key="exam_import_valid").click().run()
    job_id = at.session_state["exam_import_job"]
    job = gate.running(job_id)
    assert job["kind"] == "import-exam" and job["args"]["file"] == "安规.xlsx"
    saved = Path(job["args"]["path"])   # the upload, kept under the data folder beside the database
    assert saved.name == "安规.xlsx" and saved.parent.parent == Path(os.environ["STUDIO_DB"]).parent / "uploads"
    at.run()
    assert any(t.startswith(f"Importing · job {job_id}") for t in progress_texts(at)), progress_texts(at)
    # a new session (the first tab closed): no upload, the running import is found and followed
    del at
    other = open_page("pages/import_exam.py")
    assert other.session_state["exam_import_job"] == job_id
    assert any(f"job {job_id}" in t for t in progress_texts(other)), progress_texts(other)
    gate.opened.set()
    assert jobs.wait(job_id, timeout=120)["state"] == "done", jobs.get(job_id)
    settle(other)
    assert [s.value for s in other.success] == ["Imported 2 questions into **安规** (single 2); rejected 1."]
    assert db.scalar("SELECT count(*) FROM exam_questions") == 2
    done = jobs.get(job_id)
    assert done["message"] == "Imported 2 questions into 安规 (single 2); rejected 1."
    assert done["result"]["errors"][0]["row"] == 4 and done["result"]["file"] == "安规.xlsx"


def test_a_failing_import_shows_its_one_line_and_lands_nothing(tmp_path):
    datasets.get_or_create("安规", "samples")   # a dataset of pairs under the bank's name
    at = upload(open_page("pages/import_exam.py"), good_xlsx(tmp_path / "安规.xlsx"))
    at.button(key="exam_import_all").click().run()
    settle(at)
    job = jobs.get(at.session_state["exam_import_job"])
    assert job["state"] == "failed" and job["message"] == "dataset '安规' holds samples records, not exam questions"
    assert [e.value for e in at.error] == [job["message"]]
    assert db.scalar("SELECT count(*) FROM exam_questions") == 0 and db.scalar("SELECT count(*) FROM imports") == 0


def test_an_import_lands_whole_or_not_at_all_and_retry_runs_it_again(tmp_path, monkeypatch):
    from store import exams as sx

    real = sx.insert_questions

    def dies(*args, **kwargs):   # the work stops inside the one transaction
        real(*args, **kwargs)
        raise RuntimeError("the server died")

    monkeypatch.setattr(sx, "insert_questions", dies)
    f = importer.upload_path("安规.xlsx", good_xlsx(tmp_path / "x.xlsx").read_bytes())
    args = {"path": str(f), "file": "安规.xlsx", "dataset": "安规", "options": {}}
    job = jobs.wait(jobs.submit("import-exam", args)["id"], timeout=120)
    assert job["state"] == "failed"
    assert db.scalar("SELECT count(*) FROM exam_questions") == 0 and db.scalar("SELECT count(*) FROM imports") == 0
    assert datasets.find("安规") is None
    monkeypatch.setattr(sx, "insert_questions", real)
    jobs.retry(job["id"])
    assert jobs.wait(job["id"], timeout=120)["state"] == "done"
    assert db.scalar("SELECT count(*) FROM exam_questions") == 40 and db.scalar("SELECT count(*) FROM imports") == 1


def test_an_import_running_when_the_server_stops_is_interrupted_then_retried(tmp_path):
    from store import jobs as store

    f = importer.upload_path("安规.xlsx", good_xlsx(tmp_path / "x.xlsx").read_bytes())
    job_id, _new = store.queue("import-exam", {"path": str(f), "file": "安规.xlsx", "dataset": "安规",
                                               "options": {}}, "page")
    store.update(job_id, state="running", pid=2**22 + 12345)   # claimed by a server that is gone
    assert jobs.recover() == []                                   # one transaction: it does not resume
    assert jobs.get(job_id)["state"] == "interrupted"
    assert db.scalar("SELECT count(*) FROM exam_questions") == 0
    jobs.retry(job_id)
    assert jobs.wait(job_id, timeout=120)["state"] == "done"
    assert db.scalar("SELECT count(*) FROM exam_questions") == 40


def test_a_cancelled_import_writes_nothing(gate, tmp_path):  # noqa: F811
    from studio.data.exams import importer as imp

    gate.hold(imp, "_parse")
    f = importer.upload_path("安规.xlsx", good_xlsx(tmp_path / "x.xlsx").read_bytes())
    job = jobs.submit("import-exam", {"path": str(f), "file": "安规.xlsx", "dataset": "安规", "options": {}})
    gate.running(job["id"])
    jobs.cancel(job["id"])
    gate.opened.set()
    assert jobs.wait(job["id"], timeout=120)["state"] == "cancelled"
    assert db.scalar("SELECT count(*) FROM exam_questions") == 0 and datasets.find("安规") is None


def test_the_import_kind():
    from studio.service import kinds  # noqa: F401 - registers them

    k = jobs.KINDS["import-exam"]
    assert (k.slot_for({}), k.resumes({})) == ("io", False)


# --------------------------------------------------------------------------------- the pages in Chinese

def _no_english(at, *data: str) -> None:
    """No English word a person reads, beyond option letters and the names of the user's data."""
    import re

    texts = [re.sub(r"\b[A-H]{1,8}\b", "", t) for t in visible_texts(at)]
    for name in data:
        texts = [t.replace(name, "") for t in texts]
    leftovers = {t: english_words(t) for t in texts}
    assert not {t: w for t, w in leftovers.items() if w}


def test_import_page_in_chinese_from_upload_to_summary(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    at = open_page("pages/import_exam.py")
    assert at.title[0].value == "导入题库"
    assert [i.value for i in at.info] == ["上传题库，查看它将如何被读取。"]
    upload(at, bank_with_one_bad_row(tmp_path))
    _no_english(at)
    assert {m.label: m.value for m in at.metric} == {"行数": "3", "有效": "2", "无效": "1", "重复样本": "0"}
    assert "**工作表 题库** · 3 行数据 · 表头在第 1 行 · 单选题 2 · 1 行无效" in [m.value for m in at.markdown]
    assert at.button(key="exam_import_valid").label == "导入 2 行有效数据，跳过 1 行"
    assert at.button(key="exam_import_all").label == "导入全部 3 行" and at.button(key="exam_import_all").disabled
    assert at.selectbox(key="exam_map_题库_question").label == "试题（题目 / 题干）"
    errors = [d.value for d in at.dataframe if "reason" in d.value.columns][0]
    assert list(errors["reason"]) == ["答案标号 E 不在选项 AB 之中"]
    at.button(key="exam_import_valid").click().run()
    settle(at)
    _no_english(at)
    assert [s.value for s in at.success] == ["已导入 2 道试题到 **安规**（单选题 2）；拒收 1 行。"]


def test_a_broken_upload_is_one_chinese_error_naming_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    at = upload(open_page("pages/import_exam.py"), broken(tmp_path, "word-as-excel"))
    assert [e.value for e in at.error] == ["题库.xlsx：无法读取的 .xlsx 文件：这是 Word 文档，不是 Excel 工作簿：请保存为 .docx，"
                                           "或把其中的表格复制到 Excel"]


def test_convert_and_questions_pages_in_chinese(monkeypatch):
    from tests.test_data_jobs import exam_bank

    monkeypatch.setenv("STUDIO_LANG", "zh")
    exam_bank()
    at = open_page("pages/convert.py")
    at.radio(key="convert_to").set_value("choice").run()
    _no_english(at, "安规-choice")   # the target dataset's default name
    assert at.button(key="convert_go").label == "转换到 安规-choice"
    at.number_input(key="convert_shuffle").set_value(99).run()
    assert at.button(key="convert_go").disabled
    assert at.button(key="convert_go").help == "选项打乱副本数（--shuffle-options）：99 超出范围：请输入 0 到 50 之间的整数"
    at = open_page("pages/questions.py")
    _no_english(at)
    assert at.selectbox(key="questions_type").options[:3] == ["全部题型", "单选题", "多选题"]
    assert any("单选题" in e.label for e in at.expander)
