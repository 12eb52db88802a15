"""Judge and API systems in parallel: concurrency 8 against one request at a time, on a 200 ms endpoint.

A temporary studio holds a comparison of five systems over N (64) prompts (outputs stored, no model needed).
A loopback OpenAI-compatible server (``testkit.fake_openai``) answers every request after 200 ms, as a
remote ChatGPT-like endpoint would. Measured end to end, storage included:

- the judge: DreamerGPT's prompt scores the five systems of a prompt in one request, N requests, once
  with ``concurrency=1`` (the baseline: the same judge requests one at a time) and once with 8;
- an API system answering the N prompts, the same two ways.

The two judge runs must read the same scores. Target: the judge at concurrency 8 at least 6x faster.

    .venv/bin/python benchmarks/bench_api_systems.py [--prompts N] [--latency-ms MS] [--concurrency C]

The table goes to stderr; stdout ends with one JSON line:
{"bench": "api_systems", "ratio": speedup, "target": 6, "better": "higher", "baseline": ..., ...}
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

TARGET = 6.0
SYSTEMS = ["base", "r1", "r2", "r3", "r4"]


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def verdict(request: dict) -> str:
    """A judge's verdict in DreamerGPT's format: a score per system of the request."""
    content = request["messages"][-1]["content"]
    return "\n".join(f"System{i} 分数：{(int(i) * 3) % 11}；System{i} 解释：理由。"
                     for i in re.findall(r"System(\d+):", content))


def reply(request: dict) -> str:
    content = request["messages"][-1]["content"]
    return verdict(request) if content.startswith("以下是") else "答案：B"


def comparison(n_prompts: int) -> int:
    """A comparison of five systems whose outputs are stored generations."""
    from store import compare as store
    from store import db
    from studio.evaluate import inference
    from studio.evaluate import prompt_sets as prompts

    items = [{"prompt": f"第{i}问：雷雨天气巡视高压设备应注意什么？", "category": "安规"} for i in range(n_prompts)]
    pset = prompts.save("bench", "bench", items)
    decode = inference.decode_settings("greedy", max_new_tokens=64)
    cid = store.insert_comparison("bench", pset["prompt_set"], SYSTEMS, "tiny", decode, "greedy")
    rows = [{"prompt_key": inference.prompt_key(it["prompt"]), "prompt": it["prompt"], "model_system": s,
             "base_model": "tiny", "decode_key": inference.decode_key(decode, "tiny"), "decode": decode,
             "output": f"{s}：远离避雷器，穿绝缘靴。"} for it in items for s in SYSTEMS]
    with db.transaction() as cur:
        store.insert_generations(rows, cur=cur)
    return cid


def timed(func) -> tuple[float, object]:
    started = time.perf_counter()
    out = func()
    return time.perf_counter() - started, out


def run(n_prompts: int, latency_s: float, concurrency: int) -> dict:
    from studio.core.llm import get_client
    from studio.evaluate import inference, judge, systems
    from testkit.fake_openai import FakeOpenAI

    cid = comparison(n_prompts)
    with FakeOpenAI(reply=reply, latency_s=latency_s) as server:
        server._server.socket.listen(128)   # many connections at once: the default backlog of 5 drops some
        get_client(server.url, key="warm-up")   # import openai before timing
        seq_s, seq = timed(lambda: judge.judge_comparison(cid, model="judge-seq", base_url=server.url, concurrency=1))
        par_s, par = timed(lambda: judge.judge_comparison(cid, model="judge-par", base_url=server.url,
                                                          concurrency=concurrency))
        items = [{"prompt": f"第{i}题：高压设备发生接地时，室内人员应距离故障点几米以外？"} for i in range(n_prompts)]
        decode = inference.decode_settings("greedy", max_new_tokens=16)
        one, many = systems.define(f"one=m@{server.url}"), systems.define(f"many=m@{server.url}")
        api_seq_s, _r = timed(lambda: systems.ensure_answers([one], items, decode, concurrency=1))
        api_par_s, _r = timed(lambda: systems.ensure_answers([many], items, decode, concurrency=concurrency))
    same = judge.summary(cid, judge_model="judge-seq")["scores"] == judge.summary(cid, judge_model="judge-par")["scores"]
    return {"requests": seq["requests"], "scored": par["scored"], "sequential_s": round(seq_s, 3),
            "parallel_s": round(par_s, 3), "ratio": round(seq_s / par_s, 2), "same_scores": same,
            "api_sequential_s": round(api_seq_s, 3), "api_parallel_s": round(api_par_s, 3),
            "api_ratio": round(api_seq_s / api_par_s, 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=64, help="prompts (= judge requests; API requests)")
    ap.add_argument("--latency-ms", type=int, default=200, help="the endpoint's time per request")
    ap.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        for name, sub in (("STUDIO_DB", "studio.duckdb"), ("STUDIO_RUNS", "runs"), ("STUDIO_MODELS", "models"),
                          ("STUDIO_EXPORTS", "exports")):
            os.environ[name] = str(Path(tmp) / sub)
        os.environ["STUDIO_DEMO"] = "0"
        os.environ.setdefault("STUDIO_LANG", "en")
        os.environ.pop("OPENAI_API_KEY", None)
        r = run(args.prompts, args.latency_ms / 1000, args.concurrency)
        from store import db

        db.close_all()
    log(f"judge: {r['requests']} requests x 5 systems at {args.latency_ms} ms: one at a time {r['sequential_s']} s, "
        f"{args.concurrency} in flight {r['parallel_s']} s -> {r['ratio']}x (same scores: {r['same_scores']})")
    log(f"API system: {args.prompts} prompts: one at a time {r['api_sequential_s']} s, {args.concurrency} in flight "
        f"{r['api_parallel_s']} s -> {r['api_ratio']}x")
    print(json.dumps({"bench": "api_systems", "ratio": r["ratio"], "target": TARGET, "better": "higher",
                      "baseline": "the same judge requests one at a time", "latency_ms": args.latency_ms,
                      "concurrency": args.concurrency, **r}, ensure_ascii=False))
    return 0 if r["same_scores"] else 1


if __name__ == "__main__":
    sys.exit(main())
