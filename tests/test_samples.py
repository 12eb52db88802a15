"""Samples: the filter builder (a table of cases), paging, versioned edits, bulk actions with undo, dedup."""
import pytest

from store import datasets, db
from store.samples import SampleFilter, order_by, where
from studio.core.errors import Conflict, InputError, NotFound
from studio.data import dedup, samples

ROWS = [  # id, status, origin, qtype, tags, instruction, input, output
    (1, "accepted", "exam-qa", "single", ["安规"], "雷雨天气应穿什么", "", "绝缘靴"),
    (2, "pending", "exam-qa", "judge", [], "高压设备可以单人巡视吗", "", "错误"),
    (3, "accepted", "generated", None, ["安规", "复核"], "What is Ohm's law", "", "V = IR"),
    (4, "rejected", "imported", "single", [], "解释", "电力法第三条", "电力建设应当适度超前"),
    (5, "draft", "generated", "multi", ["复核"], "列举绝缘工具", "", "绝缘手套；绝缘靴；绝缘棒"),
]


@pytest.fixture
def mem():
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("""CREATE TABLE samples (id BIGINT, dataset_id INTEGER, status VARCHAR, origin VARCHAR,
                   qtype VARCHAR, tags VARCHAR[], instruction VARCHAR, input VARCHAR, output VARCHAR,
                   updated_at TIMESTAMP DEFAULT current_timestamp)""")
    for r in ROWS:
        con.execute("INSERT INTO samples VALUES (?, 7, ?, ?, ?, ?, ?, ?, ?, DEFAULT)", list(r[:1]) + list(r[1:]))
    con.execute("INSERT INTO samples VALUES (99, 8, 'accepted', 'exam-qa', 'single', [], '雷雨', '', '绝缘靴', DEFAULT)")
    return con


@pytest.mark.parametrize("f,expected", [
    (SampleFilter(), [1, 2, 3, 4, 5]),
    (SampleFilter(status=("accepted",)), [1, 3]),
    (SampleFilter(status=("accepted", "draft")), [1, 3, 5]),
    (SampleFilter(origin=("generated",)), [3, 5]),
    (SampleFilter(qtype=("single",)), [1, 4]),
    (SampleFilter(qtype=("(none)",)), [3]),
    (SampleFilter(qtype=("(none)", "judge")), [2, 3]),
    (SampleFilter(tag="复核"), [3, 5]),
    (SampleFilter(search="绝缘"), [1, 5]),
    (SampleFilter(search="电力法"), [4]),            # found in input
    (SampleFilter(search="ohm"), [3]),               # Latin text is case-insensitive
    (SampleFilter(search="v = ir"), [3]),
    (SampleFilter(search="'; DROP TABLE samples; --"), []),
    (SampleFilter(min_len=8), [1, 2, 3, 4]),
    (SampleFilter(min_len=9), [2, 3]),
    (SampleFilter(max_len=4, length_of="summary"), [1, 2]),
    (SampleFilter(min_len=6, max_len=6, length_of="summary"), [3]),
    (SampleFilter(status=("accepted",), tag="安规", search="雷雨"), [1]),
    (SampleFilter(ids=(2, 4, 99)), [2, 4]),
])
def test_where(mem, f, expected):
    sql, params = where(7, f)
    got = [r[0] for r in mem.execute(f"SELECT id FROM samples WHERE {sql} ORDER BY id", params).fetchall()]
    assert got == expected
    assert "DROP" not in sql and "绝缘" not in sql  # values only ever as parameters


@pytest.mark.parametrize("sort,desc,expected", [
    ("id", False, [1, 2, 3, 4, 5]),
    ("id", True, [5, 4, 3, 2, 1]),
    ("summary length", False, [2, 1, 3, 4, 5]),
    ("type", False, [2, 5, 1, 4, 3]),
])
def test_order_by(mem, sort, desc, expected):
    sql, params = where(7, None)
    got = [r[0] for r in mem.execute(f"SELECT id FROM samples WHERE {sql} {order_by(sort, desc)}", params).fetchall()]
    assert got == expected


