"""Robust parsing of a model's JSON reply: code fences, prose around the JSON, trailing commas,
full-width quotes and single quotes are tolerated; anything else is a :class:`ParseError` carrying why.
"""
from __future__ import annotations

import json
import re

from studio.core.i18n import _


class ParseError(ValueError):
    """The reply holds no JSON value we can read."""


_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


def _balanced(text: str, start: int) -> str | None:
    """The balanced {...} or [...] starting at ``start`` (strings respected), or None."""
    opener = text[start]
    closer = "}" if opener == "{" else "]"
    depth, in_str, esc = 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
            continue
        if ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return text[start:i + 1] if ch == closer else None
    return None


def _repairs(candidate: str):
    yield candidate
    fixed = re.sub(r",\s*([}\]])", r"\1", candidate)  # trailing commas
    yield fixed
    fixed2 = fixed.replace("“", '"').replace("”", '"') if '"' not in fixed else fixed
    yield fixed2
    if '"' not in fixed and "'" in fixed:
        yield fixed.replace("'", '"')


def parse_json(text: str):
    """The first JSON object or array in ``text``; raise ParseError when there is none."""
    if text is None or not str(text).strip():
        raise ParseError(_("empty reply"))
    text = str(text).strip()
    candidates = [m.group(1).strip() for m in _FENCE.finditer(text)] + [text]
    for cand in candidates:
        for fix in _repairs(cand):
            try:
                return json.loads(fix)
            except (json.JSONDecodeError, ValueError):
                pass
        for i, ch in enumerate(cand):
            if ch in "{[":
                block = _balanced(cand, i)
                if block is None:
                    continue
                for fix in _repairs(block):
                    try:
                        return json.loads(fix)
                    except (json.JSONDecodeError, ValueError):
                        pass
    raise ParseError(_("no JSON object or array could be read from the reply"))


def items(value, *keys: str) -> list:
    """The list inside a parsed reply: the value itself when a list, else the first of ``keys`` present."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for k in keys:
            if isinstance(value.get(k), list):
                return value[k]
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
        if any(k in value for k in ("question", "instruction", "q")):
            return [value]
    raise ParseError(_("the reply has no list of {keys}").format(keys=" / ".join(keys)))
