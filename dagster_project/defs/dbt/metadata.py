"""Materialization metadata of a dbt model asset: what its publish to Iceberg did."""

from __future__ import annotations

import dagster as dg

from dagster_project.transform.build import ModelOutcome


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