def test_order_by_refuses_unknown_columns():
    with pytest.raises(ValueError):
        order_by("id; DROP TABLE samples")


def seed(name="安规问答", n=120):
    did = datasets.get_or_create(name, "samples")
    db.cursor().execute("""INSERT INTO samples (dataset_id, instruction, output, status, origin, qtype, tags)
        SELECT ?, '第' || i || '题 雷雨天气', '绝缘靴' || i,
               CASE WHEN i % 4 = 0 THEN 'pending' ELSE 'accepted' END,
               CASE WHEN i % 2 = 0 THEN 'exam-qa' ELSE 'generated' END,
               CASE WHEN i % 3 = 0 THEN 'judge' ELSE 'single' END, []
        FROM range(?) t(i)""", [did, n])
    return did


def test_paging_and_totals():
    seed(n=120)
    first = samples.page("安规问答", page_size=50)
    assert first["total"] == 120 and first["pages"] == 3 and len(first["rows"]) == 50
    last = samples.page("安规问答", page_no=3, page_size=50)
    assert len(last["rows"]) == 20
    assert {r["id"] for r in first["rows"]}.isdisjoint(r["id"] for r in last["rows"])
    f = samples.make_filter(status=["pending"], qtype=["judge"])
    filtered = samples.page("安规问答", f, page_size=50)
    assert filtered["total"] == 10 and all(r["status"] == "pending" and r["qtype"] == "judge" for r in filtered["rows"])
    desc = samples.page("安规问答", sort="id", descending=True, page_size=1)
    assert desc["rows"][0]["id"] == max(r["id"] for r in db.rows("SELECT id FROM samples"))
    with pytest.raises(InputError):
        samples.make_filter(status=["bogus"])


def test_an_edit_with_a_stale_version_is_refused_and_loses_nothing():
    seed(n=3)
    row = samples.page("安规问答")["rows"][0]
    tab_a = dict(row)
    tab_b = dict(row)
    saved = samples.edit(tab_a["id"], tab_a["version"], {"output": "绝缘鞋", "tags": "安规, 复核"})
    assert saved["version"] == row["version"] + 1 and saved["tags"] == ["安规", "复核"]
    with pytest.raises(Conflict) as err:
        samples.edit(tab_b["id"], tab_b["version"], {"output": "橡胶鞋"})
    assert "changed elsewhere" in str(err.value) and err.value.fresh["output"] == "绝缘鞋"
    assert samples.get(row["id"])["output"] == "绝缘鞋"
    # seeing the fresh row, the second tab can save
    again = samples.edit(row["id"], err.value.fresh["version"], {"output": "橡胶鞋"})
    assert again["output"] == "橡胶鞋"
    with pytest.raises(InputError):
        samples.edit(row["id"], again["version"], {"status": "done"})
    with pytest.raises(InputError):
        samples.edit(row["id"], again["version"], {"dataset_id": 3})


def test_add_and_delete_rows():
    seed(n=2)
    new = samples.add("安规问答", {"instruction": "新问题", "output": "新答案"})
    assert new["status"] == "draft" and new["origin"] == "manual"
    with pytest.raises(InputError):
        samples.add("安规问答", {"instruction": "", "output": ""})
    samples.delete(new["id"], new["version"])
    with pytest.raises(NotFound):
        samples.get(new["id"])
    row = samples.page("安规问答")["rows"][0]
    samples.edit(row["id"], row["version"], {"output": "x"})
    with pytest.raises(Conflict):
        samples.delete(row["id"], row["version"])


def test_save_editor_applies_rows_independently():
    seed(n=3)
    shown = samples.page("安规问答")["rows"]
    samples.edit(shown[1]["id"], shown[1]["version"], {"output": "别人改了"})
    result = samples.save_editor("安规问答", shown, {
        "edited_rows": {"0": {"output": "我改的"}, "1": {"output": "我也改了"}},
        "added_rows": [{"instruction": "加一行", "output": "答"}], "deleted_rows": [2]})
    assert result["saved"] == 1 and result["added"] == 1 and result["deleted"] == 1
    assert len(result["conflicts"]) == 1 and str(shown[1]["id"]) in result["conflicts"][0]
    assert samples.get(shown[1]["id"])["output"] == "别人改了"


