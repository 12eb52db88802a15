"""One home for the exam rules: one table of good and bad questions, run through every path that lands a
question — the importer (a CSV, options written ``A. x`` lines and as a JSON object), the editor (saving
over an imported question) and LLM-generated questions — with the same verdicts and reasons. Also the
rule table's Python and SQL forms on the same rows, and the one place the paths read differently (0/1)."""
import json

import pytest

from store import db
from studio.core import exam_rules as rules
from studio.core.errors import InputError
from studio.data.exams import edit as ed
from studio.data.exams.importer import ImportOptions, import_exam, preview
from studio.generate.exam_items import exam_question

SHOES = [("A", "雨鞋"), ("B", "绝缘靴"), ("C", "橡胶鞋"), ("D", "绝缘鞋")]
STEPS = [("A", "停电"), ("B", "验电"), ("C", "接地")]
NINE = [(chr(65 + i), t) for i, t in enumerate("一二三四五六七八九")]

# (name, type, question, options [(label, text)] or None, answer, None = accepted / a reason every path gives)
TABLE = [
    ("single", "single", "雷雨天气应穿（ ）", SHOES, "B", None),
    ("single by option text", "single", "巡视应穿（ ）", SHOES, "绝缘靴", None),
    ("single lowercase answer", "single", "检修应穿（ ）", SHOES, "b", None),
    ("single full-width answer", "single", "试验应穿（ ）", SHOES, "Ｄ", None),
    ("full-width option labels", "single", "倒闸应穿（ ）", [("Ａ", "雨鞋"), ("Ｂ", "绝缘靴")], "B", None),
    ("lowercase option labels", "single", "登高应穿（ ）", [("a", "雨鞋"), ("b", "绝缘靴")], "a", None),
    ("multi", "multi", "（ ）是保证安全的技术措施", STEPS, "A,C", None),
    ("multi with one label", "multi", "（ ）是停电措施", STEPS, "A", None),
    ("judge", "judge", "验电前应先在有电设备上试验。", None, "正确", None),
    ("judge 错", "judge", "接地线可以缠绕。", None, "错", None),
    ("judge label", "judge", "可以约时停送电。", None, "B", None),
    ("judge full-width label", "judge", "可以交叉作业。", None, "ａ", None),
    ("judge over 对/错 options", "judge", "可以带电作业。", [("A", "对"), ("B", "错")], "B", None),
    ("judge over reversed 错/对 options", "judge", "可以带电换表。", [("A", "错"), ("B", "对")], "B", None),
    ("judge word over reversed options", "judge", "可以带电接线。", [("A", "错"), ("B", "对")], "对", None),
    ("judge √", "judge", "工作前应验电。", None, "√", None),
    ("judge ×", "judge", "可以跨越围栏。", None, "×", None),
    ("single by ordinal", "single", "配电室应穿（ ）", SHOES, "2", None),
    ("single letter and text", "single", "变电站应穿（ ）", SHOES, "B、绝缘靴", None),
    ("multi with 、", "multi", "（ ）是验电措施", STEPS, "A、C", None),
    ("multi by ordinals", "multi", "（ ）是接地措施", STEPS, "1,3", None),
    ("multi as a JSON array", "multi", "（ ）是挂牌措施", STEPS, '["A", "C"]', None),
    ("blank with numbered blanks", "blank", "电压等级为_(1)_kV和_(2)_kV。", None, "10；35", None),
    ("blank", "blank", "故障点（ ）m以外。", None, "4", None),
    ("open", "open", "简述保证安全的组织措施。", None, "工作票制度；工作许可制度", None),
    ("single with two answers", "single", "应穿（ ）", SHOES, "AB", "but the answer has 2 labels (AB)"),
    ("answer not an option", "single", "应戴（ ）", [("A", "手套"), ("B", "帽子")], "E",
     "answer label E is not among the options AB"),
    ("multi answer not an option", "multi", "（ ）是措施", STEPS, "AD", "answer label D is not among the options ABC"),
    ("answer unreadable", "single", "应用（ ）", SHOES, "复位", '"复位"'),
    ("labels with a gap", "single", "应拿（ ）", [("A", "甲"), ("C", "乙")], "A", "labels A, C are not A, B, C… in order"),
    ("duplicate option labels", "single", "应带（ ）", [("A", "甲"), ("A", "乙")], "A",
     "option label A appears more than once"),
    ("labels out of order", "single", "应放（ ）", [("B", "甲"), ("A", "乙")], "A", "labels B, A are not A, B, C… in order"),
    ("option with empty text", "single", "应挂（ ）", [("A", "甲"), ("B", "")], "A", "empty"),
    ("one option only", "single", "只有一个选项（ ）", [("A", "甲")], "A", "too few options (1) for a single-choice question"),
    ("nine options", "single", "应选（ ）", NINE, "A", "9 options: at most 8 (A to H)"),
    ("judge answered maybe", "judge", "可以单人巡视。", None, "maybe", 'judge answer "maybe" is not one of'),
    ("judge options not 正确/错误", "judge", "可以单人操作。", [("A", "甲"), ("B", "乙")], "A",
     "but the options are not 正确/错误"),
    ("blank without answer", "blank", "接地电阻不大于（ ）Ω。", None, "", "missing answer"),
    ("open without answer", "open", "为什么要验电？", None, "", "missing answer"),
    ("blank answered by labels", "blank", "填（ ）", STEPS, "A", "question is answered by text: clear the answer labels (A)"),
    ("empty question", "single", "", SHOES, "A", "empty question"),
]
# the options of a labelled text cell are A–H only: "I. 九" is the text of option H there
TEXT_CELL_SKIP = {"nine options"}
IDS = [row[0] for row in TABLE]


