"""Prompt sets from files (DreamerGPT test_data, JSON lines), a snapshot's validation split, an exam bank."""
import json

import pytest

from store import datasets, db
from studio.core.errors import InputError
from studio.data import snapshots
from studio.evaluate import prompt_sets as prompts
from tests.conftest import DATA
from tests.test_exam_eval import seed_exam

DREAMER = DATA / "eval" / "dreamergpt"


def test_dreamergpt_test_data_is_80_prompts_in_8_categories(studio_env):
    r = prompts.import_paths([DREAMER])
    assert r["prompts"] == 80 and r["categories"] == 8 and not r["reused"]
    rows = prompts.prompts(r["prompt_set"])
    cats = {}
    for p in rows:
        cats[p["category"]] = cats.get(p["category"], 0) + 1
    assert cats == {c: 10 for c in ["01qa", "02translate", "03generate", "04analyse", "05understanding",
                                    "06chinese", "07code", "08alignment"]}
    assert rows[0]["prompt"] == "天空为什么是蓝的" and rows[0]["reference"] is None
    # the judge prompt beside them is not a prompt file; the same files again are the same set
    again = prompts.import_paths([DREAMER])
    assert again["reused"] and again["prompt_set"] == r["prompt_set"]
    one = prompts.import_paths([DREAMER / "06chinese.json"])
    assert one["prompts"] == 10 and one["name"] == "06chinese.json"


def test_json_lines_with_category_reference_system_history(studio_env, tmp_path):
    f = tmp_path / "安规.jsonl"
    f.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in [
        {"prompt": "雷雨天气应穿什么？", "category": "安规", "reference": "绝缘靴"},
        {"instruction": "解释", "input": "接地线", "output": "……"},
        {"question": "继续", "system": "你是专家。", "history": [["你好", "你好！"]]},
        "一条纯文本提示",
    ]) + "\n\n", encoding="utf-8")
    r = prompts.import_paths([f])
    rows = prompts.prompts(r["prompt_set"])
    assert [p["prompt"] for p in rows] == ["雷雨天气应穿什么？", "解释\n接地线", "继续", "一条纯文本提示"]
    assert [p["category"] for p in rows] == ["安规", None, None, "安规"]
    assert rows[0]["reference"] == "绝缘靴" and rows[1]["reference"] == "……"
    assert rows[2]["system"] == "你是专家。" and rows[2]["history"] == [["你好", "你好！"]]
    up = prompts.import_uploads([("上传.json", json.dumps(["问一", "问二"], ensure_ascii=False).encode())])
    assert up["prompts"] == 2 and [p["category"] for p in prompts.prompts(up["prompt_set"])] == ["上传", "上传"]


@pytest.mark.parametrize("name, body, message", [
    ("bad.jsonl", '{"prompt": "ok"}\n{"prompt": \n', "bad.jsonl, row 2: invalid JSON"),
    ("bad.jsonl", '{"prompt": "ok"}\n{"answer": "no prompt"}\n', "bad.jsonl, row 2: no prompt"),
    ("bad.json", '["ok", ""]', "bad.json, row 2: empty prompt"),
    ("bad.json", '["ok", 3]', "bad.json, row 2: expected a string or an object"),
    ("bad.csv", "a,b", "bad.csv: unsupported prompt file"),
    ("bad.jsonl", '{"prompt": "x", "history": "no"}', "bad.jsonl, row 1: history must be"),
])
def test_bad_files_name_file_row_and_reason_and_change_nothing(studio_env, name, body, message):
    with pytest.raises(InputError) as err:
        prompts.import_uploads([("good.json", b'["fine"]'), (name, body.encode())])
    assert str(err.value).startswith(message)
    assert db.scalar("SELECT count(*) FROM prompts") == 0 and db.scalar("SELECT count(*) FROM prompt_sets") == 0


def test_snapshot_validation_split_and_exam_bank(studio_env):
    did = datasets.create("安规问答", "samples")
    db.cursor().execute(
        "INSERT INTO samples (dataset_id, instruction, output, status, origin, qtype) "
        "SELECT ?, '问题' || i, '答案' || i, 'accepted', 'exam-qa', 'single' FROM range(20) t(i)", [did])
    snap = snapshots.create("安规问答", val_ratio=0.25, seed=1)
    r = prompts.from_snapshot(snap["id"][:6])
    rows = prompts.prompts(r["prompt_set"])
    assert r["prompts"] == 5 and all(p["reference"] == "答案" + p["prompt"][2:] for p in rows)
    assert {p["category"] for p in rows} == {"single"}
    seed_exam()
    ex = prompts.from_exam("安规题库")
    rows = prompts.prompts(ex["prompt_set"])
    assert ex["prompts"] == 5   # the open question is left out
    assert rows[0]["prompt"].endswith("\nA. 雨鞋\nB. 绝缘靴\nC. 橡胶鞋\nD. 绝缘鞋\n") and rows[0]["reference"] == "B. 绝缘靴"
    assert rows[2]["reference"] == "A. 值班调控人员\nD. 线路工作许可人" and rows[0]["category"] == "变电专业"
    assert rows[0]["question_id"] is not None
