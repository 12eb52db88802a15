"""The seeds' report tables (DreamerGPT's judge table, YaYi's subjective and objective tables) rebuilt from
data inserted here, their Markdown / CSV / chart, and the Reports page in English and Chinese."""
import csv
import io
import math

import pytest
from streamlit.testing.v1 import AppTest

from store import compare as store
from store import datasets, db
from studio.core.errors import InputError, NotFound
from studio.evaluate import exam_accuracy, report
from tests.conftest import ROOT
from tests.test_exam_eval import seed_exam
from tests.test_ratings import fake_comparison

BASE, X, Y = "base (tiny)", "run-x", "run-y"


def judged(cid, grid, plan, *, model="gpt-judge", template="dreamergpt"):
    """Judge scores from a plan {(prompt ord, system): [score, ...]} (several: judged again; None: unparsed)."""
    with db.transaction() as cur:
        for p in grid["prompts"]:
            for sid, out in p["outputs"].items():
                for score in plan.get((p["ord"], sid), []):
                    store.insert_judge_score({"generation_id": out["generation_id"], "judge_model": model,
                                              "template": template, "score": score, "parsed": score is not None,
                                              "raw": f"System1 分数：{score}"}, cur=cur)


def rated(grid, plan):
    """Ratings from a plan {(prompt ord, system): {rater: score}}."""
    with db.transaction() as cur:
        for p in grid["prompts"]:
            for sid, out in p["outputs"].items():
                for rater, score in plan.get((p["ord"], sid), {}).items():
                    store.upsert_rating(out["generation_id"], p["prompt_id"], rater, score, None, cur=cur)


def values(df, first):
    """{row name: {column: value}} with NaN as None."""
    out = {}
    for _i, r in df.iterrows():
        out[r[first]] = {c: (None if isinstance(r[c], float) and math.isnan(r[c]) else r[c]) for c in df.columns[1:]}
    return out


# ---------------------------------------------------------------- DreamerGPT: judge scores


def judge_plan():
    # prompts 0, 2 are 知识问答; 1, 3 are 翻译
    return {(0, "base"): [5], (1, "base"): [6], (2, "base"): [7], (3, "base"): [8],
            (0, "run-x"): [3, 9], (1, "run-x"): [None], (2, "run-x"): [8], (3, "run-x"): [10],  # 3 re-judged to 9
            (0, "run-y"): [4], (1, "run-y"): [6.5], (2, "run-y"): [None, None]}                 # 3: never judged


def test_dreamergpt_table_means_per_category_latest_score_and_samples(studio_env):
    cid, grid = fake_comparison()
    judged(cid, grid, judge_plan())
    df = report.dreamergpt_table(cid)
    assert list(df.columns) == ["category", "samples", BASE, X, Y]
    assert list(df["category"]) == ["知识问答", "翻译", "overall"]
    v = values(df, "category")
    assert v["知识问答"] == {"samples": 2, BASE: 6.0, X: 8.5, Y: 4.0}
    assert v["翻译"] == {"samples": 2, BASE: 7.0, X: 10.0, Y: 6.5}
    assert v["overall"] == {"samples": 4, BASE: 6.5, X: 9.0, Y: 5.25}
    assert df.attrs["scored"] == 9 and df.attrs["unscored"] == 3 and df.attrs["scale"] == 10.0


def test_dreamergpt_table_by_judge_and_without_scores(studio_env):
    cid, grid = fake_comparison()
    empty = report.dreamergpt_table(cid)
    assert empty.attrs["scored"] == 0 and values(empty, "category")["overall"] == {"samples": 4, BASE: None, X: None,
                                                                                   Y: None}
    judged(cid, grid, {(0, "base"): [2]}, model="judge-a")
    judged(cid, grid, {(0, "base"): [9]}, model="judge-b")
    assert values(report.dreamergpt_table(cid, judge_model="judge-a"), "category")["知识问答"][BASE] == 2.0
    assert values(report.dreamergpt_table(cid), "category")["知识问答"][BASE] == 9.0   # the latest of all


# ---------------------------------------------------------------- YaYi: subjective


