"""compare (runs and API systems side by side on a prompt set, written to a file; or the commands that serve
runs on vLLM / LLaMA-Factory) and eval (exam accuracy of a run or an API system).

An API system is ``--api LABEL=MODEL@BASE_URL`` (optionally ``#KEY_ENV``, the name of the environment
variable holding its key; default ``$STUDIO_API_KEY_ENV``); it is saved under its label, the key never."""
from __future__ import annotations

import sys

from studio.cli import command
from studio.core.errors import InputError
from studio.core.i18n import _
from studio.evaluate import limits


def register(sub, groups) -> None:
    from studio.evaluate.inference import DEFAULT_MAX_NEW_TOKENS, PRESETS

    p = command(sub, "compare", _compare,
                _("answer a prompt set with the base model, each run's adapter and API systems; write every output "
                  "and score (the base model is always one of the systems, unless --no-base)"))
    p.add_argument("--runs", default="",
                   help=_("run ids, comma-separated (A,B); 'base' alone compares the base only; may be left out "
                          "when --api is given"))
    p.add_argument("--api", action="append", default=[], metavar="LABEL=MODEL@BASE_URL",
                   help=_("an OpenAI-compatible system (OpenAI, DeepSeek, Qwen, Ollama, vLLM); optionally "
                          "#KEY_ENV, the name of the environment variable holding its key; repeatable"))
    p.add_argument("--prompts", action="append",
                   help=_("prompt file (.json array / .jsonl) or folder of them (DreamerGPT test_data), "
                          "or snapshot:ID (its validation split) or exam:DATASET; repeatable"))
    p.add_argument("--out", help=_("output file: .jsonl, .json, .csv or .md"))
    p.add_argument("--serve-command", action="store_true",
                   help=_("print the vllm serve and llamafactory-cli api commands that serve --runs (LoRA) on a "
                          "GPU server, and the --api systems to compare them by; nothing is generated"))
    p.add_argument("--port", default=8000, type=int, help=_("first port of --serve-command (default 8000)"))
    p.add_argument("--force", action="store_true", help=_("overwrite --out when it exists"))
    p.add_argument("--base-model", help=_("the base system's model folder (default: the first run's base model)"))
    p.add_argument("--no-base", action="store_true", help=_("leave the base model out of the systems"))
    p.add_argument("--preset", choices=list(PRESETS), default="greedy",
                   help=_("decode preset: greedy, chatglm (temperature 0.01, top_p 1) or sampled"))
    _number(p, "--max-new-tokens", DEFAULT_MAX_NEW_TOKENS, limits.MAX_NEW_TOKENS)
    p.add_argument("--stop", action="append", default=[], help=_("stop string (repeatable)"))
    _number(p, "--seed", 0, limits.SEED, _("seed of sampled decoding"))
    _number(p, "--batch-size", 16, limits.BATCH_SIZE)
    _number(p, "--concurrency", 8, limits.CONCURRENCY, _("requests in flight to API systems and the judge"))
    p.add_argument("--name", help=_("name of the prompt set when imported from files"))
    p.add_argument("--judge-model", help=_("also score every output with this judge model (GPT-as-judge)"))
    p.add_argument("--base-url", help=_("the judge's OpenAI-compatible endpoint (default $STUDIO_BASE_URL)"))
    p.add_argument("--judge-template", default="dreamergpt", help=_("judge template name (default: dreamergpt)"))
    p.set_defaults(render=_render_compare)

    p = command(sub, "eval", _eval,
                _("exam accuracy of a run (or 'base', or an API system) on an exam dataset, per type and subject"))
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--run", help=_("run id, or 'base' for the base model"))
    who.add_argument("--api", metavar="LABEL=MODEL@BASE_URL",
                     help=_("an OpenAI-compatible system answering the same prompts (optionally #KEY_ENV)"))
    p.add_argument("--dataset", required=True, help=_("exam dataset name"))
    _number(p, "--shuffles", 0, limits.SHUFFLES, _("ask each question K more times with options shuffled"))
    _number(p, "--seed", 0, limits.SEED, _("seed of the option shuffles"))
    _number(p, "--limit", 0, limits.QUESTIONS, _("only the first N questions (0: all)"))
    p.add_argument("--base-model", help=_("base model folder (with --run base; default: the demo model)"))
    _number(p, "--max-new-tokens", 64, limits.MAX_NEW_TOKENS)
    _number(p, "--batch-size", 16, limits.BATCH_SIZE)
    _number(p, "--concurrency", 8, limits.CONCURRENCY, _("requests in flight to an API system"))
    p.set_defaults(render=_render_eval)


def _number(p, flag: str, default, limit, help: str | None = None) -> None:
    """A numeric option read as text and checked by the same range the pages use (one line, exit 2)."""
    p.add_argument(flag, default=default, metavar="N",
                   help=_("{help} ({low}-{high}; default {default})").format(
                       help=help or _(limit.name), low=_show(limit.low), high=_show(limit.high), default=default))
    p.set_defaults(**{"_checks": {**(p.get_default("_checks") or {}), flag: limit}})


def _show(value) -> str:
    return str(int(value)) if float(value) == int(value) else str(value)


def _checked(args) -> None:
    """Replace each numeric option's text by its number; InputError naming the flag and range when not sane."""
    for flag, limit in (getattr(args, "_checks", None) or {}).items():
        dest = flag.lstrip("-").replace("-", "_")
        setattr(args, dest, limit.check(getattr(args, dest), flag=flag))


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
        raise InputError(_("give either prompt files or one snapshot:/exam: source, not both"))
    if len([s for s in sources if ":" in s and s.split(":", 1)[0] in ("snapshot", "exam")]) > 1:
        raise InputError(_("give one snapshot:/exam: source at a time"))
    return result or prompt_sets.import_paths(files, name=name)


