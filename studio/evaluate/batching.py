"""Which generation requests share a batch, and how each generated row ended.

A *request* is one (system, prompt) pair; ``studio.evaluate.inference`` runs them on one base model.

- ``pools``: the base system and every LoRA adapter peft can serve in a mixed batch form ONE pool: its
  rows name their adapter through peft's ``generate(..., adapter_names=[...])`` (``"__base__"`` for the
  base model), so K adapters answering N prompts take about K*N / batch_size generate calls, not K times
  N / batch_size. A prefix (P-Tuning v2) adapter cannot join a LoRA batch (peft refuses to combine the
  kinds) and a DoRA adapter cannot be mixed (peft raises): each is a pool of its own.
- ``plan``: a pool's requests in batches of at most ``batch_size`` rows, longest prompt first and the
  systems of one prompt side by side, so the rows of a batch have (nearly) the same length: little left
  padding, and none for one prompt asked of several systems. With left padding and the attention mask,
  greedy outputs equal those of each system generating alone, token for token (tests/test_multi_adapter.py).
- ``ending``: how a row ended: ``"eos"`` (the end-of-sequence token came first), ``"stop"`` (a stop
  string), ``"length"`` (max new tokens reached), or ``"error"`` for a row that could not be generated
  (its ``error`` then says why, in the user's words). ``Answer`` carries both with the output, as the
  ``generations`` table stores them (``finish_reason``, ``error``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

BASE = "__base__"          # peft's name for "no adapter" in ``adapter_names``
EOS, STOP, LENGTH, ERROR = "eos", "stop", "length", "error"


class Answer(str):
    """A generated output: its text (a ``str``, so code that wants text keeps working) plus
    ``finish_reason`` (``eos`` | ``stop`` | ``length`` | ``error``), ``error`` (why, for ``error``; else
    None), ``token_ids`` (the generated ids, through the end-of-sequence token, without padding), ``ms``
    (generation time per row of its batch) and ``system`` (the id of the system that answered)."""

    finish_reason: str
    error: str | None
    token_ids: tuple[int, ...]
    ms: int
    system: str

    def __new__(cls, text: str, *, finish_reason: str, token_ids: Sequence[int] = (), ms: int = 0,
                system: str = "", error: str | None = None):
        obj = super().__new__(cls, text)
        obj.finish_reason, obj.error = finish_reason, error
        obj.token_ids, obj.ms, obj.system = tuple(int(t) for t in token_ids), int(ms), system
        return obj

    def __reduce__(self):
        return (_answer, (str(self), self.finish_reason, self.token_ids, self.ms, self.system, self.error))

    @property
    def failed(self) -> bool:
        """Whether the row could not be generated."""
        return self.finish_reason == ERROR


def _answer(text, finish_reason, token_ids, ms, system, error) -> Answer:
    return Answer(text, finish_reason=finish_reason, token_ids=token_ids, ms=ms, system=system, error=error)


def failed(system: str, why: str) -> Answer:
    """An empty answer that says why it is empty (``why`` is shown to people: pass translated text)."""
    return Answer("", finish_reason=ERROR, error=why, system=system)


# ---------------------------------------------------------------- pools and batches


def mixable(system: Any) -> bool:
    """Whether the system can share a mixed-adapter batch: the base model, or a plain LoRA adapter (peft
    refuses ``adapter_names`` with DoRA; other tuner types have no mixed-batch forward)."""
    if system.method == "base":
        return True
    if system.method != "lora" or not system.adapter:
        return False
    try:
        cfg = json.loads((Path(system.adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True   # loading will say what is wrong with the folder
    plain = str(cfg.get("peft_type", "LORA")).upper() == "LORA"   # not AdaLoRA, IA3, ...
    return plain and not cfg.get("use_dora") and not cfg.get("alora_invocation_tokens")


def pools(systems: Iterable[Any]) -> list[list[Any]]:
    """The systems grouped by the batches they may share, in generation order: the mixed pool (base and
    LoRA) first, then every other LoRA adapter alone, then every prefix adapter alone. A pool of one
    system runs as before (``set_adapter`` / ``disable_adapter``); so does a mixed pool without any LoRA."""
    unique = list({s.id: s for s in systems}.values())
    mixed = sorted((s for s in unique if mixable(s)), key=lambda s: s.method != "base")   # the base first
    alone = sorted((s for s in unique if not mixable(s)), key=lambda s: s.method == "prefix")  # LoRA, prefix
    return ([mixed] if len(mixed) > 1 else [[s] for s in mixed]) + [[s] for s in alone]


def plan(positions: Sequence[int], lengths: Sequence[int], prompt_of: Sequence[int], rank: Sequence[int],
         batch_size: int) -> list[list[int]]:
    """Batches (lists of request positions) of at most ``batch_size`` rows: longest prompt first; the
    requests of one prompt (``prompt_of``) together, in system order (``rank``)."""
    order = sorted(positions, key=lambda i: (-lengths[i], prompt_of[i], rank[i], i))
    size = max(1, int(batch_size))
    return [order[start:start + size] for start in range(0, len(order), size)]


# ---------------------------------------------------------------- how a row ended


def ending(ids: Sequence[int], text_before_eos: str | None = None, *, eos: int | None, pad: int | None,
           stop: Sequence[str] = ()) -> tuple[list[int], str]:
    """The tokens a row generated (through its end-of-sequence token, without padding) and how it ended.

    ``ids`` are the row's new tokens as ``generate`` returned them (finished rows padded with ``pad``);
    ``text_before_eos`` is their text up to the first end-of-sequence token, to tell a stop string.

    >>> ending([5, 6, 2, 0, 0], eos=2, pad=0)
    ([5, 6, 2], 'eos')
    >>> ending([5, 6, 7], eos=2, pad=0)
    ([5, 6, 7], 'length')
    >>> ending([5, 6, 0, 0], "ab", eos=2, pad=0, stop=["b"])
    ([5, 6], 'stop')
    """
    ids = [int(t) for t in ids]
    cut = ids.index(eos) if eos is not None and eos in ids else None
    if stop and text_before_eos is not None and any(s and s in text_before_eos for s in stop):
        kept = ids[:cut] if cut is not None else ids
        while kept and pad is not None and kept[-1] == pad:
            kept = kept[:-1]
        return kept, STOP
    if cut is not None:
        return ids[:cut + 1], EOS
    return ids, LENGTH


# ---------------------------------------------------------------- one generate call


def cut_at_stop(text: str, stop: list[str]) -> str:
    """The text up to the first stop string (exclusive)."""
    cut = len(text)
    for s in stop or []:
        i = text.find(s)
        if i != -1:
            cut = min(cut, i)
    return text[:cut].strip()


def generate_kwargs(tokenizer, decode: dict[str, Any], default_max_new_tokens: int) -> dict[str, Any]:
    """``generate`` keyword arguments for decode settings (greedy silences the model's sampling defaults)."""
    kw: dict[str, Any] = {"max_new_tokens": int(decode.get("max_new_tokens", default_max_new_tokens)),
                          "do_sample": bool(decode.get("do_sample")), "pad_token_id": tokenizer.pad_token_id}
    if tokenizer.eos_token_id is not None:
        kw["eos_token_id"] = tokenizer.eos_token_id
    if kw["do_sample"]:
        kw["temperature"] = float(decode.get("temperature", 1.0))
        kw["top_p"] = float(decode.get("top_p", 1.0))
    else:
        kw.update(temperature=None, top_p=None, top_k=None)
    if decode.get("stop"):
        kw["stop_strings"] = list(decode["stop"])
        kw["tokenizer"] = tokenizer
    return kw


def answers(tokenizer, rows: list[list[int]], systems: list[str], *, eos: int | None, stop: list[str],
            ms: int) -> list[Answer]:
    """The answers of one batch: each row's new tokens (``rows``) decoded, cut at a stop string, with how
    it ended."""
    out = []
    for system, row in zip(systems, rows):
        head = row[:row.index(eos)] if eos is not None and eos in row else row
        raw = tokenizer.decode(head, skip_special_tokens=True)
        ids, reason = ending(row, raw, eos=eos, pad=tokenizer.pad_token_id, stop=stop)
        out.append(Answer(cut_at_stop(raw, stop), finish_reason=reason, token_ids=ids, ms=ms, system=system))
    return out
