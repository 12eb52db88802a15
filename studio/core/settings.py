"""Every setting of the studio, declared once, read from ``STUDIO_*`` variables at call time.

Read a setting with ``get("db")`` where it is used, never at import time: Streamlit and the tests keep
modules imported between runs while the environment changes.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Setting:
    name: str  # short name used in code: get("db")
    default: str
    help: str

    @property
    def env(self) -> str:
        return "STUDIO_" + self.name.upper()


SETTINGS: tuple[Setting, ...] = (
    Setting("db", "data/studio.duckdb", "The DuckDB database file; created and migrated on first use."),
    Setting("runs", "runs", "Folder holding one sub-folder per fine-tune run."),
    Setting("models", "models", "Folder searched for local base models; the demo model is built here."),
    Setting("exports", "exports_out", "Folder that exports are written into (names cannot escape it)."),
    Setting("port", "8501", "Port `make run` serves the studio on (always on 127.0.0.1)."),
    Setting("demo", "1", "Load the demo project (exam bank, domain text) into an empty database on first start: 1 or 0."),
    Setting("demo_pretrain_steps", "120", "Steps of the short pre-training `init` gives a newly built demo model on the shipped demo text (about a minute on 2 cores, at most 3 minutes), so its answers read like Chinese text. 0 = keep it random."),
    Setting("base_url", "", "Default OpenAI-compatible endpoint for generation and judging (e.g. https://api.deepseek.com/v1)."),
    Setting("model", "", "Default model name at that endpoint."),
    Setting("api_key_env", "OPENAI_API_KEY", "Name of the environment variable (or Streamlit secret) holding the API key; the key itself is never stored."),
    Setting("stall_after_s", "900", "A live fine-tune that makes no training step for this many seconds is reported as stalled on Runs (its process stays alive). 0 = never."),
    Setting("lang", "", "Language of pages, messages and the CLI: zh or en. Empty: pages follow the browser (the sidebar switch wins), the CLI the process locale (LANG); Chinese when neither says."),
    Setting("gpus", "", "GPU ids the studio may place model work on (e.g. 2,3), or none. Empty: every GPU nvidia-smi lists."),
    Setting("session_hours", "168", "A sign-in (session cookie) lasts this many hours when the studio has accounts."),
    Setting("generate_pause_after", "5", "A generation batch pauses after this many failed passages in a row (requests still failing after their retries) and says why; running it again resumes it. 0 = never pause."),
    Setting("user", "", "With accounts: the account the CLI acts as (with `STUDIO_PASSWORD`). Never stored."),
    Setting("password", "", "With accounts: the password of `STUDIO_USER` for the CLI. Read from the environment only, never stored or logged."),
    Setting("token", "", "With accounts: a per-user API token (`python -m studio users token NAME`) the CLI acts with instead of a password."),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str:
    """The current value of a setting: its ``STUDIO_*`` variable, else its default."""
    setting = _BY_NAME[name]
    return os.environ.get(setting.env, setting.default)


def path(name: str) -> Path:
    """A setting that names a file or folder, as a Path."""
    return Path(get(name)).expanduser()


def markdown_table() -> str:
    """The settings as the Markdown table the README carries."""
    lines = ["| variable | default | what it does |", "| --- | --- | --- |"]
    lines += [f"| `{s.env}` | `{s.default}` | {s.help} |" for s in SETTINGS]
    return "\n".join(lines)
