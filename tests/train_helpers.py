"""Shared by the training tests: a small real exam-QA dataset and a loop that waits for a run."""
from __future__ import annotations

import csv
import time

from store import datasets, db
from tests.conftest import DATA

CMMLU = DATA / "exam" / "cmmlu" / "electrical_engineering_test.csv"


def exam_pairs(n: int, start: int = 0) -> list[dict[str, str]]:
    """Question -> answer-text pairs from the real CMMLU electrical-engineering bank."""
    with open(CMMLU, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[start:start + n]
    return [{"instruction": r["Question"].strip(), "input": "", "output": r[r["Answer"]].strip()} for r in rows]


def seed_dataset(name: str = "电工问答", n: int = 10, start: int = 0) -> list[dict[str, str]]:
    """A samples dataset of ``n`` accepted exam QA pairs; returns the pairs."""
    did = datasets.get_or_create(name, "samples")
    pairs = exam_pairs(n, start)
    cur = db.cursor()
    for p in pairs:
        cur.execute("INSERT INTO samples (dataset_id, instruction, input, output, status, origin, qtype) "
                    "VALUES (?, ?, '', ?, 'accepted', 'exam-qa', 'single')", [did, p["instruction"], p["output"]])
    return pairs


def wait(run_id: str, until, timeout: float = 240.0, every: float = 0.5) -> dict:
    """Poll (``supervisor.refresh``) until ``until(row)`` holds; fail with the run's log on timeout."""
    from studio.train import runs, supervisor

    deadline = time.time() + timeout
    while time.time() < deadline:
        supervisor.refresh()
        row = runs.get(run_id)
        if until(row):
            return row
        if row["state"] in ("failed",) and not until(row):
            raise AssertionError(f"run failed: {row['error']}\n{runs.detail(run_id)['log_tail']}")
        time.sleep(every)
    raise AssertionError(f"timed out; state {runs.get(run_id)['state']}\n{runs.detail(run_id)['log_tail']}")


def finished(row: dict) -> bool:
    return row["state"] in ("done", "failed", "cancelled")


# Settings that make the tiny demo model learn in seconds on CPU.
FAST_LORA = {"lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "learning_rate": 5e-3, "batch_size": 8,
             "lr_scheduler": "constant", "logging_steps": 5, "max_source_length": 64, "max_target_length": 32}
