"""Why the 100k-row bulk status update misses its 150 ms at 10M rows: what DuckDB itself takes to UPDATE the
same 100,000 rows of a 10,000,000-row table, one column or the three the studio changes (status, and the row
version and ``updated_at`` that keep a concurrent edit from being lost and tell the page and the search index
what changed), with the rows spread over the table (one in a hundred, as bench_datasets marks them) or in one
run of ids. Plain DuckDB, no studio code; the checkpoint threshold raised as the studio raises it, a CHECKPOINT
between runs; medians of the statement and of its COMMIT.

    .venv/bin/python benchmarks/probe_bulk_layout.py [--rows N] [--repeat K]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

SETS = {"status": "status = ?", "status, version, updated_at":
        "status = ?, version = version + 1, updated_at = current_timestamp"}


def build(con, n: int) -> None:
    con.execute(f"""CREATE TABLE samples (id BIGINT PRIMARY KEY, dataset_id INTEGER, origin VARCHAR, status VARCHAR,
                                          version INTEGER, updated_at TIMESTAMP);
        INSERT INTO samples SELECT i, 1, CASE WHEN i % 100 = 7 THEN 'imported' ELSE 'generated' END, 'pending', 1,
                                   current_timestamp FROM range({n}) t(i);
        CHECKPOINT""")


def timed(con, sets: str, where: str, repeat: int) -> dict[str, float]:
    run, commit = [], []
    for k in range(repeat + 1):   # the first is the warm-up
        con.execute("BEGIN")
        t = time.perf_counter()
        con.execute(f"UPDATE samples SET {sets} WHERE {where}", [("accepted", "rejected")[k % 2]])
        t1 = time.perf_counter()
        con.execute("COMMIT")
        if k:
            run.append((t1 - t) * 1000)
            commit.append((time.perf_counter() - t1) * 1000)
        con.execute("CHECKPOINT")
    return {"update_ms": statistics.median(run), "commit_ms": statistics.median(commit)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    out = {}
    with tempfile.TemporaryDirectory(prefix="probe-bulk-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "probe.duckdb"))
        con.execute("SET checkpoint_threshold = '1GB'")
        build(con, args.rows)
        lo = args.rows // 2
        layouts = {"spread (1 in 100)": "dataset_id = 1 AND origin = 'imported'",
                   "one run of ids": f"id BETWEEN {lo} AND {lo + args.rows // 100 - 1}"}
        for layout, where in layouts.items():
            vectors = con.execute(f"SELECT count(DISTINCT rowid // 2048) FROM samples WHERE {where}").fetchone()[0]
            for columns, sets in SETS.items():
                got = timed(con, sets, where, args.repeat)
                out[f"{layout} / {columns}"] = {**got, "vectors": vectors}
                print(f"{layout:20} {columns:28} {vectors:6,} vectors  update {got['update_ms']:6.1f} ms  "
                      f"commit {got['commit_ms']:6.1f} ms  total {got['update_ms'] + got['commit_ms']:6.1f} ms",
                      file=sys.stderr)
        con.close()
    print(json.dumps({"probe": "bulk_layout", "rows": args.rows, "updated": args.rows // 100,
                      "results": {k: {m: round(v, 1) for m, v in r.items()} for k, r in out.items()}},
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