def _csv(path, options_cell) -> None:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["题型", "题目", "选项", "答案"])
        for _, qtype, question, options, answer, _ in TABLE:
            w.writerow([rules.TYPE_NAMES[qtype], question, options_cell(options) if options else "", answer])


def _lines(options) -> str:
    return "\n".join(f"{label}. {text}" for label, text in options)


def _json(options) -> str:
    """A JSON object written as given (a repeated label stays repeated)."""
    return "{" + ", ".join(f"{json.dumps(label, ensure_ascii=False)}: {json.dumps(text, ensure_ascii=False)}"
                           for label, text in options) + "}"


@pytest.fixture
def imported(tmp_path):
    """Per row: the importer's verdict on the row written with ``A. x`` lines, and written with a JSON
    object; the stored question of the accepted JSON rows (imported with skip-invalid)."""
    _csv(tmp_path / "lines.csv", _lines)
    _csv(tmp_path / "json.csv", _json)
    verdicts = {}
    for kind in ("lines", "json"):
        p = preview(tmp_path / f"{kind}.csv", limit=1000)
        assert p.total == len(TABLE) and p.type_codes == {}
        by_row = {e["row"]: e["reason"] for e in p.errors}
        verdicts[kind] = {name: by_row.get(i + 2) for i, name in enumerate(IDS)}
    import_exam(tmp_path / "json.csv", "rules", ImportOptions(skip_invalid=True))
    got = db.rows("SELECT * FROM exam_questions ORDER BY source_row")
    stored = {IDS[r["source_row"] - 2]: r for r in got}
    return verdicts, stored


def _editor(row) -> str | None:
    """Save the row over an imported question in the editor: None when saved, else the refusal."""
    _, qtype, question, options, answer, _ = row
    target = ed.questions_page("base", per_page=1)["rows"][0]
    # the importer reads a letter answer of a blank/open row with options as labels: the editor's labels field
    text_with_labels = qtype in rules.TEXT and options and rules.read_letters(answer)
    fields = {"qtype": qtype, "question": question, "options": _lines(options or []),
              "answer_labels": answer if qtype not in rules.TEXT or text_with_labels else "",
              "answer_text": answer if qtype in rules.TEXT else ""}
    try:
        ed.save_question(target["id"], target["version"], **fields)
    except InputError as err:
        return err.message
    return None