@pytest.mark.parametrize("action,params,check", [
    ("tag", {"tag": "复核"}, lambda r: "复核" in r["tags"]),
    ("status", {"status": "rejected"}, lambda r: r["status"] == "rejected"),
    ("replace", {"find": "雷雨", "replace": "大风"}, lambda r: "大风" in r["instruction"]),
    ("move", {"target": "通用"}, lambda r: r["dataset_id"] != r["_first"]),
])
def test_bulk_action_then_undo(action, params, check):
    first = seed(n=40)
    datasets.create("通用", "samples")
    check_row = lambda r: check({**r, "_first": first})
    before = {r["id"]: r for r in db.rows("SELECT id, instruction, status, tags, version FROM samples")}
    f = samples.make_filter(status=["accepted"], qtype=["single"])
    n = samples.bulk_count("安规问答", f, action, params)
    assert n == 20
    with pytest.raises(Conflict):
        samples.bulk("安规问答", f, action, params, confirm=n + 1)
    done = samples.bulk("安规问答", f, action, params, confirm=n)
    assert done["affected"] == 20
    changed = [r for r in db.rows("SELECT * FROM samples") if check_row(r)]
    assert len(changed) == 20
    assert samples.last_bulk("安规问答")["action"] == action
    # one row edited after the bulk action keeps its edit through the undo
    kept = changed[0]
    samples.edit(kept["id"], kept["version"], {"output": "后来改的"})
    undone = samples.undo_last("安规问答")
    assert undone["restored"] == 19 and undone["skipped"] == 1
    after = {r["id"]: r for r in db.rows("SELECT id, instruction, status, tags, version FROM samples")}
    for i, r in before.items():
        if i != kept["id"]:
            assert (after[i]["instruction"], after[i]["status"], after[i]["tags"]) == \
                   (r["instruction"], r["status"], r["tags"])
    assert samples.get(kept["id"])["output"] == "后来改的"
    assert samples.last_bulk("安规问答") is None
    with pytest.raises(InputError, match="nothing to undo"):
        samples.undo_last("安规问答")


def test_bulk_delete_copy_move_and_undo():
    seed(n=30)
    datasets.create("通用", "samples")
    total = lambda name: samples.page(name)["total"]
    f = samples.make_filter(status=["pending"])
    n = samples.bulk_count("安规问答", f, "delete")
    samples.bulk("安规问答", f, "delete", confirm=n)
    assert total("安规问答") == 30 - n
    samples.undo_last("安规问答")
    assert total("安规问答") == 30
    f = samples.make_filter(search="第1")
    n = samples.bulk_count("安规问答", f, "copy", {"target": "通用"})
    samples.bulk("安规问答", f, "copy", {"target": "通用"}, confirm=n)
    assert total("通用") == n and total("安规问答") == 30
    # a second bulk action replaces the undo step of the first
    m = samples.bulk_count("安规问答", f, "move", {"target": "通用"})
    samples.bulk("安规问答", f, "move", {"target": "通用"}, confirm=m)
    assert total("通用") == n + m and total("安规问答") == 30 - m
    samples.undo_last("安规问答")
    assert total("通用") == n and total("安规问答") == 30
    with pytest.raises(InputError):
        samples.undo_last("安规问答")
    with pytest.raises(InputError, match="another dataset"):
        samples.bulk_count("安规问答", f, "move", {"target": "安规问答"})
    with pytest.raises(NotFound):
        samples.bulk_count("安规问答", f, "copy", {"target": "没有"})


