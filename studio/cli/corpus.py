"""Corpora and generation: ``import corpus`` and ``generate``."""
from __future__ import annotations

import sys

from studio.cli import command
from studio.core.i18n import _, ngettext


def register(sub, groups) -> None:
    p = command(groups["import"], "corpus", _import_corpus,
                _("import .txt .md .jsonl .docx .pdf files into a corpus, chunked into passages"))
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--dataset", required=True, help=_("corpus dataset name (created when missing)"))
    p.add_argument("--size", type=int, default=800, help=_("passage size in characters (default 800)"))
    p.add_argument("--overlap", type=int, default=0,
                   help=_("characters of whole sentences repeated where a long article is split (default 0)"))
    p.add_argument("--text-field", help=_("JSON lines: the field holding the text (default: text, content, ...)"))
    p.set_defaults(render=_render_import)

    p = command(sub, "generate", _generate,
                _("generate samples from a corpus with an LLM (qa, exam, self-instruct) or offline (cloze); "
                  "resumable: a rerun continues where the last one stopped"))
    p.add_argument("--dataset", required=True, help=_("the corpus to generate from"))
    p.add_argument("--into", required=True, help=_("dataset to write into (an exam bank for --strategy exam)"))
    p.add_argument("--strategy", default="qa", choices=["qa", "exam", "self-instruct", "cloze"],
                   help=_("qa: questions then answers from each passage; exam: exam questions into an exam bank; "
                          "self-instruct: accepted samples as examples; cloze: offline fill-in-the-blank "
                          "(default qa)"))
    p.add_argument("--template", help=_("generation template name (default: the strategy's built-in)"))
    p.add_argument("--model", help=_("model name (default $STUDIO_MODEL)"))
    p.add_argument("--base-url", help=_("OpenAI-compatible endpoint (default $STUDIO_BASE_URL); "
                                        "the key is read from $OPENAI_API_KEY (or $STUDIO_API_KEY_ENV)"))
    p.add_argument("--concurrency", type=_concurrency, default=4, metavar="N|auto",
                   help=_("the most requests in flight, 1-64, or auto (up to 64); below it the batch backs off "
                          "on 429 rate limits and grows again (default 4)"))
    p.add_argument("--fixed-concurrency", action="store_true",
                   help=_("keep exactly --concurrency requests in flight (no backing off on 429)"))
    p.add_argument("--rpm", type=float, default=0, help=_("requests per minute limit (default none)"))
    p.add_argument("--budget", type=float, help=_("stop when the estimated cost reaches this"))
    p.add_argument("--budget-tokens", type=int, help=_("stop when this many tokens are spent"))
    p.add_argument("--price-in", type=float, default=0.0, help=_("price per 1M prompt tokens (for the cost)"))
    p.add_argument("--price-out", type=float, default=0.0, help=_("price per 1M completion tokens"))
    p.add_argument("--limit", type=int, help=_("at most this many passages in this run"))
    p.add_argument("--n", type=int, help=_("questions / pairs per passage, 1-20 (default: the template's)"))
    p.add_argument("--temperature", type=float, help=_("sampling temperature, 0-2 (default: the template's)"))
    p.add_argument("--timeout", type=float, default=60.0, help=_("seconds per request (default 60)"))
    p.add_argument("--retries", type=int, default=3, help=_("retries of 429 / 5xx / timeouts (default 3)"))
    p.add_argument("--backoff", type=float, default=1.0, help=_("first retry wait in seconds (doubles)"))
    p.add_argument("--per-passage", type=int, default=3, help=_("cloze pairs per passage, 1-20 (default 3)"))
    p.add_argument("--seed-dataset", help=_("self-instruct: dataset whose accepted samples are the examples"))
    p.add_argument("--retry-failed", action="store_true", help=_("try passages that failed before again"))
    p.add_argument("--no-progress", action="store_true", help=_("no progress bar on stderr"))
    p.set_defaults(render=_render_generate)


def _concurrency(text: str) -> int:
    """``--concurrency``: a whole number, or ``auto`` (adaptive up to 64); the range is checked with the
    other options, in the user's words."""
    from studio.generate.runner import concurrency_value

    return concurrency_value(text)


_concurrency.__name__ = "concurrency"  # argparse names the type in its message: "invalid concurrency value"


def _import_corpus(args) -> dict:
    from studio.data.corpus import import_corpus

    return import_corpus(args.files, args.dataset, size=args.size, overlap=args.overlap,
                         text_field=args.text_field)


def _render_import(s: dict) -> str:
    return ngettext("imported {documents} document into {dataset}: {passages} passages",
                    "imported {documents} documents into {dataset}: {passages} passages", s["documents"]).format(**s)


def _render_generate(s: dict) -> str:
    """One line per run: what it made and what is left (the state in the reader's language)."""
    from studio.generate import state_label

    if s.get("batch") is None:
        return _("nothing to generate: every passage of the corpus is done for {dataset}").format(**s)
    line = _("batch {batch} {state}: {passages} passages, {samples} samples, {failed} failed, {requests} requests, "
             "{tokens} tokens, estimated cost {cost}; {remaining} passages left").format(
        **{**s, "state": state_label(s["state"]), "tokens": f"{s['tokens']:,}", "cost": f"{s['cost']:.4f}"})
    if s.get("rate_limited"):
        line += _("; {rate_limited} rate-limited requests (429) retried, {concurrency} in flight at the end").format(**s)
    return line + (f"\n{s['error']}" if s.get("error") else "")


def _generate(args) -> dict:
    from tqdm import tqdm

    from studio.core.progress import report
    from studio.generate import Options, run

    opts = Options(concurrency=args.concurrency, adaptive=not args.fixed_concurrency, rpm=args.rpm, budget=args.budget, budget_tokens=args.budget_tokens,
                   price_in=args.price_in, price_out=args.price_out, timeout=args.timeout, retries=args.retries,
                   backoff_s=args.backoff, limit=args.limit, n=args.n, temperature=args.temperature,
                   per_passage=args.per_passage, retry_failed=args.retry_failed)
    bar = None

    def progress(p: dict) -> None:
        nonlocal bar
        report(p["done"], p["total"], _("{samples} samples, {failed} failed").format(**p))
        if args.no_progress:
            return
        if bar is None:
            bar = tqdm(total=p["total"], file=sys.stderr, unit=_("passage"), desc=_("generate"))
        bar.update(p["done"] - bar.n)
        bar.set_postfix(samples=p["samples"], failed=p["failed"], tokens=p["tokens"],
                        concurrency=p.get("concurrency"), refused=p.get("rate_limited"), refresh=False)

    try:
        return run(args.dataset, args.into, args.strategy, template=args.template, model=args.model,
                   base_url=args.base_url, options=opts, seed_dataset=args.seed_dataset, progress=progress)
    finally:
        if bar is not None:
            bar.close()
