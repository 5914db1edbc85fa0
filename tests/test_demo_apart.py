"""The demo stays apart from the product: only the demo's entry points import dagster_project.demo."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "dagster_project"
DEMO = "dagster_project.demo"
# `foundation demo` and `foundation generate` write the sample data and print the tour.
ENTRY_POINTS = {"cli.py"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports included)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_product_code_does_not_import_the_demo() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "demo" or relative.as_posix() in ENTRY_POINTS:
            continue
        demo_imports = {m for m in imported_modules(path) if m == DEMO or m.startswith(DEMO + ".")}
        offenders += [f"{relative}: {m}" for m in sorted(demo_imports)]
    assert not offenders, "product code imports the demo:\n" + "\n".join(offenders)


def test_the_entry_points_do_import_it() -> None:
    # Guards the scan itself: were the entry point's imports missed, the test above would pass vacuously.
    assert any(m.startswith(DEMO + ".") for m in imported_modules(PACKAGE / "cli.py"))
