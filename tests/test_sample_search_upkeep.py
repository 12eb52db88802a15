"""The search index kept in step, checked from the outside: the property of tests/test_sample_search.py
fails on a broken index (so it can catch one); migration m085 builds the index for a database that already
holds samples; every writer of sample text (generation, exam conversion, review, import, bulk actions and
their undo) is found by the next search; writes that change no text leave the index alone; a failed import
leaves neither rows nor postings; concurrent editors lose no update."""
from __future__ import annotations

import threading

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from store import datasets, db, migrate, sample_search
from store import samples as store
from studio.core.errors import Conflict
from studio.data import samples
from tests.test_sample_search import EDITS, ROWS, dataset, indexed, like_the_scan, scan

MUTANT = settings(max_examples=60, deadline=None, database=None, phases=[Phase.generate], derandomize=True,
                  suppress_health_check=list(HealthCheck))


def fails(monkeypatch, attr, broken) -> None:
    """The property with one part of the index broken must fail."""
    monkeypatch.setattr(*attr, broken)

    @MUTANT
    @given(data=st.data(), rows=ROWS, edits=EDITS)
    def prop(data, rows, edits):
        like_the_scan(data, rows, edits)

    with pytest.raises(AssertionError):
        prop()


def test_the_property_fails_without_each_fields_last_character(monkeypatch):
    real = sample_search.grams_sql
    fails(monkeypatch, (sample_search, "grams_sql"),
          lambda where: f"SELECT * FROM ({real(where)}) WHERE length(gram) = 2")


def test_the_property_fails_when_the_index_is_not_lower_cased(monkeypatch):
    real = sample_search.grams_sql
    fails(monkeypatch, (sample_search, "grams_sql"), lambda where: real(where).replace("lower(t)", "t"))


def test_the_property_fails_when_an_edit_is_not_posted(monkeypatch):
    fails(monkeypatch, (sample_search.Step, "changed"), lambda self, where, params=None: None)


def test_lower_maps_each_code_point_to_one_and_is_idempotent():
    """What the index relies on: DuckDB's lower() of a text is the lower() of each code point, and
    string_split(x, '') splits code points (not grapheme clusters)."""
    assert db.scalar("SELECT string_split('e\u0301x👨\u200d👩', '')") == ["e", "\u0301", "x", "👨", "\u200d", "👩"]
    bad = db.scalar("""SELECT count(*) FROM (SELECT chr(i::INTEGER) AS c FROM (
                           SELECT range AS i FROM range(1, 55296) UNION ALL SELECT range FROM range(57344, 1114112)))
                       WHERE length(lower(c)) <> 1 OR lower(lower(c)) <> lower(c)""")
    assert bad == 0


def test_migration_builds_the_index_for_a_database_that_holds_samples(tmp_path, monkeypatch):
    """A database from before m085 with rows in it: the first start builds the index in the migration, so
    the first search folds nothing and finds what the scan finds; the postings are a build's."""
    path = tmp_path / "before.duckdb"
    before = [m for m in migrate.available() if m[0] < 85]
    monkeypatch.setattr(migrate, "available", lambda: before)
    con = duckdb.connect(str(path))
    migrate.migrate(con)
    con.execute("INSERT INTO datasets (name, kind) VALUES ('安规', 'samples')")
    con.execute("""INSERT INTO samples (dataset_id, instruction, input, output)
                   SELECT 1, '第' || i || '题 雷雨天气应穿', CASE WHEN i % 9 = 0 THEN 'İstanbul ABC' ELSE '' END,
                          CASE WHEN i % 7 = 0 THEN '接地线' ELSE '绝缘靴' || i END FROM range(300) t(i)""")
    con.close()
    monkeypatch.undo()
    monkeypatch.setenv("STUDIO_DB", str(path))
    st_ = sample_search.state()
    assert st_.built and st_.id_hi == 300 and st_.base > 0 and st_.tail == 0
    assert db.scalar("SELECT count(*) FROM samples WHERE updated_at > ?", [st_.synced_at]) == 0
    built = db.rows("SELECT gram, id FROM sample_grams ORDER BY gram, id")
    for text in ("接地线", "绝缘靴17", "雷", "题 雷", "istanbul", "abc", "C", "不在", "9题"):
        assert indexed(1, text) == scan(1, text), text
    assert sample_search.state() == st_  # nothing was folded or built again
    with db.transaction() as cur:
        sample_search.rebuild(cur)
    assert db.rows("SELECT gram, id FROM sample_grams ORDER BY gram, id") == built


def in_step() -> bool:
    """Every row is in the index: nothing was written past it."""
    st_ = sample_search.state()
    return db.scalar("SELECT count(*) FROM samples WHERE updated_at > ? OR id > ?", [st_.synced_at, st_.id_hi]) == 0


