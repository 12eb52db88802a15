"""Exam accuracy: parsing chosen labels, scoring per type, option shuffles, and a real run on the tiny model."""
import json

import pytest

from store import datasets, db
from studio.core.errors import NotFound
from studio.evaluate import exam_accuracy as exam_eval
from studio.evaluate import inference
from tests.compare_helpers import make_run_folder, register_run, train_lora

OPTS4 = [{"label": "A", "text": "雨鞋"}, {"label": "B", "text": "绝缘靴"}, {"label": "C", "text": "橡胶鞋"},
         {"label": "D", "text": "绝缘鞋"}]
JUDGE = [{"label": "A", "text": "正确"}, {"label": "B", "text": "错误"}]
QUESTIONS = [  # the seed's rows: single, single, multi, judge, judge
    ("变电专业", "single", "雷雨天气，需要巡视室外高压设备时，应穿（　　），并不准靠近避雷器和避雷针。", OPTS4, ["B"]),
    ("变电专业", "single", "高压设备发生接地时，室内人员应距离故障点（　　）m以外。",
     [{"label": l, "text": t} for l, t in zip("ABCD", "1234")], ["D"]),
    ("线路专业", "multi", "线路的停、送电均应按照（　　）的指令执行。",
     [{"label": "A", "text": "值班调控人员"}, {"label": "B", "text": "专责监护人"},
      {"label": "C", "text": "线路工作负责人"}, {"label": "D", "text": "线路工作许可人"}], ["A", "D"]),
    ("变电专业", "judge", "禁止在只经断路器（开关）断开电源的设备上工作。", JUDGE, ["A"]),
    ("线路专业", "judge", "对难以做到与电源完全断开的检修设备，可以不拆除设备与电源之间的电气连接。", [], ["B"]),
]


def seed_exam(name="安规题库"):
    did = datasets.create(name, "exam")
    for subject, qtype, question, options, labels in QUESTIONS:
        db.cursor().execute(
            "INSERT INTO exam_questions (dataset_id, subject, qtype, question, options, answer_labels, answer_text) "
            "VALUES (?, ?, ?, ?, ?::JSON, ?, ?)",
            [did, subject, qtype, question, json.dumps(options, ensure_ascii=False), labels,
             "错误" if question.startswith("对难以") else None])
    # an open question is not scored
    db.cursor().execute("INSERT INTO exam_questions (dataset_id, qtype, question) VALUES (?, 'open', '简述安规')", [did])
    return did


@pytest.mark.parametrize("answer, options, expected", [
    ("B. 绝缘靴", OPTS4, {"B"}),
    ("B", OPTS4, {"B"}),
    ("答案：B", OPTS4, {"B"}),
    ("Ｂ．绝缘靴", OPTS4, {"B"}),                       # full-width forms
    ("绝缘靴", OPTS4, {"B"}),                            # option text only
    ("应穿绝缘靴。", OPTS4, {"B"}),                      # the longer option text, not its part 绝缘鞋/靴
    ("A. 值班调控人员\nD. 线路工作许可人", QUESTIONS[2][3], {"A", "D"}),   # the seed's newline-joined multi answer
    ("B. 工作负责人姓名； C. 工作地点； D. 工作任务", OPTS4, {"B", "C", "D"}),
    ("ABD", OPTS4, {"A", "B", "D"}),
    ("A、D", OPTS4, {"A", "D"}),
    ("D. 8\n问：下一题 A. 2", OPTS4, {"D"}),             # only the first answer block counts
    ("A. 正确", JUDGE, {"A"}),
    ("错误", JUDGE, {"B"}),
    ("不正确", JUDGE, {"B"}),
    ("正确，因为……", JUDGE, {"A"}),
    ("嗄嗄嗄嗄", OPTS4, None),                           # nothing chosen: unparsed
    ("", OPTS4, None),
    ("DNA 是遗传物质", OPTS4, None),                     # a word is not a set of labels
])
def test_parse_labels(answer, options, expected):
    got = exam_eval.parse_labels(answer, options)
    assert (set(got) if got is not None else None) == expected


