"""Word and text exam banks (.txt UTF-8 / GBK, .md, .docx with real auto-numbering) and spreadsheets pasted
from Word, through the real reader, parser and DuckDB file. Every fixture is written here."""
import json

import docx
import openpyxl
import pytest
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import db
from studio.core.errors import InputError, WorkFailed
from studio.data.exams import textbank as tb
from studio.data.exams.importer import import_exam, parse_table, preview
from tests.conftest import run_cli

BANK = """电工考试题库（内部资料）

一、单项选择题（每题1分，共4分）
1、安全电压的上限是（　　）。
A、36V\tB、42V\tC、50V\tD、220V
答案：C
2. 雷雨天气巡视室外高压设备时，应穿（D）。
A．雨鞋
B．橡胶鞋
C．一种很长的选项文字，在文件里
换行写到了下一行
D．绝缘靴
4．下列不是导体的是（　　）
【A】铜  【B】铝  【C】橡胶  【D】铁   答案：C
4．重复的题号也是单独的一题（　　）
(A) 甲
(B) 乙
答案：B
二、多选题
第5题(多选)：下列属于绝缘材料的有（　　）
A. 橡胶 B. 陶瓷 C. 铜 D. 云母
答案：ABD
解析：铜是导体。
6、没有答案的题（　　）
A. 甲
B. 乙
三、判断题
7、电流的单位是安培。（正确）
8、电压的单位是欧姆。（×）
9、判断题也可以写答案行。
答案：错误
四、简答题
10、简述安全用电的原则。
答案：1、不接触低压带电体；
2、不靠近高压带电体。
11、什么是接地？
答：把设备与大地连接。
"""
BY_TYPE = {"single": 4, "multi": 1, "judge": 3, "open": 2}


def rows_of(p):
    return {r["row"]: r for r in p.rows}


def check_bank(p):
    """What BANK reads as, whatever file it came in."""
    assert p.by_type == BY_TYPE
    assert p.errors == [{"sheet": "", "row": 24, "reason": "missing answer"}]   # line 24: `6、没有答案的题`
    r = rows_of(p)
    assert r[4]["question"] == "安全电压的上限是（　　）。"
    assert r[4]["options"] == "A. 36V | B. 42V | C. 50V | D. 220V" and r[4]["answer_labels"] == "C"
    # the answer written only in the stem is taken out of it, the blank left
    assert r[7]["question"] == "雷雨天气巡视室外高压设备时，应穿（　　）。" and r[7]["answer_labels"] == "D"
    assert r[7]["options"].split(" | ")[2] == "C. 一种很长的选项文字，在文件里换行写到了下一行"
    assert r[13]["answer_labels"] == "C" and r[13]["options"] == "A. 铜 | B. 铝 | C. 橡胶 | D. 铁"
    assert r[15]["question"] == "重复的题号也是单独的一题（　　）" and r[15]["answer_labels"] == "B"
    assert r[20]["type"] == "multi" and r[20]["answer_labels"] == "ABD" and r[20]["question"] == "下列属于绝缘材料的有（　　）"
    assert (r[28]["type"], r[28]["question"], r[28]["answer_text"]) == ("judge", "电流的单位是安培。", "正确")
    assert (r[29]["question"], r[29]["answer_text"]) == ("电压的单位是欧姆。", "错误")
    assert r[30]["answer_text"] == "错误"
    assert r[33]["type"] == "open" and r[33]["answer_text"] == "1、不接触低压带电体；\n2、不靠近高压带电体。"
    assert r[36]["answer_text"] == "把设备与大地连接。"


# ---------------------------------------------------------------- line reading, tables of cases

