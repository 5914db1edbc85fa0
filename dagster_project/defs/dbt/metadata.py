"""Metadata of dbt model assets: documented columns, and what a publish to Iceberg did."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator
from pyiceberg.catalog import Catalog

from dagster_project.cards.models import column_masking, model_meta
from dagster_project.defs.asset_metadata import check_summary, table_column, table_state
from dagster_project.defs.dbt.lineage import column_lineage
from dagster_project.settings import Settings
from dagster_project.transform.build import BuildReport, ModelOutcome, dbt_target_dir


def pii_columns(dbt_resource_props: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """PII kind and masking of a model's columns, from their YAML `meta: {pii: ..., masking: ...}`."""
    pii, masking = {}, {}
    for name, column in dbt_resource_props.get("columns", {}).items():
        meta = model_meta(column)
        if meta.get("pii"):
            pii[name] = str(meta["pii"])
        if masks := column_masking(meta):
            masking[name] = ", ".join(masks)
    return pii, masking


def declared_columns(dbt_resource_props: Mapping[str, Any]) -> dg.TableSchema:
    """The model's documented columns, PII-tagged, before any build (types come with the first publish)."""
    pii, masking = pii_columns(dbt_resource_props)
    return dg.TableSchema(
        columns=[
            table_column(
                name, c.get("data_type") or "", c.get("description") or "", pii.get(name), masking.get(name)
            )
            for name, c in dbt_resource_props.get("columns", {}).items()
        ]
    )


def outcome_metadata(outcome: ModelOutcome) -> dict[str, object]:
    """Shown on the asset in the UI: the Iceberg table, rows written, the gate and main's snapshot."""
    metadata: dict[str, object] = {
        "iceberg_table": outcome.model.table,
        "rows_written": dg.MetadataValue.int(outcome.rows),
        "quality_gate": {
            "published": "passed",
            "unchanged": "passed (no change)",
            "not published": "NOT PUBLISHED",
        }.get(outcome.status, "HELD BACK"),
    }
    if outcome.total_rows is not None:
        metadata["dagster/row_count"] = dg.MetadataValue.int(outcome.total_rows)
    if outcome.snapshot_id is not None and not outcome.held_back:
        metadata["snapshot_id"] = str(outcome.snapshot_id)
    if outcome.status == "not published":
        metadata["not_published_because"] = outcome.reason
    if outcome.held_back:
        metadata["audit_branch"] = outcome.branch or ""
        metadata["held_snapshot_id"] = str(outcome.snapshot_id)
        metadata["held_back_because"] = outcome.reason
    return metadata


def catalog_metadata(
    settings: Settings,
    catalog: Catalog,
    manifest: Mapping[str, Any],
    report: BuildReport,
    events: Sequence[object],
    translator: DagsterDbtTranslator,
) -> dict[dg.AssetKey, dict[str, object]]:
    """Per built model: location, snapshot, typed PII-tagged columns, column lineage, check pass rate.

    Args:
        settings: Where dbt's target folder is.
        catalog: The Iceberg catalog.
        manifest: The dbt manifest.
        report: The build's outcome per model.
        events: The run's check results (dbt tests and GX checks), for the pass rates.
        translator: Maps dbt nodes to asset keys (column lineage).

    Returns:
        Metadata by asset key, for every model the build ran.
    """
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
