"""The daily maintenance schedule, an hour after the daily dbt build."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg


def build_maintenance_schedule(assets: Sequence[dg.AssetsDefinition]) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="table_maintenance",
        target=dg.AssetSelection.assets(*assets),
        cron_schedule="0 4 * * *",
        execution_timezone="UTC",
        description=(
            "Compacts small files, expires old snapshots and removes orphan files of every Iceberg "
            "table, at 04:00 UTC (after the 03:00 dbt build; it waits for any dbt build still running)."
        ),
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
