"""Arena tasks: A/B votes shared among people with an overlap, like review and rating tasks; pairwise
agreement of the votes; the CLI; the My tasks page in English and Chinese."""
from __future__ import annotations

import json
from collections import Counter

import pytest
from streamlit.testing.v1 import AppTest

from store import db
from studio.core.errors import InputError
from studio.service import accounts, task_stats, tasks
from tests.conftest import ROOT, run_cli
from tests.test_i18n import english_words, visible_texts
from tests.test_ratings import fake_comparison

RATERS = ["r1", "r2", "r3"]


def _team() -> dict:
    accounts.add("lead", "admin", "lead-password-1")
    accounts.add("eng", "engineer")
    for name in RATERS:
        accounts.add(name, "rater", "rater-password-1")
    accounts.add("rev1", "reviewer")
    return accounts.public("eng")


def test_an_arena_task_with_overlap_2_over_3_raters_gives_every_pair_2_votes(studio_env):
    eng = _team()
    cid, grid = fake_comparison()   # 4 prompts, 3 systems each
    made = tasks.create("arena", comparison=cid, people=RATERS, overlap=2, guidelines="先看事实", by=eng)
    assert (made["kind"], made["items"], made["assigned"], made["blind"]) == ("arena", 4, 8, True)
    assert made["name"] == "A/B votes on 评测 test"
    held = {r: [i["item_id"] for i in tasks.open_items(made["id"], r)] for r in RATERS}
    assert sorted(len(v) for v in held.values()) == [2, 3, 3]
    assert Counter(i for v in held.values() for i in v) == {p["prompt_id"]: 2 for p in grid["prompts"]}
    view = tasks.item(made["id"], "r1", held["r1"][0])
    assert view["kind"] == "arena" and view["system_a"] is None and view["system_b"] is None   # blind
    assert view["prompt"].startswith("问题") and view["a"] != view["b"] and "回答" in view["a"]
    outsider = next(p["prompt_id"] for p in grid["prompts"] if p["prompt_id"] not in held["r1"])
    with pytest.raises(InputError, match="not one of r1's items"):
        tasks.vote(made["id"], "r1", outsider, "a")
    with pytest.raises(InputError, match="holds arena items, not rating items"):
        tasks.rate(made["id"], "r1", held["r1"][0], 4)
    with pytest.raises(InputError, match="a vote is one of"):
        tasks.vote(made["id"], "r1", held["r1"][0], "left")
    for rater in RATERS:   # r1 and r2 always say A; r3 always says B
        for prompt_id in held[rater]:
            tasks.vote(made["id"], rater, prompt_id, "b" if rater == "r3" else "a")
    votes = db.rows("SELECT prompt_id, generation_a, generation_b, winner, rater FROM votes")
    assert Counter(v["prompt_id"] for v in votes) == {p["prompt_id"]: 2 for p in grid["prompts"]}
    assert {v["rater"] for v in votes} == set(RATERS)
    # every holder of an item voted on the same A and B, as the item fixed them
    assert len({(v["prompt_id"], v["generation_a"], v["generation_b"]) for v in votes}) == 4
    shown = task_stats.show(made["id"])
    assert shown["task"]["done"] == 4 and shown["task"]["assignments_done"] == 8
    together = Counter(frozenset(r for r in RATERS if p in held[r]) for p in held["r1"] + held["r2"] + held["r3"])
    agreeing = sum(n for pair, n in together.items() if "r3" not in pair) // 2   # the r1+r2 items agree
    assert shown["agreement"] == {"metric": "pairwise_agreement", "items": 4, "pairs": 4, "agreeing": agreeing,
                                  "share": agreeing / 4}
    assert tasks.open_items(made["id"], "r3") == []


def test_pairwise_agreement_counts_every_pair_of_voters():
    rows = [{"item_id": 1, "decision": d} for d in ("a", "a", "b")] + \
           [{"item_id": 2, "decision": d} for d in ("tie", "tie")] + [{"item_id": 3, "decision": "a"}]
    assert task_stats.vote_agreement(rows) == {"items": 2, "pairs": 4, "agreeing": 2, "share": 0.5}
    assert task_stats.vote_agreement([])["share"] is None


def test_an_open_arena_task_names_the_systems_and_needs_two_answers(studio_env):
    cid, grid = fake_comparison()
    made = tasks.create("arena", comparison=cid, people="小王", overlap=1, blind=False)
    view = tasks.item(made["id"], "小王", tasks.open_items(made["id"], "小王")[0]["item_id"])
    assert view["system_a"] and view["system_b"] and view["system_a"] != view["system_b"]
    db.cursor().execute("DELETE FROM generations")
    with pytest.raises(InputError, match="an A/B vote needs two systems"):
        tasks.create("arena", comparison=cid, people="小王", overlap=1)


def test_cli_creates_and_shows_an_arena_task(studio_env):
    cid, _grid = fake_comparison()
    db.close_all()
    made = run_cli("tasks", "create", "--kind", "arena", "--comparison", str(cid), "--people", "a,b",
                   "--overlap", "2", "--json")
    assert made.returncode == 0, made.stderr
    task = json.loads(made.stdout)["task"]
    assert (task["kind"], task["items"], task["assigned"]) == ("arena", 4, 8)
    body = json.loads(run_cli("tasks", "show", str(task["id"]), "--json").stdout)
    assert body["agreement"] == {"metric": "pairwise_agreement", "items": 0, "pairs": 0, "agreeing": 0,
                                 "share": None}
    wrong = run_cli("tasks", "create", "--kind", "arena", "--dataset", "x", "--people", "a")
    assert wrong.returncode == 2 and wrong.stderr.strip() == "error: a arena task needs --comparison"


def _page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/tasks.py")
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_signed_in_rater_votes_on_the_page(studio_env, monkeypatch, lang):
    monkeypatch.setenv("STUDIO_LANG", lang)
    _team()
    cid, _grid = fake_comparison()
    made = tasks.create("arena", comparison=cid, people=["r1"], overlap=1, guidelines="只看**准确性**",
                        by=accounts.public("eng"))
    monkeypatch.setattr(accounts, "from_cookie", lambda value: {"name": "r1", "role": "rater"})
    at = _page()
    first = tasks.open_items(made["id"], "r1")[0]["item_id"]
    view = tasks.item(made["id"], "r1", first)
    texts = [t.value for t in at.text]
    assert view["prompt"] in texts and view["a"] in texts and view["b"] in texts
    labels = [b.label for b in at.button if b.key.startswith("tasks_vote_")]
    assert labels == (["A is better", "B is better", "Tie", "Both bad"] if lang == "en" else
                      ["A 更好", "B 更好", "平局", "都不好"])
    if lang == "zh":   # the sidebar's sign-in line is the shared ui's, tested elsewhere
        leftovers = {t: english_words(t) for t in visible_texts(at.main)}
        assert not any(leftovers.values()), leftovers
    at.button(key="tasks_vote_b").click().run()
    assert not at.exception, at.exception
    assert at.success[0].value == ("Voted: B is better." if lang == "en" else "已投票：B 更好。")
    vote = db.one("SELECT prompt_id, generation_a, generation_b, winner, rater FROM votes")
    assert (vote["prompt_id"], vote["winner"], vote["rater"]) == (first, "b", "r1")
    assert (vote["generation_a"], vote["generation_b"]) == (view["assignment"]["generation_a"],
                                                            view["assignment"]["generation_b"])
    assert len(tasks.open_items(made["id"], "r1")) == 3
