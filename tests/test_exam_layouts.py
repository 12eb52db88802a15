"""Exam banks in the layouts people really keep (issue 13: classes 1, 2, 3, 6, 7, 10 — the mapping side):
decorated headers, title rows, several sheets each its own type, notes sheets, answers over several
columns, legacy .xls under any name, CSV quoted with ', placeholder option cells; and the rule that no
row is called valid when one of its options or its answer was not read."""
import json
import time

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import db
from studio.core.errors import InputError, WorkFailed
from studio.data.exams import mapping as mp
from studio.data.exams.importer import ImportOptions, import_exam, preview
from studio.data.exams.mapping import parse_map_args
from tests.exam_layout_fixtures import CLOZE, SINGLE, upload_template_workbook, write_xlsx
from tests.xls_writer import write_xls


def questions(dataset):
    return db.rows("SELECT q.* FROM exam_questions q JOIN datasets d ON d.id = q.dataset_id WHERE d.name = ? "
                   "ORDER BY q.id", [dataset])


def options_of(q):
    return [o["text"] for o in json.loads(q["options"])]


def counts(p):
    return {k: v for k, v in p.by_type.items() if v}


# ---------------------------------------------------------------- header cells as people write them

@pytest.mark.parametrize("header, field", [
    ("题目（必填）：", "question"), ("*题目", "question"), ("题干:", "question"), ("questionContent", "question"),
    ("question_text", "question"), ("考题内容", "question"),
    ("选项A（必填）", "A"), ("A", "A"), ("A选项", "A"), ("选项Ａ", "A"), ("第一选项", "A"), ("第四选项", "D"),
    ("选项二", "B"), ("optionC", "C"), ("Option 4", "D"), ("option_b", "B"), ("【选项A】", "A"),
    ("正确答案（必填）", "answer"), ("正确答案(只能输入ABCD否则报错)", "answer"), ("正确答案：第几个选项", "answer"),
    ("questionAnswer", "answer"), ("correctAnswer", "answer"), ("试题答案", "answer"),
    ("考题类型：0：单；1：多；3：判断", "type"), ("questionType", "type"), ("题型(1单选 2多选 3判断)", "type"),
    ("optionContent", "options"), ("选项内容", "options"),
    ("答案解析", "explanation"), ("answerAnalysis", "explanation"),
    ("试题分类", "subject"), ("所属章节", "subject"), ("questionId", "id"), ("序号", "id"),
    ("难度", None), ("题目难度", None), ("分值", None), ("Unnamed: 0", None), ("", None),
])
def test_decorated_header_cells(header, field):
    assert mp.header_field(header) == field


@pytest.mark.parametrize("header", ["答案A", "答案L", "答案1", "第2空", "空1", "blank_2"])
def test_answer_part_headers_are_not_options(header):
    assert mp.header_kind(header) == "answer_part"


def test_a_data_row_of_letters_is_not_a_header():
    assert not mp._looks_like_header(["对还是错", "A", "B", "C", "D", "A"])
    assert mp._looks_like_header(["题目", "A", "B", "C", "D", "答案"])


def test_type_legend_in_the_header():
    assert mp.type_legend("考题类型：0：单；1：多；3：判断") == {"0": "single", "1": "multi", "3": "judge"}
    assert mp.type_legend("题型(1单选 2多选 3判断 4填空)") == {"1": "single", "2": "multi", "3": "judge", "4": "blank"}
    assert mp.type_legend("题型") == {}


# ---------------------------------------------------------------- class 1 + 2: the upload template, five sheets

def test_upload_template_workbook_imports_every_sheet_whole(tmp_path):
    f = upload_template_workbook(tmp_path / "题库模板.xlsx")
    p = preview(f)
    assert p.errors == [] and counts(p) == {"single": 3, "multi": 2, "judge": 2, "blank": 2, "open": 1}
    assert [s.name for s in p.sheets] == ["单选题", "多选题", "判断题", "填空题", "问答题"]
    assert all(s.mapping.header_row == 2 for s in p.sheets)  # the title row above the header
    assert any("填写说明" in n and "not a question bank" in n for n in p.notes)
    assert any("题型代码" in n and "not a question bank" in n for n in p.notes)
    single = p.sheets[0].mapping.fields
    assert [single[l] for l in "ABCD"] == [1, 2, 3, 4] and single["answer"] == 5
    s = import_exam(f, "模板")
    assert s["imported"] == 10 and s["rejected"] == 0
    qs = questions("模板")
    for q, row in zip([q for q in qs if q["qtype"] == "single"], SINGLE):
        assert options_of(q) == list(row[1:5])  # every option kept, A and B included
    assert qs[0]["answer_text"] == "绝缘靴" and qs[0]["basis"] == "安规规定" and qs[0]["source_row"] == 3
    cloze = [q for q in qs if q["qtype"] == "blank"]
    assert [q["answer_text"] for q in cloze] == ["；".join(a) for _, a in CLOZE]
    assert cloze[0]["question"] == CLOZE[0][0]  # `_(1)_` blanks kept as written
    assert options_of(cloze[0]) == []          # 答案A…答案L are answers, never options
    judge = [q for q in qs if q["qtype"] == "judge"]
    assert [q["answer_text"] for q in judge] == ["错误", "正确"]


