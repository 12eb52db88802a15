"""The per-strategy passage handlers: what one passage becomes under qa, exam, self-instruct or cloze.

Each handler fills the passage's :class:`~studio.generate.caller.Outcome` with samples (or exam
questions) and raises :class:`~studio.generate.caller.PassageFailed` when the model's reply gives none.
:func:`work` runs a handler for one passage (in a worker thread for the LLM strategies) and never
touches the database: the runner commits the outcome.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

from studio.core.i18n import _
from studio.generate import cloze as cloze_mod
from studio.generate import prompting as tpl
from studio.generate.caller import Caller, Fatal, Halted, Outcome, PassageFailed
from studio.generate.exam_items import exam_question
from studio.generate.parse import ParseError, items, parse_json

if TYPE_CHECKING:
    from studio.generate.runner import Options


@dataclass
class Context:
    """What every passage of a batch shares."""
    strategy: str
    template: str
    body: dict
    opts: Options
    caller: Caller | None
    examples: list


def work(p: dict, ctx: Context) -> Outcome:
    """Passage ``p``'s outcome under ``ctx.strategy``, its samples tagged and flagged for review."""
    out = Outcome(p["id"])
    try:
        STRATEGY_FUNCS[ctx.strategy](p, ctx, out)
    except PassageFailed as err:
        out.status, out.error = err.status, err.error
        out.samples, out.questions = [], []
    except Fatal as err:
        out.status, out.error = "fatal", str(err)
    except Halted:  # the batch is stopping: not finished, the passage stays to do
        out.status, out.samples, out.questions = "halted", [], []
    from studio.data.review_flags import sample_flags

    for s in out.samples:
        s.setdefault("template", ctx.template)
        s.setdefault("tags", [ctx.strategy])
        s["source_file"] = p.get("source_file")
        s["flags"] = sample_flags(s["instruction"], s.get("input", ""), s["output"], p["text"])
    return out


def _parsed(out: Outcome, index: int, text: str, *keys: str) -> list:
    """The list in a reply; an unreadable reply marks its request and the passage 'unparsed'."""
    try:
        return items(parse_json(text), *keys)
    except ParseError as err:
        out.requests[index].status = "unparsed"
        out.requests[index].error = str(err)
        reason = _("{step}: {reason}").format(step=out.requests[index].step, reason=err)
        raise PassageFailed("unparsed", reason) from None


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


# -- strategies: each puts the passage's samples / questions into ``out`` ------------------------------
def _qa(p: dict, ctx: Context, out: Outcome) -> None:
    body = ctx.body
    values = tpl.values_for(p, body)
    i, text = ctx.caller.ask(out, body["steps"][0].get("name", "questions"), tpl.messages(body, 0, values),
                             body["temperature"])
    questions = []
    for q in _parsed(out, i, text, "questions"):
        q = _text(q) or (_text(q.get("question") or q.get("q")) if isinstance(q, dict) else "")
        if q and q not in questions:
            questions.append(q)
    questions = questions[:max(1, body["n"]) * 2]
    if not questions:
        out.requests[i].status, out.requests[i].error = "unparsed", _("no questions in the reply")
        raise PassageFailed("unparsed", _("questions: no questions in the reply"))
    values = tpl.values_for(p, body, questions=questions)
    j, text = ctx.caller.ask(out, body["steps"][1].get("name", "answers"), tpl.messages(body, 1, values),
                             body["temperature"])
    answers = _parsed(out, j, text, "answers", "pairs")
    for k, a in enumerate(answers):
        if isinstance(a, dict):
            q = _text(a.get("question") or a.get("q")) or (questions[k] if k < len(questions) else "")
            ans = _text(a.get("answer") or a.get("a") or a.get("output"))
        else:
            q, ans = (questions[k] if k < len(questions) else ""), _text(a)
        if q and ans:
            out.samples.append({"instruction": q, "output": ans, "request": j, "origin": "generated"})
    if not out.samples:
        out.requests[j].status, out.requests[j].error = "unparsed", _("no answers in the reply")
        raise PassageFailed("unparsed", _("answers: no question-answer pairs in the reply"))


def _self_instruct(p: dict, ctx: Context, out: Outcome) -> None:
    body = ctx.body
    rng = random.Random(p["id"])
    examples = rng.sample(ctx.examples, min(ctx.opts.examples, len(ctx.examples)))
    values = tpl.values_for(p, body, examples=examples)
    i, text = ctx.caller.ask(out, body["steps"][0].get("name", "pairs"), tpl.messages(body, 0, values),
                             body["temperature"])
    for pair in _parsed(out, i, text, "pairs", "samples", "data"):
        if not isinstance(pair, dict):
            continue
        ins = _text(pair.get("instruction") or pair.get("question"))
        outp = _text(pair.get("output") or pair.get("answer"))
        if ins and outp:
            out.samples.append({"instruction": ins, "input": _text(pair.get("input")), "output": outp,
                                "request": i, "origin": "generated"})
    if not out.samples:
        out.requests[i].status, out.requests[i].error = "unparsed", _("no instruction-output pairs")
        raise PassageFailed("unparsed", _("no instruction-output pairs in the reply"))


def _exam(p: dict, ctx: Context, out: Outcome) -> None:
    body = ctx.body
    values = tpl.values_for(p, body)
    i, text = ctx.caller.ask(out, body["steps"][0].get("name", "exam"), tpl.messages(body, 0, values),
                             body["temperature"])
    problems = []
    for item in _parsed(out, i, text, "questions", "items"):
        try:
            q = exam_question(item)
        except ValueError as err:
            problems.append(str(err))
            continue
        out.questions.append({**q, "request": i, "subject": p.get("document_title"),
                              "basis": p.get("heading"), "source_file": p.get("source_file")})
    if problems:
        out.requests[i].error = _("{n} item(s) skipped: {reasons}").format(n=len(problems),
                                                                           reasons="; ".join(problems[:5]))
    if not out.questions:
        out.requests[i].status = "unparsed"
        raise PassageFailed("unparsed", _("no valid exam question in the reply ({reason})").format(
            reason=problems[0]) if problems else _("no valid exam question in the reply"))


def _cloze(p: dict, ctx: Context, out: Outcome) -> None:
    for pair in cloze_mod.cloze_pairs(p["text"], ctx.opts.per_passage):
        out.samples.append({"instruction": pair["instruction"], "output": pair["output"], "origin": "cloze",
                            "tags": ["cloze", pair["kind"]]})
    if not out.samples:
        out.status = "empty"


STRATEGY_FUNCS = {"qa": _qa, "exam": _exam, "self-instruct": _self_instruct, "cloze": _cloze}
