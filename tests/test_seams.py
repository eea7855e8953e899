"""Each kind of knowledge has one home: no model-type or backend test outside its registry.

Read with `ast`, so a comparison hidden in a lambda or a comprehension counts too. A comparison
whose either side names `model_type` (`config.model_type == "t5"`, `x in T5_TYPES` where the left
is a model type...) may appear only in `asymprune/models/families/`; one that names `backend` only
in `asymprune/bench/backends/`. The issue's own grep is checked as well, over the source text.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "asymprune"
HOMES = {"model_type": PACKAGE / "models" / "families", "backend": PACKAGE / "bench" / "backends"}


def _names(node: ast.AST) -> set[str]:
    """Attribute and variable names anywhere in an expression (`cfg.backend` -> {'cfg', 'backend'})."""
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            found.add(sub.attr)
        elif isinstance(sub, ast.Name):
            found.add(sub.id)
        elif isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Constant):
            found.add(str(sub.slice.value))  # config["model_type"]
    return found


def comparisons_outside_home() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            for key, home in HOMES.items():
                if any(key in _names(side) for side in sides) and home not in path.parents:
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} compares {key}")
    return bad


def test_no_model_type_or_backend_comparison_outside_its_registry():
    assert comparisons_outside_home() == []


def test_the_issues_grep_finds_nothing_outside_the_registries():
    pattern = re.compile(r"model_type ==|model_type in|backend ==")
    hits = [f"{p.relative_to(PACKAGE.parent)}:{i}" for p in sorted(PACKAGE.rglob("*.py"))
            if not any(home in p.parents for home in HOMES.values())
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if pattern.search(line)]
    assert hits == []


def test_the_check_sees_a_comparison(tmp_path):
    # The checker itself: a model-type test written the way the old code did is found.
    tree = ast.parse('if model.config.model_type in ("t5", "mt5"):\n    pass\nok = cfg.backend == "ct2"\n')
    compares = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    assert [("model_type" in _names(c.left), "backend" in _names(c.left)) for c in compares] == \
        [(True, False), (False, True)]
