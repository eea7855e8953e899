"""The house stays standing: no import cycle inside asymprune, and nothing in it imports its CLI.

Every module's imports are read with `ast`, those inside functions included: a lazy import is
still a dependency, and hiding one in a function is how cycles crept in before. An import is
resolved to the asymprune module it names (`from .prune import x` is asymprune.prune, or
asymprune.prune.x when that is a module). Only asymprune.__main__, the `python -m asymprune`
entry point, may import asymprune.cli.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "asymprune"


def module_names(package: Path) -> dict[str, Path]:
    """Dotted name -> file, for every module of `package` (a package is its __init__.py)."""
    names = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of the package that module `name` imports, anywhere in its file."""
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            head = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:
                found |= {f"{head}.{alias.name}"} if f"{head}.{alias.name}" in modules else \
                    {head} if head in modules else set()
    return found - {name}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = module_names(package)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """(members, a shortest closed path through the first) per group of modules that import each
    other: a strongly connected component of the graph, found with Tarjan's algorithm."""
    index, low, stack, found = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [(group, _shortest_cycle(graph, group)) for group in sorted(found)]


def _shortest_cycle(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    start, paths, reached = group[0], [[group[0]]], {group[0]}
    while paths:  # breadth first, inside the group
        path = paths.pop(0)
        for w in sorted(graph[path[-1]] & set(group)):
            if w == start:
                return path + [start]
            if w not in reached:
                reached.add(w)
                paths.append(path + [w])
    return []


def cli_importers(graph: dict[str, set[str]], package: str = "asymprune") -> list[str]:
    """'module -> cli module' for every module outside the CLI (and its entry point) that imports it."""
    cli = {m for m in graph if m == f"{package}.cli" or m.startswith(f"{package}.cli.")}
    return sorted(f"{m} -> {t}" for m, targets in graph.items() if m not in cli and m != f"{package}.__main__"
                  for t in sorted(targets & cli))


def test_no_import_cycle_inside_asymprune():
    found = cycles(import_graph())
    assert not found, "modules that import each other (lazy imports included): " + "; ".join(
        f"{', '.join(group)} (e.g. {' -> '.join(path)})" for group, path in found)


def test_nothing_outside_the_cli_imports_it():
    found = cli_importers(import_graph())
    assert not found, "the library imports its CLI: " + "; ".join(found)


def test_the_checks_see_lazy_imports(tmp_path):
    pkg = tmp_path / "house"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "__main__.py").write_text("from .cli import main\n")
    (pkg / "cli" / "__init__.py").write_text("from ..low import f\n")
    (pkg / "low.py").write_text("def f():\n    from .high import g  # lazy, inside a function\n")
    (pkg / "high.py").write_text("from . import low\n")
    (pkg / "rogue.py").write_text("def h():\n    from .cli import main\n")
    graph = import_graph(pkg)
    assert cycles(graph) == [(["house.high", "house.low"], ["house.high", "house.low", "house.high"])]
    assert cli_importers(graph, "house") == ["house.rogue -> house.cli"]
