"""One device queue for all model work (``studio.train.devices``): fine-tunes and the server's model jobs.

- On a machine with GPUs (declared here with ``STUDIO_GPUS``, since this machine has none: the trainers
  then train on the CPU, but the placement and ``CUDA_VISIBLE_DEVICES`` are what a GPU machine gets), runs
  are placed on free GPUs and train side by side; a third waits and the Train/Runs pages can say so; when
  a GPU frees up, the waiting run starts on it.
- On CPU there is one slot: a model job waits while a fine-tune trains, and a fine-tune waits while a model
  job runs; each starts when the other ends.
- First come, first served: a run that needs two GPUs is not overtaken by later one-GPU work.
"""
from __future__ import annotations

import threading
import time

import psutil
import pytest

from studio.service import jobs
from studio.train import devices, runs, supervisor
from tests.train_helpers import seed_dataset


def test_placement_on_free_gpus_first_come_first_served(monkeypatch):
    monkeypatch.setenv("STUDIO_GPUS", "0,1,2")
    assert devices.requirement("auto", 1) == "cuda*1" and devices.requirement("cpu", 4) == "cpu"
    assert devices.place("cuda*1", {"0"}) == "cuda:1"
    assert devices.place("cuda*2", {"0"}) == "cuda:1,2"
    assert devices.place("cuda*2", {"0", "1"}) is None
    assert devices.place("cuda:0,1", {"1"}) == "cuda:0,2"  # a resumed run needs as many GPUs, any free ones
    queue = [{"id": "big", "device": "cuda*2"}, {"id": "small", "device": "cuda*1"}]
    assert devices.forecast(queue, {"0", "1"}) == {"big": None, "small": None}  # small does not overtake
    assert devices.forecast(queue, {"0"}) == {"big": "cuda:1,2", "small": None}
    assert devices.forecast(queue, set()) == {"big": "cuda:0,1", "small": "cuda:2"}
    monkeypatch.setenv("STUDIO_GPUS", "none")
    assert devices.requirement("auto", 2) == "cpu"
    assert devices.forecast(queue[:1] + [{"id": "cpu-job", "device": "cpu"}], set()) == \
        {"big": "cpu", "cpu-job": None}  # without GPUs everything shares the one CPU slot


def _long_run(demo_model) -> dict:
    return runs.submit(dataset="电工问答", base_model=str(demo_model), method="lora", max_steps=5000,
                       logging_steps=50, estimate_tokens=False)


def _visible_devices(pid: int) -> str | None:
    return psutil.Process(pid).environ().get("CUDA_VISIBLE_DEVICES")


def _until(check, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        supervisor.refresh()
        if check():
            return True
        time.sleep(0.3)
    return False


@pytest.mark.timeout(300)
def test_runs_train_side_by_side_on_free_gpus_and_a_third_waits(monkeypatch, studio_env, demo_model):
    monkeypatch.setenv("STUDIO_GPUS", "0,1")
    seed_dataset(n=10)
    first, second = _long_run(demo_model), _long_run(demo_model)
    third = _long_run(demo_model)
    try:
        assert [(r["state"], r["device"]) for r in map(runs.get, (first["id"], second["id"]))] == \
            [("starting", "cuda:0"), ("starting", "cuda:1")]
        assert _visible_devices(runs.get(first["id"])["pid"]) == "0"
        assert _visible_devices(runs.get(second["id"])["pid"]) == "1"
        assert runs.get(third["id"])["state"] == "queued"
        assert supervisor.planned() == {third["id"]: None}  # waits for a GPU to free up
        shown = _runs_page_devices()
        assert shown[first["id"]] == "cuda:0" and shown[second["id"]] == "cuda:1"
        assert shown[third["id"]] == "waits for a free device"
        assert _until(lambda: all(runs.get(r["id"])["state"] == "running" for r in (first, second)), 120)
        runs.cancel(first["id"])
        assert _until(lambda: runs.get(third["id"])["state"] in ("starting", "running"))
        assert runs.get(third["id"])["device"] == "cuda:0"
        assert _visible_devices(runs.get(third["id"])["pid"]) == "0"
        assert runs.get(second["id"])["state"] == "running"  # undisturbed on its own GPU
    finally:
        for r in (first, second, third):
            if runs.get(r["id"])["state"] in ("queued", "starting", "running"):
                runs.cancel(r["id"])
        _until(lambda: not [r for r in (first, second, third)
                            if runs.get(r["id"])["state"] in ("starting", "running")])


def _runs_page_devices() -> dict[str, str]:
    """The Runs page's table, as a person reads it: run -> device column."""
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/runs.py")
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    return dict(zip(table["run"], table["device"]))


@pytest.fixture
def model_kind():
    """A model job kind whose work waits on a gate: it holds its device slot until the test opens it."""
    entered, opened = threading.Event(), threading.Event()

    @jobs.kind("test-model-work", "Model work (test)", slot="model")
    def work(args, ctx):
        entered.set()
        opened.wait(60)
        return {"message": "done on " + devices.torch_device()}

    yield entered, opened
    opened.set()
    jobs.KINDS.pop("test-model-work", None)


@pytest.mark.timeout(300)
def test_on_cpu_a_model_job_waits_for_a_fine_tune_and_the_other_way_round(monkeypatch, studio_env, demo_model,
                                                                             model_kind):
    entered, opened = model_kind
    monkeypatch.setenv("STUDIO_GPUS", "none")
    seed_dataset(n=10)
    run = _long_run(demo_model)
    assert runs.get(run["id"])["device"] == "cpu"
    job = jobs.submit("test-model-work", {})
    time.sleep(3)  # a few supervisor ticks
    assert jobs.get(job["id"])["state"] == "queued"   # the CPU slot is the fine-tune's
    assert not entered.is_set()
    runs.cancel(run["id"])
    assert entered.wait(60), jobs.get(job["id"])
    assert jobs.get(job["id"])["device"] == "cpu"
    later = _long_run(demo_model)                       # now the model job holds the slot
    assert runs.get(later["id"])["state"] == "queued"
    opened.set()
    done = jobs.wait(job["id"], timeout=60)
    assert (done["state"], done["message"]) == ("done", "done on cpu")
    assert _until(lambda: runs.get(later["id"])["state"] in ("starting", "running"))
    runs.cancel(later["id"])
    _until(lambda: runs.get(later["id"])["state"] not in ("starting", "running"))


def test_a_model_job_on_a_gpu_gets_its_own_device(monkeypatch, studio_env, model_kind):
    entered, opened = model_kind
    monkeypatch.setenv("STUDIO_GPUS", "0,1")
    first = jobs.submit("test-model-work", {"n": 1})
    assert entered.wait(30)
    second = jobs.submit("test-model-work", {"n": 2})
    deadline = time.time() + 30
    while time.time() < deadline and jobs.get(second["id"])["state"] != "running":
        time.sleep(0.2)
    assert {jobs.get(first["id"])["device"], jobs.get(second["id"])["device"]} == {"cuda:0", "cuda:1"}
    opened.set()
    assert {jobs.wait(j["id"], 30)["message"] for j in (first, second)} == {"done on cuda:0", "done on cuda:1"}
