"""Metadata of dbt model assets: documented columns, and what a publish to Iceberg did."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator

from dagster_project.defs.catalog import check_summary, table_state
from dagster_project.defs.dbt.lineage import column_lineage
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from dagster_project.transform.build import BuildReport, ModelOutcome, dbt_target_dir


def pii_columns(dbt_resource_props: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """PII kind and masking of a model's columns, from their YAML `meta: {pii: ..., masking: ...}`."""
    columns = dbt_resource_props.get("columns", {})
    pii = {n: str(c["meta"]["pii"]) for n, c in columns.items() if c.get("meta", {}).get("pii")}
    masking = {n: str(c["meta"]["masking"]) for n, c in columns.items() if c.get("meta", {}).get("masking")}
    return pii, masking


def declared_columns(dbt_resource_props: Mapping[str, Any]) -> dg.TableSchema:
    """The model's documented columns, PII-tagged, before any build (types come with the first publish)."""
    pii, masking = pii_columns(dbt_resource_props)
    columns = []
    for name, column in dbt_resource_props.get("columns", {}).items():
        tags = {"pii": pii[name]} if name in pii else {}
        description = column.get("description") or ""
        if name in masking:
            description = f"{description} PII masked: {masking[name]}.".strip()
        columns.append(
            dg.TableColumn(name=name, type=column.get("data_type") or "", description=description, tags=tags)
        )
    return dg.TableSchema(columns=columns)


def outcome_metadata(outcome: ModelOutcome) -> dict[str, object]:
    """Shown on the asset in the UI: the Iceberg table, rows written, the gate and main's snapshot."""
    metadata: dict[str, object] = {
        "iceberg_table": outcome.model.table,
        "rows_written": dg.MetadataValue.int(outcome.rows),
        "quality_gate": {"published": "passed", "unchanged": "passed (no change)"}.get(
            outcome.status, "HELD BACK"
        ),
    }
    if outcome.total_rows is not None:
        metadata["dagster/row_count"] = dg.MetadataValue.int(outcome.total_rows)
    if outcome.snapshot_id is not None and not outcome.held_back:
        metadata["snapshot_id"] = str(outcome.snapshot_id)
    if outcome.held_back:
        metadata["audit_branch"] = outcome.branch or ""
        metadata["held_snapshot_id"] = str(outcome.snapshot_id)
        metadata["held_back_because"] = outcome.reason
    return metadata


def catalog_metadata(
    settings: Settings,
    manifest: Mapping[str, Any],
    report: BuildReport,
    events: Sequence[object],
    translator: DagsterDbtTranslator,
) -> dict[dg.AssetKey, dict[str, object]]:
    """Per built model: location, snapshot, typed PII-tagged columns, column lineage, check pass rate.

    Args:
        settings: Where the catalog and dbt's target folder are.
        manifest: The dbt manifest.
        report: The build's outcome per model.
        events: The run's check results (dbt tests and GX checks), for the pass rates.
        translator: Maps dbt nodes to asset keys (column lineage).

    Returns:
        Metadata by asset key, for every model the build ran.
    """
    catalog = open_catalog(settings)
    checks: dict[dg.AssetKey, list[bool]] = defaultdict(list)
    for event in events:
        if isinstance(event, dg.AssetCheckResult | dg.AssetCheckEvaluation) and event.asset_key:
            checks[event.asset_key].append(event.passed)
    lookups = translator.lookup_keys(manifest)  # type: ignore[attr-defined]
    metadata = {}
    for uid, outcome in report.outcomes.items():
        if outcome.status == "not built":
            continue
        key = dg.AssetKey([outcome.model.schema, outcome.model.name])
        pii, masking = pii_columns(manifest["nodes"][uid])
        entry = table_state(catalog, outcome.model.table, pii, masking) | check_summary(checks[key])
        # Rows of this build kept off main by the gate (they wait on the audit branch).
        entry["quarantined_rows"] = dg.MetadataValue.int(outcome.rows if outcome.held_back else 0)
        lineage = column_lineage(manifest, uid, dbt_target_dir(settings), translator, lookups)
        if lineage is not None:
            entry["dagster/column_lineage"] = lineage
        metadata[key] = entry
    return metadata
