"""Padding-free packing (trainers/packing.py): a packed batch trains exactly as the padded one.

The proofs run the demo model (LoRA with a non-zero update) on real Chinese alpaca rows: the per-token
loss mean and the LoRA gradients of a packed batch equal the padded batch's; changing one sample's
tokens leaves the other samples' logits in the pack unchanged (and the same probe sees the leak of
plain causal attention over the row, so it can tell); a model the packed attention cannot serve exactly
(sliding windows) falls back to padding with the reason in the log."""
import json

import pytest

from tests.conftest import DATA
from tests.train_helpers import FAST_LORA
from trainers import packing, sft

ALPACA = DATA / "trainer_formats" / "llamafactory" / "alpaca_zh_demo.json"


# ---------------------------------------------------------------------------------------- pure parts

def test_pack_restarts_positions_and_masks_each_samples_first_label():
    rows = [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8, 9], "labels": [8, 9]},
            {"input_ids": [], "labels": []}, {"input_ids": [4], "labels": [-100]}]
    p = packing.pack(rows)
    assert p["input_ids"] == [5, 6, 7, 8, 9, 4]
    assert p["position_ids"] == [0, 1, 2, 0, 1, 0]
    assert p["labels"] == [-100, 6, 7, -100, 9, -100]  # 8 would be predicted from sample 1's last token
    assert p["cu_seq_lens"] == [0, 3, 5, 6]


