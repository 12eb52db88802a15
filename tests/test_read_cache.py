"""The read cache behind db.rows / one / scalar: a page's repeated reads come from memory, and nobody ever
reads data older than a write that finished before the read began."""
from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store import datasets, db, read_cache, samples
from studio.core.errors import Conflict


def table() -> None:
    db.cursor().execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v INTEGER, tags VARCHAR[])")


def test_a_repeated_read_is_kept_and_a_write_drops_it(studio_env):
    table()
    db.cursor().execute("INSERT INTO t VALUES (1, 10, ['a'])")
    calls = []
    first = read_cache.rows(db._key(None), "SELECT v FROM t", None, lambda: calls.append(1) or [{"v": 1}])
    again = read_cache.rows(db._key(None), "SELECT v FROM t", None, lambda: calls.append(1) or [{"v": 2}])
    assert first == again == [{"v": 1}] and len(calls) == 1   # the second read came from memory
    db.cursor().execute("UPDATE t SET v = 11 WHERE k = 1")
    assert read_cache.rows(db._key(None), "SELECT v FROM t", None, lambda: [{"v": 3}]) == [{"v": 3}]
    assert db.scalar("SELECT v FROM t WHERE k = ?", [1]) == 11


def test_a_caller_changing_its_rows_changes_nobody_elses(studio_env):
    table()
    db.cursor().execute("INSERT INTO t VALUES (1, 10, ['a', 'b'])")
    mine = db.rows("SELECT * FROM t")
    mine[0]["v"] = 99
    mine[0]["tags"].append("mine")
    assert db.rows("SELECT * FROM t") == [{"k": 1, "v": 10, "tags": ["a", "b"]}]


def test_reads_inside_a_transaction_are_not_kept(studio_env):
    table()
    with pytest.raises(RuntimeError):
        with db.transaction() as cur:
            cur.execute("INSERT INTO t VALUES (2, 20, [])")
            assert db.scalar("SELECT count(*) FROM t") == 1   # this thread sees its own uncommitted row
            raise RuntimeError("abandoned")
    assert db.scalar("SELECT count(*) FROM t") == 0          # rolled back, and not remembered


def test_an_uncommitted_row_is_never_shown_to_another_thread(studio_env):
    table()
    inside, done = threading.Event(), threading.Event()
    seen = []

    def writer():
        try:
            with db.transaction() as cur:
                cur.execute("INSERT INTO t VALUES (3, 30, [])")
                inside.set()
                done.wait(10)
                raise RuntimeError("abandoned")
        except RuntimeError:
            pass

    w = threading.Thread(target=writer)
    w.start()
    inside.wait(10)
    seen.append(db.scalar("SELECT count(*) FROM t"))
    done.set()
    w.join()
    seen.append(db.scalar("SELECT count(*) FROM t"))
    assert seen == [0, 0]


def test_the_clock_and_frames_are_always_read_afresh():
    for sql in ("SELECT current_timestamp", "SELECT now()", "SELECT localtimestamp", "SELECT random()",
                "SELECT transaction_timestamp()", "SELECT * FROM _new_samples",
                "SELECT * FROM read_csv(?)", "INSERT INTO t VALUES (1)", "UPDATE t SET v = 1 RETURNING v",
                "WITH x AS (SELECT 1) DELETE FROM t", "SET threads = 1"):
        assert not read_cache.cacheable(sql), sql
    assert read_cache.cacheable("SELECT dataset_id, count(*) FROM samples GROUP BY 1")


def test_one_and_true_are_different_parameters(studio_env):
    assert db.scalar("SELECT typeof(?)", [1]) == "INTEGER"
    assert db.scalar("SELECT typeof(?)", [True]) == "BOOLEAN"
    assert db.scalar("SELECT typeof(?)", [1.0]) == "DOUBLE"


