"""Import existing training pairs: Alpaca, ChatGLM content/summary, ShareGPT, OpenAI messages.

The container is detected by content, never by extension: a JSON array, JSON lines (Huatuo's
``llama_data.json`` is JSON lines), Parquet, a ``datasets`` ``save_to_disk`` folder, CSV or XLSX. The
record format is detected from the keys of the records. Decisions:

- Conversations become the canonical pair: the last user turn and answer are ``instruction`` /
  ``output``, earlier turns ``history``, a leading system turn ``system``. Tool turns of ShareGPT
  (``function_call`` / ``observation``) count as the assistant / user side; the ``tools`` column is
  not kept (the canonical sample has no place for it) and such samples are tagged ``tools``.
- A preference record (``chosen`` / ``rejected``) imports its chosen answer; a KTO record with
  ``label: false`` lands with status ``rejected``.
- Rows that cannot be read (no answer, turns that do not alternate, broken JSON line) are rejected
  and listed with their row; the valid rows land in one transaction (``strict=True``: any rejected
  row refuses the whole file). Imported samples are ``accepted`` by default: they are existing training
  data; pass another status to review them first.
- CSV / XLSX cells that an export neutralised (``'=...``) get their leading apostrophe back off.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterator

from store import datasets as store_datasets
from store import db
from store import pairs as store_pairs
from store import samples as store_samples
from studio.core import textio
from studio.core.cells import unneutralise
from studio.core.errors import InputError

FORMATS = ("alpaca", "chatglm", "sharegpt", "messages")
USER_SIDE = {"human": "user", "user": "user", "observation": "user", "tool": "user", "function": "user"}
ASSISTANT_SIDE = {"gpt": "assistant", "assistant": "assistant", "function_call": "assistant", "model": "assistant",
                  "bot": "assistant"}
TOOL_ROLES = {"observation", "function_call", "tool", "function"}


class Rejected(Exception):
    """One record that cannot become a sample; the message is the reason."""


# ---- containers

def _plain(value: Any) -> Any:
    """numpy / arrow values (from Parquet or a datasets folder) as plain Python."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _table_records(frame, file: str, first_row: int) -> list[tuple[int, dict]]:
    out = []
    for i, rec in enumerate(frame.to_dict("records")):
        rec = {str(k).strip(): unneutralise(v) for k, v in rec.items()}
        for key in ("history", "conversations", "messages"):
            if isinstance(rec.get(key), str) and rec[key].strip().startswith("["):
                try:
                    rec[key] = json.loads(rec[key])
                except json.JSONDecodeError:
                    pass
        out.append((i + first_row, rec))
    return out


def read_records(path: str | Path) -> tuple[str, list[tuple[int, Any]]]:
    """(container, [(row, record)]) for a file or a ``datasets`` folder, detected by content."""
    path = Path(path)
    file = str(path)
    if path.is_dir():
        if not (path / "dataset_info.json").exists() and not (path / "dataset_dict.json").exists() \
                and not (path / "state.json").exists():
            raise InputError("a folder must be a datasets save_to_disk folder (no dataset_info.json / "
                             "dataset_dict.json here)", file=file)
        import datasets as hf

        loaded = hf.load_from_disk(file)
        parts = [loaded[k] for k in loaded] if isinstance(loaded, hf.DatasetDict) else [loaded]
        records = [_plain(r) for part in parts for r in part.to_list()]
        return "hf", [(i + 1, r) for i, r in enumerate(records)]
    if not path.exists():
        raise InputError("no such file", file=file)
    raw = path.read_bytes()
    if raw[:4] == b"PAR1":
        import pyarrow.parquet as pq

        return "parquet", [(i + 1, _plain(r)) for i, r in enumerate(pq.read_table(file).to_pylist())]
    if raw[:4] == b"PK\x03\x04":
        import pandas as pd

        try:
            sheets = pd.read_excel(file, dtype=str, engine="calamine", keep_default_na=False, sheet_name=None)
        except Exception as err:  # a zip that is not a workbook
            raise InputError(f"not a readable workbook: {str(err).splitlines()[0]}", file=file) from None
        return "xlsx", [rec for frame in sheets.values() for rec in _table_records(frame, file, 2)]
    text = textio.decode(raw, file)[0]
    stripped = text.lstrip()
    if not stripped:
        raise InputError("the file is empty", file=file)
    if stripped[0] in "[{":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as err:
            if stripped[0] == "[":
                raise InputError(f"not valid JSON: {err.msg}", file=file, row=err.lineno) from None
            return "jsonl", list(_json_lines(text))
        return "json", _json_container(whole, file)
    import csv
    import io

    import pandas as pd

    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=dialect.delimiter)
    except Exception as err:
        raise InputError(f"not JSON, JSON lines, Parquet, CSV or a workbook ({str(err).splitlines()[0]})",
                         file=file) from None
    return "csv", _table_records(frame, file, 2)


