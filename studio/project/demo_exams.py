"""The demo's exam bank: the seed's nine rows and more, imported and converted into QA pairs."""
from __future__ import annotations

from pathlib import Path

DEMO_BANK = Path(__file__).resolve().parent / "demo" / "exam_bank.csv"


def load_demo() -> None:
    """The demo exam bank (dataset 安规示例), its QA pairs (安规示例-qa) and its choice pairs (安规示例-选择题,
    what the demo adapter trains on before it is evaluated on the bank); no torch, well under a second."""
    from studio.data.exams.convert import convert
    from studio.data.exams.importer import import_exam

    import_exam(DEMO_BANK, "安规示例")
    convert("安规示例", to="qa", into="安规示例-qa")
    convert("安规示例", to="choice", into="安规示例-选择题")
