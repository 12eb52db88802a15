"""Snapshots: frozen, hashed, split by seed and stratified by type, immutable, diffable, written as JSONL."""
import json

import pytest

from store import datasets, db
from studio.core.errors import InputError, NotFound
from studio.data import snapshots


def seed(name="安规问答", n=40, *, types=("single", "judge"), status_every=0, start=0):
    """n samples; every ``status_every``-th is pending (the rest accepted); qtype cycles over ``types``."""
    did = datasets.get_or_create(name, "samples")
    for i in range(start, start + n):
        status = "pending" if status_every and i % status_every == 0 else "accepted"
        qtype = types[i % len(types)] if types else None
        db.cursor().execute(
            "INSERT INTO samples (dataset_id, instruction, input, output, status, origin, qtype, history) "
            "VALUES (?, ?, '', ?, ?, 'exam-qa', ?, ?)",
            [did, f"雷雨天气巡视第{i}题", f"绝缘靴{i}", status, qtype,
             json.dumps([["上一问", "上一答"]], ensure_ascii=False) if i == start else None])
    return did


def test_create_freezes_accepted_samples_with_a_stratified_split():
    seed(n=40, status_every=5)  # 8 pending, 32 accepted: 16 single + 16 judge
    snap = snapshots.create("安规问答", val_ratio=0.25, seed=1)
    assert snap["n_train"] == 24 and snap["n_validation"] == 8
    assert snap["dataset"] == "安规问答" and snap["id"] == snap["content_hash"][:12] and snap["created"]
    val = snapshots.samples(snap["id"], "validation")
    assert sorted(s["qtype"] for s in val) == ["judge"] * 4 + ["single"] * 4
    rows = snapshots.samples(snap["id"])
    assert len(rows) == 32 and {s["split"] for s in rows} == {"train", "validation"}
    assert set(snapshots.FIELDS) <= set(rows[0])
    frozen_ids = {s["sample_id"] for s in rows}
    pending = {r["id"] for r in db.rows("SELECT id FROM samples WHERE status = 'pending'")}
    assert not frozen_ids & pending


def test_same_data_twice_returns_the_existing_snapshot():
    seed()
    a = snapshots.create("安规问答", seed=3)
    b = snapshots.create("安规问答", seed=3, name="again")
    assert b["id"] == a["id"] and b["created"] is False and b["name"] == a["name"]
    assert len(snapshots.list_all()) == 1
    assert snapshots.get(a["id"][:6])["content_hash"] == a["content_hash"]


def test_split_is_reproducible_and_depends_on_the_seed(tmp_path, monkeypatch):
    seed()
    a = snapshots.create("安规问答", seed=7)
    val_a = [s["instruction"] for s in snapshots.samples(a["id"], "validation")]
    # the same rows in a fresh database (other row order) give the same snapshot
    db.close_all()
    monkeypatch.setenv("STUDIO_DB", str(tmp_path / "other.duckdb"))
    seed(n=20, start=20)
    seed(n=20, start=0)
    b = snapshots.create("安规问答", seed=7)
    assert [s["instruction"] for s in snapshots.samples(b["id"], "validation")] != [] and b["n_validation"] == 4
    c = snapshots.create("安规问答", seed=8)
    assert c["content_hash"] != b["content_hash"]
    # sample ids differ between the databases, so compare the split by content with a same-order rebuild
    db.close_all()
    monkeypatch.setenv("STUDIO_DB", str(tmp_path / "third.duckdb"))
    seed()
    again = snapshots.create("安规问答", seed=7)
    assert again["content_hash"] == a["content_hash"]
    assert [s["instruction"] for s in snapshots.samples(again["id"], "validation")] == val_a