@pytest.mark.parametrize("line, options", [
    ("A、36V\tB、42V\tC、50V\tD、220V", [["A", "36V"], ["B", "42V"], ["C", "50V"], ["D", "220V"]]),
    ("A.admin B.root", [["A", "admin"], ["B", "root"]]),
    ("【A】铜  【B】铝", [["A", "铜"], ["B", "铝"]]),
    ("(A) 甲 (B) 乙 (C) 丙", [["A", "甲"], ["B", "乙"], ["C", "丙"]]),
    ("Ａ．甲　Ｂ．乙", [["A", "甲"], ["B", "乙"]]),
    ("C．只有一项", [["C", "只有一项"]]),
    ("A、选 A、B 都对", [["A", "选 A、B 都对"]]),          # only the next label in order splits
    ("A. x C. y", [["A", "x C. y"]]),
    ("安全电压", None),
    ("Android 系统", None),
])
def test_split_options(line, options):
    assert tb.split_options(line) == options


@pytest.mark.parametrize("line, found", [
    ("一、单项选择题（每题1分，共20分）", ("type", "单选题")),
    ("二、多选题", ("type", "多选题")),
    ("三、判断题：", ("type", "判断题")),
    ("填空题", ("type", "填空题")),
    ("【简答题】", ("type", "问答题")),
    ("四、选择题", ("type", "选择题")),
    ("第二部分 不定项选择题", ("type", "多选题")),
    ("## 一、单选题", ("type", "单选题")),
    ("# 电工基础", ("subject", "电工基础")),
    ("第一章 安全用电", ("subject", "安全用电")),
    ("1、判断题的答案只有两种吗？", None),
    ("1、下列说法正确的是（　　）", None),
])
def test_heading(line, found):
    assert tb.heading(line) == found


@pytest.mark.parametrize("line, numbered", [
    ("1、题目", True), ("1.题目", True), ("12．题目", True), ("（3）题目", True), ("(3)题目", True),
    ("第3题(单选)：题目", True), ("7\t题目", True), ("3 下列", True),
    ("1.5倍的额定电压", False), ("10kV 线路", False), ("12:30 开始", False), ("A、选项", False),
])
def test_question_numbers(line, numbered):
    assert bool(tb.QUESTION.match(line)) is numbered


def parse(text: str):
    return [tb.finish(q) for q in tb.parse_lines(list(enumerate(text.splitlines(), start=1)))]


def test_questions_as_cells():
    cells = parse(BANK)
    assert len(cells) == 11
    assert cells[0] == ["1", None, "单选题", "安全电压的上限是（　　）。", '["36V", "42V", "50V", "220V"]', "C", None]
    assert cells[4][2:] == ["多选题", "下列属于绝缘材料的有（　　）", '["橡胶", "陶瓷", "铜", "云母"]', "ABD", "铜是导体。"]


@pytest.mark.parametrize("text, stem, answer", [
    ("1、下列是导体的是（A）。\nA、铜\nB、橡胶", "下列是导体的是（　　）。", "A"),
    ("1、下列是导体的是（ A、B ）。\nA、铜\nB、铝\nC、橡胶", "下列是导体的是（　　）。", "AB"),
    ("1、下列是导体的是（A）。\nA、铜\nB、橡胶\n答案：A", "下列是导体的是（　　）。", "A"),
    # an answer line that disagrees: the stem is left as written, the answer line wins
    ("1、下列是导体的是（A）。\nA、铜\nB、橡胶\n答案：B", "下列是导体的是（A）。", "B"),
    ("1、（E）不是选项字母\nA、铜\nB、橡胶", "（E）不是选项字母", None),
    ("1、电流的单位是安培（√）。", "电流的单位是安培。", "√"),
    ("1、电流的单位是安培。 √", "电流的单位是安培。", "√"),
    ("1、（ √ ）中间的判断标记", "（　　）中间的判断标记", "√"),
    ("（ B ）1、题目\nA、甲\nB、乙", "题目", "B"),
    ("1、题目（　　）\nA、甲\nB、乙（答案：B）", "题目（　　）", "B"),
    ("1、题目（　　）\nA、甲\nB、乙\n答案 B", "题目（　　）", "B"),
    ("1、题目（　　）\nA、甲\nB、乙\n答案B", "题目（　　）", "B"),
    ("1、答案是什么（　　）\nA、甲\nB、乙\n参考答案：A", "答案是什么（　　）", "A"),
])
def test_answer_inside_the_stem(text, stem, answer):
    (q,) = parse(text)
    assert (q[3], q[5]) == (stem, answer)


