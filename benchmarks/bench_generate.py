"""Generation throughput against an endpoint that rate-limits: adaptive concurrency against the best fixed
concurrency a user could have picked by hand, in the same run.

The loopback OpenAI server answers each request after 200 ms and refuses with 429 (``retry-after: 1``)
any request that arrives while 6 are being answered. One request per passage (the exam strategy), 240
passages. The baseline runs the batch at each fixed concurrency 1, 2, 4, 6, 8, 12 and 16 (the 429s
retried, nothing lost) and keeps the fastest; the studio runs it adaptive with the ceiling of
``--concurrency auto`` (64), not knowing the endpoint's limit. Every run must store every passage once,
with no failed passage and exactly one answered request per passage. Both sides run twice, interleaved,
and keep their faster run (concurrencies 1 and 2 once: they are far behind). Target: adaptive >= 0.85x
the best fixed throughput.

Extra figures: each fixed concurrency's passages/s and 429s, the adaptive run's 429s, its highest limit
and the median limit over its second half (read after each passage); ``speedup_c6_vs_c1`` is the old figure (parallel
against one at a time), labelled as such. ``--quick``: 120 passages, concurrencies 4, 6, 8, one run each.

    .venv/bin/python benchmarks/bench_generate.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIXED = (1, 2, 4, 6, 8, 12, 16)
CAP = 6


def _corpus(tmp: Path, n: int) -> None:
    from store import db
    from studio.data.corpus import import_corpus

    text = "## 第一章 总则\n\n" + "\n\n".join(
        f"第{i}条 作业人员与{i % 35 + 1}千伏带电设备的安全距离不得小于{0.5 + i % 7 / 10:.1f}米；违反的，处{i}元罚款。"
        for i in range(1, n + 1))
    (tmp / "rules.md").write_text(text, encoding="utf-8")
    import_corpus([tmp / "rules.md"], "bench")
    assert db.scalar("SELECT count(*) FROM passages") == n


def _timed(server, into: str, n: int, concurrency: int, adaptive: bool) -> dict:
    """One batch of the exam strategy; checks that every passage is stored once, none failed."""
    from store import db
    from studio.generate import Options, run

    refused, answered = server.refused, server.answered
    limits: list[tuple[float, int]] = []  # (seconds since the start, the limit) after each passage
    started = time.perf_counter()
    summary = run("bench", into, "exam", model="fake", base_url=server.url,
                  options=Options(concurrency=concurrency, adaptive=adaptive, timeout=10, retries=3, backoff_s=0.2),
                  progress=lambda p: limits.append((time.perf_counter() - started, p["concurrency"])))
    seconds = time.perf_counter() - started
    assert summary["passages"] == n and summary["failed"] == 0 and summary["remaining"] == 0, summary
    stored = db.scalar("SELECT count(*) FROM batch_passages WHERE batch_id = ?", [summary["batch"]])
    assert stored == n == db.scalar("SELECT count(DISTINCT passage_id) FROM batch_passages WHERE batch_id = ?",
                                    [summary["batch"]])
    assert server.answered - answered == n, "a passage was asked twice or never answered"
    assert summary["requests"] == n + server.refused - refused, summary
    late = [limit for t, limit in limits if t >= seconds / 2]
    return {"seconds": seconds, "per_s": n / seconds, "refused": server.refused - refused, "summary": summary,
            "peak": max(limit for _t, limit in limits), "median_late": statistics.median(late or [0]),
            "limits": [limit for i, (_t, limit) in enumerate(limits) if i == 0 or limits[i - 1][1] != limit]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--passages", type=int, default=240)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side; the faster one counts")
    args = parser.parse_args()
    args.repeats = 1 if args.quick else max(1, args.repeats)
    n = 120 if args.quick else args.passages
    fixed = (4, 6, 8) if args.quick else FIXED
    tmp = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    os.environ["STUDIO_DB"] = str(tmp / "bench.duckdb")
    from studio.generate import Options
    from studio.generate.runner import AUTO_CONCURRENCY
    from testkit.canned import reply
    from testkit.fake_openai import FakeOpenAI

    _corpus(tmp, n)
    runs: dict = {}
    with FakeOpenAI(reply=reply, latency_s=args.latency, max_inflight=CAP, retry_after_s=args.retry_after) as server:
        for rep in range(args.repeats):  # interleaved, so that a busy moment of the machine hits both sides
            for c in fixed:
                if rep and c < 4:
                    continue  # far behind: once is enough
                r = _timed(server, f"bench-c{c}-{rep}", n, c, adaptive=False)
                print(f"fixed {c:>2}: {n} passages in {r['seconds']:.2f} s ({r['per_s']:.1f}/s), "
                      f"{r['refused']} refused (429)")
                runs[c] = max(runs.get(c, r), r, key=lambda x: x["per_s"])
            r = _timed(server, f"bench-auto-{rep}", n, AUTO_CONCURRENCY, adaptive=True)
            print(f"adaptive (up to {AUTO_CONCURRENCY}): {r['seconds']:.2f} s ({r['per_s']:.1f}/s), "
                  f"{r['refused']} refused, limits {r['limits']}")
            runs["auto"] = max(runs.get("auto", r), r, key=lambda x: x["per_s"])
    auto = runs["auto"]
    best = max(fixed, key=lambda c: runs[c]["per_s"])
    ratio = auto["per_s"] / runs[best]["per_s"]
    print(f"adaptive / best fixed ({best}): {ratio:.2f}x")
    print(json.dumps({
        "bench": "generate", "ratio": round(ratio, 3), "target": 0.85, "better": "higher",
        "baseline": f"the best fixed concurrency of {', '.join(map(str, fixed))} in the same run (here {best}), "
                    f"against a loopback endpoint refusing (429, retry-after {args.retry_after:g} s) more than "
                    f"{CAP} requests at once, {int(args.latency * 1000)} ms per request",
        "passages": n, "repeats": args.repeats, "latency_s": args.latency, "endpoint_max_inflight": CAP, "best_fixed": best,
        "passages_per_s": {"adaptive": round(auto["per_s"], 2),
                           **{f"fixed_{c}": round(runs[c]["per_s"], 2) for c in fixed}},
        "refused_429": {"adaptive": auto["refused"], **{f"fixed_{c}": runs[c]["refused"] for c in fixed}},
        "adaptive_peak": auto["peak"], "adaptive_median_second_half": auto["median_late"],
        "speedup_c6_vs_c1": round(runs[6]["per_s"] / runs[1]["per_s"], 2) if 1 in runs and 6 in runs else None,
        "lost": 0, "default": Options().concurrency}, ensure_ascii=False))


if __name__ == "__main__":
    main()
