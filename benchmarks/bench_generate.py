"""Generation throughput: 200 passages against the loopback OpenAI server with 200 ms latency per
request, concurrency 8 against concurrency 1 in the same run (one request per passage: the exam
strategy). Target: at least 6x. ``--quick``: 48 passages.

    .venv/bin/python benchmarks/bench_generate.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--passages", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    n = 48 if args.quick else args.passages
    tmp = Path(tempfile.mkdtemp(prefix="bench-generate-"))
    os.environ["STUDIO_DB"] = str(tmp / "bench.duckdb")
    from store import db
    from studio.data.corpus import import_corpus
    from studio.generate import Options, run
    from testkit.canned import reply
    from testkit.fake_openai import FakeOpenAI

    text = "## 第一章 总则\n\n" + "\n\n".join(
        f"第{i}条 作业人员与{i % 35 + 1}千伏带电设备的安全距离不得小于{0.5 + i % 7 / 10:.1f}米；违反的，处{i}元罚款。"
        for i in range(1, n + 1))
    (tmp / "rules.md").write_text(text, encoding="utf-8")
    import_corpus([tmp / "rules.md"], "bench")
    assert db.scalar("SELECT count(*) FROM passages") == n
    times = {}
    with FakeOpenAI(reply=reply, latency_s=args.latency) as server:
        for c in (1, 8):
            started = time.perf_counter()
            summary = run("bench", f"bench-c{c}", "exam", model="fake", base_url=server.url,
                          options=Options(concurrency=c, timeout=10, retries=0))
            times[c] = time.perf_counter() - started
            assert summary["passages"] == n and summary["failed"] == 0, summary
            print(f"concurrency {c}: {n} passages in {times[c]:.2f} s ({n / times[c]:.1f} passages/s)")
    ratio = times[1] / times[8]
    print(f"speed-up at concurrency 8: {ratio:.2f}x")
    print(json.dumps({"bench": "generate", "ratio": round(ratio, 2), "target": 6, "better": "higher",
                      "passages": n, "latency_s": args.latency, "seconds_c1": round(times[1], 2),
                      "seconds_c8": round(times[8], 2)}))


if __name__ == "__main__":
    main()
