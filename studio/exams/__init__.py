"""Exam banks: import any real question spreadsheet (``importer``), turn it into QA and choice pairs
(``convert``). ``read`` turns files into text cells, ``mapping`` decides which column holds what; the
row-by-row parsing itself runs as set-based SQL in ``store.exams``.
"""

from pathlib import Path

DEMO_BANK = Path(__file__).resolve().parent.parent / "demo" / "exam_bank.csv"


def load_demo() -> None:
    """The demo exam bank (dataset 安规示例) and its QA pairs (安规示例-qa); no torch, well under a second."""
    from studio.exams.convert import convert
    from studio.exams.importer import import_exam

    import_exam(DEMO_BANK, "安规示例")
    convert("安规示例", to="qa", into="安规示例-qa")
