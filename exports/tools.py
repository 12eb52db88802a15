"""Tool calling in a conversation, as LLaMA-Factory's ShareGPT and OpenAI's messages write it.

A sample keeps the text of its turns in the canonical fields (``history`` pairs, ``instruction``,
``output``) and, when some turn is a tool turn, ``roles``: the role of each of those turns in order
(``user``, ``assistant``, ``function_call``, ``observation``). ``tools`` is the tool list as JSON text,
the way LLaMA-Factory's ``tools`` column holds it. A function call counts as the assistant side and an
observation as the user side, so the turns still alternate.

Pure functions (no database, no files): the pairs importer and the exporters share them.
"""
from __future__ import annotations

import json
from typing import Any

from studio.core.formats import user_text

TOOL_ROLES = ("function_call", "observation")
# a role as files write it -> the stored role
ROLE_OF = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
           "bot": "assistant", "function_call": "function_call", "observation": "observation",
           "tool": "observation", "function": "observation", "system": "system"}
SIDE = {"user": "user", "observation": "user", "assistant": "assistant", "function_call": "assistant",
        "system": "system"}
SHAREGPT_TAG = {"user": "human", "assistant": "gpt", "function_call": "function_call",
                "observation": "observation"}


def role(raw: Any) -> str | None:
    """The stored role of a role name as a file writes it (None when unknown)."""
    return ROLE_OF.get(str(raw or "").lower())


def has_tools(sample: dict[str, Any]) -> bool:
    """True when a sample has a tool list or a tool turn (what formats without tools lose)."""
    return bool(sample.get("tools")) or any(r in TOOL_ROLES for r in sample.get("roles") or ())


def turns(sample: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) of every turn after the system prompt: history, the prompt, the answer."""
    texts = [t for q, a in sample.get("history") or [] for t in (q, a)]
    texts += [user_text(sample.get("instruction") or "", sample.get("input") or ""), sample.get("output") or ""]
    roles = list(sample.get("roles") or [])
    if len(roles) != len(texts):  # no tool turns (or roles that no longer fit): plain alternation
        roles = ["user" if i % 2 == 0 else "assistant" for i in range(len(texts))]
    return list(zip(roles, texts))


def tools_text(value: Any) -> str | None:
    """A tools field as LLaMA-Factory's JSON text: a string is kept as written, OpenAI's
    ``[{"type": "function", "function": {...}}]`` is unwrapped."""
    if value in (None, "", [], {}):
        return None
    if isinstance(value, str):
        return value
    items = value if isinstance(value, list) else [value]
    plain = [t["function"] if isinstance(t, dict) and t.get("type") == "function" and "function" in t else t
             for t in items]
    return json.dumps(plain, ensure_ascii=False)


def sharegpt(sample: dict[str, Any]) -> dict[str, Any]:
    """``conversations`` with from / value (tool turns as ``function_call`` / ``observation``), and
    ``tools`` when the sample has them."""
    out: dict[str, Any] = {"conversations": [{"from": SHAREGPT_TAG[r], "value": t} for r, t in turns(sample)]}
    if sample.get("tools"):
        out["tools"] = sample["tools"]
    return out


def _calls(text: str, first: int) -> list[dict[str, Any]] | None:
    """A function-call turn's text as OpenAI ``tool_calls`` (None when it is not a JSON call)."""
    try:
        parsed = json.loads(text)
    except (TypeError, ValueError):
        return None
    items = parsed if isinstance(parsed, list) else [parsed]
    if not items or not all(isinstance(c, dict) and c.get("name") for c in items):
        return None
    out = []
    for i, c in enumerate(items):
        args = c.get("arguments", {})
        out.append({"id": f"call_{first + i}", "type": "function",
                    "function": {"name": c["name"],
                                 "arguments": args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)}})
    return out


def openai_messages(sample: dict[str, Any]) -> list[dict[str, Any]]:
    """OpenAI chat messages: a function call as an assistant message with ``tool_calls``, an
    observation as a ``tool`` message answering the call before it."""
    out: list[dict[str, Any]] = [{"role": "system", "content": sample["system"]}] if sample.get("system") else []
    last_call, n_calls = None, 0
    for r, text in turns(sample):
        calls = _calls(text, n_calls) if r == "function_call" else None
        if calls:
            out.append({"role": "assistant", "content": None, "tool_calls": calls})
            last_call, n_calls = calls[0]["id"], n_calls + len(calls)
        elif r == "observation":
            out.append({"role": "tool", "content": text, **({"tool_call_id": last_call} if last_call else {})})
        else:
            out.append({"role": SIDE[r], "content": text})
    return out


def openai_tools(sample: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The tool list in OpenAI's form (``{"type": "function", "function": ...}``), None without one."""
    if not sample.get("tools"):
        return None
    try:
        parsed = json.loads(sample["tools"])
    except (TypeError, ValueError):
        return None
    items = parsed if isinstance(parsed, list) else [parsed]
    return [t if isinstance(t, dict) and t.get("type") == "function" else {"type": "function", "function": t}
            for t in items]


def call_text(tool_calls: list[dict[str, Any]]) -> str:
    """OpenAI ``tool_calls`` as LLaMA-Factory's function-call text ``{"name", "arguments"}`` (a list for
    several calls)."""
    calls = []
    for c in tool_calls:
        f = c.get("function", c) if isinstance(c, dict) else {}
        args = f.get("arguments", {})
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                pass
        calls.append({"name": f.get("name"), "arguments": args})
    return json.dumps(calls[0] if len(calls) == 1 else calls, ensure_ascii=False)
