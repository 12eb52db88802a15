"""Datasets, snapshots, export and pair import in the user's language, and the rough edges of the walk:

- a bulk action's confirmation unticks after every apply or undo and whenever the action, its values, the
  filter or the count change; a delete names its count;
- typing a name starts nothing (no form submits on Enter), only the explicit button does;
- a long question opens in full below the grid;
- numbers out of range are refused by studio/ (page and CLI alike) and the page's button is off with why;
- pair files that cannot be read say so in the user's words (file, line, reason), the CLI exits 2, nothing lands;
- ChatGLM exports are train.json / validation.json of exactly {"content", "summary"};
- LLaMA-Factory's tool-calling ShareGPT data keeps its tools and tool turns through import, snapshot and export.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from store import datasets, db
from studio.core.errors import InputError
from studio.data import export, pairs, samples, snapshots
from tests.conftest import DATA, ROOT, run_cli
from tests.test_i18n import english_words, visible_texts

GLAIVE = DATA / "trainer_formats" / "llamafactory" / "glaive_toolcall_zh_demo.json"
LONG = "雷雨天气，需要巡视室外高压设备时，应穿（　　），并不准靠近避雷器和避雷针。" * 8 + "最后一句在这里结束。"


def seed(n=40, name="安规问答"):
    did = datasets.get_or_create(name, "samples")
    db.cursor().execute("""INSERT INTO samples (dataset_id, instruction, output, status, origin, qtype, tags)
        SELECT ?, '第' || i || '题 雷雨天气巡视', '绝缘靴' || i,
               CASE WHEN i % 4 = 0 THEN 'pending' ELSE 'accepted' END, 'exam-qa',
               CASE WHEN i % 3 = 0 THEN 'judge' ELSE 'single' END, []
        FROM range(?) t(i)""", [did, n])
    return did


def open_page(page="pages/datasets.py") -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def settle(at: AppTest) -> None:
    from studio.service import jobs

    for job in jobs.list_jobs(active=True):
        jobs.wait(job["id"], timeout=60)
    at.run()
    assert not at.exception, at.exception


# ---- bulk delete: the confirmation never outlives what it confirmed -----------------------------------

def test_bulk_confirmation_unticks_after_apply_undo_and_any_change():
    seed(40)
    at = open_page()
    at.segmented_control(key="datasets_view").set_value("Bulk actions").run()
    at.selectbox(key="datasets_bulk_action").set_value("status").run()
    at.selectbox(key="datasets_bulk_status").set_value("rejected").run()
    at.checkbox(key="datasets_bulk_confirm").check().run()
    assert at.button(key="datasets_bulk_apply").label == "Apply to 40 rows"
    at.button(key="datasets_bulk_apply").click().run()
    assert db.scalar("SELECT count(*) FROM samples WHERE status = 'rejected'") == 40
    # after the apply the box is clear: switching to delete cannot delete with one click
    assert at.checkbox(key="datasets_bulk_confirm").value is False
    at.selectbox(key="datasets_bulk_action").set_value("delete").run()
    apply = at.button(key="datasets_bulk_apply")
    assert at.checkbox(key="datasets_bulk_confirm").value is False and apply.disabled
    assert apply.label == "Delete 40 rows"
    # ticked, then the filter changes: unticked again, and the button names the new count
    at.checkbox(key="datasets_bulk_confirm").check().run()
    assert not at.button(key="datasets_bulk_apply").disabled
    at.multiselect(key="datasets_type").set_value(["judge"]).run()
    assert at.checkbox(key="datasets_bulk_confirm").value is False
    assert at.button(key="datasets_bulk_apply").label == "Delete 14 rows" and at.button(key="datasets_bulk_apply").disabled
    # ticked, then undo: unticked
    at.checkbox(key="datasets_bulk_confirm").check().run()
    at.button(key="datasets_bulk_undo").click().run()
    assert db.scalar("SELECT count(*) FROM samples WHERE status = 'rejected'") == 0
    assert at.checkbox(key="datasets_bulk_confirm").value is False
    assert samples.count("安规问答") == 40  # nothing was ever deleted
    # ticked, then the action's own value changes (another action): unticked
    at.checkbox(key="datasets_bulk_confirm").check().run()
    at.selectbox(key="datasets_bulk_action").set_value("tag").run()
    at.text_input(key="datasets_bulk_tag").set_value("复核").run()
    assert at.checkbox(key="datasets_bulk_confirm").value is False


def test_one_row_reads_as_one_row():
    seed(1)
    at = open_page()
    at.segmented_control(key="datasets_view").set_value("Bulk actions").run()
    at.selectbox(key="datasets_bulk_action").set_value("delete").run()
    assert at.button(key="datasets_bulk_apply").label == "Delete 1 row"


# ---- only explicit buttons start work --------------------------------------------------------------------

def test_typing_a_snapshot_name_creates_no_snapshot():
    seed(20)
    at = open_page("pages/snapshots.py")
    assert not at.get("form")  # no form: Enter in a field submits nothing
    at.text_input(key="snapshots_name").set_value("第一版").run()  # what Enter does: the value, a rerun
    assert not at.exception and snapshots.list_all() == []
    at.button(key="snapshots_create").click().run()
    assert [s["name"] for s in snapshots.list_all()] == ["第一版"]


def test_typing_the_import_target_imports_nothing():
    at = open_page()
    assert not at.get("form")
    assert not [w for w in at.text_input if w.key == "datasets_import_target"]   # closed: not drawn
    at.session_state["datasets_import_open"] = True   # the person opens the import section
    at.run()
    at.text_input(key="datasets_import_target").set_value("新数据集").run()
    assert datasets.find("新数据集") is None and at.button(key="datasets_import_go").disabled


# ---- long text opens in full -----------------------------------------------------------------------------

def test_a_long_question_opens_in_full_below_the_grid():
    did = seed(3)
    db.cursor().execute("INSERT INTO samples (dataset_id, instruction, output, status) VALUES (?, ?, '绝缘靴', 'accepted')",
                        [did, LONG])
    row_id = db.scalar("SELECT id FROM samples WHERE instruction = ?", [LONG])
    at = open_page()
    read = at.selectbox(key="datasets_read")
    assert read.value is None
    assert read.format_func(row_id).endswith("…")  # the picker shows a start, the pane the whole
    read.set_value(row_id).run()
    assert LONG in [c.value for c in at.code]
    assert "绝缘靴" in [c.value for c in at.code]


# ---- numbers: ranges checked in studio/, the button off with the reason ----------------------------------

@pytest.mark.parametrize("call", [
    lambda: snapshots.create("安规问答", val_ratio=0.95),
    lambda: snapshots.create("安规问答", val_ratio=-0.1),
    lambda: snapshots.create("安规问答", seed=-3),
    lambda: snapshots.create("安规问答", seed=1.5),
    lambda: snapshots.create("安规问答", mix={"别的": 0.95}),
    lambda: export.export(dataset="安规问答", format="alpaca", out="x", val_ratio=5),
    lambda: export.export(dataset="安规问答", format="alpaca", out="x", seed=-1),
    lambda: export.export(dataset="安规问答", format="alpaca", out="x", max_source_length=-5),
    lambda: samples.make_filter(min_len=-1),
    lambda: samples.make_filter(min_len=50, max_len=10),
    lambda: samples.page("安规问答", page_size=5000),
    lambda: samples.page("安规问答", page_no=0),
    lambda: samples.find_duplicates("安规问答", threshold=0.2),
])
def test_numbers_out_of_range_are_refused_in_studio(call):
    seed(5)
    with pytest.raises(InputError, match="must be|above"):
        call()
    assert snapshots.list_all() == [] and not (export.exports_root() / "x").exists()


def test_the_cli_gets_the_same_range_checks(studio_env):
    seed(5)
    db.close_all()  # the CLI is another process: DuckDB lets one process hold the file
    r = run_cli("snapshot", "--dataset", "安规问答", "--val-ratio", "1.5")
    assert r.returncode == 2 and "must be between 0 and 0.9" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("dedup", "--dataset", "安规问答", "--threshold", "3")
    assert r.returncode == 2 and "must be between 0.5 and 1" in r.stderr


def test_snapshot_and_export_buttons_are_off_with_the_reason_while_out_of_range():
    seed(20)
    at = open_page("pages/snapshots.py")
    at.number_input(key="snapshots_val").set_value(1.5).run()
    assert at.button(key="snapshots_create").disabled
    assert any("must be between 0 and 0.9, not 1.5" in w.value for w in at.warning)
    at.number_input(key="snapshots_seed").set_value(-3).run()
    at.number_input(key="snapshots_val").set_value(0.2).run()
    assert at.button(key="snapshots_create").disabled and any("not -3" in w.value for w in at.warning)
    at.number_input(key="snapshots_seed").set_value(7).run()
    assert not at.button(key="snapshots_create").disabled and not at.warning
    at = open_page("pages/export.py")
    at.number_input(key="export_val").set_value(2.0).run()
    assert at.button(key="export_go").disabled and any("must be between" in w.value for w in at.warning)
    at.number_input(key="export_val").set_value(0.2).run()
    assert not at.button(key="export_go").disabled


def test_a_page_number_out_of_range_says_why():
    seed(5)
    at = open_page()
    at.number_input(key="datasets_page").set_value(0).run()
    assert not at.exception and any("page number must be between 1" in w.value for w in at.warning)


# ---- pair files in the user's words ----------------------------------------------------------------------

LIBRARY_WORDS = ("Expecting", "records have keys", "Stream has ended", "EOCD", "Errno", "Traceback", "magic bytes",
                 "delimiter", "calamine", "ArrowInvalid")


def _bad_files(folder: Path) -> dict[str, tuple[Path, str]]:
    import pandas as pd

    good = {"instruction": "雷雨天气应穿什么？", "output": "绝缘靴"}
    lines = [json.dumps(good, ensure_ascii=False)] * 5 + ['  {"instruction": "问", "output" "答"}']
    files = {}
    f = folder / "断行.json"
    f.write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")  # the broken record is on line 7
    files["json"] = (f, "断行.json line 7 is not valid JSON")
    f = folder / "表头.csv"
    f.write_text("instruction,output\n", encoding="utf-8")
    files["csv"] = (f, "表头.csv has a header but no rows")
    f = folder / "表头.xlsx"
    pd.DataFrame({"instruction": [], "output": []}).to_excel(f, index=False)
    files["xlsx_empty"] = (f, "表头.xlsx has a header but no rows")
    f = folder / "不是.xlsx"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("readme.txt", "hello")
    files["not_xlsx"] = (f, "不是.xlsx is not an Excel workbook")
    f = folder / "半个.xlsx"
    pd.DataFrame([good]).to_excel(folder / "whole.xlsx", index=False)
    f.write_bytes((folder / "whole.xlsx").read_bytes()[:900])
    files["cut_xlsx"] = (f, "半个.xlsx is not an Excel workbook")
    f = folder / "半个.parquet"
    pd.DataFrame([good]).to_parquet(folder / "whole.parquet")
    f.write_bytes((folder / "whole.parquet").read_bytes()[:300])
    files["cut_parquet"] = (f, "半个.parquet is not a readable Parquet file")
    f = folder / "空.json"
    f.write_text("[]", encoding="utf-8")
    files["empty"] = (f, "空.json holds an empty list")
    f = folder / "键.json"
    f.write_text(json.dumps([{"question": "问", "answer": "答"}]), encoding="utf-8")
    files["keys"] = (f, "键.json: no training pairs recognised; its records have the fields answer, question")
    f = folder / "坏行.jsonl"
    f.write_text('{"instruction": "问", oops}\n', encoding="utf-8")
    files["jsonl"] = (f, "坏行.jsonl line 1 is not valid JSON")
    return files


def test_unreadable_pair_files_say_file_line_and_reason_in_the_users_words(tmp_path):
    for kind, (path, expected) in _bad_files(tmp_path).items():
        with pytest.raises(InputError) as err:
            pairs.import_pairs(path, f"x_{kind}", source_name=path.name)
        message = str(err.value)
        assert message.startswith(expected), (kind, message)
        assert not any(w in message for w in LIBRARY_WORDS if w.lower() not in expected.lower()), (kind, message)
        assert datasets.find(f"x_{kind}") is None
    # an upload names the uploaded file, not where it was put
    path, expected = _bad_files(tmp_path)["json"]
    with pytest.raises(InputError, match=r"^断行\.json line 7 is not valid JSON: a colon is missing after a key") as err:
        pairs.import_upload("断行.json", path.read_bytes(), "上传")
    assert "studio-pairs-" not in str(err.value)


def test_a_bad_line_among_good_ones_is_listed_with_its_line(tmp_path):
    f = tmp_path / "七.jsonl"
    good = json.dumps({"instruction": "问", "output": "答"}, ensure_ascii=False)
    f.write_text("\n".join([good] * 6 + ['{"instruction": "问", "output": "答"']), encoding="utf-8")
    got = pairs.import_pairs(f, "七")
    assert got["imported"] == 6 and got["errors"] == [
        {"row": 7, "reason": "line 7 is not valid JSON: a comma or a closing bracket is missing"}]


def test_cli_import_of_an_unreadable_file_exits_2_with_one_line_and_lands_nothing(tmp_path, studio_env):
    files = _bad_files(tmp_path)
    db.close_all()
    for kind in ("json", "csv", "not_xlsx"):
        path, expected = files[kind]
        r = run_cli("import", "pairs", str(path), "--dataset", "X")
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and expected.split(" ", 1)[1] in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert datasets.find("X") is None


# ---- ChatGLM exports as ChatGLM-6B's P-Tuning script reads them ------------------------------------------

def test_chatglm_export_is_train_json_of_exactly_content_and_summary(studio_env):
    from store import samples as store_samples

    did = datasets.create("安规", "samples")
    with db.transaction() as cur:
        store_samples.insert(did, [
            {"instruction": "雷雨天气，需要巡视室外高压设备时，应穿___，并不准靠近避雷器和避雷针。", "output": "绝缘靴",
             "status": "accepted", "origin": "exam-qa"},
            {"instruction": "那么低压呢？", "output": "也要穿", "status": "accepted", "origin": "imported",
             "history": [["高压设备要穿什么？", "绝缘靴"]]}], cur=cur)
    result = export.export(dataset="安规", format="chatglm", out="glm")
    out = Path(result["out"])
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "dataset_info.json", "train.json"]
    lines = [json.loads(x) for x in (out / "train.json").read_text(encoding="utf-8").splitlines()]
    assert lines[0] == {"content": "雷雨天气，需要巡视室外高压设备时，应穿___，并不准靠近避雷器和避雷针。", "summary": "绝缘靴"}
    assert lines[1] == {"content": "那么低压呢？", "summary": "也要穿", "history": [["高压设备要穿什么？", "绝缘靴"]]}
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert info["glm"]["file_name"] == "train.json" and info["glm"]["columns"]["history"] == "history"
    split = export.export(dataset="安规", format="chatglm", out="glm2", val_ratio=0.5)
    assert sorted(Path(f).name for f in split["files"]) == ["README.md", "dataset_info.json", "train.json",
                                                             "validation.json"]
    db.close_all()
    r = run_cli("export", "--dataset", "安规", "--format", "chatglm", "--out", str(studio_env / "cli_glm"), "--json")
    assert r.returncode == 0, r.stderr
    assert {Path(f).name for f in json.loads(r.stdout)["files"]} == {"train.json", "dataset_info.json", "README.md"}


def test_chatglm_without_history_has_no_history_column_anywhere():
    seed(4)
    out = Path(export.export(dataset="安规问答", format="chatglm", out="plain")["out"])
    assert all(set(json.loads(x)) == {"content", "summary"}
               for x in (out / "train.json").read_text(encoding="utf-8").splitlines())
    assert "history" not in json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))["plain"]["columns"]


# ---- tool calling through import, snapshot and export ----------------------------------------------------

def test_tool_calling_sharegpt_comes_back_unchanged_for_every_row():
    original = json.loads(GLAIVE.read_text(encoding="utf-8"))
    got = pairs.import_pairs(GLAIVE, "glaive")
    assert (got["format"], got["imported"], got["rejected"]) == ("sharegpt", 300, 0)
    out = Path(export.export(dataset="glaive", format="sharegpt", out="glaive_sg")["out"])
    back = json.loads((out / "train.json").read_text(encoding="utf-8"))
    assert len(back) == len(original) == 300
    assert [b["conversations"] for b in back] == [o["conversations"] for o in original]
    assert [b["tools"] for b in back] == [o["tools"] for o in original]
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))["glaive_sg"]
    assert info["columns"]["tools"] == "tools" and info["tags"]["function_tag"] == "function_call"
    # a snapshot keeps them too, and its export gives the same conversations back
    snap = snapshots.create("glaive", val_ratio=0)
    frozen = Path(export.export(snapshot=snap["id"], format="sharegpt", out="glaive_snap")["out"])
    again = json.loads((frozen / "train.json").read_text(encoding="utf-8"))
    key = lambda rows: sorted(json.dumps([r["conversations"], r["tools"]], ensure_ascii=False) for r in rows)  # noqa: E731
    assert key(again) == key(original)  # a snapshot orders its rows by seed


def test_openai_messages_carry_tool_calls_and_come_back():
    original = json.loads(GLAIVE.read_text(encoding="utf-8"))
    pairs.import_pairs(GLAIVE, "glaive")
    result = export.export(dataset="glaive", format="messages", out="glaive_msg")
    rows = [json.loads(x) for x in (Path(result["out"]) / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    first = rows[0]
    assert first["messages"][1]["tool_calls"][0]["function"]["name"] == "generate_invoice"
    assert first["messages"][2]["role"] == "tool" and first["messages"][2]["tool_call_id"] == "call_0"
    assert first["tools"][0]["type"] == "function"
    pairs.import_pairs(Path(result["out"]) / "train.jsonl", "glaive_back")
    out = Path(export.export(dataset="glaive_back", format="sharegpt", out="glaive_back_sg")["out"])
    back = json.loads((out / "train.json").read_text(encoding="utf-8"))
    assert [[t["from"] for t in b["conversations"]] for b in back] == \
        [[t["from"] for t in o["conversations"]] for o in original]


@pytest.mark.parametrize("fmt", ["chatglm", "alpaca", "csv"])
def test_formats_without_tools_warn_how_many_samples_lost_them(fmt):
    pairs.import_pairs(GLAIVE, "glaive")
    result = export.export(dataset="glaive", format=fmt, out=f"glaive_{fmt}")
    assert any("300 samples lost their tool calls" in w for w in result["warnings"]), result["warnings"]
    card = (Path(result["out"]) / "README.md").read_text(encoding="utf-8")
    assert "300 samples lost their tool calls" in card


def test_the_export_page_shows_the_tool_warning():
    pairs.import_pairs(GLAIVE, "glaive")
    at = open_page("pages/export.py")
    # said before the click: ChatGLM (the first format) and Alpaca lose them, ShareGPT keeps them
    assert any("300 samples call tools, which ChatGLM" in w.value for w in at.warning), [w.value for w in at.warning]
    at.selectbox(key="export_format").set_value("sharegpt").run()
    assert not at.warning
    at.selectbox(key="export_format").set_value("alpaca").run()
    assert any("300 samples call tools, which Alpaca" in w.value for w in at.warning), [w.value for w in at.warning]
    at.button(key="export_go").click().run()
    settle(at)
    assert any("300 samples lost their tool calls" in w.value for w in at.warning), [w.value for w in at.warning]


# ---- the pages in Chinese ------------------------------------------------------------------------------

def test_datasets_bulk_view_and_snapshot_reasons_read_in_chinese(monkeypatch):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    seed(12)
    at = open_page()
    at.segmented_control(key="datasets_view").set_value("Bulk actions").run()
    at.selectbox(key="datasets_bulk_action").set_value("delete").run()
    assert at.button(key="datasets_bulk_apply").label == "删除 12 行"
    assert at.checkbox(key="datasets_bulk_confirm").label == "确认修改这 12 行"
    assert at.segmented_control(key="datasets_view").format_func("Bulk actions") == "批量操作"
    assert at.selectbox(key="datasets_bulk_action").format_func("delete") == "删除"
    leftovers = {t: english_words(t) for t in visible_texts(at) if english_words(t)}
    assert not leftovers, leftovers
    for view in ("Browse and edit", "Deduplicate", "Charts"):
        at.segmented_control(key="datasets_view").set_value(view).run()
        assert not at.exception, at.exception
        leftovers = {t: english_words(t) for t in visible_texts(at) if english_words(t)}
        assert not leftovers, (view, leftovers)
    at.segmented_control(key="datasets_view").set_value("Browse and edit").run()
    at.selectbox(key="datasets_read").set_value(int(db.scalar("SELECT min(id) FROM samples"))).run()
    assert "**指令**" in [m.value for m in at.markdown]
    at = open_page("pages/export.py")
    at.radio(key="export_source").set_value("snapshot").run()
    leftovers = {t: english_words(t) for t in visible_texts(at) if english_words(t)}
    assert not leftovers, leftovers
    at = open_page("pages/snapshots.py")
    at.number_input(key="snapshots_val").set_value(1.5).run()
    assert at.button(key="snapshots_create").label == "创建快照" and at.button(key="snapshots_create").disabled
    assert any("验证集比例" in w.value and "必须在 0 到 0.9 之间" in w.value for w in at.warning)
    leftovers = {t: english_words(t) for t in visible_texts(at) if english_words(t)}
    assert not leftovers, leftovers


def test_pair_errors_and_export_warnings_in_chinese(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    path, _unused = _bad_files(tmp_path)["json"]
    with pytest.raises(InputError, match="断行.json 第 7 行不是有效的 JSON：键后面缺少冒号"):
        pairs.import_pairs(path, "x", source_name=path.name)
    pairs.import_pairs(GLAIVE, "glaive")
    result = export.export(dataset="glaive", format="chatglm", out="zh_glm")
    assert any(w.startswith("300 条样本丢失了工具调用") for w in result["warnings"]), result["warnings"]