def _generated(row) -> str | None:
    _, qtype, question, options, answer, _ = row
    item = {"type": rules.TYPE_NAMES[qtype], "question": question, "answer": answer}
    if options:  # a list: a repeated label stays repeated
        item["options"] = [{"label": label, "text": text} for label, text in options]
    try:
        exam_question(item)
    except ValueError as err:
        return str(err)
    return None


def test_one_table_through_importer_editor_and_generation(imported, tmp_path):
    verdicts, stored = imported
    (tmp_path / "base.csv").write_text("题型,题目,选项,答案\n单选题,基准题（ ）,\"A. 甲\nB. 乙\",A\n", encoding="utf-8")
    import_exam(tmp_path / "base.csv", "base")
    for row in TABLE:
        name, expected = row[0], row[5]
        found = {"import (A. x lines)": verdicts["lines"][name], "import (JSON options)": verdicts["json"][name],
                 "editor": _editor(row), "generated": _generated(row)}
        if name in TEXT_CELL_SKIP:
            del found["import (A. x lines)"]
        for path, reason in found.items():
            if expected is None:
                assert reason is None, f"{name}: {path} refused it: {reason}"
            else:
                assert reason is not None, f"{name}: {path} accepted it"
                assert expected in reason, f"{name}: {path} says {reason!r}"
    accepted = {row[0] for row in TABLE if row[5] is None}
    assert set(stored) == accepted


def test_accepted_questions_are_stored_alike_and_saved_unchanged(imported, tmp_path):
    """What the importer stores equals what generation produces, and the editor saves it as it is."""
    _, stored = imported
    for row in TABLE:
        if row[5] is not None:
            continue
        q = stored[row[0]]
        mine = {"qtype": q["qtype"], "question": q["question"], "options": json.loads(q["options"]),
                "answer_labels": q["answer_labels"], "answer_text": q["answer_text"]}
        assert exam_question({"type": rules.TYPE_NAMES[row[1]], "question": row[2], "answer": row[4],
                              **({"options": dict(row[3])} if row[3] else {})}) == mine, row[0]
        shown = ed.get_question(q["id"])
        saved = ed.save_question(q["id"], q["version"], **{k: shown[k] for k in (
            "qtype", "question", "options", "answer_labels", "answer_text", "basis", "subject")})
        again = db.one("SELECT * FROM exam_questions WHERE id = ?", [q["id"]])
        assert saved["version"] == q["version"] + 1
        assert {**again, "options": json.loads(again["options"])} | {"version": 0, "updated_at": 0} == \
            {**q, "options": json.loads(q["options"])} | {"version": 0, "updated_at": 0}, row[0]


def _shape(row) -> dict:
    """A table row as the rules see it after the importer's reading (JSON options)."""
    _, qtype, question, options, answer, _ = row
    opts = [{"label": rules.norm_label(lab), "text": text} for lab, text in options or []]
    if qtype == "judge":
        opts = opts or rules.judge_options()
        labels = rules.read_judge(answer, options and opts, zero_is_true=True)
    elif qtype in rules.TEXT:
        labels = (rules.read_letters(answer) if len(opts) >= 2 else None) or []
    else:
        labels = rules.read_choice(answer, opts)
    return {"qtype": qtype, "question": question, "options": opts, "answer": answer, "answer_labels": labels,
            "stated": rules.TYPE_NAMES[qtype], "reading": None, "zero_is_true": True}


