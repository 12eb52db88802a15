"""Ratings and votes: storage, progress, statistics, the ranking from votes, the seeds' table."""
import math
import random

import pytest

from store import compare as store
from store import db
from studio.core.errors import InputError
from studio.evaluate import comparisons, inference, ratings
from studio.evaluate import prompt_sets as prompts

SYSTEMS = ["base", "run-x", "run-y"]


def fake_comparison(n_prompts=4, categories=("知识问答", "翻译")):
    """A comparison whose outputs are stored generations (written here, no model needed)."""
    items = [{"prompt": f"问题{i}", "category": categories[i % len(categories)]} for i in range(n_prompts)]
    pset = prompts.save("评测", "test", items)
    decode = inference.decode_settings("greedy", max_new_tokens=8)
    cid = store.insert_comparison("评测 test", pset["prompt_set"], SYSTEMS, "tiny", decode, "greedy")
    rows = [{"prompt_key": inference.prompt_key(it["prompt"]), "prompt": it["prompt"], "model_system": s,
             "base_model": "tiny", "decode_key": inference.decode_key(decode, "tiny"), "decode": decode,
             "output": f"{s} 回答 {it['prompt']}"} for it in items for s in SYSTEMS]
    with db.transaction() as cur:
        store.insert_generations(rows, cur=cur)
    return cid, comparisons.grid(cid)


def test_ratings_and_votes_persist_and_replace(studio_env):
    cid, grid = fake_comparison()
    first = grid["prompts"][0]
    gid = first["outputs"]["run-x"]["generation_id"]
    ratings.rate(gid, "张三", 4, "准确", prompt_id=first["prompt_id"])
    ratings.rate(gid, "李四", 2)
    ratings.rate(gid, "张三", 5, "更正：很好")       # the same rater again replaces their rating
    assert ratings.progress(cid) == {"rated": 1, "total": 12, "ratings": 2, "raters": 2}
    assert ratings.progress(cid, "王五")["rated"] == 0
    ratings.vote(first["prompt_id"], gid, first["outputs"]["base"]["generation_id"], "a", "张三")
    ratings.vote(first["prompt_id"], first["outputs"]["base"]["generation_id"], gid, "tie", "张三")  # replaces
    db.close_all()  # a reload: a new connection reads what the old one wrote
    mine = ratings.my_ratings(cid, "张三")
    assert mine[gid]["score"] == 5 and mine[gid]["comment"] == "更正：很好"
    votes = ratings.my_votes(cid, "张三")
    assert len(votes) == 1 and next(iter(votes.values()))["winner"] == "tie"
    with pytest.raises(InputError, match="1-5"):
        ratings.rate(gid, "张三", 6)
    with pytest.raises(InputError, match="rater name"):
        ratings.rate(gid, "  ", 3)
    with pytest.raises(InputError, match="a, b, tie"):
        ratings.vote(None, gid, gid + 1, "maybe", "张三")


def test_summary_means_intervals_agreement_and_table(studio_env):
    cid, grid = fake_comparison()
    # three raters; run-y is rated best, base worst
    plan = {"base": [2, 2, 1], "run-x": [3, 4, 3], "run-y": [5, 5, 4]}
    for p in grid["prompts"]:
        for sid, scores in plan.items():
            for rater, score in zip(["甲", "乙", "丙"], scores):
                ratings.rate(p["outputs"][sid]["generation_id"], rater, score)
    s = ratings.summary(cid, bootstrap=0)
    means = {r["system"]: r["mean"] for r in s["systems"]}
    assert means == pytest.approx({"base": 5 / 3, "run-x": 10 / 3, "run-y": 14 / 3})
    assert all(r["n"] == 4 for r in s["systems"])
    assert s["raters"] == ["丙", "乙", "甲"] and s["ratings"] == 36
    assert s["agreement"]["alpha"] > 0.7 and s["agreement"]["outputs_with_2_raters"] == 12
    cell = next(c for c in s["cells"] if c["category"] == "翻译" and c["system"] == "run-y")
    assert cell["n"] == 2 and cell["mean"] == pytest.approx(14 / 3)
    table = ratings.rating_table(cid)
    assert [r["category"] for r in table["rows"]] == ["知识问答", "翻译", "overall"]
    md = ratings.to_markdown(table)
    assert "| category | n | base (tiny) | run-x | run-y |" in md and "**4.67**" in md
    assert ratings.to_csv(table).splitlines()[0] == "category,n,base (tiny),run-x,run-y"