def test_numbering_typos_never_merge_or_drop():
    text = "1、甲（　　）\nA、a\nB、b\n答案：A\n3、乙（　　）\nA、a\nB、b\n答案：B\n3、丙（　　）\nA、a\nB、b\n答案：A\n2、丁（　　）\nA、a\nB、b\n答案：B"
    assert [(q[0], q[3], q[5]) for q in parse(text)] == [
        ("1", "甲（　　）", "A"), ("3", "乙（　　）", "B"), ("3", "丙（　　）", "A"), ("2", "丁（　　）", "B")]


def test_sub_items_and_answer_points_stay_in_their_question():
    text = ("1、下列说法：\n（1）甲\n（2）乙\n其中正确的是（　　）\nA、（1）\nB、（2）\n答案：A\n"
            "二、简答题\n5、简述。\n答：\n1、第一点\n2、第二点\n（3）第三点\n6、下一题？\n答案：好\n7、再下一题？\n答案：是")
    qs = parse(text)
    assert [q[0] for q in qs] == ["1", "5", "6", "7"]
    assert qs[0][3] == "下列说法：\n（1）甲\n（2）乙\n其中正确的是（　　）"
    assert qs[1][5] == "1、第一点\n2、第二点\n（3）第三点"


def test_paren_numbers_type_tags_and_explanations():
    text = ("（1）【单选题】下列是导体的是（　　）\nA.铜 B.橡胶\n【答案】A【解析】铜导电。\n"
            "（2）（多选题，2分）下列是绝缘体的是（　　）\nA.陶瓷\nB.橡胶\nC.铜\n正确答案：A、B\n"
            "【难度】易\n（3）(判断)电流单位是安培。\n答案：对")
    qs = parse(text)
    assert [q[0] for q in qs] == ["1", "2", "3"]
    assert qs[0][2:] == ["单选题", "下列是导体的是（　　）", '["铜", "橡胶"]', "A", "铜导电。"]
    assert qs[1][2:6] == ["多选题", "下列是绝缘体的是（　　）", '["陶瓷", "橡胶", "铜"]', "A、B"]
    assert qs[2][2:6] == ["判断题", "电流单位是安培。", None, "对"]


def test_unnumbered_questions_and_titles():
    text = "电工题库\n考试说明：闭卷\n下列是导体的是（　　）\nA、铜\nB、橡胶\n答案：A\n下列是绝缘体的是（　　）\nA、铜\nB、橡胶\n答案：B\n" \
           "电流的单位是安培（√）\n电压的单位是欧姆（×）"
    assert [(q[3], q[5]) for q in parse(text)] == [
        ("下列是导体的是（　　）", "A"), ("下列是绝缘体的是（　　）", "B"), ("电流的单位是安培", "√"),
        ("电压的单位是欧姆", "×")]


def test_options_not_read_are_never_a_valid_blank():
    """Options written `A 甲` (no mark after the label) are not read: the letter answer makes it a choice
    question with no options, refused, never a fill-in-the-blank answered "A"."""
    p = parse_table([tb.HEADER] + parse("1、题目（　　）\nA 甲\nB 乙\n答案：A"))
    assert p.by_type == {} and p.errors[0]["reason"].startswith("too few options (0)")


def test_two_answers_are_refused_not_chosen():
    p = parse_table([tb.HEADER] + parse("1、甲（　　）\nA、a\nB、b\n答案：A\n答案：B"))
    assert p.by_type == {} and "neither an option label" in p.errors[0]["reason"]


# ---------------------------------------------------------------- files

def test_txt_utf8_and_gbk(tmp_path):
    for encoding, name in (("utf-8", "bank.txt"), ("gbk", "bank_gbk.txt")):
        f = tmp_path / name
        f.write_bytes(BANK.replace("\n", "\r\n").encode(encoding))
        p = preview(f, limit=50)
        assert p.kind == "txt" and p.encoding == ("utf-8" if encoding == "utf-8" else "gb18030")
        check_bank(p)


