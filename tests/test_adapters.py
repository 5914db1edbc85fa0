"""Private members of pyiceberg and dagster-dbt are used in their adapter modules only."""

from __future__ import annotations

import ast
from pathlib import Path

import dagster_project

PACKAGE = Path(dagster_project.__file__).parent
LIBRARIES = ("pyiceberg", "dagster_dbt")
ADAPTERS = {"lakehouse/pyiceberg_adapter.py", "defs/dbt/dagster_dbt_adapter.py"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _from_library(module: str) -> bool:
    return module.split(".")[0] in LIBRARIES


def private_uses(source: str) -> list[str]:
    """Where the source touches a private member of pyiceberg or dagster-dbt, as `line: what`.

    Caught: importing a private name or module from the libraries; `x._name` on anything but
    `self`, `cls` or a module imported from elsewhere (the type of `x` is unknown to an AST, so
    every such access counts); and, in a class deriving from a library class, a method named
    `_name`, `self._name` or `super()._name`.
    """
    tree = ast.parse(source)
    found: list[str] = []
    library_names: set[str] = set()
    other_modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {a.asname or a.name for a in node.names}
            if _from_library(node.module):
                library_names |= names
                parts = [*node.module.split("."), *(a.name for a in node.names)]
                found += [f"{node.lineno}: from {node.module} import {p}" for p in parts if _private(p)]
            else:
                other_modules |= names
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _from_library(alias.name):
                    library_names.add((alias.asname or alias.name).split(".")[0])
                    found += [
                        f"{node.lineno}: import {alias.name}" for p in alias.name.split(".") if _private(p)
                    ]
                else:
                    other_modules.add((alias.asname or alias.name).split(".")[0])
    library_classes = {
        id(child)
        for cls in ast.walk(tree)
        if isinstance(cls, ast.ClassDef)
        and any(ast.unparse(b).split(".")[0] in library_names for b in cls.bases)
        for child in ast.walk(cls)
    }
    for node in ast.walk(tree):
        inside_library_class = id(node) in library_classes
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and inside_library_class
            and _private(node.name)
        ):
            found.append(f"{node.lineno}: overrides {node.name}")
        if not isinstance(node, ast.Attribute) or not _private(node.attr):
            continue
        base = node.value
        root = base
        while isinstance(root, ast.Attribute):
            root = root.value
        if isinstance(base, ast.Name) and base.id in ("self", "cls") or isinstance(base, ast.Call):
            if inside_library_class:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif not (isinstance(root, ast.Name) and root.id in other_modules and root.id not in library_names):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_only_the_adapters_touch_private_members_of_pyiceberg_and_dagster_dbt():
    offenders = {
        str(path.relative_to(PACKAGE)): uses
        for path in sorted(PACKAGE.rglob("*.py"))
        if str(path.relative_to(PACKAGE)) not in ADAPTERS and (uses := private_uses(path.read_text()))
    }
    assert not offenders, f"move these into an adapter module ({', '.join(sorted(ADAPTERS))}): {offenders}"


def test_the_scan_sees_what_the_adapters_use():
    uses = {p: " ".join(private_uses((PACKAGE / p).read_text())) for p in ADAPTERS}
    for member in ("_OverwriteFiles", "_manifests", "_summary", "self._operation", "_stage"):
        assert member in uses["lakehouse/pyiceberg_adapter.py"], member
    for member in ("_build_column_lineage_metadata", "overrides _cli_version"):
        assert member in uses["defs/dbt/dagster_dbt_adapter.py"], member


def test_the_scan_leaves_the_projects_own_private_names_alone():
    source = (
        "import argparse\nfrom pyiceberg.table import Table\n"
        "class Mine:\n    def _helper(self):\n        return self._x\n"
        "def f(a: argparse._SubParsersAction): ...\n"
    )
    assert private_uses(source) == []
    assert private_uses("def f(tx):\n    tx._stage(())\n") == ["2: tx._stage"]
