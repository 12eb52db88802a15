"""The Train and Runs pages in AppTest: estimate, start a real run, follow it, see its curve, act on it."""
import os

import pytest
from streamlit.testing.v1 import AppTest

from studio.train import runs
from tests.conftest import ROOT
from tests.train_helpers import finished, seed_dataset, wait

pytestmark = pytest.mark.slow


@pytest.fixture
def models_dir(studio_env, demo_model):
    (studio_env / "models").mkdir()
    os.symlink(demo_model, studio_env / "models" / "demo-tiny-llama")
    return studio_env / "models"


def test_train_page_estimates_starts_and_the_runs_page_follows(studio_env, models_dir):
    seed_dataset(n=8)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_model_pick").value == str(models_dir / "demo-tiny-llama")
    assert "(demo)" in at.selectbox(key="train_model_pick").format_func(at.selectbox(key="train_model_pick").value)
    assert "python -m trainers.sft" in at.code[0].value

    # the P-Tuning v2 preset is the ChatGLM recipe, every field editable
    at.radio(key="train_method").set_value("prefix").run()
    assert at.number_input(key="train_prefix_pre_seq_len").value == 128
    assert at.number_input(key="train_prefix_max_source_length").value == 200
    assert at.number_input(key="train_prefix_max_target_length").value == 256
    assert at.number_input(key="train_prefix_learning_rate").value == pytest.approx(2e-2)
    at.radio(key="train_method").set_value("lora").run()
    assert at.number_input(key="train_lora_lora_r").value == 8 and at.number_input(key="train_lora_lora_alpha").value == 16
    # readable labels; the config name and --flag stay in the help; the expert's few fields are not under Advanced
    lora_r = at.number_input(key="train_lora_lora_r")
    assert lora_r.label == "LoRA rank (r)" and "`lora_r`" in lora_r.help and "--lora-r" in lora_r.help
    advanced = next(e for e in at.expander if e.label.startswith("Advanced"))
    inside = {w.key for w in advanced.number_input}
    assert "train_lora_lora_r" in inside and "train_lora_eval_steps" in inside
    assert not inside & {"train_lora_max_steps", "train_lora_epochs", "train_lora_learning_rate"}

    at.number_input(key="train_lora_max_steps").set_value(6)
    at.number_input(key="train_lora_logging_steps").set_value(2)
    at.number_input(key="train_lora_learning_rate").set_value(5e-3)
    at.button(key="train_estimate_btn").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Steps"] == "6" and int(metrics["Tokens per epoch"].replace(",", "")) > 100

    at.text_input(key="train_name").set_value("页面训练")
    at.button(key="train_start").click().run()
    assert not at.exception, at.exception
    started = [r for r in runs.list_runs(poll=False)]
    assert len(started) == 1 and started[0]["name"] == "页面训练"
    run_id = started[0]["id"]
    assert any(run_id in s.value for s in at.success)

    row = wait(run_id, finished)
    assert row["state"] == "done" and row["step"] == 6

    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["run"]) == [run_id] and table["state"][0] == "done" and table["step"][0] == "6/6"
    assert at.selectbox(key="runs_selected").value == run_id
    assert {m.label: m.value for m in at.metric}["State"] == "done"
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # the run's live curve and the overlay
    import json

    spec = json.loads(charts[0].proto.spec)
    assert {t["name"].split(" · ")[1] for t in spec["data"]} == {"train", "eval"}

    # train further from the page: a chained run appears and is selected
    at.number_input(key="runs_further_steps").set_value(2)
    at.button(key="runs_further_go").click().run()
    assert not at.exception, at.exception
    child = at.selectbox(key="runs_selected").value
    assert child != run_id and runs.get(child)["parent_run_id"] == run_id
    wait(child, finished)


def test_runs_page_without_runs_points_to_train(studio_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)


def test_train_page_reports_a_bad_model_path_in_one_message(studio_env, models_dir):
    seed_dataset(n=4)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_model_pick").set_value("Type a folder or hub id…").run()
    at.text_input(key="train_model_typed").set_value("/nowhere/model").run()
    at.button(key="train_start").click().run()
    assert not at.exception
    assert len(at.error) == 1 and "no such model folder" in at.error[0].value
    assert runs.list_runs(poll=False) == []