def test_txt_table_keeps_the_table_reader_and_prose_is_refused(tmp_path):
    table = tmp_path / "table.txt"
    table.write_text("题目\tA\tB\tC\tD\t答案\n安全电压上限\t36V\t42V\t50V\t220V\tC\n导体是\t铜\t橡胶\t陶瓷\t玻璃\tA\n",
                     encoding="utf-8")
    p = preview(table)
    assert p.kind == "csv" and p.by_type == {"single": 2}
    prose = tmp_path / "prose.txt"
    prose.write_text("这是一篇普通的文章。\n没有题目，也没有选项。\n", encoding="utf-8")
    with pytest.raises(InputError, match="neither a table nor a question list"):
        preview(prose)


def test_import_writes_the_lines_as_source_rows(tmp_path):
    f = tmp_path / "bank.txt"
    f.write_text(BANK, encoding="utf-8")
    with pytest.raises(WorkFailed, match="row 24: missing answer"):
        import_exam(f, "bank")
    s = import_exam(f, "bank", _skip())
    assert s["imported"] == 10 and s["errors"] == [{"sheet": "", "row": 24, "reason": "missing answer"}]
    q = db.rows("SELECT * FROM exam_questions ORDER BY source_row")
    assert [r["source_row"] for r in q][:3] == [4, 7, 13] and q[0]["ext_id"] == "1"
    assert json.loads(q[1]["options"])[3] == {"label": "D", "text": "绝缘靴"} and q[1]["answer_labels"] == ["D"]
    assert q[4]["basis"] == "铜是导体。"


def _skip():
    from studio.data.exams.importer import ImportOptions

    return ImportOptions(skip_invalid=True)


MD = """# 电工基础

## 一、单项选择题

1. 安全电压的上限是（　　）。
   - A. 36V
   - B. 42V
   - C. 50V

   **答案：** C

2. **下列是导体的是**（A）。

   A. 铜 B. 橡胶 C. 陶瓷 D. 玻璃

## 二、判断题

3. 电流的单位是安培。（√）
"""


def test_markdown_bank_and_markdown_table(tmp_path):
    f = tmp_path / "bank.md"
    f.write_text(MD, encoding="utf-8")
    p = preview(f)
    assert p.kind == "md" and p.by_type == {"single": 2, "judge": 1} and p.errors == []
    r = rows_of(p)
    assert (r[5]["options"], r[5]["answer_labels"], r[5]["subject"]) == ("A. 36V | B. 42V | C. 50V", "C", "电工基础")
    assert r[12]["question"] == "下列是导体的是（　　）。" and r[12]["answer_labels"] == "A"
    t = tmp_path / "table.md"
    t.write_text("说明\n\n| 题型 | 题目 | 选项 | 答案 |\n| --- | --- | --- | --- |\n"
                 "| 单选题 | 安全电压（　　） | A. 36V,B. 42V | A. 36V |\n| 判断题 | 电流单位是安培 | | 正确 |\n",
                 encoding="utf-8")
    p = preview(t)
    assert p.by_type == {"single": 1, "judge": 1} and p.errors == []


def test_markdown_bank_with_a_table_inside_a_question(tmp_path):
    f = tmp_path / "bank.md"
    f.write_text("1. 根据下表，电阻最大的是（　　）\n\n| 导线 | 电阻 |\n| --- | --- |\n| 甲 | 1 |\n| 乙 | 2 |\n\n"
                 "A. 甲\nB. 乙\n\n答案：B\n", encoding="utf-8")
    p = preview(f)
    assert p.by_type == {"single": 1} and p.rows[0]["options"] == "A. 甲 | B. 乙"
    assert p.rows[0]["question"].startswith("根据下表，电阻最大的是（　　）\n| 导线 | 电阻 |")


W = nsdecls("w")


