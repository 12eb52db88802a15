"""Start-up of a project: migrate the database, build the demo model, load the demo project once."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

from store import db
from studio.core import settings
from studio.core.errors import InputError
from studio.core.i18n import _
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


def _build_demo_model(target: Path) -> None:
    """Build the demo model and give it its short pre-training (``STUDIO_DEMO_PRETRAIN_STEPS``) in a
    folder beside ``target``, then move it into place: an interrupted ``init`` leaves no half-made model
    that a later ``init`` would take as built. Only a new model is pre-trained: runs already trained on
    an existing demo model keep the base they were trained on."""
    from tqdm import tqdm

    from studio.train import demo_model, demo_pretrain

    steps = settings.get("demo_pretrain_steps").strip()
    if not steps.isdigit():
        raise InputError(_("STUDIO_DEMO_PRETRAIN_STEPS must be a whole number of steps (0 = none), not {value}")
                         .format(value=repr(steps)))
    staging = target.with_name(target.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    demo_model.build(staging)
    if int(steps):
        with tqdm(total=int(steps), desc=_("pre-training the demo model"), unit=_("step")) as bar:
            def advance(step: int, loss: float) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.2f}")
            demo_pretrain.pretrain(staging, max_steps=int(steps), progress=advance)
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    card = target / "studio_demo_model.json"
    summary = json.loads(card.read_text(encoding="utf-8"))
    card.write_text(json.dumps({**summary, "out": str(target)}, ensure_ascii=False, indent=1), encoding="utf-8")


def init(*, build_model: bool = True) -> dict:
    """Migrate the database, build the demo model when missing, load the demo project into an empty db."""
    from store import overview

    db.connect()
    built = False
    if build_model:
        from studio.train import demo_model

        if not demo_model.is_built(demo_model_dir()):
            _build_demo_model(demo_model_dir())
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
