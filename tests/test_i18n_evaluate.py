"""Compare and Results in the user's language, and the rough edges a walk found there.

- Number fields have sane ranges checked in ``studio.evaluate.limits``: the functions refuse a value out of
  range naming the setting and its range, the CLI exits 2 with one line, and the pages keep their start
  button disabled with the reason shown.
- Charts are drawn only with data: before any judgement (or rating, or exam) an empty state says what to
  do; with scores, the axis fits the score's scale (judge 0-10, ratings 0-5, accuracy 0-100 %).
- Enter in a field of a form never submits it: only the button does.
- In zh the pages show Chinese titles, labels and buttons, with data on them; the tables a person reads
  are in zh, the every-output CSV keeps its English keys for scripts.
"""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from streamlit.testing.v1 import AppTest

from store import compare as store
from studio.core.errors import InputError
from studio.evaluate import exam_accuracy, inference, judge, limits, ratings, report
from studio.evaluate import prompt_sets as prompts
from studio.service import kinds_evaluate
from tests.conftest import ROOT, run_cli
from tests.test_exam_eval import seed_exam
from tests.test_i18n import english_words, visible_texts
from tests.test_ratings import fake_comparison

# --- ranges, where the work is defined ------------------------------------------------------------


@pytest.mark.parametrize("limit, value, reason", [
    (limits.MAX_NEW_TOKENS, 0, "Max new tokens must be a whole number from 1 to 4096, not 0"),
    (limits.MAX_NEW_TOKENS, 100000, "Max new tokens must be a whole number from 1 to 4096, not 100000"),
    (limits.MAX_NEW_TOKENS, "abc", "Max new tokens must be a whole number from 1 to 4096, not 'abc'"),
    (limits.MAX_NEW_TOKENS, "1e12", "Max new tokens must be a whole number from 1 to 4096, not 1e12"),
    (limits.MAX_NEW_TOKENS, 1.5, "Max new tokens must be a whole number from 1 to 4096, not 1.5"),
    (limits.SHUFFLES, -3, "Option shuffles must be a whole number from 0 to 20, not -3"),
    (limits.QUESTIONS, -1, "First N questions must be a whole number from 0 to 1000000, not -1"),
    (limits.BATCH_SIZE, 0, "Batch size must be a whole number from 1 to 512, not 0"),
    (limits.JUDGE_SCALE, 0, "Score scale must be a number from 1 to 100, not 0"),
    (limits.MAX_NEW_TOKENS, 1, None), (limits.MAX_NEW_TOKENS, "4096", None), (limits.SHUFFLES, 20, None),
    (limits.QUESTIONS, 0, None), (limits.JUDGE_SCALE, 7.5, None),
])
def test_each_number_has_a_sane_range_named_in_the_refusal(limit, value, reason):
    assert limit.problem(value) == reason
    if reason:
        with pytest.raises(InputError, match="must be"):
            limit.check(value)
    else:
        assert limit.check(value) == float(value)


def test_the_work_itself_refuses_out_of_range_values(studio_env):
    seed_exam()
    with pytest.raises(InputError, match="Max new tokens must be a whole number from 1 to 4096, not 0"):
        inference.decode_settings("greedy", max_new_tokens=0)
    with pytest.raises(InputError, match="Option shuffles .* not 50"):
        exam_accuracy.evaluate("base", "安规题库", shuffles=50)
    with pytest.raises(InputError, match="Option shuffles .* not -3"):
        kinds_evaluate.start_eval("base", "安规题库", shuffles=-3)
    with pytest.raises(InputError, match="First N questions .* not -1"):
        prompts.from_exam("安规题库", limit=-1)
    with pytest.raises(InputError, match="Score scale"):
        judge.save_template("mine", "{prompt} {answer}", scale=1000)
    assert prompts.list_sets() == []


