"""Dependencies point one way: pages -> studio -> store; no streamlit below pages/, no heavy imports in pages/."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "studio": {"streamlit"},
    "store": {"streamlit"},
    "trainers": {"streamlit", "pages"},
    "exports": {"streamlit", "pages"},
    "pages": {"duckdb", "torch", "transformers", "openai", "peft", "store"},
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layer_imports(package):
    files = sorted((ROOT / package).rglob("*.py"))
    if package == "pages":
        files.append(ROOT / "app.py")
    assert files, f"{package}/ has no Python files"
    bad = []
    for f in files:
        hit = imported_modules(f) & FORBIDDEN[package]
        if hit:
            bad.append(f"{f.relative_to(ROOT)} imports {', '.join(sorted(hit))}")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_imports(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("import streamlit as st\nfrom duckdb import connect\ndef f():\n    import torch\n")
    assert imported_modules(f) == {"streamlit", "duckdb", "torch"}
