"""Real fine-tunes of the tiny demo model on CPU: LoRA memorises, prefix tuning learns, runs survive
SIGTERM, SIGKILL and an app restart, resume continues the step count, chains start from the parent."""
import json
import os
import signal
import time

import pytest

from store import db
from studio.core.errors import Conflict, InputError
from studio.data import snapshots
from studio.train import config, estimate, runs, supervisor
from tests.conftest import run_cli
from tests.train_helpers import FAST_LORA, finished, seed_dataset, wait
from trainers import runfolder

pytestmark = pytest.mark.slow


def _greedy_answers(base_dir, adapter_dir, samples) -> list[str]:
    """Greedy answers of a base model (+ adapter) loaded with plain transformers and peft."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from studio.core.formats import messages

    tok = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    if adapter_dir:
        model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    out = []
    for sample in samples:
        prompt = tok.apply_chat_template(messages(sample)[:-1], tokenize=False, add_generation_prompt=True)
        ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
        with torch.no_grad():
            gen = model.generate(**ids, max_new_tokens=len(sample["output"]) + 3, do_sample=False)
        out.append(tok.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True))
    return out


def test_lora_from_the_cli_memorises_reloads_with_peft_and_chains(studio_env, demo_model):
    seed_dataset(n=10)
    db.close_all()  # the CLI process opens the database file
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in FAST_LORA.items()]
    r = run_cli("train", "--dataset", "电工问答", "--base-model", str(demo_model), "--method", "lora",
                "--max-steps", "60", "--json", *flags)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["state"] == "done" and summary["step"] == summary["total"] == 60
    run_dir = studio_env / "runs" / summary["run"]
    assert summary["adapter"] == str(run_dir / "adapter")

    losses = [m["loss"] for m in runfolder.read_metrics(run_dir) if m.get("loss") is not None]
    evals = [m for m in runfolder.read_metrics(run_dir) if m.get("eval_loss") is not None]
    assert losses[0] > 5 and losses[-1] < 0.5 and summary["final_loss"] == pytest.approx(losses[-1])
    assert evals and evals[0]["step"] == 0 and evals[-1]["step"] == 60  # the eval curve on the validation split
    assert all(m["tokens_per_s"] > 0 for m in runfolder.read_metrics(run_dir) if "loss" in m)

    # plain peft reloads the adapter; memorised training prompts are answered greedily (the short
    # answers: 60 steps on a random 2-layer model do not memorise every 40-character one)
    train = [json.loads(line) for line in (run_dir / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    short = sorted((s for s in train if len(s["output"]) <= 12), key=lambda s: len(s["output"]))
    answers = _greedy_answers(demo_model, run_dir / "adapter", short)
    assert answers[0] == short[0]["output"]
    assert sum(a == s["output"] for a, s in zip(answers, short)) >= max(2, len(short) - 1), answers

    # the database mirrors the run folder: state, losses, every metrics line
    row = runs.get(summary["run"])
    assert row["state"] == "done" and row["final_loss"] == pytest.approx(losses[-1])
    assert len(runs.curves([row["id"]])) == len(runfolder.read_metrics(run_dir))

    # chained: the new run starts from the parent's weights (learning rate 0 keeps them exactly)
    child = runs.train_further(row["id"], max_steps=2, learning_rate=0.0, logging_steps=1)
    child = wait(child["id"], finished)
    assert child["state"] == "done" and child["parent_run_id"] == row["id"]
    assert child["config"]["from_adapter"] == str(run_dir / "adapter") and child["config"]["parent_run"] == row["id"]
    assert child["snapshot_id"] == row["snapshot_id"] and child["base_model"] == row["base_model"]
    from safetensors.torch import load_file

    parent_w = load_file(run_dir / "adapter" / "adapter_model.safetensors")
    child_w = load_file(os.path.join(child["dir"], "adapter", "adapter_model.safetensors"))
    assert parent_w.keys() == child_w.keys()
    assert all((parent_w[k] == child_w[k]).all() for k in parent_w)
    assert runs.detail(child["id"])["lineage"] == [row["id"]]
    with pytest.raises(InputError, match="keeps the method"):
        runs.train_further(row["id"], method="prefix")

    db.close_all()
    r = run_cli("runs", "--merge", row["id"], "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    merged = json.loads(r.stdout)["out"]
    assert merged == str(studio_env / "models" / f"{row['id']}-merged")
    assert _greedy_answers(merged, None, short[:1]) == answers[:1]  # the merged model answers as base + adapter
    assert run_cli("runs", "--merge", row["id"]).returncode == 1  # never overwrites a folder
    listed = json.loads(run_cli("runs", "--json").stdout)["runs"]
    assert [(r["id"], r["state"], r["parent_run"]) for r in listed] == [
        (child["id"], "done", row["id"]), (row["id"], "done", None)]


def test_prefix_tuning_loss_falls(studio_env, demo_model):
    seed_dataset(n=10)
    snap = snapshots.create("电工问答")
    assert config.preset("prefix")["learning_rate"] == 2e-2 and config.preset("prefix")["pre_seq_len"] == 128
    # a random 2-layer model learns a prefix slowly (see STACK.md): fewer virtual tokens, a hotter rate
    row = runs.submit(snapshot=snap["id"], base_model=str(demo_model), method="prefix", pre_seq_len=16,
                      learning_rate=0.1, max_steps=40, batch_size=8, logging_steps=5, max_source_length=64,
                      max_target_length=32)
    assert row["config"]["pre_seq_len"] == 16 and row["config"]["max_source_length"] == 64
    row = wait(row["id"], finished)
    assert row["state"] == "done", row["error"]
    losses = [m["loss"] for m in runfolder.read_metrics(row["dir"]) if m.get("loss") is not None]
    assert losses[-1] < 0.8 * losses[0], losses
    adapter = json.loads(open(os.path.join(row["dir"], "adapter", "adapter_config.json")).read())
    assert adapter["peft_type"] == "PREFIX_TUNING" and adapter["num_virtual_tokens"] == 16


def test_sigterm_cancels_with_a_checkpoint_and_the_queue_starts_the_next_run(studio_env, demo_model):
    seed_dataset(n=10)
    snap = snapshots.create("电工问答")
    long = runs.submit(snapshot=snap["id"], base_model=str(demo_model), method="lora", max_steps=400,
                       save_steps=1000, **FAST_LORA)
    short = runs.submit(snapshot=snap["id"], base_model=str(demo_model), method="lora", max_steps=3, **FAST_LORA)
    assert short["state"] == "queued"  # one run per device at a time
    long = wait(long["id"], lambda r: r["state"] == "running" and r["step"] >= 3)

    supervisor._children.clear()  # the app restarts: it re-attaches to the live run
    assert supervisor.reattach() and runs.get(long["id"])["state"] == "running"
    with pytest.raises(Conflict):
        runs.start(long["id"])

    runs.cancel(long["id"])
    long = wait(long["id"], finished)
    assert long["state"] == "cancelled" and 3 <= long["step"] < 400
    ckpt = runfolder.last_checkpoint(long["dir"])
    assert ckpt.name == f"checkpoint-{long['step']}"
    assert json.loads((ckpt / "config.json").read_text())["run_id"] == long["id"]
    assert (ckpt / "optimizer.pt").exists() and (ckpt / "scheduler.pt").exists()

    short = wait(short["id"], finished)  # the queue started it once the device was free
    assert short["state"] == "done" and short["step"] == 3


def wait_dead(pid: int, timeout: float = 10.0) -> None:
    import psutil

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)


def test_a_killed_run_is_failed_after_restart_and_resumes_from_its_checkpoint(studio_env, demo_model):
    total = 120
    seed_dataset(n=10)
    # far more steps than the kill needs: on a fast machine 40 steps ended between two polls, before the kill
    row = runs.submit(dataset="电工问答", base_model=str(demo_model), method="lora", max_steps=total,
                      save_steps=10, **{**FAST_LORA, "logging_steps": 2})
    row = wait(row["id"], lambda r: r["step"] >= 12 and runfolder.last_checkpoint(r["dir"]) is not None, every=0.05)
    os.killpg(row["pid"], signal.SIGKILL)
    wait_dead(row["pid"])  # the kill lands asynchronously; the "restarted app" below comes after it

    supervisor._children.clear()  # a fresh app process: the killed trainer is now a zombie it never started
    supervisor.reattach()
    dead = runs.get(row["id"])
    assert dead["state"] == "failed" and "last log lines" in dead["error"] and dead["step"] >= 12
    killed_at = dead["step"]
    ckpt = int(runfolder.last_checkpoint(row["dir"]).name.split("-")[1])
    assert 10 <= ckpt <= killed_at

    runs.resume(row["id"])
    done = wait(row["id"], finished)
    assert done["state"] == "done" and done["step"] == total and done["resumes"] == 1
    log = runfolder.tail(os.path.join(row["dir"], "log.txt"), 400)
    assert f"resuming from checkpoint-{ckpt} (step {ckpt})" in log
    steps = [m["step"] for m in runfolder.read_metrics(row["dir"]) if m.get("loss") is not None]
    assert steps == sorted(set(steps)) and steps[-1] == total  # continued: no step logged twice, none restarted
    resumed = [m for m in runfolder.read_metrics(row["dir"]) if m.get("loss") is not None and m["step"] > ckpt]
    assert resumed and resumed[0]["step"] == ckpt + 2
    state = json.loads((runfolder.last_checkpoint(row["dir"]) / "trainer_state.json").read_text())
    assert state["global_step"] == total


def test_bad_requests_are_refused_with_one_clear_message(studio_env, demo_model, tmp_path):
    seed_dataset(n=4)
    with pytest.raises(InputError, match="no such model folder"):
        runs.prepare(dataset="电工问答", base_model=str(tmp_path / "nope"))
    with pytest.raises(InputError, match="not a model folder"):
        runs.prepare(dataset="电工问答", base_model=str(tmp_path))
    with pytest.raises(InputError, match="unknown method"):
        runs.prepare(dataset="电工问答", base_model=str(demo_model), method="qlora")
    with pytest.raises(InputError, match="batch_size must be at least 1"):
        runs.prepare(dataset="电工问答", base_model=str(demo_model), batch_size=0)
    with pytest.raises(InputError, match="learning_rate must be a float"):
        runs.prepare(dataset="电工问答", base_model=str(demo_model), learning_rate="fast")
    assert not list((studio_env / "runs").glob("*")) and runs.list_runs() == []
    est = estimate.estimate(dataset="电工问答", base_model=str(demo_model), method="lora", max_steps=0, epochs=2,
                            batch_size=2)
    assert est["n_train"] + est["n_validation"] == 4 and est["steps"] == 2 * -(-est["n_train"] // 2)
    assert est["tokens_per_epoch"] > est["response_tokens_per_epoch"] > 0
    db.close_all()
    r = run_cli("train", "--dataset", "电工问答", "--base-model", str(tmp_path / "nope"))
    assert r.returncode == 2 and "no such model folder" in r.stderr and "Traceback" not in r.stderr