def test_prompt_format_is_the_converters_choice_format():
    q = {"question": QUESTIONS[0][2], "options": OPTS4, "qtype": "single"}
    assert exam_eval.exam_prompt(q["question"], q["options"]) == (
        "雷雨天气，需要巡视室外高压设备时，应穿___，并不准靠近避雷器和避雷针。\nA. 雨鞋\nB. 绝缘靴\nC. 橡胶鞋\nD. 绝缘鞋\n")
    assert exam_eval.exam_prompt("可以不拆除。", [], "judge").endswith("A. 正确\nB. 错误\n")
    assert "（开关）" in exam_eval.exam_prompt(QUESTIONS[3][2], JUDGE)   # a real parenthesis is no blank


def test_score_per_type_and_subject_with_shuffles():
    qs = [{"id": i, "subject": s, "qtype": t, "question": q, "options": o, "answer_labels": a}
          for i, (s, t, q, o, a) in enumerate(QUESTIONS)]
    # the original presentation: right, wrong, a partial multi (wrong), right, unparsed
    answers = {(0, 0): "B. 绝缘靴", (1, 0): "C. 3", (2, 0): "A. 值班调控人员", (3, 0): "正确", (4, 0): "嗯"}
    # one shuffle: answer by option text, which survives relabelling, except question 3
    for q in qs:
        opts, back = exam_eval.shuffled(q, 1, seed=5)
        right = [o for o in opts if back[o["label"]] in q["answer_labels"]]
        answers[(q["id"], 1)] = "\n".join(f"{o['label']}. {o['text']}" for o in right)
    answers[(3, 1)] = "错误"
    r = exam_eval.score(qs, answers, shuffles=1, seed=5)
    assert r["n"] == 5 and r["accuracy"] == pytest.approx(2 / 5)
    assert r["by_type"] == {"single": 0.5, "multi": 0.0, "judge": 0.5}
    assert r["by_subject"] == {"变电专业": pytest.approx(2 / 3, abs=1e-3), "线路专业": 0.0}
    assert r["unparsed"] == 1
    assert r["shuffled_accuracy"] == pytest.approx(4 / 5, abs=1e-3)
    assert r["consistent"] == pytest.approx(1 / 5, abs=1e-3)   # only question 0 chose the same option both times
    opts, back = exam_eval.shuffled(qs[0], 1, seed=5)
    assert sorted(o["text"] for o in opts) == sorted(o["text"] for o in OPTS4) and [o["label"] for o in opts] == list("ABCD")
    assert exam_eval.shuffled(qs[0], 1, seed=5) == (opts, back)   # seeded


@pytest.mark.slow
def test_eval_of_a_run_trained_on_the_answers(studio_env, demo_model, tmp_path):
    seed_exam()
    qs = [{"id": i, "subject": s, "qtype": t, "question": q, "options": o, "answer_labels": a,
           "answer_text": "错误" if i == 4 else None} for i, (s, t, q, o, a) in enumerate(QUESTIONS)]
    pairs = [(exam_eval.exam_prompt(q["question"], q["options"], q["qtype"]), exam_eval.answer_string(q)) for q in qs]
    assert pairs[2][1] == "A. 值班调控人员\nD. 线路工作许可人" and pairs[4][1] == "B. 错误"
    adapter = train_lora(demo_model, tmp_path / "exam-lora", pairs, steps=30, seed=4)
    register_run("exam-run", make_run_folder(studio_env / "runs", "exam-run", adapter, demo_model), demo_model)
    short = inference.decode_settings("greedy", max_new_tokens=24)
    r = exam_eval.evaluate("exam-run", "安规题库", shuffles=2, seed=1, decode=short)
    assert r["n"] == 5 and r["accuracy"] == 1.0
    assert r["by_type"] == {"single": 1.0, "multi": 1.0, "judge": 1.0}
    assert r["by_subject"] == {"变电专业": 1.0, "线路专业": 1.0}
    assert 0 <= r["shuffled_accuracy"] <= 1 and 0 <= r["consistent"] <= 1
    assert 5 < r["generated"] <= 15   # presentations that come out alike are asked once
    again = exam_eval.evaluate("exam-run", "安规题库", shuffles=2, seed=1, decode=short)
    assert again["generated"] == 0 and again["accuracy"] == 1.0          # answers come from the cache
    base = exam_eval.evaluate("base", "安规题库", base_model=str(demo_model), decode=short)
    assert base["accuracy"] < 1.0 and base["unparsed"] >= 1
    assert [h["model_system"] for h in exam_eval.history()] == ["base", "exam-run", "exam-run"]
    with pytest.raises(NotFound):
        exam_eval.evaluate("exam-run", "没有")
