"""Shared work: review and rating tasks distributed with an overlap, each person's open items, recording through
the review and rating functions, progress, agreement, reassigning; the CLI with roles; the My tasks page."""
from __future__ import annotations

import json
from collections import Counter

import pytest
from streamlit.testing.v1 import AppTest

from store import compare as compare_store
from store import db
from studio.core.errors import InputError
from studio.project.demo_corpus import DEMO_CLOZE, load_demo
from studio.service import accounts, task_stats, tasks
from tests.conftest import ROOT, run_cli
from tests.test_i18n import english_words, visible_texts
from tests.test_ratings import fake_comparison

RATERS = ["r1", "r2", "r3"]
LEAD_PW = "lead-password-1"
RATER_PW = "rater-password-1"


def _team(*raters: str) -> dict:
    accounts.add("lead", "admin", LEAD_PW)
    accounts.add("eng", "engineer")
    for name in raters:
        accounts.add(name, "rater", RATER_PW)
    accounts.add("rev1", "reviewer")
    return accounts.public("eng")


# ---------------------------------------------------------------- distribution (pure)

@pytest.mark.parametrize("items, people, k, each", [
    (12, 3, 2, [8, 8, 8]),
    (10, 4, 1, [3, 3, 2, 2]),
    (5, 3, 3, [5, 5, 5]),
    (7, 2, 2, [7, 7]),
])
def test_every_item_goes_to_k_different_people_balanced(items, people, k, each):
    names = [f"p{i}" for i in range(people)]
    pairs = tasks.distribute(list(range(items)), names, k)
    per_item = Counter(i for i, _p in pairs)
    assert set(per_item.values()) == {k} and len(set(pairs)) == len(pairs)  # k different people per item
    assert [Counter(p for _i, p in pairs)[n] for n in names] == each
    assert pairs == tasks.distribute(list(range(items)), names, k)  # deterministic


def test_the_overlap_is_one_to_the_number_of_people():
    with pytest.raises(InputError, match="overlap is 1 to 3"):
        tasks.distribute([1, 2], ["a", "b", "c"], 4)


# ---------------------------------------------------------------- agreement

def test_krippendorff_alpha_ordinal_on_krippendorffs_worked_example():
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units,
    # missing values; alpha = 0.743 nominal, 0.815 ordinal, 0.849 interval.
    m = None
    data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, m, m, m], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, m, 3],
            [m, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, m], [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, m]]
    units = {u: {f"o{o}": row[u] for o, row in enumerate(data) if row[u] is not None} for u in range(12)}
    assert task_stats.alpha_ordinal(units) == pytest.approx(0.815, abs=5e-4)
    assert task_stats.alpha_ordinal([[1, 1], [2, 2], [5, 5]]) == pytest.approx(1.0)
    assert task_stats.alpha_ordinal([[3, 3], [3, 3]]) is None      # no variation: undefined
    assert task_stats.alpha_ordinal([[3], [4]]) is None            # nothing rated twice
    assert task_stats.alpha_ordinal([]) is None


# ---------------------------------------------------------------- rating tasks

def test_a_rating_task_with_overlap_2_over_3_raters_gives_every_output_2_ratings(studio_env):
    eng = _team(*RATERS)
    cid, grid = fake_comparison()
    outputs = [o["generation_id"] for p in grid["prompts"] for o in p["outputs"].values()]
    made = tasks.create("rating", comparison=cid, people=RATERS, overlap=2, guidelines="看是否准确", by=eng)
    assert made["items"] == len(outputs) == 12 and made["assigned"] == 24 and made["blind"] is True
    seen = {r: [i["item_id"] for i in tasks.open_items(made["id"], r)] for r in RATERS}
    assert all(len(v) == 8 for v in seen.values())
    assert seen == {r: [i["item_id"] for i in tasks.open_items(made["id"], r)] for r in RATERS}  # a stable order
    outsider = next(g for g in outputs if g not in seen["r1"])
    with pytest.raises(InputError, match="not one of r1's items"):
        tasks.rate(made["id"], "r1", outsider, 4)
    view = tasks.item(made["id"], "r1", seen["r1"][0])
    assert view["system"] is None and view["prompt"].startswith("问题")  # blind: no system named
    for rater in RATERS:
        for n, gid in enumerate(seen[rater]):
            tasks.rate(made["id"], rater, gid, 3 + (n % 2))
    per_output = Counter(r["generation_id"] for r in compare_store.ratings_for(outputs))
    assert per_output == {g: 2 for g in outputs}
    assert {r["rater"] for r in compare_store.ratings_for(outputs)} == set(RATERS)
    shown = task_stats.show(made["id"])
    assert shown["task"]["done"] == 12 and shown["task"]["assignments_done"] == 24
    assert [(p["person"], p["done"], p["open"]) for p in shown["people"]] == [(r, 8, 0) for r in RATERS]
    assert shown["agreement"]["metric"] == "krippendorff_alpha_ordinal" and shown["agreement"]["items"] == 12
    assert tasks.open_items(made["id"], "r2") == []


