"""Exam-bank import on the real fixtures of ../shared/data/exam/ and on garbage, against the real DuckDB file."""
import json
import os
import zipfile

import pytest

from store import db
from studio.core.errors import InputError, WorkFailed
from studio.data.exams.importer import ImportOptions, errors_csv, import_exam, preview
from studio.data.exams.mapping import parse_map_args
from tests.conftest import DATA

EXAM = DATA / "exam"


def opts(*maps, **kw):
    return ImportOptions(overrides=parse_map_args(list(maps)), **kw)


def question_rows(dataset):
    return db.rows("SELECT q.* FROM exam_questions q JOIN datasets d ON d.id = q.dataset_id WHERE d.name = ? "
                   "ORDER BY q.id", [dataset])


def db_counts():
    return (db.scalar("SELECT count(*) FROM exam_questions"), db.scalar("SELECT count(*) FROM datasets"),
            db.scalar("SELECT count(*) FROM imports"))


@pytest.mark.parametrize("file, by_type", [
    ("cmmlu/electrical_engineering_test.csv", {"single": 172}),
    ("cmmlu/electrical_engineering_dev.csv", {"single": 5}),
    ("ceval_format/evalscope_example_val_current.csv", {"single": 12}),
    ("ceval_format/evalscope_example_dev.csv", {"single": 2}),
    ("ceval_format/evalscope_example_multi_val.jsonl", {"multi": 10}),
    ("other_layouts/linux_options_in_one_cell.xlsx", {"single": 3, "multi": 1}),
    ("other_layouts/network_ethics_ampersand_answer_text.csv", {"single": 8, "multi": 9, "judge": 10}),
])
def test_real_banks_import_with_their_counts(file, by_type):
    summary = import_exam(EXAM / file, "bank")
    assert summary["rejected"] == 0 and summary["errors"] == []
    assert {k: v for k, v in summary["by_type"].items() if v} == by_type
    assert summary["imported"] == sum(by_type.values()) == len(question_rows("bank"))


def test_cmmlu_index_column_is_not_a_field():
    p = preview(EXAM / "cmmlu/electrical_engineering_test.csv")
    assert 0 not in p.sheets[0].mapping.fields.values()
    q = question_rows("x") or None
    assert q is None
    import_exam(EXAM / "cmmlu/electrical_engineering_test.csv", "cmmlu")
    first = question_rows("cmmlu")[0]
    assert first["question"] == "产生频率崩溃的原因为" and first["answer_labels"] == ["A"]
    assert json.loads(first["options"])[0] == {"label": "A", "text": "有功功率严重不足"}
    assert first["source_row"] == 2 and first["ext_id"] is None


def test_ceval_subject_and_id_columns():
    import_exam(EXAM / "ceval_format/evalscope_example_val_current.csv", "ceval")
    q = question_rows("ceval")[1]
    assert (q["ext_id"], q["subject"], q["answer_text"]) == ("2", "物理学", "343 m/s")


def test_jsonl_list_answers_are_multi():
    import_exam(EXAM / "ceval_format/evalscope_example_multi_val.jsonl", "multi")
    labels = [q["answer_labels"] for q in question_rows("multi")]
    assert sum(len(l) == 2 for l in labels) == 6 and sum(len(l) == 3 for l in labels) == 4
    assert question_rows("multi")[2]["answer_text"] == "2; 7; 11"


def test_options_in_one_cell_xlsx():
    import_exam(EXAM / "other_layouts/linux_options_in_one_cell.xlsx", "linux")
    qs = question_rows("linux")
    assert [o["text"] for o in json.loads(qs[0]["options"])] == ["admin", "root", "guest", "Super"]
    assert [o["text"] for o in json.loads(qs[1]["options"])] == ["NetWare", "Windows NT", "Windows XP", "Linux"]
    assert [o["text"] for o in json.loads(qs[2]["options"])] == ["“/”", "“\\”", "“//”", "“\\\\”"]
    assert qs[3]["qtype"] == "multi" and qs[3]["answer_labels"] == ["C", "D"]
    assert qs[0]["source_sheet"] == "Sheet1" and qs[0]["source_row"] == 2


