"""Exam questions written by an LLM, read into the exam_questions shape (qtype, question, options, answer
labels, answer text) and checked by the exam rules (``studio.core.exam_rules``) before they are stored:
a question the importer or the editor would refuse is refused here too, with the same reason."""
from __future__ import annotations

import json
import re

from studio.core import exam_rules as rules
from studio.core.i18n import _


def _text(value) -> str:
    return value.strip(rules.WS) if isinstance(value, str) else ""


def _options(raw) -> list[dict[str, str]]:
    """``{"A": "x"}``, ``["A. x", "B. y"]``, ``["x", "y"]``, ``[{"label", "text"}]`` or objects with any text
    key (``[{"optionContent": "x"}]``, ``exam_rules.option_object``), or any of them as JSON text ->
    [{label, text}]."""
    if isinstance(raw, str) and raw.strip(rules.WS)[:1] in ("[", "{"):
        try:
            raw = json.loads(raw)
        except ValueError:
            return []
    if isinstance(raw, dict):
        return [{"label": rules.norm_label(k), "text": _text(v) if isinstance(v, str) else str(v)}
                for k, v in raw.items()]
    if not isinstance(raw, list):
        return []
    options = []
    for n, o in enumerate(raw):
        auto = chr(65 + n)
        if isinstance(o, dict):
            label, text = rules.option_object(o)
            options.append({"label": label or auto, "text": text.strip(rules.WS)})
            continue
        m = re.match(rules.OPTION_LINE, str(o).strip(rules.WS), re.S)
        options.append({"label": rules.norm_label(m.group(1)), "text": m.group(2).strip(rules.WS)} if m
                       else {"label": auto, "text": str(o).strip(rules.WS)})
    return options


def _answer(value) -> str:
    """The answer as text: ``true`` -> 正确, ``["C", "A"]`` -> ``C,A``."""
    if isinstance(value, bool):
        return "正确" if value else "错误"
    if isinstance(value, list):
        return ",".join(str(a).strip(rules.WS) for a in value)
    return rules.clean_answer(value) if value is not None else ""


def exam_question(item) -> dict:
    """A generated exam question in the exam_questions shape; ValueError says what is wrong (the exam
    rules' reason). Without a recognisable type, as the importer infers it: judge when it has no options
    or options 正确/错误, else single or multi by the number of answer labels."""
    if not isinstance(item, dict):
        raise ValueError(_("the question is not a JSON object"))
    stated = str(item.get("type") or "").strip(rules.WS) or None
    qtype = rules.stated_type(stated)
    options = _options(item.get("options"))
    answer = _answer(item.get("answer"))
    q = {"question": _text(item.get("question") or item.get("stem")), "answer": answer, "stated": stated}
    if qtype is None:
        qtype = "judge" if not options or rules.is_judge_pair(options) else "choice"
    else:  # a stated type the content contradicts beyond doubt, as the importer reads it
        qtype = rules.reclassify(qtype, {**q, "options": options})
    if qtype == "judge":
        q.update(qtype="judge", options=options or rules.judge_options(),
                 answer_labels=rules.read_judge(answer, options))
    elif qtype in rules.TEXT:
        # as the importer reads a row: options and a letter answer under a text type are labels (refused)
        letters = rules.read_letters(answer) if len(options) >= 2 else None
        q.update(qtype=qtype, options=options, answer_labels=letters or [])
    else:
        labels = rules.read_choice(answer, options)
        if qtype == "choice":
            qtype = "multi" if labels and len(labels) > 1 else "single"
        q.update(qtype=qtype, options=options, answer_labels=labels)
    found = rules.problems(q)
    if found:
        raise ValueError(found[0])
    return {"qtype": q["qtype"], "question": q["question"], "options": q["options"],
            "answer_labels": q["answer_labels"], "answer_text": rules.answer_text(q)}
