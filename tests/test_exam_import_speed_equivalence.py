"""The exam import made fast (one parse statement per sheet, a CSV numbered by its place in the table, no
sort before landing) reads, orders, refuses and reports exactly as a user expects, on banks large enough
to take DuckDB's fast path (over ``FAST_PATH_BYTES``) and read in parallel."""
from __future__ import annotations

import csv
import hashlib

import duckdb
import pytest

from benchmarks.bench_exam_import import generate, invalid_rows
from store import db
from store import exam_parse as xp
from studio.core import exam_rules as rules
from studio.core.errors import InputError, WorkFailed
from studio.data.exams import read
from studio.data.exams.convert import convert
from studio.data.exams.importer import ImportOptions, import_exam, parse_table, preview

ROWS = 30_000   # about 6 MB: over FAST_PATH_BYTES, so DuckDB reads the file itself


@pytest.fixture
def bank(tmp_path):
    f = tmp_path / "bank.csv"
    generate(f, ROWS)
    assert f.stat().st_size > read.FAST_PATH_BYTES and read.read(f).sheets[0].csv_path
    return f


@pytest.fixture
def four_threads():
    """Reading and parsing on more threads than the machine's two: the file's order must still hold."""
    db.cursor().execute("SET threads = 4")
    yield
    db.cursor().execute("RESET threads")


def test_a_large_bank_lands_in_file_order_and_names_every_invalid_row(bank, four_threads):
    s = import_exam(bank, "big", ImportOptions(skip_invalid=True))
    assert [e["row"] for e in s["errors"]] == invalid_rows(ROWS)
    assert all(e["reason"] == "answer label E is not among the options ABCD" for e in s["errors"])
    assert s["imported"] == ROWS - len(invalid_rows(ROWS))
    got = db.rows("SELECT source_row, question FROM exam_questions ORDER BY id")
    rows = [r["source_row"] for r in got]
    assert rows == sorted(rows) and len(set(rows)) == len(rows)          # ids follow the file
    assert all(r["question"].startswith(f"第{r['source_row'] - 2}题") for r in got)   # each row is its own line
    assert convert("big", to="qa", into="big-qa")["samples"] == s["imported"]
    pairs = db.rows("SELECT s.source_row, s.instruction FROM samples s ORDER BY s.id")
    assert [p["source_row"] for p in pairs] == rows                        # pairs in question order too
    assert pairs[0]["instruction"].endswith("室内人员应距离故障点___m以外，室外人员应距离故障点8m以外。")


def test_nothing_lands_when_a_large_bank_has_invalid_rows(bank):
    with pytest.raises(WorkFailed, match=r"^bank.csv: 30 invalid rows of 30000; nothing imported") as info:
        import_exam(bank, "big")
    assert "bank.csv" in str(info.value) and "row 5: answer label E is not among the options ABCD" in str(info.value)
    assert [e["row"] for e in info.value.summary["errors"]] == invalid_rows(ROWS)
    assert db.scalar("SELECT count(*) FROM exam_questions") == 0


def test_the_fast_path_reads_rows_as_the_in_memory_path_does(bank):
    """DuckDB's reading of the file and Python's reading of the same rows give the same questions."""
    fast = preview(bank, limit=300)
    with open(bank, encoding="utf-8", newline="") as f:
        head = [r for _unused, r in zip(range(301), csv.reader(f))]
    slow = parse_table(head, limit=300)
    keys = ("row", "type", "question", "options", "answer_labels", "answer_text", "subject", "error")
    assert [{k: r[k] for k in keys} for r in fast.rows] == [{k: r[k] for k in keys} for r in slow.rows]
    assert fast.sheets[0].rows == ROWS and fast.total == ROWS


