"""compare (runs side by side on a prompt set, written to a file) and eval (exam accuracy of a run)."""
from __future__ import annotations

import sys

from studio.cli import command
from studio.core.errors import InputError


def register(sub, groups) -> None:
    from studio.evaluate.inference import DEFAULT_MAX_NEW_TOKENS, PRESETS

    p = command(sub, "compare", _compare,
                "answer a prompt set with the base model and each run's adapter; write every output and score "
                "(the base model is always one of the systems, unless --no-base)")
    p.add_argument("--runs", required=True, help="run ids, comma-separated (A,B); 'base' alone compares the base only")
    p.add_argument("--prompts", required=True, action="append",
                   help="prompt file (.json array / .jsonl) or folder of them (DreamerGPT test_data), "
                        "or snapshot:ID (its validation split) or exam:DATASET; repeatable")
    p.add_argument("--out", required=True, help="output file: .jsonl, .json, .csv or .md")
    p.add_argument("--force", action="store_true", help="overwrite --out when it exists")
    p.add_argument("--base-model", help="the base system's model folder (default: the first run's base model)")
    p.add_argument("--no-base", action="store_true", help="leave the base model out of the systems")
    p.add_argument("--preset", choices=list(PRESETS), default="greedy",
                   help="decode preset: greedy, chatglm (temperature 0.01, top_p 1) or sampled")
    p.add_argument("--max-new-tokens", type=int, default=DEFAULT_MAX_NEW_TOKENS)
    p.add_argument("--stop", action="append", default=[], help="stop string (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of sampled decoding")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--name", help="name of the prompt set when imported from files")
    p.add_argument("--judge-model", help="also score every output with this judge model (GPT-as-judge)")
    p.add_argument("--base-url", help="the judge's OpenAI-compatible endpoint (default $STUDIO_BASE_URL)")
    p.add_argument("--judge-template", default="dreamergpt", help="judge template name (default: dreamergpt)")

    p = command(sub, "eval", _eval, "exam accuracy of a run (or 'base') on an exam dataset, per type and subject")
    p.add_argument("--run", required=True, help="run id, or 'base' for the base model")
    p.add_argument("--dataset", required=True, help="exam dataset name")
    p.add_argument("--shuffles", type=int, default=0, help="ask each question K more times with options shuffled")
    p.add_argument("--seed", type=int, default=0, help="seed of the option shuffles")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--base-model", help="base model folder (with --run base; default: the demo model)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=16)


def _bar(desc: str):
    """A tqdm progress callback on stderr (and the job's progress when the server runs the command)."""
    from tqdm import tqdm

    from studio.core.progress import report

    state = {"bar": None}

    def update(done: int, total: int, label: str) -> None:
        report(done, total, f"{desc} {label}".strip())
        if state["bar"] is None:
            state["bar"] = tqdm(total=total, desc=desc, file=sys.stderr, leave=False, disable=total == 0)
        bar = state["bar"]
        bar.n = done
        if label:
            bar.set_postfix_str(label[:30], refresh=False)
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def _prompt_set(sources: list[str], name: str | None) -> dict:
    from studio.evaluate import prompt_sets

    files, result = [], None
    for src in sources:
        if src.startswith("snapshot:"):
            result = prompt_sets.from_snapshot(src.split(":", 1)[1], name=name)
        elif src.startswith("exam:"):
            result = prompt_sets.from_exam(src.split(":", 1)[1], name=name)
        else:
            files.append(src)
    if files and result:
        raise InputError("give either prompt files or one snapshot:/exam: source, not both")
    if len([s for s in sources if ":" in s and s.split(":", 1)[0] in ("snapshot", "exam")]) > 1:
        raise InputError("give one snapshot:/exam: source at a time")
    return result or prompt_sets.import_paths(files, name=name)


def _compare(args) -> dict:
    from studio.evaluate import comparisons, judge, report

    run_ids = [r.strip() for r in args.runs.split(",") if r.strip()]
    if not run_ids:
        raise InputError("--runs needs at least one run id")
    report.check_target(args.out, overwrite=args.force)
    pset = _prompt_set(args.prompts, args.name)
    comp = comparisons.open_comparison(pset["prompt_set"], run_ids, base_model=args.base_model,
                                       preset=args.preset, max_new_tokens=args.max_new_tokens, stop=args.stop,
                                       seed=args.seed, include_base=not args.no_base)
    gen = comparisons.generate(comp["id"], batch_size=args.batch_size, progress=_bar("generating"))
    judged = None
    if args.judge_model:
        judged = judge.judge_comparison(comp["id"], model=args.judge_model, base_url=args.base_url,
                                        template_name=args.judge_template, progress=_bar("judging"))
    written = report.write(comp["id"], args.out, overwrite=args.force)
    summary = {"prompts": pset["prompts"], "systems": len(comp["systems"]), "out": written["out"],
               "system_ids": comp["systems"], "base_included": "base" in comp["systems"],
               "comparison": comp["id"], "prompt_set": pset["name"], "generated": gen["generated"],
               "cached": gen["cached"]}
    if judged is not None:
        summary["judge"] = judged
        if judged["failed"]:
            summary["_exit"] = 1
    return summary


def _eval(args) -> dict:
    from studio.evaluate import exam_accuracy, inference

    decode = inference.decode_settings("greedy", max_new_tokens=args.max_new_tokens)
    return exam_accuracy.evaluate(args.run, args.dataset, shuffles=args.shuffles, seed=args.seed, limit=args.limit,
                              base_model=args.base_model, decode=decode, batch_size=args.batch_size,
                              progress=_bar("answering"))