def test_yayi_subjective_table_mean_of_raters_and_number_of_raters(studio_env):
    cid, grid = fake_comparison()
    rated(grid, {(0, "base"): {"甲": 2, "乙": 3},            # output mean 2.5
                 (2, "base"): {"甲": 4, "乙": 4, "丙": 5},   # output mean 13/3
                 (0, "run-x"): {"甲": 5},
                 (1, "base"): {"甲": 1},                      # 翻译: only 甲 and 乙 rated
                 (3, "run-y"): {"乙": 4}})
    df = report.yayi_subjective_table(cid)
    assert list(df.columns) == ["domain", "raters", BASE, X, Y]
    v = values(df, "domain")
    assert v["知识问答"] == {"raters": 3, BASE: round((2.5 + 13 / 3) / 2, 2), X: 5.0, Y: None}
    assert v["翻译"] == {"raters": 2, BASE: 1.0, X: None, Y: 4.0}
    assert v["overall"] == {"raters": 3, BASE: round((2.5 + 13 / 3 + 1) / 3, 2), X: 5.0, Y: 4.0}
    assert df.attrs["rated"] == 5 and df.attrs["outputs"] == 12


# ---------------------------------------------------------------- YaYi: objective


def evaluated(did, system, answers, *, limit=None):
    """An exam evaluation of ``system`` scored from given answers (question order) and stored, no model needed."""
    qs = [q for q in store.exam_questions(did)
          if q["qtype"] in exam_accuracy.TYPES and exam_accuracy.expected_labels(q)]
    qs = qs[:limit] if limit else qs
    result = exam_accuracy.score(qs, {(q["id"], 0): a for q, a in zip(qs, answers)}, 0, 0)
    return store.insert_exam_eval({"model_system": system, "base_model": "tiny", "dataset_id": did, "n": result["n"],
                                   "accuracy": result["accuracy"], "by_type": result["by_type"],
                                   "by_subject": result["by_subject"], "unparsed": result["unparsed"]})


def test_yayi_objective_table_by_subject_and_type_from_the_latest_evaluations(studio_env):
    did = seed_exam()   # 变电专业: single B, single D, judge A; 线路专业: multi AD, judge B
    evaluated(did, "base", ["A", "A", "A", "A", "A"])                               # only the first judge right
    evaluated(did, "run-x", ["A", "A", "A", "A", "A"])                              # replaced below
    evaluated(did, "run-x", ["B", "D", "A\nD", "正确", "错误"])                      # all right
    by_subject = report.yayi_objective_table("安规题库")
    assert list(by_subject.columns) == ["subject", "questions", BASE, X]
    v = values(by_subject, "subject")
    assert v == {"变电专业": {"questions": 3, BASE: 0.3333, "run-x": 1.0},
                 "线路专业": {"questions": 2, BASE: 0.0, "run-x": 1.0},
                 "overall": {"questions": 5, BASE: 0.2, "run-x": 1.0}}
    by_type = values(report.yayi_objective_table("安规题库", by="type"), "type")
    assert by_type == {"single": {"questions": 2, BASE: 0.0, "run-x": 1.0},
                       "multi": {"questions": 1, BASE: 0.0, "run-x": 1.0},
                       "judge": {"questions": 2, BASE: 0.5, "run-x": 1.0},
                       "overall": {"questions": 5, BASE: 0.2, "run-x": 1.0}}
    assert report.exam_datasets_evaluated() == ["安规题库"]


def test_yayi_objective_table_says_when_systems_answered_different_questions(studio_env):
    did = seed_exam()
    evaluated(did, "base", ["B", "A", "A"], limit=3)           # the first three: 变电 single x2, 线路 multi
    evaluated(did, "run-y", ["B", "D", "AD", "A", "B"])
    df = report.yayi_objective_table("安规题库")
    assert df.attrs["mixed_sizes"] is True
    v = values(df, "subject")
    assert v["变电专业"] == {"questions": 3, BASE: 0.5, "run-y": 1.0}
    assert v["overall"] == {"questions": 5, BASE: round(1 / 3, 4), "run-y": 1.0}
    with pytest.raises(InputError, match="subject or type"):
        report.yayi_objective_table("安规题库", by="colour")
    with pytest.raises(NotFound):
        report.yayi_objective_table("no such exam")
    datasets.create("空题库", "exam")
    assert values(report.yayi_objective_table("空题库"), "subject") == {"overall": {"questions": 0}}


# ---------------------------------------------------------------- exports and chart


