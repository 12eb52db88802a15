"""Packing is exact beyond the demo model: Llama with grouped-query attention, Qwen2 (biased q/k/v), Qwen3
(q/k norms) and GPT-2 (learned absolute positions, so a pack whose positions did not restart per sample
would train on the wrong positions and differ). Tiny random models of each, a LoRA whose update is not
zero; the packed batch must give the padded batch's loss and LoRA gradients, through the real
``packing.plan`` (which must choose to pack) and the Trainer's own loss normalisation.

Each claim is shown able to fail: the same comparison sees a pack that lets attention cross samples, a
pack whose positions run on, and a pack that trains each sample's first token."""
import pytest

from tests.train_helpers import tiny_model
from trainers import packing, sft


def _rows(n: int = 5) -> list[dict]:
    """Rows of different lengths, the prompt's labels -100, as ``sft.encode`` makes them (one without a prompt)."""
    import random

    rng = random.Random(1)
    rows = []
    for i in range(n):
        prompt, answer = (rng.randint(3, 12) if i != 2 else 0), rng.randint(2, 20)  # row 2: no prompt
        ids = [rng.randint(4, 95) for _ in range(prompt + answer)]
        rows.append({"input_ids": ids, "labels": sft.labels_for(ids, prompt), "attention_mask": [1] * len(ids)})
    return rows


def _lora(folder):
    import torch

    cfg = sft.make_config(base_model=str(folder), lora_dropout=0.0)
    model = sft.attach_adapter(sft.load_base(cfg, torch.float32), cfg, folder)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return model


def _loss_and_grads(model, batch, loss_of):
    model.zero_grad()
    loss = loss_of(model, batch)
    loss.backward()
    return loss.item(), {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _padded(model, rows):
    """Loss and gradients of the padded batch with the model's own attention (sdpa)."""
    base = model.get_base_model()
    now = base.config._attn_implementation
    base.set_attn_implementation("sdpa")
    try:
        return _loss_and_grads(model, sft.collate(rows, pad_id=0), lambda m, b: m(**b).loss)
    finally:
        base.set_attn_implementation(now)


def _packed(model, rows, plan, collate=None):
    """Loss and gradients of the packed batch, the loss as the Trainer computes it for this plan."""
    def loss_of(m, batch):
        labels = batch.pop("labels")
        count = (labels[..., 1:] != -100).sum()  # the Trainer's num_items_in_batch
        if plan.loss is None:
            return m(**batch, labels=labels, num_items_in_batch=count).loss
        return plan.loss(m(**batch), labels, count)
    return _loss_and_grads(model, (collate or plan.collate)(rows), loss_of)


def _same(a, b) -> bool:
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    return (abs(loss_a - loss_b) <= 1e-5 * abs(loss_b) and grads_a.keys() == grads_b.keys()
            and all((grads_a[k] - grads_b[k]).abs().max() <= 1e-4 * (1 + grads_b[k].abs().max()) for k in grads_b))


@pytest.fixture(scope="module", params=["llama", "qwen2", "qwen3", "gpt2"])
def packed_model(request, tmp_path_factory):
    model = _lora(tiny_model(request.param, tmp_path_factory.mktemp(request.param)))
    rows = _rows()
    plan = packing.plan(model, rows, method="lora", wanted=True)
    model.train()
    return request.param, model, rows, plan


def test_the_plan_packs_each_architecture(packed_model):
    kind, model, _rows_, plan = packed_model
    assert plan.packed, plan.note
    assert model.get_base_model().config._attn_implementation == packing.ATTENTION
    # the fused response-only loss where the output layer is a plain frozen Linear; GPT-2's is too
    assert plan.loss is not None


def test_packed_equals_padded_loss_and_gradients(packed_model):
    _kind, model, rows, plan = packed_model
    padded = _padded(model, rows)
    assert any("lora_A" in k for k in padded[1])
    assert _same(_packed(model, rows, plan), padded)
    # the model's own loss on the pack (no fused head) agrees too
    assert _same(_packed(model, rows, packing.Plan(True, lambda b: packing.collate_packed(b, fused=False),
                                                   None, "")), padded)


def test_the_comparison_sees_attention_crossing_samples(packed_model):
    """Without the sample boundaries ``varlen_sdpa`` is causal over the whole row: sample 2 then sees sample 1."""
    _kind, model, rows, plan = packed_model

    def leaky(batch_rows):
        batch = plan.collate(batch_rows)
        for key in ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k"):
            batch.pop(key)
        return batch
    assert not _same(_packed(model, rows, plan, leaky), _padded(model, rows))


@pytest.mark.parametrize("packed_model", ["gpt2"], indirect=True)
def test_the_comparison_sees_positions_that_do_not_restart(packed_model):
    """Rotary positions are relative (an offset per sample gives the same scores): GPT-2's learned absolute
    positions are what tell a pack whose positions run on."""
    import torch

    _kind, model, rows, plan = packed_model

    def running(batch_rows):
        batch = plan.collate(batch_rows)
        batch["position_ids"] = torch.arange(batch["input_ids"].shape[1])[None]
        return batch
    assert not _same(_packed(model, rows, plan, running), _padded(model, rows))


def test_the_comparison_sees_a_first_token_trained_across_samples(packed_model):
    """A row without a prompt trains from its second token on when padded; a pack that kept its first label
    would have the previous sample's last token learn to predict it."""
    import torch

    _kind, model, rows, plan = packed_model
    assert any(r["labels"][0] != -100 for r in rows[1:])

    def trains_first(batch_rows):
        batch = plan.collate(batch_rows)
        batch["labels"] = torch.tensor([[t for r in batch_rows for t in r["labels"]]])
        return batch
    assert not _same(_packed(model, rows, plan, trains_first), _padded(model, rows))
