"""The Datasets, Snapshots and Export pages in AppTest: paging, filtering, editing with row versions
(two tabs), bulk action with confirmation and undo, dedup, snapshots, export."""
import json

from streamlit.testing.v1 import AppTest

from store import datasets, db
from studio.data import samples, snapshots
from tests.conftest import ROOT


def seed(n=120, name="安规问答"):
    did = datasets.get_or_create(name, "samples")
    db.cursor().execute("""INSERT INTO samples (dataset_id, instruction, output, status, origin, qtype, tags)
        SELECT ?, '第' || i || '题 雷雨天气巡视', '绝缘靴' || i,
               CASE WHEN i % 4 = 0 THEN 'pending' ELSE 'accepted' END,
               CASE WHEN i % 2 = 0 THEN 'exam-qa' ELSE 'generated' END,
               CASE WHEN i % 3 = 0 THEN 'judge' ELSE 'single' END, []
        FROM range(?) t(i)""", [did, n])


def open_page(page="pages/datasets.py"):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def settle(at):
    """Wait for the jobs the page started (dedup, export run in the server), then run the page again."""
    from studio.service import jobs

    for job in jobs.list_jobs(active=True):
        jobs.wait(job["id"], timeout=60)
    at.run()
    assert not at.exception, at.exception


def editor(at):
    key = f"datasets_editor_{at.session_state['datasets_editor_gen']}"
    return key, next(d for d in at.dataframe if d.key == key).value


def edit(at, changes):
    key, _ = editor(at)
    at.session_state[key] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [], **changes}
    at.run()
    assert not at.exception, at.exception


def test_paging_and_filtering():
    seed(120)
    at = open_page()
    _, frame = editor(at)
    assert len(frame) == 50 and list(frame["id"])[:2] == sorted(frame["id"])[:2]
    assert any("120 rows match" in c.value and "page 1 of 3" in c.value for c in at.caption)
    at.number_input(key="datasets_page").set_value(3).run()
    _, last = editor(at)
    assert len(last) == 20 and set(last["id"]).isdisjoint(frame["id"])
    at.multiselect(key="datasets_status").set_value(["pending"]).run()
    at.multiselect(key="datasets_type").set_value(["judge"]).run()
    _, filtered = editor(at)
    assert len(filtered) == 10 and set(filtered["status"]) == {"pending"} and set(filtered["qtype"]) == {"judge"}
    assert any("10 rows match" in c.value for c in at.caption)
    at.text_input(key="datasets_search").set_value("第12题").run()
    _, found = editor(at)
    assert list(found["output"]) == ["绝缘靴12"]
    at.selectbox(key="datasets_sort").set_value("summary length").run()
    at.toggle(key="datasets_desc").set_value(True).run()
    assert not at.exception


def test_two_tabs_editing_the_same_row():
    seed(5)
    tab_a, tab_b = open_page(), open_page()
    _, shown = editor(tab_b)
    row_id = int(shown["id"].iloc[0])
    edit(tab_a, {"edited_rows": {0: {"output": "绝缘鞋（A 改）"}}})
    assert any("Saved 1 edit" in s.value for s in tab_a.success)
    assert samples.get(row_id)["output"] == "绝缘鞋（A 改）"
    edit(tab_b, {"edited_rows": {0: {"output": "橡胶鞋（B 改）"}}})
    assert any("changed elsewhere" in e.value for e in tab_b.error)
    assert samples.get(row_id)["output"] == "绝缘鞋（A 改）"  # nothing lost
    _, fresh = editor(tab_b)
    assert fresh["output"].iloc[0] == "绝缘鞋（A 改）" and int(fresh["version"].iloc[0]) == 2
    edit(tab_b, {"edited_rows": {0: {"output": "橡胶鞋（B 再改）"}}})  # seeing the fresh row, B can save
    assert samples.get(row_id)["output"] == "橡胶鞋（B 再改）"


