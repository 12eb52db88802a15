"""Prompt sets: what the systems of a comparison are asked.

Three sources:
- uploaded files: a JSON array of strings (DreamerGPT ``test_data``: the file name is the category), a
  JSON array of objects, or JSON lines; an object carries a prompt (``prompt``, ``question``,
  ``content``, ``query``, or ``instruction`` + ``input``) and optionally ``category``, ``reference``
  (or ``answer`` / ``output`` / ``summary`` / ``response``), ``system`` and ``history``. A folder
  stands for its ``.json`` / ``.jsonl`` files in name order.
- a snapshot's validation split: the user turn of each sample, its answer as the reference, its
  question type (else origin) as the category.
- an exam dataset: each question with its options one per line (the choice format of the converter),
  the answer ``B. 绝缘靴`` as the reference, the subject (else the type) as the category.

A prompt set is stored once per content: importing the same prompts again reuses the set.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from store import compare as store
from store import datasets as store_datasets
from store import db
from studio.core.errors import InputError, NotFound
from studio.core.formats import user_text
from studio.core.i18n import N_, _
from studio.evaluate import limits

PROMPT_KEYS = ("prompt", "question", "content", "query", "instruction")
REFERENCE_KEYS = ("reference", "answer", "output", "summary", "response")
CATEGORY_KEYS = ("category", "type", "task")
SUFFIXES = (".json", ".jsonl")
KINDS_OF_VALUE = {"int": N_("a number"), "float": N_("a number"), "list": N_("a list"),
                  "bool": N_("a true/false value"), "NoneType": N_("an empty value (null)")}


def category_from_filename(name: str) -> str:
    """The category a DreamerGPT-style file stands for: its name without the extension."""
    return Path(name).stem


def _item(obj: Any, file: str, row: int, default_category: str | None) -> dict[str, Any]:
    if isinstance(obj, str):
        text = obj.strip()
        if not text:
            raise InputError(_("empty prompt"), file=file, row=row)
        return {"prompt": text, "category": default_category}
    if not isinstance(obj, dict):
        what = KINDS_OF_VALUE.get(type(obj).__name__)
        raise InputError(_("expected a string or an object, not {what}").format(
            what=_(what) if what else type(obj).__name__), file=file, row=row)
    prompt = None
    for key in PROMPT_KEYS:
        if isinstance(obj.get(key), str) and obj[key].strip():
            prompt = obj[key]
            if key == "instruction":
                prompt = user_text(obj[key], obj.get("input") or "")
            break
    if prompt is None:
        raise InputError(_("no prompt: give one of the fields {fields}").format(fields=", ".join(PROMPT_KEYS)),
                         file=file, row=row)
    item: dict[str, Any] = {"prompt": prompt.strip(), "category": default_category}
    for key in CATEGORY_KEYS:
        if obj.get(key) not in (None, ""):
            item["category"] = str(obj[key])
            break
    for key in REFERENCE_KEYS:
        if obj.get(key) not in (None, ""):
            item["reference"] = obj[key] if isinstance(obj[key], str) else json.dumps(obj[key], ensure_ascii=False)
            break
    if isinstance(obj.get("system"), str) and obj["system"].strip():
        item["system"] = obj["system"]
    history = obj.get("history")
    if history:
        if not (isinstance(history, list) and all(isinstance(t, (list, tuple)) and len(t) == 2 for t in history)):
            raise InputError(_("history must be a list of [question, answer] pairs"), file=file, row=row)
        item["history"] = [[str(q), str(a)] for q, a in history]
    return item


def parse_file(name: str, data: bytes) -> list[dict[str, Any]]:
    """Prompts of one file (JSON array or JSON lines); a bad row raises InputError naming file and row."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(_("not UTF-8 text: save the file as UTF-8"), file=name) from None
    category = category_from_filename(name)
    suffix = Path(name).suffix.lower()
    stripped = text.lstrip()
    if suffix == ".json" and stripped.startswith("["):
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise InputError(_("invalid JSON near column {column}: check the quotes, commas and brackets").format(
                column=err.colno), file=name, row=err.lineno) from None
        items = [_item(v, name, i + 1, category) for i, v in enumerate(values)]
    elif suffix in (".json", ".jsonl"):
        items = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(_("invalid JSON: each line must be one JSON object or string"),
                                 file=name, row=n) from None
            items.append(_item(value, name, n, category if isinstance(value, str) else None))
    else:
        raise InputError(_("unsupported prompt file; use .json (an array) or .jsonl"), file=name)
    if not items:
        raise InputError(_("no prompts in the file"), file=name)
    return items


