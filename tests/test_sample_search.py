"""The samples' n-gram search index: the same rows as DuckDB's linear scan for any query (hypothesis, on
Chinese and English text, one-character queries, queries in no row, common grams), kept in step by every
write (edit, add, import, bulk actions, delete, undo, and writers that bypass it), built lazily by the
first search; bulk actions select their rows once; the Datasets page searches through it in Chinese."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store import datasets, db, sample_search
from store import samples as store
from studio.core.errors import Conflict
from studio.data import samples

ALPHABET = "雷雨天气绝缘靴接地线高压设备避针第题，。Abcİİ é"  # CJK, Latin of both cases, İ (lower: 2 chars in Python)
TEXT = st.text(alphabet=ALPHABET, max_size=14)
_names = itertools.count()


def scan(did: int, text: str) -> list[int]:
    """What a linear scan returns: the filter alone, no index."""
    sql, params = store.where(did, store.SampleFilter(search=text))
    return [r["id"] for r in db.rows(f"SELECT id FROM samples WHERE {sql} ORDER BY id", params)]


def indexed(did: int, text: str, *, descending: bool = False, limit: int = 10_000) -> list[int]:
    f = store.SampleFilter(search=text)
    return [r["id"] for r in store.page(did, f, descending=descending, limit=limit)]


def dataset(rows: list[tuple[str, str, str]]) -> int:
    did = datasets.create(f"h{next(_names)}", "samples")
    if rows:
        with db.transaction() as cur:
            store.insert(did, [{"instruction": a, "input": b, "output": c} for a, b, c in rows], cur=cur)
    return did


def assert_same(did: int, text: str) -> None:
    want = scan(did, text)
    assert indexed(did, text) == want, text
    assert indexed(did, text, descending=True) == want[::-1], text
    assert store.count(did, store.SampleFilter(search=text)) == len(want), text
    assert indexed(did, text, limit=3) == want[:3]  # a short page walks the candidates in steps


def queries(rows) -> st.SearchStrategy[str]:
    texts = [t for r in rows for t in r if t]
    pieces = st.sampled_from(texts).flatmap(
        lambda t: st.tuples(st.integers(0, len(t)), st.integers(1, 4)).map(lambda ij: t[ij[0]:ij[0] + ij[1]]))
    return st.one_of(TEXT.filter(bool), pieces.filter(bool), st.sampled_from(list(ALPHABET.strip())),
                     st.just("不在任何一行"), st.just("ABC")) if texts else TEXT.filter(bool)


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
ROWS = st.lists(st.tuples(TEXT, TEXT, TEXT), max_size=25)
EDITS = st.lists(st.tuples(st.integers(0, 24), st.sampled_from(store.TEXT_FIELDS), TEXT), max_size=4)


@SETTINGS
@given(data=st.data(), rows=ROWS, edits=EDITS)
def test_index_returns_what_the_linear_scan_returns(data, rows, edits):
    like_the_scan(data, rows, edits)


def like_the_scan(data, rows, edits) -> None:
    """The property (tests/test_sample_search_upkeep.py checks that it fails on a broken index)."""
    did = dataset(rows)
    for _i in range(2):
        assert_same(did, data.draw(queries(rows)))
    ids = [r["id"] for r in db.rows("SELECT id FROM samples WHERE dataset_id = ? ORDER BY id", [did])]
    for pos, column, text in edits:  # edits through the studio, then one that bypasses it
        if ids:
            row = store.get(ids[pos % len(ids)])
            store.update(row["id"], row["version"], {column: text})
            rows.append(("", "", text))
    if ids and edits:
        db.cursor().execute(f"UPDATE samples SET {edits[0][1]} = ?, updated_at = current_timestamp WHERE id = ?",
                            [edits[-1][2] + "雷", ids[0]])
        rows.append(("", "", edits[-1][2] + "雷"))
    for _i in range(3):
        assert_same(did, data.draw(queries(rows)))


@pytest.mark.parametrize("common_min,share,sample_rows", [(30, 0.0, 1_000_000), (30, 0.0, 30)])
def test_common_grams_fall_back_to_the_scan_and_stay_exact(monkeypatch, common_min, share, sample_rows):
    """Grams in most rows keep no postings (counted on all rows, or estimated from a sample): searches on
    them scan, mixed ones intersect the rare lists; the rows are still the scan's."""
    monkeypatch.setattr(sample_search, "COMMON_MIN", common_min)
    monkeypatch.setattr(sample_search, "COMMON_SHARE", share)
    monkeypatch.setattr(sample_search, "SAMPLE_ROWS", sample_rows)
    rows = [(f"第{i}题 雷雨天气应穿绝缘靴", "接地线" if i % 7 == 0 else "", f"答案{i % 3}") for i in range(60)]
    did = dataset(rows)
    with db.transaction() as cur:  # the common grams are told at a build
        sample_search.rebuild(cur)
    assert db.scalar("SELECT count(*) FROM sample_gram_common") > 0
    for text in ("雷雨", "雷", "雨天气应穿", "接地线", "接", "题 雷", "答案1", "第5", "不在", "靴接", "x"):
        assert_same(did, text)
    assert sample_search.plan("雷雨天气").scan and not sample_search.plan("接地线").scan


