"""The demo's domain text: an invented 安全规程 imported as a corpus, with offline cloze samples to review."""
from __future__ import annotations

from pathlib import Path

DEMO_TEXT = Path(__file__).resolve().parent / "demo" / "domain_text.md"
DEMO_CORPUS = "安规条文示例"
DEMO_CLOZE = "安规条文示例-cloze"


def load_demo() -> None:
    """Import the demo text into corpus 安规条文示例 and generate cloze samples (pending review)."""
    from studio.data.corpus import import_corpus
    from studio.generate import run

    import_corpus([DEMO_TEXT], DEMO_CORPUS)
    run(DEMO_CORPUS, DEMO_CLOZE, "cloze")
