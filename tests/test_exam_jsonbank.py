"""JSON banks (class 4 and 11 of issue 13): questions at any depth, options and answers as JSON in a cell,
and a Python literal saved as .json refused whole. Fixtures are written here, in the shapes real banks use."""
import csv
import json

import pytest

from store import db
from studio.core.errors import InputError
from studio.data.exams import jsonbank
from studio.data.exams.importer import import_exam, preview


def _nested() -> dict:
    """Chapters -> sections -> questions ``{index, type, content, options: [{label, text}], answer}``,
    judge answers √/×."""
    def q(i, qtype, content, options, answer):
        return {"index": i, "type": qtype, "content": content,
                "options": [{"label": l, "text": t} for l, t in options], "answer": answer}
    return {"name": "电工题库", "chapters": [
        {"title": "第一章 安全规程", "sections": [
            {"title": "第一节 停电", "questions": [
                q(1, "单选题", "停电后应先（　　）", [("A", "验电"), ("B", "接地")], "A"),
                q(2, "判断题", "可以约时停电。", [], "×"),
                q(3, "多选题", "安全措施有（　　）", [("A", "停电"), ("B", "验电"), ("C", "接地")], ["A", "C"])]},
            {"title": "第二节 验电", "questions": [q(4, "判断题", "验电前应试验验电器。", [], "√")]}]},
        {"title": "第二章 工具", "sections": [
            {"title": "第一节 绝缘工具", "questions": [
                q(5, "单选题", "绝缘手套应（　　）试验一次。", [("A", "每半年"), ("B", "每两年")], "A")]}]}]}


def test_nested_one_line_bank_carries_chapter_and_section_as_subject(tmp_path):
    f = tmp_path / "bank.json"
    f.write_text(json.dumps(_nested(), ensure_ascii=False), encoding="utf-8")   # one line
    s = import_exam(f, "nested")
    assert s["rejected"] == 0 and {k: v for k, v in s["by_type"].items() if v} == {"single": 2, "multi": 1, "judge": 2}
    got = db.rows("SELECT * FROM exam_questions ORDER BY source_row")
    assert [g["subject"] for g in got] == ["电工题库 / 第一章 安全规程 / 第一节 停电"] * 3 + [
        "电工题库 / 第一章 安全规程 / 第二节 验电", "电工题库 / 第二章 工具 / 第一节 绝缘工具"]
    assert [g["answer_text"] for g in got] == ["验电", "错误", "停电; 接地", "正确", "每半年"]
    assert [g["ext_id"] for g in got] == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("doc, expected", [
    ({"data": {"list": [{"question": "q1", "answer": "A"}]}}, [("q1", None)]),
    ([[{"question": "q1", "answer": "A"}], [{"question": "q2", "answer": "B"}]], [("q1", None), ("q2", None)]),
    ({"单选题": [{"题目": "q1", "答案": "A"}], "判断题": [{"题目": "q2", "答案": "对"}]},
     [("q1", "单选题"), ("q2", "判断题")]),
    ({"第一章": [{"题目": "q1", "答案": "A"}]}, [("q1", None)]),
])
def test_questions_are_found_at_any_depth(doc, expected):
    found = jsonbank.questions(doc)
    assert [(q.get("question") or q.get("题目"), q.get("type")) for q in found] == expected


def test_a_chapter_with_a_title_is_not_a_question():
    doc = [{"title": "第一章", "items": [{"title": "停电后应先验电吗？", "answer": "对"}]}]
    found = jsonbank.questions(doc)
    assert found == [{"title": "停电后应先验电吗？", "answer": "对", "subject": "第一章"}]


def test_python_literal_saved_as_json_is_refused_whole_naming_line_and_column(tmp_path):
    f = tmp_path / "bank.json"
    f.write_text("[\n  {'question': '停电后应先（ ）', 'options': ['验电', '接地'], 'answer': 'A', 'ok': True},\n]\n",
                 encoding="utf-8")
    with pytest.raises(InputError) as info:
        import_exam(f, "bad")
    msg = str(info.value)
    assert "bank.json" in msg and "line 2, column 4" in msg and "Python literal" in msg and "\n" not in msg
    assert db.scalar("SELECT count(*) FROM exam_questions") == 0