def test_snapshot_is_immutable_and_diff_shows_what_moved():
    did = seed(n=20)
    a = snapshots.create("安规问答", seed=0)
    before = snapshots.samples(a["id"])
    first, second = before[0]["sample_id"], before[1]["sample_id"]
    db.cursor().execute("UPDATE samples SET output = '绝缘鞋' WHERE id = ?", [first])
    db.cursor().execute("DELETE FROM samples WHERE id = ?", [second])
    db.cursor().execute("INSERT INTO samples (dataset_id, instruction, output, status) VALUES (?, '新题', '新答', 'accepted')",
                        [did])
    assert snapshots.samples(a["id"]) == before  # the frozen copy did not move
    assert snapshots.get(a["id"])["content_hash"] == a["content_hash"]
    b = snapshots.create("安规问答", seed=0)
    assert b["id"] != a["id"]
    d = snapshots.diff(a["id"], b["id"])
    assert [s["instruction"] for s in d["added"]] == ["新题"]
    assert [s["sample_id"] for s in d["removed"]] == [second]
    changed = [c for c in d["changed"] if c["sample_id"] == first]
    assert changed and "output" in changed[0]["fields"] and changed[0]["after"]["output"] == "绝缘鞋"
    assert snapshots.diff(a["id"], a["id"]) == {"added": [], "removed": [], "changed": []}


def test_mix_takes_the_stated_share_of_another_dataset():
    seed("安规问答", n=70)
    seed("通用对话", n=100, types=())
    snap = snapshots.create("安规问答", mix={"通用对话": 0.3}, val_ratio=0.1, seed=2)
    rows = snapshots.samples(snap["id"])
    general = [s for s in rows if s["dataset_id"] == datasets.get("通用对话")["id"]]
    assert len(rows) == 100 and len(general) == 30
    assert snap["spec"]["counts"] == {"安规问答": 70, "通用对话": 30}
    with pytest.raises(InputError, match="通用对话"):
        snapshots.create("安规问答", mix={"通用对话": 0.9})


def test_write_jsonl_is_what_the_trainer_reads(tmp_path):
    import datasets as hf

    did = seed(n=10)
    db.cursor().execute("UPDATE datasets SET system_prompt = '你是电力安全专家' WHERE id = ?", [did])
    snap = snapshots.create("安规问答", val_ratio=0.2)
    out = snapshots.write_jsonl(snap["id"], tmp_path / "snap")
    assert out["n_train"] == 8 and out["n_validation"] == 2 and out["content_hash"] == snap["content_hash"]
    text = (tmp_path / "snap" / "train.jsonl").read_text(encoding="utf-8")
    assert "雷雨天气" in text and "\\u" not in text
    lines = [json.loads(x) for x in text.splitlines()]
    assert set(lines[0]) == set(snapshots.FIELDS)
    assert all(r["system"] == "你是电力安全专家" for r in lines)
    loaded = hf.load_dataset("json", data_files={"train": out["train"], "validation": out["validation"]})
    assert loaded["train"].num_rows == 8 and loaded["validation"].num_rows == 2
    with_history = [r for r in lines + [json.loads(x) for x in open(out["validation"], encoding="utf-8")]
                    if r["history"]]
    assert with_history[0]["history"] == [["上一问", "上一答"]]


def test_bad_requests_are_clear():
    with pytest.raises(NotFound):
        snapshots.create("没有")
    seed(n=5, status_every=1)  # all pending
    with pytest.raises(InputError, match="no accepted samples"):
        snapshots.create("安规问答")
    with pytest.raises(InputError, match="val_ratio"):
        snapshots.create("安规问答", val_ratio=1.5)
    with pytest.raises(NotFound):
        snapshots.get("nope")


@pytest.mark.parametrize("groups,ratio,expected", [
    ({"a": 10}, 0.1, {"a": 1}),
    ({"a": 5, "b": 5}, 0.2, {"a": 1, "b": 1}),
    ({"a": 3, "b": 1}, 0.5, {"a": 2, "b": 0}),
    ({"a": 1}, 0.5, {"a": 0}),
    ({"a": 2}, 0.01, {"a": 1}),
    ({"a": 4, "": 4}, 0.0, {"a": 0, "": 0}),
])
def test_validation_counts(groups, ratio, expected):
    assert snapshots._validation_counts(groups, ratio) == expected
