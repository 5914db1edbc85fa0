"""Staging and curated layers: dbt models as assets, their automation and the daily full build."""

from __future__ import annotations

import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource
from dagster_dbt.dbt_project import using_dagster_dev

from dagster_project.defs.dbt.assets import build_dbt_assets, dbt_project

DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")


def defs(expectations_dir: Path) -> dg.Definitions:
    project = dbt_project()
    dbt = DbtCliResource(project_dir=project, dbt_executable=str(DBT_EXECUTABLE))
    if using_dagster_dev():
        # What DbtProject.prepare_if_dev() does, with dbt from this environment (it may not be on PATH):
        # under `dagster dev`, edits to the dbt project show up on reload.
        dbt.cli(["parse", "--quiet"], target_path=project.target_path).wait()
    models = build_dbt_assets(expectations_dir)
    selection = dg.AssetSelection.assets(models)
    return dg.Definitions(
        assets=[models],
        schedules=[
            dg.ScheduleDefinition(
                name="daily_dbt_build",
                target=selection,
                cron_schedule="0 3 * * *",
                execution_timezone="UTC",
                description="Builds every staging and curated model and runs every test once a day.",
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
        sensors=[
            dg.AutomationConditionSensorDefinition(
                "curated_automation",
                target=dg.AssetSelection.all(),
                minimum_interval_seconds=10,
                default_status=dg.DefaultSensorStatus.RUNNING,
                description="Runs staging and curated models when the raw tables they read were updated.",
            )
        ],
        # dbt from the same environment as Dagster, whether or not the venv is on PATH.
        resources={"dbt": dbt},
    )