def test_picking_one_sheet_and_a_header_row(tmp_path):
    f = upload_template_workbook(tmp_path / "t.xlsx")
    p = preview(f, ImportOptions(sheets=["填空题"], header_rows={"*": 2}))
    assert counts(p) == {"blank": 2}
    # the header row as the user says: row 1 (the title) holds no field names, the rows below are read
    with pytest.raises(InputError, match="sheet 单选题.*row 9 is empty"):
        preview(f, ImportOptions(sheets=["单选题"], header_rows={"单选题": 9}))


def test_notes_only_workbook_is_not_skipped_silently(tmp_path):
    f = write_xlsx(tmp_path / "notes.xlsx", {"说明": [["导入说明"], ["1. 题目必填"]]})
    p = preview(f)
    assert p.valid == 0 and p.errors  # a lone sheet is read (and its rows refused), not skipped


def test_formatted_empty_rows_never_error(tmp_path):
    from openpyxl.styles import PatternFill

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "单选题"
    ws.append(["题目", "A", "B", "C", "D", "答案"])
    for q, a, b, c, d, ans, _ in SINGLE:
        ws.append([q, a, b, c, d, ans])
    fill = PatternFill("solid", fgColor="FFFF00")
    for r in range(5, 20_005):  # the formatting someone dragged down the sheet
        for c in range(1, 7):
            ws.cell(row=r, column=c).fill = fill
    wb.save(tmp_path / "formatted.xlsx")
    t = time.perf_counter()
    p = preview(tmp_path / "formatted.xlsx")
    assert p.errors == [] and counts(p) == {"single": 3} and p.total == 3
    assert time.perf_counter() - t < 30


# ---------------------------------------------------------------- class 1: misleading words, ordinals, legends

def test_header_words_are_confirmed_by_content(tmp_path):
    """试题内容 holds categories while 考题内容 is the stem; the type legend lives in the type header; the
    answer is the option's ordinal; options are named 第一选项…第四选项."""
    rows = [["试题内容", "考题内容", "考题类型：0：单；1：多；3：判断", "第一选项", "第二选项", "第三选项", "第四选项",
             "正确答案：第几个选项"]]
    data = [("安规", "雷雨天气巡视室外高压设备时应穿什么", "0", "雨鞋", "绝缘靴", "布鞋", "拖鞋", "2"),
            ("安规", "保证安全的技术措施有哪些", "1", "停电", "验电", "聊天", "唱歌", "1,2"),
            ("运规", "接地线可以缠绕接地", "3", "正确", "错误", None, None, "2"),
            ("运规", "验电前应先在有电设备上试验", "3", "正确", "错误", None, None, "1")]
    f = write_xlsx(tmp_path / "mislead.xlsx", {"Sheet1": rows + [list(r) for r in data]})
    p = preview(f)
    m = p.sheets[0].mapping
    assert m.fields["question"] == 1 and m.fields["subject"] == 0
    assert m.type_codes == {"0": "single", "1": "multi", "3": "judge"} and p.sheets[0].ordinal
    assert p.errors == [] and counts(p) == {"single": 1, "multi": 1, "judge": 2}
    import_exam(f, "mislead")
    qs = questions("mislead")
    assert qs[0]["subject"] == "安规" and qs[0]["answer_text"] == "绝缘靴"
    assert qs[1]["answer_labels"] == ["A", "B"]
    assert [q["answer_text"] for q in qs[2:]] == ["错误", "正确"]


