"""Dependencies point one way, and a test proves it by walking every import with ``ast``.

Packages (a "unit" is a top-level folder; ``studio/`` counts per sub-package) and what each may import:

    app.py, serve.py -> pages -> studio.cli / studio.project -> studio.service -> studio.evaluate
      -> studio.train -> studio.generate -> studio.data -> store -> studio.core
    trainers, exports -> studio.core      (studio.train runs trainers, studio.data writes with exports)
    benchmarks -> anything but tests;  tests -> anything;  testkit (test helpers both share) -> studio.core

The unit graph of the imports actually written is also checked to be acyclic; a planted back-edge in a
copy of the tree makes both checks fail. Third-party rules: no streamlit below pages/, no heavy library in
pages/.
"""
from __future__ import annotations

import ast
import graphlib
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "pages", "studio", "store", "trainers", "exports", "benchmarks", "tests", "testkit")
STUDIO_PARTS = ("cli", "project", "service", "evaluate", "train", "generate", "data", "core")

# what each unit may import, besides itself and third-party libraries
_BELOW_CLI = {"studio.project", "studio.service", "studio.evaluate", "studio.train", "studio.generate", "studio.data",
              "studio.core", "store", "trainers", "exports"}
ALLOWED: dict[str, set[str]] = {
    "app": {"pages", "studio.core", "studio.cli", "studio.service", "store"},
    "pages": {"studio.project", "studio.service", "studio.evaluate", "studio.train", "studio.generate", "studio.data",
              "studio.core"},
    "studio": {"studio.cli"},  # studio/__main__.py
    "studio.cli": _BELOW_CLI,
    "studio.project": _BELOW_CLI - {"studio.project"},
    "studio.service": {"studio.evaluate", "studio.train", "studio.generate", "studio.data", "studio.core", "store",
                       "trainers", "exports"},
    "studio.evaluate": {"studio.train", "studio.generate", "studio.data", "studio.core", "store", "trainers",
                        "exports"},
    "studio.train": {"studio.data", "studio.core", "store", "trainers"},
    "studio.generate": {"studio.data", "studio.core", "store"},
    "studio.data": {"studio.core", "store", "exports"},
    "store": {"studio.core"},
    "studio.core": set(),
    "trainers": {"studio.core"},
    "exports": {"studio.core"},
    "testkit": {"studio.core"},
    "benchmarks": {"app", "pages", "studio", *(f"studio.{p}" for p in STUDIO_PARTS), "store", "trainers",
                   "exports", "testkit"},
    "tests": set(PACKAGES) | {f"studio.{p}" for p in STUDIO_PARTS},
}

FORBIDDEN = {
    "studio": {"streamlit"},
    "store": {"streamlit"},
    "trainers": {"streamlit", "pages"},
    "exports": {"streamlit", "pages"},
    "pages": {"duckdb", "torch", "transformers", "openai", "peft", "store"},
}


def imported_modules(path: Path) -> set[str]:
    """Top-level names of every absolute import in a file, wherever it stands (functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _module_of(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str | None:
    """The unit a dotted module belongs to (``studio.data.exams.read`` -> ``studio.data``), or None."""
    parts = module.split(".")
    if parts[0] in ("app", "serve"):
        return "app"
    if parts[0] not in PACKAGES:
        return None
    if parts[0] == "studio" and len(parts) > 1 and parts[1] in STUDIO_PARTS:
        return f"studio.{parts[1]}"
    return parts[0]


def imports_of(path: Path, root: Path) -> list[tuple[str, int]]:
    """Every project module a file imports (relative imports resolved), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = _module_of(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            # `from studio.data import samples` imports studio.data.samples: count the deepest name
            found += [(f"{base}.{alias.name}" if base else alias.name, node.lineno) for alias in node.names]
    return found


def project_files(root: Path) -> list[Path]:
    files = [root / "app.py", root / "serve.py"]
    for package in PACKAGES[1:]:
        files += sorted((root / package).rglob("*.py"))
    return [f for f in files if f.exists()]


def unit_edges(root: Path) -> dict[tuple[str, str], list[str]]:
    """(from unit, to unit) -> where it happens (``file:line imports module``), for every cross-unit import."""
    edges: dict[tuple[str, str], list[str]] = {}
    for f in project_files(root):
        src = unit_of(_module_of(f, root))
        for module, line in imports_of(f, root):
            dst = unit_of(module)
            if dst and dst != src:
                edges.setdefault((src, dst), []).append(f"{f.relative_to(root)}:{line} imports {module}")
    return edges


def forbidden_arrows(root: Path) -> list[str]:
    return [f"{a} -> {b} is not allowed: {where[0]}" for (a, b), where in sorted(unit_edges(root).items())
            if b not in ALLOWED.get(a, set())]


def cycles(root: Path) -> list[str]:
    graph: dict[str, set[str]] = {}
    for a, b in unit_edges(root):
        graph.setdefault(a, set()).add(b)
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        return [" -> ".join(reversed(err.args[1]))]
    return []


def test_every_arrow_points_down():
    bad = forbidden_arrows(ROOT)
    assert not bad, "\n".join(bad)


def test_unit_graph_is_acyclic():
    assert cycles(ROOT) == []


def test_every_file_belongs_to_a_unit():
    assert all(unit_of(_module_of(f, ROOT)) for f in project_files(ROOT))
    top = {p.name for p in (ROOT / "studio").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert top == set(STUDIO_PARTS), "a new studio/ sub-package needs its place in ALLOWED"
    assert {p.name for p in (ROOT / "studio").glob("*.py")} <= {"__init__.py", "__main__.py"}


@pytest.mark.parametrize("plant, target", [
    ("store/db.py", "studio.data"),        # the old store -> studio arrow
    ("trainers/sft.py", "studio.train"),   # the old trainers <-> studio runs arrows
    ("studio/core/settings.py", "studio.data"),
    ("studio/data/samples.py", "studio.evaluate"),
])
def test_a_planted_back_edge_fails(tmp_path, plant, target):
    for f in project_files(ROOT):
        dest = tmp_path / f.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)
    with open(tmp_path / plant, "a", encoding="utf-8") as fh:
        fh.write(f"\n\ndef _later():\n    from {target} import x  # noqa\n")
    arrow = f"{unit_of(_module_of(tmp_path / plant, tmp_path))} -> {target}"
    bad = forbidden_arrows(tmp_path)
    assert any(b.startswith(f"{arrow} is not allowed: {plant}:") for b in bad), bad
    assert cycles(tmp_path), f"{target} already depends on {plant}'s unit, so the planted arrow closes a cycle"


def test_benchmarks_never_import_tests(tmp_path):
    assert "tests" not in ALLOWED["benchmarks"]
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "bench_x.py").write_text("from tests.conftest import DATA\n")
    assert forbidden_arrows(tmp_path) == ["benchmarks -> tests is not allowed: benchmarks/bench_x.py:1 imports "
                                          "tests.conftest.DATA"]


def test_relative_imports_are_resolved(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "__init__.py").write_text("")
    (tmp_path / "store" / "x.py").write_text("from . import y\nfrom ..studio.data import samples\n")
    assert imports_of(tmp_path / "store" / "x.py", tmp_path) == [("store.y", 1), ("studio.data.samples", 2)]


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