def _json_lines(text: str) -> Iterator[tuple[int, Any]]:
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as err:
            yield n, Rejected(f"not valid JSON: {err.msg}")


def _json_container(whole: Any, file: str) -> list[tuple[int, Any]]:
    if isinstance(whole, list):
        return [(i + 1, r) for i, r in enumerate(whole)]
    if isinstance(whole, dict):
        registry_keys = {"file_name", "hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "formatting"}
        if whole and all(isinstance(v, dict) for v in whole.values()) and \
                sum(bool(registry_keys & set(v)) for v in whole.values()) * 2 >= len(whole):
            raise InputError("this is a LLaMA-Factory dataset registry (dataset_info.json), not training pairs; "
                             "import the files it names", file=file)
        if _detect_one(whole):
            return [(1, whole)]
        lists = [v for v in whole.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if len(lists) == 1:
            return [(i + 1, r) for i, r in enumerate(lists[0])]
        return [(1, whole)]  # one record: the format check names its keys
    raise InputError("a JSON file of pairs must hold a list of records", file=file)


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
    for _, rec in records[:50]:
        fmt = _detect_one(rec)
        if fmt:
            votes[fmt] = votes.get(fmt, 0) + 1
        elif isinstance(rec, dict):
            seen_keys |= set(rec)
    if not votes:
        keys = ", ".join(sorted(seen_keys)[:12]) or "none"
        hint = " (pre-training text has no answer to learn)" if seen_keys == {"text"} else ""
        raise InputError(f"no training pairs recognised{hint}; records have keys {keys}. Expected Alpaca "
                         f"instruction/input/output, content/summary, ShareGPT conversations or OpenAI messages",
                         file=file)
    return max(votes, key=lambda k: (votes[k], -FORMATS.index(k)))


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
        raise Rejected(f"{what} is not text")
    return value


def _history(value: Any) -> list[list[str]] | None:
    if value in (None, "", []):
        return None
    if not isinstance(value, list):
        raise Rejected("history is not a list of [question, answer] pairs")
    out = []
    for turn in value:
        if not isinstance(turn, (list, tuple)) or len(turn) != 2:
            raise Rejected("history is not a list of [question, answer] pairs")
        out.append([_text(turn[0], "a history question"), _text(turn[1], "a history answer")])
    return out


def _pair(instruction: str, output: str, *, input: str = "", system: str | None = None,
          history: list | None = None) -> dict[str, Any]:
    if not (instruction.strip() or input.strip()):
        raise Rejected("the prompt is empty")
    if not output.strip():
        raise Rejected("the answer is empty")
    return {"instruction": instruction, "input": input, "output": output, "system": system or None,
            "history": history or None}


def _from_turns(turns: list[tuple[str, str]], system: str | None) -> dict[str, Any]:
    """Alternating (side, text) turns -> a canonical pair; refuses two same-side turns in a row."""
    if turns and turns[0][0] == "system":
        system = system or turns[0][1]
        turns = turns[1:]
    if not turns:
        raise Rejected("no turns")
    for i, (side, _) in enumerate(turns):
        want = "user" if i % 2 == 0 else "assistant"
        if side == "system":
            raise Rejected(f"turn {i + 1} is a system turn after the conversation started")
        if side != want:
            raise Rejected(f"turn {i + 1} should be a {want} turn but is a {side} turn "
                           f"(turns must alternate user / assistant)")
    if len(turns) % 2:
        raise Rejected("the conversation ends with a user turn (no answer)")
    pairs = [[turns[i][1], turns[i + 1][1]] for i in range(0, len(turns), 2)]
    last = pairs.pop()
    return _pair(last[0], last[1], system=system, history=pairs)


def _side(role: Any, n: int) -> str:
    role = str(role or "").lower()
    if role == "system":
        return "system"
    if role in USER_SIDE:
        return "user"
    if role in ASSISTANT_SIDE:
        return "assistant"
    raise Rejected(f"turn {n} has an unknown role {role!r}")


def convert(fmt: str, rec: Any) -> dict[str, Any]:
    """One record of a known format as a canonical sample (raises Rejected with the reason)."""
    if isinstance(rec, Rejected):
        raise rec
    if not isinstance(rec, dict):
        raise Rejected("not a record (an object with fields)")
    if _detect_one(rec) != fmt:
        raise Rejected(f"not a {fmt} record (fields: {', '.join(sorted(map(str, rec))[:8])})")
    extra: dict[str, Any] = {}
    if fmt == "alpaca":
        out = _pair(_text(rec.get("instruction"), "instruction"), _text(rec.get("output"), "output"),
                    input=_text(rec.get("input"), "input"), system=_text(rec.get("system"), "system") or None,
                    history=_history(rec.get("history")))
    elif fmt == "chatglm":
        out = _pair(_text(rec.get("content"), "content"), _text(rec.get("summary"), "summary"),
                    history=_history(rec.get("history")))
    else:
        key, role_key, text_key = ("conversations", "from", "value") if fmt == "sharegpt" else \
            ("messages", "role", "content")
        turns, tools = [], False
        for n, t in enumerate(rec[key], start=1):
            if not isinstance(t, dict):
                raise Rejected(f"turn {n} is not an object")
            role = t.get(role_key, t.get("role", t.get("from")))
            tools |= str(role).lower() in TOOL_ROLES
            turns.append((_side(role, n), _text(t.get(text_key, t.get("content", t.get("value"))), f"turn {n}")))
        chosen = rec.get("chosen")
        if chosen is not None and turns and turns[-1][0] != "assistant":
            if isinstance(chosen, dict):
                chosen = chosen.get(text_key, chosen.get("value", chosen.get("content")))
            turns.append(("assistant", _text(chosen, "chosen")))
        system = rec.get("system")
        out = _from_turns(turns, _text(system, "system") or None if system else None)
        if tools or rec.get("tools"):
            extra["tags"] = ["tools"]
    if rec.get("label") is False:
        extra["status"] = "rejected"
    return {**out, **extra}


def parse(path: str | Path) -> dict[str, Any]:
    """Read a pairs file: {"container", "format", "samples": [(row, sample)], "errors": [{row, reason}]}."""
    container, records = read_records(path)
    fmt = detect_format(records, str(path))
    good, errors = [], []
    for row, rec in records:
        try:
            good.append((row, convert(fmt, rec)))
        except Rejected as err:
            errors.append({"row": row, "reason": str(err)})
    return {"container": container, "format": fmt, "samples": good, "errors": errors, "rows": len(records)}


def import_pairs(path: str | Path, dataset: str, *, status: str = "accepted", origin: str = "imported",
                 strict: bool = False, source_name: str | None = None) -> dict[str, Any]:
    """Import a pairs file into a samples dataset (created when missing), in one transaction."""
    if status not in store_samples.STATUSES:
        raise InputError(f"unknown status {status!r}; choose one of {', '.join(store_samples.STATUSES)}")
    path = Path(path)
    parsed = parse(path)
    summary = {"dataset": dataset, "imported": 0, "rejected": len(parsed["errors"]), "format": parsed["format"],
               "container": parsed["container"], "errors": parsed["errors"][:50]}
    if strict and parsed["errors"]:
        first = parsed["errors"][0]
        err = InputError(f"{len(parsed['errors'])} rows cannot be imported, nothing was written; first: "
                         f"{first['reason']}", file=str(path), row=first["row"])
        err.summary = summary
        raise err
    if not parsed["samples"]:
        first = parsed["errors"][0] if parsed["errors"] else {"row": None, "reason": "no records"}
        err = InputError(f"no row could be imported; first problem: {first['reason']}", file=str(path),
                         row=first["row"])
        err.summary = summary
        raise err
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
    """Import an uploaded file (bytes) the same way as a file on disk; a zipped ``datasets`` folder is
    not accepted here (use the CLI with the folder)."""
    import tempfile

    if not (dataset or "").strip():
        raise InputError("name the dataset to import into")
    safe = Path(file_name or "upload").name or "upload"
    with tempfile.TemporaryDirectory(prefix="studio-pairs-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        try:
            result = import_pairs(path, dataset.strip(), status=status, strict=strict, source_name=safe)
        except InputError as err:
            # name the uploaded file, not the temporary path
            err.file = safe
            err.args = (err._format(),)
            raise
    return result
