"""Training, runs and jobs in the user's words, and the rough edges of issue 12 there.

- Every numeric training setting declares its range once (sft.Config field metadata); the studio's coercion
  refuses out-of-range numbers and text that is not a number ("abc", "1e12" for a whole number) instead of
  guessing, the CLI exits 2 with one line, and the Train page keeps Start disabled and says why.
- Runs: Cancel is acknowledged at once (a toast, state ``cancelling``, no second Cancel); once the trainer
  has stopped, the next refresh shows Resume instead; the page polls at least every 2 s while a run lives.
- Jobs and the shared job panel: states through the labels, every word from the catalog.
"""
from __future__ import annotations

import ast
import json
import signal
from dataclasses import fields

import pytest
from streamlit.testing.v1 import AppTest

from store import datasets, db
from studio.core.errors import InputError
from studio.train import config, runs
from tests.conftest import ROOT, run_cli
from trainers import launcher, sft


def open_page(page: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def seed_accepted(name: str = "电工问答", n: int = 6) -> None:
    did = datasets.get_or_create(name, "samples")
    for i in range(n):
        db.cursor().execute("INSERT INTO samples (dataset_id, instruction, input, output, status, origin) "
                            "VALUES (?, ?, '', ?, 'accepted', 'manual')", [did, f"第{i}题：额定电压是多少？", "220V"])


# ------------------------------------------------------------------------------------------ ranges

def test_every_numeric_setting_declares_a_range_that_holds_its_default():
    for f in fields(sft.Config):
        default = config.default_of(f)
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            continue
        low, high = f.metadata.get("min"), f.metadata.get("max")
        assert low is not None and high is not None, f.name
        assert low <= default <= high, f.name
        for preset in config.PRESETS.values():  # the presets are inside the ranges too
            assert f.name not in preset or low <= preset[f.name] <= high, (f.name, preset)


@pytest.mark.parametrize("name, value, says", [
    ("learning_rate", "100000", "learning_rate must be at most 1, not 100000 (allowed: 0 to 1)"),
    ("learning_rate", 100000.0, "learning_rate must be at most 1, not 100000"),
    ("learning_rate", "abc", "learning_rate must be a float number, not 'abc'"),
    ("learning_rate", "nan", "learning_rate must be a float number"),
    ("learning_rate", "1e12", "learning_rate must be at most 1, not 1e12"),
    ("max_steps", "1e12", "max_steps must be a whole number, not '1e12'"),
    ("max_steps", "abc", "max_steps must be a whole number, not 'abc'"),
    ("max_steps", 1e12, "max_steps must be at most 1000000"),
    ("batch_size", 2.5, "batch_size must be a whole number, not 2.5"),
    ("batch_size", -3, "batch_size must be at least 1, not -3 (allowed: 1 to 4096)"),
    ("lora_dropout", 1.5, "lora_dropout must be at most 0.9"),
    ("deepspeed", "maybe", "deepspeed must be true or false, not 'maybe'"),
])
def test_out_of_range_and_unreadable_values_are_refused_not_coerced(name, value, says):
    with pytest.raises(InputError) as refused:
        config.coerce({name: value})
    assert says in str(refused.value)


@pytest.mark.parametrize("name, value, typed", [
    ("max_steps", 6.0, 6), ("max_steps", "60", 60), ("learning_rate", "2e-4", 2e-4), ("epochs", 3, 3.0),
    ("learning_rate", 0.0, 0.0), ("deepspeed", "true", True), ("lora_target_modules", "q_proj, v_proj",
                                                                ("q_proj", "v_proj")),
])
def test_values_in_range_come_back_typed(name, value, typed):
    assert config.coerce({name: value}) == {name: typed}
    assert type(config.coerce({name: value})[name]) is type(typed)


def test_the_trainer_refuses_an_out_of_range_config_json_too():
    with pytest.raises(ValueError, match="learning_rate must be at most 1"):
        sft.make_config(base_model="m", learning_rate=100000.0)


def test_the_cli_refuses_an_out_of_range_setting_in_one_line_with_exit_2(studio_env):
    r = run_cli("train", "--dataset", "电工问答", "--base-model", "m", "--learning-rate", "100000")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "error: learning_rate must be at most 1, not 100000 (allowed: 0 to 1)"
    r = run_cli("train", "--dataset", "电工问答", "--base-model", "m", "--max-steps", "1e12",
                env={"STUDIO_LANG": "zh"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "max_steps 须为整数，不能是 '1e12'" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (studio_env / "runs").exists() or not any((studio_env / "runs").iterdir())


def test_cli_help_shows_each_settings_range():
    r = run_cli("train", "--help", env={"COLUMNS": "200"})
    assert r.returncode == 0
    assert "(default 0.0002; from 0 to 1)" in r.stdout and "(default 8; from 1 to 4096)" in r.stdout


# ---------------------------------------------------------------------------------------- the Train page

def test_start_is_disabled_with_the_reason_while_a_value_is_out_of_range(studio_env):
    seed_accepted()
    at = open_page("pages/train.py")
    assert not at.button(key="train_start").disabled and not at.warning

    at.number_input(key="train_lora_learning_rate").set_value(100000).run()
    start = at.button(key="train_start")
    assert start.disabled and at.button(key="train_estimate_btn").disabled
    assert "learning_rate must be at most 1, not 100000 (allowed: 0 to 1)" in start.help
    assert any("Learning rate: learning_rate must be at most 1" in w.value for w in at.warning)

    at.number_input(key="train_lora_learning_rate").set_value(2e-4)
    at.number_input(key="train_lora_max_steps").set_value(1e12).run()  # "1e12" typed stays 1e12
    assert at.button(key="train_start").disabled
    assert any("max_steps must be at most 1000000" in w.value for w in at.warning)

    at.number_input(key="train_lora_max_steps").set_value(None).run()  # "abc" in the browser: an empty field
    assert at.button(key="train_start").disabled
    assert any("max_steps: enter a number" in w.value for w in at.warning)

    at.number_input(key="train_lora_max_steps").set_value(5).run()
    assert not at.button(key="train_start").disabled and not at.warning
    assert runs.list_runs(poll=False) == []  # nothing started meanwhile


def test_the_train_page_in_chinese(studio_env, monkeypatch):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    seed_accepted()
    at = open_page("pages/train.py")
    assert at.title[0].value == "训练"
    assert at.button(key="train_start").label == "开始训练" and at.button(key="train_estimate_btn").label == "估算"
    assert at.number_input(key="train_lora_learning_rate").label == "学习率"
    assert "配置项 `learning_rate`" in at.number_input(key="train_lora_learning_rate").help
    assert any(e.label.startswith("高级") for e in at.expander)
    at.number_input(key="train_lora_learning_rate").set_value(100000).run()
    assert at.button(key="train_start").disabled
    assert any("学习率：learning_rate 须不大于 1，不能是 100000（允许范围：0 到 1）" in w.value for w in at.warning)


# --------------------------------------------------------------------------------------------- jobs

def test_the_jobs_page_and_the_job_panel_speak_chinese(studio_env, monkeypatch):
    from store import jobs as store_jobs

    monkeypatch.setenv("STUDIO_LANG", "zh")
    job_id = store_jobs.insert("generate", {"corpus": "电力法", "into": "x", "strategy": "cloze"}, "page")
    at = open_page("pages/jobs.py")
    table = at.dataframe[0].value
    assert list(table["状态"]) == ["排队中"] and list(table["后台任务"]) == [job_id]
    assert at.button(key="jobs_cancel").label == "取消" and at.button(key="jobs_retry").label == "重试"
    at.button(key="jobs_cancel").click().run()
    assert list(at.dataframe[0].value["状态"]) == ["已取消"]

    def panel():
        from pages import jobview
        from studio.core.i18n import _

        jobview.show({"id": 7, "state": "queued", "total": 0, "done": 0, "message": None}, key="a", what=_("Merging"))
        jobview.show({"id": 8, "state": "cancelled", "total": 3, "done": 1, "message": None}, key="b",
                     what=_("Merging"))

    shown = AppTest.from_function(panel, default_timeout=30)
    shown.run()
    assert not shown.exception, shown.exception
    assert [p.text for p in shown.progress] == ["正在合并 · 后台任务 7 · 排队中"]
    assert shown.button(key="a_cancel").label == "取消"
    assert [w.value for w in shown.warning] == ["正在合并（后台任务 8）：已取消"]


# --------------------------------------------------------------------------------------------- runs

def test_the_runs_page_polls_within_two_seconds():
    tree = ast.parse((ROOT / "pages" / "runs.py").read_text(encoding="utf-8"))
    poll = next(n.value.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "POLL_S")
    assert 0 < poll <= 2


@pytest.mark.slow
def test_cancel_is_acknowledged_at_once_and_resume_replaces_it(studio_env, demo_model):
    from tests.train_helpers import FAST_LORA, finished, seed_dataset, wait

    seed_dataset(n=10)
    row = runs.submit(dataset="电工问答", base_model=str(demo_model), method="lora", max_steps=400,
                      save_steps=1000, **FAST_LORA)
    try:
        wait(row["id"], lambda r: r["state"] == "running" and r["step"] >= 1)
        at = open_page("pages/runs.py")
        state = lambda: {m.label: m.value for m in at.metric}["State"]  # noqa: E731
        keys = lambda: {b.key for b in at.button}  # noqa: E731
        assert state() == "running" and "runs_cancel" in keys() and "runs_resume" not in keys()

        # the trainer held mid-step (as a slow step holds it) while the page draws: on a busy machine a free
        # trainer can save its checkpoint and stop within the draw, and this checks what the draw shows before
        pid = int(runs.get(row["id"])["pid"])
        launcher.stop(pid, signal.SIGSTOP)
        try:
            at.button(key="runs_cancel").click().run()  # acknowledged in the same draw
            assert not at.exception, at.exception
            assert [t.value for t in at.toast] == ["Cancelling: a checkpoint is saved first"]
            assert state() == "cancelling" and "runs_cancel" not in keys() and "runs_resume" not in keys()
            assert any(i.value.startswith("Cancelling: the run saves a checkpoint") for i in at.info)
            assert at.dataframe[0].value["state"][0] == "cancelling"
        finally:
            launcher.stop(pid, signal.SIGCONT)  # the SIGTERM of the cancel was held till now

        wait(row["id"], finished)  # the trainer saved its checkpoint and stopped
        assert runs.detail(row["id"], poll=True)["state"] == "cancelled"  # what the fragment reads every tick
        at.run()
        assert state() == "cancelled" and "runs_resume" in keys() and "runs_cancel" not in keys()

        at.button(key="runs_resume").click().run()
        assert [t.value for t in at.toast] == ["Resumed: it continues from its newest checkpoint"]
        assert state() in ("starting", "running") and "runs_cancel" in keys() and "runs_resume" not in keys()
    finally:
        if runs.get(row["id"])["state"] in runs.ACTIVE:
            runs.cancel(row["id"])
        wait(row["id"], finished)


def test_the_cancel_marker_ends_with_the_attempt(studio_env, demo_model):
    """``cancelling`` belongs to one attempt: a resumed run (started again) is not cancelling."""
    seed_accepted()
    row = runs.prepare(dataset="电工问答", base_model=str(demo_model), estimate_tokens=False)
    (studio_env / "runs" / row["id"] / runs.CANCEL_MARK).write_text(json.dumps({"time": 1.0}))
    assert runs.cancelling({**row, "state": "running", "started_at": None})
    assert not runs.cancelling({**row, "state": "cancelled"})