def _compare(args) -> dict:
    from studio.evaluate import comparisons, judge, report, systems

    _checked(args)
    run_ids = [r.strip() for r in args.runs.split(",") if r.strip()]
    if args.serve_command:
        return _serve_command(run_ids, args)
    apis = [systems.define(spec).label for spec in args.api]
    if not run_ids and not apis:
        raise InputError(_("--runs needs at least one run id (or give API systems with --api)"))
    if not args.prompts or not args.out:
        raise InputError(_("compare needs --prompts and --out (or --serve-command)"))
    report.check_target(args.out, overwrite=args.force)
    pset = _prompt_set(args.prompts, args.name)
    comp = comparisons.open_comparison(pset["prompt_set"], run_ids, base_model=args.base_model,
                                       preset=args.preset, max_new_tokens=args.max_new_tokens, stop=args.stop,
                                       seed=args.seed, include_base=not args.no_base, apis=apis)
    gen = comparisons.generate(comp["id"], batch_size=args.batch_size, progress=_bar(_("generating")),
                               concurrency=args.concurrency)
    judged = None
    if args.judge_model:
        judged = judge.judge_comparison(comp["id"], model=args.judge_model, base_url=args.base_url,
                                        template_name=args.judge_template, progress=_bar(_("judging")),
                                        concurrency=args.concurrency)
    written = report.write(comp["id"], args.out, overwrite=args.force)
    summary = {"prompts": pset["prompts"], "systems": len(comp["systems"]), "out": written["out"],
               "system_ids": comp["systems"], "base_included": "base" in comp["systems"],
               "comparison": comp["id"], "prompt_set": pset["name"], "generated": gen["generated"],
               "cached": gen["cached"], "failed": gen.get("failed", 0)}
    if gen.get("failed"):
        summary["_exit"] = 1
    if judged is not None:
        summary["judge"] = judged
        if judged["failed"]:
            summary["_exit"] = 1
    return summary


def _serve_command(run_ids: list[str], args) -> dict:
    """The commands that serve the runs on vLLM and LLaMA-Factory, and the API systems that compare them."""
    from studio.evaluate import serve_commands

    found = serve_commands.commands([r for r in run_ids if r != "base"], base_model=args.base_model,
                                    port=args.port)
    return {"serve_command": True, "vllm": found["vllm"]["command"], "vllm_apis": found["vllm"]["apis"],
            "llamafactory": [c["command"] for c in found["llamafactory"]],
            "llamafactory_apis": [c["api"] for c in found["llamafactory"]]}


def _eval(args) -> dict:
    from studio.evaluate import exam_accuracy, inference, systems

    _checked(args)
    decode = inference.decode_settings("greedy", max_new_tokens=args.max_new_tokens)
    run = systems.define(args.api).id if args.api else args.run
    return exam_accuracy.evaluate(run, args.dataset, shuffles=args.shuffles, seed=args.seed,
                                  limit=args.limit or None, base_model=args.base_model, decode=decode,
                                  batch_size=args.batch_size, progress=_bar(_("answering")),
                                  concurrency=args.concurrency)


def _render_compare(s: dict) -> str:
    if s.get("serve_command"):
        return "\n".join([_("# vLLM: the base model and every adapter in one server"), s["vllm"],
                          _("# then compare them with:"), *(f"--api {a}" for a in s["vllm_apis"]),
                          _("# or LLaMA-Factory: one server per adapter"), *s["llamafactory"],
                          _("# then compare them with:"), *(f"--api {a}" for a in s["llamafactory_apis"])])
    lines = [_("{prompts} prompts ({prompt_set}) answered by {systems} systems: {ids}").format(
                 prompts=s["prompts"], prompt_set=s["prompt_set"], systems=s["systems"],
                 ids=", ".join(s["system_ids"])),
             _("generated {generated} outputs, {cached} from the cache").format(**s)]
    if s.get("failed"):
        lines.append(_("{failed} requests to API systems failed: run it again to ask them again").format(**s))
    if s.get("judge"):
        lines.append(_("judge: {scored} scored, {unparsed} unparsed, {failed} failed requests").format(**s["judge"]))
    lines.append(_("written to {out} (comparison #{comparison})").format(**s))
    return "\n".join(lines)


def _pct(v) -> str:
    return "--" if v is None else f"{v:.1%}"


def _render_eval(s: dict) -> str:
    from studio.core.labels import label

    if s.get("stopped"):
        return _("stopped: {generated} answers kept; run it again for the rest").format(**s)
    lines = [_("{system} on {dataset}: accuracy {accuracy} over {n} questions ({unparsed} unparsed)").format(
        system=_("base model") if s["run"] == "base" else s["run"].removeprefix("api:"), dataset=s["dataset"],
        accuracy=_pct(s["accuracy"]),
        n=s["n"], unparsed=s["unparsed"])]
    lines.append("  " + ", ".join(f"{label('qtype', t)} {_pct(v)}" for t, v in s["by_type"].items()))
    if s.get("shuffles"):
        lines.append(_("with {k} option shuffles: accuracy {accuracy}, the same answer every time {consistent}").format(
            k=s["shuffles"], accuracy=_pct(s.get("shuffled_accuracy")), consistent=_pct(s.get("consistent"))))
    for subject, v in (s.get("by_subject") or {}).items():
        lines.append(f"  {subject or '--'}: {_pct(v)}")
    return "\n".join(lines)
