"""Exports: every format round-trips through the pairs importer, loads with datasets.load_dataset, and
ShareGPT / Alpaca pass LLaMA-Factory's loader rules; cards, registry entries, safety."""
import json
from pathlib import Path

import pytest

from exports.registry import FORMATS
from store import datasets, db
from studio.core.errors import InputError
from studio.core.formats import messages
from studio.data import pairs, snapshots
from studio.data.export import export
from tests.conftest import DATA, run_cli

SAMPLES = [
    {"instruction": "雷雨天气，需要巡视室外高压设备时，应穿___。", "input": "", "output": "绝缘靴", "qtype": "blank"},
    {"instruction": "解释下列条款", "input": "电力法第三条：电力事业应当适应国民经济和社会发展的需要", "output": "电力建设应当适度超前。",
     "system": "你是电力安全专家", "qtype": "open"},
    {"instruction": "=SUM(A1:A3)", "input": "+86 电话", "output": "-1", "qtype": "open"},
    {"instruction": "@所有人 停电通知怎么写？", "input": "", "output": "各位：\n明日停电。\t请做好准备。",
     "history": [["你好", "你好，有什么可以帮你？"], ["停电要提前通知吗", "要"]], "qtype": "open"},
    {"instruction": "Ohm's law?", "input": "", "output": "V = I × R, \"quoted\", comma", "qtype": "single"},
    {"instruction": "判断：可以单人巡视高压设备。", "input": "", "output": "错误", "qtype": "judge"},
] + [{"instruction": f"第{i}题：安全距离是多少？", "input": "", "output": f"{i}米", "qtype": "single"} for i in range(14)]


def seed(name="安规问答"):
    from store import samples as store_samples

    did = datasets.create(name, "samples")
    with db.transaction() as cur:
        store_samples.insert(did, [{**s, "status": "accepted", "origin": "exam-qa"} for s in SAMPLES], cur=cur)
    return did


def canonical(s):
    return {"instruction": s["instruction"], "input": s.get("input") or "", "output": s["output"],
            "system": s.get("system") or "", "history": [list(t) for t in s.get("history") or []]}


def key(s, fmt):
    if fmt == "chatglm":  # content/summary merge input into the prompt and carry no system prompt
        return json.dumps(messages({**canonical(s), "system": ""}), ensure_ascii=False)
    if fmt in ("sharegpt", "messages"):  # conversations carry the user turn, not instruction and input apart
        return json.dumps(messages(canonical(s)), ensure_ascii=False)
    return json.dumps(canonical(s), ensure_ascii=False, sort_keys=True)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_round_trip_and_load_dataset(fmt, studio_env):
    import datasets as hf

    seed()
    result = export(dataset="安规问答", format=fmt, out=f"round_{fmt}", val_ratio=0.25, seed=3)
    assert result["train"] == 15 and result["validation"] == 5
    out = Path(result["out"])
    assert out.parent == studio_env / "exports"
    # what was exported comes back equal through the importer
    source = out if fmt == "hf" else next(out / f for f in ("train.jsonl", "train.json", "train.parquet",
                                                             "train.csv", "samples.xlsx") if (out / f).exists())
    back = pairs.import_pairs(source, "back", status="accepted")
    if fmt != "xlsx" and fmt != "hf":  # one file per split: bring the validation split in as well
        back["imported"] += pairs.import_pairs(out / f"validation{FORMATS[fmt].suffix}", "back")["imported"]
    assert back["imported"] == 20 and back["rejected"] == 0
    again = snapshots.samples(snapshots.create("back", val_ratio=0)["id"])
    assert sorted(key(s, fmt) for s in again) == sorted(key(s, fmt) for s in SAMPLES)
    # and every export loads with the datasets library
    if FORMATS[fmt].loader:
        loaded = hf.load_dataset(FORMATS[fmt].loader, data_files={
            "train": str(out / f"train{FORMATS[fmt].suffix}"),
            "validation": str(out / f"validation{FORMATS[fmt].suffix}")})
    elif fmt == "hf":
        loaded = hf.load_from_disk(str(out))
        arrow = hf.load_dataset("arrow", data_files=str(out / "train" / "*.arrow"))
        assert arrow["train"].num_rows == 15
    else:  # xlsx: datasets has no Excel builder; read it as pandas -> Dataset
        import pandas as pd

        sheets = pd.read_excel(out / "samples.xlsx", sheet_name=None, dtype=str, keep_default_na=False)
        loaded = {k: hf.Dataset.from_pandas(v) for k, v in sheets.items()}
    assert loaded["train"].num_rows == 15 and loaded["validation"].num_rows == 5
    card = (out / "README.md").read_text(encoding="utf-8")
    assert result["content_hash"] in card and "licence" in card and "exam-qa: 20" in card


