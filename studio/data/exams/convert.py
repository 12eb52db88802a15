"""Turn exam questions into training pairs: QA pairs and choice pairs (``../shared/DESIGN.md`` "Formats").

A template is data (the ``templates`` table, kind ``convert``): ``{"to", "description", "instruction",
"output"}`` where instruction and output are text with placeholders:

    {question}        the stem, blanks （　　） ( ) （ ） ____ written ___
    {question_raw}    the stem as imported
    {options}         one option per line, each ending in a newline: "A. 雨鞋\\nB. 绝缘靴\\n"
    {options_inline}  "A. 2; B. 4; C. 6; D. 8;"
    {answer}          the answer text; several joined by "; "; a judge question 正确 or 错误
    {answer_labels}   "B", "ACD"
    {answer_options}  "B. 绝缘靴"; several joined by new lines
    {answer_options_inline}  "B. 工作负责人姓名； C. 工作地点"
    {subject} {type_name} {explanation}

Rendering happens in one SQL statement per conversion (fast on large banks); the preview uses the same
statement on the first rows. Samples land with ``instruction`` = content, ``input`` = '', ``output`` =
summary, status ``accepted`` (a converted exam answer is authoritative), origin ``exam-qa`` /
``exam-choice``, their ``qtype`` and ``question_id``, and the template's name. Converting into a dataset
that already holds pairs from the same questions replaces them: fix a question, convert again.
"""
from __future__ import annotations

import string
from typing import Any

from store import datasets as store_datasets
from store import db
from store import exams as sx
from studio.core.errors import InputError
from studio.core.i18n import N_, _

BUILTIN_TEMPLATES: dict[str, dict[str, str]] = {
    "qa": {"to": "qa", "description": N_("训练集 1（一问一答）: the question, the answer text"),
           "instruction": "{question}", "output": "{answer}"},
    "choice": {"to": "choice", "description": N_("训练集 2（带选项）: the question and its options one per line, "
                                                 "the answer as label. text"),
               "instruction": "{question}\n{options}", "output": "{answer_options}"},
    "choice-inline": {"to": "choice", "description": N_("做题模式: options inline after 选项："),
                      "instruction": "{question} 选项：{options_inline}", "output": "{answer_options_inline}"},
}
TARGETS = ("qa", "choice")
PLACEHOLDER_NAMES = tuple(sx.PLACEHOLDERS)
CHOICE_TYPES = ("single", "multi", "judge")   # blank and open questions have no options to choose from


# the numbers of a conversion: (lowest, highest) and how a message names the field (page label and CLI flag)
NUMBERS = {"shuffle": (0, 50, N_("Option-shuffle copies (--shuffle-options)")),
           "seed": (0, 2**31 - 1, N_("Seed (--seed)"))}


def option_problems(**values) -> dict[str, str]:
    """What is wrong with the numbers of a conversion (``shuffle=``, ``seed=``): {name: reason}, {} when
    nothing. A page shows the reasons and keeps its button disabled; ``convert`` refuses the first."""
    out = {}
    for name, value in values.items():
        low, high, _label = NUMBERS[name]
        reason = whole_in_range(value, low, high)
        if reason:
            out[name] = reason
    return out


def whole_in_range(value, low: int, high: int) -> str | None:
    """Why ``value`` is not a whole number from ``low`` to ``high`` (None when it is): empty, not a number,
    a fraction, or out of range."""
    if value is None or isinstance(value, bool) or (isinstance(value, str) and not value.strip()):
        return _("enter a whole number from {low} to {high}").format(low=low, high=f"{high:,}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return _("{value} is not a number: enter a whole number from {low} to {high}").format(
            value=repr(value), low=low, high=f"{high:,}")
    if not number.is_integer():
        return _("{value} is not a whole number: enter one from {low} to {high}").format(
            value=f"{number:g}", low=low, high=f"{high:,}")
    if not low <= number <= high:
        return _("{value} is out of range: enter a whole number from {low} to {high}").format(
            value=f"{number:,.0f}" if abs(number) < 1e15 else f"{number:g}", low=low, high=f"{high:,}")
    return None


def check_options(**values) -> None:
    """``option_problems`` as an InputError naming the first field and its reason."""
    problems = option_problems(**values)
    if problems:
        name, reason = next(iter(problems.items()))
        raise InputError(_("{field}: {reason}").format(field=_(NUMBERS[name][2]), reason=reason))


def parse_template(text: str) -> list[tuple[str, str]]:
    """Template text -> [(literal, placeholder)], ``{{``/``}}`` for braces; unknown names are refused."""
    try:
        parts = list(string.Formatter().parse(text or ""))
    except ValueError:
        raise InputError(_("template text is malformed (a single {{ or }}); write {{{{ and }}}} for literal "
                           "braces").format()) from None
    out = []
    for literal, name, spec, conv in parts:
        if name is not None:
            if name not in sx.PLACEHOLDERS or spec or conv:
                raise InputError(_("unknown placeholder {name}; choose from {names}").format(
                    name="{" + name + "}", names=", ".join("{" + p + "}" for p in sx.PLACEHOLDERS)))
        out.append((literal, name or ""))
    return out


def templates() -> list[dict[str, Any]]:
    """Every convert template (built-ins first) as {name, to, description, instruction, output, builtin}."""
    sx.ensure_templates(BUILTIN_TEMPLATES)
    return [{"name": t["name"], "builtin": t["builtin"], **t["body"]} for t in sx.list_templates()]


