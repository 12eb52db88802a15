"""python -m studio compare / eval in a subprocess: the CLI contract on real runs of the tiny model."""
import json

import pytest

from store import db
from tests.compare_helpers import PAIRS_A, PAIRS_B, adapters, runs  # noqa: F401 - fixtures
from tests.conftest import DATA, run_cli
from tests.test_exam_eval import seed_exam

pytestmark = pytest.mark.slow


def test_compare_and_eval_commands(runs, studio_env, tmp_path):
    seed_exam()
    prompt_file = tmp_path / "安规.jsonl"
    prompt_file.write_text("".join(json.dumps({"prompt": q, "category": "安规", "reference": a}, ensure_ascii=False)
                                   + "\n" for q, a in PAIRS_A), encoding="utf-8")
    db.close_all()   # the CLI process opens the database file
    out = tmp_path / "out" / "compare.jsonl"
    r = run_cli("compare", "--runs", "run-a,double", "--prompts", str(prompt_file), "--out", str(out),
                "--max-new-tokens", "8", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["prompts"] == 4 and summary["systems"] == 3 and summary["out"] == str(out)
    assert summary["system_ids"] == ["base", "run-a", "double"] and summary["base_included"]
    assert summary["generated"] == 12 and summary["cached"] == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 12
    got = {(r["prompt"], r["system"]): r["output"] for r in rows}
    assert [got[(q, "run-a")] for q, _ in PAIRS_A] == [a for _, a in PAIRS_A]
    assert [got[(q, "double")] for q, _ in PAIRS_B] == [b for _, b in PAIRS_B]
    assert rows[0]["reference"] == "高压" and rows[0]["category"] == "安规"
    # again into a CSV: everything from the cache; an existing file is refused
    csv_out = tmp_path / "compare.csv"
    r = run_cli("compare", "--runs", "run-a,double", "--prompts", str(prompt_file), "--out", str(csv_out),
                "--max-new-tokens", "8", "--json")
    assert json.loads(r.stdout)["generated"] == 0 and csv_out.read_text(encoding="utf-8").startswith("prompt_id,")
    r = run_cli("compare", "--runs", "run-a", "--prompts", str(prompt_file), "--out", str(csv_out), "--json")
    assert r.returncode == 2 and "exists" in r.stderr and "Traceback" not in r.stderr
    # the DreamerGPT folder: 80 prompts, 8 categories (base only, few tokens)
    md = tmp_path / "dreamer.md"
    r = run_cli("compare", "--runs", "run-a", "--prompts", str(DATA / "eval" / "dreamergpt"), "--out", str(md),
                "--max-new-tokens", "2", "--batch-size", "32", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["prompts"] == 80 and "| 08alignment |" in md.read_text(encoding="utf-8")

    r = run_cli("eval", "--run", "run-a", "--dataset", "安规题库", "--shuffles", "1", "--json")
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout.strip().splitlines()[-1])
    assert ev["run"] == "run-a" and ev["n"] == 5 and set(ev["by_type"]) == {"single", "multi", "judge"}
    assert 0 <= ev["accuracy"] <= 1 and "consistent" in ev and "shuffled_accuracy" in ev


def test_clear_errors_exit_2(runs, studio_env, tmp_path):
    db.close_all()
    r = run_cli("compare", "--runs", "nope", "--prompts", str(DATA / "eval" / "dreamergpt"), "--out",
                str(tmp_path / "x.jsonl"))
    assert r.returncode == 2 and "no run 'nope'" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"oops": 1}\n', encoding="utf-8")
    r = run_cli("compare", "--runs", "run-a", "--prompts", str(bad), "--out", str(tmp_path / "x.jsonl"))
    assert r.returncode == 2 and "bad.jsonl, row 2: no prompt" in r.stderr
    r = run_cli("eval", "--run", "run-a", "--dataset", "没有")
    assert r.returncode == 2 and "no dataset named '没有'" in r.stderr