def add_list(document, abstract_id, levels, num_id, restart=None):
    """A Word numbering definition and an instance of it: levels = [(ilvl, numFmt, lvlText)]."""
    numbering = document.part.numbering_part.element
    lvls = "".join(f'<w:lvl w:ilvl="{i}"><w:start w:val="1"/><w:numFmt w:val="{fmt}"/><w:lvlText w:val="{text}"/>'
                   "</w:lvl>" for i, fmt, text in levels)
    numbering.insert(0, parse_xml(f'<w:abstractNum {W} w:abstractNumId="{abstract_id}">{lvls}</w:abstractNum>'))
    override = (f'<w:lvlOverride w:ilvl="{restart}"><w:startOverride w:val="1"/></w:lvlOverride>'
                if restart is not None else "")
    numbering.append(parse_xml(f'<w:num {W} w:numId="{num_id}"><w:abstractNumId w:val="{abstract_id}"/>'
                               f"{override}</w:num>"))


def numbered(document, text, num_id, ilvl=0):
    """A paragraph numbered by Word (the number is not in its text)."""
    p = document.add_paragraph(text)
    p._p.get_or_add_pPr().append(parse_xml(f'<w:numPr {W}><w:ilvl w:val="{ilvl}"/><w:numId w:val="{num_id}"/></w:numPr>'))
    return p


def word_bank(path):
    d = docx.Document()
    add_list(d, 90, [(0, "chineseCounting", "%1、")], 90)                     # section headings 一、二、
    add_list(d, 91, [(0, "decimal", "%1."), (1, "upperLetter", "%2.")], 91)   # questions 1. and options A.
    d.add_paragraph("电工题库")                                                   # paragraph 1
    numbered(d, "单项选择题（每题1分）", 90)                                        # 2
    numbered(d, "安全电压的上限是（　　）。", 91)                                   # 3
    for text in ("36V", "42V", "50V"):                                            # 4-6
        numbered(d, text, 91, 1)
    d.add_paragraph("答案：C")                                                    # 7
    numbered(d, "下列是导体的是（A）。", 91)                                        # 8
    d.add_paragraph("A、铜\tB、橡胶\tC、陶瓷\tD、玻璃")                              # 9
    numbered(d, "下列是绝缘体的是（　　）", 91)                                     # 10
    d.add_paragraph("A．铜")                                                      # 11
    d.add_paragraph("B．一种很长的选项，Word 里")                                  # 12
    d.add_paragraph("换到下一段的橡胶")                                             # 13
    d.add_paragraph("C．铝    答案：B")                                            # 14
    numbered(d, "判断题", 90)                                                     # 15
    numbered(d, "电流的单位是安培。（正确）", 91)                                   # 16
    p = numbered(d, "电压的单位是欧姆。", 91)                                      # 17, with a line break
    p.add_run().add_break()
    p.add_run("（错误）")
    numbered(d, "没有答案的判断。", 91)                                            # 18
    d.save(path)


def test_word_bank_with_auto_numbering(tmp_path):
    f = tmp_path / "bank.docx"
    word_bank(f)
    lines = list(tb._docx_lines(docx.Document(str(f))))
    assert lines[1:4] == [(2, "一、 单项选择题（每题1分）"), (3, "1. 安全电压的上限是（　　）。"), (4, "A. 36V")]
    assert (15, "二、 判断题") in lines and (16, "4. 电流的单位是安培。（正确）") in lines
    p = preview(f)
    assert p.kind == "docx"
    assert p.by_type == {"single": 3, "judge": 2}
    assert p.errors == [{"sheet": "", "row": 18, "reason": "missing answer"}]
    r = rows_of(p)
    assert (r[3]["options"], r[3]["answer_labels"]) == ("A. 36V | B. 42V | C. 50V", "C")
    assert (r[8]["question"], r[8]["answer_labels"]) == ("下列是导体的是（　　）。", "A")
    assert r[10]["options"] == "A. 铜 | B. 一种很长的选项，Word 里换到下一段的橡胶 | C. 铝"
    assert r[10]["answer_labels"] == "B"
    assert (r[16]["question"], r[16]["answer_text"]) == ("电流的单位是安培。", "正确")
    assert (r[17]["question"], r[17]["answer_text"]) == ("电压的单位是欧姆。", "错误")