def test_untag_removes_only_that_tag():
    seed(n=4)
    f = samples.make_filter()
    samples.bulk("安规问答", f, "tag", {"tag": "复核"}, confirm=4)
    samples.bulk("安规问答", f, "tag", {"tag": "安规"}, confirm=4)
    assert samples.bulk_count("安规问答", f, "tag", {"tag": "安规"}) == 0
    samples.bulk("安规问答", f, "untag", {"tag": "复核"}, confirm=4)
    assert {tuple(r["tags"]) for r in db.rows("SELECT tags FROM samples")} == {("安规",)}
    samples.undo_last("安规问答")
    assert {tuple(r["tags"]) for r in db.rows("SELECT tags FROM samples")} == {("复核", "安规")}


def test_cli_dedup_and_undo(studio_env):
    import json

    from tests.conftest import run_cli

    did = seed(n=3)
    db.cursor().execute("INSERT INTO samples (dataset_id, instruction, output) VALUES (?, '第1题  雷雨天气', '绝缘靴1')", [did])
    db.close_all()
    r = run_cli("dedup", "--dataset", "安规问答", "--apply", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["removed"] == 1
    r = run_cli("undo", "--dataset", "安规问答", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["restored"] == 1
    r = run_cli("undo", "--dataset", "安规问答")
    assert r.returncode == 2 and "nothing to undo" in r.stderr


def test_a_failing_bulk_action_changes_nothing(monkeypatch):
    seed(n=10)
    from store import samples as store

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_drop_backups", boom)
    before = db.rows("SELECT * FROM samples ORDER BY id")
    f = samples.make_filter()
    with pytest.raises(RuntimeError):
        samples.bulk("安规问答", f, "status", {"status": "rejected"}, confirm=samples.bulk_count("安规问答", f, "status", {"status": "rejected"}))
    assert db.rows("SELECT * FROM samples ORDER BY id") == before
    assert db.scalar("SELECT count(*) FROM bulk_actions") == 0


@pytest.mark.parametrize("texts,exact,near", [
    ({1: "雷雨天气应穿绝缘靴", 2: "雷雨天气，应穿绝缘靴。", 3: "高压设备"}, [[1, 2]], [[1, 2]]),
    ({1: "Hello  World", 2: "hello world!", 3: "bye"}, [[1, 2]], [[1, 2]]),
    ({1: "雷雨天气巡视室外高压设备时应穿绝缘靴并不准靠近避雷器和避雷针",
      2: "雷雨天气巡视室外高压设备时应穿绝缘靴并不准靠近避雷器和避雷线",
      3: "电力建设应当适度超前"}, [], [[1, 2]]),
    ({1: "甲", 2: "乙"}, [], []),
])
def test_dedup_groups(texts, exact, near):
    assert dedup.exact_groups(texts) == exact
    assert dedup.near_groups(texts, threshold=0.8) == near


def test_dedup_keeps_one_per_group_and_can_be_undone():
    did = seed(n=4)
    db.cursor().execute("""INSERT INTO samples (dataset_id, instruction, output, status) VALUES
        (?, '第1题 雷雨天气', '绝缘靴1', 'pending'), (?, '第1题 雷雨天气！', '绝缘靴1', 'accepted')""", [did, did])
    found = samples.find_duplicates("安规问答")
    assert found["duplicates"] >= 2
    group = next(g for g in found["groups"] if any(r["instruction"] == "第1题 雷雨天气！" for r in g["rows"]))
    assert len(group["rows"]) == 3
    keep = samples.get(group["keep"])
    assert keep["status"] == "accepted"
    gone = samples.remove_duplicates("安规问答", [group])
    assert gone["affected"] == 2 and samples.page("安规问答")["total"] == 4
    samples.undo_last("安规问答")
    assert samples.page("安规问答")["total"] == 6


def test_charts_and_counts():
    seed(n=30)
    figs = samples.charts("安规问答")
    assert set(figs) >= {"chars", "qtype", "origin"}
    info = next(d for d in samples.samples_datasets() if d["name"] == "安规问答")
    assert info["samples"] == 30 and info["by_status"]["pending"] == 8