# LLaMA-Factory's converters (src/llamafactory/data/converter.py), restated: a ShareGPT example whose roles
# do not alternate user-side / assistant-side, or whose turn count is odd, is dropped with a warning;
# an Alpaca example whose response column is not a string has no answer.
def llama_factory_sharegpt_ok(example, attr):
    tags = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
            "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system",
            **attr.get("tags", {})}
    msgs = example[attr["columns"]["messages"]]
    if msgs and tags.get("system_tag") and msgs[0][tags["role_tag"]] == tags["system_tag"]:
        msgs = msgs[1:]
    accept = ((tags["user_tag"], tags["observation_tag"]), (tags["assistant_tag"], tags["function_tag"]))
    if any(m[tags["role_tag"]] not in accept[i % 2] for i, m in enumerate(msgs)):
        return False
    return len(msgs) % 2 == 0 and all(isinstance(m[tags["content_tag"]], str) for m in msgs)


def llama_factory_alpaca_ok(example, attr):
    cols = attr.get("columns", {"prompt": "instruction", "query": "input", "response": "output"})
    # datasets gives a record without the history key None there, and the converter skips a non-list history
    if any(c not in example for k, c in cols.items() if k != "history"):
        return False
    history = example.get(cols.get("history", ""), [])
    if not isinstance(history, list) or any(len(t) != 2 for t in history):
        return False
    return isinstance(example[cols["response"]], str) and bool(example[cols["prompt"]] or example[cols["query"]])


@pytest.mark.parametrize("fmt,check", [("sharegpt", llama_factory_sharegpt_ok), ("messages", llama_factory_sharegpt_ok),
                                       ("alpaca", llama_factory_alpaca_ok), ("chatglm", llama_factory_alpaca_ok)])
def test_llama_factory_reads_every_example(fmt, check):
    seed()
    result = export(dataset="安规问答", format=fmt, out=f"lf_{fmt}", val_ratio=0.2)
    out = Path(result["out"])
    info = json.loads((out / "dataset_info.json").read_text(encoding="utf-8"))
    assert set(info) == {f"lf_{fmt}", f"lf_{fmt}_validation"}
    n = 0
    for attr in info.values():
        assert attr["formatting"] in ("alpaca", "sharegpt") and attr["file_name"] in {p.name for p in out.iterdir()}
        text = (out / attr["file_name"]).read_text(encoding="utf-8")
        # ChatGLM's train.json is JSON lines (its P-Tuning script takes only .json / .csv names); datasets reads both
        examples = json.loads(text) if text.lstrip().startswith("[") else [json.loads(x) for x in text.splitlines()]
        assert all(check(e, attr) for e in examples)
        n += len(examples)
    assert n == len(SAMPLES)


def test_sharegpt_turns_never_repeat_a_side():
    seed()
    out = Path(export(dataset="安规问答", format="sharegpt", out="sg")["out"])
    for e in json.loads((out / "train.json").read_text(encoding="utf-8")):
        sides = [t["from"] for t in e["conversations"]]
        assert all(a != b for a, b in zip(sides, sides[1:])) and sides[0] == "human" and sides[-1] == "gpt"


def test_spreadsheet_cells_cannot_start_a_formula():
    import csv

    from openpyxl import load_workbook

    seed()
    out = Path(export(dataset="安规问答", format="csv", out="people")["out"])
    with open(out / "train.csv", encoding="utf-8", newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert "'=SUM(A1:A3)" in cells and "'+86 电话" in cells and "'-1" in cells
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells)
    out = Path(export(dataset="安规问答", format="xlsx", out="people_xlsx")["out"])
    wb = load_workbook(out / "samples.xlsx")
    values = [c.value for ws in wb for row in ws.iter_rows() for c in row if c.value]
    assert not any(str(v).startswith(("=", "+", "-", "@")) for v in values)
    assert all(c.data_type != "f" for ws in wb for row in ws.iter_rows() for c in row)


def test_names_cannot_escape_and_nothing_is_overwritten_without_force(studio_env):
    seed()
    for bad in ("../outside", "/etc/studio", "a/../../b", "."):
        with pytest.raises(InputError, match="inside the export folder"):
            export(dataset="安规问答", format="alpaca", out=bad)
    assert not (studio_env / "outside").exists()
    export(dataset="安规问答", format="alpaca", out="same")
    marker = studio_env / "exports" / "same" / "mine.txt"
    marker.write_text("keep")
    with pytest.raises(InputError, match="already exists"):
        export(dataset="安规问答", format="messages", out="same")
    assert marker.exists()
    export(dataset="安规问答", format="messages", out="same", force=True)
    assert not marker.exists() and (studio_env / "exports" / "same" / "train.jsonl").exists()


