"""Catalog metadata of every table asset: column schema with PII tags, location, snapshot, counts.

Definition metadata (the column schema) is known before any run; materialization metadata (location,
snapshot, row count, quarantined rows, check pass rate) is numeric where it can be, so the UI plots it
over time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.schema import Schema

from dagster_project.lakehouse.tables import type_name_of


def table_column(
    name: str, type_name: str, description: str, pii: str | None = None, masking: str | None = None
) -> dg.TableColumn:
    """One column as the UI shows it: PII kind and lineage (`_…` columns) as tags, masking described."""
    tags = {"pii": pii} if pii else {}
    if name.startswith("_"):
        tags["lineage"] = "true"
    if masking:
        description = f"{description} PII masked: {masking}.".strip()
    return dg.TableColumn(name=name, type=type_name, description=description, tags=tags)


def column_schema(
    schema: Schema, pii: Mapping[str, str] | None = None, masking: Mapping[str, str] | None = None
) -> dg.TableSchema:
    """An Iceberg schema as a Dagster column schema: descriptions, PII kinds and lineage columns as tags.

    Args:
        schema: The table's Iceberg schema (field docs become column descriptions).
        pii: PII kind per column (`email`, `name`, ...), from the registry or the dbt column meta.
        masking: How each masked column was derived, appended to its description.

    Returns:
        The schema Dagster shows in the asset's Columns tab.
    """
    pii, masking = pii or {}, masking or {}
    columns = [
        table_column(
            field.name,
            type_name_of(field.field_type) if field.field_type.is_primitive else str(field.field_type),
            field.doc or "",
            pii.get(field.name),
            masking.get(field.name),
        )
        for field in schema.fields
    ]
    return dg.TableSchema(columns=columns)


def table_state(
    catalog: Catalog,
    identifier: str,
    pii: Mapping[str, str] | None = None,
    masking: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """Where the table lives and what main holds now: location, snapshot id, row count, typed columns."""
    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        return {"dagster/table_name": identifier}
    snapshot = table.current_snapshot()
    rows = int(snapshot.summary["total-records"]) if snapshot and snapshot.summary else 0
    return {
        "dagster/table_name": identifier,
        "dagster/uri": dg.MetadataValue.path(table.location()),
        "snapshot_id": str(snapshot.snapshot_id) if snapshot else "none",
        "dagster/row_count": dg.MetadataValue.int(rows),
        "dagster/column_schema": column_schema(table.schema(), pii, masking),
    }


def check_summary(passed: Iterable[bool]) -> dict[str, object]:
    """Checks evaluated by a run and the share that passed (1.0 when none ran)."""
    outcomes = list(passed)
    rate = sum(outcomes) / len(outcomes) if outcomes else 1.0
    return {
        "checks_evaluated": dg.MetadataValue.int(len(outcomes)),
        "check_pass_rate": dg.MetadataValue.float(round(rate, 4)),
    }


def as_evaluation(result: dg.AssetCheckResult) -> dg.AssetCheckEvaluation:
    """A check result reported outside the check's own step (by a sensor, or a review job's op)."""
    return dg.AssetCheckEvaluation(
        asset_key=result.asset_key,
        check_name=result.check_name,
        passed=result.passed,
        metadata=result.metadata,
        severity=result.severity,
        description=result.description,
        blocking=False,
    )