def test_writes_that_change_no_text_post_nothing_and_leave_nothing_to_fold():
    """A status change, tags, a move, a status edit and their undo: no posting is written, now or by a later
    search (the rows they touch are marked in step in the same transaction, so no search folds them)."""
    did = dataset([(f"第{i}题", "", "绝缘靴" if i % 2 else "接地线") for i in range(20)])
    name = datasets.list_all("samples")[-1]["name"]
    target = datasets.create("目标库", "samples")
    postings = db.scalar("SELECT count(*) FROM sample_grams")
    everything = samples.make_filter()
    for action, params in (("status", {"status": "rejected"}), ("tag", {"tag": "复核"}), ("untag", {"tag": "复核"}),
                           ("move", {"target": "目标库"})):
        n = samples.bulk_count(name, everything, action, params)
        samples.bulk(name, everything, action, params, confirm=n)
        assert in_step(), action
    assert indexed(target, "接地线") == scan(target, "接地线") and len(scan(target, "接地线")) == 10
    assert indexed(did, "接地线") == []
    samples.undo_last(name)  # the move back
    row = store.get(scan(did, "接地线")[0])
    samples.edit(row["id"], row["version"], {"status": "accepted"})
    assert in_step()
    assert indexed(did, "接地线") == scan(did, "接地线") and len(scan(did, "接地线")) == 10
    assert db.scalar("SELECT count(*) FROM sample_grams") == postings


def test_a_failed_import_leaves_neither_rows_nor_postings():
    did = dataset([("雷雨天气", "", "绝缘靴")])
    before = (db.scalar("SELECT count(*) FROM samples"), db.scalar("SELECT count(*) FROM sample_grams"),
              sample_search.state())
    with pytest.raises(RuntimeError):
        with db.transaction() as cur:
            store.insert(did, [{"instruction": f"导入{i}", "output": "验电器"} for i in range(50)], cur=cur)
            raise RuntimeError("the file ended early")
    assert (db.scalar("SELECT count(*) FROM samples"), db.scalar("SELECT count(*) FROM sample_grams"),
            sample_search.state()) == before
    assert indexed(did, "验电器") == []


def test_generated_and_converted_rows_are_found_by_the_next_search(tmp_path):
    """Writers outside store.samples (generation, exam conversion) add rows past the index: the next
    search finds them at once and folds them in."""
    from store import generation
    from studio.data.exams import convert
    from studio.data.exams.importer import import_exam
    from studio.generate.caller import Outcome

    into = datasets.create("生成", "samples")
    with db.transaction() as cur:
        generation.commit_outcome(1, into, Outcome(passage_id=7, samples=[
            {"instruction": "何时应穿绝缘靴", "output": "雷雨天气巡视室外高压设备时", "origin": "generated"}]), cur=cur)
    assert indexed(into, "巡视室外") == scan(into, "巡视室外") and len(scan(into, "巡视室外")) == 1
    bank = tmp_path / "b.csv"
    bank.write_text("题目,选项,答案\n雷雨天气应穿（ ）,\"A. 雨鞋,B. 绝缘靴\",B\n", encoding="utf-8")
    import_exam(bank, "题库")
    convert.convert("题库", to="qa", into="问答")
    qa = datasets.get("问答")["id"]
    assert indexed(qa, "绝缘靴") == scan(qa, "绝缘靴") and len(scan(qa, "绝缘靴")) == 1
    assert in_step()


def test_concurrent_editors_lose_no_update_and_every_edit_is_found():
    """Eight threads edit their own rows while others search; two threads racing on one row version:
    one saves, the other is refused. Every saved text is found, and the index is in step."""
    did = dataset([(f"第{i}题", "", "绝缘靴") for i in range(16)])
    rows = db.rows("SELECT id, version FROM samples WHERE dataset_id = ? ORDER BY id", [did])
    errors: list[BaseException] = []

    def edit(k: int) -> None:
        try:
            for step in range(3):
                r = store.get(rows[k]["id"])
                assert samples.edit(r["id"], r["version"], {"output": f"编辑{k}号第{step}次"})
                indexed(did, f"编辑{(k + 1) % 8}号")
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=edit, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k in range(8):
        assert indexed(did, f"编辑{k}号第2次") == [rows[k]["id"]]
    racing = rows[10]
    won: list[str] = []

    def race(text: str) -> None:
        try:
            samples.edit(racing["id"], racing["version"], {"output": text})
            won.append(text)
        except Conflict:
            pass

    racers = [threading.Thread(target=race, args=(t,)) for t in ("验电器", "接地线")]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    assert len(won) == 1 and store.get(racing["id"])["output"] == won[0]
    assert indexed(did, won[0]) == [racing["id"]] and indexed(did, {"验电器": "接地线"}.get(won[0], "验电器")) == []
    assert in_step()