@pytest.mark.parametrize("values, expected", [
    ([[1, 1], [2, 2], [3, 3], [4, 4]], 1.0),                 # perfect agreement
    ([[1, 5], [5, 1], [1, 5], [5, 1]], None),                 # systematic disagreement: negative
    ([[3]], None),                                            # nothing pairable
])
def test_krippendorff_alpha(values, expected):
    alpha = ratings.krippendorff_alpha(values)
    if values[0] == [1, 5]:
        assert alpha < 0
    elif expected is None:
        assert alpha is None
    else:
        assert alpha == pytest.approx(expected)


def test_krippendorff_alpha_known_value():
    # Krippendorff (2011) interval example, reliability data of 4 coders x 12 units (missing as absent)
    units = [[1, 1, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4], [4, 4, 4, 4],
             [1, 1, 2, 1], [2, 2, 2, 2], [5, 5, 5], [1, 1], [3]]
    assert ratings.krippendorff_alpha(units) == pytest.approx(0.849, abs=0.002)


def test_mean_ci():
    r = ratings.mean_ci([3, 4, 5])
    assert r["mean"] == 4 and r["low"] == pytest.approx(4 - 4.303 / math.sqrt(3)) and r["n"] == 3
    assert ratings.mean_ci([]) == {"mean": None, "low": None, "high": None, "n": 0}
    assert ratings.mean_ci([2])["low"] is None


def test_ranking_recovers_a_known_order_from_synthetic_votes():
    strengths = {"s1": 4.0, "s2": 2.0, "s3": 1.0, "s4": 0.5}
    names = list(strengths)
    rng = random.Random(7)
    votes = []
    for _ in range(600):
        a, b = rng.sample(names, 2)
        pa = strengths[a] / (strengths[a] + strengths[b])
        u = rng.random()
        votes.append((a, b, "tie" if abs(u - pa) < 0.03 else ("a" if u < pa else "b")))
    ranked = ratings.ranking(votes, list(reversed(names)), bootstrap=100, seed=1)
    assert [r["system"] for r in ranked] == names
    for r in ranked:
        assert r["low"] <= r["rating"] <= r["high"]
    # the fitted gaps match the true log-odds: 400 log10(2) ~ 120 Elo between neighbours
    gaps = [ranked[i]["rating"] - ranked[i + 1]["rating"] for i in range(3)]
    assert all(60 < g < 200 for g in gaps), gaps
    assert ranked[0]["rank_low"] == 1 and ranked[-1]["rank_high"] == 4
    # a system that won every vote still gets a finite rating
    sweep = ratings.ranking([("x", "y", "a")] * 5, ["x", "y"], bootstrap=20)
    assert sweep[0]["system"] == "x" and math.isfinite(sweep[0]["rating"])


def test_votes_in_a_comparison_make_the_ranking(studio_env):
    cid, grid = fake_comparison(n_prompts=6)
    for p in grid["prompts"]:
        g = {s: p["outputs"][s]["generation_id"] for s in SYSTEMS}
        ratings.vote(p["prompt_id"], g["run-y"], g["run-x"], "a", "甲")
        ratings.vote(p["prompt_id"], g["base"], g["run-x"], "b", "甲")
        ratings.vote(p["prompt_id"], g["base"], g["run-y"], "both_bad" if p["ord"] % 2 else "b", "乙")
    s = ratings.summary(cid, bootstrap=50)
    assert [r["system"] for r in s["ranking"]] == ["run-y", "run-x", "base"]
    assert s["votes"] == 18
    top = s["ranking"][0]
    assert top["wins"] == 9 and top["both_bad"] == 3 and top["votes"] == 12


@pytest.mark.parametrize("cell, expected", [
    ("=1+1", "'=1+1"), ("+cmd", "'+cmd"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"), ("正常", "正常"), (3.5, 3.5),
])
def test_csv_cells_never_start_a_formula(cell, expected):
    assert ratings.safe_cell(cell) == expected