def test_a_large_bank_with_options_on_lines_in_one_cell_reads_as_a_small_one(tmp_path):
    """DuckDB's parallel reader refuses a file whose quoted cells hold line breaks (with short rows padded):
    the importer reads it on one thread rather than refusing it, row for row as the in-memory path does."""
    f = tmp_path / "lines.csv"
    generate(f, ROWS)
    with open(f, encoding="utf-8", newline="") as src:
        rows = list(csv.reader(src))
    for r in rows[1:]:
        r[3] = r[3].replace(",B. ", "\nB. ").replace(",C. ", "\r\nC. ").replace(",D. ", "\nD. ")
    rows[7] = rows[7][:4]   # a short row: padded
    with open(f, "w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    assert f.stat().st_size > read.FAST_PATH_BYTES and read.read(f).sheets[0].csv_path
    fast = preview(f, limit=ROWS)
    slow = parse_table(rows, limit=ROWS)
    keys = ("row", "type", "question", "options", "answer_labels", "answer_text", "subject", "error")
    assert [{k: r[k] for k in keys} for r in fast.rows] == [{k: r[k] for k in keys} for r in slow.rows]
    assert fast.errors == slow.errors and len(fast.rows) == ROWS
    assert fast.rows[0]["options"].startswith("A. ") and " | B. " in fast.rows[0]["options"]
    s = import_exam(f, "lines", ImportOptions(skip_invalid=True))
    assert s["imported"] == ROWS - len(invalid_rows(ROWS)) - 1   # row 8 lost its answer column: refused


def test_blank_rows_keep_the_row_numbers_a_spreadsheet_shows(tmp_path):
    f = tmp_path / "gaps.csv"
    generate(f, ROWS)
    lines = f.read_text(encoding="utf-8").splitlines()
    lines[10:10] = [",,,,,", ",,  ,,　,", ",,,,,"]   # three rows without text before the 10th question
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    p = preview(f, limit=20)
    assert [e["row"] for e in p.errors][:2] == [5, invalid_rows(ROWS)[1] + 3]
    assert [r["row"] for r in p.rows][8:11] == [10, 14, 15]
    assert p.rows[9]["question"].startswith("第9题")


def test_type_codes_and_one_two_judge_answers_are_read_with_the_files_own_convention(tmp_path):
    """A file answering with type codes (1/2/3) and judge answers 1/2 needs per-file readings the parse
    learns from its own counts: the rows are read again with them."""
    f = tmp_path / "coded.csv"
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT CASE WHEN i % 3 = 0 THEN '1' WHEN i % 3 = 1 THEN '2' ELSE '3' END AS 题型,
                               '第' || i || '题：电气设备的安全距离说法' || repeat('，内容', 20) AS 题目,
                               CASE WHEN i % 3 = 2 THEN 'A. 正确,B. 错误' ELSE 'A. 甲,B. 乙,C. 丙,D. 丁' END AS 选项,
                               CASE i % 3 WHEN 0 THEN 'B' WHEN 1 THEN 'A,C' ELSE CASE WHEN i % 2 = 0 THEN '1' ELSE '2' END END AS 答案
                        FROM range({ROWS}) t(i)) TO '{f}' (HEADER)""")
    con.close()
    s = import_exam(f, "coded")
    assert s["by_type"] == {"single": 10_000, "multi": 10_000, "judge": 10_000, "blank": 0, "open": 0}
    judged = db.rows("SELECT source_row, answer_text FROM exam_questions WHERE qtype = 'judge' ORDER BY id LIMIT 2")
    assert [(j["source_row"], j["answer_text"]) for j in judged] == [(4, "正确"), (7, "错误")]   # 1 = 正确, 2 = 错误
    p = s["_preview"]
    assert p.type_codes == {"1": "single", "2": "multi", "3": "judge"}


def test_a_huge_cell_on_the_fast_path_is_refused_naming_its_row(bank):
    lines = bank.read_text(encoding="utf-8").splitlines()
    lines[100] = lines[100].replace("来自安规", "电" * 150_000, 1)
    bank.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"a cell of 150,\d{3} characters \(over 100,000\)") as info:
        import_exam(bank, "big", ImportOptions(skip_invalid=True))
    assert info.value.row == 101 and "bank.csv" in str(info.value)
    assert db.scalar("SELECT count(*) FROM exam_questions") == 0


def test_repeated_rows_of_a_large_bank_are_reported_as_duplicates(tmp_path):
    f = tmp_path / "dup.csv"
    generate(f, ROWS)
    lines = f.read_text(encoding="utf-8").splitlines()
    f.write_text("\n".join(lines + [lines[1]]) + "\n", encoding="utf-8")
    p = preview(f)
    assert p.duplicates == [{"sheet": "", "row": ROWS + 2, "reason": "duplicate of row 2", "existing": None}]


def test_pairs_follow_the_questions_after_an_edit(tmp_path):
    """An edited question moves in DuckDB's table (a list column is updated as a delete and an insert): a
    conversion still writes the pairs in question order, as before the speed work."""
    from store import datasets
    from store import exams as sx

    f = tmp_path / "b.csv"
    f.write_text("题目,选项,答案\n" + "".join(f"第{i}题应穿（ ）,\"A. 雨鞋,B. 绝缘靴\",B\n" for i in range(1, 6)),
                 encoding="utf-8")
    import_exam(f, "bank")
    first = sx.questions(datasets.get("bank")["id"])[0]
    assert sx.update_question(first["id"], first["version"], {"answer_labels": ["A"], "answer_text": "雨鞋"})
    convert("bank", to="qa", into="pairs")
    got = db.rows("SELECT question_id, output FROM samples ORDER BY id")
    assert [g["question_id"] for g in got] == sorted(g["question_id"] for g in got)
    assert got[0] == {"question_id": first["id"], "output": "雨鞋"}


def test_the_file_digest_is_kept_with_the_import(bank):
    import_exam(bank, "big", ImportOptions(skip_invalid=True))
    assert db.scalar("SELECT source_sha256 FROM imports") == hashlib.sha256(bank.read_bytes()).hexdigest()


def test_the_parse_plans_no_join(bank):
    """A join would give up the rows' order, which the landing keeps instead of sorting a million rows:
    membership tests are written so that DuckDB plans none."""
    plans = []
    real = xp.parse_sheets

    def keep(cur, sheets, decisions):
        real(cur, sheets, decisions)
        plans.append(xp.plan(cur, sheets[0], decisions))

    xp.parse_sheets = keep
    try:
        preview(bank)
    finally:
        xp.parse_sheets = real
    assert plans and "JOIN" not in plans[0].upper()


@pytest.mark.parametrize("text", ["", " ", "\u3000", " \t\u3000\u00a0", "\u3000正确", "正确 ", "x", None])
def test_membership_and_emptiness_in_sql_agree_with_python(text):
    question_empty = next(r for r in rules.RULES if r.code == "question_empty")
    got = db.one(f"SELECT {rules.sql_among('question', rules.JUDGE_TRUE)} AS among, {question_empty.sql} AS empty "
                 "FROM (SELECT ?::VARCHAR AS question)", [text])
    assert got["among"] == (None if text is None else text in rules.JUDGE_TRUE)
    assert got["empty"] == (not (text or "").strip(rules.WS))


def test_the_refusal_of_a_large_bank_reads_in_chinese(bank, monkeypatch):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    with pytest.raises(WorkFailed) as info:
        import_exam(bank, "big")
    msg = str(info.value)
    assert "行中有 30 行无效；未导入任何内容" in msg and "答案标号 E 不在选项 ABCD 之中" in msg
    assert "invalid rows" not in msg and "nothing imported" not in msg and "is not among" not in msg