def test_ampersand_bank_answers_given_as_option_text():
    p = preview(EXAM / "other_layouts/network_ethics_ampersand_answer_text.csv")
    assert p.encoding == "utf-8-sig" and p.sheets[0].mapping.options_in_question
    assert p.type_codes == {"0": "single", "1": "multi", "2": "judge"} and p.judge_01
    import_exam(EXAM / "other_layouts/network_ethics_ampersand_answer_text.csv", "ethics")
    qs = question_rows("ethics")
    assert qs[0]["question"] == "计算机信息系统安全管理包括()"
    assert qs[0]["answer_labels"] == ["A", "C", "D"] and qs[0]["answer_text"] == "组织建设; 制度建设; 人员意识"
    judges = [q for q in qs if q["qtype"] == "judge"]
    # 0 = 对 in this bank (the default reading, shown to the user)
    assert judges[0]["question"] == "绝对自由的互联网本身是完全存在的" and judges[0]["answer_text"] == "错误"
    assert judges[1]["answer_text"] == "正确" and json.loads(judges[1]["options"])[0]["text"] == "正确"
    single = [q for q in qs if q["qtype"] == "single"]
    assert single[-2]["answer_text"] == "网络犯罪、网络色情"  # an option text holding 、 is one answer


def test_judge_convention_can_be_flipped():
    import_exam(EXAM / "other_layouts/network_ethics_ampersand_answer_text.csv", "ethics",
                ImportOptions(zero_is_true=False))
    judges = [q for q in question_rows("ethics") if q["qtype"] == "judge"]
    assert judges[0]["answer_text"] == "正确"


def test_gbk_noheader_bank_refuses_the_shifted_row():
    before = db_counts()
    with pytest.raises(WorkFailed) as info:
        import_exam(EXAM / "electrician/diangong_choose_gbk_noheader.csv", "diangong")
    s = info.value.summary
    assert s["imported"] == 0 and s["rejected"] == 1
    assert s["errors"] == [{"sheet": "", "row": 921, "reason": s["errors"][0]["reason"]}]
    assert "复位" in s["errors"][0]["reason"]
    assert db_counts() == before
    done = import_exam(EXAM / "electrician/diangong_choose_gbk_noheader.csv", "diangong", ImportOptions(skip_invalid=True))
    assert done["imported"] == 1083 and done["by_type"]["single"] == 1083 and done["rejected"] == 1
    first = question_rows("diangong")[0]
    assert first["question"] == "职业道德是指从事一定职业劳动的人们，在长期的职业活动中形成的(\u3000)。"
    assert first["ext_id"] == "1" and first["answer_text"] == "行为规范"
    imp = db.one("SELECT * FROM imports")
    assert imp["rows_rejected"] == 1 and json.loads(imp["errors"])[0]["row"] == 921


def test_gbk_noheader_with_explicit_mapping():
    p = preview(EXAM / "electrician/diangong_choose_gbk_noheader.csv",
                opts("id=1", "question=2", "A=3", "B=4", "C=5", "D=6", "answer=7", no_header=True))
    assert p.encoding == "gb18030" and p.total == 1084 and len(p.errors) == 1
    assert len(p.duplicates) > 0 and p.duplicates[0]["reason"].startswith("duplicate of row")


def test_no_answer_sheet_reports_missing_answers_and_does_not_guess():
    f = EXAM / "power_safety/low_voltage_electrician_first_option_correct.xlsx"
    with pytest.raises(WorkFailed) as info:
        import_exam(f, "lv")
    s = info.value.summary
    xz = [e for e in s["errors"] if e["sheet"] == "xz"]
    assert len(xz) == 402 and {e["reason"] for e in xz} == {"missing answer"}
    assert not [e for e in s["errors"] if e["sheet"] == "pd"]
    assert db.scalar("SELECT count(*) FROM exam_questions") == 0