def test_json_lines_error_names_line_and_column(tmp_path):
    f = tmp_path / "bank.jsonl"
    f.write_text('{"question": "a", "answer": "A"}\n{"question": \'b\'}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2 is not valid JSON \(column 14"):
        preview(f)


def test_camelcase_bank_with_json_option_objects_codes_and_judge_1_2(tmp_path):
    """``questionAnswer, questionContent, optionContent, questionType``: options a JSON array of objects,
    type codes 1/2/3, judge answers 1/2 (1 = 正确): never inverted."""
    def opts(*texts):
        return json.dumps([{"optionContent": t, "isRight": 0} for t in texts], ensure_ascii=False)
    rows = [["questionAnswer", "questionContent", "optionContent", "questionType"],
            ["B", "停电后应先（ ）", opts("接地", "验电", "挂牌"), "1"],
            ['["A", "C"]', "安全措施有（ ）", opts("停电", "验电", "接地"), "2"],
            ["2", "可以约时停电。", "", "3"],
            ["1", "工作前应验电。", "", "3"],
            ["1", "工作票应写清楚。", opts("正确", "错误"), "3"],
            ["2", "可以带电作业。", opts("正确", "错误"), "3"]]
    f = tmp_path / "camel.csv"
    with open(f, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    p = preview(f, limit=100)
    assert p.errors == [] and p.by_type == {"single": 1, "multi": 1, "judge": 4}
    assert [r["answer_text"] for r in p.rows] == ["验电", "停电; 接地", "错误", "正确", "正确", "错误"]
    assert p.rows[0]["options"] == "A. 接地 | B. 验电 | C. 挂牌"


@pytest.mark.parametrize("cell, texts, labels", [
    ('["雨鞋", "绝缘靴"]', ["雨鞋", "绝缘靴"], ["A", "B"]),
    ('[{"optionContent": "雨鞋"}, {"optionContent": "绝缘靴"}]', ["雨鞋", "绝缘靴"], ["A", "B"]),
    ('[{"label": "A", "text": "雨鞋"}, {"label": "B", "text": "绝缘靴"}]', ["雨鞋", "绝缘靴"], ["A", "B"]),
    ('[{"key": "a", "value": "雨鞋"}, {"key": "b", "value": "绝缘靴"}]', ["雨鞋", "绝缘靴"], ["A", "B"]),
    ('[{"id": 7, "isCorrect": false, "content": "雨鞋"}, {"id": 8, "isCorrect": true, "content": "绝缘靴"}]',
     ["雨鞋", "绝缘靴"], ["A", "B"]),
    ('{"A": "雨鞋", "B": "绝缘靴"}', ["雨鞋", "绝缘靴"], ["A", "B"]),
])
def test_options_as_json_in_a_cell(tmp_path, cell, texts, labels):
    f = tmp_path / "b.csv"
    with open(f, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([["题目", "选项", "答案"], ["雷雨天应穿（ ）", cell, "绝缘靴"]])
    p = preview(f)
    assert p.errors == [] and p.rows[0]["options"] == " | ".join(f"{l}. {t}" for l, t in zip(labels, texts))
    assert p.rows[0]["answer_labels"] == "B"
    from studio.core import exam_rules as rules
    assert rules.json_options(json.loads(cell)) == [{"label": l, "text": t} for l, t in zip(labels, texts)]


def test_duplicates_across_sheets_say_when_answers_conflict(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    a = wb.active
    a.title = "单选题"
    a.append(["题目", "A", "B", "答案"])
    a.append(["雷雨天应穿（ ）", "雨鞋", "绝缘靴", "B"])
    a.append(["登高应系（ ）", "安全带", "围裙", "A"])
    b = wb.create_sheet("复习")
    b.append(["题目", "A", "B", "答案"])
    b.append(["雷雨天应穿（ ）", "雨鞋", "绝缘靴", "A"])
    b.append(["登高应系（ ）", "安全带", "围裙", "A"])
    wb.save(tmp_path / "two.xlsx")
    p = preview(tmp_path / "two.xlsx")
    reasons = {(d["sheet"], d["row"]): d["reason"] for d in p.duplicates}
    assert reasons[("复习", 2)] == "duplicate of row 2 (sheet 单选题) with a conflicting answer: A here, B there"
    assert reasons[("复习", 3)] == "duplicate of row 3 (sheet 单选题)"


def test_json_array_of_labelled_strings_keeps_its_labels(tmp_path):
    f = tmp_path / "b.csv"
    with open(f, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows([["题目", "选项", "答案"], ["雷雨天应穿（ ）", '["A. 雨鞋", "B．绝缘靴", "C、橡胶鞋"]', "b"],
                                   ["应选（ ）", '["A. 甲", "C. 乙"]', "A"]])
    p = preview(f)
    assert p.rows[0]["options"] == "A. 雨鞋 | B. 绝缘靴 | C. 橡胶鞋" and p.rows[0]["answer_text"] == "绝缘靴"
    assert [e["row"] for e in p.errors] == [3] and "labels A, C are not A, B, C" in p.errors[0]["reason"]