def test_collate_packed_hands_the_boundaries_to_the_model():
    b = packing.collate_packed([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]},
                                {"input_ids": [8, 9], "labels": [-100, 9]}], fused=True)
    assert b["input_ids"].shape == (1, 5) and b["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    assert b["cu_seq_lens_q"].tolist() == [0, 3, 5] and b["max_length_q"] == 3
    assert "attention_mask" not in b and b["use_cache"] is False
    assert b["output_hidden_states"] is True and b["logits_to_keep"] == 1
    assert "output_hidden_states" not in packing.collate_packed([{"input_ids": [1], "labels": [1]}], fused=False)


@pytest.mark.parametrize("source, target, cutoff, kept", [
    (20, 600, 456, (20, 436)),     # short prompt: the response gets the rest
    (300, 100, 256, (156, 100)),   # short response: kept whole, the prompt gets the rest
    (300, 300, 256, (128, 128)),   # both long: in proportion
    (10, 10, 456, (10, 10)),       # fits
])
def test_cutoff_len_shares_out_tokens_as_llama_factory(source, target, cutoff, kept):
    assert sft.cutoff_split(source, target, cutoff) == kept


def test_cutoff_len_bounds_the_row_and_keeps_the_answer_cue():
    prompt, answer = sft.truncate(list(range(30)), [98, 99], list(range(100, 700)), 200, 600, cutoff_len=456)
    assert len(prompt) + len(answer) == 456 and prompt[-2:] == [98, 99] and len(prompt) == 32
    assert sft.truncate([1, 2, 3], [9], [5, 6], 200, 200, cutoff_len=0) == ([1, 2, 3, 9], [5, 6])


def test_the_fused_loss_is_cross_entropy_with_its_gradient():
    import torch

    torch.manual_seed(0)
    weight = torch.randn(50, 8)
    hidden = torch.randn(7, 8, requires_grad=True)
    target = torch.randint(0, 50, (7,))
    got = packing.LinearCrossEntropy.apply(hidden, weight, target, 3)
    got.backward()
    mine = hidden.grad.clone()
    hidden.grad = None
    want = torch.nn.functional.cross_entropy(hidden @ weight.T, target, reduction="sum")
    want.backward()
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    assert torch.allclose(mine, hidden.grad, atol=1e-6)


# ------------------------------------------------------------------------------ on the demo model

@pytest.fixture(scope="module")
def lora_model(demo_model):
    """The demo model with a LoRA adapter whose update is not zero (B starts at zero in peft)."""
    import torch

    cfg = sft.make_config(base_model=str(demo_model), max_source_length=64, max_target_length=96, lora_dropout=0.0)
    torch.manual_seed(0)
    model = sft.attach_adapter(sft.load_base(cfg, torch.float32), cfg, demo_model)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    samples = json.loads(ALPACA.read_text(encoding="utf-8"))[:6]
    rows = sft.encode(samples, sft.load_tokenizer(cfg), cfg)
    plan = packing.plan(model, rows, method="lora", wanted=True)
    assert plan.packed, plan.note
    return model, rows, plan, sft.load_tokenizer(cfg)


def _grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def _padded(model, rows, pad_id):
    """The padded batch's loss and LoRA gradients, with the model's own sdpa attention."""
    model.get_base_model().set_attn_implementation("sdpa")
    try:
        model.zero_grad()
        loss = model(**sft.collate(rows, pad_id)).loss
        loss.backward()
        return loss.item(), _grads(model)
    finally:
        model.get_base_model().set_attn_implementation(packing.ATTENTION)


@pytest.mark.parametrize("fused", [True, False], ids=["response-only head", "model's own loss"])
def test_packed_and_padded_batches_give_the_same_loss_and_gradients(lora_model, fused):
    model, rows, plan, tok = lora_model
    model.train()
    want_loss, want_grads = _padded(model, rows, tok.pad_token_id)
    assert any("lora_A" in n for n in want_grads)

    model.zero_grad()
    batch = packing.collate_packed(rows, fused=fused)
    labels = batch.pop("labels")
    count = (labels[..., 1:] != -100).sum()  # what the Trainer passes as num_items_in_batch
    out = model(**batch) if fused else model(**batch, labels=labels)
    loss = plan.loss(out, labels, count) if fused else out.loss
    loss.backward()
    got = _grads(model)

    assert loss.item() == pytest.approx(want_loss, rel=1e-5)
    assert set(got) == set(want_grads)
    for name, g in want_grads.items():
        assert (got[name] - g).abs().max() <= 1e-4 * (1 + g.abs().max()), name


def test_attention_does_not_cross_samples_in_a_pack(lora_model):
    import torch

    model, rows, _plan, _tok = lora_model
    a, b = rows[0], rows[1]
    changed = dict(a, input_ids=[(t * 7 + 11) % 20000 + 4 for t in a["input_ids"]])

    def logits_of_b(first):
        batch = packing.collate_packed([first, b], fused=False)
        batch.pop("labels")
        with torch.no_grad():
            return model(**batch).logits[0, len(first["input_ids"]):]

    model.eval()
    try:
        assert torch.allclose(logits_of_b(a), logits_of_b(changed), atol=1e-6)
        with torch.no_grad():  # sample b's logits in the pack are those of b alone
            alone = model(input_ids=torch.tensor([b["input_ids"]]), use_cache=False).logits[0]
        assert torch.allclose(logits_of_b(a), alone, atol=1e-4)

        # the same probe sees the leak of plain causal attention over the whole row
        model.get_base_model().set_attn_implementation("sdpa")

        def leaky(first):
            ids = torch.tensor([first["input_ids"] + b["input_ids"]])
            with torch.no_grad():
                return model(input_ids=ids, use_cache=False).logits[0, len(first["input_ids"]):]
        assert not torch.allclose(leaky(a), leaky(changed), atol=1e-3)
    finally:
        model.get_base_model().set_attn_implementation(packing.ATTENTION)
        model.train()


def test_packing_off_or_prefix_tuning_pads_and_says_so(lora_model):
    model, rows, _plan, _tok = lora_model
    off = packing.plan(model, rows, method="lora", wanted=False)
    assert not off.packed and off.collate is None and "packing off" in off.note
    prefix = packing.plan(model, rows, method="prefix", wanted=True)
    assert not prefix.packed and "LoRA" in prefix.note


def test_a_model_packing_cannot_serve_exactly_falls_back_to_padding(tmp_path):
    """Mistral with a sliding window: the packed attention refuses it, the model keeps its own."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    torch.manual_seed(0)
    base = MistralForCausalLM(MistralConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                            num_attention_heads=4, num_key_value_heads=2, sliding_window=4))
    base.save_pretrained(tmp_path / "mistral")
    cfg = sft.make_config(base_model=str(tmp_path / "mistral"), lora_dropout=0.0)
    model = sft.attach_adapter(sft.load_base(cfg, torch.float32), cfg, tmp_path)
    rows = [{"input_ids": list(range(5, 17)), "labels": [-100] * 4 + list(range(9, 17))} for _ in range(3)]
    plan = packing.plan(model, rows, method="lora", wanted=True)
    assert not plan.packed and plan.collate is None
    assert "not exact" in plan.note and "sliding_window" in plan.note
    assert model.get_base_model().config._attn_implementation != packing.ATTENTION


def test_the_plan_is_logged_in_the_users_language(lora_model, monkeypatch):
    model, rows, _plan, _tok = lora_model
    monkeypatch.setenv("STUDIO_LANG", "zh")
    note = packing.plan(model, rows, method="lora", wanted=True).note
    assert "样本" in note and "batches" not in note
    assert "LoRA" in packing.plan(model, rows, method="prefix", wanted=True).note


# --------------------------------------------------------------------------------- the trainer

def test_a_packed_run_learns_and_says_it_packed(tmp_path, demo_model, capsys):
    """The real ``sft.train`` with packing (the default): the log names the plan, the loss falls, the
    eval curve, the checkpoints (with their config) and the final adapter are written."""
    samples = json.loads(ALPACA.read_text(encoding="utf-8"))[:16]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(s, ensure_ascii=False) for s in samples[:12]),
                                          encoding="utf-8")
    (tmp_path / "validation.jsonl").write_text("\n".join(json.dumps(s, ensure_ascii=False) for s in samples[12:]),
                                               encoding="utf-8")
    cfg = sft.make_config(base_model=str(demo_model), **{**FAST_LORA, "max_target_length": 48}, max_steps=12,
                          save_steps=6)
    assert cfg.packing is True
    status = sft.Status(tmp_path, writer=True)
    assert sft.train(cfg, tmp_path, status) == "done"
    log = capsys.readouterr().out
    assert "batches: packed into one row each" in log
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert losses[-1] < losses[0] and any("eval_loss" in m for m in metrics)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    assert (tmp_path / "checkpoint-12" / "config.json").exists()
