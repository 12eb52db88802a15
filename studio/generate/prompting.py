"""Generation strategies as prompt templates stored as data (``templates`` rows, kind ``generate``).

A template body is JSON:

    {"strategy": "qa" | "exam" | "self-instruct",
     "description": "what it does",
     "system": "system message",
     "steps": [{"name": "questions", "prompt": "..."}, {"name": "answers", "prompt": "..."}],
     "n": 3,                 # how many questions / pairs to ask for per passage
     "temperature": 0.7}

Placeholders in ``system`` and prompts (only these are replaced; other braces, such as JSON examples,
stay as written): ``{passage}`` the passage text, ``{heading}`` its chapter / article, ``{title}`` the
document title, ``{n}``, ``{questions}`` (the questions of step 1, numbered; qa only) and ``{examples}``
(accepted samples as few-shot examples, JSON lines; self-instruct only).

The built-in templates are written once into the table and can be edited or copied on the Generate page.
"""
from __future__ import annotations

import json

STRATEGIES = ("qa", "exam", "self-instruct", "cloze")
PLACEHOLDERS = ("passage", "heading", "title", "n", "questions", "examples")

BUILTIN: dict[str, dict] = {
    "qa-reliable-self-instruct": {
        "strategy": "qa",
        "description": "Reliable-Self-Instruct (LaWGPT): ask questions about the passage, then answer "
                       "them from the passage only.",
        "system": "你是一名严谨的领域专家，只依据给定的文本作答，不编造文本之外的内容。",
        "steps": [
            {"name": "questions", "prompt": (
                "下面是《{title}》中的一段文本（{heading}）：\n\n{passage}\n\n"
                "请针对这段文本的内容和逻辑关系提出 {n} 个不同的问题，问题必须能够仅凭这段文本回答。\n"
                "只输出 JSON，格式：{\"questions\": [\"问题1\", \"问题2\"]}")},
            {"name": "answers", "prompt": (
                "文本（{heading}）：\n\n{passage}\n\n请仅依据上面的文本回答下列问题，答案要完整、准确，"
                "尽量引用文本原话：\n{questions}\n\n"
                "只输出 JSON，格式：{\"answers\": [{\"question\": \"问题\", \"answer\": \"答案\"}]}")},
        ],
        "n": 3,
        "temperature": 0.7,
    },
    "exam-from-passage": {
        "strategy": "exam",
        "description": "Exam questions (single / multi / judge) with options and answer, written into an "
                       "exam bank.",
        "system": "你是一名出题专家，根据给定条文编写考试题目，答案必须能在条文中找到依据。",
        "steps": [
            {"name": "exam", "prompt": (
                "条文（《{title}》{heading}）：\n\n{passage}\n\n"
                "请依据上面的条文编写 {n} 道考试题，题型可以是单选题(single)、多选题(multi)或判断题(judge)。"
                "选择题给出 A-D 四个选项；判断题的答案为“正确”或“错误”。\n"
                "只输出 JSON，格式：{\"questions\": [{\"type\": \"single\", \"question\": \"题干\", "
                "\"options\": {\"A\": \"...\", \"B\": \"...\", \"C\": \"...\", \"D\": \"...\"}, "
                "\"answer\": \"B\"}, {\"type\": \"multi\", \"question\": \"...\", \"options\": {...}, "
                "\"answer\": [\"A\", \"C\"]}, {\"type\": \"judge\", \"question\": \"...\", "
                "\"answer\": \"正确\"}]}")},
        ],
        "n": 3,
        "temperature": 0.7,
    },
    "self-instruct-few-shot": {
        "strategy": "self-instruct",
        "description": "Self-instruct: accepted samples as few-shot examples, new pairs about the passage.",
        "system": "你是一名领域专家，负责编写高质量的指令微调数据。",
        "steps": [
            {"name": "pairs", "prompt": (
                "下面是已经审核通过的示例（每行一个 JSON）：\n{examples}\n\n"
                "参考示例的风格，依据下面的文本（{heading}）编写 {n} 条新的指令和回答，回答必须以文本为依据：\n\n"
                "{passage}\n\n"
                "只输出 JSON，格式：{\"pairs\": [{\"instruction\": \"...\", \"input\": \"\", "
                "\"output\": \"...\"}]}")},
        ],
        "n": 3,
        "temperature": 0.9,
    },
}
DEFAULT_FOR = {"qa": "qa-reliable-self-instruct", "exam": "exam-from-passage",
               "self-instruct": "self-instruct-few-shot"}


def fill(text: str, values: dict) -> str:
    """Replace the known ``{placeholders}`` in ``text``; everything else stays as written."""
    for key in PLACEHOLDERS:
        if key in values:
            text = text.replace("{" + key + "}", str(values[key]))
    return text


def messages(body: dict, step: int, values: dict) -> list[dict]:
    """The chat messages of one step of a template for one passage."""
    out = []
    if body.get("system"):
        out.append({"role": "system", "content": fill(body["system"], values)})
    out.append({"role": "user", "content": fill(body["steps"][step]["prompt"], values)})
    return out


def values_for(passage: dict, body: dict, *, questions: list[str] | None = None,
               examples: list[dict] | None = None) -> dict:
    """The placeholder values for a passage row (text, heading, document_title)."""
    return {
        "passage": passage.get("text", ""), "heading": passage.get("heading") or "",
        "title": passage.get("document_title") or "", "n": body.get("n", 3),
        "questions": "\n".join(f"{i}. {q}" for i, q in enumerate(questions or [], start=1)),
        "examples": "\n".join(json.dumps({k: e.get(k, "") for k in ("instruction", "input", "output")},
                                         ensure_ascii=False) for e in (examples or [])),
    }


def validate(body: dict) -> dict:
    """Check a template body; return it normalised. Raises InputError naming what is wrong."""
    from studio.core.errors import InputError
    from studio.core.i18n import _

    if not isinstance(body, dict):
        raise InputError(_("a template is a JSON object"))
    strategy = body.get("strategy")
    if strategy not in DEFAULT_FOR:
        raise InputError(_("template strategy must be one of {choices}, not {strategy}").format(
            choices=", ".join(DEFAULT_FOR), strategy=repr(strategy)))
    steps = body.get("steps")
    want = 2 if strategy == "qa" else 1
    if not isinstance(steps, list) or len(steps) != want or not all(
            isinstance(s, dict) and str(s.get("prompt", "")).strip() for s in steps):
        raise InputError(_("a {strategy} template needs {n} step(s), each with a prompt").format(
            strategy=strategy, n=want))
    if "{passage}" not in "".join(s["prompt"] for s in steps):
        raise InputError(_("the prompts must contain `{placeholder}`").format(placeholder="{passage}"))
    if strategy == "qa" and "{questions}" not in steps[1]["prompt"]:
        raise InputError(_("the answers step of a qa template must contain `{placeholder}`").format(
            placeholder="{questions}"))
    if strategy == "self-instruct" and "{examples}" not in steps[0]["prompt"]:
        raise InputError(_("a self-instruct template must contain `{placeholder}`").format(placeholder="{examples}"))
    try:
        n = int(body.get("n", 3))
        temperature = float(body.get("temperature", 0.7))
    except (TypeError, ValueError):
        raise InputError(_("questions per passage (n) must be a whole number and temperature a number")) from None
    if not 1 <= n <= 20 or not 0 <= temperature <= 2:
        raise InputError(_("questions per passage (n) must be 1-20 and temperature 0-2"))
    return {**body, "n": n, "temperature": temperature}
