"""The operational tables' home sits below every layer that writes them: it imports no higher layer."""

from __future__ import annotations

from pathlib import Path

from tests.test_demo_apart import imported_modules

OPS_TABLES = Path(__file__).resolve().parents[2] / "dagster_project" / "lakehouse" / "ops_tables"
# The bottom of the package and the lakehouse itself; governance, ingest, transform, documents,
# defs and the CLI all write these tables, so importing any of them would point an arrow upwards.
ALLOWED = ("settings", "registry", "errors", "faults", "identity", "lakehouse")


def test_ops_tables_import_only_the_layers_below_their_writers() -> None:
    modules = sorted(OPS_TABLES.glob("*.py"))
    assert {p.stem for p in modules} >= {"quarantine", "audit", "handled_files", "append"}
    upward = [
        f"{path.name}: {module}"
        for path in modules
        for module in sorted(imported_modules(path))
        if module.startswith("dagster_project.")
        and module.removeprefix("dagster_project.").split(".")[0] not in ALLOWED
    ]
    assert not upward, "ops_tables imports a higher layer:\n" + "\n".join(upward)