def test_rows_written_past_the_index_are_found_at_once_then_folded_in():
    did = datasets.create("安规", "samples")
    assert sample_search.state().built  # built by the migration (here on no rows)
    db.cursor().execute("""INSERT INTO samples (dataset_id, instruction, output)
        SELECT ?, '第' || i || '题 雷雨天气', '绝缘靴' || i FROM range(200) t(i)""", [did])
    assert sample_search.state().id_hi == 0  # rows written by plain SQL are past the index
    assert indexed(did, "绝缘靴17") == scan(did, "绝缘靴17") == [18, *range(171, 181)]
    st_ = sample_search.state()
    assert st_.id_hi == 200 and st_.tail > 0  # the first search folded them in
    # a writer that bypasses the index (as review edits do) is found at once, then folded in
    db.cursor().execute("UPDATE samples SET output = '橡胶手套', updated_at = current_timestamp WHERE id = 5")
    db.cursor().execute("INSERT INTO samples (dataset_id, instruction, output) VALUES (?, '新题', '验电器')", [did])
    assert indexed(did, "橡胶手套") == [5] and indexed(did, "验电器") == [201]
    assert db.scalar("SELECT count(*) FROM sample_grams WHERE gram = '验电' AND id = 201") == 1


def test_review_edits_reach_the_search():
    from store import review

    did = dataset([("雷雨天气应穿什么", "", "绝缘靴")])
    sample_search.ensure()
    sid = db.scalar("SELECT id FROM samples WHERE dataset_id = ?", [did])
    with db.transaction() as cur:
        review.decide(sid, 1, "edit-accept", "carol", edits={"output": "绝缘手套和绝缘靴"}, cur=cur)
    assert indexed(did, "绝缘手套") == [sid]


def test_every_studio_write_keeps_the_index_in_step():
    """Edit, add, import, bulk replace, copy, delete and undo: the new text is posted in the same transaction
    (nothing is left for a later search to fold), and search results stay those of the scan."""
    samples_of = datasets.create("源", "samples")
    db.cursor().execute("INSERT INTO samples (dataset_id, instruction, output) VALUES (?, '雷雨天气', '绝缘靴')",
                        [samples_of])
    sample_search.ensure()
    datasets.create("目标", "samples")

    def in_step(text: str, want: int) -> None:
        st_ = sample_search.state()
        assert db.scalar("SELECT count(*) FROM samples WHERE updated_at > ? OR id > ?", [st_.synced_at, st_.id_hi]) == 0
        assert samples.count("源", samples.make_filter(search=text)) + \
            samples.count("目标", samples.make_filter(search=text)) == want

    row = samples.page("源")["rows"][0]
    samples.edit(row["id"], row["version"], {"output": "绝缘手套"})
    in_step("绝缘手套", 1)
    samples.add("源", {"instruction": "验电", "output": "验电器"})
    in_step("验电器", 1)
    with db.transaction() as cur:
        store.insert(samples_of, [{"instruction": f"导入{i}", "output": "接地线"} for i in range(30)], cur=cur)
    in_step("接地线", 30)
    everything = samples.make_filter()
    samples.bulk("源", everything, "replace", {"find": "接地线", "replace": "接地刀闸"},
                 confirm=samples.bulk_count("源", everything, "replace", {"find": "接地线"}))
    in_step("接地刀闸", 30)
    samples.bulk("源", samples.make_filter(search="刀闸"), "copy", {"target": "目标"}, confirm=30)
    in_step("刀闸", 60)
    samples.undo_last("源")
    in_step("刀闸", 30)
    samples.bulk("源", samples.make_filter(search="刀闸"), "delete", {}, confirm=30)
    in_step("刀闸", 0)
    with db.transaction() as cur:  # a new build forgets the deleted rows' postings ...
        sample_search.rebuild(cur)
    samples.undo_last("源")        # ... so the undo posts the rows it brings back
    in_step("刀闸", 30)
    assert indexed(samples_of, "刀闸") == scan(samples_of, "刀闸")