def test_first_option_correct_convention_by_mapping_answer_to_option_a():
    f = EXAM / "power_safety/low_voltage_electrician_first_option_correct.xlsx"
    s = import_exam(f, "lv", opts("xz:answer=2"))
    assert s["by_type"]["single"] == 402 and s["by_type"]["judge"] == 516 and s["rejected"] == 0
    q = question_rows("lv")[0]
    assert q["answer_labels"] == ["A"] and q["answer_text"] == "他人" and q["source_sheet"] == "xz"


def test_sheet_picking():
    f = EXAM / "power_safety/low_voltage_electrician_first_option_correct.xlsx"
    s = import_exam(f, "pd", ImportOptions(sheets=["pd"]))
    assert s["imported"] == 516 and s["by_type"]["judge"] == 516
    with pytest.raises(InputError, match="no sheet named 'nope'"):
        preview(f, ImportOptions(sheets=["nope"]))


def test_malformed_csv_refused_naming_its_line():
    before = db_counts()
    with pytest.raises(InputError) as info:
        import_exam(EXAM / "ceval_format/evalscope_example_val_2024-10_malformed.csv", "bad")
    msg = str(info.value)
    assert "evalscope_example_val_2024-10_malformed.csv" in msg and "line 3" in msg and "11 fields" in msg
    assert db_counts() == before


def test_reimport_reports_duplicates_of_the_dataset():
    f = EXAM / "ceval_format/evalscope_example_dev.csv"
    import_exam(f, "dev")
    p = preview(f, dataset="dev")
    assert [d["reason"].startswith("already in the dataset") for d in p.duplicates] == [True, True]


def test_dataset_of_another_kind_is_refused():
    from store import datasets

    datasets.create("pairs", "samples")
    with pytest.raises(InputError, match="not exam questions"):
        import_exam(EXAM / "ceval_format/evalscope_example_dev.csv", "pairs")


def test_percent_formatted_cells_read_as_excel_shows_them(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["题目", "A", "B", "C", "D", "答案"])
    ws.append(["与变压器气体继电器连接油管的坡度为", 0.1607, 0.13, 0.02, 5, "A"])
    for col in "BC":
        ws[f"{col}2"].number_format = "0.00%"
    ws["D2"].number_format = "0%"
    ws.append([None] * 6)
    ws.append([None] * 6)  # blank trailing rows are not questions
    wb.save(tmp_path / "pct.xlsx")
    import_exam(tmp_path / "pct.xlsx", "pct")
    q = question_rows("pct")
    assert len(q) == 1
    assert [o["text"] for o in json.loads(q[0]["options"])] == ["16.07%", "13.00%", "2%", "5"]


def test_types_contradicting_content_are_reported(tmp_path):
    f = tmp_path / "bank.csv"
    f.write_text("题型,题目,选项,答案\n"
                 "单选题,下列正确的是（ ）,A. 甲 B. 乙 C. 丙,AB\n"
                 "判断题,接地线可以缠绕。,A. 甲 B. 乙 C. 丙 D. 丁,A\n"
                 "多选题,（ ）是安全措施,A. 停电 B. 验电,E\n"
                 "单选题,只有一个选项（ ）,A. 一,A\n"
                 "单选题,,A. 一 B. 二,A\n"
                 "填空题,故障点（ ）m以外,,4\n", encoding="utf-8")
    p = preview(f)
    reasons = {e["row"]: e["reason"] for e in p.errors}
    assert "single choice" in reasons[2] and "2 labels" in reasons[2]
    assert "judge" in reasons[3] and "正确/错误" in reasons[3]
    assert "label E is not among the options AB" in reasons[4]
    assert "too few options (1)" in reasons[5]
    assert reasons[6] == "empty question"
    assert 7 not in reasons and p.by_type == {"blank": 1}


