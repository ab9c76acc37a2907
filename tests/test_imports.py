"""The import graph: layers point one way (cli -> puzzles, vision -> trm), and no module
imports one that imports it back, even inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("trm", "puzzles", "vision", "cli")
LAYER = {"trm": 0, "puzzles": 1, "vision": 1, "cli": 2}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Each module of ours -> the modules of ours it imports (anywhere in its body)."""
    modules = {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                # `from pkg import mod` names a module when pkg/mod.py exists
                targets = [f"{node.module}.{a.name}" for a in node.names]
                targets = [t if t in modules else node.module for t in targets]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def test_no_layer_imports_one_above_it():
    upward = [
        (a, b)
        for a, targets in import_graph().items()
        for b in targets
        if LAYER[b.split(".")[0]] > LAYER[a.split(".")[0]]
        or {a.split(".")[0], b.split(".")[0]} == {"puzzles", "vision"}
    ]
    assert upward == []


def test_no_import_cycle():
    graph = import_graph()

    # a package's __init__ importing its own submodules is how packages work, not a cycle
    def edges(a: str) -> set[str]:
        return {b for b in graph[a] if not a.startswith(b + ".")}

    done: set[str] = set()
    stack: list[str] = []

    def visit(a: str) -> None:
        if a in stack:
            raise AssertionError("import cycle: " + " -> ".join([*stack[stack.index(a) :], a]))
        if a in done:
            return
        stack.append(a)
        for b in sorted(edges(a)):
            visit(b)
        stack.pop()
        done.add(a)

    for module in sorted(graph):
        visit(module)
