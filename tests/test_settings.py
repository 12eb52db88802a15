"""Every setting is declared once and documented in the README."""
import re
from pathlib import Path

from studio.core import settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme():
    missing = [s.env for s in settings.SETTINGS if f"`{s.env}`" not in README]
    assert not missing, f"undocumented settings: {missing}"


def test_every_studio_variable_in_the_code_is_declared():
    root = Path(__file__).resolve().parent.parent
    declared = {s.env for s in settings.SETTINGS}
    used = set()
    for package in ("studio", "store", "trainers", "exports", "pages"):
        for f in (root / package).rglob("*.py"):
            used |= set(re.findall(r"STUDIO_[A-Z_]+", f.read_text(encoding="utf-8")))
    used.discard("STUDIO_")
    assert used <= declared, f"used but not declared in studio/settings.py: {sorted(used - declared)}"


def test_settings_are_read_at_call_time(monkeypatch):
    monkeypatch.setenv("STUDIO_PORT", "9999")
    assert settings.get("port") == "9999"
    monkeypatch.delenv("STUDIO_PORT")
    assert settings.get("port") == "8501"
