"""Two adapters trained in the test by the studio's own trainer (studio.runs -> trainers.sft), compared
from the command line by their run ids: the base model and both runs answer the same prompts differently."""
import json

import pytest

from store import datasets, db
from studio.data import snapshots
from studio.train import runs
from tests.compare_helpers import PAIRS_A, PAIRS_B
from tests.conftest import run_cli
from tests.train_helpers import FAST_LORA, finished, wait

pytestmark = pytest.mark.slow


def train_run(name, pairs, demo_model):
    did = datasets.create(name, "samples")
    for q, a in pairs:
        db.cursor().execute("INSERT INTO samples (dataset_id, instruction, output, status, origin) "
                            "VALUES (?, ?, ?, 'accepted', 'imported')", [did, q, a])
    snap = snapshots.create(name, val_ratio=0.0)
    row = runs.submit(snapshot=snap["id"], base_model=str(demo_model), method="lora", max_steps=25,
                      name=name, **FAST_LORA)
    return row["id"]


def test_two_runs_trained_here_answer_differently(studio_env, demo_model, tmp_path):
    a = train_run("甲套", PAIRS_A, demo_model)
    b = train_run("乙套", PAIRS_B, demo_model)
    for rid in (a, b):
        assert wait(rid, finished)["state"] == "done"
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": q}, ensure_ascii=False) + "\n" for q, _ in PAIRS_A),
                       encoding="utf-8")
    db.close_all()
    out = tmp_path / "cmp.jsonl"
    r = run_cli("compare", "--runs", f"{a},{b}", "--prompts", str(prompts), "--out", str(out),
                "--max-new-tokens", "10", "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["systems"] == 3 and summary["system_ids"] == ["base", a, b] and summary["prompts"] == 4
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    got = {(x["prompt"], x["system"]): x["output"] for x in rows}
    hits_a = sum(got[(q, a)] == ans for q, ans in PAIRS_A)
    hits_b = sum(got[(q, b)] == ans for q, ans in PAIRS_B)
    assert hits_a >= 3 and hits_b >= 3, got
    for q, _ in PAIRS_A:
        assert len({got[(q, "base")], got[(q, a)], got[(q, b)]}) == 3
    assert {x["system_label"] for x in rows} >= {f"甲套 ({a})", f"乙套 ({b})"}