def test_the_cli_refuses_an_out_of_range_number_with_one_line_and_exit_2(studio_env, tmp_path):
    from store import db

    prompt_file = tmp_path / "p.jsonl"
    prompt_file.write_text('{"prompt": "高压验电应戴什么？"}\n', encoding="utf-8")
    db.close_all()   # the CLI process opens the database file
    r = run_cli("eval", "--run", "base", "--dataset", "安规题库", "--shuffles", "50")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == ["error: Option shuffles (--shuffles) must be a whole number from 0 to 20, "
                                             "not 50"]
    r = run_cli("compare", "--runs", "base", "--prompts", str(prompt_file), "--out", str(tmp_path / "o.jsonl"),
                "--max-new-tokens", "abc")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "(--max-new-tokens) must be a whole number from 1 to 4096, not 'abc'" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "o.jsonl").exists()
    assert prompts.list_sets() == []   # refused before anything was imported
    db.close_all()
    r = run_cli("eval", "--run", "base", "--dataset", "安规题库", "--limit", "-5", env={"STUDIO_LANG": "zh"})
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert "前 N 道试题（--limit）必须是 0 到 1000000 之间的整数" in r.stderr, r.stderr


# --- pages ------------------------------------------------------------------------------------------


def open_page(page):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def button(at, key):
    return next(b for b in at.button if b.key == key)


def test_compare_keeps_open_disabled_while_max_new_tokens_is_out_of_range(studio_env):
    prompts.save("安规四问", "test", [{"prompt": "高压验电应戴什么手套？"}])
    seed_exam()
    at = open_page("pages/compare.py")
    assert not button(at, "compare_open").disabled
    for bad in (0, -3, 100000):
        at.number_input(key="compare_max_new").set_value(bad).run()
        assert button(at, "compare_open").disabled
        assert [w.value for w in at.warning] == [
            f"Max new tokens must be a whole number from 1 to 4096, not {bad}"]
    at.number_input(key="compare_max_new").set_value(16).run()
    assert not button(at, "compare_open").disabled and not at.warning
    button(at, "compare_open").click().run()
    assert [c["decode"]["max_new_tokens"] for c in store.list_comparisons()] == [16]
    # the exam tab's question count: the same check on the button that makes the prompt set
    at.number_input(key="compare_exam_limit").set_value(-1).run()
    assert button(at, "compare_from_exam").disabled
    assert any("First N questions must be a whole number from 0 to 1000000, not -1" in w.value for w in at.warning)


def test_results_keeps_evaluate_disabled_while_shuffles_are_out_of_range(studio_env):
    seed_exam()
    at = open_page("pages/results.py")
    for bad in (50, -3):
        at.number_input(key="results_exam_k").set_value(bad).run()
        assert button(at, "results_exam_go").disabled
        assert [w.value for w in at.warning] == [f"Option shuffles must be a whole number from 0 to 20, not {bad}"]
    at.number_input(key="results_exam_k").set_value(2).run()
    assert not button(at, "results_exam_go").disabled and not at.warning


def test_enter_in_a_field_never_submits_a_form(studio_env):
    fake_comparison(n_prompts=2)
    forms = {}
    for page in ("pages/compare.py", "pages/results.py"):
        at = open_page(page)
        forms.update({f.proto.form.form_id: f.proto.form.enter_to_submit for f in at.get("form")})
    assert "results_judge_form" in forms and sum(k.startswith("compare_form_") for k in forms) == 2
    assert not any(forms.values()), forms   # only the buttons submit: Enter in the judge model or a comment does not


class FakeJudge:
    """An OpenAI-style client whose replies come from ``reply(messages)`` (the real parser reads them)."""
    base_url = "http://judge.invalid/v1"

    def __init__(self, reply):
        def create(**kw):
            message = SimpleNamespace(content=reply(kw["messages"][-1]["content"]))
            return SimpleNamespace(choices=[SimpleNamespace(message=message)], usage=None)
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=create))


def charts(at) -> dict[str, dict]:
    """The page's plotly charts by their y (or x) axis title."""
    out = {}
    for el in at.get("plotly_chart"):
        layout = json.loads(el.proto.spec)["layout"]
        axis = layout.get("yaxis", {}).get("title", {}).get("text") or layout.get("xaxis", {}).get("title", {}).get(
            "text")
        out[axis] = layout
    return out


