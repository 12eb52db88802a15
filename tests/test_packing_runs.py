"""Whole runs (``sft.train``, run folder, Trainer, evaluation under its time cap): a packed run trains step
for step as the padded run does, and evaluation never changes what a run trains on.

Each step holds ``batch_size`` samples either way (the batch flattened into one row, not rows filled up
to a length), so the optimizer steps, the learning-rate schedule and the loss curve are the padded run's;
and a seed gives the same curve whether or not (time-budgeted) evaluations ran."""
import json

import pytest

from tests.conftest import DATA
from trainers import runfolder, sft

pytestmark = pytest.mark.slow  # trains the tiny model

ALPACA = DATA / "trainer_formats" / "llamafactory" / "alpaca_zh_demo.json"
SETTINGS = {"lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "learning_rate": 5e-3, "batch_size": 4,
            "max_source_length": 64, "max_target_length": 48, "logging_steps": 1, "lr_scheduler": "linear",
            "epochs": 2.0, "save_steps": sft.BIG}


def _run(folder, base_model, *, packing: bool, validation: bool, **extra) -> tuple[list[float], dict]:
    samples = json.loads(ALPACA.read_text(encoding="utf-8"))
    folder.mkdir()
    (folder / "train.jsonl").write_text("\n".join(json.dumps(s, ensure_ascii=False) for s in samples[:10]),
                                        encoding="utf-8")
    (folder / "validation.jsonl").write_text(
        "\n".join(json.dumps(s, ensure_ascii=False) for s in samples[10:14]) if validation else "", encoding="utf-8")
    cfg = sft.make_config(base_model=str(base_model), packing=packing, **{**SETTINGS, **extra})
    status = sft.Status(folder, writer=True)
    assert sft.train(cfg, folder, status) == "done"
    metrics = runfolder.read_metrics(folder)
    return [m["loss"] for m in metrics if "loss" in m], status.data


@pytest.fixture(scope="module")
def curves(demo_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {(packing, validation): _run(root / f"{packing}-{validation}", demo_model, packing=packing,
                                        validation=validation)
            for packing, validation in ((True, True), (False, True), (True, False))}


def test_a_packed_run_takes_the_padded_runs_steps(curves):
    (packed, status), (padded, padded_status) = curves[True, True], curves[False, True]
    # 10 rows, batch 4, 2 epochs: 3 steps an epoch, packed or not (a pack is one batch, never 2 batches' worth)
    assert len(packed) == len(padded) == 6
    assert status["total"] == padded_status["total"] == sft.planned_steps(10, sft.make_config(
        base_model="m", **SETTINGS)) == 6


def test_a_packed_run_has_the_padded_runs_loss_curve(curves):
    packed, padded = curves[True, True][0], curves[False, True][0]
    assert packed == pytest.approx(padded, rel=1e-4, abs=1e-4)
    assert packed[-1] < packed[0]


def test_evaluation_does_not_change_what_a_run_trains_on(curves):
    """Whether an evaluation runs depends on the clock (``eval_time_share``); the curve must not."""
    with_eval, without = curves[True, True][0], curves[True, False][0]
    assert with_eval == pytest.approx(without, rel=1e-4, abs=1e-4)


def test_the_curve_does_not_depend_on_how_often_evaluation_ran(curves, demo_model, tmp_path):
    every_step, _status = _run(tmp_path / "every", demo_model, packing=True, validation=True, eval_steps=1)
    assert every_step == pytest.approx(curves[True, True][0], rel=1e-4, abs=1e-4)
    evals = [m for m in runfolder.read_metrics(tmp_path / "every") if "eval_loss" in m]
    assert [m["step"] for m in evals] == [0, 1, 2, 3, 4, 5, 6]