def test_camel_case_header_is_a_header(tmp_path):
    f = tmp_path / "camel.csv"
    f.write_text("questionId,questionContent,optionContent,questionAnswer,questionType,answerAnalysis\n"
                 '1,雷雨天气应穿（ ）,"[""雨鞋"",""绝缘靴"",""布鞋""]",B,1,安规\n'
                 '2,技术措施有（ ）,"[""停电"",""验电"",""聊天""]",AB,2,\n'
                 '3,工作票由（ ）签发,"[""负责人"",""签发人""]",B,1,\n', encoding="utf-8")
    p = preview(f)
    m = p.sheets[0].mapping
    assert m.header_row == 1 and {f: c for f, c in m.fields.items()} == {
        "id": 0, "question": 1, "options": 2, "answer": 3, "type": 4, "explanation": 5}
    assert p.total == 3 and p.errors == [] and counts(p) == {"single": 2, "multi": 1}
    assert all(r["question"] != "questionContent" for r in p.rows)  # the header is never a question


# ---------------------------------------------------------------- class 3 (mapping): several answer columns

def test_answer_columns_joined_in_order_and_chosen_by_hand(tmp_path):
    f = tmp_path / "cloze.csv"
    f.write_text("题型,题目,答案1,答案2,答案3\n填空题,_(1)_、_(2)_和_(3)_,甲,乙,丙\n填空题,只有____一空,丁,,\n",
                 encoding="utf-8")
    p = preview(f)
    assert p.sheets[0].mapping.answer_columns() == [2, 3, 4]
    assert p.errors == [] and [r["answer_text"] for r in p.rows] == ["甲；乙；丙", "丁"]
    # the same columns named by hand, in another order
    g = tmp_path / "cloze2.csv"
    g.write_text("题型,题目,第一空,第二空\n填空题,_(1)_和_(2)_,甲,乙\n", encoding="utf-8")
    p = preview(g, ImportOptions(overrides=parse_map_args(["answer=4+3"])))
    assert [r["answer_text"] for r in p.rows] == ["乙；甲"]


def test_answer_a_to_d_are_options_when_another_column_holds_the_answer(tmp_path):
    f = tmp_path / "exported.csv"
    f.write_text("题目,答案A,答案B,答案C,答案D,正确答案\n应穿（ ）,雨鞋,绝缘靴,布鞋,拖鞋,B\n", encoding="utf-8")
    p = preview(f)
    assert p.errors == [] and p.rows[0]["answer_text"] == "绝缘靴" and p.rows[0]["options"].count(". ") == 4


# ---------------------------------------------------------------- class 6 (mapping): type columns blank or coded

def test_blank_type_cells_take_the_sheet_name(tmp_path):
    rows = [["题型", "题目", "选项A", "选项B", "选项C", "答案"],
            [None, "应穿（ ）", "雨鞋", "绝缘靴", "布鞋", "B"],
            ["多选题", "措施有（ ）", "停电", "验电", "聊天", "AB"]]
    f = write_xlsx(tmp_path / "blank_type.xlsx", {"单选题": rows})
    p = preview(f)
    assert p.errors == [] and counts(p) == {"single": 1, "multi": 1}
    assert "sheet's name" in p.sheets[0].type_source


# ---------------------------------------------------------------- class 7: legacy .xls by content

@pytest.mark.parametrize("name", ["legacy.xls", "legacy_saved_as.xlsx", "legacy_named.csv"])
def test_legacy_xls_is_read_by_its_content_not_its_name(tmp_path, name):
    f = tmp_path / name
    write_xls(f, {"单选题": [["题目", "选项A", "选项B", "选项C", "正确答案"], ["应穿（ ）", "雨鞋", "绝缘靴", 3, "B"],
                            ["距离（ ）m", 1, 2, 4, "C"]],
                  "说明": [["本表为导出文件"]]})
    p = preview(f)
    assert p.kind == "xls" and p.errors == [] and counts(p) == {"single": 2}
    assert p.rows[1]["options"] == "A. 1 | B. 2 | C. 4"


def test_an_html_page_saved_as_xls_is_refused_clearly(tmp_path):
    f = tmp_path / "export.xls"
    f.write_text("<html><body><table><tr><td>题目</td></tr></table></body></html>", encoding="utf-8")
    with pytest.raises(InputError, match="export.xls.*HTML"):
        preview(f)


def test_a_tab_separated_text_saved_as_xls_is_read(tmp_path):
    f = tmp_path / "tabs.xls"
    f.write_text("题目\t选项A\t选项B\t答案\n应穿（ ）\t雨鞋\t绝缘靴\tB\n", encoding="gbk")
    assert counts(preview(f)) == {"single": 1}


# ---------------------------------------------------------------- class 10: CSV quoting, no header, remarks, placeholders