def test_word_option_letters_that_continue_are_refused(tmp_path):
    """Options numbered by one Word list that never restarts show E, F… in Word: refused, not relabelled."""
    d = docx.Document()
    add_list(d, 80, [(0, "upperLetter", "%1.")], 80)
    for k, stem in enumerate(("甲（　　）", "乙（　　）"), start=1):
        d.add_paragraph(f"{k}、{stem}")
        numbered(d, "对", 80)
        numbered(d, "错的说法", 80)
        d.add_paragraph("答案：A")
    d.save(tmp_path / "b.docx")
    p = preview(tmp_path / "b.docx")
    assert p.by_type == {"single": 1}
    assert p.errors[0]["row"] == 5 and "labels C, D are not A, B" in p.errors[0]["reason"]


def test_word_option_lists_restarted_per_question_and_content_controls(tmp_path):
    """Each question's options a new list instance restarting at A (``w:startOverride``), as Word's
    "restart numbering" writes them; one question inside a content control (``w:sdt``)."""
    d = docx.Document()
    numbering = d.part.numbering_part.element
    numbering.insert(0, parse_xml(f'<w:abstractNum {W} w:abstractNumId="70"><w:lvl w:ilvl="0"><w:start w:val="1"/>'
                                  '<w:numFmt w:val="upperLetter"/><w:lvlText w:val="%1、"/></w:lvl></w:abstractNum>'))
    for num_id in (71, 72):
        numbering.append(parse_xml(f'<w:num {W} w:numId="{num_id}"><w:abstractNumId w:val="70"/><w:lvlOverride '
                                   'w:ilvl="0"><w:startOverride w:val="1"/></w:lvlOverride></w:num>'))
    for k, num_id in ((1, 71), (2, 72)):
        d.add_paragraph(f"{k}. 第{k}题（　　）")
        numbered(d, "铜", num_id)
        numbered(d, "橡胶", num_id)
        d.add_paragraph("答案：B")
    sdt = parse_xml(f"<w:sdt {W}><w:sdtContent><w:p><w:r><w:t>3. 控件里的题（A）</w:t></w:r></w:p>"
                    "<w:p><w:r><w:t>A. 甲</w:t></w:r></w:p><w:p><w:r><w:t>B. 乙</w:t></w:r></w:p></w:sdtContent></w:sdt>")
    d.element.body.insert(len(d.element.body) - 1, sdt)   # before the section properties
    d.save(tmp_path / "r.docx")
    p = preview(tmp_path / "r.docx")
    assert p.errors == [] and p.by_type == {"single": 3}
    assert [r["options"] for r in p.rows] == ["A. 铜 | B. 橡胶", "A. 铜 | B. 橡胶", "A. 甲 | B. 乙"]
    assert p.rows[2]["question"] == "控件里的题（　　）" and p.rows[2]["row"] == 9


def test_word_table_bank_and_broken_docx(tmp_path):
    d = docx.Document()
    d.add_paragraph("题库")
    t = d.add_table(rows=3, cols=4)
    for i, row in enumerate([["题目", "选项A", "选项B", "答案"], ["安全电压（　　）", "36V", "220V", "A"],
                             ["导体是（　　）", "铜", "橡胶", "A"]]):
        for j, text in enumerate(row):
            t.cell(i, j).text = text
    d.save(tmp_path / "t.docx")
    assert preview(tmp_path / "t.docx").by_type == {"single": 2}
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="not a readable .docx"):
        preview(tmp_path / "bad.docx")