def test_a_rater_may_not_create_and_people_must_fit_the_work(studio_env):
    _team("r1", "r2")
    cid, _grid = fake_comparison()
    with pytest.raises(accounts.NotAllowed, match="not allowed for role rater"):
        tasks.create("rating", comparison=cid, people=["r1", "r2"], overlap=1, by=accounts.public("r1"))
    with pytest.raises(InputError, match="rev1 is a reviewer"):
        tasks.create("rating", comparison=cid, people=["r1", "rev1"], overlap=1, by=accounts.public("eng"))
    with pytest.raises(InputError, match="no account named nobody"):
        tasks.create("rating", comparison=cid, people="r1, nobody", overlap=1, by=accounts.public("eng"))
    with pytest.raises(InputError, match="overlap is 1 to 2"):
        tasks.create("rating", comparison=cid, people="r1,r2", overlap=3, by=accounts.public("eng"))


def test_reassign_moves_only_open_items_and_never_to_a_holder(studio_env):
    cid, _grid = fake_comparison()
    made = tasks.create("rating", comparison=cid, people="a, b, c", overlap=2)  # no accounts: typed names
    a_items = [i["item_id"] for i in tasks.open_items(made["id"], "a")]
    for gid in a_items[:3]:
        tasks.rate(made["id"], "a", gid, 5)
    b_holds = {i["item_id"] for i in tasks.store.items_of(made["id"], "b")}
    moved = tasks.reassign(made["id"], "a", "b")
    open_a = a_items[3:]
    assert moved["moved"] == len([g for g in open_a if g not in b_holds])
    assert moved["kept"] == len([g for g in open_a if g in b_holds])
    assert [i["item_id"] for i in tasks.store.items_of(made["id"], "a")] == \
        a_items[:3] + [g for g in open_a if g in b_holds]  # the done ones stay, and those b already holds
    for gid in {i["item_id"] for i in tasks.store.items_of(made["id"], "b")}:
        assert Counter(p["person"] for p in db.rows(
            "SELECT person FROM task_assignments WHERE task_id = ? AND item_id = ?", [made["id"], gid]))["b"] == 1
    then = tasks.reassign(made["id"], "a", "d")
    assert then["moved"] == moved["kept"] and tasks.open_items(made["id"], "a") == []
    assert "d" in tasks.get(made["id"])["people"]
    with pytest.raises(InputError, match="someone else"):
        tasks.reassign(made["id"], "b", "b")


# ---------------------------------------------------------------- review tasks

def test_a_review_task_records_decisions_and_their_agreement(studio_env):
    load_demo()
    made = tasks.create("review", dataset=DEMO_CLOZE, people="甲,乙", overlap=2, guidelines="答案须有出处")
    assert made["items"] == 21 and made["filter"] == {"status": "pending", "qtype": None, "origin": None}
    items = [i["item_id"] for i in tasks.open_items(made["id"], "甲")]
    assert items == sorted(items) and items == [i["item_id"] for i in tasks.open_items(made["id"], "乙")]
    first, second, third = items[:3]
    s = tasks.item(made["id"], "甲", first)["sample"]
    tasks.decide(made["id"], "甲", first, s["version"], "accept", edits={"output": s["output"] + "。"})
    with pytest.raises(InputError, match="why"):
        tasks.decide(made["id"], "乙", first, s["version"] + 1, "reject")
    tasks.decide(made["id"], "乙", first, s["version"] + 1, "accept")
    for who in ("甲", "乙"):
        v = tasks.item(made["id"], who, second)["sample"]["version"]
        tasks.decide(made["id"], who, second, v, "reject" if who == "乙" else "accept", reason="wrong answer")
    v = tasks.item(made["id"], "甲", third)["sample"]["version"]
    tasks.decide(made["id"], "甲", third, v, "reject", reason="duplicate")
    decided = db.rows("SELECT reviewer, action FROM review_decisions WHERE sample_id = ? ORDER BY id", [first])
    assert decided == [{"reviewer": "甲", "action": "edit-accept"}, {"reviewer": "乙", "action": "accept"}]
    assert db.scalar("SELECT status FROM samples WHERE id = ?", [second]) == "rejected"  # the last decision
    a = task_stats.show(made["id"])["agreement"]
    assert a == {"metric": "share_agreeing", "items": 2, "agreeing": 1, "share": 0.5}  # third: one decision only
    assert len(tasks.open_items(made["id"], "甲")) == 18 and len(tasks.open_items(made["id"], "乙")) == 19
    with pytest.raises(InputError, match="holds review items, not rating items"):
        tasks.rate(made["id"], "甲", items[3], 3)
    with pytest.raises(InputError, match="nothing to review"):
        tasks.create("review", dataset=DEMO_CLOZE, people="甲", overlap=1, qtype="single")