def test_an_undone_delete_is_found_while_the_index_is_behind(monkeypatch):
    """Rows an undo brings back keep their old timestamps: the undo posts them even when it leaves other
    pending rows to the next search."""
    did = dataset([(f"第{i}题", "", "接地线") for i in range(5)])
    name = datasets.list_all("samples")[-1]["name"]
    sample_search.ensure()
    samples.bulk(name, samples.make_filter(), "delete", {}, confirm=5)
    with db.transaction() as cur:
        sample_search.rebuild(cur)  # the deleted rows' postings are gone
    monkeypatch.setattr(sample_search, "FOLD_MAX", 0)
    monkeypatch.setattr(sample_search, "REBUILD_SHARE", 1.0)
    db.cursor().execute("INSERT INTO samples (dataset_id, instruction, output) VALUES (?, '外部', '接地线')", [did])
    samples.undo_last(name)  # one row pending: more than FOLD_MAX, so this write does not fold it
    assert sample_search.state().id_hi < db.scalar("SELECT max(id) FROM samples")
    assert indexed(did, "接地线") == scan(did, "接地线") and len(scan(did, "接地线")) == 6


def test_a_refused_bulk_action_leaves_rows_and_index_as_they_were():
    did = dataset([(f"第{i}题", "", "绝缘靴") for i in range(10)])
    name = datasets.list_all("samples")[-1]["name"]
    sample_search.ensure()
    before = (db.rows("SELECT * FROM samples ORDER BY id"), db.scalar("SELECT count(*) FROM sample_grams"))
    f = samples.make_filter()
    with pytest.raises(Conflict, match="not the 3 you confirmed"):
        samples.bulk(name, f, "replace", {"find": "绝缘", "replace": "橡胶"}, confirm=3)
    assert (db.rows("SELECT * FROM samples ORDER BY id"), db.scalar("SELECT count(*) FROM sample_grams")) == before
    assert scan(did, "橡胶") == []


def test_bulk_selects_its_rows_once_and_undo_restores_what_it_changed():
    """The backup holds only what the action changes; undo puts back exactly that and skips later edits."""
    did = dataset([(f"第{i}题", "", "绝缘靴") for i in range(6)])
    name = datasets.list_all("samples")[-1]["name"]
    f = samples.make_filter(search="绝缘")
    done = samples.bulk(name, f, "status", {"status": "rejected"}, confirm=6)
    cols = [r[0] for r in db.cursor().execute(f"DESCRIBE _bulk_undo_{done['bulk_id']}").fetchall()]
    assert cols == ["id", "version", "status"]
    row = samples.page(name, samples.make_filter(search="第2题"))["rows"][0]
    samples.edit(row["id"], row["version"], {"status": "accepted"})
    assert samples.undo_last(name)["skipped"] == 1
    assert store.facets(did)["status"] == {"draft": 5, "accepted": 1}


def test_the_datasets_counts_follow_every_change():
    """The per-dataset counts and a filter's total are kept between reruns and counted again after any
    change (an edit, a delete by plain SQL)."""
    dataset([("雷雨", "", "绝缘靴"), ("高压", "", "验电器")])
    name = datasets.list_all("samples")[-1]["name"]
    first = next(d for d in samples.samples_datasets() if d["name"] == name)
    assert first["by_status"] == {"draft": 2}
    drafts = samples.make_filter(status=["draft"])
    assert samples.count(name, drafts) == 2
    row = samples.page(name)["rows"][0]
    samples.edit(row["id"], row["version"], {"status": "accepted"})
    again = next(d for d in samples.samples_datasets() if d["name"] == name)
    assert again["by_status"] == {"accepted": 1, "draft": 1}
    assert samples.count(name, drafts) == 1
    db.cursor().execute("DELETE FROM samples WHERE id = ?", [row["id"]])
    assert next(d for d in samples.samples_datasets() if d["name"] == name)["samples"] == 1


def test_datasets_page_searches_through_the_index_in_chinese(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    monkeypatch.setenv("STUDIO_LANG", "zh")
    did = datasets.create("安规问答", "samples")
    db.cursor().execute("""INSERT INTO samples (dataset_id, instruction, output, status)
        SELECT ?, '第' || i || '题 雷雨天气应穿什么', CASE WHEN i % 10 = 3 THEN '接地线' ELSE '绝缘靴' END,
               'accepted' FROM range(100) t(i)""", [did])
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/datasets.py").run()
    assert not at.exception, at.exception
    search = next(w for w in at.text_input if w.label == "搜索")
    search.input("接地线").run()
    assert not at.exception, at.exception
    assert sample_search.state().built  # the first search built the index
    shown = " ".join(c.value for c in at.caption)
    assert "共 10 行符合 · 第 1 / 1 页" in shown, shown
