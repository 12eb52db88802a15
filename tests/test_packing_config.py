"""``packing`` and ``cutoff_len`` are settings people can read and set: a label on the Train page (in Chinese
too), a ``--flag`` of ``python -m studio train`` with its default and range, and the same refusal of a
value that cannot train on the page, in the CLI and in a config.json."""
import pytest
from streamlit.testing.v1 import AppTest

from store import datasets, db
from studio.core.errors import InputError
from studio.train import config
from tests.conftest import ROOT, run_cli
from trainers import sft


def _train_page() -> AppTest:
    did = datasets.get_or_create("电工问答", "samples")
    db.cursor().execute("INSERT INTO samples (dataset_id, instruction, input, output, status, origin) "
                        "VALUES (?, '额定电压是多少？', '', '220V', 'accepted', 'manual')", [did])
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    return at


def test_both_settings_have_a_label_naming_their_config_field():
    shown = {f["name"]: f for f in config.config_fields()}
    assert shown["packing"]["label"] == "Pack each batch into one row without padding (packing)"
    assert "(cutoff_len;" in shown["cutoff_len"]["label"]
    assert (shown["packing"]["group"], shown["packing"]["default"], shown["packing"]["type"]) == \
        ("optimisation", True, "bool")
    assert (shown["cutoff_len"]["min"], shown["cutoff_len"]["max"], shown["cutoff_len"]["default"]) == (0, 65536, 0)


@pytest.mark.parametrize("value, says", [
    ("1", "cutoff_len must be 0 (no limit in all) or at least 2, not 1"),
    ("-5", "cutoff_len must be at least 0, not -5 (allowed: 0 to 65536)"),
    ("100000", "cutoff_len must be at most 65536, not 100000"),
    ("456.5", "cutoff_len must be a whole number, not '456.5'"),
])
def test_a_cutoff_that_cannot_train_is_refused(value, says):
    with pytest.raises(InputError, match=says.replace("(", r"\(").replace(")", r"\)")):
        config.coerce({"cutoff_len": value})
    assert config.coerce({"cutoff_len": "456", "packing": "false"}) == {"cutoff_len": 456, "packing": False}


def test_a_config_json_with_a_one_token_cutoff_is_refused_too():
    with pytest.raises(ValueError, match="cutoff_len must be 0"):
        sft.make_config(base_model="m", cutoff_len=1)


def test_the_cli_offers_both_flags_with_default_and_range(studio_env):
    r = run_cli("train", "--help", env={"COLUMNS": "250"})
    assert r.returncode == 0
    help_text = " ".join(r.stdout.split())
    assert "--packing {true,false}" in help_text and "--cutoff-len CUTOFF_LEN" in help_text
    assert "attention kept inside each sample" in help_text and "(default true)" in help_text
    assert "(default 0; from 0 to 65536)" in help_text
    r = run_cli("train", "--dataset", "电工问答", "--base-model", "m", "--cutoff-len", "1")
    assert r.returncode == 2
    assert r.stderr.strip() == "error: cutoff_len must be 0 (no limit in all) or at least 2, not 1"


def test_the_train_page_shows_both_settings_and_disables_start_on_a_bad_cutoff(studio_env):
    at = _train_page()
    packing = at.checkbox(key="train_lora_packing")
    assert packing.label == "Pack each batch into one row without padding (packing)" and packing.value is True
    assert "python -m studio train --packing" in packing.help
    at.number_input(key="train_lora_cutoff_len").set_value(1).run()
    assert at.button(key="train_start").disabled
    assert any("cutoff_len must be 0 (no limit in all) or at least 2, not 1" in w.value for w in at.warning)


def test_the_train_page_in_chinese_labels_both_settings(studio_env, monkeypatch):
    monkeypatch.setenv("STUDIO_LANG", "zh")
    at = _train_page()
    assert at.checkbox(key="train_lora_packing").label == "每个 batch 无填充拼成一行（`packing`）"
    assert at.number_input(key="train_lora_cutoff_len").label.startswith("每个样本的 token 上限")
    assert "注意力只在各样本内部" in at.checkbox(key="train_lora_packing").help
    at.number_input(key="train_lora_cutoff_len").set_value(1).run()
    assert any("cutoff_len 须为 0（不限总长）或至少 2，不能是 1" in w.value for w in at.warning)