@pytest.mark.parametrize("row", TABLE, ids=IDS)
def test_python_and_sql_forms_of_the_rules_agree(row):
    """Every rule's Python and DuckDB forms give the same first reason, on the same fields."""
    q = _shape(row)
    python = (rules.problems(q) or [None])[0]
    sql = db.scalar(f"""SELECT {rules.sql_problem()} FROM (SELECT ?::VARCHAR AS qtype, ?::VARCHAR AS question,
                        ?::VARCHAR[] AS opt_labels, ?::VARCHAR[] AS opt_texts, ?::VARCHAR AS answer,
                        ?::VARCHAR[] AS answer_labels, ?::VARCHAR AS stated, NULL::VARCHAR AS reading)""",
                    [q["qtype"], q["question"] or None, [o["label"] for o in q["options"]],
                     [o["text"] for o in q["options"]], q["answer"] or None, q["answer_labels"], q["stated"]])
    assert python == sql
    assert (python is None) == (row[5] is None) and (python is None or row[5] in python)


def test_every_rule_is_exercised_by_the_table():
    seen = {p.code for row in TABLE for p in rules.check(_shape(row))}
    assert seen >= {r.code for r in rules.RULES} - {"unread"}


def test_judge_01_needs_a_file_convention(tmp_path):
    """0/1 judge answers are read by the importer with its per-file convention (0 = 正确 unless told);
    the editor and generated questions have none, and refuse them naming what they read."""
    f = tmp_path / "j.csv"
    f.write_text("题型,题目,答案\n判断题,可以约时停送电。,1\n", encoding="utf-8")
    assert preview(f).rows[0]["answer_text"] == "错误"
    with pytest.raises(ValueError, match="is not one of 正确/错误, 对/错, √/×, T/F, 是/否, A/B"):
        exam_question({"type": "判断题", "question": "可以约时停送电。", "answer": "1"})
    with pytest.raises(InputError, match='judge answer "1" is not one of'):
        ed.check(qtype="judge", question="可以约时停送电。", answer_labels="1")


# (name, type as written, question, options cell, answer, the type it is read as, refused?)
RECLASS = [
    ("single answered 错 without options", "单选题", "可以约时停电。", "", "错", "judge", False),
    ("multi answered √ without options", "多选题", "工作前应验电。", "", "√", "judge", False),
    ("single with a blank and a text answer", "单选题", "电压为____kV。", "", "10", "blank", False),
    ("judge with a numbered blank", "判断题", "安全距离为_(1)_米。", "", "0.7", "blank", False),
    ("judge with four options: reported", "判断题", "接地线可以缠绕。", "A. 甲\nB. 乙\nC. 丙\nD. 丁", "A", "judge", True),
    ("single without options answered B: reported", "单选题", "应穿（ ）", "", "B", "single", True),
    ("single answered by two labels: reported", "单选题", "应选（ ）", "A. 甲\nB. 乙", "AB", "single", True),
    ("judge answered 0/1 without a convention stays judge", "判断题", "可以带电作业。", "", "1", "judge", False),
]


def test_contradicted_types_are_reclassified_alike_or_reported(tmp_path):
    """A stated type the content contradicts beyond doubt is read as the content's type by the importer
    and by generated questions alike (``exam_rules.RECLASSIFY``); any other contradiction is reported."""
    import csv

    f = tmp_path / "types.csv"
    with open(f, "w", encoding="utf-8", newline="") as out:
        w = csv.writer(out)
        w.writerow(["题型", "题目", "选项", "答案"])
        w.writerows([row[1:5] for row in RECLASS])
    p = preview(f, limit=100)
    errors = {e["row"]: e["reason"] for e in p.errors}
    for i, (name, stated, question, options, answer, qtype, refused) in enumerate(RECLASS):
        assert p.rows[i]["type"] == qtype, name
        assert (i + 2 in errors) == refused, (name, errors.get(i + 2))
        if name.endswith("without a convention stays judge"):
            continue   # the importer reads 0/1 by its file's convention; generated questions have none
        item = {"type": stated, "question": question, "answer": answer,
                **({"options": options.split("\n")} if options else {})}
        try:
            got = exam_question(item)["qtype"]
        except ValueError:
            got = None
        assert (got is None) == refused and (refused or got == qtype), name
        q = {"question": question, "answer": answer, "options": [{"label": "A", "text": "x"}] if options else []}
        assert rules.reclassify(rules.stated_type(stated), q) == qtype, name