def test_csv_quoted_with_single_quotes_without_header(tmp_path):
    f = tmp_path / "quoted.csv"
    f.write_text("'1','雷雨天气应穿（ ）,不准靠近避雷器','雨鞋','绝缘靴','布鞋','拖鞋','B'\n"
                 "'2','距离故障点（ ）m以外','1','2','3','4','D'\n"
                 "'3','工作票由（ ）签发','负责人','签发人','值班员','任何人','B'\n", encoding="utf-8")
    p = preview(f)
    assert p.sheets[0].mapping.header_row is None and p.errors == [] and counts(p) == {"single": 3}
    assert p.rows[0]["question"] == "雷雨天气应穿（ ）,不准靠近避雷器"


def test_remarks_after_a_gap_are_not_options(tmp_path):
    f = tmp_path / "remarks.csv"
    lines = [f"{i},第{i}题应选（ ）,甲{i},乙{i},丙{i},丁{i},A,," + ("备注：此题来自旧题库，已核对" if i % 3 == 0 else "")
             for i in range(1, 10)]
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    p = preview(f)
    m = p.sheets[0].mapping
    assert [m.fields[l] for l in "ABCD"] == [2, 3, 4, 5] and "E" not in m.fields
    assert p.errors == [] and counts(p) == {"single": 9}
    assert all(r["options"].count(". ") == 4 for r in p.rows)


def test_placeholder_option_cells_holding_only_their_letter(tmp_path):
    f = tmp_path / "placeholders.csv"
    f.write_text("题目,A,B,C,D,答案\n"
                 "只有两个选项（ ）,甲,乙,C,D,A\n"         # C, D are placeholders
                 "可以用（ ）替代,M,S,C,T,C\n"             # C is a real option among real ones
                 "选项写了标号（ ）,A. 雨鞋,B．绝缘靴,C、布鞋,D,B\n", encoding="utf-8")
    p = preview(f)
    assert p.errors == []
    assert [r["options"] for r in p.rows] == ["A. 甲 | B. 乙", "A. M | B. S | C. C | D. T",
                                              "A. 雨鞋 | B. 绝缘靴 | C. 布鞋"]
    assert p.rows[1]["answer_text"] == "C"


# ---------------------------------------------------------------- never a wrong "valid"

def test_option_columns_left_unmapped_make_their_rows_invalid(tmp_path):
    f = tmp_path / "unread.csv"  # a typo: the third option column is named 选项B again
    f.write_text("题目,选项A,选项B,选项B,选项D,答案\n应穿（ ）,雨鞋,绝缘靴,布鞋,拖鞋,C\n", encoding="utf-8")
    p = preview(f)
    assert p.valid == 0 and len(p.errors) == 1
    assert any("2 columns are named as B" in n for n in p.notes)
    assert any("column 4: 选项B named as an option and holds data but is not mapped" in n for n in p.notes)
    p = preview(f, ImportOptions(overrides=parse_map_args(["C=4"])))
    assert p.valid == 1 and p.rows[0]["options"] == "A. 雨鞋 | B. 绝缘靴 | C. 布鞋 | D. 拖鞋"
    # a column the mapping does not know, holding labelled options
    g = tmp_path / "extra.csv"
    g.write_text("题目,选项,备用,答案\n应穿（ ）,A. 雨鞋 B. 绝缘靴,C. 布鞋,B\n", encoding="utf-8")
    p = preview(g)
    assert p.valid == 0 and "备用" in p.errors[0]["reason"] and "not all read" in p.errors[0]["reason"]
    assert any("备用" in n for n in p.notes)
    with pytest.raises(WorkFailed):
        import_exam(g, "x")
    assert preview(g, ImportOptions(overrides=parse_map_args(["skip=备用"]))).valid == 1


def test_errors_name_sheet_row_and_reason(tmp_path):
    rows = [["题目（必填）：", "选项A（必填）", "选项B（必填）", "正确答案（必填）"], ["应穿（ ）", "雨鞋", "绝缘靴", "E"]]
    f = write_xlsx(tmp_path / "bad.xlsx", {"单选题": [["标题"]] + rows})
    p = preview(f)
    [e] = p.errors
    assert e["sheet"] == "单选题" and e["row"] == 3 and "E" in e["reason"]


# ---------------------------------------------------------------- property: decorations never change the questions

LETTER_STYLES = [lambda l: l, lambda l: f"选项{l}", lambda l: f"{l}选项", lambda l: f"选项{l}（必填）",
                 lambda l: f"option{l}", lambda l: "第" + "一二三四"["ABCD".index(l)] + "选项"]
