"""A short pre-training of the demo base model on text that ships with the studio.

The demo model starts from random weights, so a newcomer's first comparison showed noise beside noise.
``studio init`` gives it a short next-character training (``STUDIO_DEMO_PRETRAIN_STEPS`` steps) on the
demo domain text and two Chinese laws shipped in ``studio/project/demo/pretrain/`` (PRC laws are outside
copyright): afterwards the base writes Chinese-looking sentences in the style of a regulation, and a
demo LoRA has a language model to adapt. The exam bank's answers are left out on purpose, so the base
model does not know them and exam evaluation shows what the adapter learnt.

The result is cached: the model folder's ``studio_demo_model.json`` records the text's hash and the
steps; a second ``init`` with the same text does nothing. Tests keep the untrained tiny model.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

DEMO = Path(__file__).resolve().parent.parent / "project" / "demo"
TEXTS = (DEMO / "domain_text.md", *sorted((DEMO / "pretrain").glob("*.txt")))


def corpus_text() -> str:
    """The shipped pre-training text, documents separated by blank lines, HTML comments dropped."""
    parts = []
    for path in TEXTS:
        text = path.read_text(encoding="utf-8")
        text = "\n".join(line for line in text.splitlines() if not line.startswith("<!--"))
        parts.append(text.strip())
    return "\n\n".join(parts)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def pretrained(model_dir: str | Path) -> dict | None:
    """What the last pre-training of ``model_dir`` recorded, if it ran on today's shipped text."""
    summary = _summary(model_dir)
    record = summary.get("pretrained")
    return record if record and record.get("text") == text_hash(corpus_text()) else None


def _summary(model_dir: str | Path) -> dict:
    path = Path(model_dir) / "studio_demo_model.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def pretrain(model_dir: str | Path, *, max_steps: int = 120, seconds: float = 180.0, seq_len: int = 96,
             batch_size: int = 16, learning_rate: float = 3e-3, seed: int = 0,
             progress: Callable[[int, float], None] | None = None) -> dict:
    """Train every weight of the demo model in ``model_dir`` on the shipped text for ``max_steps`` steps
    (fewer if ``seconds`` run out first: a slow machine still starts), save it in place and record it;
    return the record (steps, seconds, first and last loss).

    Random windows of ``seq_len`` characters, AdamW with a short warm-up. Cached: a model already
    pre-trained on the same text is left as it is.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model_dir = Path(model_dir)
    done = pretrained(model_dir)
    if done:
        return {**done, "cached": True}
    text = corpus_text()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    ids = torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    started = time.monotonic()
    losses = _train(model, ids, tokenizer.eos_token_id, max_steps=max_steps, seconds=seconds, seq_len=seq_len,
                    batch_size=batch_size, learning_rate=learning_rate, seed=seed, progress=progress)
    model.save_pretrained(model_dir)
    tail = losses[-10:]
    record = {"text": text_hash(text), "characters": len(ids), "steps": len(losses),
              "seconds": round(time.monotonic() - started, 1), "loss_first": round(losses[0], 3),
              "loss_last": round(sum(tail) / len(tail), 3)}
    summary = _summary(model_dir)
    summary["pretrained"] = record
    (model_dir / "studio_demo_model.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1))
    return record


def _train(model, ids, eos_id: int, *, max_steps: int, seconds: float, seq_len: int, batch_size: int,
           learning_rate: float, seed: int, progress: Callable[[int, float], None] | None) -> list[float]:
    """The training loop; the losses of its steps.

    Only the characters of the text (and end-of-text) are trained: their rows of the tied embedding are
    copied into a small matrix used for input and output, and written back at the end. The softmax then
    runs over those ~800 characters instead of all ~23k, and characters the text never uses keep their
    small random weights (so they stay unlikely).
    """
    import torch

    model.train()
    embedding = model.get_input_embeddings().weight
    used = torch.unique(torch.cat([ids, torch.tensor([eos_id])]))
    local = torch.full((model.config.vocab_size,), -1, dtype=torch.long)
    local[used] = torch.arange(len(used))
    rows = torch.nn.Parameter(embedding.detach()[used].clone())
    blocks = [p for name, p in model.model.named_parameters() if not name.startswith("embed_tokens")]
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW([rows, *blocks], lr=learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 20))  # 20 warm-up steps
    stream = local[ids]
    started, losses = time.monotonic(), []
    while len(losses) < max_steps and (not losses or time.monotonic() - started < seconds):
        starts = torch.randint(0, len(stream) - seq_len - 1, (batch_size,), generator=generator)
        batch = torch.stack([stream[s:s + seq_len + 1] for s in starts.tolist()])
        hidden = model.model(inputs_embeds=rows[batch[:, :-1]]).last_hidden_state
        loss = torch.nn.functional.cross_entropy((hidden @ rows.T).reshape(-1, len(used)),
                                                 batch[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_([rows, *blocks], 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if progress:
            progress(len(losses), losses[-1])
    with torch.no_grad():
        embedding[used] = rows.detach()
    return losses
