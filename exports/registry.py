"""The export formats, in one registry: the Export page's format menu and the CLI's ``--format`` choices
are built from ``FORMATS``.

Each entry names its writer (one signature, see ``exports.writers``), how ``datasets.load_dataset``
reads it, and the ``dataset_info.json`` entry LLaMA-Factory reads it with (None where LLaMA-Factory
cannot read the files as written).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from exports import writers

ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
                  "history": "history"}


@dataclass(frozen=True)
class Format:
    name: str
    label: str
    write: Callable[[writers.Splits, Any], list]
    suffix: str                      # file suffix of a split ('' for a folder format)
    loader: str | None               # datasets.load_dataset builder ('json', 'parquet', 'csv'), None if none
    llama_factory: dict[str, Any] | None  # dataset_info entry without file_name
    note: str


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("chatglm", "ChatGLM content / summary (JSON lines)", writers.write_chatglm, ".jsonl", "json",
           {"formatting": "alpaca", "columns": {"prompt": "content", "response": "summary", "history": "history"}},
           "ChatGLM P-Tuning v2: --prompt_column content --response_column summary [--history_column history]. "
           "No system field: a system prompt is not carried."),
    Format("alpaca", "Alpaca instruction / input / output (JSON)", writers.write_alpaca, ".json", "json",
           {"formatting": "alpaca", "columns": ALPACA_COLUMNS},
           "The user turn is instruction + \"\\n\" + input when input is non-empty."),
    Format("sharegpt", "ShareGPT conversations (JSON)", writers.write_sharegpt, ".json", "json",
           {"formatting": "sharegpt", "columns": {"messages": "conversations", "system": "system"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}},
           "Turns strictly alternate human / gpt; the system prompt is its own column."),
    Format("messages", "OpenAI / TRL messages (JSON lines)", writers.write_messages, ".jsonl", "json",
           {"formatting": "sharegpt", "columns": {"messages": "messages"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                     "system_tag": "system"}},
           "Chat messages as TRL's SFTTrainer and the OpenAI fine-tuning API read them."),
    Format("hf", "Hugging Face datasets folder (save_to_disk)", writers.write_hf, "", None, None,
           "datasets.load_from_disk(folder) gives a DatasetDict with one entry per split."),
    Format("parquet", "Parquet", writers.write_parquet, ".parquet", "parquet",
           {"formatting": "alpaca", "columns": ALPACA_COLUMNS},
           "Alpaca columns; history as a list of [question, answer]."),
    Format("csv", "CSV (for people)", writers.write_csv, ".csv", "csv", None,
           "UTF-8; history as JSON text; cells that would start a formula begin with an apostrophe."),
    Format("xlsx", "Excel workbook (for people)", writers.write_xlsx, ".xlsx", None, None,
           "One sheet per split; history as JSON text; formula-looking cells begin with an apostrophe."),
)}


def choices() -> list[str]:
    """Format names in menu order."""
    return list(FORMATS)


def get(name: str) -> Format:
    """A format by name; unknown names raise ValueError listing the choices."""
    if name not in FORMATS:
        raise ValueError(f"unknown export format {name!r}; choose one of {', '.join(FORMATS)}")
    return FORMATS[name]