def pasted_workbook(path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "题库"
    for row in [["一、单选题"],                                          # 1
                [1, "安全电压的上限是（　　）。", "C"],                  # 2: number, stem, answer in cells
                ["A、36V", "B、42V", "C、50V", "D、220V"],              # 3: options pasted into cells
                ["2、下列是导体的是（　　）。"],                           # 4
                ["A、铜"], ["B、橡胶"], ["答案：A"],                      # 5-7
                ["2、重复的题号（　　）"], ["A、甲", "B、乙"], ["答案：B"],  # 8-10
                ["4、没有答案（　　）"], ["A、甲", "B、乙"],                # 11-12
                ["二、判断题"], ["5、电流的单位是安培。（√）"], ["6、电压的单位是欧姆。", "×"]]:  # 13-15
        ws.append(row)
    notes = wb.create_sheet("说明")
    notes.append(["题目", "A", "B", "答案"])
    notes.append(["正常表格的题（　　）", "甲", "乙", "A"])
    wb.save(path)


def test_spreadsheet_pasted_from_word(tmp_path):
    f = tmp_path / "pasted.xlsx"
    pasted_workbook(f)
    p = preview(f)
    assert p.by_type == {"single": 4, "judge": 2}    # 3 on the pasted sheet + 1 on the ordinary one
    assert p.errors == [{"sheet": "题库", "row": 11, "reason": "missing answer"}]
    r = {(x["sheet"], x["row"]): x for x in p.rows}
    assert r[("题库", 2)]["options"] == "A. 36V | B. 42V | C. 50V | D. 220V" and r[("题库", 2)]["answer_labels"] == "C"
    assert r[("题库", 8)]["question"] == "重复的题号（　　）"
    assert r[("题库", 15)]["answer_text"] == "错误" and r[("说明", 2)]["answer_labels"] == "A"


def test_cli_imports_a_word_bank(studio_env, tmp_path):
    f = tmp_path / "bank.docx"
    word_bank(f)
    r = run_cli("import", "exam", str(f), "--dataset", "word", "--json")
    assert r.returncode == 1
    s = json.loads(r.stdout)
    assert s["imported"] == 0 and s["errors"] == [{"sheet": "", "row": 18, "reason": "missing answer"}]
    r = run_cli("import", "exam", str(f), "--dataset", "word", "--skip-invalid", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["imported"] == 5 and s["by_type"] == {"single": 3, "multi": 0, "judge": 2, "blank": 0, "open": 0}


# ---------------------------------------------------------------- generated banks round-trip

LABEL_FORMS = ("{l}、", "{l}.", "{l}．", "({l})", "【{l}】", "（{l}）")
NUMBER_FORMS = ("{n}、", "{n}.", "{n}．", "（{n}）", "第{n}题：")
WORDS = st.text(alphabet="电压流阻容感线路设备安全绝缘接地开关", min_size=1, max_size=8)


@st.composite
def banks(draw):
    """Questions (stem, options, answer letters) and how each is written."""
    qs = []
    for _ in range(draw(st.integers(1, 5))):
        n = draw(st.integers(2, 5))
        options = draw(st.lists(WORDS, min_size=n, max_size=n, unique=True))
        answer = "".join(sorted(draw(st.sets(st.sampled_from("ABCDE"[:n]), min_size=1, max_size=n))))
        qs.append({"stem": draw(WORDS) + "（　　）", "options": options, "answer": answer,
                   "label": draw(st.sampled_from(LABEL_FORMS)), "number": draw(st.sampled_from(NUMBER_FORMS)),
                   "one_line": draw(st.booleans()), "sep": draw(st.sampled_from(("\t", "  ", " "))),
                   "where": draw(st.sampled_from(("line", "glued", "stem", "bracket")))})
    return qs


def render(qs) -> str:
    lines = ["题库标题"]
    for k, q in enumerate(qs, start=1):
        stem = q["stem"].replace("（　　）", f"（{q['answer']}）") if q["where"] == "stem" else q["stem"]
        lines.append(q["number"].format(n=k) + stem)
        opts = [q["label"].format(l=l) + t for l, t in zip("ABCDE", q["options"])]
        opts = [q["sep"].join(opts)] if q["one_line"] else opts
        if q["where"] == "glued":
            opts[-1] += "    答案：" + q["answer"]
        lines += opts
        if q["where"] == "line":
            lines.append("答案：" + q["answer"])
        elif q["where"] == "bracket":
            lines.append("【答案】" + q["answer"])
    return "\n".join(lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(banks())
def test_generated_banks_round_trip(qs):
    p = parse_table([tb.HEADER] + parse(render(qs)), limit=100)
    assert p.errors == []
    got = [(r["question"], r["options"], r["answer_labels"]) for r in p.rows]
    assert got == [(q["stem"], " | ".join(f"{l}. {t}" for l, t in zip("ABCDE", q["options"])), q["answer"])
                   for q in qs]