# ---------------------------------------------------------------- the CLI

def test_cli_create_list_show_without_accounts(studio_env):
    cid, _grid = fake_comparison()
    db.close_all()
    made = run_cli("tasks", "create", "--kind", "rating", "--comparison", str(cid), "--people", "a,b,c",
                   "--overlap", "2", "--guidelines", "准确性优先", "--name", "盲评一", "--json")
    assert made.returncode == 0, made.stderr
    task = json.loads(made.stdout)["task"]
    assert task["name"] == "盲评一" and task["items"] == 12 and task["assigned"] == 24
    listed = json.loads(run_cli("tasks", "list", "--json").stdout)["tasks"]
    assert [{k: t[k] for k in ("id", "name", "kind", "overlap", "items", "done", "people")} for t in listed] == \
        [{"id": task["id"], "name": "盲评一", "kind": "rating", "overlap": 2, "items": 12, "done": 0,
          "people": ["a", "b", "c"]}]
    shown = run_cli("tasks", "show", str(task["id"]), "--json")
    body = json.loads(shown.stdout)
    assert [(p["person"], p["assigned"], p["done"]) for p in body["people"]] == [("a", 8, 0), ("b", 8, 0),
                                                                                ("c", 8, 0)]
    assert body["agreement"] == {"metric": "krippendorff_alpha_ordinal", "items": 0, "alpha": None}
    text = run_cli("tasks", "show", str(task["id"]))
    assert "a\t0 / 8 done" in text.stdout and "Krippendorff" in text.stdout
    wrong = run_cli("tasks", "create", "--kind", "review", "--comparison", str(cid), "--people", "a")
    assert wrong.returncode == 2 and wrong.stderr.strip() == "error: a review task needs --dataset"
    moved = run_cli("tasks", "reassign", str(task["id"]), "--from", "a", "--to", "d", "--json")
    assert json.loads(moved.stdout)["moved"] == 8


def test_cli_roles_a_rater_lists_but_may_not_create(studio_env):
    _team("r1", "r2")
    cid, _grid = fake_comparison()
    db.close_all()
    as_rater = {"STUDIO_USER": "r1", "STUDIO_PASSWORD": RATER_PW}
    refused = run_cli("tasks", "create", "--kind", "rating", "--comparison", str(cid), "--people", "r1,r2",
                      "--overlap", "2", env=as_rater)
    assert refused.returncode == 2 and refused.stderr.strip() == "error: not allowed for role rater"
    as_lead = {"STUDIO_USER": "lead", "STUDIO_PASSWORD": LEAD_PW}
    made = run_cli("tasks", "create", "--kind", "rating", "--comparison", str(cid), "--people", "r1,r2",
                   "--overlap", "1", "--json", env=as_lead)
    assert made.returncode == 0, made.stderr
    task = json.loads(made.stdout)["task"]
    assert task["created_by"] == "lead" and task["assigned"] == 12
    mine = run_cli("tasks", "list", "--json", env=as_rater)
    assert mine.returncode == 0 and [t["id"] for t in json.loads(mine.stdout)["tasks"]] == [task["id"]]
    assert run_cli("tasks", "show", str(task["id"]), env=as_rater).returncode == 0
    again = run_cli("tasks", "reassign", str(task["id"]), "--from", "r1", "--to", "r2", env=as_rater)
    assert again.returncode == 2 and "not allowed for role rater" in again.stderr


# ---------------------------------------------------------------- the page

def _page(**state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page("pages/tasks.py")
    at.run()
    assert not at.exception, at.exception
    return at


def _sign_in(monkeypatch, name: str) -> None:
    """The page's session cookie names this account (AppTest has no browser to sign in with)."""
    monkeypatch.setattr(accounts, "from_cookie", lambda value: {"name": name, "role": accounts.public(name)["role"]})


def test_the_page_without_accounts_works_for_a_typed_name(studio_env):
    cid, _grid = fake_comparison()
    made = tasks.create("rating", comparison=cid, people="小王,小李", overlap=1, guidelines="只看**准确性**")
    at = _page()
    assert [t.label for t in at.tabs] == ["My items", "New task", "Progress"]  # single user: everything
    assert any("Enter your name" in i.value for i in at.info)
    at.text_input(key="tasks_person").input("小王").run()
    assert any("准确性" in m.value for m in at.markdown)
    first = tasks.open_items(made["id"], "小王")[0]["item_id"]
    assert any("system hidden" in m.value for m in at.markdown)
    at.radio(key=f"tasks_score_{made['id']}_{first}").set_value(4).run()
    at.button(key="tasks_rate").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success][:1] == ["Rated 4."]
    assert compare_store.ratings_for([first])[0]["rater"] == "小王"
    assert len(tasks.open_items(made["id"], "小王")) == 5


