"""Review: flags, decisions with versions, positions across reloads, bulk, statistics; pages in AppTest."""
import time

import pytest
from streamlit.testing.v1 import AppTest

from store import db
from studio.core.errors import Conflict, InputError
from studio.data import review
from studio.data import review_flags as quality
from studio.project.demo_corpus import DEMO_CLOZE, DEMO_CORPUS, load_demo
from tests.conftest import ROOT


@pytest.mark.parametrize("answer,passage,flagged", [
    ("0.7米", "安全距离不得小于0.7米。", False),
    ("安全距离不得小于0.7米", "人员与带电部分的安全距离不得小于0.7米。", False),
    ("应当立即拉闸并通知调度中心", "安全距离不得小于0.7米。", True),
])
def test_support_flag(answer, passage, flagged):
    assert ("unsupported" in quality.sample_flags("问题是什么？", "", answer, passage)) is flagged


def test_length_language_and_duplicates():
    assert "too-short" in quality.sample_flags("问", "", "答", None)
    assert "too-long" in quality.sample_flags("问题是什么", "", "长" * 3000, None)
    assert "wrong-language" in quality.sample_flags("What is the distance?", "", "It is 0.7 m.", "安全距离不得小于0.7米。")
    flags = quality.duplicate_flags(["安全距离不得小于多少？0.7米", "安全距离不得小于多少？ 0.7米。",
                                     "人员工作中与10千伏带电设备的安全距离不得小于多少米？答：0.7米",
                                     "人员工作中与10千伏带电设备的安全距离不得小于多少米？答 0.7 米！！",
                                     "完全不同的内容"])
    assert flags == [None, "duplicate", None, "duplicate", None]
    near = quality.duplicate_flags(["工作票的有效期不得超过七日，工作负责人应当在到期前办理延期手续。",
                                    "工作票的有效期不得超过七日，工作负责人应当在到期前办理延期手续的。"])
    assert near == [None, "near-duplicate"]


def test_highlight_marks_the_support_and_escapes():
    html = quality.highlight("距离<b>不得小于0.7米。", "不得小于0.7米")
    assert "<mark>不得小于0.7米</mark>" in html and "&lt;b&gt;" in html


def test_decisions_positions_bulk_and_stats():
    load_demo()
    n = db.scalar("SELECT count(*) FROM samples WHERE status = 'pending'")
    assert n >= 15
    view = review.current(DEMO_CLOZE, "alice")
    first = view["sample"]
    assert view["position"] == 1 and view["total"] == n and "<mark>" in view["highlight"]
    with pytest.raises(InputError):
        review.current(DEMO_CLOZE, " ")
    nxt = review.decide(DEMO_CLOZE, first["id"], first["version"], "accept", "alice",
                        edits={"instruction": first["instruction"] + "（请填空）", "output": first["output"]})
    row = db.one("SELECT * FROM samples WHERE id = ?", [first["id"]])
    assert row["status"] == "accepted" and row["reviewer"] == "alice" and "edited" in row["tags"]
    assert row["instruction"].endswith("（请填空）")
    with pytest.raises(Conflict):  # a second tab still showing the old version
        review.decide(DEMO_CLOZE, first["id"], first["version"], "reject", "bob", reason="wrong answer")
    with pytest.raises(InputError, match="why"):
        review.decide(DEMO_CLOZE, nxt, 1, "reject", "alice")
    review.decide(DEMO_CLOZE, nxt, 1, "reject", "alice", reason="wrong answer")
    # the position is in the database: a new session of the same reviewer opens the same sample
    at = review.current(DEMO_CLOZE, "alice")["sample"]["id"]
    db.close_all()
    assert review.current(DEMO_CLOZE, "alice")["sample"]["id"] == at
    assert review.current(DEMO_CLOZE, "bob")["position"] == 1  # bob has his own place
    # previous / next move within the filtered queue
    after = review.current(DEMO_CLOZE, "alice", move="next")["sample"]["id"]
    assert after > at and review.current(DEMO_CLOZE, "alice", move="prev")["sample"]["id"] == at
    # bulk: the filtered set in one transaction, with an undo record
    f = review.Filters(status="pending", search="千伏")
    count = len(review.queue_table(DEMO_CLOZE, f))
    assert count >= 2 and review.bulk(DEMO_CLOZE, f, "accept", "carol") == count
    assert db.scalar("SELECT affected FROM bulk_actions") == count
    assert db.scalar("SELECT count(*) FROM review_decisions WHERE bulk AND reviewer = 'carol'") == count
    s = review.stats(DEMO_CLOZE)
    assert s.by_template[0]["group"] == "cloze" and s.by_model[0]["group"] == "offline cloze"
    assert {r["reviewer"] for r in s.throughput} == {"alice", "carol"}
    figs = review.figures(s)
    assert set(figs) == {"template", "model", "flag", "throughput"}


