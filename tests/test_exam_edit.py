"""Fixing exam questions: the studio function (paging, checks, row versions, one transaction) and the
Exam questions page in AppTest, on the demo bank (studio/demo/exam_bank.csv) in a real DuckDB file."""
import pytest
from streamlit.testing.v1 import AppTest

from store import db
from studio.service import jobs
from studio.core.errors import Conflict, InputError
from studio.data.exams import edit as ed
from studio.data.exams.convert import convert
from studio.data.exams.importer import import_exam
from studio.project.demo_exams import DEMO_BANK
from tests.conftest import ROOT

BANK = "安规示例"


def seeded() -> dict:
    """The demo bank and its QA pairs; returns the first question (single choice, answer B. 绝缘靴)."""
    import_exam(DEMO_BANK, BANK)
    convert(BANK, to="qa", into=f"{BANK}-qa")
    q = ed.questions_page(BANK, per_page=1)["rows"][0]
    assert (q["qtype"], q["answer_labels"], q["answer_text"]) == ("single", "B", "绝缘靴")
    return q


def stored(qid: int) -> dict:
    return db.one("SELECT * FROM exam_questions WHERE id = ?", [qid])


def pair(qid: int, target: str) -> dict:
    return db.one("""SELECT s.instruction, s.output FROM samples s JOIN datasets d ON d.id = s.dataset_id
                     WHERE s.question_id = ? AND d.name = ?""", [qid, target])


def edit_of(q: dict, **changes) -> dict:
    fields = {k: q[k] for k in ("qtype", "question", "options", "answer_labels", "answer_text", "basis", "subject")}
    return {**fields, **changes}


def test_paging_search_and_type_filter(studio_env):
    seeded()
    got = ed.questions_page(BANK, per_page=7, page=5)
    assert (got["total"], got["pages"], got["page"], len(got["rows"])) == (30, 5, 5, 2)
    assert ed.questions_page(BANK, per_page=7, page=99)["page"] == 5      # clamped to the last page
    judges = ed.questions_page(BANK, qtype="judge", per_page=100)
    assert judges["total"] > 0 and {r["qtype"] for r in judges["rows"]} == {"judge"}
    found = ed.questions_page(BANK, search="绝缘靴")["rows"]
    assert found and all("绝缘靴" in r["question"] + r["options"] + r["answer_text"] for r in found)
    assert [r["id"] for r in ed.questions_page(BANK, search="#3")["rows"]] == [3]
    assert ed.questions_page(BANK, search="没有这种题目")["total"] == 0
    first = ed.questions_page(BANK, per_page=1)["rows"][0]
    assert first["options"].splitlines()[1] == "B. 绝缘靴"
    assert first["pairs"] == [{"dataset": f"{BANK}-qa", "origin": "exam-qa", "n": 1, "stale": 0}]
    with pytest.raises(InputError, match="not exam questions"):
        ed.questions_page(f"{BANK}-qa")


def test_edit_lands_then_reconvert_replaces_the_pair(studio_env):
    q = seeded()
    assert pair(q["id"], f"{BANK}-qa")["output"] == "绝缘靴"
    options = q["options"].replace("C. 橡胶鞋", "C. 绝缘胶鞋")
    saved = ed.save_question(q["id"], q["version"], **edit_of(q, question="雷雨天气巡视室外高压设备时，应穿（　　）。",
                                                              options=options, answer_labels=" c "))
    assert (saved["version"], saved["answer_labels"], saved["answer_text"]) == (2, "C", "绝缘胶鞋")
    row = stored(q["id"])
    assert row["answer_labels"] == ["C"] and row["question"] == "雷雨天气巡视室外高压设备时，应穿（　　）。"
    targets = ed.questions_page(BANK)["targets"]
    assert [(t["dataset"], t["n"], t["stale"]) for t in targets] == [(f"{BANK}-qa", 30, 1)]

    result = convert(BANK, to="qa", into=f"{BANK}-qa")
    assert (result["samples"], result["_replaced"]) == (30, 30)
    assert pair(q["id"], f"{BANK}-qa") == {"instruction": "雷雨天气巡视室外高压设备时，应穿___。", "output": "绝缘胶鞋"}
    assert db.scalar("SELECT count(*) FROM samples WHERE question_id = ?", [q["id"]]) == 1
    assert ed.questions_page(BANK)["targets"][0]["stale"] == 0
    convert(BANK, to="choice", into=f"{BANK}-choice")
    assert pair(q["id"], f"{BANK}-choice")["output"] == "C. 绝缘胶鞋"


def test_judge_multi_and_open_edits(studio_env):
    seeded()
    judge = ed.questions_page(BANK, qtype="judge", per_page=1)["rows"][0]
    got = ed.save_question(judge["id"], judge["version"], **edit_of(judge, answer_labels="错"))
    assert (got["answer_labels"], got["answer_text"]) == ("B", "错误")
    multi = ed.questions_page(BANK, qtype="multi", per_page=1)["rows"][0]
    got = ed.save_question(multi["id"], multi["version"], **edit_of(multi, answer_labels="D, a"))
    assert got["answer_labels"] == "AD" and got["answer_text"] == "; ".join(
        line[3:] for line in multi["options"].splitlines() if line[0] in "AD")
    single = ed.questions_page(BANK, qtype="single", per_page=1)["rows"][0]
    got = ed.save_question(single["id"], single["version"],
                           **edit_of(single, qtype="open", options="", answer_labels="", answer_text="穿绝缘靴"))
    assert (got["qtype"], got["options"], got["answer_labels"], got["answer_text"]) == ("open", "", "", "穿绝缘靴")
    assert stored(single["id"])["answer_labels"] == []


