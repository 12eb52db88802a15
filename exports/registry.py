"""The export formats, in one registry: the Export page's format menu and the CLI's ``--format`` choices
are built from ``FORMATS``.

Each entry names its writer (one signature, see ``exports.writers``), how ``datasets.load_dataset``
reads it, and the ``dataset_info.json`` entry LLaMA-Factory reads it with (None where LLaMA-Factory
cannot read the files as written). Labels and notes are English message ids (``N_``): a page shows them
through ``_()``; the README card keeps them in English.

``tools``: whether the format carries tool calling (the ``tools`` list and function-call / observation
turns); exporting tool samples to a format that cannot carry them is warned about.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from exports import writers
from studio.core.i18n import N_

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
    tools: bool = False              # carries the tools list and tool turns


SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "observation_tag": "observation", "function_tag": "function_call"}

FORMATS: dict[str, Format] = {f.name: f for f in (
    # JSON lines in a .json file: ChatGLM-6B's P-Tuning script accepts only .csv / .json names, and reads lines
    Format("chatglm", N_("ChatGLM content / summary (JSON lines)"), writers.write_chatglm, ".json", "json",
           {"formatting": "alpaca", "columns": {"prompt": "content", "response": "summary", "history": "history"}},
           N_("ChatGLM P-Tuning v2: `--prompt_column content --response_column summary [--history_column history]`. "
              "Files are train.json and validation.json, one JSON object per line. No `system` field: a system "
              "prompt is not carried.")),
    Format("alpaca", N_("Alpaca instruction / input / output (JSON)"), writers.write_alpaca, ".json", "json",
           {"formatting": "alpaca", "columns": ALPACA_COLUMNS},
           N_("The user turn is `instruction + \"\\n\" + input` when `input` is non-empty.")),
    Format("sharegpt", N_("ShareGPT conversations (JSON)"), writers.write_sharegpt, ".json", "json",
           {"formatting": "sharegpt", "columns": {"messages": "conversations", "system": "system"},
            "tags": SHAREGPT_TAGS},
           N_("Turns alternate `human` / `gpt` (tool calls as `function_call` / `observation`); the system prompt "
              "and the tools list are their own columns."), tools=True),
    Format("messages", N_("OpenAI / TRL messages (JSON lines)"), writers.write_messages, ".jsonl", "json",
           {"formatting": "sharegpt", "columns": {"messages": "messages"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                     "system_tag": "system"}},
           N_("Chat messages as TRL's `SFTTrainer` and the OpenAI fine-tuning API read them (tool calls as "
              "`tool_calls` and `tool` messages, the tools list as `tools`)."), tools=True),
    Format("hf", N_("Hugging Face datasets folder (save_to_disk)"), writers.write_hf, "", None, None,
           N_("`datasets.load_from_disk(folder)` gives a `DatasetDict` with one entry per split.")),
    Format("parquet", "Parquet", writers.write_parquet, ".parquet", "parquet",
           {"formatting": "alpaca", "columns": ALPACA_COLUMNS},
           N_("Alpaca columns; history as a list of [question, answer].")),
    Format("csv", N_("CSV (for people)"), writers.write_csv, ".csv", "csv", None,
           N_("UTF-8; history as JSON text; cells that would start a formula begin with an apostrophe.")),
    Format("xlsx", N_("Excel workbook (for people)"), writers.write_xlsx, ".xlsx", None, None,
           N_("One sheet per split; history as JSON text; formula-looking cells begin with an apostrophe.")),
)}


def choices() -> list[str]:
    """Format names in menu order."""
    return list(FORMATS)


def get(name: str) -> Format:
    """A format by name; unknown names raise ValueError listing the choices."""
    if name not in FORMATS:
        raise ValueError(name)  # studio.data.export says it in the user's words
    return FORMATS[name]
