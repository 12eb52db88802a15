"""Fix exam questions: page through a bank's questions (search, type filter) and save one edited question.

An edit is checked with the importer's rules (a question, enough options labelled A, B, C… in order, answer
labels among the options, one label for a single-choice question, a judge question's options 正确/错误, a
text answer for blank and open questions), then written in one transaction with the row's version checked:
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
from studio.core.errors import Conflict, InputError, NotFound

QTYPES = ("single", "multi", "judge", "blank", "open")
TYPE_NAMES = sx.TYPE_NAMES
PER_PAGE = (10, 20, 50, 100)
LABELS = "ABCDEFGH"
_FULL = str.maketrans(*sx.FULL_LETTERS)
_OPTION_LINE = re.compile(r"^[(（]?([A-Ha-hＡ-Ｈａ-ｈ])[ \t\u3000]*[.．、:：)）][ \t\u3000]*(.*)$", re.S)
_LABEL_NOISE = re.compile("[" + re.escape(sx.WS + sx.SEPS) + r"/&和\[\]\"'.．]+")
_TRUE = {w.upper() for w in sx.JUDGE_TRUE}
_FALSE = {w.upper() for w in sx.JUDGE_FALSE}


def _bank(dataset: str) -> dict:
    d = store_datasets.get(dataset)
    if d["kind"] != "exam":
        raise InputError(f"dataset {dataset!r} holds {d['kind']} records, not exam questions")
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
                                             f"sheet {row['source_sheet']}", row.get("source_row") and
                                             f"row {row['source_row']}") if x),
    }


def questions_page(dataset: str, *, search: str = "", qtype: str | None = None, page: int = 1,
                   per_page: int = 20) -> dict[str, Any]:
    """One page of a bank's questions matching ``search`` (text, options, answer, basis, subject, id) and
    ``qtype``, each with the pairs converted from it: {total, page, pages, per_page, rows, targets}."""
    d = _bank(dataset)
    if qtype is not None and qtype not in QTYPES:
        raise InputError(f"type must be one of {', '.join(QTYPES)}, not {qtype!r}")
    per_page = max(1, min(int(per_page), 500))
    search = (search or "").strip()
    total, _ = sx.find_questions(d["id"], search=search, qtype=qtype, limit=0)
    pages = max(1, -(-total // per_page))
    page = max(1, min(int(page), pages))
    _, found = sx.find_questions(d["id"], search=search, qtype=qtype, limit=per_page, offset=(page - 1) * per_page)
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
        raise NotFound(f"no exam question #{question_id}")
    return shown(r)


def _parse_options(text: str) -> list[dict[str, str]]:
    lines = [ln.strip(sx.WS) for ln in (text or "").replace("\r", "").split("\n")]
    lines = [ln for ln in lines if ln]
    if not lines:
        return []
    parsed = [_OPTION_LINE.match(ln) for ln in lines]
    if not any(parsed):  # no labels at all: one option per line, labelled in order
        got = [(LABELS[i] if i < len(LABELS) else "?", ln) for i, ln in enumerate(lines)]
    else:
        for n, (ln, m) in enumerate(zip(lines, parsed), 1):
            if not m:
                raise InputError(f'option line {n} "{ln[:40]}" does not start with a label like "A."', column="options")
        got = [(m.group(1).translate(_FULL).upper(), m.group(2).strip(sx.WS)) for m in parsed]
    if len(got) > len(LABELS):
        raise InputError(f"{len(got)} options: at most {len(LABELS)} (A to H)", column="options")
    labels = [label for label, _ in got]
    if labels != list(LABELS[:len(got)]):
        raise InputError(f"option labels {', '.join(labels)} are not A, B, C… in order", column="options")
    for label, text_ in got:
        if not text_:
            raise InputError(f"option {label} is empty", column="options")
    return [{"label": label, "text": text_} for label, text_ in got]


def _judge_truth(word: str) -> bool | None:
    w = word.strip(sx.WS + "。.!！").upper()
    return True if w in _TRUE else False if w in _FALSE else None


def check(*, qtype: str, question: str, options: str = "", answer_labels: str = "", answer_text: str = "",
          basis: str = "", subject: str = "") -> dict[str, Any]:
    """The fields to store for an edited question, or an InputError naming the field and the reason."""
    if qtype not in QTYPES:
        raise InputError(f"type must be one of {', '.join(QTYPES)}, not {qtype!r}", column="type")
    stem = (question or "").strip(sx.WS)
    if not stem:
        raise InputError("empty question", column="question")
    opts = _parse_options(options)
    raw_answer = (answer_labels or "").strip(sx.WS)
    text = (answer_text or "").strip(sx.WS)
    fields: dict[str, Any] = {"qtype": qtype, "question": stem, "subject": (subject or "").strip(sx.WS) or None,
                              "basis": (basis or "").strip(sx.WS) or None}
    if qtype in ("blank", "open"):
        if raw_answer:
            raise InputError(f"a {qtype} question is answered by text: clear the answer labels "
                             "(or choose single, multi or judge)", column="answer labels")
        if not text:
            raise InputError("missing answer", column="answer text")
        return {**fields, "options": opts, "answer_labels": [], "answer_text": text}
    if not raw_answer:
        raise InputError("missing answer", column="answer labels")
    if qtype == "judge":
        if not opts:
            opts = [{"label": "A", "text": "正确"}, {"label": "B", "text": "错误"}]
        truths = [_judge_truth(o["text"]) for o in opts]
        if len(opts) != 2 or None in truths or truths[0] == truths[1]:
            raise InputError("the type says judge but the options are not 正确/错误 (or 对/错, √/×, T/F, 是/否)",
                             column="options")
        word = _judge_truth(raw_answer)
        letters = _LABEL_NOISE.sub("", raw_answer.translate(_FULL)).upper()
        if len(letters) == 1 and letters in LABELS and word is None:
            if letters not in ("A", "B"):
                raise InputError(f"answer label {letters} is not among the options AB", column="answer labels")
            label = letters
        elif word is not None:
            label = opts[truths.index(word)]["label"]
        else:
            raise InputError(f'judge answer "{raw_answer[:40]}" is not one of A/B, 正确/错误, 对/错, √/×, T/F, 是/否',
                             column="answer labels")
        truth = truths[LABELS.index(label)]
        return {**fields, "options": opts, "answer_labels": [label], "answer_text": "正确" if truth else "错误"}
    # single / multi
    letters = _LABEL_NOISE.sub("", raw_answer.translate(_FULL)).upper()
    if not re.fullmatch("[A-Z]+", letters):
        raise InputError(f'answer labels "{raw_answer[:40]}" are not option letters (e.g. B or ACD)',
                         column="answer labels")
    chosen = sorted(set(letters))
    if len(opts) < 2:
        kind = "single" if qtype == "single" else "multiple"
        raise InputError(f"too few options ({len(opts)}) for a {kind}-choice question", column="options")
    have = [o["label"] for o in opts]
    missing = [label for label in chosen if label not in have]
    if missing:
        raise InputError(f"answer label {', '.join(missing)} is not among the options {''.join(have)}",
                         column="answer labels")
    if qtype == "single" and len(chosen) > 1:
        raise InputError(f"the type says single choice but the answer has {len(chosen)} labels ({''.join(chosen)}); "
                         "choose multi for several", column="answer labels")
    by_label = {o["label"]: o["text"] for o in opts}
    return {**fields, "options": opts, "answer_labels": chosen, "answer_text": "; ".join(by_label[x] for x in chosen)}


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
            raise NotFound(f"no exam question #{question_id} (deleted?)")
        if now["version"] != version or not sx.update_question(question_id, version, fields, cur=cur):
            fresh = shown(sx.get_question(question_id, cur=cur))
            err = Conflict(f"question #{question_id} was changed since you opened it (version {version}, now "
                           f"{fresh['version']}); its current text is shown — apply your fix to it again")
            err.current = fresh
            err.summary = {"question_id": question_id, "version": fresh["version"]}
            raise err
    return get_question(question_id)
