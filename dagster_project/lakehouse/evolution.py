"""Registry type changes against a raw table: widen in place, or name the rebuild a narrowing needs.

Iceberg lets a column's type change in place only where every value already written reads
unchanged under the new type (int→long, float→double, a decimal's precision up at the same
scale). Those changes, and newly declared columns, are applied to the raw table at the next run.
Any other change (long→int, string→long, a decimal's scale) would leave written data unreadable
or wrong under the new type: it is a `SchemaConflict` that `foundation rebuild raw.NAME` fixes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pyiceberg.exceptions import CommitFailedException, ResolveError
from pyiceberg.schema import promote
from pyiceberg.table import Table
from pyiceberg.types import DecimalType

from dagster_project.errors import FoundationError
from dagster_project.lakehouse.branches import single_attempt
from dagster_project.lakehouse.tables import LINEAGE_FIELDS, iceberg_type, type_name_of
from dagster_project.registry import Dataset, Registry
from dagster_project.settings import Settings

log = logging.getLogger(__name__)
EVOLVE_ATTEMPTS = 5


@dataclass(frozen=True)
class TypeChange:
    """One declared column whose registry type differs from the raw table's."""

    table: str
    column: str
    old: str | None  # the table's type; None: the column is not in the table yet
    new: str  # the registry's type

    @property
    def widening(self) -> bool:
        """Whether Iceberg can apply it in place: a new column, or a promotion every old value survives."""
        return self.old is None or widens(self.old, self.new)

    def __str__(self) -> str:
        if self.old is None:
            return f"{self.column}: new column ({self.new})"
        return f"{self.column}: {self.old} → {self.new}"


class SchemaConflict(FoundationError):
    """The registry changed a column's type in a way Iceberg cannot apply to the written data in place."""

    def __init__(self, dataset: str, table: str, changes: list[TypeChange], sources_file: Path | None = None):
        self.dataset, self.table, self.changes = dataset, table, changes
        where = f" ({sources_file})" if sources_file else ""
        columns = "; ".join(
            f"column {c.column!r} is {c.old} in the table, {c.new} in the registry{where}" for c in changes
        )
        super().__init__(
            f"dataset {dataset}: {columns}. Iceberg cannot change a written column's type that way "
            "(only int→long, float→double and a decimal's precision up at the same scale evolve in place). "
            f"Run `foundation rebuild {table}` to re-ingest the landed files into the registry's types "
            "(the old snapshots stay readable with --as-of), or restore the old type in the registry"
        )


def widens(old: str, new: str) -> bool:
    """Whether registry type `old` can become `new` in place (Iceberg's promotion rules)."""
    if old == new:
        return True
    old_type, new_type = iceberg_type(old), iceberg_type(new)
    if isinstance(old_type, DecimalType) and isinstance(new_type, DecimalType):
        # pyiceberg 0.12's promote() compares the old scale with itself; the spec needs the same scale.
        return old_type.scale == new_type.scale and old_type.precision <= new_type.precision
    try:
        promote(old_type, new_type)
    except ResolveError:
        return False
    return True


def type_changes(table: Table, dataset: Dataset) -> list[TypeChange]:
    """The declared columns whose type (or presence) differs between the registry and the table."""
    current = {f.name: f for f in table.schema().fields}
    changes = []
    for column in dataset.columns:
        field = current.get(column.name)
        old = type_name_of(field.field_type) if field is not None else None
        if old != column.type:
            changes.append(TypeChange(dataset.table, column.name, old, column.type))
    return changes


def evolve_raw_table(
    table: Table, dataset: Dataset, *, sources_file: Path | None = None, logger: logging.Logger | None = None
) -> list[TypeChange]:
    """Apply the registry's widening changes to the raw table in one commit; refuse a narrowing one.

    Rows already written keep their values: a promotion only changes how they are read.

    Args:
        table: The dataset's raw table (refreshed by this call).
        dataset: The registry entry.
        sources_file: The registry file, named in the error.
        logger: Where the changes are logged.

    Returns:
        The changes applied (empty when the table already matches the registry).

    Raises:
        SchemaConflict: A declared type Iceberg cannot reach in place; nothing was changed.
    """
    logger = logger or log
    for attempt in range(1, EVOLVE_ATTEMPTS + 1):
        changes = type_changes(table, dataset)
        conflicts = [c for c in changes if not c.widening]
        if conflicts:
            raise SchemaConflict(dataset.name, dataset.table, conflicts, sources_file)
        if not changes:
            return []
        try:
            with single_attempt(table).update_schema() as update:
                for change in changes:
                    if change.old is None:
                        column = dataset.column(change.column)
                        doc = (column.description if column else "") or None
                        update.add_column(change.column, iceberg_type(change.new), doc=doc)
                        update.move_before(change.column, LINEAGE_FIELDS[0][0])  # declared columns first
                    else:
                        update.update_column(change.column, iceberg_type(change.new))
        except CommitFailedException as exc:  # another run committed: decide again on its schema
            logger.info("%s: schema change conflicted (attempt %d): %s", dataset.table, attempt, exc)
            table.refresh()
            continue
        table.refresh()
        logger.info("%s: schema evolved in place: %s", dataset.table, "; ".join(map(str, changes)))
        return changes
    raise CommitFailedException(f"{dataset.table}: the schema change kept conflicting with other commits")


def schema_conflicts(settings: Settings, registry: Registry) -> dict[str, SchemaConflict]:
    """Per dataset, the registry changes its raw table cannot take in place (for definitions load).

    Cheap and without side effects: nothing is created (no catalog file, no table), only the
    existing raw tables' schemas are read. A catalog that does not answer skips the check (the
    run then reports it), because one unreachable service must not hide every asset.
    """
    from dagster_project.lakehouse.catalog import sqlite_catalog_file, sqlite_file_state
    from dagster_project.lakehouse.tables import open_catalog

    try:
        sqlite_file = sqlite_catalog_file(settings.resolved_catalog_properties())
        if sqlite_file is not None and sqlite_file_state(sqlite_file) != "sqlite":
            return {}  # no catalog yet: no table to conflict with
        catalog = open_catalog(settings)
        raw = catalog.list_tables("raw") if catalog.namespace_exists("raw") else []
        existing = {".".join(t) for t in raw}
    except Exception as exc:  # noqa: BLE001 - definitions must load; the run reports the catalog itself
        log.warning("schema check against the raw tables skipped: the catalog did not answer: %s", exc)
        return {}
    found = {}
    for dataset in registry:
        if dataset.table not in existing:
            continue
        try:
            table = catalog.load_table(dataset.table)
        except Exception as exc:  # noqa: BLE001 - a broken table is reported by its run and `foundation status`
            log.warning("%s: schema check skipped: %s", dataset.table, exc)
            continue
        conflicts = [c for c in type_changes(table, dataset) if not c.widening]
        if conflicts:
            sources = settings.sources_file
            found[dataset.name] = SchemaConflict(dataset.name, dataset.table, conflicts, sources)
    return found