def template(name: str) -> dict[str, Any]:
    sx.ensure_templates(BUILTIN_TEMPLATES)
    t = sx.get_template(name)
    if t is None:
        names = ", ".join(x["name"] for x in sx.list_templates())
        raise InputError(_("no convert template named {name} (templates: {names})").format(name=repr(name), names=names))
    return {"name": t["name"], "builtin": t["builtin"], **t["body"]}


def save_template(name: str, *, to: str, instruction: str, output: str, description: str = "") -> dict:
    """Create or update a user template (the built-in names are kept as shipped)."""
    name = (name or "").strip()
    if not name:
        raise InputError(_("a template needs a name"))
    if name in BUILTIN_TEMPLATES:
        raise InputError(_("{name} is a built-in template; save your version under another name").format(
            name=repr(name)))
    if to not in TARGETS:
        raise InputError(_("a template converts to qa or choice, not {to}").format(to=repr(to)))
    parse_template(instruction)
    parse_template(output)
    if not (instruction or "").strip():
        raise InputError(_("the instruction text of a template cannot be empty"))
    sx.save_template(name, {"to": to, "description": description, "instruction": instruction, "output": output})
    return template(name)


def delete_template(name: str) -> None:
    if name in BUILTIN_TEMPLATES:
        raise InputError(_("{name} is a built-in template and cannot be deleted").format(name=repr(name)))
    sx.delete_template(name)


def _exam_dataset(name: str) -> dict:
    d = store_datasets.get(name)
    if d["kind"] != "exam":
        raise InputError(_("dataset {name} holds {kind} records, not exam questions").format(
            name=repr(name), kind=d["kind"]))
    return d


def preview(dataset: str, *, to: str = "qa", instruction: str | None = None, output: str | None = None,
            template_name: str | None = None, limit: int = 5, shuffle: int = 0, seed: int = 0,
            prefix: str | None = None) -> list[dict[str, Any]]:
    """The first pairs a conversion would write (live preview of a template on real rows)."""
    check_options(shuffle=shuffle, seed=seed)
    d = _exam_dataset(dataset)
    t = template(template_name or to)
    ins = parse_template(instruction if instruction is not None else t["instruction"])
    out = parse_template(output if output is not None else t["output"])
    rows = sx.render_rows(d["id"], ins, out, limit=limit, qtypes=CHOICE_TYPES if to == "choice" else None,
                          shuffle=int(shuffle) if to == "choice" else 0, seed=int(seed))
    for r in rows:
        r["instruction"] = (prefix or "") + r["instruction"]
    return rows


def convert(dataset: str, *, to: str, into: str, template_name: str | None = None, shuffle: int = 0,
            seed: int = 0, prefix: str | None = None, system: str | None = None,
            instruction: str | None = None, output: str | None = None) -> dict[str, Any]:
    """Convert every question of exam dataset ``dataset`` into pairs in ``into``; returns {dataset, samples}.

    ``shuffle`` K adds K copies of each single/multi choice question with its options in a seeded random
    order and the answer relabelled (tagged ``shuffled``). ``prefix`` (a domain prefix before every prompt)
    and ``system`` (a system prompt) are kept on the target dataset and used again by later conversions.
    """
    if to not in TARGETS:
        raise InputError(_("--to must be qa or choice, not {to}").format(to=repr(to)))
    check_options(shuffle=shuffle, seed=seed)
    shuffle, seed = int(shuffle), int(seed)
    if shuffle and to != "choice":
        raise InputError(_("shuffling options applies to choice pairs (--to choice)"))
    source = _exam_dataset(dataset)
    into = (into or "").strip()
    if not into:
        raise InputError(_("name the dataset to convert into"))
    if into == dataset:
        raise InputError(_("convert into another dataset than the exam bank itself"))
    t = template(template_name or to)
    name = t["name"]
    if (instruction is not None and instruction != t["instruction"]) or (output is not None and output != t["output"]):
        name = f"{t['name']} (edited)"  # the page's unsaved edit of a template
    ins = parse_template(instruction if instruction is not None else t["instruction"])
    out = parse_template(output if output is not None else t["output"])
    if not sx.question_counts(source["id"]):
        raise InputError(_("dataset {name} has no questions to convert").format(name=repr(dataset)))
    with db.transaction() as cur:
        target_id = store_datasets.get_or_create(into, "samples", cur=cur)
        target = store_datasets.find(into, cur=cur)
        if prefix is not None or system is not None:
            prefix = prefix if prefix is not None else target.get("domain_prefix")
            system = system if system is not None else target.get("system_prompt")
            sx.set_dataset_prompt(cur, target_id, system=system or None, prefix=prefix or None)
        else:
            prefix, system = target.get("domain_prefix"), target.get("system_prompt")
        replaced = sx.delete_converted(cur, source["id"], target_id, f"exam-{to}")
        n = sx.insert_samples(cur, source["id"], target_id, ins, out, origin=f"exam-{to}", template=name,
                              prefix=prefix, system=system or None,
                              qtypes=CHOICE_TYPES if to == "choice" else None, shuffle=shuffle, seed=seed)
    return {"dataset": into, "samples": n, "_replaced": replaced}


def exam_datasets() -> list[str]:
    """Names of the exam datasets (banks) that can be converted."""
    return [d["name"] for d in store_datasets.list_all("exam")]


def target_prompts(into: str) -> dict[str, str]:
    """The domain prefix and system prompt kept on a samples dataset ('' when none or no such dataset)."""
    d = store_datasets.find(into) if into else None
    return {"prefix": (d or {}).get("domain_prefix") or "", "system": (d or {}).get("system_prompt") or ""}


def question_count(dataset: str) -> dict[str, int]:
    """Questions of an exam dataset by type."""
    return sx.question_counts(_exam_dataset(dataset)["id"])