def files_of(path: str | Path) -> list[Path]:
    """A file as itself, a folder as its prompt files in name order."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
        if not found:
            raise InputError(_("no .json or .jsonl prompt files in the folder"), file=str(path))
        return found
    if not path.exists():
        raise InputError(_("no such file or folder"), file=str(path))
    return [path]


def content_hash(items: list[dict[str, Any]]) -> str:
    body = json.dumps([[i["prompt"], i.get("system"), i.get("history"), i.get("category"), i.get("reference"),
                        i.get("question_id")] for i in items], ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def save(name: str, source: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Store a prompt set (one transaction); the same content again returns the existing set."""
    if not items:
        raise InputError(_("a prompt set needs at least one prompt"))
    digest = content_hash(items)
    found = store.prompt_set_by_hash(digest)
    reused = found is not None
    with db.transaction() as cur:
        if found is None:
            name = (name or "").strip() or _("prompts")
            if store.prompt_set_by_name(name, cur=cur):
                name = f"{name}-{digest[:6]}"
            set_id = store.insert_prompt_set(name, source, digest, items, cur=cur)
        else:
            set_id, name = found["id"], found["name"]
    return {"prompt_set": set_id, "name": name, "prompts": len(items),
            "categories": len({i.get("category") for i in items}), "reused": reused}


def import_paths(paths: list[str | Path], *, name: str | None = None) -> dict[str, Any]:
    """Import prompt files and folders as one prompt set."""
    files = [f for p in paths for f in files_of(p)]
    items = [it for f in files for it in parse_file(f.name, f.read_bytes())]
    default = Path(str(paths[0])).name if len(paths) == 1 else _("prompts")
    return save(name or default, ", ".join(str(p) for p in paths), items)


def import_uploads(uploads: list[tuple[str, bytes]], *, name: str | None = None) -> dict[str, Any]:
    """Import uploaded files ((file name, bytes) pairs) as one prompt set."""
    if not uploads:
        raise InputError(_("choose at least one prompt file"))
    items = [it for fname, data in uploads for it in parse_file(fname, data)]
    default = Path(uploads[0][0]).stem if len(uploads) == 1 else _("uploaded prompts")
    return save(name or default, ", ".join(f for f, _data in uploads), items)


def from_snapshot(snapshot_id: str, *, name: str | None = None) -> dict[str, Any]:
    """A prompt set from a snapshot's validation split (the answers become references)."""
    from studio.data import snapshots

    full = snapshots.resolve(snapshot_id)
    samples = snapshots.samples(full, split="validation")
    if not samples:
        raise InputError(_("snapshot {snapshot} has no validation samples; freeze it with a validation share").format(
            snapshot=full))
    items = [{"prompt": user_text(s.get("instruction", ""), s.get("input", "")), "system": s.get("system") or None,
              "history": s.get("history") or None, "reference": s.get("output") or None,
              "category": s.get("qtype") or s.get("origin") or "validation"} for s in samples]
    return save(name or _("snapshot {snapshot} validation").format(snapshot=full), f"snapshot:{full}", items)


def from_exam(dataset: str, *, name: str | None = None, limit: int | None = None) -> dict[str, Any]:
    """A prompt set from an exam dataset: choice questions with options, the answer as reference."""
    from studio.evaluate.exam_accuracy import answer_string, exam_prompt

    limit = limits.QUESTIONS.check(limit or 0) or None
    found = store_datasets.get(dataset)
    questions = store.exam_questions(found["id"], limit=limit)
    items = []
    for q in questions:
        if q["qtype"] not in ("single", "multi", "judge"):
            continue
        items.append({"prompt": exam_prompt(q["question"], q["options"] or [], q["qtype"]),
                      "reference": answer_string(q), "category": q["subject"] or q["qtype"],
                      "question_id": q["id"]})
    if not items:
        raise NotFound(_("exam dataset {dataset} has no single choice, multiple choice or true/false questions").format(
            dataset=repr(dataset)))
    default = (_("exam {dataset} (first {n})").format(dataset=dataset, n=limit) if limit
               else _("exam {dataset}").format(dataset=dataset))
    return save(name or default, f"exam:{dataset}", items)


def list_sets() -> list[dict[str, Any]]:
    return store.list_prompt_sets()


def prompts(set_id: int) -> list[dict[str, Any]]:
    found = store.prompt_set(set_id)
    if found is None:
        raise NotFound(_("no prompt set {id}").format(id=set_id))
    return store.prompts_of(set_id)