def test_the_page_makes_a_review_task_and_decides_in_chinese(studio_env, monkeypatch):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    load_demo()
    at = _page()
    assert [t.label for t in at.tabs] == ["我的条目", "新建任务", "进度"]
    at.text_input(key="tasks_new_people_typed").input("甲,乙").run()
    at.number_input(key="tasks_new_overlap").set_value(2).run()
    at.button(key="tasks_create").click().run()
    assert not at.exception, at.exception
    assert any("已创建任务" in s.value for s in at.success), [s.value for s in at.success]
    at.text_input(key="tasks_person").input("甲").run()
    assert at.button(key="tasks_accept").label == "通过" and at.button(key="tasks_reject").label == "驳回"
    at.button(key="tasks_accept").click().run()
    assert any(s.value == "已通过。" for s in at.success)
    assert db.scalar("SELECT count(*) FROM review_decisions WHERE reviewer = '甲'") == 1
    leftovers = {t: english_words(t) for t in visible_texts(at)}
    assert not {t: w for t, w in leftovers.items() if w}


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_signed_in_rater_sees_only_their_items(studio_env, monkeypatch, lang):
    monkeypatch.setenv("STUDIO_LANG", lang)
    _team("r1", "r2")
    cid, _grid = fake_comparison()
    made = tasks.create("rating", comparison=cid, people="r1,r2", overlap=1, by=accounts.public("eng"))
    _sign_in(monkeypatch, "r1")
    at = _page()
    assert not at.tabs  # no creating, no overview for a rater
    assert "tasks_person" not in [w.key for w in at.text_input]  # the account is the name
    mine = [i["item_id"] for i in tasks.open_items(made["id"], "r1")]
    assert [r.key for r in at.radio] == [f"tasks_score_{made['id']}_{mine[0]}"]
    if lang == "zh":
        assert at.title[0].value == "我的任务" and at.button(key="tasks_rate").label == "保存评分"
        leftovers = {t: english_words(t) for t in visible_texts(at.main)}  # the sidebar's sign-in line is ui.py's
        assert not {t: w for t, w in leftovers.items() if w}
    else:
        assert at.title[0].value == "My tasks"


def test_review_and_compare_record_the_signed_in_account_not_a_typed_name(studio_env, monkeypatch):
    load_demo()
    _team("r1")
    _sign_in(monkeypatch, "rev1")
    at = _page()
    at.switch_page("pages/review.py").run()
    assert not at.exception, at.exception
    box = at.text_input[0]
    assert (box.label, box.value, box.disabled) == ("Reviewer", "rev1", True)
    at.button(key="review_accept").click().run()
    assert db.scalar("SELECT reviewer FROM review_decisions") == "rev1"
    cid, grid = fake_comparison()
    _sign_in(monkeypatch, "eng")  # a rater has no Compare page: their rating work comes as tasks
    at = _page(compare_id=cid)
    at.switch_page("pages/compare.py").run()
    assert not at.exception, at.exception
    name = next(w for w in at.text_input if w.label == "Your name (rater)")
    assert (name.value, name.disabled) == ("eng", True)


def test_an_engineer_creates_a_rating_task_sees_progress_and_reassigns_on_the_page(studio_env, monkeypatch):
    _team(*RATERS)
    cid, _grid = fake_comparison()
    _sign_in(monkeypatch, "eng")
    at = _page()
    at.segmented_control(key="tasks_new_kind").set_value("rating").run()
    people = at.multiselect(key="tasks_new_people_rating")
    assert people.options == ["eng", "lead", "r1", "r2", "r3"]  # accounts that may rate; no reviewer
    people.set_value(["r1", "r2"]).run()
    at.number_input(key="tasks_new_overlap").set_value(2).run()
    at.text_area(key="tasks_new_guidelines").input("先看事实，再看表达").run()
    at.button(key="tasks_create").click().run()
    assert not at.exception, at.exception
    made = task_stats.list_tasks()[0]
    assert (made["kind"], made["overlap"], made["people"], made["created_by"]) == ("rating", 2, ["r1", "r2"], "eng")
    assert len(at.get("plotly_chart")) == 1
    assert [m.label for m in at.metric][:2] == ["Items done", "Assignments done"]
    at.selectbox(key=f"tasks_from_{made['id']}").set_value("r1").run()
    at.selectbox(key=f"tasks_to_{made['id']}").set_value("r3").run()
    at.button(key=f"tasks_reassign_{made['id']}").click().run()
    assert not at.exception, at.exception
    assert any("12 open items moved from r1 to r3; 0 kept." in s.value for s in at.success)
    assert [p["person"] for p in task_stats.show(made["id"])["people"]] == ["r2", "r3"]
