"""Sample lengths in characters or tokens, and the warnings a trainer would otherwise keep silent.

ChatGLM's P-Tuning script truncates prompts beyond ``max_source_length`` and answers beyond
``max_target_length`` without a word; these functions say which samples that would hit before export.
Without a tokenizer, lengths are characters (close to tokens for CJK character vocabularies).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from studio.core.errors import InputError
from studio.core.formats import user_text


def load_tokenizer(folder: str | Path):
    """A local tokenizer folder loaded with AutoTokenizer (no download, no remote code)."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise InputError("not a tokenizer folder", file=str(path))
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as err:  # transformers raises many kinds; the user needs one line
        raise InputError(f"cannot load a tokenizer here: {str(err).splitlines()[0]}", file=str(path)) from None


def measure(samples: list[dict[str, Any]], tokenizer=None) -> list[tuple[int, int]]:
    """(source length, target length) per sample; the source is the user turn plus the history."""
    sources = []
    for s in samples:
        turns = [q + a for q, a in (s.get("history") or [])]
        sources.append("".join(turns) + user_text(s.get("instruction", ""), s.get("input", "")))
    targets = [s.get("output") or "" for s in samples]
    if tokenizer is None:
        return [(len(a), len(b)) for a, b in zip(sources, targets)]
    out = []
    for start in range(0, len(samples), 1000):
        src = tokenizer(sources[start:start + 1000], add_special_tokens=False)["input_ids"]
        tgt = tokenizer(targets[start:start + 1000], add_special_tokens=False)["input_ids"]
        out += [(len(a), len(b)) for a, b in zip(src, tgt)]
    return out


def warnings(samples: list[dict[str, Any]], max_source_length: int | None = None,
             max_target_length: int | None = None, tokenizer=None) -> list[str]:
    """One line per limit that some samples exceed (empty when none do or no limit is set)."""
    if not max_source_length and not max_target_length:
        return []
    unit = "tokens" if tokenizer is not None else "characters"
    lengths = measure(samples, tokenizer)
    out = []
    for idx, limit, name, part in ((0, max_source_length, "max_source_length", "prompts"),
                                   (1, max_target_length, "max_target_length", "answers")):
        if not limit:
            continue
        over = [i for i, ln in enumerate(lengths) if ln[idx] > limit]
        if over:
            longest = max(lengths[i][idx] for i in over)
            out.append(f"{len(over)} of {len(samples)} {part} are longer than {name}={limit} {unit} "
                       f"(longest {longest}); the trainer truncates them silently")
    return out
