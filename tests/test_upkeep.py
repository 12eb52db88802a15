"""Checkpoints off the write path (store/upkeep.py) and ids numbered in SQL (db.reserve_ids): a big
change commits without folding the log into the file, the background thread folds it in once the
database is quiet, and nothing is lost on the way, across a close and a reopen."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from store import datasets, db, samples, upkeep
from studio.data import samples as sample_tools
from studio.data.exams.convert import convert
from studio.data.exams.importer import ImportOptions, import_exam


def _big_change(dataset_id: int, rows: int) -> None:
    """Enough changed rows to leave a few MB in the write-ahead log."""
    with db.transaction() as cur:
        cur.execute("""INSERT INTO samples (dataset_id, instruction, output, status, origin)
                       SELECT ?, '第' || i || '题：高压设备接地时应注意什么？', '穿绝缘靴，戴绝缘手套。' || i, 'pending', 'imported'
                       FROM range(?) t(i)""", [dataset_id, rows])


def _wal(path: Path) -> int:
    return upkeep.log_size(str(path.resolve()))


def test_a_large_commit_leaves_its_log_and_the_quiet_database_is_checkpointed(studio_env, monkeypatch):
    monkeypatch.setattr(upkeep, "SMALL_LOG", 64 * 1024)
    monkeypatch.setattr(upkeep, "QUIET_S", 0.5)
    monkeypatch.setattr(upkeep, "POLL_S", 0.1)
    file = db.db_path()
    did = datasets.get_or_create("大表", "samples")
    _big_change(did, 50_000)
    with db.transaction() as cur:   # a bulk change of every row: DuckDB as it comes checkpoints at this commit
        cur.execute("UPDATE samples SET status = 'accepted', version = version + 1 WHERE dataset_id = ?", [did])
    assert _wal(file) > 64 * 1024      # the commit did not fold the log in ...
    _wait_for_checkpoint(file)         # ... the background thread did, once the database was quiet
    db.close_all()
    assert db.scalar("SELECT count(*) FROM samples WHERE dataset_id = ? AND status = 'accepted'", [did]) == 50_000
    _big_change(did, 20_000)           # reopened: watched again
    assert _wal(file) > 64 * 1024
    _wait_for_checkpoint(file)


def _wait_for_checkpoint(file: Path) -> None:
    deadline = time.monotonic() + 20
    while _wal(file) > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _wal(file) == 0


def test_a_busy_database_is_not_checkpointed_until_quiet_or_the_log_is_large():
    assert not upkeep.due(upkeep.SMALL_LOG - 1, 3600)
    assert not upkeep.due(upkeep.SMALL_LOG, upkeep.QUIET_S / 2)
    assert upkeep.due(upkeep.SMALL_LOG, upkeep.QUIET_S)
    assert upkeep.due(upkeep.LARGE_LOG, 0)


def test_closing_while_a_checkpoint_may_run_loses_nothing(studio_env, monkeypatch):
    monkeypatch.setattr(upkeep, "SMALL_LOG", 1)
    monkeypatch.setattr(upkeep, "QUIET_S", 0.0)
    monkeypatch.setattr(upkeep, "POLL_S", 0.01)
    did = datasets.get_or_create("反复", "samples")
    for k in range(8):   # writes, closes and reopens racing the checkpoint thread
        _big_change(did, 2_000)
        time.sleep(0.02 * (k % 3))
        db.close_all()
    assert db.scalar("SELECT count(*) FROM samples WHERE dataset_id = ?", [did]) == 16_000


def test_a_bulk_change_and_its_undo_survive_a_reopen(studio_env):
    did = datasets.get_or_create("撤销", "samples")
    _big_change(did, 20_000)
    f = sample_tools.make_filter(origin=["imported"])
    n = sample_tools.bulk_count("撤销", f, "status", {"status": "rejected"})
    sample_tools.bulk("撤销", f, "status", {"status": "rejected"}, confirm=n)
    db.close_all()
    assert samples.count(did, sample_tools.make_filter(status=["rejected"])) == 20_000
    assert sample_tools.undo_last("撤销")["restored"] == 20_000
    db.close_all()
    assert samples.count(did, sample_tools.make_filter(status=["pending"])) == 20_000


def test_imported_questions_and_their_pairs_are_numbered_in_file_order(studio_env, tmp_path):
    bank = tmp_path / "题库.csv"
    lines = ["题型,题目,选项,答案"] + [f'单选题,第{i}题（　　）,"A. 甲{i},B. 乙{i}",{"A" if i % 7 else "E"}' for i in range(1, 301)]
    bank.write_text("\n".join(lines) + "\n", encoding="utf-8")
    did = datasets.get_or_create("先有", "samples")
    before = samples.add_one(did, {"instruction": "先有的一条", "output": "好"})["id"]
    summary = import_exam(bank, "编号", ImportOptions(skip_invalid=True))
    assert summary["imported"] == 300 - 300 // 7 and len(summary["errors"]) == 300 // 7
    got = db.rows("SELECT id, question, source_row FROM exam_questions ORDER BY id")
    assert [r["source_row"] for r in got] == sorted(r["source_row"] for r in got)   # ids follow the file
    assert len({r["id"] for r in got}) == len(got)
    converted = convert("编号", to="qa", into="编号-qa")
    pairs = db.rows("SELECT id, question_id FROM samples WHERE dataset_id <> ? ORDER BY id", [did])
    assert len(pairs) == converted["samples"] == summary["imported"]
    assert [p["question_id"] for p in pairs] == [r["id"] for r in got]               # pairs in question order
    assert min(p["id"] for p in pairs) > before
    after = samples.add_one(did, {"instruction": "后来的一条", "output": "好"})["id"]
    assert after > max(p["id"] for p in pairs)                                        # the sequence moved on
    with pytest.raises(RuntimeError):   # ids taken by an import that fails are never given twice
        with db.transaction() as cur:
            db.reserve_ids("seq_samples", 10, cur=cur)
            raise RuntimeError("abandoned")
    convert("编号", to="qa", into="编号-qa")      # converting again replaces the pairs, with new ids
    samples.add_one(did, {"instruction": "再一条", "output": "好"})
    ids = [r["id"] for r in db.rows("SELECT id FROM samples")]
    assert len(ids) == len(set(ids)) == 3 + summary["imported"]
