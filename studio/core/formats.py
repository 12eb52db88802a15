"""The canonical training pair and how its prompt reads: one pure function shared by the converter,
the exporters, the trainer and every preview.

A sample is ``instruction``, ``input``, ``output`` with optional ``system`` and ``history`` (earlier
turns as ``[[question, answer], ...]``). The user turn is ``instruction + "\\n" + input`` when ``input``
is non-empty, else ``instruction`` — the rule LLaMA-Factory applies to Alpaca data, and the ChatGLM
``content`` field when ``input`` is empty.
"""
from __future__ import annotations

from typing import Any


def user_text(instruction: str, input: str = "") -> str:
    """The user turn of a sample."""
    instruction = instruction or ""
    return f"{instruction}\n{input}" if input else instruction


def messages(sample: dict[str, Any]) -> list[dict[str, str]]:
    """A sample as chat messages: system (if any), history turns, the user turn, the answer."""
    out: list[dict[str, str]] = []
    if sample.get("system"):
        out.append({"role": "system", "content": sample["system"]})
    for q, a in sample.get("history") or []:
        out.append({"role": "user", "content": q})
        out.append({"role": "assistant", "content": a})
    out.append({"role": "user", "content": user_text(sample.get("instruction", ""), sample.get("input", ""))})
    out.append({"role": "assistant", "content": sample.get("output", "")})
    return out
