"""Fix exam questions: page through a bank's questions (search, type filter) and save one edited question.

An edit is checked with the exam rules of ``studio.core.exam_rules``, the ones the importer and generated
questions are checked with (a question, enough options labelled A, B, C… in order, answer labels among
the options, one label for a single-choice question, a judge question's options 正确/错误, a text answer
for blank and open questions), then written in one transaction with the row's version checked:
an edit of a question someone changed since it was shown raises ``Conflict`` carrying the current row
(``err.current``) and changes nothing. Converted pairs keep their ``question_id``: converting the bank again
into the same dataset replaces that question's pairs with the fixed ones.
"""
from __future__ import annotations

import json
import re
from typing import Any

from store import datasets as store_datasets
from store import db
from store import exams as sx
from studio.core import exam_rules as rules
from studio.core.errors import Conflict, InputError, NotFound
from studio.core.i18n import N_, _

QTYPES = rules.QTYPES
TYPE_NAMES = rules.TYPE_NAMES
PER_PAGE = (10, 20, 50, 100)
# the editor's fields as an error names them (``column``), in the words of the page's labels
FORM_FIELDS = {"question": N_("question"), "options": N_("options"), "answer labels": N_("answer labels"),
               "answer text": N_("answer text")}
_OPTION_LINE = re.compile(rules.OPTION_LINE, re.S)


def _bank(dataset: str) -> dict:
    d = store_datasets.get(dataset)
    if d["kind"] != "exam":
        raise InputError(_("dataset {name} holds {kind} records, not exam questions").format(
            name=repr(dataset), kind=d["kind"]))
    return d


def _options(raw) -> list[dict[str, str]]:
    if raw is None:
        return []
    return json.loads(raw) if isinstance(raw, str) else list(raw)


def shown(row: dict[str, Any]) -> dict[str, Any]:
    """A stored question as the editor shows it: options as ``A. text`` lines, answer labels as ``ACD``."""
    opts = _options(row.get("options"))
    return {
        "id": row["id"], "version": row["version"], "qtype": row["qtype"], "subject": row.get("subject") or "",
        "question": row["question"], "options": "\n".join(f"{o['label']}. {o['text']}" for o in opts),
        "answer_labels": "".join(row.get("answer_labels") or []), "answer_text": row.get("answer_text") or "",
        "basis": row.get("basis") or "", "ext_id": row.get("ext_id"),
        "source": ", ".join(str(x) for x in (row.get("source_file"), row.get("source_sheet") and
                                             _("sheet {sheet}").format(sheet=row["source_sheet"]),
                                             row.get("source_row") and _("row {row}").format(row=row["source_row"]))
                            if x),
    }