def test_markdown_csv_and_chart_for_people(studio_env):
    cid, grid = fake_comparison(categories=("=HYPERLINK(\"http://x\")", "@SUM(A1)", "a|b"))
    judged(cid, grid, {(0, "base"): [7], (0, "run-x"): [9], (1, "base"): [4], (2, "run-y"): [3]})
    df = report.dreamergpt_table(cid)
    md = report.table_markdown(df)
    assert md.splitlines()[0] == f"| task category | number of samples | {BASE} | {X} | {Y} |"
    assert "| a\\|b | 1 | -- | -- | 3.00 |" in md            # a pipe in a name is escaped; one value: not bold
    assert "| overall | 4 | 5.50 | **9.00** | 3.00 |" in md
    rows = list(csv.reader(io.StringIO(report.table_csv(df))))
    assert rows[0] == ["task category", "number of samples", BASE, X, Y]
    names = [r[0] for r in rows[1:]]
    assert "'=HYPERLINK(\"http://x\")" in names and "'@SUM(A1)" in names and "overall" in names
    assert not any(cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r)
    assert ["'=HYPERLINK(\"http://x\")", "2", "7.0", "9.0", ""] in rows
    fig = report.table_chart(df, y_title="score")
    assert [t.name for t in fig.data] == [BASE, X, Y] and fig.layout.yaxis.range[1] == pytest.approx(10.2)


def test_people_see_chinese_headings_and_row_names(studio_env):
    from studio.core import i18n

    cid, grid = fake_comparison()
    rated(grid, {(0, "base"): {"甲": 4}})
    did = seed_exam()
    evaluated(did, "base", ["B", "D", "AD", "A", "B"])
    with i18n.using("zh"):
        people = report.people_frame(report.yayi_subjective_table(cid))
        assert list(people.columns)[:2] == ["领域", "评分员人数"]
        assert list(people.iloc[:, 0]) == ["知识问答", "翻译", "总体"]
        by_type = report.people_frame(report.yayi_objective_table("安规题库", by="type"))
        assert list(by_type.iloc[:, 0]) == ["单选题", "多选题", "判断题", "总体"]
        assert report.table_csv(report.yayi_objective_table("安规题库")).splitlines()[0].startswith("科目,试题数,")


# ---------------------------------------------------------------- the page


@pytest.fixture
def page_data(studio_env):
    cid, grid = fake_comparison()
    judged(cid, grid, judge_plan())
    rated(grid, {(0, "base"): {"甲": 2, "乙": 3}, (1, "run-x"): {"甲": 5}})
    did = seed_exam()
    evaluated(did, "base", ["A", "A", "A", "A", "A"])
    yield cid
    from studio.service import supervisor

    supervisor.stop()


def open_reports():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("pages/reports.py").run()
    assert not at.exception, at.exception
    return at


def test_reports_page_shows_three_tables_with_downloads(page_data):
    at = open_reports()
    assert [t.label for t in at.tabs] == ["DreamerGPT: judge scores", "YaYi: human ratings", "YaYi: exam accuracy"]
    assert len(at.dataframe) == 3
    judge_df = at.dataframe[0].value
    assert list(judge_df.columns) == ["task category", "number of samples", BASE, X, Y]
    assert judge_df.iloc[-1].tolist()[:3] == ["overall", 4, 6.5]
    assert at.dataframe[2].value.iloc[-1].tolist() == ["overall", 5, 0.2]
    downloads = at.get("download_button")
    assert len(downloads) == 6
    assert any("3 outputs have no judge score yet" in c.value for c in at.caption)
    at.radio(key="reports_by").set_value("type").run()
    assert list(at.dataframe[2].value.iloc[:, 0]) == ["single choice", "multiple choice", "true/false", "overall"]


def test_reports_page_in_chinese(page_data, monkeypatch):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    at = open_reports()
    assert at.title[0].value == "评测报表"
    assert [t.label for t in at.tabs] == ["DreamerGPT：裁判模型评分", "YaYi：人工评分", "YaYi：考试准确率"]
    assert list(at.dataframe[0].value.columns)[:2] == ["任务类别", "样本数"]
    assert at.dataframe[0].value.iloc[-1, 0] == "总体"
    assert at.radio(key="reports_by").options == ["按科目", "按题型"]


def test_reports_page_empty_states(studio_env):
    at = open_reports()
    infos = " ".join(i.value for i in at.info)
    assert "No comparison yet" in infos and "No exam evaluation yet" in infos
