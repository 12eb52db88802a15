"""The Compare and Results pages through Streamlit's AppTest, on the tiny model with trained adapters."""
import pytest
from streamlit.testing.v1 import AppTest

from studio.evaluate import comparisons, ratings
from studio.evaluate import prompt_sets as prompts
from studio.service import jobs
from testkit.fake_openai import FakeOpenAI
from tests.compare_helpers import PAIRS_A, adapters, runs  # noqa: F401 - fixtures
from tests.conftest import ROOT
from tests.test_exam_eval import seed_exam

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def supervisor_stopped(studio_env):
    """Stop the job runner the pages started before the database closes (its tick would race the close)."""
    yield
    from studio.service import supervisor

    supervisor.stop()


def open_page(page="pages/compare.py"):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def texts(at):
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [t.value for t in at.text])


def finish(at, key):
    """Wait for the job the page started (its id is the page's UI state), then rerun the page."""
    assert jobs.wait(at.session_state[key], timeout=300)["state"] in ("done", "failed")
    at.run()


def rater_view(at, name, mode):
    at.text_input(key="compare_rater").input(name).run()
    at.radio(key="compare_mode").set_value(mode).run()
    assert not at.exception, at.exception
    return at


def test_generate_rate_blind_reveal_and_reload(runs, demo_model):
    prompts.save("安规四问", "test", [{"prompt": q, "category": "安规", "reference": a} for q, a in PAIRS_A])
    at = open_page()
    at.multiselect(key="compare_runs").set_value([runs["a"]]).run()
    at.button(key="compare_open").click().run()
    assert any("8 outputs not generated yet" in w.value for w in at.warning)
    at.button(key="compare_generate").click().run()
    assert not at.exception, at.exception
    finish(at, "compare_job")
    assert not at.warning, [w.value for w in at.warning] + [e.value for e in at.error]
    [comp] = comparisons.list_all()
    grid = comparisons.grid(comp["id"])
    assert grid["missing"] == 0 and comp["systems"] == ["base", "run-a"]
    assert "高压" in texts(at) and "安规 LoRA (run-a)" in texts(at)   # the open grid names the systems
    assert PAIRS_A[0][0] in [t.value for t in at.text]  # the prompt as written: no Markdown, line breaks kept

    rater_view(at, "张三", "Blind rating")
    shown = texts(at)
    assert "System 1" in shown and "System 2" in shown
    assert "安规 LoRA (run-a)" not in shown and "base (" not in shown   # blind: no names
    first = grid["prompts"][0]
    gids = {sid: o["generation_id"] for sid, o in first["outputs"].items()}
    at.radio(key=f"compare_score_{gids['run-a']}_张三").set_value(5)
    at.text_input(key=f"compare_note_{gids['run-a']}_张三").input("准确")
    at.radio(key=f"compare_score_{gids['base']}_张三").set_value(1)
    [b for b in at.button if b.label == "Save ratings"][0].click().run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("Revealed: System") and "安规 LoRA (run-a)" in c.value for c in at.caption)
    assert sum("Revealed" in c.value for c in at.caption) == 1      # only the rated prompt is revealed
    assert ratings.progress(comp["id"]) == {"rated": 2, "total": 8, "ratings": 2, "raters": 1}

    # a reload (new session): the ratings come back from the database, still revealed
    at2 = rater_view(open_page(), "张三", "Blind rating")
    assert at2.radio(key=f"compare_score_{gids['run-a']}_张三").value == 5
    assert at2.text_input(key=f"compare_note_{gids['run-a']}_张三").value == "准确"
    assert any("Revealed" in c.value for c in at2.caption)
    assert any("rated 2 / 8 outputs" in (p.proto.text or "") for p in at2.get("progress"))
    # another rater sees nothing revealed and rates the same output
    at3 = rater_view(open_page(), "李四", "Blind rating")
    assert not any("Revealed" in c.value for c in at3.caption)
    assert at3.radio(key=f"compare_score_{gids['run-a']}_李四").value is None

    # arena: vote, the names show after the vote, the vote survives a reload
    at4 = rater_view(open_page(), "李四", "Arena")
    assert "A — " not in texts(at4)
    at4.button(key="compare_vote_a").click().run()
    assert not at4.exception, at4.exception
    assert any("Your vote: a" in s.value for s in at4.success)
    at5 = rater_view(open_page(), "李四", "Arena")
    assert any("Your vote: a" in s.value for s in at5.success)
    assert ratings.summary(comp["id"], bootstrap=10)["votes"] == 1


def test_results_page_ratings_judge_and_exam(runs, demo_model, monkeypatch):
    pset = prompts.save("安规四问", "test", [{"prompt": q, "category": "安规"} for q, _ in PAIRS_A])
    comp = comparisons.open_comparison(pset["prompt_set"], [runs["a"]], max_new_tokens=8)
    comparisons.generate(comp["id"])
    grid = comparisons.grid(comp["id"])
    for p in grid["prompts"]:
        ratings.rate(p["outputs"]["run-a"]["generation_id"], "甲", 5)
        ratings.rate(p["outputs"]["base"]["generation_id"], "甲", 1)
        ratings.vote(p["prompt_id"], p["outputs"]["run-a"]["generation_id"], p["outputs"]["base"]["generation_id"],
                     "a", "甲")
    seed_exam()
    at = open_page("pages/results.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rated outputs"] == "8 / 8" and metrics["A/B votes"] == "4"
    table = [m.value for m in at.markdown if m.value.startswith("| category")][0]
    assert "| 安规 | 4 | 1.0 | **5.0** |" in table
    assert len(at.get("plotly_chart")) >= 2

    def verdict(req):
        return "System1 分数：7；System1 解释：还行。\nSystem2 分数：3；System2 解释：不好。"

    with FakeOpenAI(reply=verdict) as server:
        at.text_input(key="results_judge_model").input("fake-judge")
        at.text_input(key="results_judge_url").input(server.url)
        [b for b in at.button if b.label == "Judge the outputs"][0].click().run()
        assert not at.exception, at.exception
        finish(at, "results_judge_job")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Scored outputs"] == "8" and metrics["Unparsed verdicts"] == "0"

    at.selectbox(key="results_exam_run").set_value("run-a")
    at.number_input(key="results_exam_k").set_value(1)
    [b for b in at.button if b.label == "Evaluate"][0].click().run()
    assert not at.exception, at.exception
    finish(at, "results_exam_job")
    assert any(s.value.startswith("Latest: 安规 LoRA (run-a) on 安规题库") for s in at.subheader)