def test_stale_version_is_refused_with_the_current_row(studio_env):
    q = seeded()
    ed.save_question(q["id"], q["version"], **edit_of(q, basis="安规 5.1"))
    before = stored(q["id"])
    with pytest.raises(Conflict, match="changed since you opened it") as err:
        ed.save_question(q["id"], q["version"], **edit_of(q, answer_labels="A"))
    assert err.value.current["version"] == 2 and err.value.current["basis"] == "安规 5.1"
    assert stored(q["id"]) == before


@pytest.mark.parametrize("changes, message", [
    ({"answer_labels": "E"}, "answer label E is not among the options ABCD"),
    ({"answer_labels": "AB"}, "the type says single choice but the answer has 2 labels (AB)"),
    ({"answer_labels": ""}, "missing answer"),
    ({"answer_labels": "绝缘"}, "are not option letters"),
    ({"question": " \u3000"}, "empty question"),
    ({"options": "A. 雨鞋"}, "too few options (1) for a single-choice question"),
    ({"options": "A. 雨鞋\nC. 绝缘靴"}, "option labels A, C are not A, B, C… in order"),
    ({"options": "A. 雨鞋\nB."}, "option B is empty"),
    ({"options": "A. 雨鞋\n绝缘靴"}, 'option line 2 "绝缘靴" does not start with a label'),
    ({"qtype": "judge", "answer_labels": "A"}, "the options are not 正确/错误"),
    ({"qtype": "judge", "options": "", "answer_labels": "也许"}, 'judge answer "也许" is not one of'),
    ({"qtype": "blank"}, "a blank question is answered by text: clear the answer labels"),
    ({"qtype": "open", "answer_labels": "", "answer_text": ""}, "missing answer"),
    ({"qtype": "essay"}, "type must be one of"),
])
def test_invalid_edit_is_refused_and_changes_nothing(studio_env, changes, message):
    q = seeded()
    before = stored(q["id"])
    with pytest.raises(InputError) as err:
        ed.save_question(q["id"], q["version"], **edit_of(q, **changes))
    assert message in str(err.value)
    assert stored(q["id"]) == before


def test_page_edit_save_refuse_and_reconvert(studio_env):
    q = seeded()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/questions.py").run()
    assert not at.exception, at.exception
    assert "30 questions match" in " ".join(c.value for c in at.caption)
    at.text_input(key="questions_search").set_value("#1").run()
    assert "1 questions match" in " ".join(c.value for c in at.caption)
    p = f"questions_q{q['id']}_v1"
    assert [w.key for w in at.text_input if w.key == f"{p}_labels"] == []   # closed: its editor is not drawn
    at.session_state[f"questions_open_{q['id']}"] = True   # the person opens the question
    at.run()
    assert at.text_input(key=f"{p}_labels").value == "B"
    at.text_area(key=f"{p}_question").set_value("雷雨天气巡视室外高压设备时，应穿（　　）。")
    at.text_input(key=f"{p}_labels").set_value("D")
    at.button(key=f"{p}_save").click().run()
    assert not at.exception, at.exception
    assert any(f"Saved question #{q['id']} (version 2)" in s.value for s in at.success)
    p2 = f"questions_q{q['id']}_v2"
    assert at.text_area(key=f"{p2}_question").value == "雷雨天气巡视室外高压设备时，应穿（　　）。"
    assert at.text_input(key=f"{p2}_text").value == "绝缘鞋"
    assert stored(q["id"])["answer_labels"] == ["D"]

    at.text_input(key=f"{p2}_labels").set_value("F")   # invalid: one st.error, nothing written
    at.button(key=f"{p2}_save").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["column answer labels: answer label F is not among the options ABCD"]
    assert stored(q["id"])["version"] == 2

    ed.save_question(q["id"], 2, **edit_of(ed.get_question(q["id"]), basis="改过"))   # someone else edits
    at.text_input(key=f"{p2}_labels").set_value("A")
    at.button(key=f"{p2}_save").click().run()
    assert len(at.error) == 1 and "changed since you opened it" in at.error[0].value
    assert at.text_area(key=f"questions_q{q['id']}_v3_basis").value == "改过"   # the fresh row is shown
    assert stored(q["id"])["answer_labels"] == ["D"]

    assert any("1 made before a fix" in m.value for m in at.markdown)
    at.button(key=f"questions_reconvert_{BANK}-qa_qa").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="convert_dataset").value == BANK
    assert at.text_input(key=f"convert_into_{BANK}_qa").value == f"{BANK}-qa"
    at.switch_page("pages/convert.py")   # AppTest runs its own current page next, not the one switched to
    at.button(key="convert_go").click().run()
    jobs.wait(at.session_state["convert_job"], timeout=120)   # the conversion is a job of the server
    at.run()
    assert not at.exception, at.exception
    assert any(f"into **{BANK}-qa**" in s.value for s in at.success), [s.value for s in at.success]
    assert pair(q["id"], f"{BANK}-qa") == {"instruction": "雷雨天气巡视室外高压设备时，应穿___。", "output": "绝缘鞋"}
