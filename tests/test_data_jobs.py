"""The data pages' long work runs as jobs of the server (``studio/service/kinds_data.py``), not in the page.

Per kind: the page submits a job and shows its progress from the job row, then its result; a new AppTest
session (the first tab closed) finds the running job and the job goes on to its end; a failing job shows
its one-line message. A gate holds a job's work so that it is seen running.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from store import datasets, db
from studio.service import jobs
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def supervisor_stopped(studio_env):
    """Stop the job runner the pages started before the database closes (its tick would race the close)."""
    yield
    from studio.service import supervisor

    supervisor.stop()


def open_page(page: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(page)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def settle(at: AppTest) -> AppTest:
    """Wait for every job to end, then run the page again (what the page's fragment does every second)."""
    for job in jobs.list_jobs(active=True):
        jobs.wait(job["id"], timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def progress_texts(at: AppTest) -> list[str]:
    return [p.text for p in at.progress]


class Gate:
    """Holds a data function until the test opens the gate: its job stays ``running`` meanwhile."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch
        self.entered, self.opened = threading.Event(), threading.Event()

    def hold(self, module, name: str) -> None:
        real = getattr(module, name)

        def held(*args, **kwargs):
            self.entered.set()
            assert self.opened.wait(120), "the gate was never opened"
            return real(*args, **kwargs)

        self.monkeypatch.setattr(module, name, held)

    def running(self, job_id: int) -> dict:
        assert self.entered.wait(60), jobs.get(job_id)
        job = jobs.get(job_id)
        assert job["state"] == "running", job
        return job


@pytest.fixture
def gate(monkeypatch):
    from pages import jobview

    monkeypatch.setattr(jobview, "SETTLE_S", 0.0)  # the page returns at once: the progress bar shows
    g = Gate(monkeypatch)
    yield g
    g.opened.set()
    for job in jobs.list_jobs(active=True):
        jobs.wait(job["id"], timeout=120)


def closed_tab_goes_on(at: AppTest, key: str, page: str, job_id: int, gate: Gate, **state) -> AppTest:
    """Drop the first session (a closed tab), open another: it finds the running job and shows its progress;
    then let the work go on to its end and show the result there."""
    del at
    other = open_page(page, **state)
    assert other.session_state[key] == job_id
    assert any(f"job {job_id}" in t for t in progress_texts(other)), progress_texts(other)
    assert jobs.get(job_id)["state"] == "running"
    gate.opened.set()
    assert jobs.wait(job_id, timeout=120)["state"] == "done", jobs.get(job_id)
    return settle(other)


# ---------------------------------------------------------------------------------------------- convert

def exam_bank(name: str = "安规") -> None:
    import csv
    import tempfile

    from studio.data.exams.importer import import_exam
    from tests.test_exam_convert import seed_rows_and_pairs

    rows, _, _ = seed_rows_and_pairs()
    with tempfile.TemporaryDirectory() as folder:
        f = Path(folder) / f"{name}.csv"
        with open(f, "w", encoding="utf-8", newline="") as out:
            csv.writer(out).writerows(rows)
        import_exam(f, name)


def test_convert_is_a_job_that_outlives_its_tab(gate):
    from studio.data.exams import convert as cv

    exam_bank()
    gate.hold(cv, "convert")
    at = open_page("pages/convert.py")
    at.button(key="convert_go").click().run()
    job_id = at.session_state["convert_job"]
    assert jobs.get(job_id)["kind"] == "convert"
    gate.running(job_id)
    at.run()
    assert any(t.startswith(f"Converting · job {job_id}") for t in progress_texts(at)), progress_texts(at)
    other = closed_tab_goes_on(at, "convert_job", "pages/convert.py", job_id, gate)
    assert any("Wrote 9 pairs into **安规-qa**" in s.value for s in other.success), [s.value for s in other.success]
    assert db.scalar("SELECT count(*) FROM samples WHERE origin = 'exam-qa'") == 9
    assert jobs.get(job_id)["message"] == "Wrote 9 pairs into 安规-qa."


def test_a_failed_conversion_shows_the_jobs_message():
    exam_bank()
    at = open_page("pages/convert.py")
    at.text_input(key="convert_into_安规_qa").set_value("安规").run()
    at.button(key="convert_go").click().run()
    settle(at)
    job = jobs.get(at.session_state["convert_job"])
    assert job["state"] == "failed" and job["message"] == "convert into another dataset than the exam bank itself"
    assert [e.value for e in at.error] == [job["message"]]


# ----------------------------------------------------------------------------------------------- export

def pairs_dataset(name: str = "安规问答", n: int = 6, duplicate: bool = False) -> int:
    did = datasets.get_or_create(name, "samples")
    db.cursor().execute("""INSERT INTO samples (dataset_id, instruction, output, status, origin)
        SELECT ?, '第' || i || '题 雷雨天气巡视', '绝缘靴' || i, 'accepted', 'exam-qa' FROM range(?) t(i)""", [did, n])
    if duplicate:
        db.cursor().execute("INSERT INTO samples (dataset_id, instruction, output) "
                            "VALUES (?, '第1题 雷雨天气巡视！', '绝缘靴1')", [did])
    return did


def test_export_is_a_job_that_outlives_its_tab(gate, studio_env):
    from studio.data import export

    pairs_dataset()
    gate.hold(export, "export")
    at = open_page("pages/export.py")
    at.button(key="export_go").click().run()
    job_id = at.session_state["export_job"]
    gate.running(job_id)
    at.run()
    assert any(t.startswith(f"Exporting · job {job_id}") for t in progress_texts(at)), progress_texts(at)
    other = closed_tab_goes_on(at, "export_job", "pages/export.py", job_id, gate)
    assert any("Exported 6 train + 0 validation samples" in s.value and "Written to" in s.value
               for s in other.success), [s.value for s in other.success]
    assert (studio_env / "exports" / "安规问答_chatglm" / "README.md").exists()
    assert other.get("download_button")


def test_a_failed_export_shows_the_jobs_message(studio_env):
    pairs_dataset()
    at = open_page("pages/export.py")
    at.text_input(key="export_tokenizer").set_value(str(studio_env / "no-tokenizer")).run()
    at.button(key="export_go").click().run()
    settle(at)
    job = jobs.get(at.session_state["export_job"])
    assert job["state"] == "failed" and "not a tokenizer folder" in job["message"]
    assert [e.value for e in at.error] == [job["message"]]
    assert not (studio_env / "exports" / "安规问答_chatglm").exists()


# ------------------------------------------------------------------------------------------------ dedup

def dedup_page(**state) -> AppTest:
    at = open_page("pages/datasets.py", **state)
    at.segmented_control(key="datasets_view").set_value("Deduplicate").run()
    return at


def test_dedup_find_is_a_job_that_outlives_its_tab_and_removal_keeps_the_count(gate):
    from studio.data import samples

    pairs_dataset(duplicate=True)
    gate.hold(samples, "find_duplicates")
    at = dedup_page()
    at.toggle(key="datasets_dedup_on").set_value(True).run()
    job_id = at.session_state["datasets_dedup_job"]
    gate.running(job_id)
    at.run()
    assert any(t.startswith(f"Duplicates · job {job_id}") for t in progress_texts(at)), progress_texts(at)
    other = closed_tab_goes_on(at, "datasets_dedup_job", "pages/datasets.py", job_id, gate,
                               datasets_view="Deduplicate", datasets_dedup_on=True)
    assert any("1 group(s) among 7 rows; 1 row(s) would go" in m.value for m in other.markdown)
    assert len(jobs.list_jobs(kind="dedup")) == 1  # the second tab followed the job, it did not start another
    other.button(key="datasets_dedup_apply").click().run()
    settle(other)
    removal = next(j for j in jobs.list_jobs(kind="dedup") if j["args"]["action"] == "remove")
    assert removal["args"] == {"dataset": "安规问答", "action": "remove", "find_job": job_id, "confirm": 1}
    assert removal["state"] == "done" and samples.page("安规问答")["total"] == 6
    assert other.toggle(key="datasets_dedup_on").value is False  # as before: off after a removal


def test_cancel_on_the_page_stops_a_search_at_its_next_step(gate):
    from studio.data import dedup

    pairs_dataset(duplicate=True)
    gate.hold(dedup, "near_groups")  # held before the comparison, which reports progress and sees the cancel
    at = dedup_page()
    at.toggle(key="datasets_dedup_on").set_value(True).run()
    job_id = at.session_state["datasets_dedup_job"]
    gate.running(job_id)
    at.run()
    at.button(key="datasets_dedup_job_cancel").click().run()
    assert jobs.get(job_id)["cancel_requested"]
    gate.opened.set()
    assert jobs.wait(job_id, timeout=60)["state"] == "cancelled"
    settle(at)
    assert any(f"Duplicates (job {job_id}): cancelled" in w.value for w in at.warning), [w.value for w in at.warning]
    assert len(jobs.list_jobs(kind="dedup")) == 1  # a cancelled search is not started again by itself


def test_dedup_removal_refuses_when_the_rows_changed_since_they_were_counted():
    from studio.data import samples

    pairs_dataset(duplicate=True)
    at = dedup_page()
    at.toggle(key="datasets_dedup_on").set_value(True).run()
    settle(at)
    found = jobs.get(at.session_state["datasets_dedup_job"])["result"]
    gone = [i for i in found["groups"][0]["ids"] if i != found["groups"][0]["keep"]]
    db.cursor().execute(f"DELETE FROM samples WHERE id IN ({', '.join('?' * len(gone))})", gone)  # another tab
    at.button(key="datasets_dedup_apply").click().run()
    if not at.error:  # the first run that sees the removal ended says how it went (once, like a flash)
        settle(at)
    removal = next(j for j in jobs.list_jobs(kind="dedup") if j["args"]["action"] == "remove")
    assert removal["state"] == "failed" and "not the 1 you confirmed; nothing was changed" in removal["message"]
    assert [e.value for e in at.error] == [removal["message"]]  # the job's one-line message
    assert samples.page("安规问答")["total"] == 6


# ---------------------------------------------------------------------------------------- refresh-flags

def review_page() -> AppTest:
    at = open_page("pages/review.py")
    at.text_input(key="review_reviewer").set_value("张工").run()
    return at


def test_flag_refresh_is_a_job_that_outlives_its_tab(gate):
    from studio.data import review

    did = pairs_dataset()
    db.cursor().execute("UPDATE samples SET status = 'pending', flags = ['stale'] WHERE dataset_id = ?", [did])
    gate.hold(review, "refresh")
    at = review_page()
    at.button(key="review_refresh").click().run()
    job_id = at.session_state["review_flags_job"]
    gate.running(job_id)
    at.run()
    assert any(t.startswith(f"Recomputing flags · job {job_id}") for t in progress_texts(at)), progress_texts(at)
    other = closed_tab_goes_on(at, "review_flags_job", "pages/review.py", job_id, gate, review_reviewer="张工")
    assert any("Flags recomputed: 6 sample(s) changed." in s.value for s in other.success)
    assert db.scalar("SELECT count(*) FROM samples WHERE list_contains(flags, 'stale')") == 0


def test_a_failed_flag_refresh_shows_the_jobs_message(monkeypatch):
    from studio.core.errors import InputError
    from studio.data import review

    pairs_dataset()

    def broken(dataset, progress=None):
        raise InputError(f"dataset {dataset!r} cannot be flagged now")

    monkeypatch.setattr(review, "refresh", broken)
    at = review_page()
    at.button(key="review_refresh").click().run()
    settle(at)
    job = jobs.get(at.session_state["review_flags_job"])
    assert job["state"] == "failed" and job["message"] == "dataset '安规问答' cannot be flagged now"
    assert job["message"] in [e.value for e in at.error]


# ------------------------------------------------------------------------------------------------ merge

def lora_run(demo_model) -> str:
    """A run with a (untrained) LoRA adapter on the demo model: enough to merge."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio.train import runs
    from tests.train_helpers import seed_dataset

    seed_dataset(n=4)
    row = runs.prepare(base_model=str(demo_model), dataset="电工问答", estimate_tokens=False)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(str(demo_model)),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    model.save_pretrained(str(Path(row["dir"]) / "adapter"))
    return row["id"]


def test_merge_is_a_model_job_that_outlives_its_tab(gate, demo_model, studio_env):
    from studio.train import merge

    run_id = lora_run(demo_model)
    gate.hold(merge, "merge")
    at = open_page("pages/runs.py")
    at.button(key="runs_merge_go").click().run()
    job_id = at.session_state["runs_merge_job"]
    gate.running(job_id)
    at.run()
    assert any(t.startswith(f"Merging · job {job_id}") for t in progress_texts(at)), progress_texts(at)
    other = closed_tab_goes_on(at, "runs_merge_job", "pages/runs.py", job_id, gate)
    out = studio_env / "models" / f"{run_id}-merged"
    assert any(f"Saved the merged model to `{out}`" in s.value for s in other.success)
    assert (out / "studio_merged.json").exists() and (out / "config.json").exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_a_failed_merge_shows_the_jobs_message(demo_model, studio_env):
    run_id = lora_run(demo_model)
    (studio_env / "models" / f"{run_id}-merged").mkdir(parents=True)
    (studio_env / "models" / f"{run_id}-merged" / "keep.txt").write_text("mine")
    at = open_page("pages/runs.py")
    at.button(key="runs_merge_go").click().run()
    settle(at)
    job = jobs.get(at.session_state["runs_merge_job"])
    assert job["state"] == "failed" and "already exists and is not empty" in job["message"]
    assert [e.value for e in at.error] == [job["message"]]


# ------------------------------------------------------------------------------------------- the kinds

def test_the_kinds_and_their_slots():
    from studio.service import kinds  # noqa: F401 - registers them

    got = {name: (jobs.KINDS[name].slot_for({}), jobs.KINDS[name].resumes({}))
           for name in ("convert", "export", "dedup", "refresh-flags", "merge")}
    # each is one transaction or one folder renamed into place: a restart leaves it interrupted, to retry
    assert got == {"convert": ("io", False), "export": ("io", False), "dedup": ("io", False),
                   "refresh-flags": ("io", False), "merge": ("model", False)}
