"""Evaluation during training is capped: a seeded validation sample of bounded size, evaluated only
while evaluation stays under ``eval_time_share`` of training time; the whole split is an explicit choice."""
import json
import random
import re
import sys

import pytest

from tests.train_helpers import FAST_LORA, exam_pairs
from trainers import launcher, runfolder, sft


def cfg(**values):
    return sft.make_config(base_model="m", max_steps=60, **values)


@pytest.mark.parametrize("n_val, values, trained_rows, expected", [
    (684, {}, 480, 24),                            # issue 11's demo run: the run's length bounds it
    (684, {}, 60 * 8 * 100, 200),                  # a long run: eval_samples bounds it
    (684, {"eval_samples": 0}, 480, 684),          # the whole split, asked for
    (684, {"eval_samples": 100, "eval_steps": 6}, 480, 100),  # explicit cadence: no run-length bound
    (30, {}, 60 * 8 * 100, 30),                    # a small split is evaluated whole
    (684, {}, 24, 8),                              # never less than one batch
    (684, {"eval_time_share": 0.5}, 480, 120),
])
def test_eval_rows(n_val, values, trained_rows, expected):
    assert sft.eval_rows(n_val, cfg(**values), trained_rows) == expected


def test_the_subset_is_a_seeded_sample_in_split_order():
    picked = sft.eval_subset(684, 48, seed=42)
    assert picked == sft.eval_subset(684, 48, seed=42)  # deterministic for a seed
    assert picked != sft.eval_subset(684, 48, seed=7)
    assert picked == sorted(set(picked)) and len(picked) == 48 and 0 <= picked[0] and picked[-1] < 684
    assert sft.eval_subset(5, 5, seed=42) == sft.eval_subset(5, 9, seed=1) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("values, message", [
    ({"eval_time_share": 0.0}, "eval_time_share must be more than 0"),
    ({"eval_time_share": 1.5}, "eval_time_share must be more than 0"),
    ({"eval_samples": -1}, "eval_samples must be 0 or more"),
    ({"eval_steps": -2}, "eval_steps must be 0 or more"),
])
def test_bad_eval_settings_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        cfg(**values)


def simulate(step_s: float, eval_s, steps: int, cadence: int, share: float = 0.1):
    """A run on a fake clock as the trainer's callback drives it: (evaluations, budget, now)."""
    now = 0.0
    budget = sft.EvalBudget(share, start=now)
    evals = []

    def evaluate(step):
        nonlocal now
        took = eval_s()
        now += took
        budget.record(took)
        evals.append(step)

    evaluate(0)
    for step in range(1, steps + 1):
        now += step_s
        if step == steps or (step % cadence == 0 and budget.allows(now)):
            evaluate(step)
    return evals, budget, now


@pytest.mark.parametrize("step_s, eval_s, steps, cadence, expected", [
    (1.0, 0.01, 60, 6, list(range(0, 61, 6))),     # cheap evaluation: the cadence as before
    (1.0, 0.77, 60, 6, [0, 24, 36, 42, 48, 54, 60]),  # costly: spaced out by the budget
    (1.0, 2.5, 60, 6, [0, 60]),                    # start and end only
    (0.1, 0.9, 1000, 100, [0, 300, 400, 500, 600, 700, 800, 900, 1000]),
])
def test_the_budget_spaces_evaluations_to_keep_the_share(step_s, eval_s, steps, cadence, expected):
    evals, budget, now = simulate(step_s, lambda: eval_s, steps, cadence)
    assert evals == expected
    assert budget.spent <= 0.1 * budget.train_seconds(now) + 1e-9


