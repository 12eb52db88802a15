"""The tiny local base model of the embedded default: no download, CJK-covering, random weights.

It exists so the whole loop (train, compare, score) runs on a laptop with no hub. Real use points the
studio at a real local model folder (Qwen, ChatGLM, LLaMA, ...).
"""
from __future__ import annotations

import json
from pathlib import Path

from studio.core import settings


def demo_model_dir() -> Path:
    """Where the tiny demo base model lives."""
    return settings.path("models") / "demo-tiny-llama"


SPECIAL = ["<pad>", "<unk>", "<s>", "</s>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n"
    "{% elif m['role'] == 'user' %}问：{{ m['content'] }}\n"
    "{% else %}答：{{ m['content'] }}{{ eos_token }}\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}答：{% endif %}"
)


def _vocabulary() -> list[str]:
    """Characters: ASCII, Latin-1, general and CJK punctuation, full-width forms, CJK ideographs."""
    ranges = [(0x20, 0x7E), (0xA0, 0xFF), (0x2000, 0x206F), (0x2190, 0x21FF), (0x2200, 0x22FF),
              (0x2460, 0x24FF), (0x2500, 0x257F), (0x25A0, 0x25FF), (0x2600, 0x26FF),
              (0x3000, 0x303F), (0x3040, 0x30FF), (0x3200, 0x32FF), (0x4E00, 0x9FFF), (0xFF00, 0xFFEF)]
    chars = ["\n", "\t"]
    for lo, hi in ranges:
        chars.extend(chr(c) for c in range(lo, hi + 1))
    return SPECIAL + list(dict.fromkeys(chars))


def build(out: str | Path, *, layers: int = 2, hidden: int = 256, heads: int = 4, seed: int = 0) -> dict:
    """Build and save the demo model and tokenizer into ``out``; return a summary.

    Hidden 256, not 128: with frozen tied embeddings (std 0.05) and a frozen final norm the largest
    logit is about 0.05 * hidden, so at 128 a LoRA adapter cannot push the loss below ~3.8 and never
    memorises; at 256 it does within ~50 steps (measured, issue 6).
    """
    import torch
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    vocab = {tok: i for i, tok in enumerate(_vocabulary())}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", unk_token="<unk>", bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.padding_side = "left"

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=hidden, intermediate_size=hidden * 2,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=1024, initializer_range=0.05, tie_word_embeddings=True,
        pad_token_id=vocab["<pad>"], bos_token_id=vocab["<s>"], eos_token_id=vocab["</s>"])
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    summary = {"out": str(out), "model_type": "llama", "vocab": len(vocab), "layers": layers,
               "hidden": hidden, "parameters": sum(p.numel() for p in model.parameters())}
    (out / "studio_demo_model.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1))
    return summary


def is_built(out: str | Path) -> bool:
    """Whether a demo model already lies in ``out``."""
    return (Path(out) / "studio_demo_model.json").exists()