def questions_page(dataset: str, *, search: str = "", qtype: str | None = None, page: int = 1,
                   per_page: int = 20) -> dict[str, Any]:
    """One page of a bank's questions matching ``search`` (text, options, answer, basis, subject, id) and
    ``qtype``, each with the pairs converted from it: {total, page, pages, per_page, rows, targets}."""
    d = _bank(dataset)
    if qtype is not None and qtype not in QTYPES:
        raise InputError(_("type must be one of {types}, not {qtype}").format(types=", ".join(QTYPES), qtype=repr(qtype)))
    per_page = max(1, min(int(per_page), 500))
    search = (search or "").strip()
    total, _unused = sx.find_questions(d["id"], search=search, qtype=qtype, limit=0)
    pages = max(1, -(-total // per_page))
    page = max(1, min(int(page), pages))
    _unused, found = sx.find_questions(d["id"], search=search, qtype=qtype, limit=per_page, offset=(page - 1) * per_page)
    pairs: dict[int, list[dict]] = {}
    for p in sx.converted_pairs([r["id"] for r in found]):
        pairs.setdefault(p["question_id"], []).append({k: p[k] for k in ("dataset", "origin", "n", "stale")})
    rows = []
    for r in found:
        row = shown(r)
        row["pairs"] = pairs.get(r["id"], [])
        rows.append(row)
    return {"dataset": dataset, "total": total, "page": page, "pages": pages, "per_page": per_page, "rows": rows,
            "targets": sx.converted_targets(d["id"])}


def get_question(question_id: int) -> dict[str, Any]:
    r = sx.get_question(question_id)
    if r is None:
        raise NotFound(_("no exam question #{id}").format(id=question_id))
    return shown(r)


def _read_options(text: str) -> tuple[list[dict[str, str]], str | None]:
    """``A. text`` lines (or unlabelled lines, labelled in order) -> options, and a line that has no label
    among labelled ones; whether the labels and texts are right is for the rules to say."""
    lines = [ln.strip(rules.WS) for ln in (text or "").replace("\r", "").split("\n")]
    lines = [ln for ln in lines if ln]
    parsed = [_OPTION_LINE.match(ln) for ln in lines]
    if not any(parsed):  # no labels at all: one option per line, labelled in order
        return [{"label": rules.LABELS[i] if i < len(rules.LABELS) else "?", "text": ln}
                for i, ln in enumerate(lines)], None
    for n, (ln, m) in enumerate(zip(lines, parsed), 1):
        if not m:
            return [], _('option line {n} "{line}" does not start with a label like "A."').format(n=n, line=ln[:40])
    return [{"label": rules.norm_label(m.group(1)), "text": m.group(2).strip(rules.WS)} for m in parsed], None


def check(*, qtype: str, question: str, options: str = "", answer_labels: str = "", answer_text: str = "",
          basis: str = "", subject: str = "") -> dict[str, Any]:
    """The fields to store for an edited question, or an InputError naming the field and the reason.

    The edit is read (option lines; answer labels — or an option's text, as the importer reads an
    answer — or a 正确/错误 word for a judge question; the answer text of a blank or open question) and
    checked by ``exam_rules``, as imported and generated questions are.
    """
    if qtype not in QTYPES:
        raise InputError(_("type must be one of {types}, not {qtype}").format(types=", ".join(QTYPES), qtype=repr(qtype)),
                         column=_("type"))
    opts, reading = _read_options(options)
    reading_column = "options"
    labels_given = (answer_labels or "").strip(rules.WS)
    q: dict[str, Any] = {"qtype": qtype, "question": (question or "").strip(rules.WS), "options": opts}
    if qtype in rules.TEXT:
        q["answer"] = (answer_text or "").strip(rules.WS)
        q["answer_labels"] = rules.read_letters(labels_given) or ([labels_given] if labels_given else [])
    elif qtype == "judge":
        q["options"] = opts or rules.judge_options()
        q["answer"], q["answer_labels"] = labels_given, rules.read_judge(labels_given, opts)
    else:
        q["answer"], q["answer_labels"] = labels_given, rules.read_choice(labels_given, opts)
        if labels_given and q["answer_labels"] is None and reading is None:
            reading = _('answer labels "{labels}" are not option letters (e.g. B or ACD) nor an option\'s '
                        'text').format(labels=labels_given[:40])
            reading_column = "answer labels"
    q["reading"] = reading
    found = rules.check(q)
    if found:
        column = {"question": "question", "options": "options", "reading": reading_column,
                  "answer_labels": "answer labels"}.get(found[0].field)
        column = column or ("answer text" if qtype in rules.TEXT else "answer labels")
        raise InputError(found[0].reason, column=_(FORM_FIELDS[column]))
    return {"qtype": qtype, "question": q["question"], "subject": (subject or "").strip(rules.WS) or None,
            "basis": (basis or "").strip(rules.WS) or None, "options": q["options"],
            "answer_labels": [] if qtype in rules.TEXT else q["answer_labels"], "answer_text": rules.answer_text(q)}


def save_question(question_id: int, version: int, *, qtype: str, question: str, options: str = "",
                  answer_labels: str = "", answer_text: str = "", basis: str = "", subject: str = "") -> dict[str, Any]:
    """Check and store an edited question (one transaction, version checked); returns the stored question.

    ``options`` are ``A. text`` lines; ``answer_labels`` letters (``B``, ``ACD``, ``A,C``; for a judge
    question also 正确/错误); ``answer_text`` is used for blank and open questions and derived from the
    labels for the others. Raises InputError (nothing written) or Conflict (``err.current``: the row now).
    """
    fields = check(qtype=qtype, question=question, options=options, answer_labels=answer_labels,
                   answer_text=answer_text, basis=basis, subject=subject)
    with db.transaction() as cur:
        now = sx.get_question(question_id, cur=cur)
        if now is None:
            raise NotFound(_("no exam question #{id} (deleted?)").format(id=question_id))
        if now["version"] != version or not sx.update_question(question_id, version, fields, cur=cur):
            fresh = shown(sx.get_question(question_id, cur=cur))
            err = Conflict(_("question #{id} was changed since you opened it (version {version}, now {now}); its "
                             "current text is shown — apply your fix to it again").format(
                id=question_id, version=version, now=fresh["version"]))
            err.current = fresh
            err.summary = {"question_id": question_id, "version": fresh["version"]}
            raise err
    return get_question(question_id)
