"""Corpora and generation: ``import corpus`` and ``generate``."""
from __future__ import annotations

import sys

from studio.cli import command


def register(sub, groups) -> None:
    p = command(groups["import"], "corpus", _import_corpus,
                "import .txt .md .jsonl .docx .pdf files into a corpus, chunked into passages")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--dataset", required=True, help="corpus dataset name (created when missing)")
    p.add_argument("--size", type=int, default=800, help="passage size in characters (default 800)")
    p.add_argument("--overlap", type=int, default=0,
                   help="characters of whole sentences repeated where a long article is split (default 0)")
    p.add_argument("--text-field", help="JSON lines: the field holding the text (default: text, content, ...)")

    p = command(sub, "generate", _generate,
                "generate samples from a corpus with an LLM (qa, exam, self-instruct) or offline (cloze); "
                "resumable: a rerun continues where the last one stopped")
    p.add_argument("--dataset", required=True, help="the corpus to generate from")
    p.add_argument("--into", required=True, help="dataset to write into (an exam bank for --strategy exam)")
    p.add_argument("--strategy", default="qa", choices=["qa", "exam", "self-instruct", "cloze"])
    p.add_argument("--template", help="generation template name (default: the strategy's built-in)")
    p.add_argument("--model", help="model name (default $STUDIO_MODEL)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default $STUDIO_BASE_URL); "
                                      "the key is read from $OPENAI_API_KEY (or $STUDIO_API_KEY_ENV)")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--rpm", type=float, default=0, help="requests per minute limit (default none)")
    p.add_argument("--budget", type=float, help="stop when the estimated cost reaches this")
    p.add_argument("--budget-tokens", type=int, help="stop when this many tokens are spent")
    p.add_argument("--price-in", type=float, default=0.0, help="price per 1M prompt tokens (for the cost)")
    p.add_argument("--price-out", type=float, default=0.0, help="price per 1M completion tokens")
    p.add_argument("--limit", type=int, help="at most this many passages in this run")
    p.add_argument("--n", type=int, help="questions / pairs per passage (default: the template's)")
    p.add_argument("--temperature", type=float, help="sampling temperature (default: the template's)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    p.add_argument("--retries", type=int, default=3, help="retries of 429 / 5xx / timeouts (default 3)")
    p.add_argument("--backoff", type=float, default=1.0, help="first retry wait in seconds (doubles)")
    p.add_argument("--per-passage", type=int, default=3, help="cloze pairs per passage (default 3)")
    p.add_argument("--seed-dataset", help="self-instruct: dataset whose accepted samples are the examples")
    p.add_argument("--retry-failed", action="store_true", help="try passages that failed before again")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _import_corpus(args) -> dict:
    from studio.data.corpus import import_corpus

    return import_corpus(args.files, args.dataset, size=args.size, overlap=args.overlap,
                         text_field=args.text_field)


def _generate(args) -> dict:
    from tqdm import tqdm

    from studio.core.progress import report
    from studio.generate import Options, run

    opts = Options(concurrency=args.concurrency, rpm=args.rpm, budget=args.budget, budget_tokens=args.budget_tokens,
                   price_in=args.price_in, price_out=args.price_out, timeout=args.timeout, retries=args.retries,
                   backoff_s=args.backoff, limit=args.limit, n=args.n, temperature=args.temperature,
                   per_passage=args.per_passage, retry_failed=args.retry_failed)
    bar = None

    def progress(p: dict) -> None:
        nonlocal bar
        report(p["done"], p["total"], f"{p['samples']} samples, {p['failed']} failed")
        if args.no_progress:
            return
        if bar is None:
            bar = tqdm(total=p["total"], file=sys.stderr, unit="passage", desc="generate")
        bar.update(p["done"] - bar.n)
        bar.set_postfix(samples=p["samples"], failed=p["failed"], tokens=p["tokens"], refresh=False)

    try:
        return run(args.dataset, args.into, args.strategy, template=args.template, model=args.model,
                   base_url=args.base_url, options=opts, seed_dataset=args.seed_dataset, progress=progress)
    finally:
        if bar is not None:
            bar.close()
