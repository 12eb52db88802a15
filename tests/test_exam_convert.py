"""Option splitting and answer reading (tables of cases), the seed's pairs byte for byte, templates,
option shuffling and re-conversion — all through the real SQL on the real DuckDB file."""
import json
import re

import pytest

from store import datasets, db
from studio.core.errors import InputError
from studio.data.exams import convert as cv
from studio.data.exams.importer import ImportOptions, import_exam, parse_table
from tests.conftest import SHARED

SEED = SHARED / "seeds" / "chatglm-ptuning-exam-dataset.md"


def one(row, header=("题型", "题目", "选项", "答案"), **kw):
    p = parse_table([list(header), list(row)], ImportOptions(**kw))
    assert p.total == 1
    return p.rows[0]


# ---------------------------------------------------------------- option splitting

@pytest.mark.parametrize("cell, texts", [
    ("A. 雨鞋,B. 绝缘靴,C. 橡胶鞋,D. 绝缘鞋", ["雨鞋", "绝缘靴", "橡胶鞋", "绝缘鞋"]),
    ("A.admin B.root C.guest D.Super", ["admin", "root", "guest", "Super"]),
    ("A． NetWare      B．Windows NT\n\nC． Windows XP     D．Linux", ["NetWare", "Windows NT", "Windows XP", "Linux"]),
    ("A、停电；B、验电；C、接地", ["停电", "验电", "接地"]),
    ("(A) 1 (B) 2 (C) 3", ["1", "2", "3"]),
    ("Ａ．甲 Ｂ．乙", ["甲", "乙"]),
    ("A:1.5 B:2.5 C:3.5", ["1.5", "2.5", "3.5"]),
    ("A. 雨鞋,B. 绝缘靴;", ["雨鞋", "绝缘靴"]),
    ("雨鞋\n绝缘靴\n\n橡胶鞋", ["雨鞋", "绝缘靴", "橡胶鞋"]),
    ("雨鞋&绝缘靴&橡胶鞋", ["雨鞋", "绝缘靴", "橡胶鞋"]),
    ("雨鞋|绝缘靴", ["雨鞋", "绝缘靴"]),
    ("雨鞋；绝缘靴", ["雨鞋", "绝缘靴"]),
    ('["雨鞋", "绝缘靴", 3]', ["雨鞋", "绝缘靴", "3"]),
    ('{"A": "雨鞋", "B": "绝缘靴"}', ["雨鞋", "绝缘靴"]),
])
def test_option_cells_split(cell, texts):
    r = one(["单选题", "应穿（ ）", cell, "A"])
    assert r["error"] is None, r["error"]
    assert r["options"] == " | ".join(f"{chr(65 + i)}. {t}" for i, t in enumerate(texts))


@pytest.mark.parametrize("cell, reason", [
    ("A. 甲 C. 乙 D. 丙", "labels A, C, D are not A, B, C"),
    ("A. 甲 B. ", "an option is empty"),
    ("就一个选项", "too few options (1)"),
])
def test_option_cells_that_cannot_be_split(cell, reason):
    assert reason in one(["单选题", "问（ ）", cell, "A"])["error"]


def test_options_in_separate_columns_with_gaps():
    r = one(["问（ ）", "甲", "乙", None, None, "B"], header=("题目", "选项A", "选项B", "选项C", "选项D", "正确答案"))
    assert r["options"] == "A. 甲 | B. 乙" and r["answer_labels"] == "B"


# ---------------------------------------------------------------- answer reading

OPTS = "A. 雨鞋,B. 绝缘靴,C. 橡胶鞋,D. 绝缘鞋"


