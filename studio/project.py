"""Start-up of a project: migrate the database, build the demo model, load the demo project once."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from store import db
from studio import settings

# Loaders of the demo project, run once on an empty database: each takes no argument and writes its
# part of the demo (an exam bank, a domain text). Areas add theirs here.
DEMO_LOADERS: list[Callable[[], None]] = []


def _demo_corpus() -> None:
    """The demo domain text (corpus 安规条文示例) and its offline cloze samples, pending review."""
    from studio.corpus.demo import load_demo

    load_demo()


DEMO_LOADERS.append(_demo_corpus)


def _demo_exam_bank() -> None:
    """The demo exam bank (安规示例, the seed's nine rows and more) converted into QA pairs (安规示例-qa)."""
    from studio.exams import load_demo

    load_demo()


DEMO_LOADERS.append(_demo_exam_bank)


def demo_model_dir() -> Path:
    """Where the tiny demo base model lives."""
    return settings.path("models") / "demo-tiny-llama"


def init(*, build_model: bool = True) -> dict:
    """Migrate the database, build the demo model when missing, load the demo project into an empty db."""
    from store import overview

    db.connect()
    built = False
    if build_model:
        from studio import demo_model

        if not demo_model.is_built(demo_model_dir()):
            demo_model.build(demo_model_dir())
            built = True
    loaded = False
    if settings.get("demo") == "1" and overview.totals()["datasets"] == 0:
        for load in DEMO_LOADERS:
            load()
        loaded = bool(DEMO_LOADERS)
    from studio import runs

    runs.reattach()  # live fine-tunes keep running; ones that died while the app was down are marked failed
    return {"db": str(db.db_path().resolve()), "demo_model": str(demo_model_dir()),
            "demo_model_built": built, "demo_loaded": loaded}