def test_add_and_delete_rows_in_the_editor():
    seed(3)
    at = open_page()
    _, shown = editor(at)
    gone = int(shown["id"].iloc[1])
    edit(at, {"added_rows": [{"instruction": "新加的问题", "output": "新答案", "status": "accepted"}],
              "deleted_rows": [1]})
    assert not at.error
    rows = db.rows("SELECT id, instruction, status FROM samples ORDER BY id")
    assert gone not in [r["id"] for r in rows] and rows[-1]["instruction"] == "新加的问题" and len(rows) == 3


def test_bulk_action_with_confirmation_and_undo():
    seed(40)
    at = open_page()
    at.multiselect(key="datasets_status").set_value(["pending"]).run()
    at.segmented_control(key="datasets_view").set_value("Bulk actions").run()
    at.selectbox(key="datasets_bulk_action").set_value("status").run()
    at.selectbox(key="datasets_bulk_status").set_value("rejected").run()
    assert any("**10** row(s)" in w.value for w in at.warning)
    assert at.button(key="datasets_bulk_apply").disabled
    at.checkbox(key="datasets_bulk_confirm").check().run()
    at.button(key="datasets_bulk_apply").click().run()
    assert not at.exception and not at.error
    assert db.scalar("SELECT count(*) FROM samples WHERE status = 'rejected'") == 10
    assert any("10 rows" in s.value for s in at.success)
    at.button(key="datasets_bulk_undo").click().run()
    assert db.scalar("SELECT count(*) FROM samples WHERE status = 'rejected'") == 0
    assert db.scalar("SELECT count(*) FROM samples WHERE status = 'pending'") == 10
    assert any("Undone: 10 rows" in s.value for s in at.success)


def test_dedup_and_charts_views():
    seed(6)
    did = datasets.get("安规问答")["id"]
    db.cursor().execute("INSERT INTO samples (dataset_id, instruction, output) VALUES (?, '第1题 雷雨天气巡视！', '绝缘靴1')", [did])
    at = open_page()
    at.segmented_control(key="datasets_view").set_value("Deduplicate").run()
    at.toggle(key="datasets_dedup_on").set_value(True).run()
    settle(at)
    assert any("1 group(s)" in m.value for m in at.markdown)
    at.button(key="datasets_dedup_apply").click().run()
    settle(at)
    assert not at.exception and samples.page("安规问答")["total"] == 6
    at.segmented_control(key="datasets_view").set_value("Charts").run()
    assert not at.exception and len(at.get("plotly_chart")) >= 3


def test_snapshot_page_creates_lists_and_compares():
    seed(30)
    at = open_page("pages/snapshots.py")
    at.number_input(key="snapshots_val").set_value(0.2)
    at.button[0].click().run()  # the form's submit button
    assert not at.exception and any("Created snapshot" in s.value for s in at.success)
    first = snapshots.list_all()[0]
    assert (first["n_train"], first["n_validation"]) == (18, 4)  # 22 accepted of 30
    db.cursor().execute("UPDATE samples SET output = '改过' WHERE id = (SELECT min(id) FROM samples WHERE status = 'accepted')")
    at.button[0].click().run()
    assert len(snapshots.list_all()) == 2 and len(at.dataframe[0].value) == 2
    old, new = first["id"], next(r["id"] for r in snapshots.list_all() if r["id"] != first["id"])
    at.selectbox(key="snapshots_a").set_value(old)
    at.selectbox(key="snapshots_b").set_value(new).run()
    assert {m.label: m.value for m in at.metric} == {"Added": "0", "Removed": "0", "Changed": "1"}


def test_export_page_writes_and_asks_before_overwriting(studio_env):
    seed(10)
    at = open_page("pages/export.py")
    at.selectbox(key="export_format").set_value("sharegpt").run()
    at.button(key="export_go").click().run()
    settle(at)
    assert not at.exception and not at.error
    out = studio_env / "exports" / "安规问答_sharegpt"
    assert len(json.loads((out / "train.json").read_text(encoding="utf-8"))) == 10
    at.run()
    assert any("already exists" in w.value for w in at.warning) and at.button(key="export_go").disabled
    at.checkbox(key="export_force").check().run()
    at.button(key="export_go").click().run()
    settle(at)
    assert any("Written to" in s.value for s in at.success)
