"""Start-up of a project: migrate the database, build the demo model, load the demo project once."""
from __future__ import annotations

from typing import Callable

from store import db
from studio.core import settings
from studio.train.demo_model import demo_model_dir

# Loaders of the demo project, run once on an empty database: each takes no argument and writes its
# part of the demo (an exam bank, a domain text). Areas add theirs here.
DEMO_LOADERS: list[Callable[[], None]] = []


def _demo_corpus() -> None:
    """The demo domain text (corpus 安规条文示例) and its offline cloze samples, pending review."""
    from studio.project.demo_corpus import load_demo

    load_demo()


DEMO_LOADERS.append(_demo_corpus)


def _demo_exam_bank() -> None:
    """The demo exam bank (安规示例, the seed's nine rows and more) converted into QA pairs (安规示例-qa)."""
    from studio.project.demo_exams import load_demo

    load_demo()


DEMO_LOADERS.append(_demo_exam_bank)


def init(*, build_model: bool = True) -> dict:
    """Migrate the database, build the demo model when missing, load the demo project into an empty db."""
    from store import overview

    db.connect()
    built = False
    if build_model:
        from studio.train import demo_model

        if not demo_model.is_built(demo_model_dir()):
            demo_model.build(demo_model_dir())
            built = True
    loaded = False
    if settings.get("demo") == "1" and overview.totals()["datasets"] == 0:
        for load in DEMO_LOADERS:
            load()
        loaded = bool(DEMO_LOADERS)
    from studio.train import supervisor

    supervisor.reattach()  # live fine-tunes keep running; ones that died while the app was down are marked failed
    return {"db": str(db.db_path().resolve()), "demo_model": str(demo_model_dir()),
            "demo_model_built": built, "demo_loaded": loaded}
