"""The Train form's fields are the trainer's Config dataclass fields, read from their metadata."""
from dataclasses import MISSING, dataclass, fields

from studio.train import config
from trainers import sft

GROUPS = ("model", "data", "adapter", "optimisation", "launch")


def test_every_config_field_has_a_group_a_why_and_a_default():
    for f in fields(sft.Config):
        assert f.metadata.get("group") in GROUPS, f.name
        assert f.metadata.get("help", "").strip(), f.name
        assert f.default is not MISSING or f.default_factory is not MISSING, f.name


def test_the_form_fields_are_the_config_fields():
    editable = [f for f in fields(sft.Config) if f.name not in config.MANAGED]
    form = config.config_fields()
    assert [f["name"] for f in form] == [f.name for f in editable]
    assert [(f["group"], f["help"]) for f in form] == [(f.metadata["group"], f.metadata["help"]) for f in editable]
    assert [f["default"] for f in form] == [config.default_of(f) for f in editable]
    assert all(f["flag"] == "--" + f["name"].replace("_", "-") for f in form)
    names = {f.name for f in fields(sft.Config)}
    assert set(config.MANAGED) | set(config.FIELD_LABELS) | set(config.BASIC_FIELDS) <= names  # no stale names


def test_a_new_config_field_reaches_the_form(monkeypatch):
    @dataclass(frozen=True)
    class Bigger(sft.Config):
        label_smoothing: float = sft.setting("optimisation", 0.0, "softens the targets")

    monkeypatch.setattr(sft, "Config", Bigger)
    new = config.config_fields()[-1]
    assert (new["name"], new["group"], new["help"], new["type"], new["default"], new["flag"]) == \
        ("label_smoothing", "optimisation", "softens the targets", "float", 0.0, "--label-smoothing")
