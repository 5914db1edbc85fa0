"""Staging and curated layers: dbt models as assets, their automation and the daily full build."""

from __future__ import annotations

import fcntl
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt.dbt_project import using_dagster_dev

from dagster_project.defs.dbt.assets import build_dbt_assets, dbt_project
from dagster_project.defs.dbt.dagster_dbt_adapter import FoundationDbtCli
from dagster_project.onboard.dbt_sources import manifest_current, write_dbt_sources
from dagster_project.registry import load_registry
from dagster_project.settings import Settings

DBT_EXECUTABLE = Path(sys.executable).with_name("dbt")


def defs(settings: Settings) -> dg.Definitions:
    if using_dagster_dev():
        # What DbtProject.prepare_if_dev() does, with dbt from this environment (it may not be on
        # PATH) and into the data folder (not the manifest other processes read): under `dagster
        # dev`, edits to the dbt project show up on reload.
        # dbt's raw sources are the registry's: regenerated first, so a registry edit shows up too.
        # Parsed only when the manifest is older than the project: every run worker loads these
        # definitions too, and a `dbt parse` there (seconds) would delay every run for nothing.
        wrote = write_dbt_sources(load_registry(settings.sources_file))
        project = dbt_project(settings.data_dir / "dbt" / "manifest")
        dbt = FoundationDbtCli(project_dir=project, dbt_executable=str(DBT_EXECUTABLE))
        target = Path(project.target_path)
        target.mkdir(parents=True, exist_ok=True)
        with open(target / ".parse.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # the code server and a run worker may load at once
            if wrote or not manifest_current(Path(project.manifest_path), settings.sources_file):
                dbt.cli(["parse", "--quiet"], target_path=target).wait()
    else:
        project = dbt_project()
        dbt = FoundationDbtCli(project_dir=project, dbt_executable=str(DBT_EXECUTABLE))
    models = build_dbt_assets(project, settings.expectations_dir)
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
                target=selection,
                minimum_interval_seconds=settings.automation_interval_seconds,
                default_status=dg.DefaultSensorStatus.RUNNING,
                description="Runs staging and curated models when the raw tables they read were updated.",
            )
        ],
        # dbt from the same environment as Dagster, whether or not the venv is on PATH.
        resources={"dbt": dbt},
    )