def test_errors_csv_cannot_start_a_formula():
    text = errors_csv([{"sheet": "", "row": 3, "reason": "=HYPERLINK(1)"}], "=x.csv")
    assert "'=HYPERLINK(1)" in text and "'=x.csv" in text


# ---------------------------------------------------------------- garbage: one clear error, nothing written

def _garbage(tmp_path, kind):
    if kind == "zero":
        p = tmp_path / "zero.csv"
        p.write_bytes(b"")
    elif kind == "empty":
        p = tmp_path / "empty.csv"
        p.write_text("\n\n  \n", encoding="utf-8")
    elif kind == "binary-xlsx":
        p = tmp_path / "photo.xlsx"
        p.write_bytes(os.urandom(4096))
    elif kind == "zip-not-xlsx":
        p = tmp_path / "archive.xlsx"
        with zipfile.ZipFile(p, "w") as z:
            z.writestr("hello.txt", "not a workbook")
    elif kind == "binary-csv":
        p = tmp_path / "blob.csv"
        p.write_bytes(b"\x00\x01\x02" * 1000)
    elif kind == "huge-cell":
        p = tmp_path / "huge.csv"
        p.write_text("题目,答案\n" + "电" * 300_000 + ",A\n", encoding="utf-8")
    elif kind == "header-only":
        p = tmp_path / "header.csv"
        p.write_text("题目,选项,答案\n", encoding="utf-8")
    elif kind == "bad-json":
        p = tmp_path / "bad.jsonl"
        p.write_text('{"question": "a", "answer": "A"}\n{"question": \n', encoding="utf-8")
    elif kind == "wrong-suffix":
        p = tmp_path / "bank.pdf"
        p.write_bytes(b"%PDF-1.4")
    return p


@pytest.mark.parametrize("kind, words", [
    ("zero", "empty"), ("empty", "no text"), ("binary-xlsx", "not a valid .xlsx"),
    ("zip-not-xlsx", "not a readable .xlsx"), ("binary-csv", "binary"), ("huge-cell", "characters"),
    ("header-only", "no questions"), ("bad-json", "line 2 is not valid JSON"), ("wrong-suffix", "unsupported"),
])
def test_garbage_gives_one_clear_error_and_changes_nothing(tmp_path, kind, words):
    import_exam(EXAM / "ceval_format/evalscope_example_dev.csv", "kept")
    before = db_counts()
    p = _garbage(tmp_path, kind)
    with pytest.raises(InputError) as info:
        import_exam(p, "kept")
    msg = str(info.value)
    assert words in msg and p.name in msg and "\n" not in msg
    assert db_counts() == before


def test_large_utf8_csv_takes_the_duckdb_path(tmp_path):
    from studio.data.exams import read

    f = tmp_path / "big.csv"
    row = "变电专业,单选题,高压设备发生接地时，室内人员应距离故障点（　　）m以外。,\"A. 1,B. 2,C. 3,D. 4\",D\n"
    with open(f, "w", encoding="utf-8") as out:
        out.write("专业,题型,题目,选项,答案\n")
        for i in range(read.FAST_PATH_BYTES // len(row.encode()) + 10):
            out.write(row.replace("高压", f"第{i}题高压"))
    book = read.read(f)
    assert book.sheets[0].csv_path  # DuckDB reads it
    s = import_exam(f, "big")
    assert s["rejected"] == 0 and s["by_type"]["single"] == s["imported"] > 20000
    q = question_rows("big")[0]
    assert q["answer_text"] == "4" and q["source_row"] == 2
    # a GBK copy is transcoded first and gives the same rows
    g = tmp_path / "big_gbk.csv"
    g.write_bytes(f.read_text(encoding="utf-8").encode("gbk"))
    assert preview(g).valid == s["imported"]
    # and a row with too many fields is refused naming its line
    with open(f, "a", encoding="utf-8") as out:
        out.write("a,b,c,d,e,f,g\n")
    with pytest.raises(InputError, match=r"line \d+ has 7 fields where the first row has 5"):
        preview(f)
