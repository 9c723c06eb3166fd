"""Imports follow the data flow: each package imports only packages below it (docs/architecture.md).

Every import counts, at the top of a module or inside a function: a late import is still a dependency.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# docs/architecture.md, "The packages, bottom to top"; packages on one layer do not import each other
LAYERS = {
    "settings": 0, "vocabulary": 0, "errors": 0,
    "db": 1,
    "ingest": 2, "transform": 2,
    "queries": 3,
    "alerts": 4, "reports": 4, "app": 4,
    "pipeline": 5,
    "scheduler": 6,
}
ASIDE = {"sample"}  # imports nothing of the project
PROJECT = set(LAYERS) | ASIDE | {"bench", "scripts", "tests"}
SCRIPTS = {"ingest.py": 7}  # the entry point of pipeline/, above everything


def imports_of(path: Path) -> set[str]:
    """Top-level project packages a file imports (relative imports stay in the package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


def code_files():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in LAYERS or rel.parts[0] in ASIDE or str(rel) in SCRIPTS:
            yield rel


def package_of(rel: Path) -> str:
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def test_every_package_imports_only_packages_below_it():
    wrong = []
    for rel in code_files():
        name = package_of(rel)
        if str(rel) in SCRIPTS:
            layer = SCRIPTS[str(rel)]
        elif name in ASIDE:
            layer = -1  # may import nothing of the project but itself
        else:
            layer = LAYERS[name]
        for other in imports_of(ROOT / rel) - {name}:
            if other in ASIDE and rel == Path("ingest/sample.py"):
                continue  # `python -m ingest.sample`, the old name of `python -m sample`
            if LAYERS.get(other, 99) >= layer:
                wrong.append(f"{rel} imports {other}")
    assert not wrong, "imports against the data flow:\n" + "\n".join(wrong)


def test_the_layer_table_covers_every_package():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"bench", "tests"}
    modules = {p.stem for p in ROOT.glob("*.py")} - {"ingest"}  # ingest.py: a script, in SCRIPTS
    assert packages | modules == set(LAYERS) | ASIDE
