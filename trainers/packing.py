"""Padding-free packing for ``trainers/sft.py``: the rows of a batch concatenated into one row.

A batch of ``batch_size`` samples becomes one row of their summed length, so no step computes a
padding token; a step still holds ``batch_size`` samples (as transformers' ``DataCollatorWithFlattening``,
not LLaMA-Factory's ``packing``, which fills rows up to ``cutoff_len`` and so takes about half the optimizer
steps per epoch), so a run keeps the padded run's steps, schedule and loss curve. It trains exactly as the
padded batch does:

- position ids restart at 0 for every sample (rotary positions as if each row stood alone);
- attention stays inside each sample: ``varlen_sdpa`` runs torch's scaled-dot-product attention
  per sample, with the sample boundaries (``cu_seq_lens_q``, the flash-attention convention) that
  the collator hands through the model's ``**kwargs``. (transformers' own path for a packed row under
  sdpa builds a block-diagonal mask from the position ids and computes every cross-sample score only
  to mask it: a whole training step of the demo model on the trainer benchmark's rows, batch 8, takes
  ~1.2x as long on one CPU thread);
- labels are -100 on prompt tokens (as before) and on each sample's first token, so no position
  learns to predict the next sample;
- the loss is the same per-token mean over the batch's response tokens. ``LinearCrossEntropy``
  computes it from the last hidden states of the response positions only: the output layer
  (a 23k-vocabulary matrix, ~80 % of the demo model's arithmetic) never runs on prompt tokens,
  and the softmax gradient is formed in place, chunk by chunk, instead of materialising
  log-softmax, its gradient and a zero-filled NLL gradient of the whole (tokens x vocabulary).

``plan`` decides per run: packing only where a check on the run's own first rows shows the packed
forward equal to the model's own (logits per sample, and the loss); otherwise padding, with the
reason in the log. Prefix tuning (P-Tuning v2) always pads: its virtual tokens are a key/value
cache every sample must see.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch

from studio.core.i18n import _

IGNORE = -100
ATTENTION = "studio_packed_sdpa"  # the name varlen_sdpa is registered under in transformers' AttentionInterface


# ------------------------------------------------------------------------------------------ batches

def pack(rows: list[dict[str, Any]]) -> dict[str, list[int]]:
    """The rows of a batch as one: input_ids and labels concatenated, position_ids restarting per row,
    each row's first label -100 (the pack's previous token must not learn to predict it), and the
    cumulative lengths ``cu_seq_lens`` that bound each row.

    >>> p = pack([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8, 9], "labels": [8, 9]}])
    >>> p["input_ids"], p["position_ids"], p["labels"], p["cu_seq_lens"]
    ([5, 6, 7, 8, 9], [0, 1, 2, 0, 1], [-100, 6, 7, -100, 9], [0, 3, 5])
    """
    ids, positions, labels, bounds = [], [], [], [0]
    for r in rows:
        n = len(r["input_ids"])
        if n == 0:
            continue
        ids.extend(r["input_ids"])
        positions.extend(range(n))
        labels.append(IGNORE)
        labels.extend(r["labels"][1:n])
        bounds.append(bounds[-1] + n)
    return {"input_ids": ids, "position_ids": positions, "labels": labels, "cu_seq_lens": bounds}


def collate_packed(rows: list[dict[str, Any]], *, fused: bool) -> dict[str, Any]:
    """A batch as one packed row of tensors, with the sample boundaries for ``varlen_sdpa``.

    ``fused``: the model returns hidden states and the logits of one position only, for
    ``response_loss``; else it computes its own loss from ``labels``.
    """
    p = pack(rows)
    bounds = torch.tensor(p["cu_seq_lens"], dtype=torch.int32)
    longest = int((bounds[1:] - bounds[:-1]).max())
    batch = {"input_ids": torch.tensor([p["input_ids"]]), "position_ids": torch.tensor([p["position_ids"]]),
             "labels": torch.tensor([p["labels"]]), "cu_seq_lens_q": bounds, "cu_seq_lens_k": bounds,
             "max_length_q": longest, "max_length_k": longest, "use_cache": False}
    if fused:
        batch.update(logits_to_keep=1, output_hidden_states=True)
    return batch


# ---------------------------------------------------------------------------------------- attention

def varlen_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling: float | None = None,
                **kwargs) -> tuple[torch.Tensor, None]:
    """Causal attention inside each sample of a packed row (``cu_seq_lens_q`` from ``collate_packed``):
    torch's sdpa once per sample, ``is_causal``, so no score across samples is computed at all.

    query (1, heads, L, dim), key/value (1, kv heads, L, dim); returns (1, L, heads, dim). Without
    boundaries (a single unpadded row, as in ``check``) it is plain causal sdpa; what it cannot do
    exactly (sliding windows, soft-capping, attention sinks, several rows) raises.
    """
    for unsupported in ("sliding_window", "softcap", "s_aux"):
        if kwargs.get(unsupported) is not None:
            raise NotImplementedError(_("packed attention does not support {feature}").format(feature=unsupported))
    if attention_mask is not None or query.shape[0] != 1:
        raise NotImplementedError(_("packed attention takes one packed row without a mask"))
    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1:
        key = key.repeat_interleave(groups, dim=1)
        value = value.repeat_interleave(groups, dim=1)
    bounds = kwargs.get("cu_seq_lens_q")
    cuts = bounds.tolist() if bounds is not None else [0, query.shape[2]]
    outs = [torch.nn.functional.scaled_dot_product_attention(
        query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], dropout_p=dropout, scale=scaling, is_causal=True)
        for a, b in zip(cuts[:-1], cuts[1:])]
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
    return out.transpose(1, 2).contiguous(), None


def use_packed_attention(model) -> str:
    """Switch the model to ``varlen_sdpa``; return the implementation it had (to switch back)."""
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION, varlen_sdpa)
    base = _base(model)
    before = base.config._attn_implementation
    base.set_attn_implementation(ATTENTION)
    return before


# --------------------------------------------------------------------------------------------- loss

class LinearCrossEntropy(torch.autograd.Function):
    """Sum over rows of cross-entropy(hidden @ weight.T, target), exact, with the gradient for ``hidden``
    formed during the forward pass, chunk by chunk (softmax minus one-hot, in place, times ``weight``):
    no (rows x vocabulary) tensor outlives its chunk. ``weight`` is the frozen output layer."""

    @staticmethod
    def forward(ctx, hidden, weight, target, chunk: int):
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)
        grad = torch.empty_like(hidden) if hidden.requires_grad else None
        for a in range(0, hidden.shape[0], chunk):
            # vocabulary x tokens: weight @ hidden.T runs ~1.5x faster on CPU BLAS than hidden @ weight.T
            # (a long contiguous M, a short K), and the softmax reduces over dim 0 just as fast
            logits = (weight @ hidden[a:a + chunk].T).float()
            t = target[None, a:a + chunk]
            picked = logits.gather(0, t)
            top = logits.amax(dim=0, keepdim=True)
            probs = logits.sub_(top).exp_()  # in place: one (vocabulary x chunk) buffer, ~3x faster than logsumexp
            norm = probs.sum(dim=0, keepdim=True)
            total += (norm.log() + top - picked).sum()  # log-sum-exp minus the target's logit
            if grad is not None:
                probs.div_(norm).scatter_add_(0, t, torch.full_like(t, -1.0, dtype=probs.dtype))
                grad[a:a + chunk] = (weight.T @ probs.to(weight.dtype)).T
        ctx.save_for_backward(grad)
        return total

    @staticmethod
    def backward(ctx, upstream):
        (grad,) = ctx.saved_tensors
        return grad * upstream.to(grad.dtype), None, None, None


def response_loss(outputs, labels, num_items_in_batch=None, *, weight: torch.Tensor) -> torch.Tensor:
    """The Trainer's ``compute_loss_func``: mean cross-entropy over the response tokens of the batch
    (the sum divided by ``num_items_in_batch``, the count over all gradient-accumulation micro-batches,
    as transformers' own causal-LM loss does), from the last hidden states."""
    hidden = outputs.hidden_states[-1][0, :-1]
    target = labels[0, 1:].to(hidden.device)
    keep = target != IGNORE
    hidden, target = hidden[keep], target[keep]
    chunk = max(1, min(256, 2**24 // weight.shape[0]))  # at most ~64 MB of fp32 logits at a time
    total = LinearCrossEntropy.apply(hidden, weight, target, chunk)
    count = num_items_in_batch if num_items_in_batch is not None else max(1, target.numel())
    if torch.is_tensor(count):
        count = count.to(total.device)
    return total / count


def output_weight(model) -> torch.Tensor | None:
    """The output layer's weight when the fused loss can stand in for it: a plain bias-free, frozen
    ``nn.Linear`` (a LoRA-adapted or biased head: None, the model computes its own loss)."""
    head = model.get_output_embeddings()
    if type(head) is not torch.nn.Linear or head.bias is not None or head.weight.requires_grad:
        return None
    return head.weight


# -------------------------------------------------------------------------------------- the decision

@dataclass
class Plan:
    """How the run batches: ``collate`` (rows -> model inputs), ``loss`` (a compute_loss_func or None),
    and ``note``, the log line that says so."""
    packed: bool
    collate: Callable[[list[dict[str, Any]]], dict[str, Any]] | None
    loss: Callable | None
    note: str


def plan(model, rows: list[dict[str, Any]], *, method: str, wanted: bool) -> Plan:
    """Pack when asked, for LoRA, and when ``check`` finds the packed forward exact on ``rows``; else
    pad (``collate`` None: the caller's padding collator), saying why."""
    if not wanted:
        return Plan(False, None, None, _("batches: padded to each batch's longest row (packing off)"))
    if method != "lora":
        return Plan(False, None, None, _("batches: padded (packing needs LoRA; P-Tuning v2's virtual tokens are "
                                         "shared by every row)"))
    weight = output_weight(model)
    problem = check(model, rows, weight)
    if problem:
        return Plan(False, None, None, _("batches: padded; packing is not exact for this model ({reason})").format(
            reason=problem))
    if weight is None:
        return Plan(True, lambda b: collate_packed(b, fused=False), None,
                    _("batches: packed into one row each, attention kept inside each sample"))
    loss = lambda outputs, labels, num_items_in_batch=None: response_loss(  # noqa: E731
        outputs, labels, num_items_in_batch, weight=weight)
    return Plan(True, lambda b: collate_packed(b, fused=True), loss,
                _("batches: packed into one row each, attention kept inside each sample; output layer on "
                  "response tokens only"))


def check(model, rows: list[dict[str, Any]], weight: torch.Tensor | None, tolerance: float | None = None) -> str:
    """Why packing would not be exact for this model ('' when it is, and the model now uses ``varlen_sdpa``).

    The first rows (at most 3, 48 tokens each; a single row twice) run alone with the model's own
    attention, then packed with ``varlen_sdpa``: the logits of each sample must agree, and the fused
    response loss must equal the model's own loss on the pack. On any difference or error the model keeps
    its own attention.
    """
    sample = [{"input_ids": r["input_ids"][:48], "labels": list(r["labels"][:48])} for r in rows[:3]]
    sample = [r for r in sample if r["input_ids"]]
    if len(sample) == 1:  # one row: a pack of it twice still shows whether the second copy sees the first
        sample = sample * 2
    param = next(model.parameters())
    tolerance = tolerance or (1e-4 if param.dtype == torch.float32 else 3e-2)
    was_training = model.training
    model.eval()
    before = None
    try:
        with torch.no_grad():
            alone = [model(input_ids=torch.tensor([r["input_ids"]], device=param.device), use_cache=False)
                     .logits[0].float() for r in sample]
            before = use_packed_attention(model)
            problem = _compare(model, sample, alone, weight, tolerance) if sample else _("no rows to check it on")
    except Exception as err:  # noqa: BLE001 - any failure of the packed forward means: pad instead
        problem = f"{type(err).__name__}: {err}"
    finally:
        model.train(was_training)
    if problem and before is not None:
        _base(model).set_attn_implementation(before)
    return problem


def _compare(model, sample, alone, weight, tolerance: float) -> str:
    """'' when the pack of ``sample`` gives the logits ``alone`` per sample and, with ``weight``, the
    fused loss equals the model's own; else what differs."""
    device = alone[0].device
    batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in collate_packed(sample, fused=False).items()}
    labels = batch.pop("labels")
    out = model(**batch, labels=labels)
    packed, own = out.logits[0].float(), out.loss.float()
    start = 0
    for r, single in zip(sample, alone):
        n = len(r["input_ids"])
        if (packed[start:start + n] - single).abs().max() > tolerance * (1 + single.abs().max()):
            return _("packed logits differ from the padded ones")
        start += n
    if weight is not None:
        fused = response_loss(model(**batch, output_hidden_states=True, logits_to_keep=1), labels, weight=weight)
        if (fused - own).abs() > tolerance * (1 + own.abs()):
            return _("the response-only loss differs from the model's own")
    return ""


def _base(model):
    """The transformers model inside a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model