@pytest.mark.parametrize("answer, labels, qtype", [
    ("B", "B", "single"), ("b", "B", "single"), (" B ", "B", "single"), ("Ｂ", "B", "single"),
    ("BCD", "BCD", "multi"), ("A,B,D", "ABD", "multi"), ("A、B", "AB", "multi"), ("D,A", "AD", "multi"),
    ("A B", "AB", "multi"), ("ａｃ", "AC", "multi"), ('["A", "C"]', "AC", "multi"),
    ("B. 绝缘靴", "B", "single"), ("B．绝缘靴", "B", "single"), ("A. 雨鞋,D. 绝缘鞋", "AD", "multi"),
    ("绝缘靴", "B", "single"), ("雨鞋&绝缘鞋", "AD", "multi"), ("雨鞋；橡胶鞋", "AC", "multi"),
    ("雨鞋、绝缘靴", "AB", "multi"), ("答案：B", "B", "single"), ("正确答案: A,C", "AC", "multi"),
])
def test_answers_read_as_labels(answer, labels, qtype):
    r = one([None, "应穿（ ）", OPTS, answer])
    assert r["error"] is None, r["error"]
    assert (r["answer_labels"], r["type"]) == (labels, qtype)


@pytest.mark.parametrize("answer, reason", [
    ("复位", "neither an option label nor an option's text"),
    ("E", "label E is not among the options ABCD"),
    (None, "missing answer"),
])
def test_bad_answers_are_rejected(answer, reason):
    assert reason in one(["单选题", "应穿（ ）", OPTS, answer])["error"]


@pytest.mark.parametrize("answer, text", [
    ("正确", "正确"), ("错误", "错误"), ("对", "正确"), ("错", "错误"), ("√", "正确"), ("×", "错误"),
    ("T", "正确"), ("F", "错误"), ("true", "正确"), ("FALSE", "错误"), ("是", "正确"), ("否", "错误"),
    ("A", "正确"), ("B", "错误"), ("0", "正确"), ("1", "错误"), ("正确。", "正确"),
])
def test_judge_answers(answer, text):
    r = one(["判断题", "验电前应先在有电设备上试验。", None, answer])
    assert r["error"] is None, r["error"]
    assert (r["type"], r["answer_text"], r["options"]) == ("judge", text, "A. 正确 | B. 错误")


def test_judge_01_mapping_is_changeable():
    r = one(["判断题", "验电前应先在有电设备上试验。", None, "1"], zero_is_true=False)
    assert r["answer_text"] == "正确"


def test_judge_over_options():
    r = one(["判断题", "可以带电作业。", "A. 正确,B. 错误", "对"])
    assert (r["answer_labels"], r["answer_text"]) == ("A", "正确")
    r = one([None, "可以带电作业。", "A. 错误,B. 正确", "B"])
    assert (r["type"], r["answer_labels"], r["answer_text"]) == ("judge", "B", "正确")
    assert "not one of 正确/错误" in one(["判断题", "可以带电作业。", None, "也许"])["error"]


@pytest.mark.parametrize("row, qtype", [
    ([None, "故障点（　　）m以外。", None, "4"], "blank"),
    ([None, "简述保证安全的组织措施。", None, "工作票制度；工作许可制度"], "open"),
    (["填空题", "故障点____m以外。", None, "4"], "blank"),
    (["问答题", "为什么要验电？", None, "确认无电"], "open"),
    (["单项选择题", "应穿（ ）", OPTS, "B"], "single"),
    (["多项选择", "应穿（ ）", OPTS, "B"], "multi"),
    (["选择题", "应穿（ ）", OPTS, "BC"], "multi"),
    (["single", "wear ( )", OPTS, "B"], "single"),
])
def test_types_stated_or_inferred(row, qtype):
    r = one(row)
    assert r["error"] is None and r["type"] == qtype


# ---------------------------------------------------------------- the seed, byte for byte

def seed_rows_and_pairs():
    text = SEED.read_text(encoding="utf-8")
    table = [l for l in text.splitlines() if l.startswith("| ") and "---" not in l]
    rows = [[c.strip() for c in l.strip().strip("|").split("|")] for l in table]
    blocks = re.findall(r"```json\n(.*?)```", text, re.S)
    return rows, json.loads(blocks[0]), json.loads(blocks[1])