def test_length_warnings_and_snapshot_export():
    seed()
    result = export(dataset="安规问答", format="chatglm", out="warned", max_source_length=10, max_target_length=5)
    text = " ".join(result["warnings"])
    assert "max_source_length=10" in text and "max_target_length=5" in text and "system prompt" in text
    snap = snapshots.create("安规问答", val_ratio=0.2, seed=5)
    result = export(snapshot=snap["id"], format="alpaca", out="from_snapshot")
    assert (result["train"], result["validation"]) == (snap["n_train"], snap["n_validation"])
    card = (Path(result["out"]) / "README.md").read_text(encoding="utf-8")
    assert snap["id"] in card and snap["content_hash"] in card
    with pytest.raises(InputError, match="own train / validation split"):
        export(snapshot=snap["id"], format="alpaca", out="x", val_ratio=0.3)


def test_fixture_files_import_with_the_documented_counts():
    cases = [("trainer_formats/llamafactory/alpaca_zh_demo.json", "alpaca", 1000),
             ("trainer_formats/llamafactory/identity.json", "alpaca", 91),
             ("trainer_formats/llamafactory/glaive_toolcall_zh_demo.json", "sharegpt", 300),
             ("trainer_formats/llamafactory/dpo_zh_demo.json", "sharegpt", 300),
             ("trainer_formats/llamafactory/kto_en_demo.json", "messages", 300),
             ("trainer_formats/chatglm6b_ptuning/AdvertiseGen_dev.json", "chatglm", 1071),
             ("corpus/huatuo_med/llama_data_first1000.json", "alpaca", 1000)]
    for rel, fmt, n in cases:
        got = pairs.import_pairs(DATA / rel, Path(rel).stem)
        assert (got["format"], got["imported"], got["rejected"]) == (fmt, n, 0), rel
    huatuo = snapshots.samples(snapshots.create("llama_data_first1000", val_ratio=0)["id"])
    assert all(s["input"] == "" and s["output"] for s in huatuo)
    kto = db.rows("SELECT status, count(*) AS n FROM samples s JOIN datasets d ON d.id = s.dataset_id "
                  "WHERE d.name = 'kto_en_demo' GROUP BY ALL")
    assert sum(r["n"] for r in kto) == 300 and {r["status"] for r in kto} == {"accepted", "rejected"}
    for rel in ("trainer_formats/llamafactory/c4_demo.jsonl", "trainer_formats/llamafactory/dataset_info.json"):
        with pytest.raises(InputError):
            pairs.import_pairs(DATA / rel, "nothing")
    assert datasets.find("nothing") is None


def test_bad_rows_are_listed_and_strict_lands_nothing(tmp_path):
    f = tmp_path / "mixed.txt"
    f.write_text("\n".join([
        json.dumps({"conversations": [{"from": "human", "value": "问"}, {"from": "gpt", "value": "答"}]}, ensure_ascii=False),
        json.dumps({"conversations": [{"from": "human", "value": "问"}, {"from": "human", "value": "又问"},
                                      {"from": "gpt", "value": "答"}]}, ensure_ascii=False),
        "{broken",
        json.dumps({"conversations": [{"from": "human", "value": "只问"}]}, ensure_ascii=False),
    ]), encoding="utf-8")
    with pytest.raises(InputError, match="nothing was written") as err:
        pairs.import_pairs(f, "strict", strict=True)
    assert err.value.summary["rejected"] == 3 and datasets.find("strict") is None
    got = pairs.import_pairs(f, "lenient")
    assert got["imported"] == 1 and got["rejected"] == 3
    reasons = {e["row"]: e["reason"] for e in got["errors"]}
    assert "alternate" in reasons[2] and "JSON" in reasons[3] and "ends with a user turn" in reasons[4]


def test_cli_import_snapshot_export(studio_env):
    r = run_cli("import", "pairs", str(DATA / "corpus/huatuo_med/llama_data_first1000.json"), "--dataset", "华佗", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"dataset": "华佗", "imported": 1000, "rejected": 0, "format": "alpaca",
                                    "container": "jsonl", "errors": []}
    r = run_cli("snapshot", "--dataset", "华佗", "--val-ratio", "0.1", "--seed", "1", "--json")
    assert r.returncode == 0, r.stderr
    snap = json.loads(r.stdout)
    assert (snap["n_train"], snap["n_validation"]) == (900, 100)
    target = studio_env / "anywhere" / "hua"  # the CLI writes where the shell user points it
    r = run_cli("export", "--snapshot", snap["id"], "--format", "sharegpt", "--out", str(target), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["train"], out["validation"]) == (900, 100) and len(out["files"]) == 4
    assert all(Path(f).parent == target for f in out["files"])
    r = run_cli("export", "--dataset", "华佗", "--format", "csv", "--out", str(target), "--json")
    assert r.returncode == 2 and "already exists" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("import", "pairs", str(DATA / "trainer_formats/llamafactory/c4_demo.jsonl"), "--dataset", "x")
    assert r.returncode == 2 and "no training pairs" in r.stderr