def test_results_draw_no_empty_chart_and_fit_the_score_scale(studio_env):
    cid, grid = fake_comparison(n_prompts=2)
    at = open_page("pages/results.py")
    assert charts(at) == {}   # nothing judged, rated or examined: no axes without data
    infos = " ".join(i.value for i in at.info)
    assert "No judge scores yet: name the judge model and its endpoint above, then press Judge the outputs" in infos
    assert "No ratings yet: rate outputs on the Compare page." in infos

    judge.judge_comparison(cid, model="fake-judge", client=FakeJudge(lambda text: "无法评价。"))
    at = open_page("pages/results.py")
    assert charts(at) == {}   # verdicts with no readable score: still no chart, and a reason instead
    assert {m.label: m.value for m in at.metric}["Unparsed verdicts"] == "6"
    assert any("no score could be read" in w.value for w in at.warning)

    def scores(text):
        return "\n".join(f"System{i} 分数：{i + 5}；System{i} 解释：可以。" for i in range(1, text.count("System") + 1))

    judge.judge_comparison(cid, model="fake-judge", client=FakeJudge(scores))
    for p in grid["prompts"]:
        ratings.rate(p["outputs"]["run-x"]["generation_id"], "张三", 5)
    at = open_page("pages/results.py")
    drawn = charts(at)
    assert drawn["mean judge score (0-10)"]["yaxis"]["range"] == pytest.approx([0, 10.2])
    assert drawn["mean rating"]["yaxis"]["range"] == pytest.approx([0, 5.1])
    assert {m.label: m.value for m in at.metric}["Scored outputs"] == "6"


# --- in Chinese -------------------------------------------------------------------------------------------


def test_compare_and_results_speak_chinese_with_data(studio_env, monkeypatch):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    cid, grid = fake_comparison(n_prompts=2)
    for p in grid["prompts"]:
        ratings.rate(p["outputs"]["run-x"]["generation_id"], "张三", 4)
        ratings.vote(p["prompt_id"], p["outputs"]["run-x"]["generation_id"], p["outputs"]["base"]["generation_id"],
                     "a", "张三")
    seed_exam()
    at = open_page("pages/compare.py")
    at.text_input(key="compare_rater").input("张三").run()
    assert at.title[0].value == "对比"
    assert {"打开对比", "保存评分"} <= {b.label for b in at.button}
    assert "你的名字（评分员）" in [t.label for t in at.text_input]
    assert at.radio(key="compare_mode").options == ["网格", "盲评", "对战"]
    at.radio(key="compare_mode").set_value("Blind rating").run()
    assert any(m.value == "**系统 1**" for m in at.markdown)
    at.radio(key="compare_mode").set_value("Arena").run()
    assert {"A 更好", "B 更好", "平局", "都不好", "下一组"} <= {b.label for b in at.button}
    at.number_input(key="compare_max_new").set_value(0).run()
    assert [w.value for w in at.warning] == ["最大生成 token 数必须是 1 到 4096 之间的整数，当前为 0"]
    leftovers = {t: w for t in visible_texts(at) if (w := english_words(t))}
    assert not leftovers, leftovers

    at = open_page("pages/results.py")
    assert at.title[0].value == "结果"
    assert {"已评分回答", "评分员", "A/B 投票"} <= {m.label for m in at.metric}
    assert {"评判回答", "评测"} <= {b.label for b in at.button}
    assert any(m.value.startswith("| 类别 | n | 基座模型（tiny） |") and "| 总体 |" in m.value for m in at.markdown)
    leftovers = {t: w for t in visible_texts(at) if (w := english_words(t))}
    assert not leftovers, leftovers


def test_tables_for_people_are_translated_and_the_outputs_csv_keeps_its_keys(studio_env, monkeypatch):
    cid, grid = fake_comparison(n_prompts=2)
    monkeypatch.setenv("STUDIO_LANG", "zh")
    table = ratings.rating_table(cid)
    assert ratings.to_csv(table).splitlines()[0] == "类别,n,基座模型（tiny）,run-x,run-y"
    assert [r["category"] for r in table["rows"]][-1] == "overall"   # the data keeps its English key
    assert report.csv_text(report.output_rows(cid)).splitlines()[0].startswith("prompt_id,category,prompt,")
    job = {"kind": "compare", "result": {"generated": 4, "cached": 2}, "message": "Generated 4 outputs"}
    assert kinds_evaluate.done_message(job) == "已生成 4 个回答（2 个来自缓存）"