def test_seed_rows_convert_byte_for_byte(tmp_path):
    rows, qa_expected, choice_expected = seed_rows_and_pairs()
    assert rows[0] == ["专业", "题型", "题目内容", "题目依据条款", "选项", "正确答案"] and len(rows) == 10
    import csv

    f = tmp_path / "安规.csv"
    with open(f, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    s = import_exam(f, "安规")
    assert s["by_type"] == {"single": 3, "multi": 3, "judge": 3, "blank": 0, "open": 0}
    assert cv.convert("安规", to="qa", into="安规-qa") == {"dataset": "安规-qa", "samples": 9, "_replaced": 0}
    assert cv.convert("安规", to="choice", into="安规-choice")["samples"] == 9

    def pairs(name):
        got = db.rows("SELECT s.* FROM samples s JOIN datasets d ON d.id = s.dataset_id WHERE d.name = ? ORDER BY s.id",
                      [name])
        return got, [{"content": r["instruction"], "summary": r["output"]} for r in got]

    qa_rows, qa = pairs("安规-qa")
    choice_rows, choice = pairs("安规-choice")
    # the seed shows rows 1, 4 and 7 of each training set
    assert [qa[0], qa[3], qa[6]] == qa_expected
    assert [choice[0], choice[3], choice[6]] == choice_expected
    assert json.dumps(qa[0], ensure_ascii=False) == json.dumps(qa_expected[0], ensure_ascii=False)
    r = qa_rows[0]
    assert (r["input"], r["status"], r["origin"], r["qtype"], r["template"]) == ("", "accepted", "exam-qa", "single", "qa")
    qid = db.scalar("SELECT id FROM exam_questions WHERE question LIKE '雷雨天气%'")
    assert r["question_id"] == qid and choice_rows[0]["question_id"] == qid
    assert choice_rows[0]["origin"] == "exam-choice"


def test_inline_template_and_user_templates(tmp_path):
    rows, _, _ = seed_rows_and_pairs()
    import csv

    f = tmp_path / "安规.csv"
    with open(f, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    import_exam(f, "安规")
    names = [t["name"] for t in cv.templates()]
    assert names[:3] == ["choice", "choice-inline", "qa"] or set(names) >= {"qa", "choice", "choice-inline"}
    got = cv.preview("安规", to="choice", template_name="choice-inline", limit=9)
    assert got[2]["instruction"] == "高压设备发生接地时，室内人员应距离故障点___m以外。 选项：A. 1; B. 2; C. 3; D. 4;"
    assert got[2]["output"] == "D. 4"
    assert got[7]["output"] == "B. 工作负责人姓名； C. 工作地点； D. 工作任务"
    cv.save_template("带专业", to="qa", instruction="【{subject}·{type_name}】{question}", output="{answer}（{answer_labels}）")
    assert cv.preview("安规", to="qa", template_name="带专业", limit=1)[0]["instruction"].startswith("【变电专业·单选题】雷雨")
    n = cv.convert("安规", to="qa", into="安规-mine", template_name="带专业", prefix="[电力安全] ", system="你是电力安全专家。")
    assert n["samples"] == 9
    s = db.one("SELECT * FROM samples s JOIN datasets d ON d.id = s.dataset_id WHERE d.name = '安规-mine' ORDER BY s.id LIMIT 1")
    assert s["instruction"].startswith("[电力安全] 【变电专业") and s["output"] == "绝缘靴（B）"
    assert s["system"] == "你是电力安全专家。" and s["template"] == "带专业"
    d = datasets.get("安规-mine")
    assert (d["domain_prefix"], d["system_prompt"]) == ("[电力安全] ", "你是电力安全专家。")
    with pytest.raises(InputError, match="unknown placeholder"):
        cv.save_template("bad", to="qa", instruction="{nope}", output="{answer}")
    with pytest.raises(InputError, match="built-in"):
        cv.save_template("qa", to="qa", instruction="{question}", output="{answer}")
    with pytest.raises(InputError, match="no convert template"):
        cv.convert("安规", to="qa", into="x", template_name="missing")


def test_shuffle_is_seeded_and_relabels_answers(tmp_path):
    rows, _, _ = seed_rows_and_pairs()
    import csv

    f = tmp_path / "安规.csv"
    with open(f, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    import_exam(f, "安规")
    n = cv.convert("安规", to="choice", into="sh", shuffle=3, seed=7)["samples"]
    assert n == 9 + 6 * 3  # judges are not shuffled
    got = db.rows("SELECT s.* FROM samples s JOIN datasets d ON d.id = s.dataset_id WHERE d.name = 'sh' ORDER BY s.id")
    for r in got:
        options = dict(l.split(". ", 1) for l in r["instruction"].split("\n")[1:] if l)
        answers = [l.split(". ", 1) for l in r["output"].split("\n")]
        assert all(options[label] == text for label, text in answers)  # the answer follows its option
    copies = [r for r in got if "shuffled" in r["tags"]]
    assert len(copies) == 18 and {r["question_id"] for r in copies} <= {r["question_id"] for r in got}
    assert len({r["instruction"] for r in got if r["question_id"] == got[0]["question_id"]}) > 1
    again = cv.preview("安规", to="choice", shuffle=3, seed=7, limit=30)
    assert [r["instruction"] for r in again] == [r["instruction"] for r in got]
    other = cv.preview("安规", to="choice", shuffle=3, seed=8, limit=30)
    assert [r["instruction"] for r in other] != [r["instruction"] for r in got]
    with pytest.raises(InputError, match="choice"):
        cv.convert("安规", to="qa", into="x", shuffle=2)


def test_reconvert_keeps_the_question_link(tmp_path):
    f = tmp_path / "b.csv"
    f.write_text("题目,选项,答案\n应穿（ ）,\"A. 雨鞋,B. 绝缘靴\",B\n距离（ ）m以外,\"A. 4,B. 8\",B\n", encoding="utf-8")
    import_exam(f, "bank")
    cv.convert("bank", to="qa", into="pairs")
    cv.convert("bank", to="choice", into="pairs")
    from store import exams as sx

    q = sx.questions(datasets.get("bank")["id"])[0]
    assert sx.update_question(q["id"], q["version"], {"answer_labels": ["A"], "answer_text": "雨鞋"})
    assert not sx.update_question(q["id"], q["version"], {"answer_text": "x"})  # stale version refused
    again = cv.convert("bank", to="qa", into="pairs")
    assert again["_replaced"] == 2 and again["samples"] == 2
    got = db.rows("SELECT origin, output, question_id FROM samples ORDER BY origin, question_id")
    assert [r["origin"] for r in got] == ["exam-choice", "exam-choice", "exam-qa", "exam-qa"]
    assert got[2]["output"] == "雨鞋" and got[2]["question_id"] == q["id"]


def test_convert_refuses_bad_requests(tmp_path):
    with pytest.raises(InputError, match="no dataset named"):
        cv.convert("nope", to="qa", into="x")
    f = tmp_path / "b.csv"
    f.write_text("题目,答案\n故障点（ ）m以外,4\n", encoding="utf-8")
    import_exam(f, "bank")
    with pytest.raises(InputError, match="another"):
        cv.convert("bank", to="qa", into="bank")
    datasets.create("corpus", "corpus")
    with pytest.raises(InputError, match="not exam questions"):
        cv.convert("corpus", to="qa", into="x")
    assert cv.convert("bank", to="choice", into="c")["samples"] == 0  # a blank question has no options


def test_options_written_inside_the_question_cell():
    p = parse_table([["题目", "答案"], ["雷雨天气应穿（ ）。\nA. 雨鞋\nB. 绝缘靴\nC. 橡胶鞋", "B"],
                     ["Linux中权限最大的账户是？ A.admin B.root", "B"], ["接地线可以缠绕。", "错"]])
    assert any("inside the question cell" in n for n in p.notes) and not p.errors
    assert [(r["question"], r["options"], r["type"]) for r in p.rows] == [
        ("雷雨天气应穿（ ）。", "A. 雨鞋 | B. 绝缘靴 | C. 橡胶鞋", "single"),
        ("Linux中权限最大的账户是？", "A. admin | B. root", "single"),
        ("接地线可以缠绕。", "A. 正确 | B. 错误", "judge")]


def test_title_row_above_the_header_and_extra_columns():
    p = parse_table([["2023年安规题库", None, None, None, None], ["序号", "题干", "选项", "正确答案", "难度"],
                     ["1", "应穿（ ）", "A、雨鞋 B、绝缘靴", "B", "易"]], header=None)
    assert p.sheets[0].mapping.header_row == 2 and p.rows[0]["answer_text"] == "绝缘靴"
