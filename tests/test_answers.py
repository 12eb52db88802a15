"""The one shared exam answer parser, on answers as models really write them."""
import pytest

from studio.evaluate import answers, exam_accuracy

SHOES = [{"label": "A", "text": "雨鞋"}, {"label": "B", "text": "绝缘靴"}, {"label": "C", "text": "橡胶鞋"},
         {"label": "D", "text": "绝缘鞋"}]
VOLTS = [{"label": "A", "text": "10kV"}, {"label": "B", "text": "35kV"}, {"label": "C", "text": "Linux"},
         {"label": "D", "text": "DNA"}]
JUDGE = [{"label": "A", "text": "正确"}, {"label": "B", "text": "错误"}]


@pytest.mark.parametrize("answer, options, expected", [
    ("答案：B", SHOES, {"B"}),
    ("B. 绝缘靴", SHOES, {"B"}),
    ("选B", SHOES, {"B"}),
    ("AC", SHOES, {"A", "C"}),
    ("正确答案是 A 和 C", SHOES, {"A", "C"}),
    ("答案：B。A 选项雨鞋不绝缘，所以不选。", SHOES, {"B"}),          # the cue picks B, not the A it discusses
    ("我认为 A 不对，故选：C", SHOES, {"C"}),
    ("The answer is D.", SHOES, {"D"}),                                 # English words are no labels
    ("答案：\nA. 雨鞋\nC. 橡胶鞋", SHOES, {"A", "C"}),                    # the seed's newline-joined multi answer
    ("Ｂ．绝缘靴", SHOES, {"B"}),                                        # full-width forms
    ("应穿绝缘靴。", SHOES, {"B"}),                                      # the option text, not its part
    ("35kV", VOLTS, {"B"}),                                             # letters inside option texts are masked
    ("雷雨天气巡视时要注意安全，远离避雷器。", SHOES, None),             # prose naming no option: unparsed
    ("", SHOES, None),
    ("对", JUDGE, {"A"}),
    ("错", JUDGE, {"B"}),
    ("不对，应先验电。", JUDGE, {"B"}),
    ("√", JUDGE, {"A"}),
    ("×", JUDGE, {"B"}),
    ("这个说法是正确的。", JUDGE, {"A"}),
    ("B. 错误", JUDGE, {"B"}),
])
def test_real_model_outputs(answer, options, expected):
    got = answers.parse_labels(answer, options)
    assert (set(got) if got is not None else None) == expected


def test_exam_accuracy_scores_with_the_shared_parser():
    assert exam_accuracy.parse_labels is answers.parse_labels
    q = {"id": 1, "qtype": "single", "subject": "变电", "question": "雷雨天气应穿（　　）", "options": SHOES,
         "answer_labels": ["B"]}
    r = exam_accuracy.score([q], {(1, 0): "答案：B。A 选项不行"}, shuffles=0, seed=0)
    assert r["accuracy"] == 1.0 and r["unparsed"] == 0
    r = exam_accuracy.score([q], {(1, 0): "要注意安全"}, shuffles=0, seed=0)
    assert r["accuracy"] == 0.0 and r["unparsed"] == 1


@pytest.mark.parametrize("text, verdict", [("正确", True), ("不正确", False), ("对的", True), ("错误", False),
                                           ("没有说", None)])
def test_judge_words(text, verdict):
    assert answers.judge_word(text) is verdict
