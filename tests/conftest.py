"""Every test gets its own database, runs, models and exports folders under tmp_path."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
sys.path.insert(0, str(ROOT))


def _navigation_as_served() -> None:
    """AppTest decides per run that a folder named ``pages/`` means the old multipage mode, and then reruns
    a page without app.py (so no language, sign-in or navigation on reruns). The server (serve.py) runs
    app.py on every rerun; make AppTest do the same."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        PagesManager.uses_pages_directory = False
        original(self, *args, **kwargs)

    PagesManager.__init__ = init


_navigation_as_served()

# ``make test`` runs the suite on every core (pytest-xdist, one module per worker at a time). Each worker's torch
# then gets its share of the cores: torch's default of one thread per core in every worker oversubscribes them,
# and the LoRA CLI test slowed from 40 s to 116 s that way.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ.setdefault("OMP_NUM_THREADS",
                          str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))))


def pytest_collection_modifyitems(items):
    """The modules that train, generate or drive a browser first, the most such tests first: the workers
    take modules in this order, so the long ones start early and the short ones fill in at the end."""
    heavy: dict[str, int] = {}
    for item in items:
        if item.get_closest_marker("slow") or item.get_closest_marker("browser"):
            heavy[item.module.__name__] = heavy.get(item.module.__name__, 0) + 1
    items.sort(key=lambda item: -heavy.get(item.module.__name__, 0))


@pytest.fixture(autouse=True)
def studio_env(tmp_path, monkeypatch):
    """Point every STUDIO_* folder at tmp_path; close the database connections afterwards."""
    monkeypatch.setenv("STUDIO_DB", str(tmp_path / "studio.duckdb"))
    monkeypatch.setenv("STUDIO_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("STUDIO_EXPORTS", str(tmp_path / "exports"))
    monkeypatch.setenv("STUDIO_DEMO", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no test needs a model hub; fail fast instead of waiting
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("STUDIO_LANG", "en")  # tests of English text; the zh tests set zh themselves
    yield tmp_path
    from store import db
    from studio.service import supervisor

    supervisor.stop()  # a job runner a test started must not tick on a closing database
    db.close_all()


@pytest.fixture(scope="session")
def demo_model(tmp_path_factory) -> Path:
    """The tiny demo base model, built once per test session."""
    from studio.train.demo_model import build

    out = tmp_path_factory.mktemp("models") / "demo-tiny-llama"
    build(out)
    return out


@contextmanager
def held_database(path: Path):
    """Another process holding the database file open (DuckDB then refuses every other process)."""
    import subprocess
    import textwrap

    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, time
        con = duckdb.connect({str(path)!r})
        print("held", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def run_cli(*args: str, env: dict | None = None, cwd: Path = ROOT, input: str | None = None):
    """Run ``python -m studio ARGS`` in a fresh process (``input`` on its stdin); return the CompletedProcess."""
    import subprocess

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "studio", *args], cwd=cwd, env=full_env, input=input,
                          capture_output=True, text=True, timeout=600)