def test_a_replaced_database_file_is_read_afresh(studio_env, tmp_path):
    table()
    db.cursor().execute("INSERT INTO t VALUES (1, 10, [])")
    assert db.scalar("SELECT v FROM t") == 10
    db.close()
    (tmp_path / "studio.duckdb").unlink()
    table()
    assert db.scalar("SELECT count(*) FROM t") == 0


def test_an_edit_through_the_store_shows_at_once(studio_env):
    did = datasets.create("安规", kind="samples")
    row = samples.add_one(did, {"instruction": "问", "output": "答"})
    assert samples.get(row["id"])["output"] == "答"
    samples.update(row["id"], row["version"], {"output": "新答"})
    assert samples.get(row["id"])["output"] == "新答"
    with pytest.raises(Conflict):
        datasets.create("安规", kind="samples")
    assert [d["name"] for d in datasets.list_all()] == ["安规"]


def test_many_threads_never_read_older_than_their_own_write(studio_env):
    """Writers add one to a counter and then read it; readers read all the time. Every writer reads at
    least its own value, and the final read is the total (no lost update, nothing stale)."""
    table()
    db.cursor().execute("INSERT INTO t VALUES (1, 0, [])")
    stale, errors = [], []
    stop = threading.Event()

    def write(n):
        try:
            for _i in range(n):
                with db.transaction() as cur:
                    mine = cur.execute("UPDATE t SET v = v + 1 WHERE k = 1 RETURNING v").fetchone()[0]
                if db.scalar("SELECT v FROM t WHERE k = 1") < mine:
                    stale.append(mine)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    def read():
        while not stop.is_set():
            db.rows("SELECT v FROM t WHERE k = 1")

    readers = [threading.Thread(target=read) for _i in range(3)]
    writers = [threading.Thread(target=write, args=(25,)) for _i in range(4)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == [] and stale == []
    assert db.scalar("SELECT v FROM t WHERE k = 1") == 100


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["insert", "update", "delete", "read"]), st.integers(0, 5),
                          st.integers(-3, 3)), max_size=30))
def test_cached_reads_agree_with_the_database(steps):
    """Any sequence of writes and reads: every read through the cache equals the same read straight on a
    cursor (property-based)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.duckdb"
        db.cursor(path).execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER, tags VARCHAR[])")
        try:
            for op, k, v in steps:
                if op == "insert":
                    db.cursor(path).execute("INSERT INTO t VALUES (?, ?, []) ON CONFLICT DO NOTHING", [k, v])
                elif op == "update":
                    db.cursor(path).execute("UPDATE t SET v = v + ? WHERE k = ?", [v, k])
                elif op == "delete":
                    db.cursor(path).execute("DELETE FROM t WHERE k = ?", [k])
                sql = "SELECT k, v FROM t WHERE v >= ? ORDER BY k"
                direct = db._rows(db.cursor(path), sql, [v])
                assert db.rows(sql, [v], path=path) == direct
                assert db.scalar("SELECT sum(v) FROM t", path=path) == db._scalar(db.cursor(path),
                                                                                "SELECT sum(v) FROM t", None)
        finally:
            db.close(path)


def test_what_is_kept_stays_bounded(studio_env, monkeypatch):
    monkeypatch.setattr(read_cache, "MAX_KEPT_ROWS", 50)
    table()
    db.cursor().execute("INSERT INTO t SELECT i, i, [] FROM range(30) r(i)")
    for lo in range(10):
        assert len(db.rows("SELECT k FROM t WHERE k >= ?", [lo])) == 30 - lo
    kept = read_cache._kept[db._key(None)]
    assert kept[2] == 30 and len(kept[1]) == 1   # the first 30 rows kept; 30 + 29 would pass 50: read through


def test_forget_drops_everything_and_reads_stay_right(studio_env):
    table()
    db.cursor().execute("INSERT INTO t VALUES (1, 10, [])")
    assert db.scalar("SELECT v FROM t") == 10 and read_cache._kept
    read_cache.forget()
    assert not read_cache._kept and db.scalar("SELECT v FROM t") == 10