DECORATE = [lambda h: h, lambda h: h + "（必填）", lambda h: h + "：", lambda h: "*" + h, lambda h: h + "(必填)："]
QUESTION_NAMES = ["题目", "题干", "试题内容", "questionContent", "question"]
ANSWER_NAMES = ["正确答案", "答案", "正确答案(只能输入ABCD否则报错)", "questionAnswer", "answer"]
ANSWER_FORMS = [lambda a: a, lambda a: a.lower(), lambda a: "、".join(a), lambda a: ",".join(a),
                lambda a: a.translate(str.maketrans("ABCD", "ＡＢＣＤ")), lambda a: " ".join(a)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(letters=st.sampled_from(LETTER_STYLES), deco=st.sampled_from(DECORATE), qname=st.sampled_from(QUESTION_NAMES),
       aname=st.sampled_from(ANSWER_NAMES), form=st.sampled_from(ANSWER_FORMS), title=st.booleans(),
       nopts=st.integers(min_value=2, max_value=4))
def test_random_header_decorations_round_trip(tmp_path, letters, deco, qname, aname, form, title, nopts):
    labels = "ABCD"[:nopts]
    header = [deco(qname), *[letters(l) for l in labels], deco(aname) if "(" not in aname else aname]
    bank = [(f"第{i}题：下列说法正确的是（ ）", [f"选项{l}{i}" for l in labels], "A" if i % 2 else labels[-1] + "A")
            for i in range(1, 6)]
    rows = ([["题库（共5题）"]] if title else []) + [header] + [[q, *opts, form(a)] for q, opts, a in bank]
    f = write_xlsx(tmp_path / "gen.xlsx", {"Sheet1": rows})
    p = preview(f, limit=10)
    assert p.errors == [], (header, p.errors)
    got = [(r["question"], r["options"], r["answer_labels"]) for r in p.rows]
    want = [(q, " | ".join(f"{l}. {o}" for l, o in zip(labels, opts)), "".join(sorted(set(a)))) for q, opts, a in bank]
    assert got == want


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(quote=st.sampled_from(['"', "'"]), header=st.booleans(), placeholders=st.booleans(), remarks=st.booleans(),
       title=st.booleans(), ext=st.sampled_from(["csv", "xlsx", "xls"]))
def test_option_layouts_round_trip(tmp_path, quote, header, placeholders, remarks, title, ext):
    """Options in columns, with or without a header, a title row, placeholder letters in unused option
    cells, remarks after a gap; CSV quoted either way; .xlsx and legacy .xls: the same questions."""
    bank = [(f"第{i}题：电压等级为（ ）kV", [f"{i}{k}" for k in ("十", "百", "千", "万")][: 2 + i % 3], "AB"[i % 2])
            for i in range(1, 9)]
    rows = []
    if title and header:
        rows.append(["安全规程题库（2026版）"])
    if header:
        rows.append(["序号", "题目", "选项A", "选项B", "选项C", "选项D", "答案", "", "备注"])
    for i, (q, opts, a) in enumerate(bank, 1):
        cells = opts + ([l for l in "ABCD"[len(opts):]] if placeholders else [""] * (4 - len(opts)))
        rows.append([str(i), q, *cells, a, "", "备注：已核对，来源旧题库" if remarks and i % 3 == 0 else ""])
    f = tmp_path / f"gen.{ext}"
    if ext == "csv":
        f.write_text("\n".join(",".join(f"{quote}{c}{quote}" if c else "" for c in r) for r in rows) + "\n",
                     encoding="utf-8")
    elif ext == "xlsx":
        write_xlsx(f, {"单选题": [[c or None for c in r] for r in rows]})
    else:
        write_xls(f, {"单选题": [[c or None for c in r] for r in rows]})
    p = preview(f, limit=20)
    assert p.errors == [], p.errors
    got = [(r["question"], r["options"], r["answer_labels"]) for r in p.rows]
    want = [(q, " | ".join(f"{l}. {o}" for l, o in zip("ABCD", opts)), a) for q, opts, a in bank]
    assert got == want


def test_no_header_row_is_taken_after_the_data_began(tmp_path):
    """A data row whose option cells happen to read like column names (`…, C, D, B`) below full rows."""
    f = tmp_path / "noheader.csv"
    f.write_text("1,第一题（ ）,甲,乙,丙,丁,A\n2,第二题（ ）,戊,己,庚,辛,B\n3,第三题（ ）,M,S,C,D,B\n", encoding="utf-8")
    p = preview(f)
    assert p.sheets[0].mapping.header_row is None and p.errors == [] and p.total == 3
