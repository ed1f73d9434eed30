"""ARCHITECTURE.md's layering, checked: capability code never imports UI toolkits, and the
faces (panels, cli) are never imported by capability code."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "vega_lab"
UI = ("ipywidgets", "IPython", "voila")
FACES = ("vega_lab.panels", "vega_lab.cli")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_capability_code_has_no_ui_or_face_imports() -> None:
    offenders = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG)
        if rel.parts[0] in ("panels", "cli"):
            continue
        for name in _imports(path):
            if name.split(".")[0] in UI or name.startswith(FACES):
                offenders.append(f"{rel}: {name}")
    assert offenders == []


def test_modules_stay_small() -> None:
    big = [
        f"{p.relative_to(PKG)}: {n}"
        for p in PKG.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    ]
    assert big == [], "split these by idea (ARCHITECTURE.md: small files)"
