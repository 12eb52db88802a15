"""The files training pairs come in, read into ``(row, record)`` pairs: the mirror of ``exports.writers``.

The container is detected by content, never by extension: a JSON array, JSON lines, Parquet, a
``datasets`` ``save_to_disk`` folder, CSV or an Excel workbook (``.xlsx`` or the older ``.xls``). A file
that cannot be read is one InputError in the user's words that names the file, the line and the reason
("x.jsonl line 7 is not valid JSON: a comma or a closing bracket is missing"), never a library's message.
A JSON line that cannot be read becomes a ``Rejected`` record of its own, so the other lines still land.
CSV / XLSX cells that an export neutralised (``'=...``) get their leading apostrophe back off. Which
record format the records are is for ``studio.data.pairs`` to say.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from studio.core import textio
from studio.core.cells import unneutralise
from studio.core.errors import InputError
from studio.core.i18n import N_, _

RECORD_KEYS = ("conversations", "messages", "instruction", "content")
# what json's messages mean, in the words of someone who edits the file
JSON_REASONS = {
    "Expecting ',' delimiter": N_("a comma or a closing bracket is missing"),
    "Expecting ':' delimiter": N_("a colon is missing after a key"),
    "Expecting property name enclosed in double quotes": N_("a key is not in double quotes (or a comma is left over)"),
    "Expecting value": N_("a value is missing or is not JSON (text must be in double quotes)"),
    "Unterminated string starting at": N_("a text in quotes is not closed"),
    "Extra data": N_("more text follows the end of the JSON value"),
    "Invalid control character at": N_("a line break or tab inside a text in quotes (write it as \\n or \\t)"),
}


class Rejected(Exception):
    """One record that cannot become a sample; the message is the reason."""


def bad(message: str, file: str) -> InputError:
    """An InputError whose message already names the file (kept in ``err.file`` too)."""
    err = InputError(message)
    err.file = file
    return err


UNREADABLE_JSON = N_("it is cut off or has a typo")


def _json_reason(err: json.JSONDecodeError) -> str:
    return _(JSON_REASONS.get(err.msg) or UNREADABLE_JSON)


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
    if len(frame.columns) and not len(frame):
        raise bad(_("{file} has a header but no rows").format(file=file), file)
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


def _folder_records(path: Path, file: str) -> tuple[str, list[tuple[int, Any]]]:
    if not any((path / n).exists() for n in ("dataset_info.json", "dataset_dict.json", "state.json")):
        raise bad(_("{file} is a folder but not a datasets save_to_disk folder (no dataset_info.json or "
                     "dataset_dict.json in it)").format(file=file), file)
    import datasets as hf

    try:
        loaded = hf.load_from_disk(str(path))
    except Exception:  # noqa: BLE001 - datasets raises many kinds; the user needs one line
        raise bad(_("{file} cannot be read as a datasets folder (damaged, or written by another version)").format(
            file=file), file) from None
    parts = [loaded[k] for k in loaded] if isinstance(loaded, hf.DatasetDict) else [loaded]
    records = [_plain(r) for part in parts for r in part.to_list()]
    return "hf", [(i + 1, r) for i, r in enumerate(records)]


def _binary_records(raw: bytes, path: Path, file: str) -> tuple[str, list[tuple[int, Any]]] | None:
    """Parquet and Excel files (None when the bytes are neither)."""
    if raw[:4] == b"PAR1":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(str(path))
        except Exception:  # noqa: BLE001 - arrow's messages are not the user's words
            raise bad(_("{file} is not a readable Parquet file (damaged or cut short)").format(file=file),
                       file) from None
        return "parquet", [(i + 1, _plain(r)) for i, r in enumerate(table.to_pylist())]
    if raw[:4] in (b"PK\x03\x04", b"\xd0\xcf\x11\xe0"):
        import pandas as pd

        try:
            sheets = pd.read_excel(path, dtype=str, engine="calamine", keep_default_na=False, sheet_name=None)
        except Exception:  # noqa: BLE001 - a zip that is not a workbook, or a damaged one
            raise bad(_("{file} is not an Excel workbook (a zip archive of something else, or a damaged "
                         "workbook)").format(file=file), file) from None
        return "xlsx", [rec for frame in sheets.values() for rec in _table_records(frame, file, 2)]
    return None


def read_records(path: str | Path, name: str | None = None) -> tuple[str, list[tuple[int, Any]]]:
    """(container, [(row, record)]) for a file or a ``datasets`` folder, detected by content.
    ``name``: how messages call the file (default: the path as given)."""
    path = Path(path)
    file = name or str(path)
    if path.is_dir():
        return _folder_records(path, file)
    if not path.exists():
        raise bad(_("{file} does not exist").format(file=file), file)
    raw = path.read_bytes()
    binary = _binary_records(raw, path, file)
    if binary is not None:
        return binary
    text = textio.decode(raw, file)[0]
    stripped = text.lstrip()
    if not stripped:
        raise bad(_("{file} is empty").format(file=file), file)
    if stripped[0] in "[{":
        try:
            whole = json.loads(text)
        except json.JSONDecodeError as err:
            if stripped[0] == "[":
                raise bad(_("{file} line {line} is not valid JSON: {reason}").format(
                    file=file, line=err.lineno, reason=_json_reason(err)), file) from None
            return "jsonl", list(_json_lines(text))
        return "json", _json_container(whole, file)
    return "csv", _csv_records(text, file)


def _csv_records(text: str, file: str) -> list[tuple[int, dict]]:
    import csv
    import io

    import pandas as pd

    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=dialect.delimiter)
    except Exception:  # noqa: BLE001 - the sniffer's and pandas' messages are not the user's words
        raise bad(_("{file} is not JSON, JSON lines, Parquet, CSV or an Excel workbook").format(file=file),
                   file) from None
    return _table_records(frame, file, 2)


def _json_lines(text: str) -> Iterator[tuple[int, Any]]:
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as err:
            rejected = Rejected(_("line {line} is not valid JSON: {reason}").format(line=n, reason=_json_reason(err)))
            rejected.json_reason = _json_reason(err)
            yield n, rejected


def _json_container(whole: Any, file: str) -> list[tuple[int, Any]]:
    if isinstance(whole, list):
        if not whole:
            raise bad(_("{file} holds an empty list: no records to import").format(file=file), file)
        return [(i + 1, r) for i, r in enumerate(whole)]
    if isinstance(whole, dict):
        registry_keys = {"file_name", "hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "formatting"}
        if whole and all(isinstance(v, dict) for v in whole.values()) and \
                sum(bool(registry_keys & set(v)) for v in whole.values()) * 2 >= len(whole):
            raise bad(_("{file} is a LLaMA-Factory dataset registry (dataset_info.json), not training pairs; "
                         "import the files it names").format(file=file), file)
        if any(k in whole for k in RECORD_KEYS):  # one record, not a wrapper around a list of them
            return [(1, whole)]
        lists = [v for v in whole.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if len(lists) == 1:
            return [(i + 1, r) for i, r in enumerate(lists[0])]
        return [(1, whole)]  # one record: the format check names its keys
    raise bad(_("{file}: a JSON file of pairs must hold a list of records").format(file=file), file)


