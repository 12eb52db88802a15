"""One writer per format, one signature: ``write(splits, folder) -> [files]``.

``splits`` maps a split name (``train``, ``validation``) to canonical records (``instruction``,
``input``, ``output``, ``system``, ``history`` as strings and a list of ``[q, a]``, plus ``qtype``,
``origin``; ``tools`` and ``roles`` when the sample calls tools, see ``exports.tools``). Text is written as
UTF-8 with ``ensure_ascii`` off. Writers are pure file writers: they never open the database.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exports import tools
from studio.core.cells import neutralise
from studio.core.formats import user_text
from studio.core.i18n import _

Splits = dict[str, list[dict[str, Any]]]
TABLE_COLUMNS = ("instruction", "input", "output", "system", "history", "qtype", "origin")


def _jsonl(path: Path, records) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def _json_array(path: Path, records) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(list(records), f, ensure_ascii=False, indent=2)
        f.write("\n")
    return path


def chatglm_record(s: dict[str, Any]) -> dict[str, Any]:
    """ChatGLM P-Tuning: exactly ``content`` (the user turn) and ``summary`` (the answer), plus
    ``history`` only when there are earlier turns."""
    out = {"content": user_text(s["instruction"], s["input"]), "summary": s["output"]}
    if s.get("history"):
        out["history"] = s["history"]
    return out


def alpaca_record(s: dict[str, Any]) -> dict[str, Any]:
    """Alpaca as LLaMA-Factory reads it; every record has every column."""
    return {"instruction": s["instruction"], "input": s["input"], "output": s["output"],
            "system": s.get("system") or "", "history": s.get("history") or []}


def sharegpt_record(s: dict[str, Any]) -> dict[str, Any]:
    """ShareGPT: turns alternating the user side (human, observation) and the assistant side (gpt,
    function_call), the system prompt in its own column, ``tools`` when the sample has them; so
    LLaMA-Factory never drops the example."""
    out = tools.sharegpt(s)
    sides = [tools.SIDE[tools.role(t["from"])] for t in out["conversations"]]
    if any(a == b for a, b in zip(sides, sides[1:])):  # cannot happen for a canonical sample; refuse loudly
        raise ValueError(_("Two same-side turns in a row"))
    return {"conversations": out["conversations"], "system": s.get("system") or "",
            **({"tools": out["tools"]} if "tools" in out else {})}


def messages_record(s: dict[str, Any]) -> dict[str, Any]:
    """OpenAI / TRL chat format: ``messages`` with role and content, system first when there is one; tool
    calls as ``tool_calls`` and ``tool`` messages, the tool list as ``tools``."""
    listed = tools.openai_tools(s)
    return {"messages": tools.openai_messages(s), **({"tools": listed} if listed else {})}


def table_record(s: dict[str, Any]) -> dict[str, Any]:
    """A flat row for people: history as JSON text, formula-looking cells neutralised."""
    row = {k: s.get(k) or "" for k in TABLE_COLUMNS}
    row["history"] = json.dumps(s["history"], ensure_ascii=False) if s.get("history") else ""
    return {k: neutralise(v) for k, v in row.items()}


def write_chatglm(splits: Splits, folder: Path) -> list[Path]:
    # JSON lines named .json: ChatGLM-6B's P-Tuning script accepts only .csv / .json file names
    return [_jsonl(folder / f"{name}.json", map(chatglm_record, rows)) for name, rows in splits.items()]


def write_alpaca(splits: Splits, folder: Path) -> list[Path]:
    return [_json_array(folder / f"{name}.json", map(alpaca_record, rows)) for name, rows in splits.items()]


def write_sharegpt(splits: Splits, folder: Path) -> list[Path]:
    return [_json_array(folder / f"{name}.json", map(sharegpt_record, rows)) for name, rows in splits.items()]


def write_messages(splits: Splits, folder: Path) -> list[Path]:
    return [_jsonl(folder / f"{name}.jsonl", map(messages_record, rows)) for name, rows in splits.items()]


def _arrow_table(rows: list[dict[str, Any]]):
    import pyarrow as pa

    schema = pa.schema([(k, pa.string()) for k in ("instruction", "input", "output", "system")] +
                       [("history", pa.list_(pa.list_(pa.string())))] +
                       [(k, pa.string()) for k in ("qtype", "origin")])
    return pa.Table.from_pylist([alpaca_record(r) | {"qtype": r.get("qtype") or "", "origin": r.get("origin") or ""}
                                 for r in rows], schema=schema)


def write_parquet(splits: Splits, folder: Path) -> list[Path]:
    import pyarrow.parquet as pq

    out = []
    for name, rows in splits.items():
        pq.write_table(_arrow_table(rows), folder / f"{name}.parquet")
        out.append(folder / f"{name}.parquet")
    return out


def write_hf(splits: Splits, folder: Path) -> list[Path]:
    import datasets as hf

    dd = hf.DatasetDict({name: hf.Dataset(_arrow_table(rows)) for name, rows in splits.items()})
    dd.save_to_disk(str(folder))
    return sorted(p for p in folder.rglob("*") if p.is_file())


def write_csv(splits: Splits, folder: Path) -> list[Path]:
    import csv

    out = []
    for name, rows in splits.items():
        path = folder / f"{name}.csv"
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=TABLE_COLUMNS)
            w.writeheader()
            w.writerows(map(table_record, rows))
        out.append(path)
    return out


def write_xlsx(splits: Splits, folder: Path) -> list[Path]:
    from openpyxl import Workbook
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    wb = Workbook(write_only=True)
    for name, rows in splits.items():
        ws = wb.create_sheet(name)
        ws.append(list(TABLE_COLUMNS))
        for r in rows:
            rec = table_record(r)
            # strings stay strings: openpyxl would otherwise read "=..." as a formula
            ws.append([ILLEGAL_CHARACTERS_RE.sub("", rec[k]) for k in TABLE_COLUMNS])
    path = folder / "samples.xlsx"
    wb.save(path)
    return [path]