def test_the_share_holds_with_noisy_evaluation_times():
    rng = random.Random(0)
    for _ in range(50):
        step_s, base = rng.uniform(0.05, 2.0), rng.uniform(0.01, 5.0)
        steps = rng.randint(200, 3000)
        if 2 * 1.5 * base > 0.1 * steps * step_s:
            continue  # the start and end evaluations alone would not fit: eval_rows sizes that away
        noisy = lambda base=base: base * rng.uniform(0.5, 1.5)
        _, budget, now = simulate(step_s, noisy, steps, max(1, steps // 10))
        assert budget.spent <= 0.1 * budget.train_seconds(now) + 1.5 * base


def test_a_resumed_run_estimates_from_its_last_logged_evaluation(tmp_path):
    assert sft.last_eval_seconds(tmp_path) is None
    for record in ({"step": 0, "eval_loss": 9.0, "eval_seconds": 2.5}, {"step": 5, "loss": 8.0},
                   {"step": 6, "eval_loss": 8.5, "eval_seconds": 1.5}):
        runfolder.append_metric(tmp_path, record)
    assert sft.last_eval_seconds(tmp_path) == 1.5


# ------------------------------------------------------------------------- real runs of the demo model

def run_folder(path, demo_model, n_validation: int, **values):
    """A run folder with 40 training rows and ``n_validation`` distinct validation rows."""
    path.mkdir()
    pairs = exam_pairs(40)
    val = [{**p, "instruction": f"{p['instruction']}（{i}）"} for i, p in enumerate(exam_pairs(170) * 2)]
    for name, rows in (("train.jsonl", pairs), ("validation.jsonl", val[:n_validation])):
        (path / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    config = sft.make_config(base_model=str(demo_model), **{**FAST_LORA, **values})
    (path / "config.json").write_text(json.dumps(config.to_json()), encoding="utf-8")
    return config


def train(run_dir) -> tuple[str, list[dict]]:
    """Run the trainer as the app does (log.txt); return the log and the evaluation lines."""
    proc = launcher.launch([sys.executable, "-m", "trainers.sft", str(run_dir / "config.json")], run_dir)
    assert proc.wait(timeout=500) == 0, runfolder.tail(run_dir / "log.txt", 40)
    log = (run_dir / "log.txt").read_text(encoding="utf-8")
    return log, [m for m in runfolder.read_metrics(run_dir) if m.get("eval_loss") is not None]


@pytest.mark.slow
def test_a_large_validation_split_is_sampled_and_evaluation_kept_under_the_share(tmp_path, demo_model):
    config = run_folder(tmp_path / "run", demo_model, 320, max_steps=60)
    assert (config.eval_steps, config.eval_samples, config.eval_time_share) == (0, 200, 0.1)  # the defaults
    log, evals = train(tmp_path / "run")

    k = sft.eval_rows(320, config, 60 * config.batch_size)
    assert k == 24 <= config.eval_samples
    assert ("evaluation: 24 of 320 validation rows (sampled, seed 42; eval_samples=0 for all), at step 0, "
            "at most every 6 steps within 10% of training time, and at the end") in log
    assert all(e["eval_rows"] == 24 for e in evals)
    assert evals[0]["step"] == 0 and evals[-1]["step"] == 60
    assert all(e["step"] % 6 == 0 for e in evals) and len(evals) <= 11

    # every evaluation between the first and the last was allowed by the rule, replayed on the logged
    # timings: the evaluations before it, it and the final one fit in the share of training so far
    seconds = [e["eval_seconds"] for e in evals]
    for i in range(1, len(evals) - 1):
        assert sum(seconds[:i]) + 2 * seconds[i - 1] <= 0.1 * evals[i]["train_seconds"] + 0.01, evals
    # and in all: at most the share of the training time, plus one evaluation of margin for noise
    train_s = evals[-1]["train_seconds"]
    assert sum(seconds) <= 0.1 * train_s + max(seconds), evals
    assert re.search(rf"evaluation: {len(evals)} x 24 rows, [\d.]+ s; training [\d.]+ s \([\d.]+ % of training", log)


@pytest.mark.slow
def test_the_whole_split_and_an_exact_cadence_are_explicit_choices(tmp_path, demo_model):
    run_folder(tmp_path / "run", demo_model, 320, max_steps=4, eval_samples=0, eval_steps=2)
    log, evals = train(tmp_path / "run")
    assert "evaluation: 320 of 320 validation rows, at step 0, every 2 steps (eval_steps), and at the end" in log
    assert [(e["step"], e["eval_rows"]) for e in evals] == [(0, 320), (2, 320), (4, 320)]
