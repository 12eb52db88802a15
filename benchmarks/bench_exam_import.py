"""Exam bank import + conversion end to end, against a row-by-row pandas baseline, in the same run.

Generates a bank CSV (专业,题型,题目,选项,正确答案,解析; options in one cell ``A. x,B. y,...``; single,
multi, judge, blank and open rows mixed), then:

* studio: ``import_exam`` (read, detect, parse, validate, insert) + ``convert --to qa`` into samples, on
  a fresh database file;
* baseline: pandas ``read_csv``, then per row: Python regexes to split the options and read the answer,
  validate, render the QA pair, and INSERT the question and the sample one row at a time — measured on
  a sample of rows (its cost is linear) and compared as rows per second.

    .venv/bin/python benchmarks/bench_exam_import.py            # 1,000,000 rows
    .venv/bin/python benchmarks/bench_exam_import.py --quick    # 200,000 rows
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402


def generate(path: Path, n: int) -> None:
    """A bank of ``n`` rows written by DuckDB (seconds, not minutes)."""
    con = duckdb.connect()
    con.execute(f"""
    COPY (
      SELECT
        CASE i % 3 WHEN 0 THEN '变电专业' WHEN 1 THEN '线路专业' ELSE '配电专业' END AS 专业,
        CASE WHEN i % 20 < 10 THEN '单选题' WHEN i % 20 < 14 THEN '多选题' WHEN i % 20 < 18 THEN '判断题'
             WHEN i % 20 = 18 THEN '填空题' ELSE '问答题' END AS 题型,
        CASE WHEN i % 20 < 18 THEN '第' || i || '题：高压设备发生接地时，室内人员应距离故障点（　　）m以外，并应穿绝缘靴。'
             ELSE '第' || i || '题：简述工作票制度中工作负责人的安全责任（　　）。' END AS 题目,
        CASE WHEN i % 20 < 14 THEN 'A. 选项甲' || (i % 7) || ',B. 选项乙' || (i % 11) || ',C. 选项丙' || (i % 13) || ',D. 选项丁' || (i % 17)
             WHEN i % 20 < 18 THEN 'A. 正确,B. 错误' ELSE '' END AS 选项,
        CASE WHEN i % 20 < 10 THEN chr((65 + i % 4)::INTEGER)
             WHEN i % 20 < 14 THEN CASE i % 3 WHEN 0 THEN 'A,B' WHEN 1 THEN 'B、C、D' ELSE 'ACD' END
             WHEN i % 20 < 18 THEN CASE WHEN i % 2 = 0 THEN '正确' ELSE 'B' END
             ELSE '正确执行工作票所列安全措施；监护工作班成员' || (i % 100) END AS 正确答案,
        '来自安规第' || (i % 500) || '条' AS 解析
      FROM range({n}) t(i)
    ) TO '{path}' (HEADER, DELIMITER ',')""")
    con.close()


OPT = re.compile(r"(?:^|[\s,，;；、]+)([A-H])[.．、:：]\s*")
BLANK = re.compile(r"[（(][ \t\u3000]*[)）]|__+")


def baseline(path: Path, n_rows: int, db_file: Path) -> float:
    """Row-by-row: pandas read, Python parse/validate/convert, one INSERT per question and per sample."""
    import pandas as pd

    t0 = time.perf_counter()
    frame = pd.read_csv(path, nrows=n_rows, dtype=str, keep_default_na=False)
    con = duckdb.connect(str(db_file))
    con.execute("CREATE TABLE q (id INTEGER, qtype VARCHAR, question VARCHAR, options JSON, labels VARCHAR[], answer VARCHAR)")
    con.execute("CREATE TABLE s (question_id INTEGER, instruction VARCHAR, output VARCHAR)")
    types = {"单选题": "single", "多选题": "multi", "判断题": "judge", "填空题": "blank", "问答题": "open"}
    for i, row in frame.iterrows():
        qtype = types.get(row["题型"], "open")
        cell = row["选项"]
        labels = OPT.findall(cell) if cell else []
        texts = [t.strip(" ,，") for t in OPT.split(cell)[2::2]] if cell else []
        ans = row["正确答案"].strip().upper()
        if qtype in ("single", "multi", "judge"):
            got = sorted(set(re.sub(r"[\s,，、;；]", "", ans))) if re.fullmatch(r"[A-H,，、\s]+", ans) else None
            if got is None and qtype == "judge":
                got = ["A"] if ans in ("正确", "对", "√") else ["B"]
            if not got or any(g not in labels for g in got):
                continue
            answer = "; ".join(texts[labels.index(g)] for g in got)
            if qtype == "judge":
                answer = "正确" if texts[labels.index(got[0])] == "正确" else "错误"
        else:
            got, answer = [], row["正确答案"].strip()
        content = BLANK.sub("___", row["题目"])
        con.execute("INSERT INTO q VALUES (?, ?, ?, ?, ?, ?)",
                    [i, qtype, row["题目"], json.dumps([{"label": l, "text": t} for l, t in zip(labels, texts)],
                                                       ensure_ascii=False), got, answer])
        con.execute("INSERT INTO s VALUES (?, ?, ?)", [i, content, answer])
    con.close()
    return time.perf_counter() - t0


def studio_path(path: Path, workdir: Path) -> tuple[float, float, dict, dict]:
    os.environ["STUDIO_DB"] = str(workdir / "studio.duckdb")
    from store import db
    from studio.data.exams.convert import convert
    from studio.data.exams.importer import import_exam

    t0 = time.perf_counter()
    summary = import_exam(path, "bench")
    t1 = time.perf_counter()
    converted = convert("bench", to="qa", into="bench-qa")
    t2 = time.perf_counter()
    db.close_all()
    summary.pop("_preview", None)
    return t1 - t0, t2 - t1, summary, converted


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="200,000 rows instead of 1,000,000")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--baseline-rows", type=int, default=3000)
    args = ap.parse_args()
    n = args.rows or (200_000 if args.quick else 1_000_000)
    with tempfile.TemporaryDirectory(prefix="bench-exam-") as tmp:
        work = Path(tmp)
        bank = work / "bank.csv"
        t = time.perf_counter()
        generate(bank, n)
        print(f"generated {n:,} rows ({bank.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        t_import, t_convert, summary, converted = studio_path(bank, work)
        total = t_import + t_convert
        ours = n / total
        print(f"studio: import {t_import:.2f} s + convert {t_convert:.2f} s = {total:.2f} s "
              f"({ours:,.0f} rows/s); imported {summary['imported']:,}, samples {converted['samples']:,}, "
              f"by type {summary['by_type']}")
        nb = min(args.baseline_rows, n)
        t_base = baseline(bank, nb, work / "baseline.duckdb")
        base = nb / t_base
        print(f"baseline (pandas, row by row, {nb:,} rows): {t_base:.2f} s ({base:,.0f} rows/s); "
              f"projected for {n:,} rows: {n / base:,.0f} s")
        ratio = ours / base
        print(f"speed-up: {ratio:.1f}x (target >= 10x; {n:,} rows in {total:.1f} s, target < 15 s for 1M)")
        assert summary["imported"] == n and converted["samples"] == n, "every generated row must land"
    print(json.dumps({"bench": "exam_import", "ratio": round(ratio, 1), "target": 10, "better": "higher",
                      "rows": n, "seconds": round(total, 2), "import_s": round(t_import, 2),
                      "convert_s": round(t_convert, 2), "rows_per_s": round(ours), "baseline_rows_per_s": round(base),
                      "target_seconds_1m": 15}))


if __name__ == "__main__":
    main()
