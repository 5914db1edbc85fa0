"""The operational tables' home sits below every layer that writes them: it imports no higher layer."""

from __future__ import annotations

from pathlib import Path

from tests.test_demo_apart import imported_modules
from tests.test_import_layers import LAYERS

OPS_TABLES = Path(__file__).resolve().parents[2] / "dagster_project" / "lakehouse" / "ops_tables"
# The layers up to the lakehouse itself (from the one layer order); governance, ingest, transform,
# documents, defs and the CLI all write these tables, so importing any of them would point upwards.
_UP_TO_LAKEHOUSE = LAYERS[: [name for name, _ in LAYERS].index("lakehouse") + 1]
ALLOWED = tuple(module for _, modules in _UP_TO_LAKEHOUSE for module in modules)


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
