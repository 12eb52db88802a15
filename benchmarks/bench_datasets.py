"""Datasets at ten million samples: the studio's own functions (studio.data.samples) on a generated dataset,
each operation against a 150 ms budget and against plain DuckDB SQL on the same table in the same run.

Operations (medians after a warm-up, the read cache emptied before each call): the first page, a filtered page
(status + type), a Chinese substring search page (a phrase in 0.1% of the rows, a rare phrase, one character, a
phrase in no row, one in every row; the slowest counts), saving one edit with its row version (the search index
changes with it), and a bulk status update of 100,000 rows (selection, undo backup, update, index bookkeeping,
commit; phases reported). Page totals (counted after the rows) are reported beside, not in the ratio. Baseline, per
operation, what a skilled user would run instead: pages, the same SELECT ... ORDER BY id LIMIT 50; search, the same
query as a linear ``contains`` scan (page and ``count(*)``), rows checked equal; edit, one UPDATE ... WHERE id = ?
AND version = ?; bulk update, one UPDATE of the same rows with the same bumps in autocommit on the file opened by
DuckDB as it comes (default checkpoint threshold), no undo backup, no action record, no index upkeep (run last: it
leaves its rows past the index). Also DuckDB's own floor for the bulk update in the same run (the bare UPDATE of
the same rows in one transaction, the checkpoint threshold raised as the studio raises it; ``datasets_bulk.py``):
when it is over the budget, the JSON line's ``unreachable`` says so with this run's figures. Rows: one INSERT ...
SELECT over range(); the index is then built as migration m085 builds it (time reported).

In the browser (when Debian's chromium and chromedriver are there): the real server (serve.py) on the same
database and headless Chromium; a page change is the time from Enter in the page number to the caption of
the new page (rows shown, then counted), the median of several; a search the same for a typed query.

    .venv/bin/python benchmarks/bench_datasets.py [--quick] [--rows N] [--no-browser]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.datasets_bulk import (  # noqa: E402
    BUDGET_MS,
    BULK_ROWS,
    measure_bulk,
    measure_bulk_floor,
    measure_plain_bulk,
)
from benchmarks.datasets_bulk import unreachable as _unreachable  # noqa: E402
from store import read_cache  # noqa: E402 - after the path; it reads no setting

BROWSER_BUDGET_MS = 1000.0
ROOT = Path(__file__).resolve().parent.parent
OPS = ("first_page", "filtered_page", "search", "save_edit", "bulk_update")


def build(db_file: Path, n: int) -> None:
    """A samples dataset of n generated Chinese rows, loaded by DuckDB in one statement. Each row carries
    four pseudo-random characters out of 2,000 (a vocabulary, so the index meets millions of distinct
    bigrams, as real text does); ``imported`` marks exactly 100,000 rows for the bulk update."""
    os.environ["STUDIO_DB"] = str(db_file)
    from store import datasets, db

    did = datasets.create("bench", "samples")
    rnd = " || ".join(f"chr((19968 + hash(i + {k * 1_000_003}) % 2000)::INTEGER)" for k in range(4))
    db.cursor().execute(f"""
        INSERT INTO samples (dataset_id, instruction, input, output, status, origin, qtype, tags)
        SELECT ?, '第' || i || '题：雷雨天气，需要巡视室外高压设备时，应穿___，并不准靠近避雷器和避雷针。'
                  || CASE WHEN i % 997 = 0 THEN '接地线' ELSE '' END,
               CASE WHEN i % 5 = 0 THEN '依据《电力安全工作规程》第' || (i % 300) || '条' ELSE '' END,
               CASE i % 4 WHEN 0 THEN '绝缘靴' WHEN 1 THEN '雨鞋' WHEN 2 THEN '橡胶鞋' ELSE '绝缘鞋' END || i
                  || '（' || {rnd} || '）',
               CASE WHEN i % 7 = 0 THEN 'pending' WHEN i % 11 = 0 THEN 'rejected' ELSE 'accepted' END,
               CASE WHEN i % ? = 7 THEN 'imported' WHEN i % 3 = 0 THEN 'generated' ELSE 'exam-qa' END,
               CASE i % 4 WHEN 0 THEN 'single' WHEN 1 THEN 'multi' WHEN 2 THEN 'judge' ELSE 'blank' END,
               CASE WHEN i % 13 = 0 THEN ['复核'] ELSE [] END
        FROM range(?) t(i)""", [did, max(8, n // BULK_ROWS), n])
    db.cursor().execute("CHECKPOINT")


def timed(func, repeat: int) -> tuple[float, float]:
    """Median wall and CPU ms of ``repeat`` calls after a warm-up, each with the read cache emptied first."""
    func()
    wall, cpu = [], []
    for _i in range(repeat):
        read_cache.forget()
        t, c = time.perf_counter(), time.process_time()
        func()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def queries(db) -> dict[str, str]:
    """The searches: frequent enough to fill pages, rare, one character, absent, everywhere."""
    rare = db.scalar("SELECT substr(output, strpos(output, '（') + 1, 3) FROM samples WHERE id = 123457 % "
                     "(SELECT max(id) FROM samples) + 1")
    return {"search": "接地线", "search_rare": rare, "search_1char": "线", "search_none": "变压器油",
            "search_everywhere": "避雷针"}


def scan_page(db, samples_store, did: int, text: str, count: bool = False):
    """The linear scan a user would run without the index: the same filter, no candidates."""
    sql, params = samples_store.where(did, samples_store.SampleFilter(search=text))
    if count:
        return db.scalar(f"SELECT count(*) FROM samples WHERE {sql}", params)
    return [r["id"] for r in db.rows(f"SELECT id FROM samples WHERE {sql} ORDER BY id LIMIT 50", params)]


def measure_search(repeat: int) -> dict[str, float]:
    """Each query: the studio's page and total against the linear scan, results checked equal."""
    from store import db
    from store import samples as store
    from studio.data import samples

    did = db.scalar("SELECT id FROM datasets WHERE name = 'bench'")
    out: dict[str, float] = {}
    for name, text in queries(db).items():
        f = samples.make_filter(search=text)
        got = [r["id"] for r in samples.page("bench", f, page_size=50, with_total=False)["rows"]]
        assert got == scan_page(db, store, did, text), f"{name}: the index and the scan disagree"
        assert store.count(did, f) == scan_page(db, store, did, text, count=True), name
        out[f"{name}_ms"], out[f"{name}_cpu_ms"] = timed(
            lambda: samples.page("bench", f, page_size=50, with_total=False), repeat)
        # the store's count: the page keeps its count until a sample changes, this is the first one
        out[f"{name}_total_ms"], _cpu = timed(lambda: store.count(did, f), repeat)
        out[f"{name}_scan_ms"], _cpu = timed(lambda: scan_page(db, store, did, text), max(2, repeat // 3))
        out[f"{name}_total_scan_ms"], _cpu = timed(lambda: scan_page(db, store, did, text, True),
                                                   max(2, repeat // 3))
        out[f"{name}_hits"] = store.count(did, f)
    return out


def measure(db_file: Path, repeat: int) -> dict[str, float]:
    """Long because it is the list of measured operations, each a few lines."""
    os.environ["STUDIO_DB"] = str(db_file)
    from store import db, sample_search
    from store import samples as store
    from studio.data import samples

    db.close_all()
    t, c = time.perf_counter(), time.process_time()
    with db.transaction() as cur:  # what migration m085 does for a database that holds samples
        sample_search.rebuild(cur)
    out = {"index_build_s": round(time.perf_counter() - t, 1), "index_build_cpu_s": round(time.process_time() - c, 1),
           "index_postings": sample_search.state().base}
    filtered = samples.make_filter(status=["pending"], qtype=["judge"])
    rows = lambda f: samples.page("bench", f, page_size=50, with_total=False)  # noqa: E731
    out["first_page_ms"], out["first_page_cpu_ms"] = timed(lambda: rows(None), repeat)
    out["filtered_page_ms"], out["filtered_page_cpu_ms"] = timed(lambda: rows(filtered), repeat)
    out["page_2_ms"], _cpu = timed(lambda: samples.page("bench", page_no=2, with_total=False), repeat)
    did = db.scalar("SELECT id FROM datasets WHERE name = 'bench'")
    out["first_page_total_ms"], _cpu = timed(lambda: store.count(did, None), repeat)
    out["filtered_page_total_ms"], _cpu = timed(lambda: store.count(did, filtered), repeat)
    for name, f in (("first_page", None), ("filtered_page", filtered)):
        sql, params = store.where(did, f)
        out[f"{name}_plain_ms"], _cpu = timed(lambda: db.rows(
            f"SELECT {', '.join(store.PAGE_COLUMNS)} FROM samples WHERE {sql} ORDER BY id LIMIT 50", params), repeat)
    out.update(measure_search(repeat))

    row = dict(rows(None)["rows"][0])
    state = {"version": row["version"], "n": 0}

    def save_edit():
        state["n"] += 1
        saved = samples.edit(row["id"], state["version"], {"output": f"绝缘靴（第{state['n']}次修改）"})
        state["version"] = saved["version"]

    out["save_edit_ms"], out["save_edit_cpu_ms"] = timed(save_edit, repeat)
    assert [r["id"] for r in rows(samples.make_filter(search=f"第{state['n']}次修改"))["rows"]] == [row["id"]]

    def plain_edit():
        state["n"] += 1
        state["version"] = db.scalar("""UPDATE samples SET output = ?, version = version + 1,
                                        updated_at = current_timestamp WHERE id = ? AND version = ? RETURNING version""",
                                     [f"绝缘靴（第{state['n']}次修改）", row["id"], state["version"]])

    out["save_edit_plain_ms"], _cpu = timed(plain_edit, repeat)
    out.update(measure_bulk(max(3, repeat // 3)))
    db.close_all()
    return out


def _server(tmp: Path, db_file: Path):
    """serve.py on a free port, holding the benchmark's database; returns (process, url)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "STUDIO_DB": str(db_file), "STUDIO_LANG": "en", "STUDIO_DEMO": "0",
           "STUDIO_RUNS": str(tmp / "runs"), "STUDIO_MODELS": str(tmp / "models"), "STUDIO_EXPORTS": str(tmp / "exp")}
    log = open(tmp / "streamlit.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--server.address", "127.0.0.1",
                             "--server.port", str(port), "--server.headless", "true",
                             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
                            cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _i in range(300):
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the studio did not start: " + (tmp / "streamlit.log").read_text()[-2000:])


def _driver(tmp: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--window-size=1400,1000", f"--user-data-dir={tmp / 'chromium'}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
                            options=options)


def _until(driver, text: str, timeout: float = 60) -> float:
    """Milliseconds until ``text`` shows in the page (polled every 20 ms)."""
    t = time.perf_counter()
    while text not in driver.find_element("tag name", "body").text:
        if time.perf_counter() - t > timeout:
            raise TimeoutError(f"{text!r} never appeared")
        time.sleep(0.02)
    return (time.perf_counter() - t) * 1000


def _field(driver, label: str, timeout: float = 60):
    """The input labelled ``label``, once the page has drawn it."""
    t = time.perf_counter()
    while not (found := driver.find_elements("css selector", f'input[aria-label="{label}"]')):
        if time.perf_counter() - t > timeout:
            raise TimeoutError(f"no field {label!r}")
        time.sleep(0.05)
    return found[0]


def measure_browser(db_file: Path, tmp: Path, pages: int = 5) -> dict[str, float]:
    """A page change and a search on the Datasets page, real server, headless Chromium."""
    from selenium.webdriver.common.keys import Keys

    proc, url = _server(tmp, db_file)
    driver = _driver(tmp)
    try:
        driver.get(url + "/datasets")
        out = {"browser_first_load_ms": _until(driver, "rows match", timeout=300)}
        changes = []
        for n in range(2, 2 + pages):
            box = _field(driver, "Page")
            box.send_keys(Keys.CONTROL, "a")
            box.send_keys(str(n), Keys.ENTER)
            changes.append(_until(driver, f"page {n} of"))
        out["browser_page_change_ms"] = statistics.median(changes)
        out["browser_page_change_max_ms"] = max(changes)
        box = _field(driver, "Search")
        box.send_keys("接地线", Keys.ENTER)
        out["browser_search_ms"] = _until(driver, "page 1 of")
        return out
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(timeout=30)


def report(rows: int, m: dict[str, float]) -> dict:
    """The table on stderr and the one JSON line."""
    searches = [k[:-3] for k in m if k.startswith("search") and k.endswith("_ms") and "_total" not in k
                and "_scan" not in k and "_cpu" not in k]
    worst_search = max(searches, key=lambda s: m[f"{s}_ms"])
    m["search_worst_ms"] = m[f"{worst_search}_ms"]
    ops = {op: m["search_worst_ms"] if op == "search" else m[f"{op}_ms"] for op in OPS}
    plain = {op: m.get(f"{worst_search}_scan_ms" if op == "search" else f"{op}_plain_ms") for op in OPS}
    print(f"{'operation':<22}{'ms':>10}{'cpu ms':>10}{'plain ms':>10}{'total ms':>10}{'plain total':>12}",
          file=sys.stderr)
    for name in ("first_page", "filtered_page", *searches, "save_edit", "bulk_update"):
        base = m.get(f"{name}_scan_ms", m.get(f"{name}_plain_ms", float("nan")))
        print(f"{name:<22}{m[f'{name}_ms']:>10.1f}{m.get(f'{name}_cpu_ms', 0):>10.1f}{base:>10.1f}"
              f"{m.get(f'{name}_total_ms', float('nan')):>10.1f}"
              f"{m.get(f'{name}_total_scan_ms', float('nan')):>12.1f}", file=sys.stderr)
    if "browser_page_change_ms" in m:
        print(f"browser: first load {m['browser_first_load_ms']:.0f} ms, page change {m['browser_page_change_ms']:.0f} ms"
              f" (max {m['browser_page_change_max_ms']:.0f}), search {m['browser_search_ms']:.0f} ms", file=sys.stderr)
    print(f"index built in {m['index_build_s']} s ({m['index_build_cpu_s']} s CPU), {m['index_postings']:,} postings;"
          f" bulk count {m['bulk_count_ms']:.0f} ms, bulk undo {m['bulk_undo_ms']:.0f} ms", file=sys.stderr)
    print("one bulk update: " + ", ".join(f"{k[len('bulk_phase_'):-3]} {v:.0f} ms" for k, v in m.items()
                                          if k.startswith("bulk_phase_")), file=sys.stderr)
    unreachable = _unreachable(m)
    if "bulk_floor_ms" in m:
        print(f"DuckDB's floor for the bulk update (bare UPDATE, same rows, threshold raised, no backup): "
              f"{m['bulk_floor_ms']:.0f} ms for the three columns, {m['bulk_floor_status_version_ms']:.0f} ms for "
              f"status and version, {m['bulk_floor_status_only_ms']:.0f} ms for the status alone", file=sys.stderr)
    for line in unreachable:
        print("unreachable: " + line, file=sys.stderr)
    worst = max(ops.values())
    figures = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in m.items()}
    return {"bench": "datasets", "ratio": round(worst / BUDGET_MS, 3), "target": 1.0, "better": "lower",
            "baseline": "per operation, plain DuckDB SQL on the same table in the same run: the same SELECT for "
                        "the pages, a linear contains scan for the search (rows checked equal), one UPDATE for the "
                        "edit and for the bulk update (DuckDB as it comes, no undo backup, no index upkeep); "
                        "ratio: the slowest operation over the 150 ms budget",
            "rows": rows, "max_ms": round(worst, 2), **{f"{k}_ms": round(v, 2) for k, v in ops.items()},
            "baseline_ms": {k: round(v, 2) if v is not None else None for k, v in plain.items()},
            "vs_baseline": {k: round(ops[k] / v, 2) if v else None for k, v in plain.items()},
            "slowest_search": worst_search,
            "search_speedup": round(m[f"{worst_search}_scan_ms"] / m["search_worst_ms"], 1),
            "search_total_speedup": round(m["search_total_scan_ms"] / m["search_total_ms"], 1),
            "browser_page_change_ms": round(m["browser_page_change_ms"], 1) if "browser_page_change_ms" in m else None,
            "browser_page_change_max_ms": round(m["browser_page_change_max_ms"], 1)
            if "browser_page_change_max_ms" in m else None,
            "browser_target_ms": BROWSER_BUDGET_MS, "index_build_s": m["index_build_s"],
            "load_avg_1m": round(os.getloadavg()[0], 1), "cpus": os.cpu_count(),
            "bulk_floor_ms": round(m["bulk_floor_ms"], 2) if "bulk_floor_ms" in m else None,
            "unreachable": unreachable, "figures": figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000,000 rows and fewer repetitions")
    parser.add_argument("--rows", type=int, default=None, help="rows to generate (default 10,000,000)")
    parser.add_argument("--no-browser", action="store_true", help="skip the page change in headless Chromium")
    args = parser.parse_args()
    browser = not args.no_browser and bool(shutil.which("chromedriver") or Path("/usr/bin/chromedriver").exists())
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    repeat = 5 if args.quick else 9
    os.environ.setdefault("STUDIO_DEMO", "0")
    with tempfile.TemporaryDirectory(prefix="bench-datasets-") as tmp:
        big = Path(tmp) / "big.duckdb"
        t = time.perf_counter()
        build(big, rows)
        from store import db

        db.close_all()
        print(f"generated {rows:,} samples in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        measured = measure(big, repeat)
        if browser:
            measured.update(measure_browser(big, Path(tmp)))
        measured.update(measure_bulk_floor(big, max(3, repeat // 3)))
        measured.update(measure_plain_bulk(big, max(3, repeat // 3)))
    print(json.dumps(report(rows, measured), ensure_ascii=False))


if __name__ == "__main__":
    main()