def _app():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    return at


def test_review_page_flow():
    load_demo()
    at = _app()
    at.switch_page("pages/review.py").run()
    assert not at.exception
    assert any("Enter your name" in i.value for i in at.info)
    at.text_input(key="review_reviewer").input("alice").run()
    first = review.current(DEMO_CLOZE, "alice")["sample"]
    assert at.text_area(key=f"review_{first['id']}_1_instruction").value == first["instruction"]
    assert any("Answer support" in c.value for c in at.caption)
    # edit then accept
    at.text_area(key=f"review_{first['id']}_1_output").input(first["output"] + "（以上）").run()
    at.button(key="review_accept").click().run()
    assert not at.exception and any("accepted" in s.value for s in at.success)
    row = db.one("SELECT status, output, reviewer FROM samples WHERE id = ?", [first["id"]])
    assert row == {"status": "accepted", "output": first["output"] + "（以上）", "reviewer": "alice"}
    # reject the next one with a reason
    second = review.current(DEMO_CLOZE, "alice")["sample"]
    at.selectbox(key="review_reason").set_value("wrong answer").run()
    at.button(key="review_reject").click().run()
    row = db.one("SELECT status, review_reason FROM samples WHERE id = ?", [second["id"]])
    assert row == {"status": "rejected", "review_reason": "wrong answer"}
    third = review.current(DEMO_CLOZE, "alice")["sample"]["id"]
    # a reload (a new session, reviewer from the URL) opens the same place in the queue
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    again.query_params["reviewer"] = "alice"
    again.run()
    again.switch_page("pages/review.py").run()
    assert again.text_input(key="review_reviewer").value == "alice"
    assert again.text_area(key=f"review_{third}_1_instruction").value == \
        db.scalar("SELECT instruction FROM samples WHERE id = ?", [third])
    # statistics are plotted
    charts = again.get("plotly_chart")
    assert len(charts) >= 3


def test_generate_page_runs_cloze_in_the_background():
    from studio.data.corpus import import_corpus
    from studio.service import batches as background

    import_corpus([ROOT / "studio" / "project" / "demo" / "domain_text.md"], DEMO_CORPUS)
    at = _app()
    at.switch_page("pages/generate.py").run()
    assert not at.exception
    at.radio(key="gen_strategy").set_value("cloze").run()
    at.button(key="gen_start").click().run()
    assert not at.exception, at.exception
    job = (DEMO_CORPUS, f"{DEMO_CORPUS}-cloze", "cloze")
    assert background.wait(job, timeout=60)["error"] is None
    at.run()
    assert db.scalar("SELECT count(*) FROM samples") >= 15
    assert any("done" in str(p.proto.text) for p in at.get("progress"))
    # the qa strategy shows its template, a live preview and the key status (never the key)
    at.radio(key="gen_strategy").set_value("qa").run()
    assert not at.exception
    assert any("第一条" in c.value for c in at.code)
    assert any("API key: not set" in c.value for c in at.caption)


def test_import_corpus_page_browses_passages():
    load_demo()
    at = _app()
    at.switch_page("pages/import_corpus.py").run()
    assert not at.exception
    assert len(at.expander) == 16
    at.text_input(key="corpus_search").input("25平方毫米").run()
    assert len(at.expander) == 1 and "第十三条" in at.expander[0].label
