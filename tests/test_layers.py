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


# --- import cycles ----------------------------------------------------------------------------
# Every import counts, wherever it stands: one inside a function is deferred, not removed (the
# loop is still there, it only fails later or hides a half-initialised module), and one under
# ``if TYPE_CHECKING:`` still makes each module's meaning depend on the other's (and
# ``typing.get_type_hints``/pydantic resolve those names at run time). A package's submodule
# importing its own ``__init__`` implicitly (by being imported) is not counted: only the
# statements written in the files are.


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """Module -> {imported module inside the package: first line}, from every import statement
    (module level, in functions, under TYPE_CHECKING); relative imports resolved, and
    ``from pkg import name`` counted as importing ``pkg.name`` when that is a module."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, dict[str, int]] = {}
    for name, path in files.items():
        edges: dict[str, int] = {}
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]

        def add(target: str, line: int, name: str = name, edges: dict[str, int] = edges) -> None:
            while target and target not in files:  # `import a.b.c` -> the deepest module
                target = target.rpartition(".")[0]
            if target and target != name:
                edges.setdefault(target, line)

        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(alias.name, node.lineno)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    add(sub if sub in files else module, node.lineno)
        graph[name] = edges
    return graph


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                groups.append(sorted([v, *group]))

    for v in graph:
        if v not in index:
            visit(v)
    return groups


def test_no_import_cycles_inside_vega_lab() -> None:
    graph = import_graph(PKG)
    cycles = [
        " <-> ".join(group)
        + ": "
        + ", ".join(
            f"{a} -> {b} (line {graph[a][b]})" for a in group for b in graph[a] if b in group
        )
        for group in import_cycles(graph)
    ]
    assert cycles == [], "move what both modules need into a module both import:\n" + "\n".join(
        cycles
    )


def test_the_cycle_finder_sees_lazy_relative_and_type_only_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.sub import b\n")  # lazy, names a module
    (pkg / "sub" / "b.py").write_text("from .. import c\n")  # relative, names a module
    (pkg / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n"
    )
    (pkg / "d.py").write_text("import pkg.a\nimport os\n")  # into the loop, not part of it
    graph = import_graph(pkg)
    assert graph["pkg.sub.b"] == {"pkg.c": 1} and graph["pkg.d"] == {"pkg.a": 1}
    assert import_cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    (pkg / "c.py").write_text("")
    assert import_cycles(import_graph(pkg)) == []
