"""Import existing training pairs: Alpaca, ChatGLM content/summary, ShareGPT, OpenAI messages.

The container is detected by content, never by extension (``exports.readers``): a JSON array, JSON lines
(Huatuo's ``llama_data.json`` is JSON lines), Parquet, a ``datasets`` ``save_to_disk`` folder, CSV or
XLSX. The record format is detected from the keys of the records. Decisions:

- Conversations become the canonical pair: the last user turn and answer are ``instruction`` /
  ``output``, earlier turns ``history``, a leading system turn ``system``. Tool calling is kept
  (``exports.tools``): ShareGPT's ``function_call`` / ``observation`` turns and OpenAI's ``tool_calls`` /
  ``tool`` messages count as the assistant / user side and their roles are stored in ``roles``; the
  ``tools`` column is stored as JSON text. Such samples are also tagged ``tools``.
- A preference record (``chosen`` / ``rejected``) imports its chosen answer; a KTO record with
  ``label: false`` lands with status ``rejected``.
- Rows that cannot be read (no answer, turns that do not alternate, broken JSON line) are rejected
  and listed with their row; the valid rows land in one transaction (``strict=True``: any rejected
  row refuses the whole file). Imported samples are ``accepted`` by default: they are existing training
  data; pass another status to review them first.
- A file that cannot be read at all is one InputError in the user's words, naming the file, the line
  and the reason ("x.jsonl line 7 is not valid JSON: ..."), never a library's message.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from exports import tools
from exports.readers import Rejected, bad, read_records  # noqa: F401  (Rejected re-exported for callers)
from store import datasets as store_datasets
from store import db
from store import pairs as store_pairs
from store import samples as store_samples
from studio.core.errors import InputError
from studio.core.i18n import _, ngettext

FORMATS = ("alpaca", "chatglm", "sharegpt", "messages")


# ---- record formats

def _detect_one(rec: Any) -> str | None:
    if not isinstance(rec, dict):
        return None
    if isinstance(rec.get("conversations"), list):
        return "sharegpt"
    if isinstance(rec.get("messages"), list):
        return "messages"
    if "instruction" in rec and "output" in rec:
        return "alpaca"
    if "content" in rec and "summary" in rec:
        return "chatglm"
    return None


def detect_format(records: list[tuple[int, Any]], file: str = "") -> str:
    """The record format most of the first records have; InputError naming the keys seen otherwise."""
    votes: dict[str, int] = {}
    seen_keys: set[str] = set()
    for _row, rec in records[:50]:
        fmt = _detect_one(rec)
        if fmt:
            votes[fmt] = votes.get(fmt, 0) + 1
        elif isinstance(rec, dict):
            seen_keys |= set(map(str, rec))
    if votes:
        return max(votes, key=lambda k: (votes[k], -FORMATS.index(k)))
    broken = next(((row, rec) for row, rec in records if getattr(rec, "json_reason", None)), None)
    if broken and not seen_keys:
        raise bad(_("{file} line {line} is not valid JSON: {reason}").format(
            file=file, line=broken[0], reason=broken[1].json_reason), file)
    if seen_keys == {"text"}:
        raise bad(_("{file}: no training pairs recognised: its records hold only text (pre-training text has no "
                     "answer to learn)").format(file=file), file)
    if not seen_keys:
        raise bad(_("{file}: no training pairs recognised: its records are not objects with fields").format(
            file=file), file)
    raise bad(_("{file}: no training pairs recognised; its records have the fields {keys}. Expected Alpaca "
                 "instruction/input/output, content/summary, ShareGPT conversations or OpenAI messages").format(
        file=file, keys=", ".join(sorted(seen_keys)[:12])), file)


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):  # OpenAI content parts
        parts = [p.get("text", "") for p in value if isinstance(p, dict) and p.get("type", "text") == "text"]
        if len(parts) == len(value):
            return "".join(parts)
    if not isinstance(value, str):
        raise Rejected(_("{what} is not text").format(what=what))
    return value


def _history(value: Any) -> list[list[str]] | None:
    if value in (None, "", []):
        return None
    bad = Rejected(_("history is not a list of [question, answer] pairs"))
    if not isinstance(value, list):
        raise bad
    out = []
    for turn in value:
        if not isinstance(turn, (list, tuple)) or len(turn) != 2:
            raise bad
        out.append([_text(turn[0], _("a history question")), _text(turn[1], _("a history answer"))])
    return out


def _pair(instruction: str, output: str, *, input: str = "", system: str | None = None,
          history: list | None = None) -> dict[str, Any]:
    if not (instruction.strip() or input.strip()):
        raise Rejected(_("the prompt is empty"))
    if not output.strip():
        raise Rejected(_("the answer is empty"))
    return {"instruction": instruction, "input": input, "output": output, "system": system or None,
            "history": history or None}


def _from_turns(turns: list[tuple[str, str]], system: str | None) -> dict[str, Any]:
    """(role, text) turns alternating the user side and the assistant side -> a canonical pair, with
    ``roles`` when some turn is a tool turn; refuses two same-side turns in a row."""
    if turns and turns[0][0] == "system":
        system = system or turns[0][1]
        turns = turns[1:]
    if not turns:
        raise Rejected(_("no turns"))
    for i, (role, _text_) in enumerate(turns):
        side = tools.SIDE[role]
        if side == "system":
            raise Rejected(_("turn {n} is a system turn after the conversation started").format(n=i + 1))
        if side == "assistant" and i % 2 == 0:
            raise Rejected(_("turn {n} should be a user turn but is an assistant turn (turns must alternate user / "
                             "assistant)").format(n=i + 1))
        if side == "user" and i % 2 == 1:
            raise Rejected(_("turn {n} should be an assistant turn but is a user turn (turns must alternate user / "
                             "assistant)").format(n=i + 1))
    if len(turns) % 2:
        raise Rejected(_("the conversation ends with a user turn (no answer)"))
    pairs = [[turns[i][1], turns[i + 1][1]] for i in range(0, len(turns), 2)]
    last = pairs.pop()
    roles = [r for r, _text_ in turns]
    return {**_pair(last[0], last[1], system=system, history=pairs),
            "roles": roles if any(r in tools.TOOL_ROLES for r in roles) else None}


def _turn(t: Any, n: int, role_key: str, text_key: str) -> tuple[str, str]:
    """One turn of a conversation as (stored role, text); OpenAI tool calls become function-call text."""
    if not isinstance(t, dict):
        raise Rejected(_("turn {n} is not an object").format(n=n))
    raw = t.get(role_key, t.get("role", t.get("from")))
    role = tools.role(raw)
    if role is None:
        raise Rejected(_("turn {n} has an unknown role {role}").format(n=n, role=repr(raw)))
    if t.get("tool_calls") or isinstance(t.get("function_call"), dict):  # OpenAI: new and old function calling
        return "function_call", tools.call_text(t.get("tool_calls") or [{"function": t["function_call"]}])
    return role, _text(t.get(text_key, t.get("content", t.get("value"))), _("turn {n}").format(n=n))


def _conversation(fmt: str, rec: dict[str, Any]) -> dict[str, Any]:
    key, role_key, text_key = ("conversations", "from", "value") if fmt == "sharegpt" else \
        ("messages", "role", "content")
    turns = [_turn(t, n, role_key, text_key) for n, t in enumerate(rec[key], start=1)]
    chosen = rec.get("chosen")
    if chosen is not None and turns and tools.SIDE[turns[-1][0]] != "assistant":
        if isinstance(chosen, dict):
            chosen = chosen.get(text_key, chosen.get("value", chosen.get("content")))
        turns.append(("assistant", _text(chosen, "chosen")))
    system = rec.get("system")
    out = _from_turns(turns, _text(system, "system") or None if system else None)
    out["tools"] = tools.tools_text(rec.get("tools"))
    if out["tools"] or out["roles"]:
        out["tags"] = ["tools"]
    return out


def convert(fmt: str, rec: Any) -> dict[str, Any]:
    """One record of a known format as a canonical sample (raises Rejected with the reason)."""
    if isinstance(rec, Rejected):
        raise rec
    if not isinstance(rec, dict):
        raise Rejected(_("not a record (an object with fields)"))
    if _detect_one(rec) != fmt:
        raise Rejected(_("not a {format} record (fields: {fields})").format(
            format=fmt, fields=", ".join(sorted(map(str, rec))[:8])))
    if fmt == "alpaca":
        out = _pair(_text(rec.get("instruction"), "instruction"), _text(rec.get("output"), "output"),
                    input=_text(rec.get("input"), "input"), system=_text(rec.get("system"), "system") or None,
                    history=_history(rec.get("history")))
    elif fmt == "chatglm":
        out = _pair(_text(rec.get("content"), "content"), _text(rec.get("summary"), "summary"),
                    history=_history(rec.get("history")))
    else:
        out = _conversation(fmt, rec)
    if rec.get("label") is False:
        out["status"] = "rejected"
    return out


def parse(path: str | Path, name: str | None = None) -> dict[str, Any]:
    """Read a pairs file: {"container", "format", "samples": [(row, sample)], "errors": [{row, reason}]}.
    ``name``: how messages call the file (default: the path as given)."""
    file = name or str(path)
    container, records = read_records(path, file)
    fmt = detect_format(records, file)
    good, errors = [], []
    for row, rec in records:
        try:
            good.append((row, convert(fmt, rec)))
        except Rejected as err:
            errors.append({"row": row, "reason": str(err)})
    return {"container": container, "format": fmt, "samples": good, "errors": errors, "rows": len(records)}


def _refused(parsed: dict[str, Any], file: str, summary: dict[str, Any], strict: bool) -> InputError | None:
    """The error that stops an import (strict and some rows rejected, or no row usable), or None."""
    errors = parsed["errors"]
    if strict and errors:
        n, first = len(errors), errors[0]
        err = bad(ngettext("{file}: {n} row cannot be imported, nothing was written; row {row}: {reason}",
                            "{file}: {n} rows cannot be imported, nothing was written; first, row {row}: {reason}",
                            n).format(file=file, n=n, row=first["row"], reason=first["reason"]), file)
    elif not parsed["samples"]:
        if errors:
            err = bad(_("{file}: no row could be imported; first problem, row {row}: {reason}").format(
                file=file, row=errors[0]["row"], reason=errors[0]["reason"]), file)
        else:
            err = bad(_("{file} holds no records to import").format(file=file), file)
    else:
        return None
    err.summary = summary
    return err


def import_pairs(path: str | Path, dataset: str, *, status: str = "accepted", origin: str = "imported",
                 strict: bool = False, source_name: str | None = None) -> dict[str, Any]:
    """Import a pairs file into a samples dataset (created when missing), in one transaction."""
    if status not in store_samples.STATUSES:
        raise InputError(_("Unknown status {status}; choose one of {choices}").format(
            status=status, choices=", ".join(store_samples.STATUSES)))
    path = Path(path)
    file = source_name or str(path)
    parsed = parse(path, file)
    summary = {"dataset": dataset, "imported": 0, "rejected": len(parsed["errors"]), "format": parsed["format"],
               "container": parsed["container"], "errors": parsed["errors"][:50]}
    refused = _refused(parsed, file, summary, strict)
    if refused:
        raise refused
    rows = [{**s, "status": s.get("status", status), "origin": origin, "source_file": source_name or path.name,
             "source_row": row}
            for row, s in parsed["samples"]]
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    with db.transaction() as cur:
        did = store_datasets.get_or_create(dataset, "samples", cur=cur)
        import_id = store_pairs.record_import(did, source_name or str(path), digest, parsed, len(rows), cur=cur)
        store_samples.insert(did, rows, import_id=import_id, cur=cur)
    summary["imported"] = len(rows)
    return summary


def import_upload(file_name: str, data: bytes, dataset: str, *, status: str = "accepted",
                  strict: bool = False) -> dict[str, Any]:
    """Import an uploaded file (bytes) the same way as a file on disk, its messages naming the upload; a
    zipped ``datasets`` folder is not accepted here (use the CLI with the folder)."""
    import tempfile

    if not (dataset or "").strip():
        raise InputError(_("Name the dataset to import into"))
    safe = Path(file_name or "upload").name or "upload"
    with tempfile.TemporaryDirectory(prefix="studio-pairs-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        return import_pairs(path, dataset.strip(), status=status, strict=strict, source_name=safe)
