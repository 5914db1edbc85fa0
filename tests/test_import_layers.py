"""Imports point down only: nothing imports from a higher layer, and no modules import each other in a circle.

The order below is the one the README's "How it works" states (a test holds the two equal). Every
import counts, also one inside a function or under `TYPE_CHECKING`: an import moved into a function
to dodge a circle still ties the two modules together.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "dagster_project"

# Bottom to top: the top-level modules and subpackages of dagster_project in each layer. A module may
# import from its own layer and the layers below; a new module must be placed here (and in the README).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "foundations",
        (
            "errors",
            "faults",
            "validation",
            "settings",
            "identity",
            "subcommand",
            "registry_types",
            "registry_spec",
            "registry",
            "cluster",
        ),
    ),
    ("landing", ("landing",)),
    ("lakehouse", ("lakehouse",)),
    ("quality", ("quality",)),
    ("ingest", ("ingest",)),
    ("onboarding", ("onboard",)),
    ("documents", ("documents",)),
    ("docs server", ("docs_site",)),
    ("data cards", ("cards",)),
    ("governance", ("governance",)),
    ("transform", ("transform",)),
    ("Dagster definitions", ("defs",)),
    (
        "commands",
        (
            "catch_up",
            "documents_catch_up",
            "ingest_landed",
            "ingest_commands",
            "rebuild_commands",
            "maintain_commands",
            "held_commands",
            "catalog_commands",
            "status",
            "run_failures",
            "run_progress",
        ),
    ),
    ("demo", ("demo",)),
    ("entry points", ("cli", "definitions", "__main__", "settings_docs")),
]

Graph = dict[str, set[str]]


def module_graph(package_dir: Path) -> Graph:
    """Every module of the package and the package modules it imports, at any depth of its code."""
    name = package_dir.name
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        modules[".".join(parts).removesuffix(".__init__")] = path
    graph: Graph = {}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(module, is_package, node.module, node.level)
                # `from pkg import mod` imports the module `pkg.mod`; `from mod import name`, `mod`.
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        graph[module] = {t for t in targets if t in modules and t != module and t.split(".")[0] == name}
    return graph


def _absolute(module: str, is_package: bool, target: str | None, level: int) -> str:
    if level == 0:
        return target or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def unit(module: str) -> str:
    """The top-level module or subpackage a module belongs to (`dagster_project.landing.s3` → landing)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_imports(graph: Graph, layers: list[tuple[str, tuple[str, ...]]]) -> list[str]:
    """Imports from a lower layer to a higher one, and modules in no layer, in words."""
    level = {u: i for i, (_, units) in enumerate(layers) for u in units}
    level[""] = -1  # the package's own __init__: it may import nothing of the package
    problems = [
        f"{m}: in no layer; add {unit(m)!r} to LAYERS and the README" for m in graph if unit(m) not in level
    ]
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            here, there = level.get(unit(module)), level.get(unit(target))
            if here is not None and there is not None and there > here:
                problems.append(
                    f"{module} ({layers[here][0] if here >= 0 else 'package'}) imports {target} "
                    f"({layers[there][0]}), a higher layer"
                )
    return problems


def cycles(graph: Graph) -> list[list[str]]:
    """The groups of modules that import each other in a circle (strongly connected, more than one)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm; the graph is a few hundred modules deep at most
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def graph() -> Graph:
    return module_graph(ROOT / PACKAGE)


def test_imports_point_down_only(graph):
    assert upward_imports(graph, LAYERS) == []


def test_no_modules_import_each_other_in_a_circle(graph):
    assert cycles(graph) == []


def test_every_layer_names_existing_modules(graph):
    present = {unit(m) for m in graph}
    assert [u for _, units in LAYERS for u in units if u not in present] == []


def test_the_readme_states_the_same_layer_order():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## How it works", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\d+\. (.+)$", section.split("### Layers", 1)[1].split("\n### ", 1)[0], re.M)
    assert [tuple(re.findall(r"`([a-z_]+)`", line)) for line in listed] == [units for _, units in LAYERS]


def test_the_check_catches_an_upward_import_and_a_circle(tmp_path):
    package = tmp_path / "pkg"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "low" / "__init__.py").write_text("")
    # An upward import hidden in a function, and a circle of two through a relative import.
    (package / "low" / "a.py").write_text("def f():\n    from pkg.high import g\n    return g\n")
    (package / "low" / "b.py").write_text("from . import c\n")
    (package / "low" / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.low.b\n"
    )
    (package / "high.py").write_text("def g():\n    return 0\n")
    planted = module_graph(package)
    layers = [("low", ("low",)), ("high", ("high",))]

    assert upward_imports(planted, layers) == ["pkg.low.a (low) imports pkg.high (high), a higher layer"]
    assert cycles(planted) == [["pkg.low.b", "pkg.low.c"]]
    assert upward_imports(planted, [("low", ("low",))]) == [
        "pkg.high: in no layer; add 'high' to LAYERS and the README"
    ]
    (package / "low" / "a.py").write_text("def f():\n    return 1\n")
    (package / "low" / "c.py").write_text("")
    assert upward_imports(module_graph(package), layers) == [] and cycles(module_graph(package)) == []
